"""Buildx's builtins over real material: gpg signatures on files a real server serves,
test-Sigstore attestations, SSH-signed git tags made by git, and a real policy directory.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from buildsig.errors import (
    InvalidInputError,
    NotFoundError,
    PolicyConfigError,
    VerificationError,
)
from buildsig.git.resolve import resolve_git_source
from buildsig.http import HTTPClient
from buildsig.http.resolve import resolve_http_checksum
from buildsig.model import Input
from buildsig.policy.builtins import Builtins, Undefined
from buildsig.policy.fs import PolicyFS
from buildsig.sigstore import TrustRoot, Verifier
from buildsig.source import Source, source_to_input
from buildsig.testing import TestSigstore
from tests.git.gpgkit import GpgHome
from tests.http import LocalServer, body

CONTENT = b"the release tarball\n" * 500
DIGEST = "sha256:" + hashlib.sha256(CONTENT).hexdigest()


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    root = tmp_path / "policy"
    root.mkdir()
    return root


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer() as s:
        s.routes["/app.tgz"] = body(CONTENT)
        yield s


def http_input(url: str, *, checksum: str = "") -> Input:
    inp = source_to_input(Source(url))
    assert inp.http is not None
    if checksum:
        inp = dataclasses.replace(inp, http=dataclasses.replace(inp.http, checksum=checksum))
    return inp


# --- load_json and the policy directory ------------------------------------------------------


def test_load_json_reads_and_memoises(policy_dir: Path) -> None:
    (policy_dir / "data").mkdir()
    (policy_dir / "data" / "allowed.json").write_text('{"hosts": ["github.com"]}')
    b = Builtins(http_input("https://x/y"), fs=PolicyFS(policy_dir))
    assert b.load_json("data/allowed.json") == {"hosts": ["github.com"]}
    (policy_dir / "data" / "allowed.json").write_text("{}")
    assert b.load_json("data/allowed.json") == {"hosts": ["github.com"]}  # per evaluation


def test_load_json_errors(policy_dir: Path, tmp_path: Path) -> None:
    (policy_dir / "bad.json").write_text("{nope")
    (tmp_path / "secret.json").write_text("{}")
    os.symlink(tmp_path / "secret.json", policy_dir / "link.json")
    (policy_dir / "big.json").write_bytes(b" " * (4 * 1024 * 1024 + 1))
    b = Builtins(http_input("https://x/y"), fs=PolicyFS(policy_dir))
    with pytest.raises(PolicyConfigError, match=r'invalid JSON in "bad\.json"'):
        b.load_json("bad.json")
    for escaping in ("../secret.json", "link.json", "sub/../../secret.json"):
        with pytest.raises(PolicyConfigError, match="outside the policy directory"):
            b.load_json(escaping)
    with pytest.raises(PolicyConfigError, match="absolute"):
        b.load_json(str(tmp_path / "secret.json"))
    with pytest.raises(NotFoundError):
        b.load_json("missing.json")
    with pytest.raises(PolicyConfigError, match="larger than"):
        b.load_json("big.json")
    with pytest.raises(PolicyConfigError, match="no policy directory"):
        Builtins(http_input("https://x/y")).load_json("bad.json")


# --- pin_image -------------------------------------------------------------------------------


def test_pin_image() -> None:
    inp = source_to_input(Source.parse("docker-image://alpine:3.20"), platform="linux/amd64")
    assert inp.image is not None
    b = Builtins(inp)
    pin = "sha256:" + "ab" * 32
    assert b.pin_image(inp.image.to_dict(), pin) is True
    assert b.pin_image(inp.image, pin) is True
    assert b.pins == [pin]
    with pytest.raises(InvalidInputError, match="invalid digest"):
        b.pin_image(inp.image, "sha256:abc")
    with pytest.raises(InvalidInputError, match=r"must be input\.image"):
        b.pin_image({"ref": "other"}, pin)
    same = dataclasses.replace(inp, image=dataclasses.replace(inp.image, checksum=pin))
    b2 = Builtins(same)
    assert b2.pin_image(same.image, pin) is True and b2.pins == []
    assert Builtins(http_input("https://x/y")).pin_image({}, pin) is False


# --- verify_http_pgp_signature ---------------------------------------------------------------


@pytest.fixture(scope="module")
def gpg(tmp_path_factory: pytest.TempPathFactory) -> tuple[GpgHome, str, str]:
    home = GpgHome(tmp_path_factory.mktemp("gpg") / "home")
    maintainer = home.gen_key("Maintainer <m@example.com>", "ed25519")
    stranger = home.gen_key("Stranger <s@example.com>", "rsa3072")
    return home, maintainer, stranger


def test_verify_http_pgp_signature_round_trip(
    server: LocalServer, policy_dir: Path, gpg: tuple[GpgHome, str, str]
) -> None:
    home, maintainer, stranger = gpg
    (policy_dir / "app.tgz.asc").write_bytes(home.sign(maintainer, CONTENT, digest="SHA256"))
    (policy_dir / "maintainer.asc").write_bytes(home.export(maintainer))
    (policy_dir / "stranger.asc").write_bytes(home.export(stranger))
    url = server.url("/app.tgz")
    source = Source(url)
    inp = source_to_input(source)
    fs = PolicyFS(policy_dir)

    # first pass: the digest of content || trailer is not known yet
    first = Builtins(inp, fs=fs)
    assert first.verify_http_pgp_signature(inp.http, "app.tgz.asc", "maintainer.asc") is False
    assert first.unknowns == {"http.checksum"}
    request = first.checksum_request
    assert request is not None and request.algorithm == "sha256"
    assert request.suffix.startswith(b"\x04\x00")  # v4, binary document signature

    # the resolver answers it from one download; the second pass verifies
    with HTTPClient() as client:
        resolved = resolve_http_checksum(source, inp, client=client, request=request)
    assert resolved.http is not None and resolved.http.checksum == DIGEST
    second = Builtins(resolved, fs=fs)
    assert second.verify_http_pgp_signature(resolved.http, "app.tgz.asc", "maintainer.asc")
    assert not second.unknowns
    assert not second.verify_http_pgp_signature(resolved.http, "app.tgz.asc", "stranger.asc")

    # gpg, the oracle, agrees on the real bytes
    (policy_dir / "app.tgz").write_bytes(CONTENT)
    home.gpg("--verify", str(policy_dir / "app.tgz.asc"), str(policy_dir / "app.tgz"))

    # other bytes served under the same URL no longer verify
    server.routes["/app.tgz"] = body(CONTENT + b"tampered")
    with HTTPClient() as client:
        tampered = resolve_http_checksum(source, inp, client=client, request=request)
    assert not Builtins(tampered, fs=fs).verify_http_pgp_signature(
        tampered.http, "app.tgz.asc", "maintainer.asc"
    )


def test_verify_http_pgp_signature_errors(policy_dir: Path, gpg: tuple[GpgHome, str, str]) -> None:
    home, maintainer, _ = gpg
    (policy_dir / "sha1.asc").write_bytes(home.sign(maintainer, CONTENT, digest="SHA1"))
    (policy_dir / "junk.asc").write_text("not a signature")
    (policy_dir / "key.asc").write_bytes(home.export(maintainer))
    inp = http_input("https://example.com/app.tgz")
    b = Builtins(inp, fs=PolicyFS(policy_dir))
    with pytest.raises(InvalidInputError, match="unsupported signature hash"):
        b.verify_http_pgp_signature(inp.http, "sha1.asc", "key.asc")
    with pytest.raises(InvalidInputError, match="failed to parse detached signature"):
        b.verify_http_pgp_signature(inp.http, "junk.asc", "key.asc")
    with pytest.raises(InvalidInputError, match=r"must be input\.http"):
        b.verify_http_pgp_signature({"url": "https://elsewhere"}, "sha1.asc", "key.asc")
    assert (
        Builtins(source_to_input(Source.parse("alpine"))).verify_http_pgp_signature({}, "x", "y")
        is False
    )


# --- artifact_attestation and github_attestation ----------------------------------------------


def _attestation(ts: TestSigstore, digest: str) -> bytes:
    statement = ts.statement(
        subject_digest=digest,
        predicate_type="https://slsa.dev/provenance/v1",
        predicate={"buildDefinition": {"buildType": "https://example.com/build"}},
    )
    return ts.sign_dsse(
        statement,
        identity="https://github.com/org/app/.github/workflows/release.yml@refs/tags/v1",
        extensions={
            ".9": "https://github.com/org/app/.github/workflows/release.yml@refs/tags/v1",
            ".11": "github-hosted",
            ".12": "https://github.com/org/app",
        },
    )


def test_artifact_attestation(policy_dir: Path) -> None:
    ts = TestSigstore(seed=41)
    verifier = Verifier(TrustRoot.from_json(ts.trusted_root_json()))
    (policy_dir / "app.sigstore.json").write_bytes(_attestation(ts, DIGEST))
    fs = PolicyFS(policy_dir)
    inp = http_input("https://github.com/org/app/releases/download/v1/app.tgz", checksum=DIGEST)
    b = Builtins(inp, fs=fs, sigstore_verifier=verifier)
    signature = b.artifact_attestation(inp.http, "app.sigstore.json")
    assert signature["kind"] == "self-signed-github-repo"
    assert signature["type"] == "bundle-v0.3"
    assert signature["signer"]["sourceRepositoryURI"] == "https://github.com/org/app"

    other = dataclasses.replace(
        inp, http=dataclasses.replace(inp.http, checksum="sha256:" + "0" * 64)
    )
    with pytest.raises(Undefined, match="subject"):
        Builtins(other, fs=fs, sigstore_verifier=verifier).artifact_attestation(
            other.http, "app.sigstore.json"
        )
    unresolved = http_input("https://github.com/org/app/releases/download/v1/app.tgz")
    pending = Builtins(unresolved, fs=fs, sigstore_verifier=verifier)
    with pytest.raises(Undefined, match="not resolved"):
        pending.artifact_attestation(unresolved.http, "app.sigstore.json")
    assert pending.unknowns == {"http.checksum"}


def test_github_attestation(policy_dir: Path) -> None:
    ts = TestSigstore(seed=42)
    verifier = Verifier(TrustRoot.from_json(ts.trusted_root_json()))
    bundle = json.loads(_attestation(ts, DIGEST))
    with LocalServer() as api:
        api.routes[f"/repos/org/app/attestations/{DIGEST}"] = body(
            json.dumps({"attestations": [{"bundle": bundle}]}).encode(),
            headers={"Content-Type": "application/json"},
        )
        inp = http_input("https://github.com/org/app/releases/download/v1/a", checksum=DIGEST)
        with HTTPClient() as client:
            b = Builtins(
                inp, sigstore_verifier=verifier, http_client=client, github_api=api.base_url
            )
            signature = b.github_attestation(inp.http, "org/app")
            assert signature["signer"]["buildSignerURI"].endswith("release.yml@refs/tags/v1")
            with pytest.raises(Undefined):
                b.github_attestation(inp.http, "org/other")
        [request] = api.hits(f"/repos/org/app/attestations/{DIGEST}")
        assert "predicate_type=https%3A%2F%2Fslsa.dev%2Fprovenance%2Fv1" in request.target


# --- verify_git_signature ------------------------------------------------------------------


def test_verify_git_signature(tmp_path: Path, policy_dir: Path) -> None:
    keys = {}
    for name in ("maintainer", "stranger"):
        keys[name] = tmp_path / name
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(keys[name])],
            check=True,
            timeout=60,
        )
        (policy_dir / f"{name}.pub").write_bytes((tmp_path / f"{name}.pub").read_bytes())
    repo = tmp_path / "repo"

    def git(*args: str) -> None:
        subprocess.run(
            [
                "git",
                "-C",
                str(repo),
                "-c",
                "gpg.format=ssh",
                "-c",
                f"user.signingkey={keys['maintainer']}",
                "-c",
                "user.name=M",
                "-c",
                "user.email=m@example.com",
                *args,
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )

    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True, timeout=60)
    (repo / "f").write_text("1\n")
    git("add", "f")
    git("commit", "-q", "-S", "-m", "release")
    git("tag", "-s", "-m", "v1", "v1")
    fs = PolicyFS(policy_dir)

    ref_only = source_to_input(Source.parse(f"{repo}#v1"))
    pending = Builtins(ref_only, fs=fs)
    assert pending.verify_git_signature({}, "maintainer.pub") is False
    assert pending.unknowns == {"git.commit"}

    resolved = resolve_git_source(Source.parse(f"{repo}#v1"))
    assert resolved.git is not None and resolved.git.tag is not None
    b = Builtins(resolved, fs=fs)
    assert b.verify_git_signature(resolved.git.tag.to_dict(), "maintainer.pub") is True
    assert b.verify_git_signature(resolved.git.commit, "maintainer.pub") is True
    with pytest.raises(VerificationError, match="unknown-key"):
        b.verify_git_signature(resolved.git.tag, "stranger.pub")
    with pytest.raises(PolicyConfigError, match="outside"):
        b.verify_git_signature(resolved.git.tag, "../maintainer.pub")


GIT_POLICY = """package docker

import rego.v1

default allow := false

allow if verify_git_signature(input.git.tag, "maintainer.pub")

deny_msg contains msg if {
	not verify_git_signature(input.git.tag, "maintainer.pub")
	msg := sprintf("%s is not signed by the maintainer", [input.git.tagName])
}

decision := {"allow": allow, "deny_msg": deny_msg}
"""


def test_a_bad_git_signature_is_undefined_so_the_policy_can_say_why(
    tmp_path: Path, policy_dir: Path
) -> None:
    """Buildx makes a failed verify_git_signature undefined: `not …` then holds."""
    from buildsig.policy.evaluate import PolicyEvaluator
    from buildsig.resolver import Resolver

    keys = {}
    for name in ("maintainer", "stranger"):
        keys[name] = tmp_path / name
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(keys[name])],
            check=True,
            timeout=60,
        )
    (policy_dir / "maintainer.pub").write_bytes((tmp_path / "maintainer.pub").read_bytes())
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True, timeout=60)
    (repo / "f").write_text("1\n")
    base = ["git", "-C", str(repo), "-c", "user.name=S", "-c", "user.email=s@example.com"]
    signing = ["-c", "gpg.format=ssh", "-c", f"user.signingkey={keys['stranger']}"]
    subprocess.run([*base, "add", "f"], check=True, timeout=60)
    subprocess.run([*base, *signing, "commit", "-q", "-S", "-m", "x"], check=True, timeout=60)
    subprocess.run([*base, *signing, "tag", "-s", "-m", "v2", "v2"], check=True, timeout=60)
    source = Source.parse(f"{repo}#v2")
    with Resolver() as resolver:
        evaluator = PolicyEvaluator(
            {"Dockerfile.rego": GIT_POLICY}, fs=PolicyFS(policy_dir), resolver=resolver
        )
        result = evaluator.evaluate(source, source_to_input(source))
    assert result.decision.allow is False
    assert result.decision.deny_msg == ("v2 is not signed by the maintainer",)
    assert result.failures and "unknown-key" in result.failures[0]

"""End to end: verify_git_object, the verify_git_signature builtin, and the CLI commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from buildsig import InvalidInputError, Source, VerificationError
from buildsig.git.resolve import resolve_git_source
from buildsig.git.verify import TrustedKeys, verify_git_object, verify_git_signature
from tests.git.conftest import GIT_ENV

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data" / "git"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"real-world data not found at {DATA}")


def run_cli(*args: str, code: int | None = 0) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    proc = subprocess.run(
        [sys.executable, "-m", "buildsig", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    if code is not None:
        assert proc.returncode == code, proc.stderr
    return proc


def obj(name: str, group: str) -> Path:
    matches = sorted((DATA / group).glob(f"{name}.*.obj"))
    assert matches, name
    return matches[0]


# --- a repository signed with real git and ssh-keygen ---------------------------------------


def git(repo: Path, *args: str, key: Path | None = None) -> str:
    env = {**os.environ, **GIT_ENV}
    cmd = ["git", "-C", str(repo)]
    if key is not None:
        cmd += ["-c", "gpg.format=ssh", "-c", f"user.signingkey={key}"]
    return subprocess.run(
        [*cmd, *args], check=True, capture_output=True, text=True, env=env, timeout=120
    ).stdout.strip()


@pytest.fixture(scope="module")
def signed_repo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("signed")
    keys = {}
    for name in ("trusted", "stranger"):
        keys[name] = base / name
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(keys[name])],
            check=True,
            timeout=60,
        )
    repo = base / "repo"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True, timeout=60)
    for i, signer in enumerate(["trusted", None, "stranger", "trusted"]):
        (repo / "f").write_text(f"{i}\n")
        git(repo, "add", "f")
        if signer is None:
            git(repo, "commit", "-q", "-m", f"commit {i}")
        else:
            git(repo, "commit", "-q", "-S", "-m", f"commit {i}", key=keys[signer])
    git(repo, "tag", "-s", "-m", "release", "v1", key=keys["trusted"])
    allowed = base / "allowed_signers"
    pub = (base / "trusted.pub").read_text().split()
    allowed.write_text(f"maintainer@example.com {pub[0]} {pub[1]}\n")
    return {
        "repo": repo,
        "allowed": allowed,
        "trusted_pub": base / "trusted.pub",
        "stranger_pub": base / "stranger.pub",
    }


def test_verify_objects_of_a_real_repository(signed_repo: dict[str, Path]) -> None:
    repo = signed_repo["repo"]
    keys = TrustedKeys.from_files(allowed_signers=signed_repo["allowed"])
    outcomes = []
    for rev in ("HEAD~3", "HEAD~2", "HEAD~1", "HEAD"):
        raw = subprocess.run(
            ["git", "-C", str(repo), "cat-file", "commit", rev], check=True, capture_output=True
        ).stdout
        outcomes.append(verify_git_object(raw, keys))
    assert [c.verified for c in outcomes] == [True, False, False, True]
    assert [str(c.reason) if c.reason else None for c in outcomes] == [
        None,
        "unsigned",
        "unknown-key",
        None,
    ]
    assert outcomes[0].signer is not None
    assert outcomes[0].signer.principal == "maintainer@example.com"


def test_cli_verify_git_object(signed_repo: dict[str, Path], tmp_path: Path) -> None:
    repo = signed_repo["repo"]
    files = []
    for name, (kind, rev) in {
        "tag": ("tag", "v1"),
        "head": ("commit", "HEAD"),
        "unsigned": ("commit", "HEAD~2"),
    }.items():
        path = tmp_path / name
        path.write_bytes(
            subprocess.run(
                ["git", "-C", str(repo), "cat-file", kind, rev], check=True, capture_output=True
            ).stdout
        )
        files.append(str(path))
    proc = run_cli(
        "verify", "git-object", "--allowed-signers", str(signed_repo["allowed"]), *files, code=1
    )
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [(r["object"], r["type"], r["verified"], r["reason"]) for r in lines] == [
        (files[0], "tag", True, None),
        (files[1], "commit", True, None),
        (files[2], "commit", False, "unsigned"),
    ]
    assert lines[0]["id"] == git(repo, "rev-parse", "v1")
    assert lines[0]["signer"]["principal"] == "maintainer@example.com"
    ok = run_cli(
        "verify", "git-object", "--keys", str(signed_repo["trusted_pub"]), files[0], files[1]
    )
    assert all(json.loads(line)["verified"] for line in ok.stdout.splitlines())


def test_cli_verify_usage_errors(tmp_path: Path) -> None:
    (tmp_path / "o").write_bytes(b"tree x\n\n")
    assert "give --keys" in run_cli("verify", "git-object", str(tmp_path / "o"), code=2).stderr
    bad = tmp_path / "keys"
    bad.write_text("not a key\n")
    err = run_cli("verify", "git-object", "--keys", str(bad), str(tmp_path / "o"), code=1).stderr
    assert err.startswith("error: ") and "not an SSH public key" in err
    missing = run_cli(
        "verify", "git-object", "--keys", str(tmp_path / "nope"), str(tmp_path / "o"), code=1
    ).stderr
    assert "cannot read" in missing


def test_cli_audit(signed_repo: dict[str, Path]) -> None:
    proc = run_cli(
        "audit",
        "git",
        str(signed_repo["repo"]),
        "--allowed-signers",
        str(signed_repo["allowed"]),
        "--json",
        code=1,
    )
    report = json.loads(proc.stdout)
    assert report["total"] == 5  # four commits and the tag
    assert report["by_outcome"] == {"verified": 3, "unsigned": 1, "unknown-key": 1}
    assert [f["reason"] for f in report["failures"]] == ["unknown-key"]
    text = run_cli(
        "audit",
        "git",
        str(signed_repo["repo"]),
        "HEAD~1..HEAD",
        "--allowed-signers",
        str(signed_repo["allowed"]),
    ).stdout
    assert "2 objects audited" in text  # HEAD and the tag on it
    assert "maintainer@example.com" in text
    assert (
        run_cli(
            "audit",
            "git",
            str(signed_repo["repo"]),
            "HEAD~1..HEAD",
            "--allowed-signers",
            str(signed_repo["allowed"]),
            "--require-signed",
        ).returncode
        == 0
    )
    err = run_cli(
        "audit",
        "git",
        str(signed_repo["repo"]),
        "nope",
        "--allowed-signers",
        str(signed_repo["allowed"]),
        code=1,
    ).stderr
    assert "unknown revision" in err


def test_cli_inspect_resolves_a_local_repository(signed_repo: dict[str, Path]) -> None:
    proc = run_cli("inspect", f"{signed_repo['repo']}#v1")
    git_input = json.loads(proc.stdout)["git"]
    assert git_input["tagName"] == "v1"
    assert git_input["isAnnotatedTag"] is True
    assert git_input["tag"]["sshSignature"]["version"] == 1
    assert git_input["tag"]["sshSignature"]["pubKey"].startswith("SHA256:")
    assert (
        git_input["commit"]["sshSignature"]["pubKey"] == git_input["tag"]["sshSignature"]["pubKey"]
    )
    ref_only = json.loads(
        run_cli("inspect", "--fields", "git.checksum", f"{signed_repo['repo']}#v1").stdout
    )["git"]
    assert "tag" not in ref_only
    assert ref_only["checksum"] == git_input["checksum"]


# --- the verify_git_signature builtin ---------------------------------------------------


def test_builtin_verify_git_signature(signed_repo: dict[str, Path]) -> None:
    inp = resolve_git_source(Source.parse(f"{signed_repo['repo']}#v1"))
    git_in = inp.git
    assert git_in is not None and git_in.tag is not None and git_in.commit is not None
    key = signed_repo["trusted_pub"].read_bytes()
    assert verify_git_signature(git_in, git_in.tag, key) is True
    assert verify_git_signature(git_in, git_in.commit, key) is True
    assert verify_git_signature(git_in, git_in.tag.to_dict(), key) is True  # as a Rego value
    # an allowed-signers line also works as a key file (first key only)
    allowed = signed_repo["allowed"].read_bytes()
    assert verify_git_signature(git_in, git_in.tag, allowed) is True
    with pytest.raises(
        VerificationError, match="verify_git_signature: verification failed: unknown-key"
    ) as info:
        verify_git_signature(git_in, git_in.tag, signed_repo["stranger_pub"].read_bytes())
    assert info.value.check.reason == "unknown-key"  # type: ignore[attr-defined]
    with pytest.raises(InvalidInputError, match="object is neither commit nor tag"):
        verify_git_signature(git_in, {"tree": "x"}, key)
    with pytest.raises(InvalidInputError, match="object is neither commit nor tag"):
        verify_git_signature(git_in, None, key)  # type: ignore[arg-type]  # a lightweight tag's
    assert verify_git_signature(None, git_in.tag, key) is False
    pending: set[str] = set()
    unresolved = resolve_git_source(Source.parse(f"{signed_repo['repo']}#v1"), objects=False).git
    assert verify_git_signature(unresolved, git_in.tag, key, unknowns=pending) is False
    assert pending == {"git.commit"}


# --- real-world objects ----------------------------------------------------------------------


@needs_data
def test_cli_real_world_objects() -> None:
    junio = str(DATA / "git-git" / "junio-gpg-pub.asc")
    allowed = str(DATA / "openssh" / "allowed_signers")
    good = run_cli("verify", "git-object", "--keys", junio, str(obj("tag-v2.55.0", "git-git")))
    assert json.loads(good.stdout)["verified"] is True
    ssh = run_cli(
        "verify", "git-object", "--allowed-signers", allowed, str(obj("tag-V_10_5_P1", "openssh"))
    )
    record = json.loads(ssh.stdout)
    assert record["verified"] is True
    assert record["signer"]["principal"] == "djm@mindrot.org"
    assert (
        record["signer"]["signing_fingerprint"]
        == "SHA256:JDubEpIXO0CfnM+iagFQce4MiJJDqTvgbBR80SuRwTQ"
    )
    unknown = run_cli(
        "verify",
        "git-object",
        "--allowed-signers",
        allowed,
        "--keys",
        junio,
        str(obj("tag-V_9_0_P1", "openssh")),
        code=1,
    )
    assert json.loads(unknown.stdout)["reason"] == "unknown-key"


@needs_data
def test_cli_sha1_signed_tag_needs_opt_in() -> None:
    junio = str(DATA / "git-git" / "junio-gpg-pub.asc")
    old = str(obj("tag-v2.0.0", "git-git"))
    refused = json.loads(run_cli("verify", "git-object", "--keys", junio, old, code=1).stdout)
    assert refused["reason"] == "weak-hash"
    accepted = json.loads(
        run_cli("verify", "git-object", "--keys", junio, "--allow-sha1", old).stdout
    )
    assert accepted["verified"] is True


def test_oversized_and_unknown_signature_blocks() -> None:
    head = b"object " + b"a" * 40 + b"\ntype commit\ntag v1\ntagger T <t@t> 1 +0000\n\nmsg\n"
    huge = (
        head
        + b"-----BEGIN SSH SIGNATURE-----\n"
        + b"A" * (70 * 1024)
        + b"\n-----END SSH SIGNATURE-----\n"
    )
    keys = TrustedKeys.from_key_file(
        b"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGrbc4Q3DmSlVk4TLS4LhsrDKfUQyW8iFX2mj8xl7L0a\n"
    )
    check = verify_git_object(huge, keys)
    assert (check.verified, check.reason) == (False, "malformed")
    x509 = head + b"-----BEGIN SIGNED MESSAGE-----\nxx\n-----END SIGNED MESSAGE-----\n"
    assert verify_git_object(x509, keys).reason == "unsupported-format"
    garbled = (
        head + b"-----BEGIN SSH SIGNATURE-----\n!!!not base64!!!\n-----END SSH SIGNATURE-----\n"
    )
    assert verify_git_object(garbled, keys).reason == "malformed"


def test_cli_garbage_object_is_a_one_line_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk"
    junk.write_bytes(b"\x00\x01 not a git object")
    keys = tmp_path / "k"
    keys.write_text(
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGrbc4Q3DmSlVk4TLS4LhsrDKfUQyW8iFX2mj8xl7L0a\n"
    )
    err = run_cli("verify", "git-object", "--keys", str(keys), str(junk), code=1).stderr
    assert err.startswith("error: invalid commit object")
    assert len(err.splitlines()) == 1

"""Plain-Python policies over the typed input: the blog's two policies as functions give
Rego's decisions on the same inputs, with the same resolve/re-evaluate loop.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from buildsig.errors import InvalidInputError, PolicyConfigError
from buildsig.model import Input, SignatureKind
from buildsig.policy.builtins import Builtins
from buildsig.policy.evaluate import Decision, PolicyEvaluator
from buildsig.policy.fs import PolicyFS
from buildsig.policy.python import PolicyOutcome, PythonPolicy
from buildsig.resolver import ResolveOptions, Resolver
from buildsig.source import Source, source_to_input
from tests.oci.imagekit import ImageKit

GOLANG_PIN = "sha256:" + hashlib.sha256(b"golang").hexdigest()
ALPINE_PIN = "sha256:" + hashlib.sha256(b"alpine").hexdigest()

# The blog's two policies in Rego, the reference the other engines must agree with.

GATEKEEPER_REGO = """package docker

import rego.v1

default allow := false

allow if input.local

approved_registries := ["registry.company.com", "docker.io", "ghcr.io"]

allow if {
	input.image.host in approved_registries
	input.image.isCanonical
}

allow if input.http.schema == "https"

allow if input.git

deny_msg contains msg if {
	not allow
	input.image
	not input.image.isCanonical
	msg := sprintf(
		"Image %s must use a digest reference (e.g., @sha256:...). Tags alone are not allowed.",
		[input.image.ref],
	)
}

deny_msg contains msg if {
	not allow
	input.image
	input.image.isCanonical
	msg := sprintf("Registry %s is not in the approved list.", [input.image.host])
}

deny_msg contains msg if {
	not allow
	input.http
	input.http.schema != "https"
	msg := "All HTTP downloads must use HTTPS. Plain HTTP is not allowed."
}

decision := {"allow": allow, "deny_msg": deny_msg}
"""

PARANOID_REGO = f"""package docker

import rego.v1

default allow := false

allow if input.local

allow if {{
	input.image.host == "registry.company.com"
	input.image.isCanonical
	input.image.hasProvenance
}}

allow if {{
	input.image.host == "dhi.io"
	input.image.isCanonical
	input.image.hasProvenance
}}

pinned_dockerhub_images := {{"golang": "{GOLANG_PIN}", "alpine": "{ALPINE_PIN}"}}

allow if {{
	input.image.host == "docker.io"
	some repo, digest in pinned_dockerhub_images
	input.image.repo == repo
	input.image.checksum == digest
}}

approved_download_hosts := ["releases.internal.com", "artifacts.company.com"]

allow if {{
	input.http.schema == "https"
	input.http.host in approved_download_hosts
}}

allow if {{
	input.git
	startswith(input.git.remote, "https://github.com/our-org/")
}}

allow if {{
	input.git
	not startswith(input.git.remote, "https://github.com/our-org/")
	input.git.tagName != ""
	verify_git_signature(input.git.tag, "maintainer.pub")
}}

deny_msg contains msg if {{
	not allow
	input.image
	input.image.host == "registry.company.com"
	not input.image.hasProvenance
	msg := sprintf("Internal image %s requires provenance attestations.", [input.image.ref])
}}

deny_msg contains msg if {{
	not allow
	input.http
	msg := sprintf("Download from %s is not allowed.", [input.http.host])
}}

deny_msg contains msg if {{
	not allow
	input.git
	not startswith(input.git.remote, "https://github.com/our-org/")
	msg := sprintf("External Git repo %s requires a signed tag.", [input.git.remote])
}}

decision := {{"allow": allow, "deny_msg": deny_msg}}
"""


def image(ref: str, **fields: Any) -> tuple[Source, Input]:
    source = Source.parse(f"docker-image://{ref}")
    inp = source_to_input(source, platform="linux/amd64")
    assert inp.image is not None
    return source, dataclasses.replace(inp, image=dataclasses.replace(inp.image, **fields))


def plain(text: str) -> tuple[Source, Input]:
    source = Source.parse(text)
    return source, source_to_input(source)


def local() -> tuple[Source, Input]:
    return Source("local://context"), Input.from_dict({"local": {"name": "context"}})


def cases() -> dict[str, tuple[Source, Input]]:
    return {
        "local": local(),
        "tag only": image("node:20"),
        "hub by digest": image("node:20@sha256:" + "a" * 64),
        "quay by digest": image("quay.io/o/app@sha256:" + "b" * 64),
        "internal with provenance": image(
            "registry.company.com/base/golang:1.23@sha256:" + "c" * 64, has_provenance=True
        ),
        "internal without provenance": image(
            "registry.company.com/base/golang:1.23@sha256:" + "c" * 64, has_provenance=False
        ),
        "internal, provenance unknown": image(
            "registry.company.com/base/golang:1.23@sha256:" + "c" * 64
        ),
        "dhi": image("dhi.io/python:3@sha256:" + "d" * 64, has_provenance=True),
        "pinned golang": image(f"golang@{GOLANG_PIN}"),
        "golang, other digest": image("golang@sha256:" + "e" * 64),
        "approved download": plain("https://releases.internal.com/config-v2.1.tar.gz"),
        "other https download": plain("https://example.com/tool.tgz"),
        "plain http": plain("http://example.com/tool.tgz"),
        "internal git": plain("https://github.com/our-org/app.git#v1"),
        "external git, unresolved": plain("https://github.com/someone/lib.git#v1"),
    }


def signed_repo(tmp_path: Path, policy_dir: Path) -> Path:
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
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True, timeout=60)
    (repo / "f").write_text("1\n")
    config = [
        "-c",
        "gpg.format=ssh",
        "-c",
        f"user.signingkey={keys['maintainer']}",
        "-c",
        "user.name=M",
        "-c",
        "user.email=m@example.com",
    ]
    for args in (
        ["add", "f"],
        ["commit", "-q", "-S", "-m", "release"],
        ["tag", "-s", "-m", "v1", "v1"],
        ["tag", "v2"],  # lightweight: no tag object to verify
    ):
        subprocess.run(
            ["git", "-C", str(repo), *config, *args], check=True, capture_output=True, timeout=60
        )
    return repo


APPROVED = ("registry.company.com", "docker.io", "ghcr.io")


def gatekeeper(inp: Input, b: Builtins) -> tuple[bool, list[str]]:
    allow = (
        inp.local is not None
        or (inp.image is not None and inp.image.host in APPROVED and inp.image.is_canonical)
        or (inp.http is not None and inp.http.schema == "https")
        or inp.git is not None
    )
    msgs: list[str] = []
    if not allow and inp.image is not None:
        if not inp.image.is_canonical:
            msgs.append(
                f"Image {inp.image.ref} must use a digest reference (e.g., @sha256:...)."
                " Tags alone are not allowed."
            )
        else:
            msgs.append(f"Registry {inp.image.host} is not in the approved list.")
    if not allow and inp.http is not None and inp.http.schema != "https":
        msgs.append("All HTTP downloads must use HTTPS. Plain HTTP is not allowed.")
    return allow, msgs


OUR_ORG = "https://github.com/our-org/"


def paranoid(inp: Input, b: Builtins) -> Decision:
    pins = b.load_json("pins.json")
    img, http, git = inp.image, inp.http, inp.git
    allow = inp.local is not None
    if img is not None:
        allow |= (
            img.host in ("registry.company.com", "dhi.io")
            and img.is_canonical
            and img.has_provenance
        )
        allow |= img.host == "docker.io" and pins.get(img.repo) == img.checksum
    if http is not None:
        allow |= http.schema == "https" and http.host in (
            "releases.internal.com",
            "artifacts.company.com",
        )
    if git is not None:
        allow |= git.remote.startswith(OUR_ORG) or (
            git.tag is not None and b.verify_git_signature(git.tag, "maintainer.pub")
        )
    if allow:
        return Decision(allow=True)
    msgs = []
    if img is not None and img.host == "registry.company.com" and not img.has_provenance:
        msgs.append(f"Internal image {img.ref} requires provenance attestations.")
    if http is not None:
        msgs.append(f"Download from {http.host} is not allowed.")
    if git is not None and not git.remote.startswith(OUR_ORG):
        msgs.append(f"External Git repo {git.remote} requires a signed tag.")
    return Decision(allow=False, deny_msg=tuple(msgs))


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    root = tmp_path / "policy"
    root.mkdir()
    (root / "pins.json").write_text(json.dumps({"golang": GOLANG_PIN, "alpine": ALPINE_PIN}))
    return root


@pytest.mark.parametrize("case", sorted(cases()))
def test_gatekeeper_matches_rego(case: str) -> None:
    source, inp = cases()[case]
    rego = PolicyEvaluator({"Dockerfile.rego": GATEKEEPER_REGO}).evaluate(source, inp)
    assert PythonPolicy(gatekeeper).evaluate(source, inp).decision == rego.decision


@pytest.mark.parametrize("case", sorted(cases()))
def test_paranoid_matches_rego(case: str, policy_dir: Path) -> None:
    source, inp = cases()[case]
    fs = PolicyFS(policy_dir)
    rego = PolicyEvaluator({"Dockerfile.rego": PARANOID_REGO}, fs=fs).evaluate(source, inp)
    assert PythonPolicy(paranoid, fs=fs).evaluate(source, inp).decision == rego.decision


def test_signed_tag_through_the_resolver(tmp_path: Path, policy_dir: Path) -> None:
    repo = signed_repo(tmp_path, policy_dir)
    fs = PolicyFS(policy_dir)
    source = Source.parse(f"{repo}#v1")
    inp = source_to_input(source)
    policy = PythonPolicy(paranoid, fs=fs, reads=("git.tagName", "git.tag", "git.remote"))
    assert policy.evaluate(source, inp).decision.allow is False  # offline: not known
    with Resolver() as resolver:
        result = policy.evaluate(source, inp, resolver=resolver)
        assert result.decision == Decision(allow=True)
        assert "git.tag" in result.resolved
        assert result.input.git is not None and result.input.git.tag is not None
        # a lightweight tag has no tag object: the signature check is false, with a message
        light = Source.parse(f"{repo}#v2")
        denied = policy.evaluate(light, source_to_input(light), resolver=resolver)
    assert denied.decision == Decision(
        allow=False, deny_msg=(f"External Git repo file://{repo} requires a signed tag.",)
    )


def test_outcomes_and_their_checks() -> None:
    source, inp = image("alpine:3.20")

    def returning(value: Any) -> PythonPolicy:
        return PythonPolicy(lambda _i, _b: value)

    assert returning(True).evaluate(source, inp).decision == Decision(allow=True)
    assert returning((False, ["no"])).evaluate(source, inp).decision == Decision(
        allow=False, deny_msg=("no",)
    )
    assert returning({"allow": True, "caps": {"exec.proxy": True}}).evaluate(
        source, inp
    ).decision == Decision(allow=True, caps={"exec.proxy": True})
    for bad, message in (
        (None, "policy returned NoneType"),
        ((True, "msg"), "a policy tuple"),
        ({"allow": "yes"}, "invalid allow property type"),
    ):
        with pytest.raises(PolicyConfigError, match=message):
            returning(bad).evaluate(source, inp)
    with pytest.raises(PolicyConfigError, match="callable"):
        PythonPolicy("allow")  # type: ignore[arg-type]


def test_undefined_denies_and_errors_propagate(tmp_path: Path) -> None:
    (tmp_path / "b.json").write_text("{}")
    fs = PolicyFS(tmp_path)
    source = Source("https://example.com/tool.tgz")
    inp = source_to_input(source)

    def attested(i: Input, b: Builtins) -> bool:
        signature = b.artifact_attestation(i.http, "b.json")  # checksum unknown: undefined
        return bool(signature["kind"] != "x")

    result = PythonPolicy(attested, fs=fs).evaluate(source, inp)
    assert result.decision == Decision(allow=False)

    def wrong(i: Input, b: Builtins) -> bool:
        return b.pin_image({"ref": "x"}, "sha256:" + "a" * 64)

    with pytest.raises(InvalidInputError, match=r"must be input\.image"):
        PythonPolicy(wrong).evaluate(*image("alpine:3.20"))


def test_pin_image_converts_the_source() -> None:
    pin = "sha256:" + "9" * 64

    def pinned(i: Input, b: Builtins) -> PolicyOutcome:
        return b.pin_image(i.image, pin)

    result = PythonPolicy(pinned).evaluate(*image("alpine:3.20"))
    assert result.converted == f"docker-image://docker.io/library/alpine:3.20@{pin}"


def test_reads_limit_what_is_resolved(tmp_path: Path) -> None:
    kit = ImageKit()
    kit.tag("app:1", kit.index([kit.image("linux", "amd64", labels={"team": "core"})]))
    layout = kit.write_layout(tmp_path / "layout")

    def team(i: Input, b: Builtins) -> bool:
        return i.image is not None and i.image.labels.get("team") == "core"

    def signed(i: Input, b: Builtins) -> bool:
        return i.image is not None and any(
            s.kind == SignatureKind.DOCKER_GITHUB_BUILDER
            and s.signer is not None
            and s.signer.source_repository_uri == "https://github.com/acme/app"
            for s in i.image.signatures
        )

    with Resolver(ResolveOptions(oci_layouts=(layout,))) as resolver:
        narrow = PythonPolicy(team, reads=["input.image.labels"]).evaluate(
            *image("app:1"), resolver=resolver
        )
        assert narrow.decision.allow is True
        assert narrow.resolved == ("image.labels",)
        everything = PythonPolicy(team).evaluate(*image("app:1"), resolver=resolver)
        assert everything.decision.allow is True
        assert set(everything.resolved) >= {"image.labels", "image.signatures"}
        unsigned = PythonPolicy(signed, reads=["image.signatures"]).evaluate(
            *image("app:1"), resolver=resolver
        )
    assert unsigned.decision.allow is False
    assert unsigned.resolved == ("image.signatures",)

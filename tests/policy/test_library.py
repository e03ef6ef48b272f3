"""The shipped Rego: Buildx's helper functions and its default policy, on the real engine.

Expected decisions follow buildx-policy.md §2.10 and §2.11 case by case: which of Docker's
images and tags need a Docker GitHub builder signature, how version tags select the
signed release (labs agreement, X.Y and X selectors), and which tags pass unsigned.
"""

from __future__ import annotations

from typing import Any

import pytest

from buildsig.policy import Builtin, RegorusEngine
from buildsig.policy.library import default_policy_modules, helper_modules

DGB = "docker-github-builder"


def signature(ref: str, repo: str = "moby/buildkit", **changes: Any) -> dict[str, Any]:
    sig: dict[str, Any] = {
        "kind": DGB,
        "type": "bundle-v0.3",
        "timestamps": [
            {
                "type": "Tlog",
                "uri": "https://rekor.sigstore.dev",
                "timestamp": "2026-01-01T00:00:00Z",
            }
        ],
        "signer": {
            "certificateIssuer": "CN=sigstore-intermediate,O=sigstore.dev",
            "subjectAlternativeName": f"https://github.com/docker/github-builder/.github/workflows/build.yml@{ref}",
            "issuer": "https://token.actions.githubusercontent.com",
            "sourceRepositoryURI": f"https://github.com/{repo}",
            "sourceRepositoryRef": ref,
            "runnerEnvironment": "github-hosted",
        },
    }
    for key, value in changes.items():
        if key in sig["signer"]:
            sig["signer"][key] = value
        else:
            sig[key] = value
    return sig


def image(
    full_repo: str, tag: str, *sigs: dict[str, Any], provenance: bool = True
) -> dict[str, Any]:
    img: dict[str, Any] = {
        "ref": f"{full_repo}:{tag}" if tag else f"{full_repo}@sha256:{'a' * 64}",
        "fullRepo": full_repo,
        "hasProvenance": provenance,
        "signatures": list(sigs),
    }
    if tag:
        img["tag"] = tag
    return {"image": img}


def _none(*_args: Any) -> Any:
    return None


STUB_BUILTINS = [Builtin("artifact_attestation", 2, _none), Builtin("github_attestation", 2, _none)]


@pytest.fixture(scope="module")
def default_policy() -> RegorusEngine:
    return RegorusEngine(default_policy_modules(), builtins=STUB_BUILTINS)


DOCKERFILE = "docker.io/docker/dockerfile"
UPSTREAM = "docker.io/docker/dockerfile-upstream"
SYFT = "docker.io/docker/buildkit-syft-scanner"
BUILDKIT = "docker.io/moby/buildkit"

CASES = [
    # dockerfile: floating tags need any moby/buildkit DGB signature
    (image(DOCKERFILE, "latest", signature("refs/heads/master")), True),
    (image(DOCKERFILE, "labs"), False),
    (image(UPSTREAM, "master", signature("refs/heads/master", repo="someone/else")), False),
    (image(DOCKERFILE, "latest", signature("refs/heads/master"), provenance=False), False),
    # versions >= 1.21 need the matching release; older ones pass unsigned
    (image(DOCKERFILE, "1.21"), False),
    (image(DOCKERFILE, "1.21", signature("refs/tags/dockerfile/1.21.3")), True),
    (image(DOCKERFILE, "1.21", signature("refs/tags/dockerfile/1.22.0")), False),
    (image(DOCKERFILE, "1", signature("refs/tags/dockerfile/1.22.0")), True),
    (image(DOCKERFILE, "1.21.3", signature("refs/tags/dockerfile/1.21.3")), True),
    (image(DOCKERFILE, "1.21.3", signature("refs/tags/dockerfile/1.21.2")), False),
    (image(DOCKERFILE, "1.21-labs", signature("refs/tags/dockerfile/1.21.3")), False),
    (image(DOCKERFILE, "1.21-labs", signature("refs/tags/dockerfile/1.21.3-labs")), True),
    (image(DOCKERFILE, "1.20"), True),
    (image(DOCKERFILE, "1.4-labs"), True),
    (image(DOCKERFILE, "experimental"), True),
    (
        image(DOCKERFILE, "1.21", signature("refs/tags/dockerfile/1.21.3", kind="self-signed")),
        False,
    ),
    (image(DOCKERFILE, "1.21", signature("refs/tags/dockerfile/1.21.3", timestamps=[])), False),
    (
        image(
            DOCKERFILE,
            "1.21",
            signature("refs/tags/dockerfile/1.21.3", runnerEnvironment="self-hosted"),
        ),
        False,
    ),
    # syft scanner
    (
        image(SYFT, "latest", signature("refs/heads/main", repo="docker/buildkit-syft-scanner")),
        True,
    ),
    (image(SYFT, "latest", signature("refs/heads/main")), False),
    (image(SYFT, "1.10", signature("refs/tags/1.10.2", repo="docker/buildkit-syft-scanner")), True),
    (image(SYFT, "1.10"), False),
    (image(SYFT, "1.9"), True),
    # moby/buildkit
    (image(BUILDKIT, "v0.27.0", signature("refs/tags/v0.27.0")), True),
    (image(BUILDKIT, "v0.27.0-rootless", signature("refs/tags/v0.27.0")), True),
    (image(BUILDKIT, "v0.27.1-rc1-ubuntu", signature("refs/tags/v0.27.1-rc1")), True),
    (image(BUILDKIT, "v0.27.0", signature("refs/tags/v0.27.1")), False),
    (image(BUILDKIT, "v1.0.0"), False),
    (image(BUILDKIT, "v0.26.0"), True),
    (image(BUILDKIT, "v0.13.0-beta1"), True),
    (image(BUILDKIT, "master-cache"), True),
    (image(BUILDKIT, "docker-20.10.3"), True),
    (image(BUILDKIT, "buildx-stable-1"), False),
    (image(BUILDKIT, "buildx-stable-1-gpu", signature("refs/heads/master")), True),
    (image(BUILDKIT, "nightly-rootless", signature("refs/heads/master")), True),
    (image(BUILDKIT, "nightly-rootless"), False),
    # digest-only references always pass; other images are not the default policy's concern
    (image(BUILDKIT, ""), True),
    (image("docker.io/library/alpine", "latest"), True),
]


@pytest.mark.parametrize(
    ("inp", "allowed"),
    CASES,
    ids=[f"{c[0]['image']['ref']}-{len(c[0]['image']['signatures'])}" for c in CASES],
)
def test_default_policy(default_policy: RegorusEngine, inp: dict[str, Any], allowed: bool) -> None:
    decision = default_policy.evaluate(inp).value
    assert decision["allow"] is allowed
    if allowed:
        assert decision["deny_msg"] == []
    else:
        ref, tag = inp["image"]["ref"], inp["image"]["tag"]
        assert decision["deny_msg"] == [
            f"image {ref} is not allowed by default policy: a verified docker-github-builder "
            f"signature is required for {tag} tag"
        ]


POLICY = """package docker

import rego.v1

default allow := false

allow if docker_github_builder_tag(input.image, "org/app", "v1.2.3")

allow if {
	input.http
	github_release_attestation(input.http)
}

allow if {
	input.http
	docker_github_builder_bundle(input.http, "app.sigstore.json", "org/app")
}

decision := {"allow": allow}
"""


def test_helpers_from_a_user_policy() -> None:
    app_sig = signature("refs/tags/v1.2.3", repo="org/app")
    calls: list[tuple[str, Any]] = []

    def github_attestation(http: Any, repo: str) -> Any:
        calls.append(("github", repo))
        return app_sig if repo == "org/app" else None

    def artifact_attestation(http: Any, file: str) -> Any:
        calls.append(("bundle", file))
        return app_sig

    modules = {"Dockerfile.rego": POLICY, **helper_modules()}
    engine = RegorusEngine(
        modules,
        builtins=[
            Builtin("artifact_attestation", 2, artifact_attestation),
            Builtin("github_attestation", 2, github_attestation),
        ],
    )
    full = "docker.io/org/app"
    assert engine.evaluate(image(full, "1", app_sig)).value == {"allow": True}
    other_tag = signature("refs/tags/v9", repo="org/app")
    assert engine.evaluate(image(full, "1", other_tag)).value == {"allow": False}
    release = {
        "http": {
            "url": "https://github.com/org/app/releases/download/v1.2.3/app.tgz",
            "schema": "https",
            "host": "github.com",
            "path": "/org/app/releases/download/v1.2.3/app.tgz",
        }
    }
    assert engine.evaluate(release).value == {"allow": True}
    assert ("github", "org/app") in calls
    not_a_release = {"http": {**release["http"], "path": "/org/app/archive/v1.tgz"}}
    calls.clear()
    assert engine.evaluate(not_a_release).value == {"allow": True}  # via the bundle rule
    assert calls == [("bundle", "app.sigstore.json")]

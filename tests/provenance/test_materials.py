"""Provenance materials → nested inputs (reference §5.3, Buildx policy/materials.go)."""

from __future__ import annotations

import pytest

from buildsig._internal.platform import Platform
from buildsig.errors import InvalidInputError
from buildsig.model import HTTP, Env, Git, Image, Input
from buildsig.provenance import (
    MAX_MATERIAL_DEPTH,
    RawMaterial,
    build_materials,
    material_key,
    material_source,
    materials_to_inputs,
)
from buildsig.source import ATTR_GIT_FULL_URL, Source
from buildsig.unknowns import GIT_UNKNOWNS, IMAGE_UNKNOWNS

HEX1 = "a" * 64
HEX2 = "b" * 64
D1 = f"sha256:{HEX1}"
D2 = f"sha256:{HEX2}"
AMD64 = Platform(os="linux", architecture="amd64")
ARM64 = Platform(os="linux", architecture="arm64")


def source_of(uri: str, digest: dict[str, str] | None = None) -> tuple[str, dict[str, str], str]:
    source, platform = material_source(RawMaterial(uri=uri, digest=digest or {}))
    return source.identifier, dict(source.attrs), "" if platform is None else str(platform)


# --- classification -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "digest", "identifier", "platform"),
    [
        # purls: tag, digest version, digest qualifier, :latest default
        (
            "pkg:docker/alpine@3.20?platform=linux%2Famd64",
            {},
            "docker.io/library/alpine:3.20",
            "linux/amd64",
        ),
        ("pkg:docker/alpine", {}, "docker.io/library/alpine:latest", ""),
        (f"pkg:docker/alpine@{D1}", {}, f"docker.io/library/alpine@{D1}", ""),
        (f"pkg:docker/alpine@3?digest={D1}", {}, f"docker.io/library/alpine:3@{D1}", ""),
        # the material digest pins the ref, with or without the sha256: prefix
        ("pkg:docker/alpine@3.20", {"sha256": HEX1}, f"docker.io/library/alpine:3.20@{D1}", ""),
        ("pkg:docker/alpine@3.20", {"sha256": D1}, f"docker.io/library/alpine:3.20@{D1}", ""),
        (
            "pkg:docker/alpine",
            {"sha256": f" {HEX1}\n"},
            f"docker.io/library/alpine:latest@{D1}",
            "",
        ),
        (f"pkg:docker/alpine@{D1}", {"sha256": HEX1}, f"docker.io/library/alpine@{D1}", ""),
        ("pkg:docker/alpine", {"sha256": "  "}, "docker.io/library/alpine:latest", ""),
        (
            "pkg:docker/alpine",
            {"sha512": "zz", "SHA256": "zz"},
            "docker.io/library/alpine:latest",
            "",
        ),
        (
            "pkg:docker/docker/dockerfile@1?platform=linux%2Farm64",
            {"sha256": HEX2},
            f"docker.io/docker/dockerfile:1@{D2}",
            "linux/arm64",
        ),
        (
            "pkg:docker/ghcr.io/o/app@v2?platform=linux/arm/v7",
            {},
            "ghcr.io/o/app:v2",
            "linux/arm/v7",
        ),
    ],
)
def test_docker_purls(uri: str, digest: dict[str, str], identifier: str, platform: str) -> None:
    assert source_of(uri, digest) == (f"docker-image://{identifier}", {}, platform)


@pytest.mark.parametrize(
    ("uri", "identifier"),
    [
        ("https://github.com/moby/buildkit.git", "git://github.com/moby/buildkit.git"),
        (
            "https://github.com/moby/buildkit.git#refs/tags/v0.11.0",
            "git://github.com/moby/buildkit.git#refs/tags/v0.11.0",
        ),
        ("https://github.com/o/r.git#main:sub/../dir/", "git://github.com/o/r.git#main:dir"),
        ("https://github.com/o/r.git#:docs", "git://github.com/o/r.git#:docs"),
        ("https://github.com/o/r.git#:/", "git://github.com/o/r.git"),
        ("https://Example.com:8443/a/../b//R.GIT", "git://Example.com:8443/b/R.GIT"),
        ("http://example.com/r.git?x=1#v1", "git://example.com/r.git#v1"),
        ("ssh://git@github.com/o/r", "git://github.com/o/r"),  # not http(s): no .git needed
        ("ssh://git@github.com:2222/o/r.git#v1", "git://github.com:2222/o/r.git#v1"),
        ("git://example.com/r", "git://example.com/r"),
        ("git@github.com:o/r.git#v1:sub", "git://github.com/o/r.git#v1:sub"),  # scp-like → ssh
        ("SSH://example.com/x", "git://example.com/x"),
    ],
)
def test_git_materials(uri: str, identifier: str) -> None:
    assert source_of(uri, {"sha1": "c" * 40}) == (identifier, {ATTR_GIT_FULL_URL: uri}, "")


@pytest.mark.parametrize(
    "uri",
    [
        "https://example.com/file.tar.gz",
        "https://github.com/moby/buildkit",  # no .git: a download, as in Buildx
        "http://example.com/a?b=c#frag",
        "https://example.com/r.git%zz",  # not a git URL (bad escape), still http(s)
    ],
)
def test_http_materials(uri: str) -> None:
    assert source_of(uri, {"sha256": HEX1}) == (uri, {}, "")


@pytest.mark.parametrize(
    ("uri", "digest", "reason"),
    [
        ("local://context", {}, "unsupported material URI"),
        ("oci-layout://store@sha256:" + HEX1, {}, "unsupported material URI"),
        ("", {}, "unsupported material URI"),
        ("HTTP://example.com/x", {}, "unsupported material URI"),  # prefix is case-sensitive
        ("ftp://example.com/x.git", {}, "unsupported material URI"),
        ("docker-image://alpine", {}, "unsupported material URI"),
        ("pkg:npm/left-pad@1.0.0", {}, "unsupported material URI"),
        ("pkg:docker/npm@1", {}, None),  # a docker purl: fine
        ("pkg:docker/Alpine@1", {}, "invalid image url"),
        ("pkg:docker/alpine?platform=linux/*", {}, "wildcards"),
        (f"pkg:docker/alpine@{D1}", {"sha256": HEX2}, "material digest mismatch"),
        (f"pkg:docker/alpine@{D1}?digest={D2}", {}, "does not match version"),
        ("pkg:docker/alpine", {"sha256": "xyz"}, "invalid material digest"),
        ("pkg:docker/alpine?flag", {}, "has no value"),
    ],
)
def test_unsupported_materials(uri: str, digest: dict[str, str], reason: str | None) -> None:
    if reason is None:
        material_source(RawMaterial(uri=uri, digest=digest))
        return
    with pytest.raises(InvalidInputError, match=reason):
        material_source(RawMaterial(uri=uri, digest=digest))
    inputs, warnings = materials_to_inputs([RawMaterial(uri=uri, digest=digest)], AMD64)
    assert inputs == ()
    assert len(warnings) == 1
    assert warnings[0].startswith("skipping unsupported provenance material ")
    assert reason in warnings[0]


# --- nested inputs --------------------------------------------------------------------------


def test_every_kind_in_order_with_platforms_and_unknowns() -> None:
    raw = [
        RawMaterial("pkg:docker/alpine@3.20?platform=linux%2Famd64"),
        RawMaterial("local://context"),
        RawMaterial("pkg:docker/busybox@1.36", {"sha256": HEX1}),
        RawMaterial("https://github.com/moby/buildkit.git#v0.12.0", {"sha1": "c" * 40}),
        RawMaterial("oci-layout://x"),
        RawMaterial("https://example.com/file.tgz", {"sha256": HEX2}),
    ]
    result = build_materials(raw, ARM64)
    assert result.raw == (raw[0], raw[2], raw[3], raw[5])
    assert len(result.warnings) == 2
    assert '"local://context"' in result.warnings[0]
    assert '"oci-layout://x"' in result.warnings[1]
    alpine, busybox, git, http = result.inputs
    assert alpine == Input(
        env=Env(depth=1),
        image=Image(
            ref="docker.io/library/alpine:3.20",
            host="docker.io",
            repo="alpine",
            full_repo="docker.io/library/alpine",
            tag="3.20",
            platform="linux/amd64",
            os="linux",
            arch="amd64",
        ),
    )
    assert alpine.unknowns == IMAGE_UNKNOWNS
    assert busybox.image is not None
    assert busybox.image.platform == "linux/arm64"  # inherited from the parent
    assert busybox.image.ref == f"docker.io/library/busybox:1.36@{D1}"
    assert busybox.unknowns == IMAGE_UNKNOWNS[1:]  # pinned: checksum known
    assert git == Input(
        env=Env(depth=1),
        git=Git(
            schema="https",
            host="github.com",
            remote="https://github.com/moby/buildkit.git",
            full_url="https://github.com/moby/buildkit.git#v0.12.0",
        ),
    )
    assert git.unknowns == GIT_UNKNOWNS  # the digest is ignored: the ref is re-resolved
    assert http == Input(
        env=Env(depth=1),
        http=HTTP(
            url="https://example.com/file.tgz",
            schema="https",
            host="example.com",
            path="/file.tgz",
        ),
    )
    assert http.unknowns == ("http.checksum",)


def test_ssh_git_material_input() -> None:
    (inp,), warnings = materials_to_inputs(
        [{"uri": "ssh://git@github.com/o/r.git#refs/heads/main"}], AMD64
    )
    assert warnings == []
    assert inp.git is not None
    assert inp.git.to_dict() == {
        "schema": "ssh",
        "host": "github.com",
        "remote": "ssh://git@github.com/o/r.git",
        "fullURL": "ssh://git@github.com/o/r.git#refs/heads/main",
        "branch": "main",
        "ref": "refs/heads/main",
    }


def test_purl_example_serialises_as_buildx() -> None:
    (inp,), _ = materials_to_inputs(
        [RawMaterial("pkg:docker/alpine@3.20?platform=linux%2Famd64")], "linux/arm64"
    )
    assert inp.to_dict() == {
        "env": {"depth": 1},
        "image": {
            "ref": "docker.io/library/alpine:3.20",
            "host": "docker.io",
            "repo": "alpine",
            "fullRepo": "docker.io/library/alpine",
            "tag": "3.20",
            "platform": "linux/amd64",
            "os": "linux",
            "arch": "amd64",
        },
    }
    assert inp.unknown_refs() == [f"input.{u}" for u in IMAGE_UNKNOWNS]


def test_parent_platform_may_be_a_string_and_is_normalised() -> None:
    (inp,), _ = materials_to_inputs([RawMaterial("pkg:docker/alpine")], "linux/aarch64")
    assert inp.image is not None and inp.image.platform == "linux/arm64"


def test_purl_platform_is_kept_as_parsed() -> None:
    (inp,), _ = materials_to_inputs([RawMaterial("pkg:docker/a?platform=linux/arm")], AMD64)
    assert inp.image is not None
    assert (inp.image.platform, inp.image.variant) == ("linux/arm", "")


def test_mappings_are_accepted_and_ill_typed_ones_dropped() -> None:
    inputs, warnings = materials_to_inputs(
        [
            {"uri": "https://example.com/a", "digest": {"sha256": HEX1}},
            {"uri": 12},
            {"uri": "https://example.com/b", "digest": {"sha256": 1}},
            {},
        ],
        AMD64,
    )
    assert [i.http.url for i in inputs if i.http] == ["https://example.com/a"]
    assert len(warnings) == 3


def test_password_in_a_dropped_uri_is_not_in_the_warning() -> None:
    _, warnings = materials_to_inputs([RawMaterial("ftp://user:s3cret@host/x")], AMD64)
    assert len(warnings) == 1 and "s3cret" not in warnings[0]


def test_git_material_password_is_redacted_in_the_input() -> None:
    (inp,), _ = materials_to_inputs([RawMaterial("https://u:s3cret@example.com/r.git")], AMD64)
    assert inp.git is not None
    assert "s3cret" not in inp.to_json()


# --- limits ---------------------------------------------------------------------------------


def test_children_carry_their_depth() -> None:
    inputs, _ = materials_to_inputs([RawMaterial("https://example.com/a")], AMD64, depth=5)
    assert inputs[0].env == Env(depth=6)


def test_depth_limit() -> None:
    raw = [RawMaterial("https://example.com/a")]
    inputs, _ = materials_to_inputs(raw, AMD64, depth=MAX_MATERIAL_DEPTH - 1)
    assert inputs[0].env.depth == MAX_MATERIAL_DEPTH == 24
    with pytest.raises(InvalidInputError, match=r"^provenance materials depth exceeds limit 24$"):
        materials_to_inputs(raw, AMD64, depth=MAX_MATERIAL_DEPTH)
    # Nothing to nest: only dropped materials at the limit are fine …
    assert materials_to_inputs([RawMaterial("local://x")], AMD64, depth=24)[0] == ()
    assert materials_to_inputs([], AMD64, depth=24) == ((), [])
    # … but a node beyond the limit is an error in itself.
    with pytest.raises(InvalidInputError, match="depth exceeds limit 24"):
        materials_to_inputs([], AMD64, depth=25)


def test_cycle_guard_replaces_a_repeated_source_with_an_empty_input() -> None:
    raw = [
        RawMaterial("pkg:docker/alpine@3.20?platform=linux%2Famd64"),
        RawMaterial("pkg:docker/alpine@3.20?platform=linux%2Farm64"),
        RawMaterial("pkg:docker/alpine@3.20"),  # the parent's platform: amd64
        RawMaterial("https://example.com/a"),
    ]
    key = material_key(Source("docker-image://docker.io/library/alpine:3.20"), AMD64)
    assert key == "docker-image://docker.io/library/alpine:3.20|linux/amd64"
    http_key = material_key(Source("https://example.com/a"), AMD64)
    result = build_materials(raw, AMD64, depth=3, path_keys=("root|linux/amd64", key, http_key))
    empty, arm, same, http = result.inputs
    assert empty == Input() and empty.to_dict() == {}
    assert arm.image is not None and arm.image.platform == "linux/arm64"
    assert same == Input()
    assert http == Input()
    assert result.raw == tuple(raw)  # still aligned: a resolver can find child i


def test_material_key_without_platform() -> None:
    assert material_key(Source("https://example.com/a"), None) == "https://example.com/a"

"""Identifiers to inputs without metadata: Buildx's ``sourceToInput`` cases, field by field."""

from __future__ import annotations

import pytest

from buildsig import (
    HTTP,
    Env,
    Git,
    Image,
    Input,
    InvalidPlatformError,
    InvalidReferenceError,
    InvalidSourceError,
    Local,
    Source,
    UnsupportedSchemeError,
    source_to_input,
)
from buildsig.unknowns import GIT_UNKNOWNS, IMAGE_UNKNOWNS

AMD64 = "linux/amd64"


def unknown_refs(inp: Input) -> list[str]:
    return inp.unknown_refs()


# --- http ------------------------------------------------------------------------------------


def test_http_source_without_checksum() -> None:
    inp = source_to_input("http://example.com/archive.tgz")
    assert inp == Input(
        http=HTTP(
            url="http://example.com/archive.tgz",
            schema="http",
            host="example.com",
            path="/archive.tgz",
        )
    )
    assert unknown_refs(inp) == ["input.http.checksum"]
    assert inp.to_dict() == {
        "http": {
            "url": "http://example.com/archive.tgz",
            "schema": "http",
            "host": "example.com",
            "path": "/archive.tgz",
        }
    }


def test_http_with_query_and_fragment() -> None:
    inp = source_to_input("https://example.com/a/b.tar.gz?x=1&x=2#frag")
    assert inp.to_dict() == {
        "http": {
            "url": "https://example.com/a/b.tar.gz?x=1&x=2#frag",
            "schema": "https",
            "host": "example.com",
            "path": "/a/b.tar.gz",
            "query": {"x": ["1", "2"]},
        }
    }


def test_http_auth_attr_sets_has_auth() -> None:
    src = Source(
        "https://example.com/foo.tar.gz?download=1", {"http.authheadersecret": "my-secret"}
    )
    inp = source_to_input(src)
    assert inp.http is not None
    assert inp.http.has_auth is True
    assert inp.http.query == {"download": ("1",)}
    assert source_to_input("https://example.com/secure.tgz").http == HTTP(
        url="https://example.com/secure.tgz", schema="https", host="example.com", path="/secure.tgz"
    )


def test_http_host_keeps_port_and_path_is_decoded() -> None:
    inp = source_to_input("https://example.com:8443/a%20b/c%2Fd.tgz?q=a+b&e=%2F&&bad;x=1")
    assert inp.http is not None
    assert inp.http.host == "example.com:8443"
    assert inp.http.path == "/a b/c/d.tgz"
    # Go's Query(): '+' is a space, escapes decoded, empty and ';' pairs skipped
    assert inp.http.query == {"q": ("a b",), "e": ("/",)}


@pytest.mark.parametrize(
    "identifier",
    [
        "https://exa mple.com/x",
        "https://example.com:port/x",
        "https://example.com/%zz",
        "http://[::1/x",
    ],
)
def test_http_malformed_urls(identifier: str) -> None:
    with pytest.raises(InvalidSourceError, match="failed to parse http source url") as info:
        source_to_input(identifier)
    assert info.value.source == identifier


@pytest.mark.parametrize(
    "identifier",
    ["https://u:s3cret@exa mple.com/x", "https://u:s3cret@h:port/x", "ftp://u:s3cret@h/x"],
)
def test_passwords_never_reach_errors(identifier: str) -> None:
    with pytest.raises(InvalidSourceError) as info:
        source_to_input(identifier)
    assert "s3cret" not in str(info.value)
    assert "s3cret" not in info.value.diagnostics()


def test_http_password_is_redacted_everywhere() -> None:
    inp = source_to_input("https://user:s3cret@example.com/f.tgz")
    assert inp.http is not None
    assert inp.http.url == "https://user:xxxxx@example.com/f.tgz"
    assert inp.http.host == "example.com"
    assert "s3cret" not in inp.to_json()


# --- local -----------------------------------------------------------------------------------


def test_local_source() -> None:
    inp = source_to_input("local://context")
    assert inp == Input(local=Local(name="context"))
    assert inp.unknowns == ()
    assert inp.to_dict() == {"local": {"name": "context"}}


# --- image -----------------------------------------------------------------------------------


def test_image_without_resolved_metadata() -> None:
    inp = source_to_input("docker-image://alpine:latest", platform=AMD64)
    assert inp.image == Image(
        ref="docker.io/library/alpine:latest",
        host="docker.io",
        repo="alpine",
        full_repo="docker.io/library/alpine",
        tag="latest",
        platform="linux/amd64",
        os="linux",
        arch="amd64",
    )
    assert unknown_refs(inp) == [
        "input.image.checksum",
        "input.image.labels",
        "input.image.user",
        "input.image.volumes",
        "input.image.workingDir",
        "input.image.env",
        "input.image.hasProvenance",
        "input.image.provenance",
        "input.image.signatures",
    ]


def test_canonical_ref_does_not_request_checksum() -> None:
    digest = "sha256:" + "c" * 64
    inp = source_to_input(f"docker-image://alpine@{digest}", platform=AMD64)
    assert inp.image == Image(
        ref=f"docker.io/library/alpine@{digest}",
        host="docker.io",
        repo="alpine",
        full_repo="docker.io/library/alpine",
        is_canonical=True,
        checksum=digest,
        platform="linux/amd64",
        os="linux",
        arch="amd64",
    )
    assert inp.unknowns == IMAGE_UNKNOWNS[1:]


def test_tag_and_digest_together() -> None:
    digest = "sha256:" + "d" * 64
    inp = source_to_input(f"docker-image://ghcr.io/a/b:1@{digest}", platform="linux/arm64/v8")
    assert inp.to_dict()["image"] == {
        "ref": f"ghcr.io/a/b:1@{digest}",
        "host": "ghcr.io",
        "repo": "ghcr.io/a/b",
        "fullRepo": "ghcr.io/a/b",
        "tag": "1",
        "platform": "linux/arm64",
        "os": "linux",
        "arch": "arm64",
        "isCanonical": True,
        "checksum": digest,
    }


def test_untagged_library_use_keeps_no_tag() -> None:
    # Buildx adds :latest only in its CLI; the identifier parser itself does not.
    inp = source_to_input("docker-image://alpine", platform=AMD64)
    assert inp.image is not None
    assert inp.image.ref == "docker.io/library/alpine"
    assert inp.image.tag == ""


@pytest.mark.parametrize(
    ("ref", "host", "repo", "full_repo"),
    [
        ("localhost:5000/x:1", "localhost:5000", "localhost:5000/x", "localhost:5000/x"),
        ("docker.io/foo/bar:1", "docker.io", "foo/bar", "docker.io/foo/bar"),
        ("index.docker.io/library/alpine:3", "docker.io", "alpine", "docker.io/library/alpine"),
        ("foo/bar:1", "docker.io", "foo/bar", "docker.io/foo/bar"),
        ("127.0.0.1:5000/app:1", "127.0.0.1:5000", "127.0.0.1:5000/app", "127.0.0.1:5000/app"),
    ],
)
def test_image_names(ref: str, host: str, repo: str, full_repo: str) -> None:
    inp = source_to_input(f"docker-image://{ref}", platform=AMD64)
    assert inp.image is not None
    assert (inp.image.host, inp.image.repo, inp.image.full_repo) == (host, repo, full_repo)


@pytest.mark.parametrize(
    ("platform", "expected", "variant"),
    [
        ("linux/arm", "linux/arm/v7", "v7"),
        ("linux/armhf", "linux/arm/v7", "v7"),
        ("linux/aarch64", "linux/arm64", ""),
        ("linux/x86_64", "linux/amd64", ""),
        ("linux/i386", "linux/386", ""),
        ("linux/arm/v6", "linux/arm/v6", "v6"),
    ],
)
def test_image_platform_is_normalised(platform: str, expected: str, variant: str) -> None:
    inp = source_to_input("docker-image://alpine:3", platform=platform)
    assert inp.image is not None
    assert inp.image.platform == expected
    assert inp.image.variant == variant
    assert "variant" not in inp.to_dict()["image"] or variant


def test_image_defaults_to_host_platform() -> None:
    inp = source_to_input("docker-image://alpine:3")
    assert inp.image is not None
    assert inp.image.os and inp.image.arch


@pytest.mark.parametrize(
    "identifier",
    [
        "docker-image://ghcr.io/A/b",
        "docker-image://" + "a" * 64,
        "docker-image://alpine@sha256:abc",
        "docker-image://alpine@sha256:" + "A" * 64,
        "docker-image://alpine:",
        "docker-image://",
    ],
)
def test_bad_image_references(identifier: str) -> None:
    with pytest.raises(
        InvalidReferenceError, match="failed to parse image source reference"
    ) as info:
        source_to_input(identifier, platform=AMD64)
    assert info.value.source == identifier
    assert "\n" not in str(info.value)


def test_bad_platform() -> None:
    with pytest.raises(InvalidPlatformError):
        source_to_input("docker-image://alpine:3", platform="linux/*")


# --- git -------------------------------------------------------------------------------------


def test_git_without_full_url_attr() -> None:
    inp = source_to_input("git://github.com/docker/buildx.git")
    assert inp == Input(
        git=Git(schema="https", host="github.com", remote="https://github.com/docker/buildx.git")
    )
    assert inp.unknowns == GIT_UNKNOWNS
    assert unknown_refs(inp) == [
        "input.git.tagName",
        "input.git.branch",
        "input.git.ref",
        "input.git.checksum",
        "input.git.isAnnotatedTag",
        "input.git.commitChecksum",
        "input.git.isSHA256",
        "input.git.tag",
        "input.git.commit",
    ]


@pytest.mark.parametrize(
    ("full", "schema", "remote"),
    [
        ("https://github.com/docker/buildx.git", "https", "https://github.com/docker/buildx.git"),
        ("ssh://git@github.com/docker/buildx.git", "ssh", "ssh://git@github.com/docker/buildx.git"),
        ("git@github.com:docker/buildx.git", "ssh", "git@github.com:docker/buildx.git"),
    ],
)
def test_git_full_url_attr_overrides(full: str, schema: str, remote: str) -> None:
    inp = source_to_input(Source("git://github.com/docker/buildx.git", {"git.fullurl": full}))
    assert inp.git == Git(schema=schema, host="github.com", remote=remote, full_url=full)
    assert inp.unknowns == GIT_UNKNOWNS


def test_git_full_url_without_transport_gets_https() -> None:
    inp = source_to_input(Source("git://github.com/o/r.git", {"git.fullurl": "github.com/o/r.git"}))
    assert inp.git is not None
    assert inp.git.full_url == "https://github.com/o/r.git"


def test_git_password_in_full_url_is_redacted() -> None:
    full = "https://user:s3cret@example.com/o/r.git"
    inp = source_to_input(Source("git://example.com/o/r.git", {"git.fullurl": full}))
    assert "s3cret" not in inp.to_json()


def test_git_short_ref_and_subdir() -> None:
    inp = source_to_input("git://github.com/moby/buildkit.git#v0.12.0:docs")
    assert inp.to_dict() == {
        "git": {
            "schema": "https",
            "host": "github.com",
            "remote": "https://github.com/moby/buildkit.git",
            "subDir": "docs",
        }
    }
    assert inp.unknowns == GIT_UNKNOWNS  # v0.12.0 could be a tag or a branch


def test_git_full_tag_ref() -> None:
    inp = source_to_input("git://github.com/moby/buildkit.git#refs/tags/v0.12.0")
    assert inp.git is not None
    assert (inp.git.tag_name, inp.git.branch, inp.git.ref) == ("v0.12.0", "", "refs/tags/v0.12.0")
    assert inp.unknowns == (
        "git.checksum",
        "git.isAnnotatedTag",
        "git.commitChecksum",
        "git.isSHA256",
        "git.tag",
        "git.commit",
    )


def test_git_branch_ref() -> None:
    inp = source_to_input("git://github.com/o/r.git#refs/heads/feature/x")
    assert inp.git is not None
    assert inp.git.branch == "feature/x"
    assert inp.git.ref == "refs/heads/feature/x"


@pytest.mark.parametrize("sha", ["a" * 40, "b" * 64])
def test_git_commit_ref(sha: str) -> None:
    inp = source_to_input(f"git://github.com/o/r.git#{sha}")
    assert inp.git is not None
    assert inp.git.is_commit_ref
    assert inp.git.checksum == inp.git.commit_checksum == inp.git.ref == sha
    assert inp.git.is_sha256 is (len(sha) == 64)
    assert inp.unknowns == ("git.tag", "git.commit")


def test_git_uppercase_hex_is_not_a_commit() -> None:
    inp = source_to_input("git://github.com/o/r.git#" + "A" * 40)
    assert inp.git is not None
    assert not inp.git.is_commit_ref


@pytest.mark.parametrize(
    ("fragment", "subdir"), [(":/", ""), (":.", ""), (":/a/b/", "a/b"), (":a/../b", "b")]
)
def test_git_subdir_is_cleaned(fragment: str, subdir: str) -> None:
    inp = source_to_input(f"git://github.com/o/r.git#main{fragment}")
    assert inp.git is not None
    assert inp.git.sub_dir == subdir


def test_git_scp_like_identifier() -> None:
    inp = source_to_input("git://git@github.com:o/r.git#main")
    assert inp.git is not None
    assert (inp.git.schema, inp.git.host, inp.git.remote) == (
        "ssh",
        "github.com",
        "git@github.com:o/r.git",
    )


# --- errors ----------------------------------------------------------------------------------


def test_invalid_identifier() -> None:
    with pytest.raises(InvalidSourceError, match="invalid source identifier: not-a-source"):
        source_to_input("not-a-source")


@pytest.mark.parametrize("scheme", ["oci-layout", "ftp", "DOCKER-IMAGE"])
def test_unsupported_scheme(scheme: str) -> None:
    with pytest.raises(
        UnsupportedSchemeError, match=f"unsupported source scheme: {scheme}"
    ) as info:
        source_to_input(f"{scheme}://x")
    assert info.value.scheme == scheme


def test_env_is_applied() -> None:
    inp = source_to_input("local://context", env=Env(filename="Dockerfile", args={"A": "1"}))
    assert inp.to_dict() == {
        "env": {"args": {"A": "1"}, "filename": "Dockerfile", "depth": 0},
        "local": {"name": "context"},
    }


# --- command-line shorthands -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "identifier", "attrs"),
    [
        ("alpine", "docker-image://docker.io/library/alpine:latest", {}),
        ("alpine:3.20", "docker-image://docker.io/library/alpine:3.20", {}),
        ("docker-image://alpine", "docker-image://docker.io/library/alpine:latest", {}),
        (
            "alpine@sha256:" + "e" * 64,
            "docker-image://docker.io/library/alpine@sha256:" + "e" * 64,
            {},
        ),
        ("localhost:5000/x", "docker-image://localhost:5000/x:latest", {}),
        (
            "https://github.com/moby/buildkit.git#v0.12.0",
            "git://https://github.com/moby/buildkit.git#v0.12.0",
            {"git.fullurl": "https://github.com/moby/buildkit.git#v0.12.0"},
        ),
        ("https://example.com/a.tar.gz", "https://example.com/a.tar.gz", {}),
        (
            "git@github.com:o/r.git#main",
            "git://git@github.com:o/r.git#main",
            {"git.fullurl": "git@github.com:o/r.git#main"},
        ),
        ("git://github.com/o/r.git#main", "git://github.com/o/r.git#main", {}),
        ("local://context", "local://context", {}),
        (".", "local://context", {}),
    ],
)
def test_source_parse_shorthands(text: str, identifier: str, attrs: dict[str, str]) -> None:
    src = Source.parse(text)
    assert src.identifier == identifier
    assert dict(src.attrs) == attrs


def test_source_parse_git_url_input_keeps_ref() -> None:
    inp = source_to_input(
        Source.parse("https://github.com/moby/buildkit.git#refs/tags/v0.12.0:docs")
    )
    assert inp.git is not None
    assert (inp.git.remote, inp.git.full_url, inp.git.tag_name, inp.git.sub_dir) == (
        "https://github.com/moby/buildkit.git",
        "https://github.com/moby/buildkit.git#refs/tags/v0.12.0:docs",
        "v0.12.0",
        "docs",
    )


@pytest.mark.parametrize("text", ["ghcr.io/A/b", "", "oci-layout://x", "no such thing!"])
def test_source_parse_errors(text: str) -> None:
    with pytest.raises(InvalidSourceError if "://" in text or not text else InvalidReferenceError):
        Source.parse(text)

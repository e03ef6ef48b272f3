"""Package URLs: packageurl-go 0.1.1's parsing and BuildKit's PURLToRef."""

from __future__ import annotations

import pytest

from buildsig._internal.platform import Platform
from buildsig.errors import (
    InvalidInputError,
    InvalidPlatformError,
    InvalidReferenceError,
    InvalidSourceError,
)
from buildsig.provenance import PackageURL, parse_purl, purl_to_image_ref

D1 = "sha256:" + "a" * 64
D2 = "sha256:" + "b" * 64


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("pkg:docker/alpine", PackageURL("docker", "", "alpine")),
        ("pkg:docker/alpine@3.20", PackageURL("docker", "", "alpine", "3.20")),
        (
            "pkg:docker/library/alpine@3.20?platform=linux/amd64",
            PackageURL("docker", "library", "alpine", "3.20", (("platform", "linux/amd64"),)),
        ),
        (
            "pkg:docker/ghcr.io/org/team/app@v1?platform=linux%2Farm64&digest=" + D1,
            PackageURL(
                "docker",
                "ghcr.io/org/team",
                "app",
                "v1",
                (("platform", "linux/arm64"), ("digest", D1)),
            ),
        ),
        ("pkg://DOCKER/alpine", PackageURL("docker", "", "alpine")),  # type lower-cased
        ("pkg:docker//ns//alpine", PackageURL("docker", "ns", "alpine")),  # empty segments
        ("pkg:docker/n%40s/alpine@1", PackageURL("docker", "n@s", "alpine", "1")),
        ("pkg:docker/al%70ine@sha256%3Aab", PackageURL("docker", "", "alpine", "sha256:ab")),
        ("pkg:docker/al%70ine", PackageURL("docker", "", "al%70ine")),  # no @: not decoded
        ("pkg:docker/a@1@2", PackageURL("docker", "", "a", "1@2")),  # the first @ splits
        # qualifiers: keys lower-cased then decoded, empty values dropped, order kept
        (
            "pkg:docker/a?Platform=linux/amd64&x=&%41=1&k=v=w&k=2",
            PackageURL(
                "docker",
                "",
                "a",
                "",
                (("platform", "linux/amd64"), ("A", "1"), ("k", "v"), ("k", "2")),
            ),
        ),
        ("pkg:docker/a?q=1?r=2", PackageURL("docker", "", "a?q=1", "", (("r", "2"),))),
        # subpath: cut at the first '#', dots removed from segments
        (
            "pkg:docker/a@1#/sub/../dir/./x.y/%2E/",
            PackageURL("docker", "", "a", "1", subpath="sub/dir/xy/."),
        ),
        ("pkg:docker/a#b#c", PackageURL("docker", "", "a", subpath="b#c")),
        ("pkg:npm/%40scope/name@1.0.0", PackageURL("npm", "@scope", "name", "1.0.0")),
    ],
)
def test_parse_purl(text: str, expected: PackageURL) -> None:
    assert parse_purl(text) == expected


def test_qualifier_lookup_takes_the_last() -> None:
    purl = parse_purl("pkg:docker/a?k=1&k=2")
    assert purl.qualifier("k") == "2"
    assert purl.qualifier("missing") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "scheme is missing"),
        ("docker/alpine", "scheme is missing"),
        ("PKG:docker/alpine", "scheme is missing"),
        ("pkg:docker", "type is missing"),
        ("pkg:docker/", "name is required"),
        ("pkg:docker/ns/", "name is required"),
        ("pkg:docker/@1", "name is required"),
        ("pkg:docker/a@%zz", "invalid URL escape"),
        ("pkg:docker/a%2@1", "invalid URL escape"),
        ("pkg:docker/n%/a", "invalid URL escape"),
        ("pkg:docker/a?k=%", "invalid URL escape"),
        ("pkg:docker/a#%G0", "invalid URL escape"),
        ("pkg:docker/a?", "invalid qualifier key"),
        ("pkg:docker/a?=v", "invalid qualifier key"),
        ("pkg:docker/a?1k=v", "invalid qualifier key"),
        ("pkg:docker/a?k%20=v", "invalid qualifier key"),
        ("pkg:docker/a?flag", "has no value"),  # packageurl-go panics here
    ],
)
def test_parse_purl_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidSourceError, match=message) as info:
        parse_purl(text)
    assert info.value.source == text


@pytest.mark.parametrize(
    ("text", "ref", "platform"),
    [
        (
            "pkg:docker/alpine@3.20?platform=linux%2Famd64",
            "docker.io/library/alpine:3.20",
            "linux/amd64",
        ),
        (
            "pkg:docker/library/alpine@3.20?platform=linux/amd64",
            "docker.io/library/alpine:3.20",
            "linux/amd64",
        ),
        ("pkg:docker/alpine", "docker.io/library/alpine:latest", None),
        ("pkg:docker/foo/bar@1.0", "docker.io/foo/bar:1.0", None),
        ("pkg:docker/ghcr.io/a/b@v1", "ghcr.io/a/b:v1", None),
        ("pkg:docker/localhost:5000/x@1", "localhost:5000/x:1", None),
        (f"pkg:docker/alpine@{D1}", f"docker.io/library/alpine@{D1}", None),
        (f"pkg:docker/alpine@{D1}?digest={D1}", f"docker.io/library/alpine@{D1}", None),
        (f"pkg:docker/alpine@3?digest={D1}", f"docker.io/library/alpine:3@{D1}", None),
        (f"pkg:docker/alpine?digest={D1}", f"docker.io/library/alpine@{D1}", None),
        (f"pkg:docker/alpine?digest={D1}&digest={D1}", f"docker.io/library/alpine@{D1}", None),
        ("pkg:docker/" + "a" * 64, "docker.io/library/" + "a" * 64 + ":latest", None),
        (
            "pkg:docker/alpine?platform=linux/arm64&platform=linux/arm/v6",
            "docker.io/library/alpine:latest",
            "linux/arm/v6",
        ),
    ],
)
def test_purl_to_image_ref(text: str, ref: str, platform: str | None) -> None:
    got_ref, got_platform = purl_to_image_ref(text)
    assert str(got_ref) == ref
    assert (None if got_platform is None else str(got_platform)) == platform


def test_purl_platform_is_parsed_not_normalised() -> None:
    """BuildKit keeps containerd's Parse result: linux/arm stays without a variant."""
    _, p = purl_to_image_ref("pkg:docker/a?platform=linux/arm")
    assert p == Platform(os="linux", architecture="arm")
    _, p = purl_to_image_ref("pkg:docker/a?platform=linux/arm64/v8")
    assert p == Platform(os="linux", architecture="arm64", variant="v8")
    _, p = purl_to_image_ref("pkg:docker/a?platform=Linux/x86_64")
    assert p == Platform(os="linux", architecture="amd64")


def test_purl_platform_os_version_and_features_are_cleared() -> None:
    _, p = purl_to_image_ref("pkg:docker/a?platform=windows(10.0.17763%2Bwin32k)/amd64")
    assert p is not None
    assert p == Platform(os="windows", architecture="amd64")
    assert (p.os_version, p.os_features) == ("", ())


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        ("pkg:npm/alpine@1", InvalidSourceError, 'invalid package type "npm"'),
        (f"pkg:docker/alpine@{D1}?digest={D2}", InvalidReferenceError, "does not match version"),
        ("pkg:docker/alpine?digest=sha256:zz", InvalidReferenceError, "digest"),
        ("pkg:docker/alpine?platform=linux/*", InvalidPlatformError, "wildcards"),
        ("pkg:docker/alpine?platform=a/b/c/d", InvalidPlatformError, "cannot parse"),
        ("pkg:docker/Alpine@1", InvalidReferenceError, "invalid image url"),
        ("pkg:docker/alpine@bad tag", InvalidReferenceError, "invalid image url"),
        # not a digest, so a tag, and "sha256:abc" is no valid tag
        ("pkg:docker/alpine@sha256:abc", InvalidReferenceError, "invalid image url"),
        ("pkg:docker/alpine@sha512:" + "a" * 64, InvalidReferenceError, "invalid image url"),
    ],
)
def test_purl_to_image_ref_errors(text: str, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        purl_to_image_ref(text)
    with pytest.raises(InvalidInputError):
        purl_to_image_ref(text)

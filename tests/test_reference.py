"""Image references follow distribution/reference's normalised-name rules exactly."""

from __future__ import annotations

import pickle
import time

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from buildsig._internal import reference
from buildsig._internal.reference import ImageReference, parse_image_reference, validate_digest
from buildsig.errors import InvalidInputError, InvalidReferenceError

HEX64 = "0123456789abcdef" * 4
SHA256 = f"sha256:{HEX64}"
SHA384 = "sha384:" + "a" * 96
SHA512 = "sha512:" + "b" * 128


# --- parsing and normalisation ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "domain", "path", "tag", "digest"),
    [
        ("alpine", "docker.io", "library/alpine", None, None),
        ("alpine:3.19", "docker.io", "library/alpine", "3.19", None),
        (f"alpine@{SHA256}", "docker.io", "library/alpine", None, SHA256),
        (f"alpine:3@{SHA256}", "docker.io", "library/alpine", "3", SHA256),
        ("foo/bar", "docker.io", "foo/bar", None, None),
        ("foo/bar/baz", "docker.io", "foo/bar/baz", None, None),
        ("docker.io/foo/bar", "docker.io", "foo/bar", None, None),
        ("docker.io/alpine", "docker.io", "library/alpine", None, None),
        ("docker.io/library/alpine", "docker.io", "library/alpine", None, None),
        ("index.docker.io/library/alpine:3", "docker.io", "library/alpine", "3", None),
        ("index.docker.io/alpine", "docker.io", "library/alpine", None, None),
        ("localhost/x", "localhost", "x", None, None),
        ("localhost:5000/x", "localhost:5000", "x", None, None),
        ("localhost:5000/x/y:tag", "localhost:5000", "x/y", "tag", None),
        ("registry:5000/x", "registry:5000", "x", None, None),
        ("example.com/x", "example.com", "x", None, None),
        ("Example.COM/x", "Example.COM", "x", None, None),
        ("Foo/bar", "Foo", "bar", None, None),
        ("127.0.0.1:5000/x", "127.0.0.1:5000", "x", None, None),
        ("[::1]:5000/x", "[::1]:5000", "x", None, None),
        ("[::1]/x", "[::1]", "x", None, None),
        ("[2001:db8::1]:443/a/b:t", "[2001:db8::1]:443", "a/b", "t", None),
        (f"ghcr.io/a/b:1@{SHA256}", "ghcr.io", "a/b", "1", SHA256),
        (f"ghcr.io/a/b@{SHA384}", "ghcr.io", "a/b", None, SHA384),
        (f"ghcr.io/a/b@{SHA512}", "ghcr.io", "a/b", None, SHA512),
        ("a.b-c.d/e__f.g-h---i/j_k:T_a.g-1", "a.b-c.d", "e__f.g-h---i/j_k", "T_a.g-1", None),
        ("alpine:" + "t" * 128, "docker.io", "library/alpine", "t" * 128, None),
        ("alpine:_tag", "docker.io", "library/alpine", "_tag", None),
        # a single element is always a Hub repository, even if it looks like a host
        ("localhost", "docker.io", "library/localhost", None, None),
        ("localhost:5000", "docker.io", "library/localhost", "5000", None),
    ],
)
def test_parse(text: str, domain: str, path: str, tag: str | None, digest: str | None) -> None:
    ref = parse_image_reference(text)
    assert ref == ImageReference(domain=domain, path=path, tag=tag, digest=digest)


@pytest.mark.parametrize(
    ("text", "name", "familiar", "string"),
    [
        ("alpine", "docker.io/library/alpine", "alpine", "docker.io/library/alpine"),
        ("docker.io/foo/bar", "docker.io/foo/bar", "foo/bar", "docker.io/foo/bar"),
        (
            "index.docker.io/library/alpine:3",
            "docker.io/library/alpine",
            "alpine",
            "docker.io/library/alpine:3",
        ),
        (
            "library/a/b",
            "docker.io/library/a/b",
            "library/a/b",  # nested under library/: not an official image, kept whole
            "docker.io/library/a/b",
        ),
        ("localhost:5000/x", "localhost:5000/x", "localhost:5000/x", "localhost:5000/x"),
        ("localhost/x", "localhost/x", "localhost/x", "localhost/x"),
        (
            "ghcr.io/library/alpine",
            "ghcr.io/library/alpine",
            "ghcr.io/library/alpine",  # only Docker Hub names are shortened
            "ghcr.io/library/alpine",
        ),
        (
            f"ghcr.io/a/b:1@{SHA256}",
            "ghcr.io/a/b",
            "ghcr.io/a/b",
            f"ghcr.io/a/b:1@{SHA256}",
        ),
        (
            f"alpine@{SHA256}",
            "docker.io/library/alpine",
            "alpine",
            f"docker.io/library/alpine@{SHA256}",
        ),
    ],
)
def test_names_and_str(text: str, name: str, familiar: str, string: str) -> None:
    ref = parse_image_reference(text)
    assert ref.name == name
    assert ref.familiar_name == familiar
    assert str(ref) == string


def test_name_without_domain_is_just_the_path() -> None:
    assert ImageReference(domain="", path="a/b").name == "a/b"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("alpine", "docker.io/library/alpine:latest"),
        ("alpine:3", "docker.io/library/alpine:3"),
        (f"alpine@{SHA256}", f"docker.io/library/alpine@{SHA256}"),
        (f"alpine:3@{SHA256}", f"docker.io/library/alpine:3@{SHA256}"),
        ("localhost:5000/x", "localhost:5000/x:latest"),
    ],
)
def test_with_default_tag(text: str, expected: str) -> None:
    ref = parse_image_reference(text)
    tagged = ref.with_default_tag()
    assert str(tagged) == expected
    assert tagged.with_default_tag() == tagged
    if ref.tag or ref.digest:
        assert tagged is ref


def test_reference_is_a_hashable_frozen_value() -> None:
    ref = parse_image_reference("alpine:3")
    assert ref == parse_image_reference("docker.io/library/alpine:3")
    assert hash(ref) == hash(parse_image_reference("index.docker.io/alpine:3"))
    assert len({ref, parse_image_reference("alpine:3")}) == 1
    with pytest.raises(AttributeError):
        ref.tag = "4"  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(ref)) == ref


# --- errors --------------------------------------------------------------------------------


def _reject(text: str) -> InvalidReferenceError:
    with pytest.raises(InvalidReferenceError) as info:
        parse_image_reference(text)
    err = info.value
    assert isinstance(err, ValueError)
    assert isinstance(err, InvalidInputError)
    assert err.source == text
    return err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # bare 64-hex identifiers
        (HEX64, f"invalid repository name ({HEX64}), cannot specify 64-byte hexadecimal strings"),
        # uppercase repository (checked before the grammar)
        ("Foo", "invalid reference format: repository name (library/Foo) must be lowercase"),
        ("ghcr.io/A/b", "invalid reference format: repository name (A/b) must be lowercase"),
        (
            "docker.io/Foo",
            "invalid reference format: repository name (library/Foo) must be lowercase",
        ),
        ("foo/Bar:tag", "invalid reference format: repository name (foo/Bar) must be lowercase"),
        ("localhost/Up", "invalid reference format: repository name (Up) must be lowercase"),
        # the remote is cut at the first ':', which may be inside the digest
        (
            "alpine@SHA256:" + HEX64,
            "invalid reference format: repository name (library/alpine@SHA256) must be lowercase",
        ),
        # grammar
        ("alpine:", 'invalid reference format: "alpine:"'),
        ("", 'invalid reference format: ""'),
        ("/", 'invalid reference format: "/"'),
        ("example.com/", 'invalid reference format: "example.com/"'),
        ("a//b", 'invalid reference format: "a//b"'),
        ("a/b/", 'invalid reference format: "a/b/"'),
        ("-a/b", 'invalid reference format: "-a/b"'),
        ("a-/b", 'invalid reference format: "a-/b"'),
        ("ghcr.io/a_-b", 'invalid reference format: "ghcr.io/a_-b"'),
        ("ghcr.io/a___b", 'invalid reference format: "ghcr.io/a___b"'),
        ("ghcr.io/.a", 'invalid reference format: "ghcr.io/.a"'),
        ("ghcr.io/a.", 'invalid reference format: "ghcr.io/a."'),
        ("alpine:-tag", 'invalid reference format: "alpine:-tag"'),
        ("alpine:.tag", 'invalid reference format: "alpine:.tag"'),
        ("alpine:" + "t" * 129, 'invalid reference format: "alpine:' + "t" * 129 + '"'),
        ("alpine:tä", 'invalid reference format: "alpine:tä"'),
        ("alpine\n", 'invalid reference format: "alpine\\n"'),
        ("alpine@sha256:abc", 'invalid reference format: "alpine@sha256:abc"'),
        ("a/b@sha256:abc", 'invalid reference format: "a/b@sha256:abc"'),
        ("alpine@", 'invalid reference format: "alpine@"'),
        ("ghcr.io:port/x", 'invalid reference format: "ghcr.io:port/x"'),
        ("[::1/x", 'invalid reference format: "[::1/x"'),
        ("a b", 'invalid reference format: "a b"'),
        # length of the name, domain included
        ("a" * 240, 'repository name must not be more than 255 characters: "' + "a" * 240 + '"'),
        (
            "ghcr.io/" + "a" * 248,
            'repository name must not be more than 255 characters: "ghcr.io/' + "a" * 248 + '"',
        ),
        # digests that pass the grammar but not go-digest
        (
            "docker.io/library/alpine@sha256:" + HEX64.upper(),
            'invalid checksum digest format: "sha256:' + HEX64.upper() + '"',
        ),
        (
            "alpine@sha256:" + "a" * 32,
            'invalid checksum digest length: "sha256:' + "a" * 32 + '"',
        ),
        ("alpine@sha256:" + "a" * 65, 'invalid checksum digest length: "sha256:' + "a" * 65 + '"'),
        ("alpine@md5:" + "a" * 32, 'unsupported digest algorithm: "md5:' + "a" * 32 + '"'),
        ("alpine:3@SHA256:" + HEX64, 'invalid checksum digest format: "SHA256:' + HEX64 + '"'),
        ("ghcr.io/a:5/B", 'invalid reference format: "ghcr.io/a:5/B"'),
    ],
)
def test_rejects(text: str, message: str) -> None:
    assert str(_reject(text)) == message


def test_name_length_limit_is_inclusive() -> None:
    path = "a" * (255 - len("ghcr.io/"))
    assert parse_image_reference(f"ghcr.io/{path}").name == f"ghcr.io/{path}"
    _reject(f"ghcr.io/{path}a")


def test_errors_only_the_inner_parser_reports() -> None:
    # ParseNormalizedNamed always adds a domain and checks the remote's case first, so
    # these two of Go's Parse errors cannot come out of parse_image_reference.
    with pytest.raises(
        InvalidReferenceError, match=r"^repository name must have at least one component"
    ):
        reference._parse_reference("")
    with pytest.raises(InvalidReferenceError) as info:
        reference._parse_reference("ghcr.io/A/b", source="A/b")
    assert str(info.value) == 'invalid reference format: repository name must be lowercase: "A/b"'
    assert info.value.source == "A/b"


def test_64_hex_is_only_rejected_alone() -> None:
    assert parse_image_reference(f"foo/{HEX64}").path == f"foo/{HEX64}"
    assert parse_image_reference(HEX64[:63]).path == f"library/{HEX64[:63]}"
    # uppercase hex is not an identifier; it fails as an uppercase name instead
    assert "must be lowercase" in str(_reject(HEX64.upper()))


# --- digests -------------------------------------------------------------------------------


@pytest.mark.parametrize("digest", [SHA256, SHA384, SHA512])
def test_validate_digest_accepts(digest: str) -> None:
    assert validate_digest(digest) == digest


@pytest.mark.parametrize(
    ("digest", "reason"),
    [
        ("", "invalid checksum digest format"),
        ("sha256", "invalid checksum digest format"),
        (":" + HEX64, "invalid checksum digest format"),
        ("sha256:", "invalid checksum digest format"),
        ("sha256:" + HEX64.upper(), "invalid checksum digest format"),
        ("sha256:" + "g" * 64, "invalid checksum digest format"),
        ("sha256:" + "a" * 63, "invalid checksum digest length"),
        ("sha256:" + "a" * 96, "invalid checksum digest length"),
        ("sha384:" + HEX64, "invalid checksum digest length"),
        ("sha512:" + HEX64, "invalid checksum digest length"),
        # Go counts bytes: 63 ASCII characters and one two-byte character make 65
        ("sha256:" + "a" * 63 + "é", "invalid checksum digest length"),
        ("md5:" + "a" * 32, "unsupported digest algorithm"),
        ("blake3:" + HEX64, "unsupported digest algorithm"),
        ("sha3+256:" + HEX64, "unsupported digest algorithm"),
        ("SHA256:" + HEX64, "invalid checksum digest format"),
        ("foo:bar baz", "invalid checksum digest format"),
    ],
)
def test_validate_digest_rejects(digest: str, reason: str) -> None:
    with pytest.raises(InvalidReferenceError) as info:
        validate_digest(digest)
    assert str(info.value).startswith(reason + ": ")
    assert info.value.source == digest


# --- properties ----------------------------------------------------------------------------

_ALNUM = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8)
_SEPARATORS = st.sampled_from([".", "_", "__", "-", "--", "---"])


@st.composite
def _path_components(draw: st.DrawFn) -> str:
    parts = [draw(_ALNUM)]
    for _ in range(draw(st.integers(0, 2))):
        parts.append(draw(_SEPARATORS))
        parts.append(draw(_ALNUM))
    return "".join(parts)


_PATHS = st.lists(_path_components(), min_size=1, max_size=4).map("/".join)
_LETTERS_DIGITS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_EDGE = st.sampled_from(_LETTERS_DIGITS)
# [a-zA-Z0-9] or [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
_HOST_LABEL = _EDGE | st.tuples(_EDGE, st.text(_LETTERS_DIGITS + "-", max_size=6), _EDGE).map(
    "".join
)
_PORTS = st.integers(0, 65535).map(lambda n: f":{n}")


@st.composite
def _domains(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["dotted", "localhost", "uppercase", "ipv6", "single", "hub"]))
    if kind == "hub":
        return "docker.io"
    if kind == "dotted":
        host = ".".join(draw(st.lists(_HOST_LABEL, min_size=2, max_size=4)))
    elif kind == "localhost":
        host = "localhost"
    elif kind == "uppercase":
        host = draw(_HOST_LABEL)
        assume(host.lower() != host)
    elif kind == "ipv6":
        # splitDockerDomain only recognises a bracketed host by its ':'
        halves = st.text("0123456789abcdefABCDEF:", max_size=6)
        host = f"[{draw(halves)}:{draw(halves)}]"
    else:
        # a lowercase single label is only a domain when it carries a port
        return draw(_HOST_LABEL).lower() + draw(_PORTS)
    domain = host + draw(st.one_of(st.just(""), _PORTS))
    assume(domain != "index.docker.io")  # folded into docker.io by design
    return domain


# [\w][\w.-]{0,127}, kept short
_TAGS = st.tuples(
    st.sampled_from(_LETTERS_DIGITS + "_"), st.text(_LETTERS_DIGITS + "_.-", max_size=20)
).map("".join)
_DIGESTS = st.text("0123456789abcdef", min_size=64, max_size=64).map(lambda h: f"sha256:{h}")


@st.composite
def _canonical_references(draw: st.DrawFn) -> ImageReference:
    domain = draw(_domains())
    path = draw(_PATHS)
    if domain == "docker.io" and "/" not in path:
        path = f"library/{path}"
    assume(len(domain) + 1 + len(path) <= 255)
    tag = draw(st.none() | _TAGS)
    digest = draw(st.none() | _DIGESTS)
    return ImageReference(domain=domain, path=path, tag=tag, digest=digest)


@st.composite
def _familiar_inputs(draw: st.DrawFn) -> str:
    text = draw(_PATHS)
    first, slash, _ = text.partition("/")
    # a first element with a '.' (or "localhost") would be read as a registry host
    assume(not slash or ("." not in first and first != "localhost"))
    if draw(st.booleans()):
        text += ":" + draw(_TAGS)
    if draw(st.booleans()):
        text += "@" + draw(_DIGESTS)
    return text


@settings(max_examples=200, deadline=None, database=None)
@given(_canonical_references())
def test_canonical_references_round_trip(ref: ImageReference) -> None:
    parsed = parse_image_reference(str(ref))
    assert parsed == ref
    assert str(parsed) == str(ref)
    assert parsed.name == f"{ref.domain}/{ref.path}"
    assert parsed.name.startswith(parsed.domain + "/")
    assert parsed.name[len(parsed.domain) + 1 :] == parsed.path


@settings(max_examples=200, deadline=None, database=None)
@given(_familiar_inputs())
def test_familiar_inputs_normalise_idempotently(text: str) -> None:
    ref = parse_image_reference(text)
    assert ref.domain == "docker.io"
    assert parse_image_reference(str(ref)) == ref
    assert str(parse_image_reference(str(ref))) == str(ref)
    # the familiar form parses back to the same repository
    assert parse_image_reference(ref.familiar_name).name == ref.name
    assert ref.name == f"docker.io/{ref.path}"


@settings(max_examples=200, deadline=None, database=None)
@given(st.text(max_size=40))
def test_arbitrary_text_parses_or_raises_invalid_reference(text: str) -> None:
    try:
        ref = parse_image_reference(text)
    except InvalidReferenceError as err:
        failure = err
    else:
        assert parse_image_reference(str(ref)) == ref
        return
    assert failure.source == text


def test_pathological_inputs_stay_fast() -> None:
    start = time.perf_counter()
    for text in [
        "a" * 100_000 + "!",
        "a-" * 50_000 + "!",
        "a." * 50_000 + "/",
        "a/" * 50_000 + "A",
        "example.com/" + "a_" * 50_000,
        "x.y/a@sha256:" + "a" * 100_000 + "!",
    ]:
        with pytest.raises(InvalidReferenceError):
            parse_image_reference(text)
    assert time.perf_counter() - start < 2

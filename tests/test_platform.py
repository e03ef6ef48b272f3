"""Platform specifiers are parsed and normalised the way containerd/platforms does."""

from __future__ import annotations

import pickle
import platform as stdlib_platform
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from buildsig._internal.platform import (
    Platform,
    host_platform,
    normalize_platform,
    parse_platform,
)
from buildsig.errors import InvalidInputError, InvalidPlatformError

HOST = host_platform()

KNOWN_OS = [
    "aix",
    "android",
    "darwin",
    "dragonfly",
    "freebsd",
    "hurd",
    "illumos",
    "ios",
    "js",
    "linux",
    "nacl",
    "netbsd",
    "openbsd",
    "plan9",
    "solaris",
    "windows",
    "zos",
]
KNOWN_ARCH = [
    "386",
    "amd64",
    "amd64p32",
    "arm",
    "armbe",
    "arm64",
    "arm64be",
    "ppc64",
    "ppc64le",
    "loong64",
    "mips",
    "mipsle",
    "mips64",
    "mips64le",
    "mips64p32",
    "mips64p32le",
    "ppc",
    "riscv",
    "riscv64",
    "s390",
    "s390x",
    "sparc",
    "sparc64",
    "wasm",
]
ARCH_ALIASES = ["i386", "x86_64", "x86-64", "aarch64", "armhf", "armel"]
VARIANTS = ["v5", "v6", "v7", "v8", "5", "6", "7", "8", "v8.0", "9", "9.0", "v9.0", "v9", "v1"]


# --- parse + normalise ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("linux/amd64", Platform("linux", "amd64")),
        ("linux/arm", Platform("linux", "arm", "v7")),
        ("linux/arm/v7", Platform("linux", "arm", "v7")),
        ("linux/arm/7", Platform("linux", "arm", "v7")),
        ("linux/arm/v6", Platform("linux", "arm", "v6")),
        ("linux/arm/5", Platform("linux", "arm", "v5")),
        ("linux/arm/6", Platform("linux", "arm", "v6")),
        ("linux/arm/8", Platform("linux", "arm", "v8")),
        ("linux/arm/v9", Platform("linux", "arm", "v9")),
        ("linux/armhf", Platform("linux", "arm", "v7")),
        ("linux/armhf/v6", Platform("linux", "arm", "v7")),
        ("linux/armel", Platform("linux", "arm", "v6")),
        ("linux/arm64", Platform("linux", "arm64")),
        ("linux/arm64/v8", Platform("linux", "arm64")),
        ("linux/arm64/8", Platform("linux", "arm64")),
        ("linux/arm64/v8.0", Platform("linux", "arm64")),
        ("linux/arm64/9", Platform("linux", "arm64", "v9")),
        ("linux/arm64/9.0", Platform("linux", "arm64", "v9")),
        ("linux/arm64/v9.0", Platform("linux", "arm64", "v9")),
        ("linux/arm64/v9", Platform("linux", "arm64", "v9")),
        ("linux/arm64/v8.2", Platform("linux", "arm64", "v8.2")),
        ("linux/aarch64", Platform("linux", "arm64")),
        ("linux/Aarch64/V8", Platform("linux", "arm64")),
        ("linux/x86_64", Platform("linux", "amd64")),
        ("linux/x86-64", Platform("linux", "amd64")),
        ("linux/amd64/v1", Platform("linux", "amd64")),
        ("linux/amd64/v2", Platform("linux", "amd64", "v2")),
        ("linux/amd64/V3", Platform("linux", "amd64", "v3")),
        ("linux/i386", Platform("linux", "386")),
        ("linux/i386/v7", Platform("linux", "386")),
        ("linux/386", Platform("linux", "386")),
        ("LINUX/AMD64", Platform("linux", "amd64")),
        ("macos/arm64", Platform("darwin", "arm64")),
        ("MacOS/x86_64", Platform("darwin", "amd64")),
        ("linux/riscv64", Platform("linux", "riscv64")),
        ("linux/ppc64le", Platform("linux", "ppc64le")),
        ("linux/s390x", Platform("linux", "s390x")),
        # unknown values pass through (lowercased) when both parts are given
        ("plan10/weird_arch", Platform("plan10", "weird_arch")),
        ("linux/foo/Bar", Platform("linux", "foo", "bar")),
        ("windows(10.0.17763)/amd64", Platform("windows", "amd64", os_version="10.0.17763")),
        ("windows()/amd64", Platform("windows", "amd64")),
        (
            "windows(10.0.17763+win32k)/amd64",
            Platform("windows", "amd64", os_version="10.0.17763", os_features=("win32k",)),
        ),
        (
            "windows(+b+a+b)/amd64",
            Platform("windows", "amd64", os_features=("a", "b")),
        ),
        ("linux(1%2B2)/amd64", Platform("linux", "amd64", os_version="1+2")),
        ("linux(a%2fb)/amd64", Platform("linux", "amd64", os_version="a/b")),
        ("linux(+f%2B1)/amd64", Platform("linux", "amd64", os_features=("f+1",))),
        ("linux(%C3%A9)/amd64", Platform("linux", "amd64", os_version="é")),
    ],
)
def test_parse(spec: str, expected: Platform) -> None:
    assert parse_platform(spec) == expected


@pytest.mark.parametrize("os_name", ["linux", "windows", "darwin", "macos", "Linux", "freebsd"])
def test_lone_os_takes_the_host_architecture(os_name: str) -> None:
    p = parse_platform(os_name)
    assert p.os == ("darwin" if os_name == "macos" else os_name.lower())
    assert (p.architecture, p.variant) == (HOST.architecture, HOST.variant)


def test_lone_os_keeps_its_version() -> None:
    p = parse_platform("windows(10.0.20348+b+a)")
    assert (p.os, p.os_version, p.os_features) == ("windows", "10.0.20348", ("a", "b"))
    assert p.architecture == HOST.architecture


@pytest.mark.parametrize(
    ("spec", "arch", "variant"),
    [
        ("amd64", "amd64", ""),
        ("x86_64", "amd64", ""),
        ("AMD64", "amd64", ""),
        ("aarch64", "arm64", ""),
        ("arm64", "arm64", ""),
        ("arm", "arm", "v7"),
        ("armhf", "arm", "v7"),
        ("armel", "arm", "v6"),
        ("i386", "386", ""),
        ("riscv64", "riscv64", ""),
        ("wasm", "wasm", ""),
        ("s390x", "s390x", ""),
    ],
)
def test_lone_arch_takes_the_host_os(spec: str, arch: str, variant: str) -> None:
    assert parse_platform(spec) == Platform(HOST.os, arch, variant)


@pytest.mark.parametrize(
    ("platform", "text"),
    [
        (Platform("linux", "amd64"), "linux/amd64"),
        (Platform("linux", "arm", "v7"), "linux/arm/v7"),
        (Platform("windows", "amd64", os_version="10.0", os_features=("x",)), "windows/amd64"),
        (Platform("", "amd64"), "unknown"),
        (Platform("linux", ""), "linux"),
        (Platform("linux", "", "v7"), "linux/v7"),
        # Go's path.Join cleans the result
        (Platform("linux", "..", ""), "."),
        (Platform("linux", ".", "v7"), "linux/v7"),
    ],
)
def test_str(platform: Platform, text: str) -> None:
    assert str(platform) == text


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        (Platform("", "amd64"), Platform(HOST.os, "amd64")),
        (Platform("MacOS", "AArch64", "V8"), Platform("darwin", "arm64")),
        (Platform("linux", "arm"), Platform("linux", "arm", "v7")),
        (Platform("linux", "arm64", "v8"), Platform("linux", "arm64")),
        (Platform("linux", "i386", "v6"), Platform("linux", "386")),
        (
            Platform("windows", "amd64", os_version="10", os_features=("b", "a", "b")),
            Platform("windows", "amd64", os_version="10", os_features=("a", "b")),
        ),
    ],
)
def test_normalize(raw: Platform, normal: Platform) -> None:
    assert normalize_platform(raw) == normal
    assert normalize_platform(normal) == normal


def test_host_platform() -> None:
    host = host_platform()
    assert host is host_platform()
    assert normalize_platform(host) == host
    assert host.os
    assert host.architecture
    if sys.platform.startswith("linux"):
        assert host.os == "linux"
    if stdlib_platform.machine().lower() in ("x86_64", "amd64"):
        assert (host.architecture, host.variant) == ("amd64", "")
    if stdlib_platform.machine().lower() in ("aarch64", "arm64"):
        assert (host.architecture, host.variant) == ("arm64", "")
    assert parse_platform(str(host)) == host


def test_platform_is_a_hashable_frozen_value() -> None:
    p = parse_platform("linux/arm64")
    assert p == parse_platform("linux/aarch64/v8")
    assert hash(p) == hash(parse_platform("LINUX/ARM64"))
    with pytest.raises(AttributeError):
        p.os = "windows"  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(p)) == p


# --- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ("*", "wildcards not supported"),
        ("linux/*", "wildcards not supported"),
        ("linux/arm/*", "wildcards not supported"),
        ("", 'invalid OS component ""'),
        ("/amd64", 'invalid OS component ""'),
        ("linux!/amd64", 'invalid OS component "linux!"'),
        ("linux.x/amd64", 'invalid OS component "linux.x"'),
        ("windows(10)(11)/amd64", 'invalid OS component "windows(10)(11)"'),
        ("windows(10+)/amd64", 'invalid OS component "windows(10+)"'),
        ("windows(10/amd64", 'invalid OS component "windows(10"'),
        ("linux(%zz)/amd64", 'invalid OS version "%zz": invalid URL escape "%zz"'),
        ("linux(%4)/amd64", 'invalid OS version "%4": invalid URL escape "%4"'),
        ("linux(1%)/amd64", 'invalid OS version "1%": invalid URL escape "%"'),
        ("linux(%ff)/amd64", 'invalid OS version "%ff": "%ff" does not decode to UTF-8 text'),
        ("linux(+a+%g0)/amd64", 'invalid OS feature "%g0": invalid URL escape "%g0"'),
        ("linux/", 'invalid component ""'),
        ("linux/amd 64", 'invalid component "amd 64"'),
        ("linux/amd64/", 'invalid component ""'),
        ("linux/amd64/v8+", 'invalid component "v8+"'),
        ("linux/amd64/v1/x/y", 'invalid component "x/y"'),
        ("linux/amd64/v1/x", "cannot parse platform specifier"),
        ("a/b/c/d", "cannot parse platform specifier"),
        ("foo", "unknown operating system or architecture"),
        ("wasip1", "unknown operating system or architecture"),
        ("armv7", "unknown operating system or architecture"),
        ("amd64(1.0)", "unknown operating system or architecture"),
    ],
)
def test_rejects(spec: str, reason: str) -> None:
    with pytest.raises(InvalidPlatformError) as info:
        parse_platform(spec)
    err = info.value
    assert isinstance(err, ValueError)
    assert isinstance(err, InvalidInputError)
    assert str(err) == f'invalid platform "{spec}": {reason}'
    assert err.source == spec


def test_error_message_quotes_control_characters() -> None:
    with pytest.raises(InvalidPlatformError) as info:
        parse_platform("linux/amd64\n")
    assert "\n" not in str(info.value)


# --- properties ----------------------------------------------------------------------------


def _random_case(text: str, flips: list[bool]) -> str:
    return "".join(
        c.upper() if flip else c for c, flip in zip(text, flips + [False] * len(text), strict=False)
    )


_OS_NAMES = st.sampled_from([*KNOWN_OS, "macos"])
_ARCH_NAMES = st.sampled_from(KNOWN_ARCH + ARCH_ALIASES)
_VARIANT_NAMES = st.sampled_from(VARIANTS)
_FLIPS = st.lists(st.booleans(), max_size=12)


@st.composite
def _specs(draw: st.DrawFn) -> str:
    os_name = _random_case(draw(_OS_NAMES), draw(_FLIPS))
    arch = _random_case(draw(_ARCH_NAMES), draw(_FLIPS))
    shape = draw(st.sampled_from(["os", "arch", "os/arch", "os/arch/variant"]))
    if shape == "os":
        return os_name
    if shape == "arch":
        return arch
    if shape == "os/arch":
        return f"{os_name}/{arch}"
    return f"{os_name}/{arch}/{_random_case(draw(_VARIANT_NAMES), draw(_FLIPS))}"


@settings(max_examples=200, deadline=None, database=None)
@given(_specs())
def test_normalisation_is_idempotent(spec: str) -> None:
    p = parse_platform(spec)
    again = parse_platform(str(p))
    assert again == p
    assert str(again) == str(p)
    assert normalize_platform(p) == p
    assert p.os == p.os.lower()
    assert p.architecture == p.architecture.lower()
    assert p.variant == p.variant.lower()


@settings(max_examples=200, deadline=None, database=None)
@given(st.text(max_size=24))
def test_arbitrary_text_parses_or_raises_invalid_platform(spec: str) -> None:
    try:
        p = parse_platform(spec)
    except InvalidPlatformError as err:
        failure = err
    else:
        assert normalize_platform(p) == p
        return
    assert failure.source == spec

"""Platform specifiers (``linux/arm64``), parsed exactly the way Buildx does.

Buildx turns every ``--platform`` value into ``platforms.Normalize(platforms.Parse(s))``
from the Go module ``github.com/containerd/platforms``, and policies are asked about
that normalised form: ``linux/aarch64`` arrives as ``linux/arm64``, ``linux/arm`` as
``linux/arm/v7``. Comparing a policy's platform against Buildx's only works if both go
through the same rules, so this module reproduces them: the aliases, the defaults taken
from the host, and which specifiers are rejected.
"""

from __future__ import annotations

import functools
import json
import os
import platform as _stdlib_platform
import posixpath
import re
import sys
from dataclasses import dataclass
from typing import Final

from buildsig.errors import InvalidPlatformError

__all__ = ["Platform", "host_platform", "normalize_platform", "parse_platform"]

_OS_RE: Final = re.compile(r"([A-Za-z0-9_-]+)(?:\(([A-Za-z0-9_.%-]*)((?:\+[A-Za-z0-9_.%-]+)*)\))?")
_COMPONENT_RE: Final = re.compile(r"[A-Za-z0-9_.-]+")
_HEX_DIGITS: Final = frozenset("0123456789abcdefABCDEF")

_KNOWN_OS: Final = frozenset(
    {
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
    }
)
_KNOWN_ARCH: Final = frozenset(
    {
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
    }
)

# Python's sys.platform prefixes, mapped to Go's GOOS names.
_SYS_PLATFORM_OS: Final = (
    ("linux", "linux"),
    ("darwin", "darwin"),
    ("win32", "windows"),
    ("cygwin", "windows"),
    ("msys", "windows"),
    ("freebsd", "freebsd"),
    ("openbsd", "openbsd"),
    ("netbsd", "netbsd"),
    ("dragonfly", "dragonfly"),
    ("sunos", "solaris"),
    ("aix", "aix"),
    ("android", "android"),
    ("ios", "ios"),
    ("emscripten", "js"),
    ("wasi", "wasip1"),
    ("gnu", "hurd"),
    ("zos", "zos"),
)

# platform.machine() spellings (lowercased) that normalizeArch does not already know.
_MACHINE_ARCH: Final = {
    "x64": ("amd64", ""),
    "i486": ("386", ""),
    "i586": ("386", ""),
    "i686": ("386", ""),
    "x86": ("386", ""),
    "aarch64_be": ("arm64be", ""),
    "armv5l": ("arm", "v5"),
    "armv5tel": ("arm", "v5"),
    "armv5tejl": ("arm", "v5"),
    "armv6l": ("arm", "v6"),
    "armv7l": ("arm", "v7"),
    "armv7": ("arm", "v7"),
    "armv8l": ("arm", "v8"),
    "mipsel": ("mipsle", ""),
    "mips64el": ("mips64le", ""),
    "loongarch64": ("loong64", ""),
    "powerpc": ("ppc", ""),
    "ppc64el": ("ppc64le", ""),
}


def _quote(s: str) -> str:
    """Quote user input for an error message, keeping the message on one line."""
    return json.dumps(s, ensure_ascii=False)


def _go_path_join(*elements: str) -> str:
    """Go's ``path.Join``: join the non-empty elements with ``/`` and clean the result."""
    joined = "/".join(e for e in elements if e)
    if not joined:
        return ""
    cleaned = posixpath.normpath(joined)
    # POSIX keeps a leading "//"; Go's path.Clean does not.
    return cleaned[1:] if cleaned.startswith("//") else cleaned


@dataclass(frozen=True, slots=True)
class Platform:
    """An OCI platform (operating system, CPU architecture and variant) as Buildx sees it.

    A value type: two platforms are the same exactly when they compare equal, which is
    what policies need after :func:`normalize_platform`. ``os_version`` and
    ``os_features`` carry the optional ``os(version+feature)`` part of a specifier
    (used for Windows images); ``str()`` leaves them out, as containerd's ``Format`` does.
    """

    os: str
    architecture: str
    variant: str = ""
    os_version: str = ""
    os_features: tuple[str, ...] = ()

    def __str__(self) -> str:
        if not self.os:
            return "unknown"
        return _go_path_join(self.os, self.architecture, self.variant)


def _normalize_os(os_name: str) -> str:
    """Lowercase the OS and apply its one alias; empty means the host's OS."""
    if not os_name:
        return _host_os()
    os_name = os_name.lower()
    return "darwin" if os_name == "macos" else os_name


def _normalize_arch(arch: str, variant: str) -> tuple[str, str]:
    """Fold architecture aliases and variant spellings into containerd's canonical names."""
    arch, variant = arch.lower(), variant.lower()
    if arch == "i386":
        return "386", ""
    if arch in ("x86_64", "x86-64", "amd64"):
        return "amd64", "" if variant == "v1" else variant
    if arch in ("aarch64", "arm64"):
        if variant in ("8", "v8", "v8.0"):
            variant = ""
        elif variant in ("9", "9.0", "v9.0"):
            variant = "v9"
        return "arm64", variant
    if arch == "armhf":
        return "arm", "v7"
    if arch == "armel":
        return "arm", "v6"
    if arch == "arm":
        if variant in ("", "7"):
            variant = "v7"
        elif variant in ("5", "6", "8"):
            variant = "v" + variant
    return arch, variant


def normalize_platform(p: Platform) -> Platform:
    """Bring a platform into canonical form (containerd's ``Normalize``).

    Aliases become canonical names (``x86_64`` → ``amd64``, ``macos`` → ``darwin``),
    implied variants are made explicit or dropped (``arm`` → ``arm/v7``, ``arm64/v8`` →
    ``arm64``), an empty OS becomes the host's, and OS features are sorted and
    deduplicated. Applying it twice changes nothing.
    """
    architecture, variant = _normalize_arch(p.architecture, p.variant)
    return Platform(
        os=_normalize_os(p.os),
        architecture=architecture,
        variant=variant,
        os_version=p.os_version,
        os_features=tuple(sorted(set(p.os_features))),
    )


def _path_unescape(value: str) -> str:
    """Decode ``%XX`` escapes like Go's ``url.PathUnescape``; raise ValueError if malformed."""
    if "%" not in value:
        return value
    out = bytearray()
    i = 0
    while i < len(value):
        char = value[i]
        if char == "%":
            escape = value[i : i + 3]
            if len(escape) < 3 or escape[1] not in _HEX_DIGITS or escape[2] not in _HEX_DIGITS:
                raise ValueError(f"invalid URL escape {_quote(escape)}")
            out.append(int(escape[1:], 16))
            i += 3
        else:
            out.extend(char.encode("utf-8"))
            i += 1
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{_quote(value)} does not decode to UTF-8 text") from None


def _parse(spec: str) -> Platform:
    """Parse a specifier without the final normalisation (containerd's ``Parse``)."""

    def fail(reason: str) -> InvalidPlatformError:
        return InvalidPlatformError(f"invalid platform {_quote(spec)}: {reason}", source=spec)

    if "*" in spec:
        raise fail("wildcards not supported")
    parts = spec.split("/", 3)
    os_match = _OS_RE.fullmatch(parts[0])
    if os_match is None:
        raise fail(f"invalid OS component {_quote(parts[0])}")
    os_name = _normalize_os(os_match.group(1))
    raw_version = os_match.group(2) or ""
    try:
        os_version = _path_unescape(raw_version)
    except ValueError as exc:
        raise fail(f"invalid OS version {_quote(raw_version)}: {exc}") from None
    features: list[str] = []
    raw_features = os_match.group(3)
    if raw_features:
        for raw in raw_features[1:].split("+"):
            try:
                feature = _path_unescape(raw)
            except ValueError as exc:
                raise fail(f"invalid OS feature {_quote(raw)}: {exc}") from None
            if feature:
                features.append(feature)
    for part in parts[1:]:
        if _COMPONENT_RE.fullmatch(part) is None:
            raise fail(f"invalid component {_quote(part)}")

    base = Platform(os=os_name, architecture="", os_version=os_version, os_features=tuple(features))
    if len(parts) == 1:
        if os_name in _KNOWN_OS:
            host = host_platform()
            variant = host.variant if host.architecture == "arm" and host.variant != "v7" else ""
            return _replace_arch(base, host.architecture, variant)
        architecture, variant = _normalize_arch(parts[0], "")
        if architecture == "arm" and variant == "v7":
            variant = ""
        if architecture in _KNOWN_ARCH:
            return Platform(
                os=_host_os(),
                architecture=architecture,
                variant=variant,
                os_version=os_version,
                os_features=tuple(features),
            )
        raise fail("unknown operating system or architecture")
    if len(parts) == 2:
        architecture, variant = _normalize_arch(parts[1], "")
        if architecture == "arm" and variant == "v7":
            variant = ""
        return _replace_arch(base, architecture, variant)
    if len(parts) == 3:
        architecture, variant = _normalize_arch(parts[1], parts[2])
        if architecture == "arm64" and not variant:
            variant = "v8"
        return _replace_arch(base, architecture, variant)
    raise fail("cannot parse platform specifier")


def _replace_arch(p: Platform, architecture: str, variant: str) -> Platform:
    """Return ``p`` with a new architecture and variant."""
    return Platform(
        os=p.os,
        architecture=architecture,
        variant=variant,
        os_version=p.os_version,
        os_features=p.os_features,
    )


def parse_platform_unnormalized(spec: str) -> Platform:
    """Parse as containerd's ``Parse`` does, without ``Normalize``.

    BuildKit keeps a purl's platform in this form (``linux/arm`` stays without a variant,
    ``linux/arm64/v8`` keeps ``v8``), so provenance materials need it.
    """
    return _parse(spec)


def parse_platform(spec: str) -> Platform:
    """Parse a platform specifier into the normalised form Buildx would use.

    Accepts ``os``, ``arch``, ``os/arch``, ``os/arch/variant`` and an optional
    ``os(version+feature…)`` first part; a lone OS or architecture is completed from
    the host. Raises :class:`~buildsig.errors.InvalidPlatformError` (with ``source`` set
    to ``spec``) for anything containerd rejects, wildcards included.
    """
    return normalize_platform(_parse(spec))


def _host_os() -> str:
    """Return the host's operating system under Go's name for it (``linux``, ``windows`` …)."""
    for prefix, goos in _SYS_PLATFORM_OS:
        if sys.platform.startswith(prefix):
            return goos
    return sys.platform.rstrip("0123456789").lower()


def _host_arch() -> tuple[str, str]:
    """Return the host's architecture and variant under Go's names (best effort for arm)."""
    # os.uname() is a plain system call; platform.machine() may spawn a process (~30 ms).
    uname = getattr(os, "uname", None)
    machine = (uname().machine if uname is not None else _stdlib_platform.machine()).lower()
    known = _MACHINE_ARCH.get(machine)
    if known is not None:
        return known
    if machine.startswith("armv"):
        # Something like "armv7hl": take the digit after "armv" as the variant.
        digit = machine[4:5]
        return "arm", f"v{digit}" if digit.isdigit() else "v7"
    return _normalize_arch(machine, "")


@functools.cache
def host_platform() -> Platform:
    """Return the normalised platform of the machine running buildsig.

    It fills in what a specifier leaves out (``linux`` alone means the host's CPU), the
    same way Buildx does on the machine it runs on. The arm variant is a best guess from
    :func:`platform.machine` (``v7`` when nothing better is known); arm64 has no variant.
    """
    architecture, variant = _host_arch()
    return normalize_platform(Platform(os=_host_os(), architecture=architecture, variant=variant))

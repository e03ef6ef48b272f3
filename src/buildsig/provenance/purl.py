r"""Package URLs (purls), read the way BuildKit and Buildx read them.

BuildKit names every image a build pulled as a purl in its provenance
(``pkg:docker/alpine@3.20?platform=linux%2Famd64``), and Buildx turns those back into
image references to build nested policy inputs. The two directions must agree, or a
policy would be asked about an image the build never used, so :func:`parse_purl`
follows the parser Buildx links (packageurl-go 0.1.1) step for step rather than the
purl specification's idealised grammar. The differences that can show:

* the fragment (subpath) is cut at the first ``#`` and loses every ``.`` in its
  segments; the qualifiers start at the *last* ``?``;
* qualifier keys are lower-cased and then percent-decoded, must match
  ``[A-Za-z.\-_][0-9A-Za-z.\-_]*``, and a qualifier with an empty value is dropped;
* the name is percent-decoded only when a version (``@…``) follows it.

One deliberate departure: a qualifier without ``=`` (``?foo``) makes packageurl-go
panic; here it is an :class:`~buildsig.errors.InvalidSourceError`. Type-specific
normalisations of other ecosystems (npm, PyPI lower-casing …) are not applied: only
``pkg:docker`` purls matter to a build policy.

:func:`purl_to_image_ref` is BuildKit's ``PURLToRef``: a ``pkg:docker`` purl to a
normalised image reference plus the platform its ``platform`` qualifier names.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Final

from buildsig._internal.platform import Platform
from buildsig._internal.platform import parse_platform_unnormalized as _containerd_parse
from buildsig._internal.reference import ImageReference, parse_image_reference, validate_digest
from buildsig.errors import InvalidReferenceError, InvalidSourceError
from buildsig.provenance._gojson import go_lower

__all__ = ["PackageURL", "parse_purl", "purl_to_image_ref"]

_QUALIFIER_KEY: Final = re.compile(r"[A-Za-z.\-_][0-9A-Za-z.\-_]*", re.ASCII)
_HEX: Final = frozenset(b"0123456789abcdefABCDEF")


def _quote(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


@dataclasses.dataclass(frozen=True, slots=True)
class PackageURL:
    """The parts of a purl, percent-decoded.

    ``qualifiers`` keeps every ``key=value`` pair in the order written (keys may repeat),
    because BuildKit's conversion walks them in order; :meth:`qualifier` gives the last
    value of a key.
    """

    type: str
    namespace: str
    name: str
    version: str = ""
    qualifiers: tuple[tuple[str, str], ...] = ()
    subpath: str = ""

    def qualifier(self, key: str) -> str | None:
        """The last value of qualifier ``key``, or None when absent."""
        found = None
        for k, v in self.qualifiers:
            if k == key:
                found = v
        return found


def _unescape(text: str, what: str, purl: str) -> str:
    """Go's ``url.PathUnescape``: ``%XX`` decoded, anything else malformed is an error."""
    if "%" not in text:
        return text
    raw = text.encode("utf-8", "surrogatepass")
    out = bytearray()
    i = 0
    while i < len(raw):
        c = raw[i]
        if c == 0x25:  # '%'
            if i + 3 > len(raw) or raw[i + 1] not in _HEX or raw[i + 2] not in _HEX:
                escape = raw[i : i + 3].decode("utf-8", "replace")
                raise InvalidSourceError(
                    f"invalid purl {_quote(purl)}: failed to unescape {what}: "
                    f"invalid URL escape {_quote(escape)}",
                    source=purl,
                )
            out.append(int(raw[i + 1 : i + 3], 16))
            i += 3
        else:
            out.append(c)
            i += 1
    return out.decode("utf-8", "replace")


def parse_purl(text: str) -> PackageURL:
    """Split a purl into its parts exactly as packageurl-go 0.1.1's ``FromString`` does.

    Raises :class:`~buildsig.errors.InvalidSourceError` (``source`` = the purl) when the
    ``pkg:`` scheme, the type or the name is missing, a percent-escape is malformed, or
    a qualifier key is invalid or has no ``=``.
    """

    def fail(reason: str) -> InvalidSourceError:
        return InvalidSourceError(f"invalid purl {_quote(text)}: {reason}", source=text)

    remainder, hash_sign, right = text.partition("#")
    subpath = ""
    if hash_sign:
        segments = []
        for item in right.strip("/").split("/"):
            item = item.replace(".", "")
            if item:
                segments.append(_unescape(item, "path", text))
        subpath = "/".join(segments)

    qualifiers: list[tuple[str, str]] = []
    question = remainder.rfind("?")
    if question != -1:
        for item in remainder[question + 1 :].split("&"):
            parts = item.split("=")
            key = _unescape(go_lower(parts[0]), "qualifier key", text)
            if _QUALIFIER_KEY.fullmatch(key) is None:
                raise fail(f"invalid qualifier key: {_quote(key)}")
            if len(parts) < 2:
                raise fail(f"qualifier {_quote(key)} has no value")
            if parts[1] == "":
                continue
            qualifiers.append((key, _unescape(parts[1], "qualifier value", text)))
        remainder = remainder[:question]

    scheme, colon, rest = remainder.partition(":")
    if not colon or scheme != "pkg":
        raise fail("scheme is missing")
    rest = rest.lstrip("/")
    purl_type, slash, rest = rest.partition("/")
    if not slash:
        raise fail("type is missing")
    purl_type = go_lower(purl_type)

    last_slash = rest.rfind("/")
    name = rest[last_slash + 1 :]
    version = ""
    at = name.find("@")
    if at != -1:
        version = _unescape(name[at + 1 :], "version", text)
        name = _unescape(name[:at], "name", text)
    namespaces = []
    if last_slash != -1:
        for item in rest[:last_slash].split("/"):
            if item:
                namespaces.append(_unescape(item, "path", text))
    if not name:
        raise fail("name is required")
    return PackageURL(
        type=purl_type,
        namespace="/".join(namespaces),
        name=name,
        version=version,
        qualifiers=tuple(qualifiers),
        subpath=subpath,
    )


def _parse_purl_platform(value: str) -> Platform:
    """The platform as containerd's ``Parse`` (not ``Normalize``), minus OS version and features.

    BuildKit keeps the platform exactly as parsed: ``linux/arm`` stays ``linux/arm``
    and ``linux/arm64/v8`` keeps its variant. Parsing fills OS version and features
    from the host, so they are cleared, as BuildKit does.
    """
    return dataclasses.replace(_containerd_parse(value), os_version="", os_features=())


def purl_to_image_ref(text: str) -> tuple[ImageReference, Platform | None]:
    """A ``pkg:docker`` purl as the image reference and platform it names (``PURLToRef``).

    Namespace and name form the repository; a version that is a valid digest pins it
    (``@sha256:…``), any other version is a tag; a ``digest`` qualifier pins it too and
    must then equal a digest version; with neither version nor digest the tag is
    ``latest``. The last ``platform`` qualifier gives the platform. The result is
    normalised (``docker.io/library/…``).

    Raises :class:`~buildsig.errors.InvalidSourceError` for a malformed purl or another
    type, :class:`~buildsig.errors.InvalidReferenceError` for a bad digest or reference,
    :class:`~buildsig.errors.InvalidPlatformError` for a bad platform.
    """
    purl = parse_purl(text)
    if purl.type != "docker":
        raise InvalidSourceError(
            f"invalid package type {_quote(purl.type)}, expecting docker", source=text
        )
    ref = f"{purl.namespace}/{purl.name}" if purl.namespace else purl.name
    digest_version = ""
    if purl.version:
        try:
            digest_version = validate_digest(purl.version)
        except InvalidReferenceError:
            ref += f":{purl.version}"
        else:
            ref += f"@{digest_version}"
    platform: Platform | None = None
    for key, value in purl.qualifiers:
        if key == "platform":
            platform = _parse_purl_platform(value)
        elif key == "digest":
            if digest_version:
                if value != digest_version:
                    raise InvalidReferenceError(
                        f"digest {_quote(value)} does not match version {_quote(digest_version)}",
                        source=text,
                    )
                continue
            digest_version = validate_digest(value)
            ref += f"@{digest_version}"
    if not digest_version and not purl.version:
        ref += ":latest"
    try:
        named = parse_image_reference(ref)
    except InvalidReferenceError as exc:
        raise InvalidReferenceError(
            f"invalid image url {_quote(text)}: {exc}", source=text
        ) from None
    return named, platform

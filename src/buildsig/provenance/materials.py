"""Provenance materials as nested policy inputs.

SLSA provenance lists what a build consumed: base images as ``pkg:docker`` purls, git
repositories, downloaded files. Buildx exposes each as a complete policy
:class:`~buildsig.model.Input` under ``input.image.provenance.materials[i]``, so a policy
can judge an image by what it was built from (``every base image is signed``). This
module does that conversion, as Buildx's ``parseSLSAMaterial`` and
``sourceToInputRecursive`` do:

* ``pkg:docker/…`` → ``docker-image://<normalised ref>``; the material's
  ``digest.sha256`` (with or without ``sha256:``) pins the reference and must agree with
  any digest the purl already has; the platform is the purl's, else the parent's;
* a git URL whose path ends in ``.git`` (any case) or whose scheme is not http(s) →
  ``git://<host><clean path>[#ref[:subdir]]`` with ``git.fullurl`` = the URI (the digest
  is ignored: the ref is resolved again);
* any other ``http://``/``https://`` URI → an HTTP source (digest ignored);
* anything else (``local``, ``oci-layout``, other purl types …) is dropped with a warning.

Each kept material becomes the input its source gives *without* metadata, so its fields
are unknown until a resolver fetches them; :class:`Materials` keeps the kept raw
materials aligned with the inputs so a resolver can rebuild child ``i`` on demand.

Safety limits, as in Buildx: nesting deeper than :data:`MAX_MATERIAL_DEPTH` is an error,
and a material repeating a source already on the current path (same identifier and
platform) is replaced by an empty input instead of being expanded again.
"""

from __future__ import annotations

import dataclasses
import json
import posixpath
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from buildsig._internal.giturl import parse_git_url, redact_url
from buildsig._internal.platform import Platform, parse_platform
from buildsig._internal.reference import validate_digest
from buildsig._internal.serde import FrozenMap
from buildsig.errors import (
    BuildsigError,
    InvalidInputError,
    InvalidReferenceError,
    InvalidSourceError,
)
from buildsig.model import Env, Input
from buildsig.provenance._gojson import go_lower
from buildsig.provenance.purl import purl_to_image_ref
from buildsig.source import ATTR_GIT_FULL_URL, Source, source_to_input

__all__ = [
    "MAX_MATERIAL_DEPTH",
    "Materials",
    "RawMaterial",
    "build_materials",
    "material_key",
    "material_source",
    "materials_to_inputs",
]

#: Deepest nesting of provenance materials Buildx accepts (the root image is depth 0).
MAX_MATERIAL_DEPTH: Final = 24

# Go's strings.TrimSpace set: ASCII whitespace plus Unicode White_Space (not \x1c-\x1f).
_GO_SPACE: Final = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"  # noqa: E501


@dataclasses.dataclass(frozen=True, slots=True)
class RawMaterial:
    """One material exactly as the provenance lists it: a URI and its digests.

    Kept next to the converted inputs because the input of an unresolved material
    cannot be turned back into its source: a resolver needs this to rebuild child ``i``.
    """

    uri: str
    digest: Mapping[str, str] = dataclasses.field(default_factory=FrozenMap)

    def __post_init__(self) -> None:
        if not isinstance(self.digest, FrozenMap):
            object.__setattr__(self, "digest", FrozenMap(self.digest))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> RawMaterial:
        """From a decoded ``{uri, digest}`` object; raises InvalidInputError if ill-typed."""
        uri = data.get("uri", "")
        digest = data.get("digest", {})
        uri = "" if uri is None else uri
        digest = {} if digest is None else digest
        if not isinstance(uri, str):
            raise InvalidInputError("material uri is not a string")
        if not isinstance(digest, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in digest.items()
        ):
            raise InvalidInputError("material digest is not a map of strings")
        return cls(uri=uri, digest=digest)


@dataclasses.dataclass(frozen=True, slots=True)
class Materials:
    """The converted materials of one provenance.

    ``inputs[i]`` is the policy input of ``raw[i]`` (an empty ``Input()`` when it repeats
    a source on the current path); ``warnings`` says which materials were dropped and why,
    for the caller to log.
    """

    inputs: tuple[Input, ...] = ()
    raw: tuple[RawMaterial, ...] = ()
    warnings: tuple[str, ...] = ()


def _quote(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def _go_path_clean(path: str) -> str:
    """Go's ``path.Clean`` for a path that starts with ``/``."""
    cleaned = posixpath.normpath(path)
    return cleaned[1:] if cleaned.startswith("//") else cleaned


def _docker_material(uri: str, digest: Mapping[str, str]) -> tuple[Source, Platform | None]:
    ref, platform = purl_to_image_ref(uri)
    checksum = digest.get("sha256", "").strip(_GO_SPACE)
    if checksum:
        try:
            pin = validate_digest(checksum)
        except InvalidReferenceError:
            try:
                pin = validate_digest("sha256:" + checksum)
            except InvalidReferenceError as exc:
                raise InvalidReferenceError(
                    f"invalid material digest {_quote(checksum)} for {_quote(uri)}: {exc}",
                    source=uri,
                ) from None
        if ref.digest is not None:
            if ref.digest != pin:
                raise InvalidReferenceError(
                    f"material digest mismatch for {_quote(uri)}: ref has {ref.digest} "
                    f"but provenance has {pin}",
                    source=uri,
                )
        else:
            ref = dataclasses.replace(ref, digest=pin)
    return Source(f"docker-image://{ref}"), platform


def _git_material(uri: str) -> Source | None:
    """The git source of ``uri``, or None when it is not a repository URL by Buildx's rule."""
    try:
        url = parse_git_url(uri)
    except InvalidSourceError:
        return None
    if not (go_lower(url.path).endswith(".git") or url.scheme not in ("http", "https")):
        return None
    identifier = url.host + _go_path_clean("/" + url.path)
    if url.ref or url.subdir:
        identifier += "#" + url.ref
        if url.subdir:
            identifier += ":" + url.subdir
    return Source(f"git://{identifier}", {ATTR_GIT_FULL_URL: uri})


def material_source(material: RawMaterial) -> tuple[Source, Platform | None]:
    """The BuildKit source a material names, and the platform it pins (Buildx's rules).

    The platform is only ever set for ``pkg:docker`` purls with a ``platform``
    qualifier; otherwise the material inherits its parent's. Raises
    :class:`~buildsig.errors.InvalidInputError` (a subclass) for unsupported or
    malformed materials; Buildx drops those with a warning.
    """
    uri = material.uri
    if uri.startswith("pkg:docker/"):
        return _docker_material(uri, material.digest)
    git = _git_material(uri)
    if git is not None:
        return git, None
    if uri.startswith(("https://", "http://")):
        return Source(uri), None
    raise InvalidSourceError(f"unsupported material URI {_quote(redact_url(uri))}", source=uri)


def material_key(source: Source, platform: Platform | None) -> str:
    """The cycle-guard key of a source: its identifier, plus ``|<platform>`` when known."""
    if platform is None:
        return source.identifier
    return f"{source.identifier}|{platform}"


def _as_platform(platform: Platform | str | None) -> Platform | None:
    if isinstance(platform, str):
        return parse_platform(platform)
    return platform


def _depth_error() -> InvalidInputError:
    return InvalidInputError(f"provenance materials depth exceeds limit {MAX_MATERIAL_DEPTH}")


def build_materials(
    raw_materials: Iterable[RawMaterial | Mapping[str, Any]],
    parent_platform: Platform | str | None,
    *,
    depth: int = 0,
    path_keys: Sequence[str] = (),
) -> Materials:
    """Convert raw materials into nested inputs, keeping the raw ones they came from.

    ``parent_platform`` is the platform of the image whose provenance this is (image
    materials without a purl platform inherit it; without any, the host's is used).
    ``depth`` is that image's nesting depth (0 for the evaluated source); the inputs are
    one deeper and carry it in ``env.depth``. ``path_keys`` are the
    :func:`material_key` values of the images on the path from the root down to and
    including the parent: a material with one of those keys becomes an empty input.

    Unsupported or malformed materials are dropped, each with a warning. Raises
    :class:`~buildsig.errors.InvalidInputError` when the materials would sit deeper than
    :data:`MAX_MATERIAL_DEPTH`.
    """
    if depth > MAX_MATERIAL_DEPTH:
        raise _depth_error()
    parent = _as_platform(parent_platform)
    child_depth = depth + 1
    seen = frozenset(path_keys)
    inputs: list[Input] = []
    kept: list[RawMaterial] = []
    warnings: list[str] = []
    for item in raw_materials:
        try:
            material = item if isinstance(item, RawMaterial) else RawMaterial.from_mapping(item)
            source, platform = material_source(material)
            platform = platform if platform is not None else parent
            child = source_to_input(source, platform=platform)
        except BuildsigError as exc:
            uri = item.uri if isinstance(item, RawMaterial) else str(item.get("uri", ""))
            warnings.append(
                f"skipping unsupported provenance material {_quote(redact_url(uri))}: {exc}"
            )
            continue
        if material_key(source, platform) in seen:
            child = Input()
        else:
            child = dataclasses.replace(child, env=Env(depth=child_depth))
        inputs.append(child)
        kept.append(material)
    if kept and child_depth > MAX_MATERIAL_DEPTH:
        raise _depth_error()
    return Materials(inputs=tuple(inputs), raw=tuple(kept), warnings=tuple(warnings))


def materials_to_inputs(
    raw_materials: Iterable[RawMaterial | Mapping[str, Any]],
    parent_platform: Platform | str | None,
    *,
    depth: int = 0,
    path_keys: Sequence[str] = (),
) -> tuple[tuple[Input, ...], list[str]]:
    """The nested inputs of ``raw_materials`` and the warnings for dropped ones.

    A shorthand for :func:`build_materials` when the caller does not need the raw
    materials back; see there for the arguments and errors.
    """
    result = build_materials(raw_materials, parent_platform, depth=depth, path_keys=path_keys)
    return result.inputs, list(result.warnings)

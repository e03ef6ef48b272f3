"""Strict reading of OCI/Docker manifests, indexes and image configs.

Registries and layouts hand over JSON that someone else wrote. Everything resolution
relies on is validated here, once: media types, descriptor digests and sizes, platform
objects, config fields. Anything off raises :class:`~buildsig.errors.InvalidDocumentError`
(an :class:`~buildsig.errors.InvalidInputError`) naming the document and the field, never
a ``KeyError`` three calls later.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from buildsig._internal.platform import Platform, normalize_platform
from buildsig._internal.reference import validate_digest
from buildsig._internal.serde import format_rfc3339, parse_rfc3339
from buildsig.errors import InvalidDocumentError, InvalidReferenceError
from buildsig.oci.store import (
    MEDIA_TYPE_DOCKER_LIST,
    MEDIA_TYPE_DOCKER_MANIFEST,
    MEDIA_TYPE_OCI_INDEX,
    MEDIA_TYPE_OCI_MANIFEST,
    Descriptor,
    Manifest,
)

__all__ = [
    "ImageConfig",
    "ParsedIndex",
    "ParsedManifest",
    "is_index",
    "parse_config",
    "parse_index",
    "parse_manifest",
    "platform_of",
]

INDEX_TYPES = (MEDIA_TYPE_OCI_INDEX, MEDIA_TYPE_DOCKER_LIST)
MANIFEST_TYPES = (MEDIA_TYPE_OCI_MANIFEST, MEDIA_TYPE_DOCKER_MANIFEST)


def _load(raw: bytes, what: str) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise InvalidDocumentError(f"{what} is not valid JSON: {exc}", path="") from None
    if not isinstance(data, dict):
        raise InvalidDocumentError(f"{what} is not a JSON object", path="")
    return data


def _descriptor(value: Any, path: str, what: str) -> Descriptor:
    if not isinstance(value, dict):
        raise InvalidDocumentError(f"{what}: descriptor is not an object", path=path)
    digest = value.get("digest")
    if not isinstance(digest, str):
        raise InvalidDocumentError(f"{what}: descriptor has no digest", path=f"{path}.digest")
    try:
        validate_digest(digest)
    except InvalidReferenceError as exc:
        raise InvalidDocumentError(f"{what}: {exc}", path=f"{path}.digest") from None
    size = value.get("size", 0)
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise InvalidDocumentError(f"{what}: descriptor size is not a count", path=f"{path}.size")
    for key in ("mediaType", "artifactType"):
        if key in value and not isinstance(value[key], str):
            raise InvalidDocumentError(f"{what}: {key} is not a string", path=f"{path}.{key}")
    annotations = value.get("annotations") or {}
    if not isinstance(annotations, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in annotations.items()
    ):
        raise InvalidDocumentError(
            f"{what}: annotations must map strings to strings", path=f"{path}.annotations"
        )
    platform = value.get("platform")
    if platform is not None and (
        not isinstance(platform, dict)
        or not isinstance(platform.get("os", ""), str)
        or not isinstance(platform.get("architecture", ""), str)
        or not isinstance(platform.get("variant", ""), str)
    ):
        raise InvalidDocumentError(f"{what}: platform is malformed", path=f"{path}.platform")
    return Descriptor.from_json(value)


def is_index(manifest: Manifest) -> bool:
    """Whether a manifest is an index or list (by media type, or by shape when unset)."""
    if manifest.media_type in INDEX_TYPES:
        return True
    if manifest.media_type in MANIFEST_TYPES:
        return False
    data = _load(manifest.raw, f"manifest {manifest.digest}")
    return "manifests" in data and "layers" not in data


@dataclasses.dataclass(frozen=True, slots=True)
class ParsedIndex:
    """An image index or Docker manifest list."""

    media_type: str
    manifests: tuple[Descriptor, ...]
    annotations: Mapping[str, str]
    subject: Descriptor | None


@dataclasses.dataclass(frozen=True, slots=True)
class ParsedManifest:
    """An image manifest (or an artifact manifest in image-manifest form)."""

    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]
    artifact_type: str
    subject: Descriptor | None
    annotations: Mapping[str, str]


def _media_type(data: dict[str, Any], manifest: Manifest) -> str:
    declared = data.get("mediaType", "")
    if not isinstance(declared, str):
        raise InvalidDocumentError("mediaType is not a string", path="mediaType")
    # The registry's Content-Type and the document must not disagree (a confusion attack).
    if declared and manifest.media_type and declared != manifest.media_type:
        served = manifest.media_type
        raise InvalidDocumentError(
            f"manifest {manifest.digest} declares {declared} but was served as {served}",
            path="mediaType",
        )
    return declared or manifest.media_type


def parse_index(manifest: Manifest, *, max_entries: int = 4096) -> ParsedIndex:
    """Validate and read an index; at most ``max_entries`` entries."""
    what = f"index {manifest.digest}"
    data = _load(manifest.raw, what)
    media_type = _media_type(data, manifest)
    entries = data.get("manifests")
    if not isinstance(entries, list):
        raise InvalidDocumentError(f"{what} has no manifests list", path="manifests")
    if len(entries) > max_entries:
        raise InvalidDocumentError(f"{what} has more than {max_entries} entries", path="manifests")
    descriptors = tuple(_descriptor(e, f"manifests[{i}]", what) for i, e in enumerate(entries))
    subject = data.get("subject")
    annotations = data.get("annotations") or {}
    if not isinstance(annotations, dict):
        raise InvalidDocumentError(f"{what}: annotations is not an object", path="annotations")
    return ParsedIndex(
        media_type=media_type or MEDIA_TYPE_OCI_INDEX,
        manifests=descriptors,
        annotations={str(k): str(v) for k, v in annotations.items()},
        subject=_descriptor(subject, "subject", what) if subject is not None else None,
    )


def parse_manifest(manifest: Manifest, *, max_layers: int = 4096) -> ParsedManifest:
    """Validate and read an image manifest."""
    what = f"manifest {manifest.digest}"
    data = _load(manifest.raw, what)
    media_type = _media_type(data, manifest)
    if "config" not in data:
        raise InvalidDocumentError(f"{what} has no config", path="config")
    config = _descriptor(data["config"], "config", what)
    layers = data.get("layers", [])
    if not isinstance(layers, list) or len(layers) > max_layers:
        raise InvalidDocumentError(
            f"{what}: layers is not a list of at most {max_layers}", path="layers"
        )
    artifact_type = data.get("artifactType", "")
    if not isinstance(artifact_type, str):
        raise InvalidDocumentError(f"{what}: artifactType is not a string", path="artifactType")
    subject = data.get("subject")
    annotations = data.get("annotations") or {}
    if not isinstance(annotations, dict):
        raise InvalidDocumentError(f"{what}: annotations is not an object", path="annotations")
    return ParsedManifest(
        media_type=media_type or MEDIA_TYPE_OCI_MANIFEST,
        config=config,
        layers=tuple(_descriptor(layer, f"layers[{i}]", what) for i, layer in enumerate(layers)),
        artifact_type=artifact_type,
        subject=_descriptor(subject, "subject", what) if subject is not None else None,
        annotations={str(k): str(v) for k, v in annotations.items()},
    )


def platform_of(descriptor: Descriptor) -> Platform | None:
    """The normalised platform an index entry declares (None when it declares none)."""
    p = descriptor.platform
    if p is None:
        return None
    features = p.get("os.features") or ()
    return normalize_platform(
        Platform(
            os=str(p.get("os", "")),
            architecture=str(p.get("architecture", "")),
            variant=str(p.get("variant", "")),
            os_version=str(p.get("os.version", "")),
            os_features=tuple(str(f) for f in features) if isinstance(features, list) else (),
        )
    )


@dataclasses.dataclass(frozen=True, slots=True)
class ImageConfig:
    """The parts of an image config a policy reads (Buildx's config-derived fields)."""

    created: str  # RFC 3339, seconds, original offset ("" when absent)
    env: tuple[str, ...]
    labels: Mapping[str, str]
    user: str
    volumes: tuple[str, ...]  # sorted: deterministic where Go's map order is not
    working_dir: str
    os: str
    architecture: str
    variant: str


def _created(value: Any) -> str:
    if value in (None, ""):
        return ""
    if not isinstance(value, str):
        raise InvalidDocumentError(
            "failed to unmarshal image config: created is not a string", path="created"
        )
    try:
        when: datetime = parse_rfc3339(value)
    except ValueError:
        raise InvalidDocumentError(
            f"failed to unmarshal image config: created {value!r} is not RFC 3339", path="created"
        ) from None
    # Go's time.RFC3339 layout: whole seconds, the original offset, Z for UTC.
    return format_rfc3339(when.replace(microsecond=0))


def parse_config(raw: bytes) -> ImageConfig:
    """Read an image config; anything unparsable fails like Buildx ("failed to unmarshal")."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise InvalidDocumentError(f"failed to unmarshal image config: {exc}", path="") from None
    if not isinstance(data, dict):
        raise InvalidDocumentError("failed to unmarshal image config: not an object", path="")
    cfg = data.get("config") or {}
    if not isinstance(cfg, dict):
        raise InvalidDocumentError(
            "failed to unmarshal image config: config is not an object", path="config"
        )

    def strings(key: str) -> tuple[str, ...]:
        value = cfg.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InvalidDocumentError(
                f"failed to unmarshal image config: {key}", path=f"config.{key}"
            )
        return tuple(value)

    def string(container: dict[str, Any], key: str, path: str) -> str:
        value = container.get(key) or ""
        if not isinstance(value, str):
            raise InvalidDocumentError(f"failed to unmarshal image config: {key}", path=path)
        return value

    labels = cfg.get("Labels") or {}
    volumes = cfg.get("Volumes") or {}
    if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
        raise InvalidDocumentError("failed to unmarshal image config: Labels", path="config.Labels")
    if not isinstance(volumes, dict):
        raise InvalidDocumentError(
            "failed to unmarshal image config: Volumes", path="config.Volumes"
        )
    return ImageConfig(
        created=_created(data.get("created")),
        env=strings("Env"),
        labels={str(k): v for k, v in labels.items()},
        user=string(cfg, "User", "config.User"),
        volumes=tuple(sorted(str(v) for v in volumes)),
        working_dir=string(cfg, "WorkingDir", "config.WorkingDir"),
        os=string(data, "os", "os"),
        architecture=string(data, "architecture", "architecture"),
        variant=string(data, "variant", "variant"),
    )

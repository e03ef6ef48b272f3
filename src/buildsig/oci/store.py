"""The read interface image resolution needs, served by a registry or an OCI layout.

Resolution (tag → index → platform manifest → config → attestations) is the same code
whether the bytes come from a registry over HTTPS or from an OCI image layout on disk;
only the store differs. Every store returns raw bytes, already checked against the
digest they were asked for (or, for tags, against the digest the store reports), so
nothing downstream trusts a transport.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

__all__ = [
    "MEDIA_TYPES_MANIFEST",
    "MEDIA_TYPE_DOCKER_LIST",
    "MEDIA_TYPE_DOCKER_MANIFEST",
    "MEDIA_TYPE_OCI_INDEX",
    "MEDIA_TYPE_OCI_MANIFEST",
    "Descriptor",
    "ImageStore",
    "Manifest",
    "Repository",
]

MEDIA_TYPE_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_TYPE_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_TYPE_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MEDIA_TYPE_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
#: What to ask a registry for (the order is the preference), and what a manifest may be.
MEDIA_TYPES_MANIFEST = (
    MEDIA_TYPE_OCI_INDEX,
    MEDIA_TYPE_OCI_MANIFEST,
    MEDIA_TYPE_DOCKER_LIST,
    MEDIA_TYPE_DOCKER_MANIFEST,
)


@dataclasses.dataclass(frozen=True, slots=True)
class Repository:
    """Where a repository lives: the registry's name as in references, and the path."""

    registry: str  # e.g. "docker.io", "ghcr.io", "127.0.0.1:5000"
    path: str  # e.g. "library/alpine"

    def __str__(self) -> str:
        return f"{self.registry}/{self.path}"


@dataclasses.dataclass(frozen=True, slots=True)
class Descriptor:
    """An OCI content descriptor (the parts buildsig uses; ``raw`` keeps the rest)."""

    media_type: str
    digest: str
    size: int
    artifact_type: str = ""
    annotations: Mapping[str, str] = dataclasses.field(default_factory=dict)
    platform: Mapping[str, Any] | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Descriptor:
        """From a descriptor object of an index, a manifest or a referrers response.

        Callers validate shapes first (``buildsig.oci.manifest``); this only copies fields.
        """
        return cls(
            media_type=str(data.get("mediaType", "")),
            digest=str(data.get("digest", "")),
            size=int(data.get("size", 0)),
            artifact_type=str(data.get("artifactType", "")),
            annotations=dict(data.get("annotations") or {}),
            platform=data.get("platform"),
        )


@dataclasses.dataclass(frozen=True, slots=True)
class Manifest:
    """A manifest or index exactly as stored: its bytes, media type and digest."""

    raw: bytes
    media_type: str
    digest: str  # sha256:<hex> of raw


class ImageStore(Protocol):
    """Read access to images. Implemented by the registry client and the OCI-layout reader."""

    def get_manifest(self, repo: Repository, reference: str) -> Manifest:
        """A manifest or index by tag or digest. By digest: the bytes hash to it (checked).

        Raises NotFoundError when absent, DigestMismatchError when the bytes do not match.
        """
        ...

    def get_blob(self, repo: Repository, digest: str, *, max_bytes: int) -> bytes:
        """A blob (config, attestation layer …), checked against ``digest``.

        At most ``max_bytes`` are read (InvalidInputError beyond).
        """
        ...

    def referrers(
        self, repo: Repository, digest: str, *, artifact_type: str | None = None
    ) -> Sequence[Descriptor]:
        """Manifests whose ``subject`` is ``digest``; empty when there are none.

        Uses the OCI 1.1 referrers API, falling back to the ``sha256-<hex>`` referrers tag.
        """
        ...

"""OCI image layouts on disk as an image store: resolution without a network.

A layout (``oci-layout``, ``index.json``, ``blobs/<alg>/<hex>``) is what ``skopeo copy``,
``buildctl --output type=oci`` and ``docker buildx build --output type=oci`` write. Its
``index.json`` names images by the ``org.opencontainers.image.ref.name`` annotation; a
reference matches when that name is its tag, its full normalised reference, or its
familiar form. Blobs are read through the same checks as registry downloads (digest,
size cap), and referrers are found by scanning the layout's manifests for a ``subject``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from buildsig._internal.reference import ImageReference, validate_digest
from buildsig.errors import (
    DigestMismatchError,
    InvalidDocumentError,
    InvalidInputError,
    InvalidReferenceError,
    NotFoundError,
)
from buildsig.oci.store import MEDIA_TYPE_OCI_INDEX, Descriptor, Manifest, Repository

__all__ = ["REF_NAME", "OCILayout", "find_layout"]

REF_NAME = "org.opencontainers.image.ref.name"
MAX_MANIFEST_BYTES = 4 * 1024 * 1024


def _digest_of(data: bytes, algorithm: str) -> str:
    import hashlib

    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


class OCILayout:
    """One OCI image layout directory, read-only."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        marker = self.path / "oci-layout"
        try:
            info = json.loads(marker.read_bytes())
        except FileNotFoundError:
            raise NotFoundError(
                f"not an OCI image layout (no oci-layout file): {self.path}", source=str(self.path)
            ) from None
        except (OSError, ValueError) as exc:
            raise InvalidInputError(
                f"unreadable oci-layout file in {self.path}: {exc}", source=str(self.path)
            ) from None
        if not isinstance(info, dict) or not isinstance(info.get("imageLayoutVersion"), str):
            raise InvalidInputError(
                f"malformed oci-layout file in {self.path}", source=str(self.path)
            )
        raw = self._read(self.path / "index.json", MAX_MANIFEST_BYTES)
        self.index = Manifest(
            raw=raw, media_type=MEDIA_TYPE_OCI_INDEX, digest=_digest_of(raw, "sha256")
        )
        from buildsig.oci.manifest import parse_index

        self.entries = parse_index(self.index).manifests

    def _read(self, path: Path, max_bytes: int) -> bytes:
        try:
            with open(path, "rb") as fh:
                data = fh.read(max_bytes + 1)
        except FileNotFoundError:
            raise NotFoundError(
                f"{path.relative_to(self.path)} not found in layout {self.path}",
                source=str(self.path),
            ) from None
        except OSError as exc:
            raise InvalidInputError(
                f"cannot read {path}: {exc.strerror}", source=str(self.path)
            ) from None
        if len(data) > max_bytes:
            raise InvalidInputError(
                f"{path.relative_to(self.path)} is larger than {max_bytes} bytes",
                source=str(self.path),
            )
        return data

    def names(self) -> list[str]:
        """The reference names the layout's index carries."""
        return [d.annotations[REF_NAME] for d in self.entries if REF_NAME in d.annotations]

    def lookup(self, ref: ImageReference) -> Descriptor | None:
        """The index entry a reference names (by digest, tag, full or familiar name)."""
        if ref.digest is not None:
            for d in self.entries:
                if d.digest == ref.digest:
                    return d
        candidates = {str(ref)}
        if ref.tag is not None:
            candidates |= {ref.tag, f"{ref.name}:{ref.tag}", f"{ref.familiar_name}:{ref.tag}"}
        for d in self.entries:
            if d.annotations.get(REF_NAME) in candidates:
                return d
        return None

    # --- ImageStore ----------------------------------------------------------------------

    def blob_path(self, digest: str) -> Path:
        """Where a blob lives (digest validated first: no path tricks)."""
        try:
            validate_digest(digest)
        except InvalidReferenceError as exc:
            raise InvalidInputError(str(exc), source=digest) from None
        algorithm, _, hexpart = digest.partition(":")
        return self.path / "blobs" / algorithm / hexpart

    def get_blob(self, repo: Repository, digest: str, *, max_bytes: int) -> bytes:
        """A blob, checked against its digest."""
        data = self._read(self.blob_path(digest), max_bytes)
        actual = _digest_of(data, digest.partition(":")[0])
        if actual != digest:
            raise DigestMismatchError(
                f"blob {digest} in layout {self.path} hashes to {actual}",
                expected=digest,
                actual=actual,
                source=str(self.path),
            )
        return data

    def get_manifest(self, repo: Repository, reference: str) -> Manifest:
        """A manifest by digest, or by the tag/name the index carries."""
        if ":" in reference and reference.split(":", 1)[0] in ("sha256", "sha384", "sha512"):
            digest, media_type = reference, ""
            for d in self.entries:
                if d.digest == digest:
                    media_type = d.media_type
        else:
            ref = ImageReference(domain=repo.registry, path=repo.path, tag=reference)
            entry = self.lookup(ref)
            if entry is None:
                names = ", ".join(self.names()) or "none"
                raise NotFoundError(
                    f"{repo}:{reference} is not in layout {self.path} (names: {names})",
                    source=str(self.path),
                )
            digest, media_type = entry.digest, entry.media_type
        raw = self.get_blob(repo, digest, max_bytes=MAX_MANIFEST_BYTES)
        if not media_type:
            try:
                declared = json.loads(raw).get("mediaType", "")
            except (ValueError, AttributeError):
                raise InvalidDocumentError(
                    f"manifest {digest} is not a JSON object", path=""
                ) from None
            media_type = declared if isinstance(declared, str) else ""
        return Manifest(raw=raw, media_type=media_type, digest=digest)

    def referrers(
        self, repo: Repository, digest: str, *, artifact_type: str | None = None
    ) -> Sequence[Descriptor]:
        """Manifests in the layout whose ``subject`` is ``digest`` (or the referrers-tag index)."""
        from buildsig.oci.manifest import is_index, parse_index, parse_manifest

        found: list[Descriptor] = []
        fallback = f"{digest.partition(':')[0][:32]}-{digest.partition(':')[2][:64]}"
        for d in self.entries:
            if d.annotations.get(REF_NAME) == fallback:
                tag_index = self.get_manifest(repo, d.digest)
                found.extend(parse_index(tag_index).manifests)
                continue
            if d.digest == digest:
                continue
            try:
                manifest = self.get_manifest(repo, d.digest)
                subject = (
                    parse_index(manifest).subject
                    if is_index(manifest)
                    else parse_manifest(manifest).subject
                )
            except (NotFoundError, InvalidInputError):
                continue
            if subject is not None and subject.digest == digest:
                parsed_type = ""
                if not is_index(manifest):
                    parsed_type = parse_manifest(manifest).artifact_type
                found.append(
                    Descriptor(
                        media_type=manifest.media_type,
                        digest=manifest.digest,
                        size=len(manifest.raw),
                        artifact_type=d.artifact_type or parsed_type,
                        annotations=d.annotations,
                    )
                )
        if artifact_type is not None:
            found = [r for r in found if r.artifact_type == artifact_type]
        return found


def find_layout(layouts: Sequence[OCILayout], ref: ImageReference) -> OCILayout | None:
    """The first layout that holds ``ref`` (how ``--oci-layout DIR`` options are matched)."""
    for layout in layouts:
        if layout.lookup(ref) is not None:
            return layout
        if ref.digest is not None and layout.blob_path(ref.digest).is_file():
            return layout
    return None

"""Resolve any source's unknown fields, fetching only what the requested fields need.

This is the one place that knows which resolver serves which source kind: git sources
go to :mod:`buildsig.git.resolve`, images to :mod:`buildsig.oci.images` (OCI layouts
first, then registries), HTTP sources to :mod:`buildsig.http.resolve` (downloaded and
hashed, as BuildKit learns ``http.checksum``). Images are resolved concurrently; a
Dockerfile's sources cost one round of latency.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from buildsig.errors import InvalidInputError
from buildsig.model import Input
from buildsig.source import ATTR_GIT_FULL_URL, Source
from buildsig.unknowns import metadata_request, needed_unknowns

if TYPE_CHECKING:
    from buildsig.http.client import HTTPClient
    from buildsig.oci.images import ImageResolver
    from buildsig.sigstore.trust import TrustRoot

__all__ = ["ResolveOptions", "Resolver"]

_MATERIAL_FIELD = re.compile(r"image\.provenance\.materials\[(\d+)\]\.(.+)")
_MAX_MATERIAL_DEPTH = 24


def _source_of(inp: Input) -> Source | None:
    """The source a (material) input was built from, enough to resolve it again."""
    if inp.image is not None:
        return Source(f"docker-image://{inp.image.ref}")
    if inp.git is not None and inp.git.full_url:
        return Source(f"git://{inp.git.full_url}", {ATTR_GIT_FULL_URL: inp.git.full_url})
    if inp.http is not None:
        return Source(inp.http.url)
    return None


@dataclasses.dataclass(frozen=True, slots=True)
class ResolveOptions:
    """How to reach sources: timeouts, offline image layouts, insecure registries, ssh."""

    timeout: float = 30.0
    oci_layouts: tuple[str | os.PathLike[str], ...] = ()
    insecure_registries: tuple[str, ...] = ()
    ssh_command: str | None = None
    #: Sigstore trust for image signatures: a TrustRoot, a trusted_root.json path, or
    #: None for the public-good root shipped with sigstore.
    trust_root: TrustRoot | str | os.PathLike[str] | None = None
    #: Docker Hardened Images' signing key (PEM); None for the key Buildx embeds.
    dhi_key: bytes | None = None
    #: HTTP sources are downloaded (streamed through the hash) to learn their checksum.
    max_download_bytes: int = 8 * 1024 * 1024 * 1024
    download_deadline: float = 600.0


class Resolver:
    """Resolves inputs for many sources with shared clients (reuse across calls)."""

    def __init__(self, options: ResolveOptions | None = None) -> None:
        self.options = options or ResolveOptions()
        self._images: ImageResolver | None = None
        self._http: HTTPClient | None = None

    def _http_client(self) -> HTTPClient:
        if self._http is None:
            from buildsig.http.client import HTTPClient

            self._http = HTTPClient(
                connect_timeout=self.options.timeout, read_timeout=self.options.timeout
            )
        return self._http

    def _image_resolver(self) -> ImageResolver:
        if self._images is None:
            from buildsig.oci.images import ImageResolver
            from buildsig.sigstore.trust import TrustRoot

            trust = self.options.trust_root
            if trust is not None and not isinstance(trust, TrustRoot):
                trust = TrustRoot.from_file(trust)
            self._images = ImageResolver(
                trust_root=trust,
                dhi_key=self.options.dhi_key,
                layouts=self.options.oci_layouts,
                registry_options={
                    "timeout": self.options.timeout,
                    "insecure_registries": self.options.insecure_registries,
                },
            )
        return self._images

    def resolve_many(
        self, items: Sequence[tuple[Source, Input]], fields: Sequence[str] = ()
    ) -> list[Input]:
        """Resolve each (source, input) for ``fields`` (all unknowns when empty)."""
        out: list[Input | None] = [None] * len(items)
        images = []
        for position, (source, inp) in enumerate(items):
            wanted = (
                needed_unknowns([f"input.{f.removeprefix('input.')}" for f in fields], inp.unknowns)
                if fields
                else list(inp.unknowns)
            )
            request = metadata_request(wanted)
            if not request:
                out[position] = inp
            elif request.image is not None:
                images.append((position, inp, request.image))
            elif request.git is not None:
                from buildsig.git.resolve import resolve_git_source

                resolved = resolve_git_source(
                    source,
                    objects=request.git.objects,
                    timeout=self.options.timeout,
                    ssh_command=self.options.ssh_command,
                )
                out[position] = resolved.with_env(inp.env) if not inp.env.is_zero() else resolved
            else:
                from buildsig.http.resolve import resolve_http_checksum

                out[position] = resolve_http_checksum(
                    source,
                    inp,
                    client=self._http_client(),
                    max_bytes=self.options.max_download_bytes,
                    deadline=self.options.download_deadline,
                )
        if images:
            resolved_images = self._image_resolver().resolve_inputs([(i, r) for _, i, r in images])
            for (position, _, _), inp in zip(images, resolved_images, strict=True):
                out[position] = inp
        done = [x for x in out if x is not None]
        if fields:  # a material's own fields: resolve that material as a source of its own
            done = [self._resolve_materials(inp, fields) for inp in done]
        return done

    def _resolve_materials(self, inp: Input, fields: Sequence[str], depth: int = 0) -> Input:
        """Resolve ``image.provenance.materials[i].<field>`` by resolving material ``i``.

        Buildx does the same through its source resolver; depth is bounded as there (24).
        """
        wanted: dict[int, list[str]] = {}
        for field in fields:
            m = _MATERIAL_FIELD.match(field.removeprefix("input."))
            if m is not None:
                wanted.setdefault(int(m.group(1)), []).append(m.group(2))
        image = inp.image
        if not wanted or image is None or image.provenance is None:
            return inp
        if depth >= _MAX_MATERIAL_DEPTH:
            raise InvalidInputError(
                f"provenance materials depth exceeds limit {_MAX_MATERIAL_DEPTH}"
            )
        materials = list(image.provenance.materials)
        for index, sub_fields in sorted(wanted.items()):
            if index >= len(materials):
                continue
            child = materials[index]
            source = _source_of(child)
            if source is None:
                continue
            [resolved] = self.resolve_many([(source, child)], sub_fields)
            materials[index] = self._resolve_materials(resolved, sub_fields, depth + 1)
        provenance = dataclasses.replace(image.provenance, materials=tuple(materials))
        return dataclasses.replace(inp, image=dataclasses.replace(image, provenance=provenance))

    def close(self) -> None:
        """Close network clients."""
        if self._images is not None:
            self._images.close()
        if self._http is not None:
            self._http.close()

    def __enter__(self) -> Resolver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

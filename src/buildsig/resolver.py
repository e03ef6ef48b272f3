"""Resolve any source's unknown fields, fetching only what the requested fields need.

This is the one place that knows which resolver serves which source kind: git sources
go to :mod:`buildsig.git.resolve`, images to :mod:`buildsig.oci.images` (OCI layouts
first, then registries). Images are resolved concurrently; a Dockerfile's sources cost
one round of latency. HTTP content checksums are not resolved yet: asking for them is a
clear error, never a silent gap.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from buildsig.errors import InvalidInputError
from buildsig.model import Input
from buildsig.source import Source
from buildsig.unknowns import metadata_request, needed_unknowns

if TYPE_CHECKING:
    from buildsig.oci.images import ImageResolver

__all__ = ["ResolveOptions", "Resolver"]


@dataclasses.dataclass(frozen=True, slots=True)
class ResolveOptions:
    """How to reach sources: timeouts, offline image layouts, insecure registries, ssh."""

    timeout: float = 30.0
    oci_layouts: tuple[str | os.PathLike[str], ...] = ()
    insecure_registries: tuple[str, ...] = ()
    ssh_command: str | None = None


class Resolver:
    """Resolves inputs for many sources with shared clients (reuse across calls)."""

    def __init__(self, options: ResolveOptions | None = None) -> None:
        self.options = options or ResolveOptions()
        self._images: ImageResolver | None = None

    def _image_resolver(self) -> ImageResolver:
        if self._images is None:
            from buildsig.oci.images import ImageResolver

            self._images = ImageResolver(
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
                raise InvalidInputError(
                    "resolving HTTP content checksums is not available in this version",
                    source=source.identifier,
                )
        if images:
            resolved_images = self._image_resolver().resolve_inputs([(i, r) for _, i, r in images])
            for (position, _, _), inp in zip(images, resolved_images, strict=True):
                out[position] = inp
        return [x for x in out if x is not None]

    def close(self) -> None:
        """Close network clients."""
        if self._images is not None:
            self._images.close()

    def __enter__(self) -> Resolver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

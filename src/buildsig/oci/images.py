"""Image sources to resolved inputs: choose a store per reference, resolve concurrently.

An :class:`ImageResolver` owns the stores: OCI layouts given with ``--oci-layout`` (tried
first, matched by their ``ref.name`` annotations) and one registry client shared by every
lookup (connection reuse, token cache, content cache). ``resolve_inputs`` resolves many
images at once on a thread pool: a Dockerfile's base images cost one round of latency,
not one per image.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from buildsig._internal.platform import Platform, parse_platform
from buildsig._internal.reference import parse_image_reference
from buildsig.errors import InvalidInputError
from buildsig.model import Input
from buildsig.oci.layout import OCILayout, find_layout
from buildsig.oci.resolve import apply_resolution, requested_platform, resolve_image
from buildsig.oci.store import ImageStore
from buildsig.unknowns import ImageRequest

if TYPE_CHECKING:
    from buildsig.sigstore.image import ImageSignatureVerifier
    from buildsig.sigstore.trust import TrustRoot

__all__ = ["ImageResolver"]


class ImageResolver:
    """Resolves image inputs from OCI layouts and registries."""

    def __init__(
        self,
        *,
        layouts: Sequence[str | os.PathLike[str] | OCILayout] = (),
        registry: ImageStore | None = None,
        registry_options: dict[str, Any] | None = None,
        max_workers: int = 8,
        trust_root: TrustRoot | None = None,
        dhi_key: bytes | None = None,
    ) -> None:
        self.layouts = [x if isinstance(x, OCILayout) else OCILayout(x) for x in layouts]
        self._registry = registry
        self._registry_options = registry_options or {}
        self._owns_registry = registry is None
        self.max_workers = max_workers
        self._trust_root = trust_root
        self._dhi_key = dhi_key
        self._signature_verifier: ImageSignatureVerifier | None = None
        self._lock = threading.Lock()

    @property
    def signature_verifier(self) -> ImageSignatureVerifier:
        """The image-signature verifier (public-good trust unless a root was given), built once."""
        with self._lock:
            if self._signature_verifier is None:
                from buildsig.sigstore.image import ImageSignatureVerifier

                if self._dhi_key is None:
                    self._signature_verifier = ImageSignatureVerifier(self._trust_root)
                else:
                    self._signature_verifier = ImageSignatureVerifier(
                        self._trust_root, dhi_key=self._dhi_key
                    )
            return self._signature_verifier

    @property
    def registry(self) -> ImageStore:
        """The registry client, created on first use (offline runs never create one)."""
        if self._registry is None:
            from buildsig.oci.registry import RegistryClient

            self._registry = RegistryClient(**self._registry_options)
        return self._registry

    def store_for(self, ref_text: str) -> ImageStore:
        """The layout that holds the reference, else the registry."""
        ref = parse_image_reference(ref_text)
        layout = find_layout(self.layouts, ref)
        return layout if layout is not None else self.registry

    def resolve_input(self, inp: Input, request: ImageRequest) -> Input:
        """Resolve what ``request`` asks for and return the completed input."""
        if inp.image is None:
            raise InvalidInputError("not an image input")
        ref = parse_image_reference(inp.image.ref)
        platform = requested_platform(_platform_of(inp))
        store = self.store_for(inp.image.ref)
        resolution = resolve_image(
            store,
            ref,
            platform,
            request=request,
            signature_verifier=self.signature_verifier if request.signatures else None,
        )
        return apply_resolution(inp, resolution)

    def resolve_inputs(self, items: Sequence[tuple[Input, ImageRequest]]) -> list[Input]:
        """Resolve several inputs concurrently; results in the order given.

        The first failure is raised (the others are still finished, not abandoned).
        """
        if len(items) <= 1:
            return [self.resolve_input(i, r) for i, r in items]
        with ThreadPoolExecutor(max_workers=min(self.max_workers, len(items))) as pool:
            futures = [pool.submit(self.resolve_input, i, r) for i, r in items]
            return [f.result() for f in futures]

    def close(self) -> None:
        """Close the registry client if this resolver created it."""
        if self._owns_registry and self._registry is not None:
            close = getattr(self._registry, "close", None)
            if callable(close):
                close()

    def __enter__(self) -> ImageResolver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _platform_of(inp: Input) -> Platform | None:
    image = inp.image
    if image is None or not image.platform:
        return None
    return parse_platform(image.platform)

"""Resolve an image the way BuildKit does, and fill the Buildx ``input.image`` fields.

Steps, each only when the policy needs it (``buildsig.unknowns.ImageRequest``):

1. **the reference** → the root manifest or index (its digest is ``image.checksum``);
2. **the platform manifest**: among index entries (nested indexes followed, cycles and
   depth guarded), containerd's ordered matcher picks the exact platform first, then
   compatible ones (``arm64`` runs ``arm/v8``…``v5``; ``amd64/v3`` runs ``v2``, ``v1``,
   ``386``), entries without a platform last;
3. **the config** (``labels``, ``env``, ``user``, ``volumes``, ``workingDir``,
   ``createdTime``);
4. **the attestation chain**, in three storage layouts that each tool sees only one of:
   BuildKit's attestation manifest listed in the index (legacy image form and OCI-artifact
   form), OCI 1.1 referrers of the platform manifest (with the referrers-tag fallback),
   and cosign's ``sha256-<hex>.att`` tags; then the SLSA provenance blobs.

Deviation from Buildx, on purpose: Buildx only builds an attestation chain under an OCI
index and otherwise keeps re-requesting until its round-trip limit (docker/buildx#3613).
Here a Docker manifest list or a single manifest is searched through referrers and
``.att`` tags too, and when nothing exists the fields resolve to *absent*.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from buildsig._internal.platform import Platform, host_platform, parse_platform
from buildsig._internal.reference import ImageReference
from buildsig.errors import InvalidDocumentError, InvalidInputError, NotFoundError
from buildsig.model import Image, ImageProvenance, Input
from buildsig.oci.manifest import (
    ImageConfig,
    is_index,
    parse_config,
    parse_index,
    parse_manifest,
    platform_of,
)
from buildsig.oci.store import (
    MEDIA_TYPE_OCI_INDEX,
    Descriptor,
    ImageStore,
    Manifest,
    Repository,
)
from buildsig.unknowns import PROVENANCE_PREDICATE_TYPES, ImageRequest

if TYPE_CHECKING:  # the signature modules import this one
    from buildsig.sigstore.image import ImageSignatures, ImageSignatureVerifier

__all__ = [
    "ATTESTATION_ARTIFACT_TYPE",
    "ImageResolution",
    "apply_resolution",
    "platform_candidates",
    "resolve_image",
]

ATTESTATION_ARTIFACT_TYPE = "application/vnd.docker.attestation.manifest.v1+json"
IN_TOTO_ARTIFACT_TYPE = "application/vnd.in-toto+json"
DSSE_MEDIA_TYPE = "application/vnd.dsse.envelope.v1+json"
REF_TYPE = "vnd.docker.reference.type"
REF_DIGEST = "vnd.docker.reference.digest"
PREDICATE_TYPE = "in-toto.io/predicate-type"

MAX_CONFIG_BYTES = 8 * 1024 * 1024
MAX_ATTESTATION_BYTES = 40 * 1024 * 1024  # BuildKit's own cap per attestation
MAX_INDEX_DEPTH = 8


@dataclasses.dataclass(frozen=True, slots=True)
class ImageResolution:
    """What was fetched for one image reference and platform."""

    repository: Repository
    root: Manifest
    manifest: Manifest  # the platform manifest (the root itself for single manifests)
    config: ImageConfig | None = None
    chain_resolved: bool = False  # the attestation search ran
    attestation_manifest: Manifest | None = None
    attestation_via: str = ""  # "index", "referrers" or "cosign-att"
    statements: tuple[tuple[Mapping[str, str], bytes], ...] = ()  # (annotations, statement)
    provenance: ImageProvenance | None = None
    provenance_resolved: bool = False
    signatures: ImageSignatures | None = None  # set when the request asked for them


# --- platform selection ----------------------------------------------------------------------

_ARM64_VARIANTS = {
    "v8": (8, [0]),
    **{f"v8.{m}": (8, [m]) for m in range(10)},
    "v9": (9, [0, 5]),
    **{f"v9.{m}": (9, [m, min(m + 5, 9)]) for m in range(8)},
}


def platform_candidates(platform: Platform) -> list[Platform]:
    """Platforms that can run on ``platform``, best first (containerd's ``Only`` vector)."""
    p = platform
    out = [p]
    if p.architecture == "amd64":
        try:
            level = int(p.variant.removeprefix("v")) if p.variant else 1
        except ValueError:
            level = 1
        out += [dataclasses.replace(p, variant=f"v{v}") for v in range(level - 1, 0, -1)]
        out.append(dataclasses.replace(p, architecture="386", variant=""))
    elif p.architecture == "arm":
        try:
            level = int(p.variant.removeprefix("v"))
        except ValueError:
            level = 0
        out += [dataclasses.replace(p, variant=f"v{v}") for v in range(level - 1, 4, -1)]
    elif p.architecture == "arm64":
        variant = p.variant or "v8"
        out = []
        if variant in _ARM64_VARIANTS:
            major, minors = _ARM64_VARIANTS[variant]
            majors = [major] if major == 8 else [9, 8]
            for mj, top in zip(majors, minors, strict=False):
                for minor in range(top, -1, -1):
                    out.append(
                        dataclasses.replace(p, variant=f"v{mj}" if minor == 0 else f"v{mj}.{minor}")
                    )
        arm = "v8" if variant.startswith(("v8", "v9")) else variant
        out += platform_candidates(dataclasses.replace(p, architecture="arm", variant=arm))
    return out


def _key(p: Platform) -> tuple[str, str, str]:
    from buildsig._internal.platform import normalize_platform

    n = normalize_platform(p)
    return (n.os, n.architecture, n.variant)


def _select(
    store: ImageStore,
    repo: Repository,
    index: Manifest,
    platform: Platform,
    seen: frozenset[str],
    depth: int,
) -> tuple[Manifest, Descriptor] | None:
    if depth > MAX_INDEX_DEPTH:
        raise InvalidInputError(
            f"index nesting deeper than {MAX_INDEX_DEPTH} in {repo}", source=str(repo)
        )
    wanted = [_key(c) for c in platform_candidates(platform)]
    ranked: list[tuple[int, int, Descriptor]] = []
    for position, entry in enumerate(parse_index(index).manifests):
        if entry.annotations.get(REF_TYPE) == "attestation-manifest":
            continue
        declared = platform_of(entry)
        if declared is None:
            ranked.append((len(wanted), position, entry))  # platform-less entries go last
        elif _key(declared) in wanted:
            ranked.append((wanted.index(_key(declared)), position, entry))
    for _, _, entry in sorted(ranked):
        if entry.digest in seen:
            raise InvalidInputError(
                f"index cycle through {entry.digest} in {repo}", source=str(repo)
            )
        child = store.get_manifest(repo, entry.digest)
        if is_index(child):
            found = _select(store, repo, child, platform, seen | {entry.digest}, depth + 1)
            if found is not None:
                return found
            continue
        return child, entry
    return None


# --- attestations ----------------------------------------------------------------------------


def _attestation_from_index(
    store: ImageStore, repo: Repository, root: Manifest, manifest: Manifest
) -> Manifest | None:
    if root.media_type != MEDIA_TYPE_OCI_INDEX:
        return None
    for entry in parse_index(root).manifests:
        ann = entry.annotations
        if ann.get(REF_TYPE) == "attestation-manifest" and ann.get(REF_DIGEST) == manifest.digest:
            return store.get_manifest(repo, entry.digest)
    return None


def _attestation_from_referrers(
    store: ImageStore, repo: Repository, manifest: Manifest
) -> Manifest | None:
    for referrer in store.referrers(repo, manifest.digest):
        if referrer.artifact_type in (ATTESTATION_ARTIFACT_TYPE, IN_TOTO_ARTIFACT_TYPE):
            candidate = store.get_manifest(repo, referrer.digest)
            if not is_index(candidate) and any(
                PREDICATE_TYPE in layer.annotations for layer in parse_manifest(candidate).layers
            ):
                return candidate
    return None


def _attestation_from_cosign(
    store: ImageStore, repo: Repository, digests: Sequence[str]
) -> Manifest | None:
    for digest in digests:
        algorithm, _, hexpart = digest.partition(":")
        try:
            return store.get_manifest(repo, f"{algorithm}-{hexpart}.att")
        except NotFoundError:
            continue
    return None


def _statement_bytes(layer: Descriptor, blob: bytes) -> bytes | None:
    """The in-toto statement a layer carries: plain, or inside a DSSE envelope (cosign)."""
    if layer.media_type != DSSE_MEDIA_TYPE:
        return blob
    try:
        envelope = json.loads(blob)
        payload = envelope["payload"]
        return base64.b64decode(payload, validate=True)
    except (ValueError, KeyError, TypeError):
        return None  # unparsable attestations never fail a resolution (as in Buildx)


def _provenance_statements(
    store: ImageStore, repo: Repository, attestation: Manifest, predicates: Sequence[str]
) -> list[tuple[Mapping[str, str], bytes]]:
    out: list[tuple[Mapping[str, str], bytes]] = []
    for layer in parse_manifest(attestation).layers:
        predicate = layer.annotations.get(PREDICATE_TYPE) or layer.annotations.get(
            "predicateType", ""
        )
        if predicate not in predicates:
            continue
        if layer.size > MAX_ATTESTATION_BYTES:
            continue
        blob = store.get_blob(repo, layer.digest, max_bytes=MAX_ATTESTATION_BYTES)
        statement = _statement_bytes(layer, blob)
        if statement is not None:
            out.append(({PREDICATE_TYPE: predicate, **layer.annotations}, statement))
    return out


# --- resolution ------------------------------------------------------------------------------


def resolve_image(
    store: ImageStore,
    ref: ImageReference,
    platform: Platform,
    *,
    request: ImageRequest | None = None,
    signature_verifier: ImageSignatureVerifier | None = None,
) -> ImageResolution:
    """Fetch what ``request`` asks for (default: config, attestations and provenance).

    Signatures (``request.signatures``) are found in every layout and verified with
    ``signature_verifier`` (the public-good trust root when None).
    """
    request = request or ImageRequest(
        config=True, attestation_chain=True, attestation_predicates=PROVENANCE_PREDICATE_TYPES
    )
    repo = Repository(ref.domain, ref.path)
    reference = ref.digest or ref.tag or "latest"
    root = store.get_manifest(repo, reference)
    if ref.digest is not None and root.digest != ref.digest:
        raise InvalidDocumentError(f"{ref} resolved to {root.digest}", path="")
    if is_index(root):
        found = _select(store, repo, root, platform, frozenset({root.digest}), 0)
        if found is None:
            raise NotFoundError(f"no manifest for platform {platform} in {ref}", source=str(ref))
        manifest = found[0]
    else:
        manifest = root
    resolution = ImageResolution(repository=repo, root=root, manifest=manifest)
    if request.config:
        parsed = parse_manifest(manifest)
        resolution = dataclasses.replace(
            resolution,
            config=parse_config(
                store.get_blob(repo, parsed.config.digest, max_bytes=MAX_CONFIG_BYTES)
            ),
        )
    if request.attestation_chain:
        via, attestation = "index", _attestation_from_index(store, repo, root, manifest)
        if attestation is None:
            via, attestation = "referrers", _attestation_from_referrers(store, repo, manifest)
        if attestation is None:
            digests = [root.digest] + ([manifest.digest] if manifest.digest != root.digest else [])
            via, attestation = "cosign-att", _attestation_from_cosign(store, repo, digests)
        resolution = dataclasses.replace(
            resolution,
            chain_resolved=True,
            attestation_manifest=attestation,
            attestation_via=via if attestation is not None else "",
        )
        if request.attestation_predicates:
            statements = (
                _provenance_statements(store, repo, attestation, request.attestation_predicates)
                if attestation is not None
                else []
            )
            resolution = dataclasses.replace(
                resolution,
                statements=tuple(statements),
                provenance=_provenance(statements, platform),
                provenance_resolved=True,
            )
    if request.signatures:
        from buildsig.oci.signatures import find_signatures
        from buildsig.sigstore.image import ImageSignatureVerifier

        verifier = signature_verifier or ImageSignatureVerifier()
        discovery = find_signatures(store, resolution)
        resolution = dataclasses.replace(resolution, signatures=verifier.verify(discovery))
    return resolution


def _provenance(
    statements: Sequence[tuple[Mapping[str, str], bytes]], platform: Platform
) -> ImageProvenance | None:
    if not statements:
        return None
    from buildsig.provenance import select_provenance

    return select_provenance(list(statements), platform=platform)


def apply_resolution(inp: Input, resolution: ImageResolution) -> Input:
    """The input with everything the resolution established filled in, as Buildx does."""
    if inp.image is None:
        raise InvalidInputError("not an image input")
    image: Image = dataclasses.replace(inp.image, checksum=resolution.root.digest)
    unknowns = [u for u in inp.unknowns if u != "image.checksum"]
    cfg = resolution.config
    if cfg is not None:
        image = dataclasses.replace(
            image,
            created_time=cfg.created,
            env=cfg.env,
            labels=cfg.labels,
            user=cfg.user,
            volumes=cfg.volumes,
            working_dir=cfg.working_dir,
        )
        config_fields = (
            "image.labels",
            "image.user",
            "image.volumes",
            "image.workingDir",
            "image.env",
        )
        unknowns = [u for u in unknowns if u not in config_fields]
    if resolution.chain_resolved:
        image = dataclasses.replace(
            image,
            has_provenance=resolution.attestation_manifest is not None
            or resolution.provenance is not None,
        )
        unknowns = [u for u in unknowns if u != "image.hasProvenance"]
    if resolution.provenance_resolved:
        image = dataclasses.replace(image, provenance=resolution.provenance)
        unknowns = [u for u in unknowns if u != "image.provenance"]
    if resolution.signatures is not None:
        image = dataclasses.replace(image, signatures=resolution.signatures.signatures)
        unknowns = [u for u in unknowns if u != "image.signatures"]
    return dataclasses.replace(inp, image=image, unknowns=tuple(unknowns))


def requested_platform(platform: Platform | str | None) -> Platform:
    """The platform to resolve for: given, parsed, or the host's."""
    if platform is None:
        return host_platform()
    return parse_platform(platform) if isinstance(platform, str) else platform

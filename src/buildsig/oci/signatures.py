"""Find an image's signatures in every layout they are stored in (discovery only, no crypto).

Three tools sign images in three places, and each tool looks only in its own:

- **Docker / Buildx** (``docker``): a signature manifest that is an OCI referrer of the
  image's *attestation manifest* (BuildKit's provenance), artifactType Sigstore bundle
  v0.3 or cosign signature. This is the only layout Buildx policies read (reference
  ``buildx-policy.md`` §3.1 step 5), so it comes first.
- **Docker Hardened Images** (``dhi``): the same, except that the attestation manifest
  is itself a referrer of the platform manifest (§3.1 steps 3 and 4).
- **cosign** new bundle format (``cosign-bundle``): a referrer of the *image* (its index
  and, when different, the platform manifest) carrying one Sigstore bundle layer; cosign
  v3 lists these with artifactType ``application/vnd.oci.empty.v1+json``, which Buildx
  does not see (docker/buildx#4010), so they are found here by their layer.
- **cosign** simple signing (``cosign-legacy``): the ``sha256-<hex>.sig`` tag, and the
  older experimental referrers of artifactType cosign signature; both carry one
  simple-signing payload per layer with the signature in the layer annotations.

Each candidate is fetched through the store (digest-checked) and checked for the
structure Buildx's ``VerifyImage`` requires before any cryptography (§3.2): the
attestation manifest's ``subject`` is the platform manifest and it holds SLSA provenance,
the signature manifest's ``subject`` is what it claims to sign, and it has the layers a
verifier needs. A candidate that fails is not dropped silently: it is returned in
:attr:`SignatureDiscovery.skipped` with the reason, because "why was my signature not
used?" is the first thing a user asks. Verifying the signatures is someone else's job
(the candidates carry every byte a verifier needs, so it needs no store).

Hostile registries are expected: malformed or missing manifests and oversized layers
become skipped entries, and the work is bounded (candidates returned, signature
manifests fetched, bytes read). Errors that say the store itself cannot be trusted or
reached -- :class:`~buildsig.errors.NetworkError`, a
:class:`~buildsig.errors.DigestMismatchError` -- propagate: they are not facts about one
signature. Nothing is fetched twice, and an unsigned image costs only the referrers
lookups and the ``.sig`` tag lookups.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import cast

from buildsig.errors import BuildsigError, InvalidInputError, NotFoundError
from buildsig.oci.manifest import (
    ParsedIndex,
    ParsedManifest,
    is_index,
    parse_index,
    parse_manifest,
)
from buildsig.oci.resolve import (
    IN_TOTO_ARTIFACT_TYPE,
    PREDICATE_TYPE,
    REF_DIGEST,
    REF_TYPE,
    ImageResolution,
)
from buildsig.oci.store import (
    MEDIA_TYPE_OCI_INDEX,
    MEDIA_TYPE_OCI_MANIFEST,
    MEDIA_TYPES_MANIFEST,
    Descriptor,
    ImageStore,
    Manifest,
    Repository,
)
from buildsig.unknowns import PROVENANCE_PREDICATE_TYPES

__all__ = [
    "ARTIFACT_TYPE_COSIGN_SIGNATURE",
    "ARTIFACT_TYPE_SIGSTORE_BUNDLE",
    "LAYOUT_COSIGN_BUNDLE",
    "LAYOUT_COSIGN_LEGACY",
    "LAYOUT_DHI",
    "LAYOUT_DOCKER",
    "MAX_DISCOVERY_BYTES",
    "MAX_SIGNATURE_BYTES",
    "MAX_SIGNATURE_LAYERS",
    "MEDIA_TYPE_SIMPLE_SIGNING",
    "SignatureCandidate",
    "SignatureDiscovery",
    "SignatureLayer",
    "SkippedSignature",
    "find_signatures",
    "is_dhi_index",
]

ARTIFACT_TYPE_SIGSTORE_BUNDLE = "application/vnd.dev.sigstore.bundle.v0.3+json"
ARTIFACT_TYPE_COSIGN_SIGNATURE = "application/vnd.dev.cosign.artifact.sig.v1+json"
MEDIA_TYPE_SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
MEDIA_TYPE_OCI_EMPTY = "application/vnd.oci.empty.v1+json"
#: cosign accepts any bundle layer by this prefix (``…bundle.v0.3+json``,
#: ``…bundle+json;version=0.3``); which versions verify is the verifier's call.
SIGSTORE_BUNDLE_PREFIX = "application/vnd.dev.sigstore.bundle"
DHI_BUILD_ID = "com.docker.dhi.build.id"
IMAGE_TITLE = "org.opencontainers.image.title"

LAYOUT_DOCKER = "docker"
LAYOUT_DHI = "dhi"
LAYOUT_COSIGN_BUNDLE = "cosign-bundle"
LAYOUT_COSIGN_LEGACY = "cosign-legacy"

#: Largest signature layer read (a Sigstore bundle is a few KiB; a payload smaller still).
MAX_SIGNATURE_BYTES = 8 * 1024 * 1024
#: Largest total of layer bytes one discovery reads, whatever the number of candidates.
MAX_DISCOVERY_BYTES = 32 * 1024 * 1024
#: Layers read from one simple-signing manifest (cosign appends one per ``cosign sign``).
MAX_SIGNATURE_LAYERS = 32
#: Skipped entries kept; past this the discovery is marked truncated.
MAX_SKIPPED = 64

_BUILDX_SUBJECT_TYPES = (MEDIA_TYPE_OCI_MANIFEST, MEDIA_TYPE_OCI_INDEX)
_DOCKER_ARTIFACT_TYPES = (ARTIFACT_TYPE_SIGSTORE_BUNDLE, ARTIFACT_TYPE_COSIGN_SIGNATURE)
#: Referrer artifact types that may hide a cosign bundle ("" when a store does not say).
_BUNDLE_LISTING_TYPES = (ARTIFACT_TYPE_SIGSTORE_BUNDLE, MEDIA_TYPE_OCI_EMPTY, "")


@dataclasses.dataclass(frozen=True, slots=True)
class SignatureLayer:
    """One signature-carrying layer and its bytes, so a verifier needs no store.

    ``descriptor.annotations`` hold the simple-signing material
    (``dev.cosignproject.cosign/signature``, ``dev.sigstore.cosign/certificate``,
    ``…/chain``, ``…/bundle``, ``…/rfc3161timestamp``); ``blob`` is the bundle JSON or the
    simple-signing payload, checked against ``descriptor.digest`` and ``descriptor.size``
    and at most :data:`MAX_SIGNATURE_BYTES` long.
    """

    descriptor: Descriptor
    blob: bytes


@dataclasses.dataclass(frozen=True, slots=True)
class SignatureCandidate:
    """A signature manifest that passed the structural checks of its layout.

    ``layout`` says what was signed and how it was found: ``docker`` and ``dhi`` sign the
    attestation manifest (``subject``), Buildx-style; ``cosign-bundle`` and
    ``cosign-legacy`` sign the image (``subject`` is the index or the platform manifest
    whose digest the referrer or ``.sig`` tag names). ``layers`` are the layers to verify,
    in order: for ``docker``/``dhi`` only layer 0, the one Buildx reads; for
    ``cosign-bundle`` the single bundle layer; for ``cosign-legacy`` every simple-signing
    layer (each is one signature; any may verify). ``artifact_type`` is the manifest's own
    ``artifactType`` ("" for the ``.sig`` tag; the cosign signature type for an
    experimental cosign referrer).
    """

    layout: str
    subject: Manifest
    manifest: Manifest
    artifact_type: str
    layers: tuple[SignatureLayer, ...]

    @property
    def digest(self) -> str:
        """The signature manifest's digest (what a report should name)."""
        return self.manifest.digest


@dataclasses.dataclass(frozen=True, slots=True)
class SkippedSignature:
    """Something that looked like a signature but was not used, and why.

    ``digest`` names what was skipped: usually a signature manifest; the attestation
    manifest or the subject of a referrers list when the problem is there.
    """

    layout: str
    digest: str
    reason: str


@dataclasses.dataclass(frozen=True, slots=True)
class SignatureDiscovery:
    """Every signature found for one resolved image, best first, and what was passed over.

    ``attestation_manifest`` is the attestation manifest of Buildx's chain (the index
    entry, or for DHI the referrer), whether or not it passed the chain checks (if not,
    ``skipped`` says why). ``buildx_choice`` is the signature manifest Buildx would pick
    (bundle preferred, then list order), "" when it would find none: Buildx uses only that
    one, and fails rather than fall back, where ``candidates`` keeps looking. ``truncated``
    is true when a limit (candidates, manifests examined, bytes, skipped entries) stopped
    the search before it had looked everywhere.
    """

    is_dhi: bool
    attestation_manifest: Manifest | None
    candidates: tuple[SignatureCandidate, ...]
    skipped: tuple[SkippedSignature, ...] = ()
    buildx_choice: str = ""
    truncated: bool = False


def is_dhi_index(index: ParsedIndex) -> bool:
    """Docker Hardened Image detection, as BuildKit does it (§3.1 step 3).

    Every entry (attestations too) carries a non-empty ``com.docker.dhi.build.id`` and the
    index title starts with ``dhi/``.
    """
    title = index.annotations.get(IMAGE_TITLE, "")
    return all(d.annotations.get(DHI_BUILD_ID) for d in index.manifests) and title.startswith(
        "dhi/"
    )


def _sig_tag(digest: str) -> str:
    algorithm, _, encoded = digest.partition(":")
    return f"{algorithm}-{encoded}.sig"


class _Search:
    """The state of one discovery: memoised fetches, budgets and the results so far."""

    def __init__(
        self, store: ImageStore, repo: Repository, max_candidates: int, max_examined: int
    ) -> None:
        self.store = store
        self.repo = repo
        self.max_candidates = max_candidates
        self.max_examined = max_examined
        self.manifests: dict[str, Manifest] = {}
        self.referrer_lists: dict[str, list[Descriptor]] = {}
        self.blobs: dict[str, bytes] = {}
        self.seen: set[str] = set()
        self.candidates: list[SignatureCandidate] = []
        self.skipped: list[SkippedSignature] = []
        self.examined = 0
        self.bytes_read = 0
        self.truncated = False
        # answers fetched ahead, concurrently: a result, or the exception to raise in order
        self.ahead: dict[tuple[str, str], object] = {}

    def prefetch(self, referrers_of: Sequence[str], tags: Sequence[str]) -> None:
        """Ask independent first-level questions at once (referrers lists, ``.sig`` tags).

        Each lookup is one registry round trip that does not depend on the others, so
        asking them together costs one round trip of latency instead of one each. Answers
        (and errors) are consumed later in the usual order, so the result, the requests
        made and the errors raised are those of the sequential search.
        """
        jobs: list[tuple[tuple[str, str], Callable[[], object]]] = []
        for digest in referrers_of:
            if digest not in self.referrer_lists:
                jobs.append(
                    (("referrers", digest), partial(self.store.referrers, self.repo, digest))
                )
        for tag in tags:
            jobs.append((("tag", tag), partial(self.store.get_manifest, self.repo, tag)))
        if len(jobs) < 2:
            return

        def run(job: Callable[[], object]) -> object:
            try:
                return job()
            except BuildsigError as exc:
                return exc

        with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
            for (key, _), answer in zip(jobs, pool.map(run, [j for _, j in jobs]), strict=True):
                self.ahead[key] = answer

    def _answer(self, key: tuple[str, str], ask: Callable[[], object]) -> object:
        if key in self.ahead:
            answer = self.ahead.pop(key)
            if isinstance(answer, BuildsigError):
                raise answer
            return answer
        return ask()

    # --- bookkeeping -------------------------------------------------------------------

    @property
    def full(self) -> bool:
        return len(self.candidates) >= self.max_candidates

    def remember(self, manifest: Manifest | None) -> None:
        if manifest is not None:
            self.manifests.setdefault(manifest.digest, manifest)

    def skip(self, layout: str, digest: str, reason: str) -> None:
        if len(self.skipped) >= MAX_SKIPPED:
            self.truncated = True
            return
        self.skipped.append(SkippedSignature(layout, digest, reason))

    def exhausted(self) -> bool:
        """Whether a limit forbids any further lookup (then the result is truncated)."""
        if self.full or self.examined >= self.max_examined:
            self.truncated = True
            return True
        return False

    def admit(self, digest: str) -> bool:
        """Whether one more signature manifest may be examined (dedup and budgets)."""
        if digest in self.seen:
            return False
        if self.exhausted():
            return False
        self.seen.add(digest)
        self.examined += 1
        return True

    # --- fetching ----------------------------------------------------------------------

    def manifest(self, digest: str) -> Manifest:
        found = self.manifests.get(digest)
        if found is None:
            found = self.store.get_manifest(self.repo, digest)
            self.manifests[digest] = found
        return found

    def referrers(self, layout: str, digest: str) -> list[Descriptor]:
        """The referrers of ``digest``, asked once; an unreadable list is a skipped entry."""
        known = self.referrer_lists.get(digest)
        if known is not None:
            return known
        try:
            listed = self._answer(
                ("referrers", digest), partial(self.store.referrers, self.repo, digest)
            )
            found = list(cast(Sequence[Descriptor], listed))
        except NotFoundError:
            found = []
        except InvalidInputError as exc:
            self.skip(layout, digest, f"the referrers of {digest} cannot be read: {exc}")
            found = []
        self.referrer_lists[digest] = found
        return found

    def signature_manifest(
        self,
        layout: str,
        digest: str,
        check: Callable[[ParsedManifest, str], str | None] | None = None,
    ) -> tuple[Manifest, ParsedManifest] | None:
        """A listed signature manifest, if the budgets admit it, parsed and checked.

        Missing or malformed manifests, and those ``check`` finds a reason against, are
        skipped with the reason; None then, as when a limit or a duplicate stops it.
        """
        if not self.admit(digest):
            return None
        try:
            manifest = self.manifest(digest)
            if is_index(manifest):
                self.skip(layout, digest, f"signature manifest {digest} is an index")
                return None
            parsed = parse_manifest(manifest)
        except NotFoundError:
            self.skip(layout, digest, f"signature manifest {digest} is listed but not found")
            return None
        except InvalidInputError as exc:
            self.skip(layout, digest, f"signature manifest {digest} is malformed: {exc}")
            return None
        reason = check(parsed, manifest.digest) if check is not None else None
        if reason is not None:
            self.skip(layout, manifest.digest, reason)
            return None
        return manifest, parsed

    def layers(
        self, layout: str, owner: str, descriptors: Sequence[Descriptor]
    ) -> tuple[SignatureLayer, ...] | None:
        """The layers' bytes, each capped and size-checked; None (skipped) on any problem."""
        out: list[SignatureLayer] = []
        for d in descriptors:
            if d.size > MAX_SIGNATURE_BYTES:
                self.skip(
                    layout,
                    owner,
                    f"layer {d.digest} is {d.size} bytes, over the {MAX_SIGNATURE_BYTES}-byte cap",
                )
                return None
            blob = self.blobs.get(d.digest)
            if blob is None:
                if self.bytes_read + d.size > MAX_DISCOVERY_BYTES:
                    self.truncated = True
                    self.skip(
                        layout,
                        owner,
                        f"not read: the {MAX_DISCOVERY_BYTES}-byte budget of this search is spent",
                    )
                    return None
                try:
                    # The descriptor's size bounds the read: a registry serving more is lying.
                    blob = self.store.get_blob(self.repo, d.digest, max_bytes=d.size)
                except NotFoundError:
                    self.skip(layout, owner, f"layer {d.digest} is missing")
                    return None
                except InvalidInputError as exc:
                    self.skip(layout, owner, f"layer {d.digest} cannot be read: {exc}")
                    return None
                self.bytes_read += len(blob)
                self.blobs[d.digest] = blob
            if len(blob) != d.size:
                self.skip(
                    layout,
                    owner,
                    f"layer {d.digest} is {len(blob)} bytes but its descriptor says {d.size}",
                )
                return None
            out.append(SignatureLayer(descriptor=d, blob=blob))
        return tuple(out)


# --- the Buildx chain: attestation manifest, then its referrers -------------------------------


def _subject_mismatch(name: str, subject: Descriptor, target: Manifest, what: str) -> str | None:
    """Why ``subject`` is not exactly ``target`` (digest, OCI media type, size), or None."""
    if subject.digest != target.digest:
        return (
            f"{name} subject digest {subject.digest} does not match {what} digest {target.digest}"
        )
    if subject.media_type not in _BUILDX_SUBJECT_TYPES:
        return f"{name} subject media type {subject.media_type!r} is not an OCI manifest or index"
    if subject.size != len(target.raw):
        return f"{name} subject size {subject.size} does not match {what} size {len(target.raw)}"
    return None


def _check_attestation(attestation: Manifest, image: Manifest) -> str | None:
    """Buildx's checks on the attestation manifest (§3.2 step 1); the problem, or None."""
    name = f"attestation manifest {attestation.digest}"
    try:
        if is_index(attestation):
            return f"{name} is an index, not a manifest"
        parsed = parse_manifest(attestation)
    except InvalidInputError as exc:
        return f"{name} is malformed: {exc}"
    subject = parsed.subject
    if subject is None:
        return (
            f"{name} has no subject (Buildx verifies only OCI-artifact attestations, "
            "e.g. BuildKit's oci-artifact=true)"
        )
    mismatch = _subject_mismatch(name, subject, image, "image manifest")
    if mismatch:
        return mismatch
    if not any(
        layer.annotations.get(PREDICATE_TYPE) in PROVENANCE_PREDICATE_TYPES
        for layer in parsed.layers
    ):
        return f"{name} has no SLSA provenance layer"
    return None


def _index_attestation(
    search: _Search, index: ParsedIndex, image: Manifest
) -> tuple[Manifest | None, str | None]:
    """BuildKit's layout: the first index entry that is the image's attestation manifest."""
    for entry in index.manifests:
        ann = entry.annotations
        if ann.get(REF_TYPE) == "attestation-manifest" and ann.get(REF_DIGEST) == image.digest:
            return _fetch_attestation(search, entry.digest)
    return None, None


def _dhi_attestation(search: _Search, image: Manifest) -> tuple[Manifest | None, str | None]:
    """DHI's layout: the first in-toto referrer of the platform manifest with SLSA provenance."""
    for ref in search.referrers(LAYOUT_DHI, image.digest):
        if (
            ref.artifact_type == IN_TOTO_ARTIFACT_TYPE
            and ref.annotations.get(PREDICATE_TYPE) in PROVENANCE_PREDICATE_TYPES
        ):
            return _fetch_attestation(search, ref.digest)
    search.skip(
        LAYOUT_DHI,
        image.digest,
        f"DHI image manifest {image.digest} has no SLSA attestation referrer",
    )
    return None, None


def _fetch_attestation(search: _Search, digest: str) -> tuple[Manifest | None, str | None]:
    try:
        return search.manifest(digest), None
    except NotFoundError:
        return None, f"attestation manifest {digest} is listed but not found"
    except InvalidInputError as exc:
        return None, f"attestation manifest {digest} cannot be read: {exc}"


def _chain_signatures(
    search: _Search, layout: str, attestation: Manifest, problem: str | None
) -> str:
    """Signature referrers of the attestation manifest (§3.1 step 5, §3.2 step 2).

    Returns the digest Buildx would pick.
    """
    listed = [
        r
        for r in search.referrers(layout, attestation.digest)
        if r.artifact_type in _DOCKER_ARTIFACT_TYPES
    ]
    # Stable: bundles first, then cosign signatures, each in list order (as Buildx sorts).
    listed.sort(key=lambda r: r.artifact_type != ARTIFACT_TYPE_SIGSTORE_BUNDLE)
    for ref in listed:
        if problem is not None:
            if ref.digest not in search.seen:
                search.seen.add(ref.digest)
                search.skip(layout, ref.digest, f"its attestation manifest fails: {problem}")
            continue
        fetched = search.signature_manifest(
            layout, ref.digest, partial(_check_chain_signature, attestation=attestation)
        )
        if fetched is None:
            continue
        manifest, parsed = fetched
        layers = search.layers(layout, manifest.digest, parsed.layers[:1])
        if layers is None:
            continue
        search.candidates.append(
            SignatureCandidate(layout, attestation, manifest, parsed.artifact_type, layers)
        )
    return listed[0].digest if listed else ""


def _check_chain_signature(
    parsed: ParsedManifest, digest: str, attestation: Manifest
) -> str | None:
    """Buildx's checks on a signature manifest of the attestation manifest (§3.2 steps 2-3)."""
    name = f"signature manifest {digest}"
    subject = parsed.subject
    if subject is None:
        return f"{name} has no subject"
    mismatch = _subject_mismatch(name, subject, attestation, "attestation manifest")
    if mismatch:
        return mismatch
    if not parsed.layers:
        return f"{name} has no layers"
    first = parsed.layers[0].media_type
    if first == ARTIFACT_TYPE_SIGSTORE_BUNDLE:
        if parsed.artifact_type != ARTIFACT_TYPE_SIGSTORE_BUNDLE:
            return f"{name} has a bundle layer but artifact type {parsed.artifact_type!r}"
        return None
    if first == MEDIA_TYPE_SIMPLE_SIGNING:
        return None
    return f"{name} layer 0 has media type {first!r}, neither a bundle nor simple signing"


# --- cosign: referrers of the image and .sig tags ---------------------------------------------


def _check_image_subject(parsed: ParsedManifest, digest: str, image: Manifest) -> str | None:
    """A cosign referrer must name the image it was listed for, exactly."""
    name = f"signature manifest {digest}"
    subject = parsed.subject
    if subject is None:
        return f"{name} has no subject"
    if subject.digest != image.digest:
        return f"{name} subject digest {subject.digest} does not match image digest {image.digest}"
    if subject.media_type not in MEDIA_TYPES_MANIFEST or (
        image.media_type and subject.media_type != image.media_type
    ):
        return (
            f"{name} subject media type {subject.media_type!r} does not match "
            f"the image's {image.media_type!r}"
        )
    if subject.size != len(image.raw):
        return f"{name} subject size {subject.size} does not match image size {len(image.raw)}"
    return None


def _cosign_bundles(search: _Search, image: Manifest) -> None:
    """The cosign new bundle format: referrers of the image holding one Sigstore bundle."""
    layout = LAYOUT_COSIGN_BUNDLE
    if search.exhausted():
        return
    for ref in search.referrers(layout, image.digest):
        if ref.artifact_type not in _BUNDLE_LISTING_TYPES or ref.digest in search.seen:
            continue
        fetched = search.signature_manifest(layout, ref.digest)
        if fetched is None:
            continue
        manifest, parsed = fetched
        bundles = [d for d in parsed.layers if d.media_type.startswith(SIGSTORE_BUNDLE_PREFIX)]
        if not bundles and ref.artifact_type != ARTIFACT_TYPE_SIGSTORE_BUNDLE:
            continue  # an empty-typed artifact of some other tool: not a signature
        if len(parsed.layers) != 1 or not bundles:
            types = ", ".join(d.media_type for d in parsed.layers) or "none"
            search.skip(
                layout,
                manifest.digest,
                f"signature manifest {manifest.digest} must have exactly one layer, a Sigstore "
                f"bundle (has: {types})",
            )
            continue
        reason = _check_image_subject(parsed, manifest.digest, image)
        if reason is not None:
            search.skip(layout, manifest.digest, reason)
            continue
        layers = search.layers(layout, manifest.digest, parsed.layers)
        if layers is not None:
            search.candidates.append(
                SignatureCandidate(layout, image, manifest, parsed.artifact_type, layers)
            )


def _simple_signing(
    search: _Search, layout: str, image: Manifest, manifest: Manifest, parsed: ParsedManifest
) -> None:
    """A manifest of simple-signing layers over ``image`` (.sig tag or experimental referrer)."""
    payloads = [d for d in parsed.layers if d.media_type == MEDIA_TYPE_SIMPLE_SIGNING]
    if not payloads:
        types = ", ".join(d.media_type for d in parsed.layers) or "none"
        search.skip(
            layout,
            manifest.digest,
            f"signature manifest {manifest.digest} has no simple-signing layer (has: {types})",
        )
        return
    if len(payloads) > MAX_SIGNATURE_LAYERS:
        search.truncated = True
        search.skip(
            layout,
            manifest.digest,
            f"only the first {MAX_SIGNATURE_LAYERS} of {len(payloads)} signatures were read",
        )
        payloads = payloads[:MAX_SIGNATURE_LAYERS]
    layers = search.layers(layout, manifest.digest, payloads)
    if layers is not None:
        search.candidates.append(
            SignatureCandidate(layout, image, manifest, parsed.artifact_type, layers)
        )


def _cosign_signature_referrers(search: _Search, image: Manifest) -> None:
    """The cosign experimental OCI mode: referrers of artifactType cosign signature."""
    layout = LAYOUT_COSIGN_LEGACY
    if search.exhausted():
        return
    for ref in search.referrers(layout, image.digest):
        if ref.artifact_type != ARTIFACT_TYPE_COSIGN_SIGNATURE or ref.digest in search.seen:
            continue
        fetched = search.signature_manifest(
            layout, ref.digest, partial(_check_image_subject, image=image)
        )
        if fetched is None:
            continue
        manifest, parsed = fetched
        _simple_signing(search, layout, image, manifest, parsed)


def _cosign_tag(search: _Search, image: Manifest) -> None:
    """The cosign tag layout: ``sha256-<hex>.sig`` in the image's repository."""
    layout = LAYOUT_COSIGN_LEGACY
    tag = _sig_tag(image.digest)
    if search.exhausted():
        return
    try:
        answer = search._answer(("tag", tag), partial(search.store.get_manifest, search.repo, tag))
        if not isinstance(answer, Manifest):  # pragma: no cover - get_manifest returns one
            raise TypeError(type(answer).__name__)
        manifest = answer
    except NotFoundError:
        return
    except InvalidInputError as exc:
        search.skip(layout, image.digest, f"tag {tag} cannot be read: {exc}")
        return
    search.remember(manifest)
    if not search.admit(manifest.digest):
        return
    try:
        if is_index(manifest):
            search.skip(layout, manifest.digest, f"tag {tag} holds an index, not a manifest")
            return
        parsed = parse_manifest(manifest)
    except InvalidInputError as exc:
        search.skip(
            layout, manifest.digest, f"signature manifest {manifest.digest} is malformed: {exc}"
        )
        return
    _simple_signing(search, layout, image, manifest, parsed)


# --- entry point -----------------------------------------------------------------------------


def find_signatures(
    store: ImageStore,
    resolution: ImageResolution,
    *,
    max_candidates: int = 16,
    max_examined: int = 64,
) -> SignatureDiscovery:
    """Every signature of a resolved image, in Buildx's layout first, then cosign's.

    ``resolution`` supplies the root, the platform manifest and, when its attestation
    search ran, the attestation manifest (reused, not fetched again). At most
    ``max_candidates`` candidates are returned and ``max_examined`` signature manifests
    fetched; see :class:`SignatureDiscovery` for the rest of the result.
    """
    if max_candidates < 1 or max_examined < 1:
        raise InvalidInputError("max_candidates and max_examined must be at least 1")
    search = _Search(store, resolution.repository, max_candidates, max_examined)
    root, image = resolution.root, resolution.manifest
    for known in (root, image, resolution.attestation_manifest):
        search.remember(known)

    # Buildx builds a chain only under an OCI index (§3.1 step 1).
    index: ParsedIndex | None = None
    if root.media_type == MEDIA_TYPE_OCI_INDEX:
        try:
            index = parse_index(root)
        except InvalidInputError as exc:
            search.skip(LAYOUT_DOCKER, root.digest, f"index {root.digest} is malformed: {exc}")
    dhi = index is not None and is_dhi_index(index)
    attestation: Manifest | None = None
    buildx_choice = ""
    if index is not None:
        layout = LAYOUT_DHI if dhi else LAYOUT_DOCKER
        attestation, unreadable = (
            _dhi_attestation(search, image) if dhi else _index_attestation(search, index, image)
        )
        if unreadable is not None:
            search.skip(layout, root.digest, unreadable)
        if attestation is not None:
            problem = _check_attestation(attestation, image)
            if problem is not None:
                search.skip(layout, attestation.digest, problem)
            buildx_choice = _chain_signatures(search, layout, attestation, problem)

    subjects = [root] + ([image] if image.digest != root.digest else [])
    search.prefetch([s.digest for s in subjects], [_sig_tag(s.digest) for s in subjects])
    for subject in subjects:
        _cosign_bundles(search, subject)
    for subject in subjects:
        _cosign_signature_referrers(search, subject)
    for subject in subjects:
        _cosign_tag(search, subject)

    return SignatureDiscovery(
        is_dhi=dhi,
        attestation_manifest=attestation,
        candidates=tuple(search.candidates),
        skipped=tuple(search.skipped),
        buildx_choice=buildx_choice,
        truncated=search.truncated,
    )

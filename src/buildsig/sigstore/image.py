"""Verify the signatures discovery found for an image, and describe them as Buildx does.

Discovery (:mod:`buildsig.oci.signatures`) hands over every candidate with its bytes; this
module decides each one and returns a verdict per candidate (verified, or the reason it
was not), so a report can show *why* a signature did not count. What a policy sees,
``input.image.signatures``, is the verified ones, Buildx's own layout first.

What each layout signs (reference ``buildx-policy.md`` §3.2, ``sigstore-oci.md`` §4):

- ``docker`` / ``dhi``: the **attestation manifest**; a bundle must sign its digest (a
  message signature over it, or a DSSE statement naming it), a simple signature must name
  it as ``docker-manifest-digest``.
- ``cosign-bundle`` / ``cosign-legacy``: the **image** (index or platform manifest) the
  referrer or ``.sig`` tag is attached to; a DSSE bundle there must be ``cosign sign``'s
  statement (predicate ``https://sigstore.dev/cosign/sign/v1``), since ``cosign attest``
  stores its attestations (SBOMs, provenance) the same way.

Trust: keyless signatures are verified against the Sigstore trust root with Buildx's
thresholds (one SCT, one log entry, one verified time) and any identity (identity is the
policy's call, through ``signer``). Docker Hardened Images are signed with Docker's key
(:data:`DHI_PUBLIC_KEY`), valid for signing times from 2025-04-02, with the public-good
logs and timestamp authorities; log evidence is required when the signature carries some.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from buildsig.errors import BuildsigError, VerificationError
from buildsig.model import AttestationSignature, SignatureType
from buildsig.oci.signatures import (
    LAYOUT_COSIGN_BUNDLE,
    LAYOUT_DHI,
    MEDIA_TYPE_SIMPLE_SIGNING,
    SIGSTORE_BUNDLE_PREFIX,
    SignatureCandidate,
    SignatureDiscovery,
    SignatureLayer,
)
from buildsig.sigstore.classify import attestation_signature
from buildsig.sigstore.simplesigning import ANNOTATION_BUNDLE, verify_simple_signing
from buildsig.sigstore.trust import PublicKey, TrustRoot, load_public_key
from buildsig.sigstore.verify import VerifiedBundle, Verifier

__all__ = [
    "DHI_PUBLIC_KEY",
    "ImageSignatureVerifier",
    "ImageSignatures",
    "SignatureVerdict",
]

#: Docker Hardened Images' signing key (moby/policy-helpers ``roots/dhi/dhi.pub``, as
#: embedded in Buildx), and the first signing time it is trusted for.
DHI_PUBLIC_KEY = b"""-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEKdROmntRJFBrOJOQF5ww6gDBJqGm
Fxa4333s1KsL9ISjtmRzGNih9lNRsqfRVjgFgJIdL6EQ9dohdanvn7r2cg==
-----END PUBLIC KEY-----
"""
DHI_KEY_VALID_FROM = datetime(2025, 4, 2, tzinfo=UTC)
#: The statement ``cosign sign`` makes in its bundle format (an empty predicate).
COSIGN_SIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1"


@dataclasses.dataclass(frozen=True, slots=True)
class SignatureVerdict:
    """The decision on one signature (one layer of one candidate)."""

    layout: str
    manifest: str  # the signature manifest's digest
    subject: str  # the digest it claims to sign
    type: str  # a SignatureType value
    signature: AttestationSignature | None  # set when verified
    reason: str = ""  # why not, when not

    @property
    def verified(self) -> bool:
        """Whether the signature verified."""
        return self.signature is not None


@dataclasses.dataclass(frozen=True, slots=True)
class ImageSignatures:
    """Every verdict for one image, with the discovery they came from."""

    discovery: SignatureDiscovery
    verdicts: tuple[SignatureVerdict, ...]

    @property
    def signatures(self) -> tuple[AttestationSignature, ...]:
        """The verified signatures, best first: what ``input.image.signatures`` holds."""
        return tuple(v.signature for v in self.verdicts if v.signature is not None)

    @property
    def buildx(self) -> AttestationSignature | None:
        """The signature Buildx itself would report (its one candidate, if it verified)."""
        for v in self.verdicts:
            if v.manifest == self.discovery.buildx_choice and v.signature is not None:
                return v.signature
        return None


class ImageSignatureVerifier:
    """Decides image signature candidates. Build once (the trust work is shared)."""

    def __init__(
        self,
        trust_root: TrustRoot | None = None,
        *,
        dhi_key: PublicKey | bytes = DHI_PUBLIC_KEY,
        now: datetime | None = None,
    ) -> None:
        self.trust_root = trust_root if trust_root is not None else TrustRoot.production()
        self.verifier = Verifier(self.trust_root, now=now)
        self.dhi_key = (
            load_public_key(dhi_key, what="DHI key") if isinstance(dhi_key, bytes) else dhi_key
        )
        keyonly = self.trust_root.without_certificate_authorities()
        self._dhi_logged = Verifier(keyonly, sct_threshold=0, now=now)
        self._dhi_bare = Verifier(
            keyonly, sct_threshold=0, tlog_threshold=0, timestamp_threshold=0, now=now
        )

    def verify(self, discovery: SignatureDiscovery) -> ImageSignatures:
        """A verdict for every candidate layer, in discovery order."""
        verdicts = [
            self._layer(candidate, layer)
            for candidate in discovery.candidates
            for layer in candidate.layers
        ]
        return ImageSignatures(discovery=discovery, verdicts=tuple(verdicts))

    def _layer(self, candidate: SignatureCandidate, layer: SignatureLayer) -> SignatureVerdict:
        media_type = layer.descriptor.media_type
        sig_type = (
            SignatureType.SIMPLESIGNING_V1
            if media_type == MEDIA_TYPE_SIMPLE_SIGNING
            else SignatureType.BUNDLE_V03
        )
        verdict = SignatureVerdict(
            layout=candidate.layout,
            manifest=candidate.digest,
            subject=candidate.subject.digest,
            type=sig_type.value,
            signature=None,
        )
        is_dhi = candidate.layout == LAYOUT_DHI
        try:
            if sig_type is SignatureType.SIMPLESIGNING_V1:
                signature = self._simple(candidate, layer, is_dhi=is_dhi)
            elif media_type.startswith(SIGSTORE_BUNDLE_PREFIX):
                verified = self._bundle_verifier(is_dhi).verify_artifact(
                    layer.blob,
                    candidate.subject.digest,
                    key=self.dhi_key if is_dhi else None,
                )
                self._check_dhi_window(verified, is_dhi)
                if (
                    candidate.layout == LAYOUT_COSIGN_BUNDLE
                    and verified.payload_type
                    and verified.predicate_type != COSIGN_SIGN_PREDICATE
                ):
                    # an attestation about the image (an SBOM, provenance …) made with
                    # `cosign attest` is not a signature of it
                    raise VerificationError(
                        f"a {verified.predicate_type!r} attestation, not a cosign signature"
                    )
                signature = attestation_signature(verified, type=sig_type, is_dhi=is_dhi)
            else:
                raise VerificationError(f"unsupported signature layer {media_type}")
        except BuildsigError as exc:
            return dataclasses.replace(verdict, reason=str(exc))
        return dataclasses.replace(verdict, signature=signature)

    def _bundle_verifier(self, is_dhi: bool) -> Verifier:
        return self._dhi_logged if is_dhi else self.verifier

    def _simple(
        self, candidate: SignatureCandidate, layer: SignatureLayer, *, is_dhi: bool
    ) -> AttestationSignature:
        annotations = layer.descriptor.annotations
        if is_dhi:
            verifier = self._dhi_logged if annotations.get(ANNOTATION_BUNDLE) else self._dhi_bare
            key: PublicKey | None = self.dhi_key
        else:
            verifier, key = self.verifier, None
        payload, verified = verify_simple_signing(
            verifier,
            layer.blob,
            annotations,
            manifest_digest=candidate.subject.digest,
            key=key,
        )
        self._check_dhi_window(verified, is_dhi)
        return attestation_signature(
            verified,
            type=SignatureType.SIMPLESIGNING_V1,
            docker_reference=payload.docker_reference,
            is_dhi=is_dhi,
        )

    @staticmethod
    def _check_dhi_window(verified: VerifiedBundle, is_dhi: bool) -> None:
        if not is_dhi:
            return
        for t in verified.timestamps:
            if t.time < DHI_KEY_VALID_FROM:
                raise VerificationError(
                    f"signed at {t.time.isoformat()}, before the DHI key was valid"
                )

"""Sigstore: bundles, simple signatures, image signatures and trust roots, verified offline.

``Verifier(TrustRoot.production()).verify_artifact(bundle, artifact)`` checks a bundle
against the public-good instance without touching the network; the result says who
signed (:class:`~buildsig.model.SignerInfo`) and when (verified timestamps).
:class:`ImageSignatureVerifier` decides the signatures that
:func:`buildsig.oci.signatures.find_signatures` finds on an image, and describes them as
Buildx's ``input.image.signatures``.
"""

from buildsig.sigstore.artifact import artifact_attestation, github_attestation
from buildsig.sigstore.batch import BatchItem, BatchResult, verify_batch
from buildsig.sigstore.bundle import Bundle, parse_bundle
from buildsig.sigstore.certificate import signer_info
from buildsig.sigstore.classify import attestation_signature, classify
from buildsig.sigstore.image import ImageSignatures, ImageSignatureVerifier, SignatureVerdict
from buildsig.sigstore.simplesigning import SimpleSigningPayload, verify_simple_signing
from buildsig.sigstore.trust import TrustRoot
from buildsig.sigstore.verify import Identity, VerifiedBundle, VerifiedTime, Verifier

__all__ = [
    "BatchItem",
    "BatchResult",
    "Bundle",
    "Identity",
    "ImageSignatureVerifier",
    "ImageSignatures",
    "SignatureVerdict",
    "SimpleSigningPayload",
    "TrustRoot",
    "VerifiedBundle",
    "VerifiedTime",
    "Verifier",
    "artifact_attestation",
    "attestation_signature",
    "classify",
    "github_attestation",
    "parse_bundle",
    "signer_info",
    "verify_batch",
    "verify_simple_signing",
]

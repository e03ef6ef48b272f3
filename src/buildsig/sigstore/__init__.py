"""Sigstore: bundles, simple signatures and trust roots, verified offline.

``Verifier(TrustRoot.production()).verify_artifact(bundle, artifact)`` checks a bundle
against the public-good instance without touching the network; the result says who
signed (:class:`~buildsig.model.SignerInfo`) and when (verified timestamps).
"""

from buildsig.sigstore.bundle import Bundle, parse_bundle
from buildsig.sigstore.certificate import signer_info
from buildsig.sigstore.trust import TrustRoot
from buildsig.sigstore.verify import Identity, VerifiedBundle, VerifiedTime, Verifier

__all__ = [
    "Bundle",
    "Identity",
    "TrustRoot",
    "VerifiedBundle",
    "VerifiedTime",
    "Verifier",
    "parse_bundle",
    "signer_info",
]

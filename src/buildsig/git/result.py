"""The outcome of checking one signature: data for a policy, not an exception.

Every verifier (in-process OpenPGP, SSHSIG, the GnuPG backend) returns a
:class:`SignatureCheck`. A failed check is a normal result with a :class:`Reason`; only
input buildsig cannot read at all (a truncated object, a malformed key file) raises.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from enum import StrEnum
from typing import Any

from buildsig._internal.serde import format_rfc3339

__all__ = ["Reason", "SignatureCheck", "SignerIdentity"]


class Reason(StrEnum):
    """Why a signature did not verify. Stable strings: policies and scripts match on them."""

    UNSIGNED = "unsigned"  # the object carries no signature
    BAD_SIGNATURE = "bad-signature"  # the signature does not match the signed bytes
    UNKNOWN_KEY = "unknown-key"  # no trusted key could have made it
    EXPIRED_KEY = "expired-key"  # the key had expired when the signature was made
    REVOKED_KEY = "revoked-key"  # the key (or the signing subkey) is revoked
    WEAK_HASH = "weak-hash"  # SHA-1 or weaker data signature, not opted in
    WEAK_KEY = "weak-key"  # DSA, RSA < 2048, or another algorithm the policy forbids
    NOT_ALLOWED = "not-allowed"  # principal, namespace or validity window does not permit it
    UNSUPPORTED_FORMAT = "unsupported-format"  # e.g. x509 (gpgsm/gitsign) signatures
    MALFORMED = "malformed"  # the signature block itself cannot be parsed


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SignerIdentity:
    """Who made a signature, as far as the signature and the trusted keys say.

    Fingerprints are the stable identifiers to pin a policy on: for OpenPGP the primary
    key's fingerprint (uppercase hex) and the signing (sub)key's; for SSH the
    ``SHA256:<base64>`` fingerprint of the signing key (for certificates, of the
    certificate's key; ``ca_fingerprint`` names the CA) and the matched principal.
    """

    format: str  # "openpgp" or "ssh"
    primary_fingerprint: str = ""
    signing_fingerprint: str = ""
    key_id: str = ""  # OpenPGP: 16 uppercase hex digits of the signing key
    user_id: str = ""  # OpenPGP: the primary user id of the key
    principal: str = ""  # SSH: the allowed-signers principal that matched
    ca_fingerprint: str = ""  # SSH certificates: the certificate authority's key
    algorithm: str = ""  # e.g. "rsa4096", "ed25519", "ecdsa-p256", "sk-ecdsa-p256"
    hash_algorithm: str = ""  # e.g. "sha512"
    signed_at: datetime | None = None  # OpenPGP: signature creation time; SSH: signer time

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form with empty fields left out."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value in ("", None):
                continue
            out[f.name] = format_rfc3339(value) if isinstance(value, datetime) else value
        return out


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SignatureCheck:
    """The result of verifying one signature over one payload."""

    verified: bool
    reason: Reason | None = None  # None exactly when verified
    detail: str = ""  # one line for people: what was checked or what failed
    signer: SignerIdentity | None = None  # known as far as the check got

    def __post_init__(self) -> None:
        if self.verified != (self.reason is None):
            raise ValueError("a check is verified exactly when it has no reason")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: ``verified``, ``reason`` (or null), ``detail``, ``signer``."""
        return {
            "verified": self.verified,
            "reason": None if self.reason is None else str(self.reason),
            "detail": self.detail,
            "signer": None if self.signer is None else self.signer.to_dict(),
        }

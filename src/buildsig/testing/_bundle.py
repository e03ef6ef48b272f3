"""The pieces of a Sigstore bundle as plain frozen dataclasses, and their protobuf-JSON form.

Tests assemble bundles from these parts and swap single parts (``dataclasses.replace``) to
build every tampered variant a verifier must reject. The JSON matches what Sigstore
clients write: camelCase keys, ``bytes`` as standard base64, 64-bit integers as strings.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, Literal

import rfc8785
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from buildsig.testing._keys import b64

BundleVersion = Literal["0.1", "0.2", "0.3"]

#: The media type written for each bundle version (0.3 uses the newer ``.v0.3+json`` form).
BUNDLE_MEDIA_TYPES: dict[str, str] = {
    "0.1": "application/vnd.dev.sigstore.bundle+json;version=0.1",
    "0.2": "application/vnd.dev.sigstore.bundle+json;version=0.2",
    "0.3": "application/vnd.dev.sigstore.bundle.v0.3+json",
}
#: The DSSE payload type of in-toto statements.
IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE pre-authentication encoding: ``"DSSEv1 <len> <type> <len> <payload>"``.

    DSSE signatures cover this encoding, never the raw payload, so a verifier that checks
    the payload alone accepts forged payload types.
    """
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


@dataclass(frozen=True)
class DsseEnvelope:
    """A DSSE envelope: the payload, its type and one or more raw signatures over the PAE."""

    payload: bytes
    payload_type: str
    signatures: tuple[bytes, ...]

    def pae(self) -> bytes:
        """The bytes the signatures cover."""
        return pae(self.payload_type, self.payload)

    def to_dict(self) -> dict[str, Any]:
        """The protobuf-JSON envelope (signatures without ``keyid``)."""
        return {
            "payload": b64(self.payload),
            "payloadType": self.payload_type,
            "signatures": [{"sig": b64(sig)} for sig in self.signatures],
        }

    def canonical_json(self) -> bytes:
        """RFC 8785 JSON of :meth:`to_dict`; Rekor's ``envelopeHash`` is its SHA-256."""
        return rfc8785.dumps(self.to_dict())


@dataclass(frozen=True)
class InclusionProof:
    """A Merkle inclusion proof and the signed checkpoint (note) that commits to its root."""

    log_index: int
    root_hash: bytes
    tree_size: int
    hashes: tuple[bytes, ...]
    checkpoint: str

    def to_dict(self) -> dict[str, Any]:
        """The protobuf-JSON ``InclusionProof``."""
        return {
            "logIndex": str(self.log_index),
            "rootHash": b64(self.root_hash),
            "treeSize": str(self.tree_size),
            "hashes": [b64(h) for h in self.hashes],
            "checkpoint": {"envelope": self.checkpoint},
        }


@dataclass(frozen=True)
class TlogEntry:
    """A transparency log entry as a bundle carries it (``TransparencyLogEntry``).

    Rekor v1 entries have ``integrated_time`` and a ``signed_entry_timestamp`` (SET);
    Rekor v2 entries have neither. ``log_index`` may differ from the proof's index (Rekor
    v1 shards), which verifiers must not confuse.
    """

    log_index: int
    log_id: bytes
    kind: str
    version: str
    canonicalized_body: bytes
    integrated_time: int | None = None
    signed_entry_timestamp: bytes | None = None
    inclusion_proof: InclusionProof | None = None

    def to_dict(self) -> dict[str, Any]:
        """The protobuf-JSON ``TransparencyLogEntry``, keys in the order clients write them."""
        out: dict[str, Any] = {
            "logIndex": str(self.log_index),
            "logId": {"keyId": b64(self.log_id)},
            "kindVersion": {"kind": self.kind, "version": self.version},
        }
        if self.integrated_time is not None:
            out["integratedTime"] = str(self.integrated_time)
        if self.signed_entry_timestamp is not None:
            out["inclusionPromise"] = {"signedEntryTimestamp": b64(self.signed_entry_timestamp)}
        if self.inclusion_proof is not None:
            out["inclusionProof"] = self.inclusion_proof.to_dict()
        out["canonicalizedBody"] = b64(self.canonicalized_body)
        return out

    def body(self) -> dict[str, Any]:
        """The canonicalized body, parsed."""
        parsed: dict[str, Any] = json.loads(self.canonicalized_body)
        return parsed


@dataclass(frozen=True)
class BundleParts:
    """Everything that goes into a Sigstore bundle; :meth:`to_json` assembles it.

    Exactly one of ``signature`` (a message signature over ``message_digest``) and
    ``dsse_envelope`` is normally set; ``certificate`` (keyless) or ``public_key_hint``
    (managed key) identifies the signer. Versions 0.1 and 0.2 put the certificate (plus
    ``chain``) in ``x509CertificateChain``; 0.3 uses ``certificate``. ``media_type``
    overrides the version's media type (e.g. to test unknown versions).
    """

    version: BundleVersion = "0.3"
    certificate: x509.Certificate | None = None
    chain: tuple[x509.Certificate, ...] = ()
    public_key_hint: str | None = None
    tlog_entries: tuple[TlogEntry, ...] = ()
    rfc3161_timestamps: tuple[bytes, ...] = ()
    message_digest: bytes | None = None
    signature: bytes | None = None
    dsse_envelope: DsseEnvelope | None = None
    media_type: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The bundle as protobuf-JSON-shaped dicts."""
        material: dict[str, Any] = {}
        if self.certificate is not None:
            if self.version == "0.3":
                material["certificate"] = {"rawBytes": _cert_b64(self.certificate)}
            else:
                material["x509CertificateChain"] = {
                    "certificates": [
                        {"rawBytes": _cert_b64(c)} for c in (self.certificate, *self.chain)
                    ]
                }
        elif self.public_key_hint is not None:
            material["publicKey"] = {"hint": self.public_key_hint}
        material["tlogEntries"] = [entry.to_dict() for entry in self.tlog_entries]
        if self.rfc3161_timestamps:
            material["timestampVerificationData"] = {
                "rfc3161Timestamps": [{"signedTimestamp": b64(t)} for t in self.rfc3161_timestamps]
            }
        if self.version not in BUNDLE_MEDIA_TYPES:
            raise ValueError(f"unknown bundle version {self.version!r}")
        out: dict[str, Any] = {
            "mediaType": self.media_type or BUNDLE_MEDIA_TYPES[self.version],
            "verificationMaterial": material,
        }
        if self.signature is not None:
            signature: dict[str, Any] = {}
            if self.message_digest is not None:
                signature["messageDigest"] = {
                    "algorithm": "SHA2_256",
                    "digest": b64(self.message_digest),
                }
            signature["signature"] = b64(self.signature)
            out["messageSignature"] = signature
        if self.dsse_envelope is not None:
            out["dsseEnvelope"] = self.dsse_envelope.to_dict()
        return out

    def to_json(self) -> bytes:
        """The bundle JSON (compact, UTF-8)."""
        return json.dumps(self.to_dict(), separators=(",", ":")).encode("utf-8")

    def replace_entry(self, index: int = 0, **changes: Any) -> BundleParts:
        """A copy with ``dataclasses.replace(tlog_entries[index], **changes)``."""
        entries = list(self.tlog_entries)
        entries[index] = dataclasses.replace(entries[index], **changes)
        return dataclasses.replace(self, tlog_entries=tuple(entries))

    def replace_proof(self, index: int = 0, **changes: Any) -> BundleParts:
        """A copy whose ``tlog_entries[index]`` inclusion proof has ``changes`` applied."""
        proof = self.tlog_entries[index].inclusion_proof
        if proof is None:
            raise ValueError("the entry has no inclusion proof")
        return self.replace_entry(index, inclusion_proof=dataclasses.replace(proof, **changes))


def _cert_b64(certificate: x509.Certificate) -> str:
    return b64(certificate.public_bytes(serialization.Encoding.DER))

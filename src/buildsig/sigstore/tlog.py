"""Transparency-log proofs: Merkle inclusion, signed checkpoints, SETs, entry bodies.

A log entry counts only if the log vouches for it: either an inclusion proof up to a tree
head the log signed (a checkpoint, the "signed note" format), or an inclusion promise (the
SET: the log's signature over the entry's body, index and integration time). Both are
checked here against keys from the trust root. The entry's body must then say the same as
the rest of the bundle (:func:`check_body`), or a valid log entry for *another* signature
could be replayed (CVE-2022-36056).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from buildsig.errors import VerificationError
from buildsig.sigstore.bundle import DSSEEnvelope, InclusionProof, TlogEntry
from buildsig.sigstore.trust import TransparencyLog, verify_signature

__all__ = [
    "check_body",
    "verify_checkpoint",
    "verify_inclusion",
    "verify_set",
]

_SIG_LINE = re.compile("\u2014 (\\S+) (\\S+)\n")


def _leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def _node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def verify_inclusion(body: bytes, proof: InclusionProof) -> None:
    """Check the audit path from ``body`` (the entry's leaf) to ``proof.root_hash``.

    RFC 9162 §2.1.3.2, with the index and size bounds checked first.
    """
    index, size = proof.log_index, proof.tree_size
    if not 0 <= index < size:
        raise VerificationError(f"inclusion proof index {index} is outside a tree of {size}")
    fn, sn = index, size - 1
    r = _leaf_hash(body)
    for p in proof.hashes:
        if len(p) != 32:
            raise VerificationError("inclusion proof hash is not 32 bytes")
        if sn == 0:
            raise VerificationError("inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = _node_hash(p, r)
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            r = _node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationError("inclusion proof is shorter than the tree is deep")
    if r != proof.root_hash:
        raise VerificationError("inclusion proof does not lead to the checkpointed root hash")


def verify_checkpoint(proof: InclusionProof, log: TransparencyLog) -> None:
    """Check the signed note: the log's signature over origin, size and root hash.

    The note must name the proof's tree size and root hash; a note can carry cosignatures
    by other parties, and the one whose key hint is the log's is the one checked.
    """
    text = proof.checkpoint
    if text.count("\n\n") != 1:
        raise VerificationError("checkpoint: malformed signed note (no single blank line)")
    note, _, sigblock = text.partition("\n\n")
    note += "\n"
    lines = note.rstrip("\n").split("\n")
    if len(lines) < 3 or not lines[0]:
        raise VerificationError("checkpoint: needs origin, tree size and root hash")
    if not lines[1].isdigit() or int(lines[1]) != proof.tree_size:
        raise VerificationError("checkpoint: tree size does not match the inclusion proof")
    try:
        root = base64.b64decode(lines[2], validate=True)
    except (binascii.Error, ValueError):
        raise VerificationError("checkpoint: root hash is not base64") from None
    if root != proof.root_hash:
        raise VerificationError("checkpoint: root hash does not match the inclusion proof")
    if not sigblock.endswith("\n"):
        raise VerificationError("checkpoint: signature block must end with a newline")
    hint = log.log_id[:4]
    for _name, sig in _SIG_LINE.findall(sigblock):
        try:
            raw = base64.b64decode(sig, validate=True)
        except (binascii.Error, ValueError):
            continue
        if len(raw) < 5 or raw[:4] != hint:
            continue
        try:
            verify_signature(log.key, raw[4:], note.encode(), key_details=log.key_details)
        except VerificationError:
            raise VerificationError("checkpoint: the log's signature does not verify") from None
        return
    raise VerificationError("checkpoint: no signature by the log")


def verify_set(entry: TlogEntry, log: TransparencyLog) -> None:
    """Check the inclusion promise: the log signed body, integrated time, log id and index."""
    if entry.signed_entry_timestamp is None or entry.integrated_time is None:
        raise VerificationError("log entry has no inclusion promise")
    canonical = json.dumps(
        {
            "body": entry.body_b64,
            "integratedTime": entry.integrated_time,
            "logID": entry.log_id.hex(),
            "logIndex": entry.log_index,
        },
        sort_keys=True,
        separators=(",", ":"),
    ).encode()  # RFC 8785 for this shape: ASCII strings and integers, sorted keys
    try:
        verify_signature(
            log.key, entry.signed_entry_timestamp, canonical, key_details=log.key_details
        )
    except VerificationError:
        raise VerificationError("log entry's signed entry timestamp does not verify") from None


# --- entry bodies --------------------------------------------------------------------------


def _json(body: bytes) -> Mapping[str, Any]:
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        raise VerificationError("log entry body is not JSON") from None
    if not isinstance(doc, Mapping):
        raise VerificationError("log entry body is not an object")
    return doc


def _get(doc: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(doc, Mapping) or key not in doc:
            raise VerificationError(f"log entry body has no {'.'.join(path)}")
        doc = doc[key]
    return doc


def _b64d(value: Any) -> bytes:
    if not isinstance(value, str):
        raise VerificationError("log entry body field is not a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise VerificationError("log entry body field is not base64") from None


def _b64d2(value: Any) -> bytes:
    """Rekor's intoto kind stores base64 of base64 text."""
    try:
        return _b64d(_b64d(value).decode("ascii"))
    except UnicodeDecodeError:
        raise VerificationError("log entry body field is not base64 text") from None


def _same_verifier(recorded: bytes, signer: x509.Certificate | Any) -> bool:
    """Whether the log's recorded verifier (PEM certificate or key) is our signer."""
    if isinstance(signer, x509.Certificate):
        # compare the PEM's DER with the certificate's (cheaper than parsing it)
        text = recorded.strip()
        if not (
            text.startswith(b"-----BEGIN CERTIFICATE-----")
            and text.endswith(b"-----END CERTIFICATE-----")
        ):
            return False
        try:
            der = base64.b64decode(b"".join(text.splitlines()[1:-1]), validate=True)
        except (binascii.Error, ValueError):
            return False
        return der == signer.public_bytes(serialization.Encoding.DER)
    # a key signer: the log may name the key itself, or a certificate for that very key
    # (a keyless cosign signature verified with a key the caller trusts)
    key: Any
    try:
        if recorded.lstrip().startswith(b"-----BEGIN CERTIFICATE-----"):
            key = x509.load_pem_x509_certificate(recorded).public_key()
        else:
            key = serialization.load_pem_public_key(recorded)
    except (ValueError, TypeError, UnsupportedAlgorithm, x509.InvalidVersion):
        return False
    return _same_key(key, signer)


def _same_key(key: Any, signer: Any) -> bool:
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    try:
        return bool(key.public_bytes(*spki) == signer.public_bytes(*spki))
    except (ValueError, TypeError):  # a key type with no SubjectPublicKeyInfo form
        return False


def _same_v2_verifier(verifier: Any, signer: x509.Certificate | Any) -> bool:
    if not isinstance(verifier, Mapping):
        return False
    if "x509Certificate" in verifier:
        raw = _b64d(_get(verifier, "x509Certificate", "rawBytes"))
        if isinstance(signer, x509.Certificate):
            return raw == signer.public_bytes(serialization.Encoding.DER)
        try:  # a key signer and a certificate for that key, as in _same_verifier
            return _same_key(x509.load_der_x509_certificate(raw).public_key(), signer)
        except (ValueError, UnsupportedAlgorithm, x509.InvalidVersion):
            return False
    if "publicKey" in verifier:
        if isinstance(signer, x509.Certificate):
            return False
        der = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        return bool(_b64d(_get(verifier, "publicKey", "rawBytes")) == signer.public_bytes(*der))
    return False


def check_body(
    entry: TlogEntry,
    *,
    signer: x509.Certificate | Any,
    signature: bytes | None = None,
    digest: bytes | None = None,
    envelope: DSSEEnvelope | None = None,
    pae_digest: bytes | None = None,
) -> None:
    """The log entry must record exactly this signature, signer and signed content.

    ``digest`` (sha256 of the artifact) and ``signature`` for message signatures;
    ``envelope`` for DSSE (``pae_digest`` is sha256 of its PAE, which Rekor v2 records).
    """
    doc = _json(entry.body)
    kind, version = entry.kind, entry.version
    if doc.get("kind") != kind or doc.get("apiVersion") != version:
        raise VerificationError("log entry body's kind does not match its kindVersion")
    spec = _get(doc, "spec")
    if kind == "hashedrekord" and version == "0.0.1":
        if envelope is not None:
            raise VerificationError("a DSSE bundle cannot use a hashedrekord 0.0.1 entry")
        if _get(spec, "data", "hash", "algorithm") != "sha256" or digest is None:
            raise VerificationError("log entry is not over a sha256 digest")
        if _get(spec, "data", "hash", "value") != digest.hex():
            raise VerificationError("log entry records a different artifact digest")
        if _b64d(_get(spec, "signature", "content")) != signature:
            raise VerificationError("log entry records a different signature")
        if not _same_verifier(_b64d(_get(spec, "signature", "publicKey", "content")), signer):
            raise VerificationError("log entry records a different certificate or key")
        return
    if kind == "hashedrekord" and version == "0.0.2":
        record = _get(spec, "hashedRekordV002")
        content = pae_digest if envelope is not None else digest
        if envelope is not None:
            if len(envelope.signatures) != 1:
                raise VerificationError("a Rekor v2 DSSE entry needs exactly one signature")
            signature = envelope.signatures[0]
        if _get(record, "data", "algorithm") != "SHA2_256" or content is None:
            raise VerificationError("log entry is not over a SHA2_256 digest")
        if _b64d(_get(record, "data", "digest")) != content:
            raise VerificationError("log entry records a different digest")
        if _b64d(_get(record, "signature", "content")) != signature:
            raise VerificationError("log entry records a different signature")
        if not _same_v2_verifier(_get(record, "signature", "verifier"), signer):
            raise VerificationError("log entry records a different certificate or key")
        return
    if envelope is None:
        raise VerificationError(f"a message signature cannot use a {kind} {version} entry")
    payload_hash = hashlib.sha256(envelope.payload).hexdigest()
    if kind == "dsse" and version == "0.0.1":
        if _get(spec, "payloadHash", "algorithm") != "sha256":
            raise VerificationError("log entry's payload hash is not sha256")
        if _get(spec, "payloadHash", "value") != payload_hash:
            raise VerificationError("log entry records a different payload")
        recorded = _get(spec, "signatures")
        if not isinstance(recorded, list) or len(recorded) != len(envelope.signatures):
            raise VerificationError("log entry records different signatures")
        for rec, sig in zip(recorded, envelope.signatures, strict=True):
            if _b64d(_get(rec, "signature")) != sig or not _same_verifier(
                _b64d(_get(rec, "verifier")), signer
            ):
                raise VerificationError("log entry records different signatures")
        return
    if kind == "intoto" and version == "0.0.2":
        content = _get(spec, "content")
        if _get(content, "payloadHash", "algorithm") != "sha256":
            raise VerificationError("log entry's payload hash is not sha256")
        if _get(content, "payloadHash", "value") != payload_hash:
            raise VerificationError("log entry records a different payload")
        recorded_env = _get(content, "envelope")
        if _get(recorded_env, "payloadType") != envelope.payload_type:
            raise VerificationError("log entry records a different payload type")
        if "payload" in recorded_env and _b64d2(recorded_env["payload"]) != envelope.payload:
            raise VerificationError("log entry records a different payload")
        recorded = _get(recorded_env, "signatures")
        if not isinstance(recorded, list) or len(recorded) != len(envelope.signatures):
            raise VerificationError("log entry records different signatures")
        for rec, sig in zip(recorded, envelope.signatures, strict=True):
            # the intoto kind double-encodes: base64 of the base64 text
            if _b64d2(_get(rec, "sig")) != sig or not _same_verifier(
                _b64d(_get(rec, "publicKey")), signer
            ):
                raise VerificationError("log entry records different signatures")
        return
    raise VerificationError(f"unsupported log entry kind {kind} {version}")

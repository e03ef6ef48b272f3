"""Simple signing: cosign's legacy image signatures and Docker's ``simplesigning-v1``.

A simple signature is a small JSON payload naming an image manifest digest, signed with
ECDSA; the signature, the Fulcio certificate and the Rekor entry travel as OCI layer
annotations. The Rekor evidence is only an inclusion *promise* (a SET), never a proof,
which is why sigstore-python refuses this material. buildsig turns the annotations into an
equivalent v0.1-shaped bundle and runs it through the same :class:`~buildsig.sigstore.Verifier`
steps as any bundle: chain at the integration time, SCT, SET by a trusted log, log entry
consistent with payload digest, signature and certificate.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from cryptography import x509

from buildsig.errors import InvalidDocumentError, VerificationError
from buildsig.sigstore.bundle import Bundle, MessageSignature, TlogEntry, _Reader, _tlog_entry
from buildsig.sigstore.trust import PublicKey
from buildsig.sigstore.verify import VerifiedBundle, Verifier

__all__ = [
    "ANNOTATION_BUNDLE",
    "ANNOTATION_CERTIFICATE",
    "ANNOTATION_CHAIN",
    "ANNOTATION_SIGNATURE",
    "ANNOTATION_TIMESTAMP",
    "COSIGN_SIGNATURE_TYPE",
    "SIMPLESIGNING_MEDIA_TYPE",
    "SimpleSigningPayload",
    "parse_payload",
    "verify_simple_signing",
]

SIMPLESIGNING_MEDIA_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"
COSIGN_SIGNATURE_TYPE = "cosign container image signature"
ANNOTATION_SIGNATURE = "dev.cosignproject.cosign/signature"
ANNOTATION_CERTIFICATE = "dev.sigstore.cosign/certificate"
ANNOTATION_CHAIN = "dev.sigstore.cosign/chain"
ANNOTATION_BUNDLE = "dev.sigstore.cosign/bundle"
ANNOTATION_TIMESTAMP = "dev.sigstore.cosign/rfc3161timestamp"
MAX_PAYLOAD_BYTES = 1024 * 1024


@dataclasses.dataclass(frozen=True, slots=True)
class SimpleSigningPayload:
    """The signed claim: "this manifest digest is the image at this reference"."""

    docker_reference: str
    manifest_digest: str
    type: str
    optional: Mapping[str, Any]


def parse_payload(payload: bytes) -> SimpleSigningPayload:
    """Parse the simple-signing JSON (InvalidDocumentError when it is not one)."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise InvalidDocumentError("simple-signing payload is too large", path="")
    try:
        doc = json.loads(payload)
    except (ValueError, RecursionError):
        raise InvalidDocumentError("simple-signing payload is not JSON", path="") from None
    r = _Reader("")
    critical = r.at("critical").obj(r.obj(doc).get("critical"))
    identity = r.at("critical.identity").obj(critical.get("identity"))
    image = r.at("critical.image").obj(critical.get("image"))
    optional = doc.get("optional") or {}
    return SimpleSigningPayload(
        docker_reference=r.at("critical.identity.docker-reference").string(
            identity.get("docker-reference", ""), allow_empty=True
        ),
        manifest_digest=r.at("critical.image.docker-manifest-digest").string(
            image.get("docker-manifest-digest")
        ),
        type=r.at("critical.type").string(critical.get("type")),
        optional=optional if isinstance(optional, Mapping) else {},
    )


def _b64(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidDocumentError(f"{what} is not base64", path=what) from None


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidDocumentError(f"{what} is not a number", path=what)
    try:
        number = int(value)
    except ValueError:
        raise InvalidDocumentError(f"{what} is not a number", path=what) from None
    if number < 0:
        raise InvalidDocumentError(f"{what} is negative", path=what)
    return number


def _rekor_entry(annotation: str) -> TlogEntry:
    """The Rekor evidence of the ``dev.sigstore.cosign/bundle`` annotation, either shape."""
    try:
        doc = json.loads(annotation)
    except (ValueError, RecursionError):
        raise InvalidDocumentError(
            f"{ANNOTATION_BUNDLE} is not JSON", path=ANNOTATION_BUNDLE
        ) from None
    if not isinstance(doc, Mapping):
        raise InvalidDocumentError(f"{ANNOTATION_BUNDLE} is not an object", path=ANNOTATION_BUNDLE)
    content = doc.get("content", doc)
    if isinstance(content, Mapping) and "verificationMaterial" in content:
        entries = (
            content["verificationMaterial"].get("tlogEntries")
            if isinstance(content["verificationMaterial"], Mapping)
            else None
        )
        if not isinstance(entries, list) or not entries:
            raise InvalidDocumentError("bundle annotation has no log entry", path=ANNOTATION_BUNDLE)
        return _tlog_entry(_Reader(ANNOTATION_BUNDLE), entries[0], "0.1")
    payload = doc.get("Payload")
    if not isinstance(payload, Mapping) or not isinstance(doc.get("SignedEntryTimestamp"), str):
        raise InvalidDocumentError(
            "bundle annotation needs SignedEntryTimestamp and Payload", path=ANNOTATION_BUNDLE
        )
    body_b64 = payload.get("body")
    log_id = payload.get("logID")
    if not isinstance(body_b64, str) or not isinstance(log_id, str):
        raise InvalidDocumentError(
            "bundle annotation needs Payload.body and logID", path=ANNOTATION_BUNDLE
        )
    try:
        log_id_bytes = bytes.fromhex(log_id)
    except ValueError:
        raise InvalidDocumentError("Payload.logID is not hex", path=ANNOTATION_BUNDLE) from None
    body = _b64(body_b64, "Payload.body")
    try:
        kind_doc = json.loads(body)
        kind, version = str(kind_doc["kind"]), str(kind_doc["apiVersion"])
    except (ValueError, KeyError, TypeError, RecursionError):
        raise InvalidDocumentError(
            "Payload.body is not a Rekor entry", path=ANNOTATION_BUNDLE
        ) from None
    return TlogEntry(
        log_index=_int(payload.get("logIndex"), "Payload.logIndex"),
        log_id=log_id_bytes,
        kind=kind,
        version=version,
        integrated_time=_int(payload.get("integratedTime"), "Payload.integratedTime"),
        signed_entry_timestamp=_b64(doc["SignedEntryTimestamp"], "SignedEntryTimestamp"),
        inclusion_proof=None,
        body=body,
        body_b64=body_b64,
    )


def _timestamp(annotation: str) -> bytes:
    try:
        doc = json.loads(annotation)
        value = doc["SignedRFC3161Timestamp"]
    except (ValueError, KeyError, TypeError, RecursionError):
        raise InvalidDocumentError(
            f"{ANNOTATION_TIMESTAMP} needs SignedRFC3161Timestamp", path=ANNOTATION_TIMESTAMP
        ) from None
    if not isinstance(value, str):
        raise InvalidDocumentError(
            "SignedRFC3161Timestamp is not a string", path=ANNOTATION_TIMESTAMP
        )
    return _b64(value, "SignedRFC3161Timestamp")


def simple_signing_bundle(payload: bytes, annotations: Mapping[str, str]) -> Bundle:
    """The annotations as a v0.1-shaped bundle over ``sha256(payload)``."""
    signature = annotations.get(ANNOTATION_SIGNATURE, "")
    if not signature:
        raise InvalidDocumentError(
            f"layer has no {ANNOTATION_SIGNATURE}", path=ANNOTATION_SIGNATURE
        )
    cert = None
    pem = annotations.get(ANNOTATION_CERTIFICATE, "")
    if pem:
        try:
            cert = x509.load_pem_x509_certificate(pem.encode())
        except (ValueError, x509.InvalidVersion):
            raise InvalidDocumentError(
                f"{ANNOTATION_CERTIFICATE} is not a PEM certificate", path=ANNOTATION_CERTIFICATE
            ) from None
    entries: tuple[TlogEntry, ...] = ()
    if annotations.get(ANNOTATION_BUNDLE):
        entries = (_rekor_entry(annotations[ANNOTATION_BUNDLE]),)
    timestamps: tuple[bytes, ...] = ()
    if annotations.get(ANNOTATION_TIMESTAMP):
        timestamps = (_timestamp(annotations[ANNOTATION_TIMESTAMP]),)
    return Bundle(
        media_type="application/vnd.dev.sigstore.bundle+json;version=0.1",
        version="0.1",
        certificate=cert,
        chain=(),
        public_key_hint=None if cert is not None else "",
        tlog_entries=entries,
        timestamps=timestamps,
        message_signature=MessageSignature(signature=_b64(signature, ANNOTATION_SIGNATURE)),
        dsse=None,
    )


def verify_simple_signing(
    verifier: Verifier,
    payload: bytes,
    annotations: Mapping[str, str],
    *,
    manifest_digest: str,
    key: PublicKey | None = None,
) -> tuple[SimpleSigningPayload, VerifiedBundle]:
    """Verify a simple signature over ``manifest_digest``.

    The payload must name ``manifest_digest`` and be of cosign's signature type; the
    signature, certificate (or ``key``) and Rekor SET come from ``annotations``. The
    verifier's thresholds decide how many log entries and timestamps are required.
    """
    parsed = parse_payload(payload)
    if parsed.manifest_digest != manifest_digest:
        raise VerificationError(
            f"simple signature is for {parsed.manifest_digest}, not {manifest_digest}"
        )
    if parsed.type != COSIGN_SIGNATURE_TYPE:
        raise VerificationError(f"simple signature has type {parsed.type!r}")
    bundle = simple_signing_bundle(payload, annotations)
    if bundle.certificate is None and key is None:
        raise VerificationError("simple signature has no certificate and no key was given")
    if bundle.certificate is not None and key is not None:
        bundle = dataclasses.replace(bundle, certificate=None)  # key-based trust wins
    return parsed, verifier.verify_artifact(bundle, payload, key=key)

"""Sigstore bundles (v0.1 to v0.3) parsed strictly into plain frozen objects.

A bundle is protobuf-JSON (``dev.sigstore.bundle.v1.Bundle``): camelCase keys, bytes as
base64, 64-bit integers as strings. Parsing checks shape only; nothing here says whether a
bundle is *valid*, that is :mod:`buildsig.sigstore.verify`'s job. What parsing does refuse
is anything a verifier should never have to reason about: unknown media types, missing or
doubled verification material, bad base64, negative indices, oversized input (8 MiB, as
Buildx caps bundle files). Every refusal is an :class:`~buildsig.errors.InvalidDocumentError`
with the JSON path of the offending field.

The version rules of the Sigstore bundle spec are applied here because they are about
shape: v0.1 needs an inclusion promise (SET) on each log entry, v0.2 and later need an
inclusion proof with a checkpoint.
"""

from __future__ import annotations

import binascii
import dataclasses
import json
import re
from collections.abc import Mapping
from typing import Any

from cryptography import x509

from buildsig.errors import InvalidDocumentError

__all__ = [
    "BUNDLE_MEDIA_TYPES",
    "Bundle",
    "DSSEEnvelope",
    "InclusionProof",
    "MessageSignature",
    "TlogEntry",
    "parse_bundle",
]

MAX_BUNDLE_BYTES = 8 * 1024 * 1024
MAX_TLOG_ENTRIES = 8
MAX_TIMESTAMPS = 32  # as sigstore-go and sigstore-python: more is a denial-of-service attempt
MAX_PROOF_HASHES = 64
#: A protobuf-JSON int64 as a string: ASCII digits and at most one sign (``str.isdigit``
#: would also take "²", and ``lstrip("-")`` "--5", both of which ``int()`` refuses).
_INT64_TEXT = re.compile(r"-?[0-9]{1,19}")

#: Media type → bundle version.
BUNDLE_MEDIA_TYPES = {
    "application/vnd.dev.sigstore.bundle+json;version=0.1": "0.1",
    "application/vnd.dev.sigstore.bundle+json;version=0.2": "0.2",
    "application/vnd.dev.sigstore.bundle+json;version=0.3": "0.3",
    "application/vnd.dev.sigstore.bundle.v0.3+json": "0.3",
}


@dataclasses.dataclass(frozen=True, slots=True)
class InclusionProof:
    """A Merkle audit path from the entry to a checkpointed tree head."""

    log_index: int
    root_hash: bytes
    tree_size: int
    hashes: tuple[bytes, ...]
    checkpoint: str  # the signed note, verbatim


@dataclasses.dataclass(frozen=True, slots=True)
class TlogEntry:
    """One transparency-log entry of a bundle."""

    log_index: int
    log_id: bytes
    kind: str
    version: str
    integrated_time: int | None  # seconds; absent on Rekor v2
    signed_entry_timestamp: bytes | None  # the inclusion promise (SET)
    inclusion_proof: InclusionProof | None
    body: bytes  # canonicalizedBody, decoded
    body_b64: str  # canonicalizedBody as sent (the SET signs this string)


@dataclasses.dataclass(frozen=True, slots=True)
class MessageSignature:
    """A signature over an artifact's digest (hashedrekord)."""

    signature: bytes
    digest_algorithm: str = ""  # e.g. SHA2_256; empty when the bundle omits the digest
    digest: bytes = b""


@dataclasses.dataclass(frozen=True, slots=True)
class DSSEEnvelope:
    """A DSSE envelope: a typed payload and its signatures."""

    payload_type: str
    payload: bytes
    signatures: tuple[bytes, ...]
    raw: Mapping[str, Any]  # the envelope object as sent (Rekor's intoto kind records it)

    def pae(self) -> bytes:
        """DSSE's pre-authentication encoding: what the signatures actually sign."""
        kind = self.payload_type.encode()
        return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(self.payload), self.payload)


@dataclasses.dataclass(frozen=True, slots=True)
class Bundle:
    """A parsed Sigstore bundle."""

    media_type: str
    version: str  # "0.1", "0.2" or "0.3"
    certificate: x509.Certificate | None
    chain: tuple[x509.Certificate, ...]  # further certificates a v0.1/v0.2 chain carried
    public_key_hint: str | None  # set for key-signed bundles
    tlog_entries: tuple[TlogEntry, ...]
    timestamps: tuple[bytes, ...]  # RFC 3161 responses, DER
    message_signature: MessageSignature | None
    dsse: DSSEEnvelope | None
    raw: bytes = dataclasses.field(repr=False, default=b"")

    @property
    def signature(self) -> bytes:
        """The signature bytes timestamps are taken over."""
        if self.message_signature is not None:
            return self.message_signature.signature
        return self.dsse.signatures[0] if self.dsse is not None else b""


class _DuplicateKey(Exception):
    """A JSON object named the same key twice."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object hook that refuses duplicate keys (as sigstore-go's protobuf parser does)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def parse_bundle(data: bytes | str | Mapping[str, Any]) -> Bundle:
    """Parse a bundle document (bytes, text or an already-decoded object)."""
    raw = b""
    if isinstance(data, str):
        data = data.encode()
    if isinstance(data, bytes):
        if len(data) > MAX_BUNDLE_BYTES:
            raise InvalidDocumentError(
                f"Sigstore bundle is larger than {MAX_BUNDLE_BYTES} bytes", path=""
            )
        raw = data
        try:
            doc = json.loads(data, object_pairs_hook=_unique_keys)
        except _DuplicateKey as exc:
            raise InvalidDocumentError(
                f"Sigstore bundle repeats the key {exc.args[0]!r}; which one counts would be "
                "a parser's guess",
                path="",
            ) from None
        except (ValueError, RecursionError) as exc:
            raise InvalidDocumentError(f"Sigstore bundle is not JSON: {exc}", path="") from None
    else:
        doc = data
    r = _Reader("")
    obj = r.obj(doc)
    media_type = r.at("mediaType").string(obj.get("mediaType"))
    version = BUNDLE_MEDIA_TYPES.get(media_type)
    if version is None:
        raise InvalidDocumentError(
            f"unsupported Sigstore bundle media type {media_type!r}", path="mediaType"
        )
    vm_r = r.at("verificationMaterial")
    vm = vm_r.obj(obj.get("verificationMaterial"))
    certificate, chain, hint = _material(vm_r, vm, version)
    entries = _tlog_entries(vm_r.at("tlogEntries"), vm.get("tlogEntries"), version)
    timestamps = _timestamps(
        vm_r.at("timestampVerificationData"), vm.get("timestampVerificationData")
    )
    message = dsse = None
    if "messageSignature" in obj and "dsseEnvelope" in obj:
        raise InvalidDocumentError("bundle has both messageSignature and dsseEnvelope", path="")
    if "messageSignature" in obj:
        message = _message(r.at("messageSignature"), obj["messageSignature"])
    elif "dsseEnvelope" in obj:
        dsse = _envelope(r.at("dsseEnvelope"), obj["dsseEnvelope"])
    else:
        raise InvalidDocumentError("bundle has neither messageSignature nor dsseEnvelope", path="")
    return Bundle(
        media_type=media_type,
        version=version,
        certificate=certificate,
        chain=chain,
        public_key_hint=hint,
        tlog_entries=entries,
        timestamps=timestamps,
        message_signature=message,
        dsse=dsse,
        raw=raw,
    )


# --- pieces -------------------------------------------------------------------------------


def _material(
    r: _Reader, vm: Mapping[str, Any], version: str
) -> tuple[x509.Certificate | None, tuple[x509.Certificate, ...], str | None]:
    kinds = [k for k in ("certificate", "x509CertificateChain", "publicKey") if k in vm]
    if len(kinds) != 1:
        raise InvalidDocumentError(
            "verificationMaterial needs exactly one of certificate, "
            "x509CertificateChain and publicKey",
            path=r.path,
        )
    kind = kinds[0]
    if kind == "publicKey":
        pk = r.at("publicKey").obj(vm["publicKey"])
        hint = pk.get("hint", "")
        return None, (), r.at("publicKey.hint").string(hint, allow_empty=True)
    if kind == "certificate":
        cr = r.at("certificate")
        return _cert(cr.at("rawBytes"), cr.obj(vm["certificate"]).get("rawBytes")), (), None
    cr = r.at("x509CertificateChain")
    certs = cr.obj(vm["x509CertificateChain"]).get("certificates")
    if not isinstance(certs, list) or not certs:
        raise InvalidDocumentError("certificate chain is empty", path=cr.path + ".certificates")
    if len(certs) > 10:
        raise InvalidDocumentError("certificate chain is too long", path=cr.path + ".certificates")
    parsed = [
        _cert(
            cr.at(f"certificates[{i}].rawBytes"), cr.at(f"certificates[{i}]").obj(c).get("rawBytes")
        )
        for i, c in enumerate(certs)
    ]
    for i, c in enumerate(parsed):
        if c.issuer == c.subject:
            raise InvalidDocumentError(
                "certificate chain contains a root (self-issued) certificate; "
                "roots come from the trust root, never from the bundle",
                path=f"{cr.path}.certificates[{i}]",
            )
    return parsed[0], tuple(parsed[1:]), None


def _cert(r: _Reader, value: Any) -> x509.Certificate:
    der = r.b64(value)
    try:
        return x509.load_der_x509_certificate(der)
    except (ValueError, x509.InvalidVersion) as exc:
        raise InvalidDocumentError(f"not an X.509 certificate: {exc}", path=r.path) from None


def _tlog_entries(r: _Reader, value: Any, version: str) -> tuple[TlogEntry, ...]:
    if not isinstance(value, list) or not value:
        raise InvalidDocumentError("bundle has no transparency log entry", path=r.path)
    if len(value) > MAX_TLOG_ENTRIES:
        raise InvalidDocumentError(f"more than {MAX_TLOG_ENTRIES} log entries", path=r.path)
    return tuple(_tlog_entry(r.at(f"[{i}]"), e, version) for i, e in enumerate(value))


def _tlog_entry(r: _Reader, value: Any, version: str) -> TlogEntry:
    e = r.obj(value)
    kv = r.at("kindVersion").obj(e.get("kindVersion"))
    promise = e.get("inclusionPromise")
    set_bytes = None
    if promise is not None:
        set_bytes = r.at("inclusionPromise.signedEntryTimestamp").b64(
            r.at("inclusionPromise").obj(promise).get("signedEntryTimestamp")
        )
    proof = None
    if e.get("inclusionProof") is not None:
        proof = _proof(r.at("inclusionProof"), e["inclusionProof"])
    if version == "0.1" and set_bytes is None:
        raise InvalidDocumentError(
            "a v0.1 bundle's log entry needs an inclusion promise", path=r.path
        )
    if version != "0.1" and proof is None:
        raise InvalidDocumentError(
            f"a v{version} bundle's log entry needs an inclusion proof",
            path=r.path + ".inclusionProof",
        )
    integrated = e.get("integratedTime")
    body_b64 = r.at("canonicalizedBody").string(e.get("canonicalizedBody"))
    return TlogEntry(
        log_index=r.at("logIndex").int64(e.get("logIndex")),
        log_id=r.at("logId.keyId").b64(r.at("logId").obj(e.get("logId")).get("keyId")),
        kind=r.at("kindVersion.kind").string(kv.get("kind")),
        version=r.at("kindVersion.version").string(kv.get("version")),
        integrated_time=(
            r.at("integratedTime").int64(integrated) if integrated not in (None, "0", 0) else None
        ),
        signed_entry_timestamp=set_bytes,
        inclusion_proof=proof,
        body=r.at("canonicalizedBody").b64(body_b64),
        body_b64=body_b64,
    )


def _proof(r: _Reader, value: Any) -> InclusionProof:
    p = r.obj(value)
    hashes = p.get("hashes", [])
    if not isinstance(hashes, list) or len(hashes) > MAX_PROOF_HASHES:
        raise InvalidDocumentError(
            "inclusion proof hashes must be a short list", path=r.path + ".hashes"
        )
    checkpoint = p.get("checkpoint")
    if not isinstance(checkpoint, Mapping):
        raise InvalidDocumentError("inclusion proof has no checkpoint", path=r.path + ".checkpoint")
    return InclusionProof(
        log_index=r.at("logIndex").int64(p.get("logIndex")),
        root_hash=r.at("rootHash").b64(p.get("rootHash")),
        tree_size=r.at("treeSize").int64(p.get("treeSize")),
        hashes=tuple(r.at(f"hashes[{i}]").b64(h) for i, h in enumerate(hashes)),
        checkpoint=r.at("checkpoint.envelope").string(checkpoint.get("envelope")),
    )


def _timestamps(r: _Reader, value: Any) -> tuple[bytes, ...]:
    if value is None:
        return ()
    tvd = r.obj(value)
    items = tvd.get("rfc3161Timestamps", [])
    if not isinstance(items, list):
        raise InvalidDocumentError("rfc3161Timestamps must be a list", path=r.path)
    if len(items) > MAX_TIMESTAMPS:
        raise InvalidDocumentError(
            f"too many signed timestamps: {len(items)} > {MAX_TIMESTAMPS}", path=r.path
        )
    out = tuple(
        r.at(f"rfc3161Timestamps[{i}].signedTimestamp").b64(
            r.at(f"rfc3161Timestamps[{i}]").obj(t).get("signedTimestamp")
        )
        for i, t in enumerate(items)
    )
    if len(set(out)) != len(out):
        raise InvalidDocumentError("duplicate signed timestamp", path=r.path)
    return out


def _message(r: _Reader, value: Any) -> MessageSignature:
    m = r.obj(value)
    signature = r.at("signature").b64(m.get("signature"))
    md = m.get("messageDigest")
    if md is None:
        return MessageSignature(signature=signature)
    mdr = r.at("messageDigest")
    mdo = mdr.obj(md)
    return MessageSignature(
        signature=signature,
        digest_algorithm=mdr.at("algorithm").string(mdo.get("algorithm")),
        digest=mdr.at("digest").b64(mdo.get("digest")),
    )


def _envelope(r: _Reader, value: Any) -> DSSEEnvelope:
    env = r.obj(value)
    sigs = env.get("signatures")
    if not isinstance(sigs, list) or not sigs:
        raise InvalidDocumentError("DSSE envelope has no signatures", path=r.path + ".signatures")
    if len(sigs) > 8:
        raise InvalidDocumentError(
            "DSSE envelope has too many signatures", path=r.path + ".signatures"
        )
    return DSSEEnvelope(
        payload_type=r.at("payloadType").string(env.get("payloadType")),
        payload=r.at("payload").b64(env.get("payload"), allow_empty=True),
        signatures=tuple(
            r.at(f"signatures[{i}].sig").b64(r.at(f"signatures[{i}]").obj(s).get("sig"))
            for i, s in enumerate(sigs)
        ),
        raw=env,
    )


class _Reader:
    """Typed access to decoded JSON that reports the path of whatever is wrong.

    The path is kept as a parent link and only spelled out when something fails: parsing
    a valid bundle must not pay for error messages it never prints.
    """

    __slots__ = ("_parent", "_sub")

    def __init__(self, sub: str, parent: _Reader | None = None) -> None:
        self._sub = sub
        self._parent = parent

    @property
    def path(self) -> str:
        parts: list[str] = []
        node: _Reader | None = self
        while node is not None:
            if node._sub:
                parts.append(node._sub)
            node = node._parent
        out = ""
        for part in reversed(parts):
            out = out + part if part.startswith("[") or not out else f"{out}.{part}"
        return out

    def at(self, sub: str) -> _Reader:
        return _Reader(sub, self)

    def fail(self, what: str) -> InvalidDocumentError:
        return InvalidDocumentError(what, path=self.path)

    def obj(self, value: Any) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail("expected an object")
        return value

    def string(self, value: Any, *, allow_empty: bool = False) -> str:
        if not isinstance(value, str) or (not value and not allow_empty):
            raise self.fail("expected a non-empty string")
        return value

    def b64(self, value: Any, *, allow_empty: bool = False) -> bytes:
        if value == "" and allow_empty:
            return b""
        text = self.string(value)
        if "-" in text or "_" in text:  # protobuf-JSON accepts the URL-safe alphabet too
            text = text.replace("-", "+").replace("_", "/")
        if len(text) % 4:  # … and missing padding
            text += "=" * (-len(text) % 4)
        try:
            return binascii.a2b_base64(text, strict_mode=True)
        except (binascii.Error, ValueError):
            raise self.fail("not valid base64") from None

    def int64(self, value: Any) -> int:
        if isinstance(value, bool):
            raise self.fail("expected an integer")
        if isinstance(value, int):
            number = value
        elif isinstance(value, str) and _INT64_TEXT.fullmatch(value):
            number = int(value)
        else:
            raise self.fail("expected an integer")
        if not 0 <= number < 2**63:
            raise self.fail(f"out of range: {number}")
        return number

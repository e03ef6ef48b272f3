"""The transparency-log side of the test Sigstore: Rekor v1/v2 logs and their entry bodies."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

import rfc8785
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from buildsig.testing import _keys as keys
from buildsig.testing._bundle import DsseEnvelope, InclusionProof, TlogEntry
from buildsig.testing._merkle import MerkleTree, leaf_hash
from buildsig.testing._pki import CA_AGE, DEFAULT_NOW, ValidFor, _log_entry

#: Who signed an entry: a Fulcio certificate (keyless) or a bare public key (managed key).
EntryVerifier = x509.Certificate | ec.EllipticCurvePublicKey
RekorVersion = Literal[1, 2]


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _pem(verifier: EntryVerifier) -> bytes:
    if isinstance(verifier, x509.Certificate):
        return verifier.public_bytes(serialization.Encoding.PEM)
    return keys.spki_pem(verifier)


def _v2_verifier(verifier: EntryVerifier) -> dict[str, Any]:
    if isinstance(verifier, x509.Certificate):
        public = verifier.public_key()
        if not isinstance(public, ec.EllipticCurvePublicKey):
            raise ValueError("only EC signing certificates are supported")
        return {
            "keyDetails": keys.key_details(public),
            "x509Certificate": {
                "rawBytes": keys.b64(verifier.public_bytes(serialization.Encoding.DER))
            },
        }
    return {
        "keyDetails": keys.key_details(verifier),
        "publicKey": {"rawBytes": keys.b64(keys.spki_der(verifier))},
    }


def hashedrekord_v001(*, digest: bytes, signature: bytes, verifier: EntryVerifier) -> bytes:
    """A Rekor v1 ``hashedrekord`` 0.0.1 body (RFC 8785 JSON).

    ``digest`` is the SHA-256 of the signed artifact; the verifier's PEM (certificate or
    public key) is base64-encoded in ``publicKey.content``, as Rekor stores it.
    """
    return rfc8785.dumps(
        {
            "apiVersion": "0.0.1",
            "kind": "hashedrekord",
            "spec": {
                "data": {"hash": {"algorithm": "sha256", "value": digest.hex()}},
                "signature": {
                    "content": keys.b64(signature),
                    "publicKey": {"content": keys.b64(_pem(verifier))},
                },
            },
        }
    )


def hashedrekord_v002(*, digest: bytes, signature: bytes, verifier: EntryVerifier) -> bytes:
    """A Rekor v2 ``hashedrekord`` 0.0.2 body (``spec.hashedRekordV002``).

    For a DSSE envelope on Rekor v2, pass ``digest = SHA-256(PAE)`` and the envelope
    signature (Rekor v2 spec section 6.1.4; what sigstore-python expects).
    """
    return rfc8785.dumps(
        {
            "apiVersion": "0.0.2",
            "kind": "hashedrekord",
            "spec": {
                "hashedRekordV002": {
                    "data": {"algorithm": "SHA2_256", "digest": keys.b64(digest)},
                    "signature": {
                        "content": keys.b64(signature),
                        "verifier": _v2_verifier(verifier),
                    },
                }
            },
        }
    )


def dsse_v001(envelope: DsseEnvelope, verifier: EntryVerifier) -> bytes:
    """A Rekor v1 ``dsse`` 0.0.1 body.

    ``envelopeHash`` is the SHA-256 of the envelope's RFC 8785 JSON (what clients submit),
    ``payloadHash`` the SHA-256 of the raw payload; each signature is listed with the
    base64 PEM of its verifier.
    """
    pem = keys.b64(_pem(verifier))
    return rfc8785.dumps(
        {
            "apiVersion": "0.0.1",
            "kind": "dsse",
            "spec": {
                "envelopeHash": {
                    "algorithm": "sha256",
                    "value": _sha256(envelope.canonical_json()).hex(),
                },
                "payloadHash": {"algorithm": "sha256", "value": _sha256(envelope.payload).hex()},
                "signatures": [
                    {"signature": keys.b64(sig), "verifier": pem} for sig in envelope.signatures
                ],
            },
        }
    )


def dsse_v002(envelope: DsseEnvelope, verifier: EntryVerifier) -> bytes:
    """A Rekor v2 ``dsse`` 0.0.2 body (``spec.dsseV002``: payload hash and signatures)."""
    v2 = _v2_verifier(verifier)
    return rfc8785.dumps(
        {
            "apiVersion": "0.0.2",
            "kind": "dsse",
            "spec": {
                "dsseV002": {
                    "payloadHash": {
                        "algorithm": "SHA2_256",
                        "digest": keys.b64(_sha256(envelope.payload)),
                    },
                    "signatures": [
                        {"content": keys.b64(sig), "verifier": v2} for sig in envelope.signatures
                    ],
                }
            },
        }
    )


def intoto_v002(envelope: DsseEnvelope, verifier: EntryVerifier) -> bytes:
    """A Rekor v1 ``intoto`` 0.0.2 body, the kind npm provenance and older cosign use.

    As Rekor stores it, ``payload`` and each ``sig`` are base64 of the base64 text (the
    envelope's own encoding, encoded again), ``publicKey`` is base64 PEM, ``hash`` is the
    SHA-256 of the submitted envelope JSON (here: its RFC 8785 form) and ``payloadHash``
    the SHA-256 of the decoded payload.
    """
    pem = keys.b64(_pem(verifier))

    def twice(data: bytes) -> str:
        return keys.b64(base64.b64encode(data))

    return rfc8785.dumps(
        {
            "apiVersion": "0.0.2",
            "kind": "intoto",
            "spec": {
                "content": {
                    "envelope": {
                        "payload": twice(envelope.payload),
                        "payloadType": envelope.payload_type,
                        "signatures": [
                            {"publicKey": pem, "sig": twice(sig)} for sig in envelope.signatures
                        ],
                    },
                    "hash": {
                        "algorithm": "sha256",
                        "value": _sha256(envelope.canonical_json()).hex(),
                    },
                    "payloadHash": {
                        "algorithm": "sha256",
                        "value": _sha256(envelope.payload).hex(),
                    },
                }
            },
        }
    )


class TestRekor:
    r"""An append-only Rekor log that returns entries with real proofs.

    Version 1 (ECDSA P-256 key) gives each entry an ``integratedTime`` and a signed entry
    timestamp (SET) over ``{"body", "integratedTime", "logID", "logIndex"}`` (RFC 8785).
    Version 2 (Ed25519 key) gives neither, so bundles need an RFC 3161 timestamp. Both give
    an RFC 6962 inclusion proof and a checkpoint, a signed note
    ``"<origin>\n<size>\n<b64 root>\n"`` signed as ``"— <name> <b64(key hint || sig)>"``
    with key hint = the first 4 bytes of the log ID. ``prefill`` unrelated leaves come
    first, so proofs are never trivially empty.
    """

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        *,
        seed: int = 0,
        version: RekorVersion = 1,
        now: datetime = DEFAULT_NOW,
        name: str | None = None,
        prefill: int = 5,
        index_offset: int = 0,
    ) -> None:
        self.version: RekorVersion = version
        self.now = now
        self.private_key: keys.LogPrivateKey
        if version == 1:
            self.name = name or "rekor.buildsig.test"
            self.private_key = keys.derive_ec_key(seed, f"rekor/v1/{self.name}", ec.SECP256R1())
            tree_id = keys.derive_int(seed, f"rekor/v1/{self.name}/tree", 63)
            #: The checkpoint origin line (v1: ``"<host> - <tree id>"``, v2: the host).
            self.origin = f"{self.name} - {tree_id}"
        elif version == 2:
            self.name = name or "log2026-1.rekor.buildsig.test"
            self.private_key = keys.derive_ed25519_key(seed, f"rekor/v2/{self.name}")
            self.origin = self.name
        else:
            raise ValueError(f"unknown Rekor version {version!r}")
        self.public_key: keys.PublicKey = self.private_key.public_key()
        #: The log ID: SHA-256 of the log key's SubjectPublicKeyInfo.
        self.log_id = keys.key_id(self.public_key)
        self.base_url = f"https://{self.name}"
        #: Added to tree indexes to form ``logIndex`` (Rekor v1's global index across shards).
        self.index_offset = index_offset
        #: The default validity window in :meth:`trusted_root_entry`.
        self.valid_for = ValidFor(start=now - CA_AGE)
        self._tree = MerkleTree()
        self._bodies: dict[int, bytes] = {}
        self._times: dict[int, int] = {}
        for i in range(prefill):
            self._tree.append(leaf_hash(f"buildsig.testing filler {seed} {i}".encode()))

    @property
    def size(self) -> int:
        """The current number of leaves."""
        return len(self._tree)

    def append(self, body: bytes) -> int:
        """Append ``body`` as a leaf; returns its tree index."""
        index = self._tree.append(leaf_hash(body))
        self._bodies[index] = body
        return index

    def root_hash(self, tree_size: int | None = None) -> bytes:
        """The Merkle root at ``tree_size`` (default: now)."""
        return self._tree.root(tree_size)

    def inclusion_proof(self, index: int, tree_size: int | None = None) -> list[bytes]:
        """The audit path of tree index ``index`` at ``tree_size`` (default: now)."""
        return self._tree.inclusion_proof(index, tree_size)

    def sign(self, data: bytes) -> bytes:
        """Sign ``data`` with the log key (ECDSA-SHA256 or Ed25519)."""
        return keys.sign_log(self.private_key, data)

    def checkpoint(
        self,
        tree_size: int | None = None,
        *,
        root_hash: bytes | None = None,
        origin: str | None = None,
        name: str | None = None,
        signer: keys.LogPrivateKey | None = None,
        key_hint: bytes | None = None,
        extra_lines: Sequence[str] = (),
    ) -> str:
        """A signed checkpoint for ``tree_size`` (default: now).

        Every part can be forged for negative tests: ``root_hash`` (a root the tree does not
        have), ``signer`` (another key; the hint then follows that key unless ``key_hint``
        is given), ``origin``/``name`` and ``extra_lines`` (e.g. ``"Timestamp: ..."``).
        """
        size = self.size if tree_size is None else tree_size
        root = self.root_hash(size) if root_hash is None else root_hash
        header = f"{origin or self.origin}\n{size}\n{keys.b64(root)}\n"
        header += "".join(f"{line}\n" for line in extra_lines)
        key = self.private_key if signer is None else signer
        hint = key_hint if key_hint is not None else keys.key_id(key.public_key())[:4]
        signature = keys.sign_log(key, header.encode("utf-8"))
        return f"{header}\n\u2014 {name or self.name} {keys.b64(hint + signature)}\n"

    def signed_entry_timestamp(
        self,
        *,
        body: bytes,
        integrated_time: int,
        log_index: int,
        signer: keys.LogPrivateKey | None = None,
    ) -> bytes:
        """The SET: a log signature over the RFC 8785 JSON of the entry's promise."""
        payload = rfc8785.dumps(
            {
                "body": keys.b64(body),
                "integratedTime": integrated_time,
                "logID": self.log_id.hex(),
                "logIndex": log_index,
            }
        )
        return keys.sign_log(self.private_key if signer is None else signer, payload)

    def add_entry(
        self,
        body: bytes,
        *,
        integrated_time: datetime | None = None,
        kind: str | None = None,
        version: str | None = None,
    ) -> TlogEntry:
        """Append ``body`` and return its bundle entry, proven at the new tree size.

        ``kind``/``version`` default to the body's own ``kind``/``apiVersion``. On a v1 log
        ``integrated_time`` defaults to ``now`` and is covered by a SET; on a v2 log it is
        left out unless given (and never gets a SET).
        """
        index = self.append(body)
        if integrated_time is not None or self.version == 1:
            moment = integrated_time if integrated_time is not None else self.now
            self._times[index] = int(moment.timestamp())
        return self.entry(index, kind=kind, version=version)

    def entry(
        self,
        index: int,
        *,
        tree_size: int | None = None,
        kind: str | None = None,
        version: str | None = None,
    ) -> TlogEntry:
        """The bundle entry for tree index ``index``, proven at ``tree_size`` (default: now)."""
        body = self._bodies[index]
        size = self.size if tree_size is None else tree_size
        parsed: dict[str, Any] = {}
        if kind is None or version is None:
            parsed = json.loads(body)
        log_index = self.index_offset + index
        integrated = self._times.get(index)
        set_ = None
        if integrated is not None and self.version == 1:
            set_ = self.signed_entry_timestamp(
                body=body, integrated_time=integrated, log_index=log_index
            )
        proof = InclusionProof(
            log_index=index,
            root_hash=self.root_hash(size),
            tree_size=size,
            hashes=tuple(self.inclusion_proof(index, size)),
            checkpoint=self.checkpoint(size),
        )
        return TlogEntry(
            log_index=log_index,
            log_id=self.log_id,
            kind=kind if kind is not None else str(parsed["kind"]),
            version=version if version is not None else str(parsed["apiVersion"]),
            canonicalized_body=body,
            integrated_time=integrated,
            signed_entry_timestamp=set_,
            inclusion_proof=proof,
        )

    def trusted_root_entry(self, valid_for: ValidFor | None = None) -> dict[str, Any]:
        """This log as a trusted-root ``tlogs`` entry."""
        return _log_entry(self.base_url, self.public_key, self.log_id, valid_for or self.valid_for)

"""A deterministic, offline Sigstore for tests: Fulcio, CT log, Rekor v1/v2 and a TSA.

Verifying Sigstore material properly means checking a dozen things (certificate chain and
validity, SCT, identity extensions, log inclusion proof, checkpoint, SET, timestamps,
signature, log-entry consistency). Real bundles are frozen in time and cannot be bent to
fail one check at a time; this module mints complete, valid material from a seed with no
network, and exposes every part so a test can break exactly one:

>>> from buildsig.testing import TestSigstore
>>> sig = TestSigstore(seed=0)
>>> bundle = sig.sign_artifact(b"hello")              # a v0.3 bundle, Rekor v1
>>> root = sig.trusted_root_json()                    # the matching trusted root
>>> parts = sig.sign_artifact_parts(b"hello")         # the same, as replaceable parts
>>> broken = parts.replace_proof(hashes=()).to_json() # e.g. a truncated inclusion proof

The same seed always yields the same keys, certificates, serials and times (and, where
OpenSSL supports RFC 6979, the same signatures), so trusted roots can be compared or
checked in. ``TestSigstore(seed=1)`` is an unrelated instance, for "signed by someone
else" tests. Validity windows start a year before ``now`` (2026-01-01 by default); the
trust-root keys are therefore already valid for verifiers that look at the wall clock.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from buildsig.testing import _keys as keys
from buildsig.testing._bundle import (
    BUNDLE_MEDIA_TYPES,
    IN_TOTO_PAYLOAD_TYPE,
    BundleParts,
    BundleVersion,
    DsseEnvelope,
    InclusionProof,
    TlogEntry,
    pae,
)
from buildsig.testing._pki import (
    DEFAULT_IDENTITY,
    DEFAULT_ISSUER,
    DEFAULT_NOW,
    FULCIO_OID_ARC,
    LEAF_KEY_USAGE,
    SCT_LIST_OID,
    SanKind,
    TestCTLog,
    TestFulcio,
    TestTSA,
    ValidFor,
    sct_list,
)
from buildsig.testing._rekor import (
    EntryVerifier,
    RekorVersion,
    TestRekor,
    dsse_v001,
    dsse_v002,
    hashedrekord_v001,
    hashedrekord_v002,
    intoto_v002,
)

__all__ = [
    "BUNDLE_MEDIA_TYPES",
    "DEFAULT_IDENTITY",
    "DEFAULT_ISSUER",
    "DEFAULT_NOW",
    "FULCIO_OID_ARC",
    "IN_TOTO_PAYLOAD_TYPE",
    "LEAF_KEY_USAGE",
    "SCT_LIST_OID",
    "SIMPLE_SIGNING_MEDIA_TYPE",
    "TRUSTED_ROOT_MEDIA_TYPE",
    "BundleParts",
    "BundleVersion",
    "DsseEntryKind",
    "DsseEnvelope",
    "EntryVerifier",
    "InclusionProof",
    "KeyedBundle",
    "RekorChoice",
    "RekorVersion",
    "SanKind",
    "Signer",
    "SimpleSigningSignature",
    "TestCTLog",
    "TestFulcio",
    "TestRekor",
    "TestSigstore",
    "TestTSA",
    "TlogEntry",
    "ValidFor",
    "dsse_v001",
    "dsse_v002",
    "hashedrekord_v001",
    "hashedrekord_v002",
    "intoto_v002",
    "legacy_bundle_annotation",
    "pae",
    "sct_list",
    "statement",
]

#: The trusted-root media type sigstore clients accept.
TRUSTED_ROOT_MEDIA_TYPE = "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
#: The OCI layer media type of cosign's legacy (tag-based) signatures.
SIMPLE_SIGNING_MEDIA_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"

#: Which log a ``sign_*`` method records the signature in (``None``: none).
RekorChoice = Literal["v1", "v2"] | None
#: The Rekor entry kind for DSSE bundles (see :meth:`TestSigstore.sign_dsse`).
DsseEntryKind = Literal["dsse", "intoto", "hashedrekord"]
#: The time between a certificate's issuance and its log entry / timestamp.
_LOG_DELAY = timedelta(seconds=1)


@dataclass(frozen=True)
class Signer:
    """A signing key and, for keyless signing, its Fulcio certificate.

    Pass one to the ``sign_*`` methods to sign with a certificate built by hand (expired,
    wrong EKU, no SCT...) or, with ``certificate=None``, as a managed key.
    """

    private_key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate | None = None

    @property
    def public_key(self) -> ec.EllipticCurvePublicKey:
        """The verification key."""
        return self.private_key.public_key()

    @property
    def public_key_pem(self) -> bytes:
        """The public key as PEM SubjectPublicKeyInfo (what ``cosign.pub`` files hold)."""
        return keys.spki_pem(self.public_key)

    @property
    def public_key_hint(self) -> str:
        """Base64 SHA-256 of the public key's DER, the bundle's ``publicKey.hint``."""
        return keys.b64(keys.key_id(self.public_key))

    @property
    def verifier(self) -> EntryVerifier:
        """What a log entry names as the verifier: the certificate, else the public key."""
        return self.certificate if self.certificate is not None else self.public_key

    def sign(self, data: bytes) -> bytes:
        """ECDSA-SHA256 over ``data`` (DER signature)."""
        return self.private_key.sign(data, keys.ecdsa(hashes.SHA256()))


@dataclass(frozen=True)
class KeyedBundle:
    """A managed-key bundle plus the key that signed it (see :meth:`TestSigstore.sign_with_key`)."""

    bundle: bytes
    parts: BundleParts
    private_key: ec.EllipticCurvePrivateKey
    public_key_pem: bytes


@dataclass(frozen=True)
class SimpleSigningSignature:
    """A cosign legacy (``sha256-<digest>.sig`` tag) signature layer.

    ``payload`` is the layer blob (the simple-signing JSON), ``annotations`` the layer
    annotations cosign writes. The SET in ``dev.sigstore.cosign/bundle`` is the only log
    evidence: these signatures carry no inclusion proof.
    """

    payload: bytes
    signature: bytes
    annotations: Mapping[str, str]
    certificate: x509.Certificate | None
    chain: tuple[x509.Certificate, ...]
    private_key: ec.EllipticCurvePrivateKey
    tlog_entry: TlogEntry | None

    @property
    def media_type(self) -> str:
        """The layer media type."""
        return SIMPLE_SIGNING_MEDIA_TYPE

    @property
    def layer_digest(self) -> str:
        """``sha256:<hex>`` of the payload: the layer digest (and the hashedrekord hash)."""
        return "sha256:" + hashlib.sha256(self.payload).hexdigest()

    @property
    def public_key_pem(self) -> bytes:
        """The signing public key as PEM (for key-based verification)."""
        return keys.spki_pem(self.private_key.public_key())

    def to_containers_signature(self) -> bytes:
        r"""The signature as containers/image stores it in ``dir:`` layouts (``signature-N``).

        That is ``b"\x00sigstore-json\n"`` followed by ``{"mimeType", "payload",
        "annotations"}`` JSON.
        """
        document = {
            "mimeType": SIMPLE_SIGNING_MEDIA_TYPE,
            "payload": keys.b64(self.payload),
            "annotations": dict(self.annotations),
        }
        return b"\x00sigstore-json\n" + json.dumps(document, separators=(",", ":")).encode()


def statement(
    *,
    subject_digest: str,
    predicate_type: str,
    predicate: Mapping[str, Any],
    subject_name: str = "artifact",
) -> bytes:
    """An in-toto Statement v1 (compact JSON) about one subject.

    ``subject_digest`` is ``"<alg>:<hex>"``, or bare hex taken as SHA-256.
    """
    algorithm, _, value = subject_digest.rpartition(":")
    document = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": subject_name, "digest": {algorithm or "sha256": value}}],
        "predicateType": predicate_type,
        "predicate": dict(predicate),
    }
    return json.dumps(document, separators=(",", ":")).encode("utf-8")


class TestSigstore:
    """A complete Sigstore instance: Fulcio, a CT log, Rekor v1 and v2, and a TSA.

    Components are public attributes and usable alone (:attr:`fulcio`, :attr:`ctlog`,
    :attr:`rekor` (v1), :attr:`rekor_v2`, :attr:`tsa`); the ``sign_*`` methods combine them
    into bundles, and :meth:`trusted_root` describes them. Each instance keeps counters
    (leaf keys, serials, log indexes), so a fixed sequence of calls on a fixed seed yields
    fixed bytes. ``now`` (default :data:`DEFAULT_NOW`) is the default signing time; CA
    certificates and trust-root windows start a year before it.
    """

    __test__ = False  # not a pytest test class

    def __init__(self, *, seed: int = 0, now: datetime | None = None) -> None:
        self.seed = seed
        self.now = now if now is not None else DEFAULT_NOW
        if self.now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        self.ctlog = TestCTLog(seed=seed, now=self.now)
        self.fulcio = TestFulcio(seed=seed, now=self.now, ctlog=self.ctlog)
        #: The Rekor v1 log (ECDSA P-256, SETs).
        self.rekor = TestRekor(seed=seed, version=1, now=self.now)
        #: The Rekor v2 log (Ed25519, no SETs; pair with :attr:`tsa`).
        self.rekor_v2 = TestRekor(seed=seed, version=2, now=self.now)
        self.tsa = TestTSA(seed=seed, now=self.now)
        self._keys_issued = 0

    # -- trust root --------------------------------------------------------------------

    def trusted_root(
        self,
        *,
        tlogs: Sequence[TestRekor] | None = None,
        certificate_authorities: Sequence[TestFulcio] | None = None,
        ctlogs: Sequence[TestCTLog] | None = None,
        timestamp_authorities: Sequence[TestTSA] | None = None,
        valid_for: Mapping[Any, ValidFor] | None = None,
    ) -> dict[str, Any]:
        """The trusted root (``trustedroot+json;version=0.1``) as a dict.

        Each section defaults to this instance's components; pass an empty sequence to omit
        a section or other instances' components to trust them too. ``valid_for`` maps a
        component to the window to publish instead of its default (``ValidFor(None)``
        drops it).
        """
        windows = valid_for or {}

        def entries(components: Sequence[Any]) -> list[dict[str, Any]]:
            return [c.trusted_root_entry(windows.get(c)) for c in components]

        return {
            "mediaType": TRUSTED_ROOT_MEDIA_TYPE,
            "tlogs": entries([self.rekor, self.rekor_v2] if tlogs is None else tlogs),
            "certificateAuthorities": entries(
                [self.fulcio] if certificate_authorities is None else certificate_authorities
            ),
            "ctlogs": entries([self.ctlog] if ctlogs is None else ctlogs),
            "timestampAuthorities": entries(
                [self.tsa] if timestamp_authorities is None else timestamp_authorities
            ),
        }

    def trusted_root_json(
        self,
        *,
        tlogs: Sequence[TestRekor] | None = None,
        certificate_authorities: Sequence[TestFulcio] | None = None,
        ctlogs: Sequence[TestCTLog] | None = None,
        timestamp_authorities: Sequence[TestTSA] | None = None,
        valid_for: Mapping[Any, ValidFor] | None = None,
    ) -> bytes:
        """:meth:`trusted_root` as indented JSON bytes, ready to write to a file."""
        root = self.trusted_root(
            tlogs=tlogs,
            certificate_authorities=certificate_authorities,
            ctlogs=ctlogs,
            timestamp_authorities=timestamp_authorities,
            valid_for=valid_for,
        )
        return json.dumps(root, indent=2).encode("utf-8") + b"\n"

    # -- signers -----------------------------------------------------------------------

    def new_key(self) -> ec.EllipticCurvePrivateKey:
        """A fresh P-256 signing key (deterministic: the instance's next key)."""
        self._keys_issued += 1
        return keys.derive_ec_key(self.seed, f"signer/{self._keys_issued}", ec.SECP256R1())

    def new_signer(
        self,
        *,
        identity: str = DEFAULT_IDENTITY,
        issuer: str | None = DEFAULT_ISSUER,
        san_kind: SanKind = "uri",
        extensions: Mapping[str, str | bytes | None] | None = None,
        when: datetime | None = None,
        lifetime: timedelta = timedelta(minutes=10),
    ) -> Signer:
        """A fresh key with a Fulcio certificate issued at ``when`` (default ``now``).

        For anything more unusual, call :meth:`TestFulcio.issue` and build a :class:`Signer`.
        """
        key = self.new_key()
        certificate = self.fulcio.issue(
            key.public_key(),
            identity=identity,
            issuer=issuer,
            san_kind=san_kind,
            extensions=extensions,
            not_before=when if when is not None else self.now,
            lifetime=lifetime,
        )
        return Signer(key, certificate)

    # -- message signatures --------------------------------------------------------------

    def sign_artifact_parts(
        self,
        data: bytes,
        *,
        identity: str = DEFAULT_IDENTITY,
        issuer: str | None = DEFAULT_ISSUER,
        extensions: Mapping[str, str | bytes | None] | None = None,
        san_kind: SanKind = "uri",
        bundle_version: BundleVersion = "0.3",
        rekor: RekorChoice = "v1",
        timestamp: bool | None = None,
        when: datetime | None = None,
        integrated_time: datetime | None = None,
        timestamp_time: datetime | None = None,
        signer: Signer | None = None,
    ) -> BundleParts:
        """The parts of a message-signature bundle over ``data`` (see :meth:`sign_artifact`)."""
        moment = when if when is not None else self.now
        if signer is None:
            signer = self.new_signer(
                identity=identity,
                issuer=issuer,
                san_kind=san_kind,
                extensions=extensions,
                when=moment,
            )
        digest = hashlib.sha256(data).digest()
        signature = signer.sign(data)
        entries: tuple[TlogEntry, ...] = ()
        if rekor == "v1":
            body = hashedrekord_v001(digest=digest, signature=signature, verifier=signer.verifier)
            entries = (self._log_v1(body, moment, integrated_time),)
        elif rekor == "v2":
            body = hashedrekord_v002(digest=digest, signature=signature, verifier=signer.verifier)
            entries = (self.rekor_v2.add_entry(body, integrated_time=integrated_time),)
        elif rekor is not None:
            raise ValueError(f"rekor must be 'v1', 'v2' or None, not {rekor!r}")
        return BundleParts(
            version=bundle_version,
            certificate=signer.certificate,
            public_key_hint=None if signer.certificate is not None else signer.public_key_hint,
            tlog_entries=entries,
            rfc3161_timestamps=self._timestamps(
                signature, rekor, timestamp, moment, timestamp_time
            ),
            message_digest=digest,
            signature=signature,
        )

    def sign_artifact(
        self,
        data: bytes,
        *,
        identity: str = DEFAULT_IDENTITY,
        issuer: str | None = DEFAULT_ISSUER,
        extensions: Mapping[str, str | bytes | None] | None = None,
        san_kind: SanKind = "uri",
        bundle_version: BundleVersion = "0.3",
        rekor: RekorChoice = "v1",
        timestamp: bool | None = None,
        when: datetime | None = None,
        integrated_time: datetime | None = None,
        timestamp_time: datetime | None = None,
        signer: Signer | None = None,
    ) -> bytes:
        """A Sigstore bundle (JSON) with a message signature over ``data``.

        A fresh key gets a ten-minute Fulcio certificate for ``identity``/``issuer`` at
        ``when`` (default ``now``); ``extensions`` adds Fulcio extensions (``".N"`` or dotted
        OID keys; ``.1`` to ``.6`` raw, others DER UTF8String; ``None`` removes). The signature
        goes to Rekor ``v1`` (hashedrekord 0.0.1, integrated one second later, with SET),
        ``v2`` (hashedrekord 0.0.2) or nowhere (``None``). ``timestamp`` adds an RFC 3161
        timestamp over the signature; by default only Rekor v2 bundles get one, since they
        need it. ``integrated_time``/``timestamp_time`` move those times (e.g. outside the
        certificate's validity). ``signer`` replaces the issued key and certificate (one
        without a certificate signs as a managed key); ``when`` still sets the log and
        timestamp times then, so a hand-made certificate can be made to miss them.
        """
        return self.sign_artifact_parts(
            data,
            identity=identity,
            issuer=issuer,
            extensions=extensions,
            san_kind=san_kind,
            bundle_version=bundle_version,
            rekor=rekor,
            timestamp=timestamp,
            when=when,
            integrated_time=integrated_time,
            timestamp_time=timestamp_time,
            signer=signer,
        ).to_json()

    def sign_with_key(
        self,
        data: bytes,
        *,
        key: ec.EllipticCurvePrivateKey | None = None,
        bundle_version: BundleVersion = "0.3",
        rekor: RekorChoice = "v1",
        timestamp: bool | None = None,
        when: datetime | None = None,
    ) -> KeyedBundle:
        """A managed-key bundle over ``data``: no certificate, ``publicKey.hint`` instead.

        The log entry names the public key (PEM). ``key`` defaults to a fresh P-256 key,
        returned with its PEM so the test can verify with it.
        """
        signer = Signer(key if key is not None else self.new_key())
        parts = self.sign_artifact_parts(
            data,
            bundle_version=bundle_version,
            rekor=rekor,
            timestamp=timestamp,
            when=when,
            signer=signer,
        )
        return KeyedBundle(
            bundle=parts.to_json(),
            parts=parts,
            private_key=signer.private_key,
            public_key_pem=signer.public_key_pem,
        )

    # -- DSSE ----------------------------------------------------------------------------

    def sign_dsse_parts(
        self,
        statement: bytes | Mapping[str, Any],
        *,
        payload_type: str = IN_TOTO_PAYLOAD_TYPE,
        entry_kind: DsseEntryKind | None = None,
        identity: str = DEFAULT_IDENTITY,
        issuer: str | None = DEFAULT_ISSUER,
        extensions: Mapping[str, str | bytes | None] | None = None,
        san_kind: SanKind = "uri",
        bundle_version: BundleVersion = "0.3",
        rekor: RekorChoice = "v1",
        timestamp: bool | None = None,
        when: datetime | None = None,
        integrated_time: datetime | None = None,
        timestamp_time: datetime | None = None,
        signer: Signer | None = None,
    ) -> BundleParts:
        """The parts of a DSSE bundle (see :meth:`sign_dsse`)."""
        moment = when if when is not None else self.now
        if signer is None:
            signer = self.new_signer(
                identity=identity,
                issuer=issuer,
                san_kind=san_kind,
                extensions=extensions,
                when=moment,
            )
        payload = (
            statement
            if isinstance(statement, bytes)
            else json.dumps(dict(statement), separators=(",", ":")).encode("utf-8")
        )
        signature = signer.sign(pae(payload_type, payload))
        envelope = DsseEnvelope(payload=payload, payload_type=payload_type, signatures=(signature,))
        entries: tuple[TlogEntry, ...] = ()
        if rekor == "v1":
            kind = entry_kind or "dsse"
            if kind == "dsse":
                body = dsse_v001(envelope, signer.verifier)
            elif kind == "intoto":
                body = intoto_v002(envelope, signer.verifier)
            else:
                raise ValueError(f"Rekor v1 DSSE entries are 'dsse' or 'intoto', not {kind!r}")
            entries = (self._log_v1(body, moment, integrated_time),)
        elif rekor == "v2":
            kind = entry_kind or "hashedrekord"
            if kind == "hashedrekord":
                digest = hashlib.sha256(envelope.pae()).digest()
                body = hashedrekord_v002(
                    digest=digest, signature=signature, verifier=signer.verifier
                )
            elif kind == "dsse":
                body = dsse_v002(envelope, signer.verifier)
            else:
                raise ValueError(
                    f"Rekor v2 DSSE entries are 'hashedrekord' or 'dsse', not {kind!r}"
                )
            entries = (self.rekor_v2.add_entry(body, integrated_time=integrated_time),)
        elif rekor is not None:
            raise ValueError(f"rekor must be 'v1', 'v2' or None, not {rekor!r}")
        return BundleParts(
            version=bundle_version,
            certificate=signer.certificate,
            public_key_hint=None if signer.certificate is not None else signer.public_key_hint,
            tlog_entries=entries,
            rfc3161_timestamps=self._timestamps(
                signature, rekor, timestamp, moment, timestamp_time
            ),
            dsse_envelope=envelope,
        )

    def sign_dsse(
        self,
        statement: bytes | Mapping[str, Any],
        *,
        payload_type: str = IN_TOTO_PAYLOAD_TYPE,
        entry_kind: DsseEntryKind | None = None,
        identity: str = DEFAULT_IDENTITY,
        issuer: str | None = DEFAULT_ISSUER,
        extensions: Mapping[str, str | bytes | None] | None = None,
        san_kind: SanKind = "uri",
        bundle_version: BundleVersion = "0.3",
        rekor: RekorChoice = "v1",
        timestamp: bool | None = None,
        when: datetime | None = None,
        integrated_time: datetime | None = None,
        timestamp_time: datetime | None = None,
        signer: Signer | None = None,
    ) -> bytes:
        """A Sigstore bundle (JSON) with a DSSE envelope around ``statement``.

        The signature covers the DSSE PAE. A mapping is serialized as compact JSON. The
        log entry kind is ``entry_kind``: on Rekor v1 ``"dsse"`` (dsse 0.0.1, default) or
        ``"intoto"`` (intoto 0.0.2); on Rekor v2 ``"hashedrekord"`` (0.0.2 over the PAE
        digest, default, as sigstore clients log DSSE on v2) or ``"dsse"`` (dsse 0.0.2).
        Other options are as for :meth:`sign_artifact`.
        """
        return self.sign_dsse_parts(
            statement,
            payload_type=payload_type,
            entry_kind=entry_kind,
            identity=identity,
            issuer=issuer,
            extensions=extensions,
            san_kind=san_kind,
            bundle_version=bundle_version,
            rekor=rekor,
            timestamp=timestamp,
            when=when,
            integrated_time=integrated_time,
            timestamp_time=timestamp_time,
            signer=signer,
        ).to_json()

    # -- cosign legacy -------------------------------------------------------------------

    def simple_signing(
        self,
        *,
        manifest_digest: str,
        docker_reference: str,
        optional: Mapping[str, Any] | None = None,
        key: ec.EllipticCurvePrivateKey | None = None,
        identity: str = DEFAULT_IDENTITY,
        issuer: str | None = DEFAULT_ISSUER,
        extensions: Mapping[str, str | bytes | None] | None = None,
        san_kind: SanKind = "uri",
        rekor: bool = True,
        when: datetime | None = None,
        integrated_time: datetime | None = None,
        signer: Signer | None = None,
    ) -> SimpleSigningSignature:
        """A cosign legacy container-image signature (simple signing payload + annotations).

        Keyless by default (certificate and chain annotations); with ``key`` a key-signed
        variant without certificate. With ``rekor`` the payload's hashedrekord 0.0.1 entry
        goes to Rekor v1 and its SET becomes the ``dev.sigstore.cosign/bundle`` annotation.
        """
        moment = when if when is not None else self.now
        if signer is None:
            if key is not None:
                signer = Signer(key)
            else:
                signer = self.new_signer(
                    identity=identity,
                    issuer=issuer,
                    san_kind=san_kind,
                    extensions=extensions,
                    when=moment,
                )
        document = {
            "critical": {
                "identity": {"docker-reference": docker_reference},
                "image": {"docker-manifest-digest": manifest_digest},
                "type": "cosign container image signature",
            },
            "optional": None if optional is None else dict(optional),
        }
        payload = json.dumps(document, separators=(",", ":")).encode("utf-8")
        signature = signer.sign(payload)
        annotations = {"dev.cosignproject.cosign/signature": keys.b64(signature)}
        chain: tuple[x509.Certificate, ...] = ()
        if signer.certificate is not None:
            chain = self.fulcio.chain
            annotations["dev.sigstore.cosign/certificate"] = _pem(signer.certificate)
            annotations["dev.sigstore.cosign/chain"] = "".join(_pem(c) for c in chain)
        entry = None
        if rekor:
            body = hashedrekord_v001(
                digest=hashlib.sha256(payload).digest(),
                signature=signature,
                verifier=signer.verifier,
            )
            entry = self._log_v1(body, moment, integrated_time)
            annotations["dev.sigstore.cosign/bundle"] = legacy_bundle_annotation(entry)
        return SimpleSigningSignature(
            payload=payload,
            signature=signature,
            annotations=annotations,
            certificate=signer.certificate,
            chain=chain,
            private_key=signer.private_key,
            tlog_entry=entry,
        )

    @staticmethod
    def statement(
        *,
        subject_digest: str,
        predicate_type: str,
        predicate: Mapping[str, Any],
        subject_name: str = "artifact",
    ) -> bytes:
        """An in-toto Statement v1; see the module-level :func:`statement`."""
        return statement(
            subject_digest=subject_digest,
            predicate_type=predicate_type,
            predicate=predicate,
            subject_name=subject_name,
        )

    # -- internals -----------------------------------------------------------------------

    def _log_v1(self, body: bytes, moment: datetime, integrated_time: datetime | None) -> TlogEntry:
        return self.rekor.add_entry(
            body,
            integrated_time=integrated_time if integrated_time is not None else moment + _LOG_DELAY,
        )

    def _timestamps(
        self,
        signature: bytes,
        rekor: RekorChoice,
        timestamp: bool | None,
        moment: datetime,
        timestamp_time: datetime | None,
    ) -> tuple[bytes, ...]:
        wanted = rekor == "v2" if timestamp is None else timestamp
        if not wanted:
            return ()
        gen_time = timestamp_time if timestamp_time is not None else moment + _LOG_DELAY
        return (self.tsa.timestamp(signature, gen_time=gen_time),)


def legacy_bundle_annotation(entry: TlogEntry) -> str:
    """The ``dev.sigstore.cosign/bundle`` annotation cosign writes for a Rekor v1 ``entry``.

    ``{"SignedEntryTimestamp": b64, "Payload": {"body", "integratedTime", "logIndex",
    "logID"}}``: the SET and exactly the fields it signs.
    """
    if entry.signed_entry_timestamp is None or entry.integrated_time is None:
        raise ValueError("the entry has no SET (is it from a Rekor v1 log?)")
    return json.dumps(
        {
            "SignedEntryTimestamp": keys.b64(entry.signed_entry_timestamp),
            "Payload": {
                "body": keys.b64(entry.canonicalized_body),
                "integratedTime": entry.integrated_time,
                "logIndex": entry.log_index,
                "logID": entry.log_id.hex(),
            },
        },
        separators=(",", ":"),
    )


def _pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")

"""Offline verification of Sigstore bundles, keyless or with a known key.

What a verified bundle means, step by step (the order matters: later steps trust what the
earlier ones established):

1. **Times.** Each RFC 3161 timestamp must come from a trusted timestamp authority and be
   over the bundle's signature; each Rekor v1 entry with an inclusion promise contributes
   its integration time. Verified times from at least ``timestamp_threshold`` distinct
   authorities (logs and TSAs) are required.
2. **Certificate** (keyless). The leaf must chain to a trusted Fulcio CA at every verified
   time, carry SCTs from at least ``sct_threshold`` distinct trusted CT logs, allow digital
   signatures for code signing, and satisfy the caller's :class:`Identity`. With a key
   instead, the key is the signer.
3. **Log.** Each entry must come from a trusted log whose key was valid then, with an
   inclusion proof to a checkpoint the log signed and/or a valid SET; entries in at least
   ``tlog_threshold`` distinct logs.

A threshold counts independent witnesses, as sigstore-go does: two SCTs, entries or
timestamps from the same CT log, transparency log or TSA are one witness, not two.
4. **Signature.** Over the artifact digest (message signatures) or the DSSE PAE.
5. **Consistency.** The log entry records exactly this signature, signer and content.

Compared with sigstore-python (used by the tests as an oracle and by the benchmarks as the
peer), this verifier also handles Rekor's ``intoto`` entries, key-signed bundles, v0.1
bundles that carry only an inclusion promise, and treats validity windows as closed
intervals; trust-root work (keys, stores, TSA verifiers) is done once per
:class:`Verifier`, not per bundle. See ``docs/design.md``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils
from cryptography.x509.oid import ExtendedKeyUsageOID

from buildsig.errors import InvalidInputError, VerificationError
from buildsig.model import SignerInfo
from buildsig.sigstore.bundle import Bundle, parse_bundle
from buildsig.sigstore.certificate import signer_info
from buildsig.sigstore.tlog import check_body, verify_checkpoint, verify_inclusion, verify_set
from buildsig.sigstore.trust import (
    CertificateAuthority,
    PublicKey,
    TransparencyLog,
    TrustRoot,
    load_public_key,
)
from buildsig.sigstore.tsa import TrustedTSA, parse_timestamp_response

__all__ = [
    "Identity",
    "VerifiedBundle",
    "VerifiedTime",
    "Verifier",
]

IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_CLOCK_SKEW = timedelta(minutes=5)


@dataclasses.dataclass(frozen=True, slots=True)
class VerifiedTime:
    """A time the bundle provably existed by: a log's integration time or a TSA token."""

    type: str  # "Tlog" or "TimestampAuthority", Buildx's names
    uri: str
    time: datetime


@dataclasses.dataclass(frozen=True, slots=True)
class Identity:
    """Who must have signed (keyless). Each set field must match; None matches anything.

    ``subject`` and ``issuer`` are compared exactly; the ``*_regex`` forms must match the
    whole value (``re.fullmatch``), since a partial match on an identity is a classic hole.
    """

    subject: str | None = None
    issuer: str | None = None
    subject_regex: str | None = None
    issuer_regex: str | None = None

    def check(self, signer: SignerInfo) -> None:
        """VerificationError unless ``signer`` is this identity."""
        checks = (
            ("subject", self.subject, self.subject_regex, signer.subject_alternative_name),
            ("issuer", self.issuer, self.issuer_regex, signer.issuer),
        )
        for what, exact, pattern, actual in checks:
            if exact is not None and actual != exact:
                raise VerificationError(f"certificate {what} is {actual!r}, expected {exact!r}")
            if pattern is not None and not re.fullmatch(pattern, actual):
                raise VerificationError(f"certificate {what} {actual!r} does not match {pattern!r}")


@dataclasses.dataclass(frozen=True, slots=True)
class VerifiedBundle:
    """What a successful verification established."""

    bundle: Bundle
    certificate: x509.Certificate | None  # None for key-signed bundles
    signer: SignerInfo | None
    timestamps: tuple[VerifiedTime, ...]
    payload_type: str = ""  # DSSE only
    payload: bytes = b""  # DSSE only

    def statement(self) -> Mapping[str, Any]:
        """The DSSE payload as an in-toto statement (VerificationError if it is not one)."""
        if self.payload_type != IN_TOTO_PAYLOAD_TYPE:
            raise VerificationError(f"payload type is {self.payload_type!r}, not in-toto")
        try:
            doc = json.loads(self.payload)
        except (ValueError, RecursionError):
            raise VerificationError("in-toto payload is not JSON") from None
        if not isinstance(doc, Mapping) or not isinstance(doc.get("subject"), list):
            raise VerificationError("in-toto payload is not a statement")
        if doc.get("_type") not in (
            "https://in-toto.io/Statement/v1",
            "https://in-toto.io/Statement/v0.1",
        ):
            raise VerificationError(f"unknown in-toto statement type {doc.get('_type')!r}")
        return doc

    @property
    def predicate_type(self) -> str:
        """The statement's predicate type ("" for message signatures)."""
        if not self.payload_type:
            return ""
        return str(self.statement().get("predicateType", ""))


def _parse_digest(digest: str) -> bytes:
    if not _DIGEST.fullmatch(digest):
        raise InvalidInputError(f"not a sha256 digest: {digest!r}")
    return bytes.fromhex(digest[7:])


def _as_bundle(bundle: Bundle | bytes | str | Mapping[str, Any]) -> Bundle:
    return bundle if isinstance(bundle, Bundle) else parse_bundle(bundle)


def _integrated(seconds: int) -> datetime:
    """A log's integration time (Unix seconds) as a datetime; VerificationError past 9999."""
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise VerificationError(f"log entry integration time {seconds} is not a date") from None


def _utc(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


class Verifier:
    """Verifies bundles against one trust root. Build once, reuse for many bundles.

    Thresholds default to Buildx's: one SCT, one transparency-log entry, one verified time;
    each counts distinct CT logs, transparency logs and timestamp authorities.
    ``certificate_cache`` leaf certificates keep their (time-independent) chain and SCT
    results, for bundles that share a certificate; 0 turns that off. A verifier is
    thread-safe.
    """

    def __init__(
        self,
        trust_root: TrustRoot | None = None,
        *,
        tlog_threshold: int = 1,
        timestamp_threshold: int = 1,
        sct_threshold: int = 1,
        now: datetime | None = None,
        certificate_cache: int = 1024,
    ) -> None:
        self.trust_root = trust_root if trust_root is not None else TrustRoot.production()
        self.tlog_threshold = tlog_threshold
        self.timestamp_threshold = timestamp_threshold
        self.sct_threshold = sct_threshold
        self._now = now
        self._tsas = [tsa for tsa in map(_trusted_tsa, self.trust_root.tsas) if tsa is not None]
        self._builder: Any = None
        self._issuer_key_hashes: dict[x509.Certificate, bytes] = {}  # CA certs: bounded
        # Leaf certificates whose chain signatures and SCTs already verified: one signing
        # run (``sigstore sign *.whl``, ``cosign sign --recursive``) puts one certificate on
        # many bundles. Only time-independent results are kept; validity at each bundle's
        # own times is always checked.
        self._cache_size = certificate_cache
        self._certs: OrderedDict[x509.Certificate, tuple[x509.Certificate, CertificateAuthority]]
        self._certs = OrderedDict()
        self._cache_lock = threading.Lock()

    # --- public ------------------------------------------------------------------------

    def verify_artifact(
        self,
        bundle: Bundle | bytes | str | Mapping[str, Any],
        artifact: bytes | str,
        *,
        identity: Identity | None = None,
        key: PublicKey | bytes | None = None,
    ) -> VerifiedBundle:
        """Verify a bundle over ``artifact``: its bytes, or its digest as ``sha256:<hex>``.

        Message-signature bundles must sign the artifact's digest; DSSE bundles must carry
        an in-toto statement naming that digest as a subject. ``key`` (a public key or its
        PEM) verifies a key-signed bundle; without it the bundle must be keyless.
        """
        b = _as_bundle(bundle)
        if isinstance(artifact, str):
            digest, data = _parse_digest(artifact), None
        else:
            digest, data = hashlib.sha256(artifact).digest(), artifact
        result = self._verify(b, identity=identity, key=key, digest=digest, data=data)
        if b.dsse is not None:
            _require_subject(result, digest)
        return result

    def verify_dsse(
        self,
        bundle: Bundle | bytes | str | Mapping[str, Any],
        *,
        identity: Identity | None = None,
        key: PublicKey | bytes | None = None,
    ) -> VerifiedBundle:
        """Verify a DSSE bundle on its own and return its payload (type not judged here)."""
        b = _as_bundle(bundle)
        if b.dsse is None:
            raise VerificationError("bundle has no DSSE envelope")
        return self._verify(b, identity=identity, key=key, digest=None, data=None)

    # --- the steps -----------------------------------------------------------------------

    def _verify(
        self,
        b: Bundle,
        *,
        identity: Identity | None,
        key: PublicKey | bytes | None,
        digest: bytes | None,
        data: bytes | None,
    ) -> VerifiedBundle:
        if isinstance(key, bytes):
            key = load_public_key(key, what="verification key")
        if b.certificate is None and key is None:
            raise VerificationError("bundle is signed with a key, and no key was given")
        if b.certificate is not None and key is not None:
            raise VerificationError("bundle carries a certificate; key verification does not apply")
        if b.dsse is not None and len(b.dsse.signatures) != 1:
            raise VerificationError("DSSE envelope must carry exactly one signature")

        # 1. times
        witnessed = self._tsa_times(b) + self._tlog_times(b)
        times = tuple(t for _, t in witnessed)
        witnesses = len({w for w, _ in witnessed})
        if witnesses < self.timestamp_threshold:
            raise VerificationError(
                f"{witnesses} verified timestamps (counting each log or TSA once), "
                f"at least {self.timestamp_threshold} required"
            )
        now = _utc(self._now) if self._now is not None else datetime.now(UTC)
        for t in times:
            if t.time > now + _CLOCK_SKEW:
                raise VerificationError(f"{t.type} time {t.time.isoformat()} is in the future")

        # 2. signer
        signer_key: PublicKey
        info: SignerInfo | None = None
        if b.certificate is not None:
            signer_key = self._check_certificate(b.certificate, times)
            info = signer_info(b.certificate)
            if identity is not None:
                identity.check(info)
        elif key is not None:
            signer_key = key
            if identity is not None:
                raise VerificationError("an identity cannot be checked on a key-signed bundle")

        # 3. log entries
        self._check_tlog(b, times)

        # 4. signature, 5. consistency
        signer: Any = b.certificate if b.certificate is not None else signer_key
        if b.message_signature is not None:
            if digest is None:
                raise VerificationError("a message-signature bundle needs the artifact")
            ms = b.message_signature
            if ms.digest and (ms.digest_algorithm != "SHA2_256" or ms.digest != digest):
                raise VerificationError("bundle's message digest does not match the artifact")
            _verify_message(signer_key, ms.signature, digest, data)
            for entry in b.tlog_entries:
                check_body(entry, signer=signer, signature=ms.signature, digest=digest)
            return VerifiedBundle(
                bundle=b, certificate=b.certificate, signer=info, timestamps=times
            )
        env = b.dsse
        if env is None:  # parse_bundle guarantees one of the two
            raise VerificationError("bundle has no signature")
        pae = env.pae()
        _verify_raw(signer_key, env.signatures[0], pae)
        pae_digest = hashlib.sha256(pae).digest()
        for entry in b.tlog_entries:
            check_body(entry, signer=signer, envelope=env, pae_digest=pae_digest)
        return VerifiedBundle(
            bundle=b,
            certificate=b.certificate,
            signer=info,
            timestamps=times,
            payload_type=env.payload_type,
            payload=env.payload,
        )

    def _tsa_times(self, b: Bundle) -> list[tuple[object, VerifiedTime]]:
        """Each verified timestamp, with the authority that vouches for it."""
        if not b.timestamps:
            return []
        if not self.trust_root.tsas:
            raise VerificationError("bundle has signed timestamps but the trust root has no TSA")
        out: list[tuple[object, VerifiedTime]] = []
        for i, raw in enumerate(b.timestamps):
            token = parse_timestamp_response(raw)
            why = "not from a trusted timestamp authority"
            for tsa in self._tsas:
                try:
                    when = tsa.verify(token, b.signature)
                except VerificationError as exc:
                    if tsa.issued(token):  # the right TSA, and still wrong: say why
                        why = str(exc)
                    continue
                authority = ("tsa", tsa.authority.uri or tsa.leaf_der)
                out.append((authority, VerifiedTime("TimestampAuthority", tsa.authority.uri, when)))
                break
            else:
                raise VerificationError(f"timestamp {i}: {why}")
        return out

    def _tlog_times(self, b: Bundle) -> list[tuple[object, VerifiedTime]]:
        """Each SET-signed integration time, with the log that vouches for it."""
        out: list[tuple[object, VerifiedTime]] = []
        for entry in b.tlog_entries:
            # an integration time counts only when the log signed it (the SET)
            if entry.integrated_time is not None and entry.signed_entry_timestamp is not None:
                log = self.trust_root.tlog(entry.log_id)
                when = _integrated(entry.integrated_time)
                time = VerifiedTime("Tlog", log.base_url if log else "", when)
                out.append((("tlog", entry.log_id), time))
        return out

    def _check_certificate(
        self, cert: x509.Certificate, times: Sequence[VerifiedTime]
    ) -> PublicKey:
        if not times:
            raise VerificationError("no verified time to validate the certificate at")
        with self._cache_lock:
            cached = self._certs.get(cert)
            if cached is not None:
                self._certs.move_to_end(cert)
        if cached is None:
            issuer, ca = self._validate_chain(cert, times[0].time)
            self._check_scts(cert, issuer)
            if self._cache_size > 0:
                with self._cache_lock:
                    self._certs[cert] = (issuer, ca)
                    while len(self._certs) > self._cache_size:
                        self._certs.popitem(last=False)
        else:
            issuer, ca = cached
        for t in times:
            for c in (cert, *ca.chain):
                if not c.not_valid_before_utc <= t.time <= c.not_valid_after_utc:
                    raise VerificationError(
                        f"certificate {c.subject.rfc4514_string() or '(leaf)'} was not valid at "
                        f"{t.type} time {t.time.isoformat()}"
                    )
            if not ca.valid_for.contains(t.time):
                raise VerificationError(f"CA {ca.uri} was not trusted at {t.time.isoformat()}")
        try:
            usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
            eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except x509.ExtensionNotFound as exc:
            raise VerificationError(f"signing certificate lacks {exc.oid._name}") from None
        if not usage.digital_signature:
            raise VerificationError("signing certificate does not allow digital signatures")
        if ExtendedKeyUsageOID.CODE_SIGNING not in eku:
            raise VerificationError("signing certificate is not for code signing")
        key = cert.public_key()
        if not isinstance(
            key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey
        ):
            raise VerificationError("signing certificate has an unsupported key type")
        return key

    def _validate_chain(
        self, cert: x509.Certificate, when: datetime
    ) -> tuple[x509.Certificate, CertificateAuthority]:
        from cryptography.x509.verification import VerificationError as X509Error

        try:
            store = self.trust_root.ca_store()
        except VerificationError:
            raise VerificationError(
                "trust root has no certificate authority to verify with"
            ) from None
        verifier = self._policy_builder(store).time(when).build_client_verifier()
        try:
            chain = verifier.verify(cert, []).chain
        except X509Error as exc:
            raise VerificationError(
                f"signing certificate does not chain to a trusted CA: {exc}"
            ) from None
        except x509.UnsupportedGeneralNameType as exc:  # older cryptography, otherName SANs
            raise VerificationError(
                f"this cryptography release cannot validate the certificate's names ({exc}); "
                "upgrade cryptography"
            ) from None
        issuer = chain[1]
        for ca in self.trust_root.certificate_authorities:
            if issuer in ca.chain:
                return issuer, ca
        raise VerificationError("signing certificate's issuer is not a trusted CA")  # unreachable

    def _policy_builder(self, store: Any) -> Any:
        """The chain-building policy, prepared once; only the time changes per bundle."""
        if self._builder is None:
            from cryptography.x509.verification import Criticality, ExtensionPolicy, PolicyBuilder

            # Fulcio leaves carry code-signing, not client-auth: relax only the EKU check
            # (it is enforced separately) and keep every other WebPKI extension rule.
            self._builder = (
                PolicyBuilder()
                .store(store)
                .extension_policies(
                    ca_policy=ExtensionPolicy.webpki_defaults_ca().may_be_present(
                        x509.ExtendedKeyUsage, Criticality.NON_CRITICAL, None
                    ),
                    ee_policy=ExtensionPolicy.webpki_defaults_ee().may_be_present(
                        x509.ExtendedKeyUsage, Criticality.NON_CRITICAL, None
                    ),
                )
            )
        return self._builder

    def _check_scts(self, cert: x509.Certificate, issuer: x509.Certificate) -> None:
        if self.sct_threshold <= 0:
            return
        try:
            scts = cert.extensions.get_extension_for_class(
                x509.PrecertificateSignedCertificateTimestamps
            ).value
        except x509.ExtensionNotFound:
            raise VerificationError("signing certificate has no embedded SCT") from None
        issuer_key_hash = self._issuer_key_hashes.get(issuer)
        if issuer_key_hash is None:
            issuer_key_hash = hashlib.sha256(
                issuer.public_key().public_bytes(
                    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
                )
            ).digest()
            self._issuer_key_hashes[issuer] = issuer_key_hash
        tbs = cert.tbs_precertificate_bytes
        good: set[bytes] = set()  # the CT logs that vouched: one witness each
        for sct in scts:
            log = self.trust_root.ctlog(sct.log_id)
            if log is None:
                continue
            when = _utc(sct.timestamp)
            millis = (when - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
            if not log.valid_for.contains(when):
                continue
            signed = b"".join(
                (
                    b"\x00\x00",  # v1, certificate_timestamp
                    millis.to_bytes(8, "big"),
                    b"\x00\x01",  # precert_entry
                    issuer_key_hash,
                    len(tbs).to_bytes(3, "big"),
                    tbs,
                    len(sct.extension_bytes).to_bytes(2, "big"),
                    sct.extension_bytes,
                )
            )
            try:
                _verify_sct_signature(log, sct, signed)
            except VerificationError:
                continue
            good.add(log.log_id)
        if len(good) < self.sct_threshold:
            raise VerificationError(
                f"{len(good)} valid SCTs (counting each CT log once), "
                f"at least {self.sct_threshold} required"
            )

    def _check_tlog(self, b: Bundle, times: Sequence[VerifiedTime]) -> None:
        good: set[bytes] = set()  # the logs with a verified entry: one witness each
        for i, entry in enumerate(b.tlog_entries):
            log = self.trust_root.tlog(entry.log_id)
            if log is None:
                raise VerificationError(
                    f"log entry {i} is from a log the trust root does not trust"
                )
            # the entry's own time counts only when its SET signs it; otherwise the TSA
            # times date it (an unsigned integratedTime could be set to any moment the
            # log's key was valid)
            moments = (
                [_integrated(entry.integrated_time)]
                if entry.integrated_time is not None and entry.signed_entry_timestamp is not None
                else [t.time for t in times if t.type == "TimestampAuthority"]
            )
            if not moments or not all(log.valid_for.contains(m) for m in moments):
                raise VerificationError(f"log entry {i}: the log's key was not valid at that time")
            if entry.inclusion_proof is not None:
                verify_inclusion(entry.body, entry.inclusion_proof)
                verify_checkpoint(entry.inclusion_proof, log)
            if entry.signed_entry_timestamp is not None:
                verify_set(entry, log)
            elif entry.inclusion_proof is None:
                raise VerificationError(f"log entry {i} has neither inclusion proof nor promise")
            good.add(log.log_id)
        if len(good) < self.tlog_threshold:
            raise VerificationError(
                f"{len(good)} verified log entries (counting each log once), "
                f"at least {self.tlog_threshold} required"
            )


def _trusted_tsa(authority: CertificateAuthority) -> TrustedTSA | None:
    """The TSA ready to check tokens, or None when its certificate cannot sign them."""
    try:
        return TrustedTSA(authority)
    except VerificationError:
        return None


def _verify_sct_signature(log: TransparencyLog, sct: Any, signed: bytes) -> None:
    from buildsig.sigstore.trust import verify_signature

    algorithm = sct.signature_hash_algorithm
    details = {"sha384": "SHA_384", "sha512": "SHA_512"}.get(getattr(algorithm, "name", ""), "")
    verify_signature(log.key, sct.signature, signed, key_details=details)


def _verify_message(key: PublicKey, signature: bytes, digest: bytes, data: bytes | None) -> None:
    """A signature over an artifact: ECDSA/RSA over its sha256, Ed25519 over the bytes."""
    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            if data is None:
                raise VerificationError("an Ed25519 message signature needs the artifact bytes")
            key.verify(signature, data)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
        else:
            key.verify(signature, digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
    except InvalidSignature:
        raise VerificationError("signature does not verify for the artifact") from None


def _verify_raw(key: PublicKey, signature: bytes, data: bytes) -> None:
    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, data)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            curve_hash = {"secp384r1": hashes.SHA384(), "secp521r1": hashes.SHA512()}
            key.verify(signature, data, ec.ECDSA(curve_hash.get(key.curve.name, hashes.SHA256())))
        else:
            key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise VerificationError("DSSE signature does not verify") from None


def _require_subject(result: VerifiedBundle, digest: bytes) -> None:
    statement = result.statement()
    want = digest.hex()
    for subject in statement["subject"]:
        if isinstance(subject, Mapping):
            digests = subject.get("digest")
            if isinstance(digests, Mapping) and digests.get("sha256") == want:
                return
    raise VerificationError(f"no in-toto subject has digest sha256:{want}")

"""The certificate side of the test Sigstore: Fulcio, its CT log, and the timestamp authority."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from buildsig.testing import _der as der
from buildsig.testing import _keys as keys
from buildsig.testing import _rfc3161 as rfc3161

#: 2026-01-01T00:00:00Z: the fixed "current time" of a test instance unless one is given.
DEFAULT_NOW = datetime(2026, 1, 1, tzinfo=UTC)
#: The default signing identity: a GitHub Actions workflow URI (a URI SAN).
DEFAULT_IDENTITY = "https://github.com/o/r/.github/workflows/w.yml@refs/heads/main"
#: The default OIDC issuer: GitHub Actions.
DEFAULT_ISSUER = "https://token.actions.githubusercontent.com"
#: Fulcio's certificate extension arc; ``.N`` keys in ``extensions`` are relative to it.
FULCIO_OID_ARC = "1.3.6.1.4.1.57264.1"
#: The OtherName type-id Fulcio uses for username identities.
OTHERNAME_OID = "1.3.6.1.4.1.57264.1.7"
#: The X.509 extension holding embedded SCTs (RFC 6962 section 3.3).
SCT_LIST_OID = "1.3.6.1.4.1.11129.2.4.2"
#: The key usage Fulcio gives leaf certificates: digitalSignature only.
LEAF_KEY_USAGE = x509.KeyUsage(
    digital_signature=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=False,
    crl_sign=False,
    encipher_only=False,
    decipher_only=False,
)
_CA_KEY_USAGE = x509.KeyUsage(
    digital_signature=False,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=True,
    crl_sign=True,
    encipher_only=False,
    decipher_only=False,
)
#: How long CA certificates and trust-root entries have been valid before ``now``.
CA_AGE = timedelta(days=365)
#: How long CA certificates stay valid after ``now``.
CA_REMAINING = timedelta(days=3650)

SanKind = Literal["uri", "email", "othername"]


def _rfc3339(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}"
    return text + "Z"


@dataclass(frozen=True)
class ValidFor:
    """A trusted-root validity window (``validFor``); either end may be left out.

    Verifiers must only trust a key or CA for times inside its window, so tests shift the
    window to put a signature outside it. ``ValidFor(None, None)`` drops ``validFor``
    entirely (a malformed root for CAs, an unbounded key for logs).
    """

    start: datetime | None
    end: datetime | None = None

    def to_dict(self) -> dict[str, str]:
        """The protobuf-JSON ``TimeRange``."""
        out: dict[str, str] = {}
        if self.start is not None:
            out["start"] = _rfc3339(self.start)
        if self.end is not None:
            out["end"] = _rfc3339(self.end)
        return out


def _with_valid_for(entry: dict[str, Any], valid_for: ValidFor) -> dict[str, Any]:
    window = valid_for.to_dict()
    if window:
        entry["validFor"] = window
    return entry


def _name(common_name: str, organization: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _ca_certificate(
    *,
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    serial: int,
    not_before: datetime,
    not_after: datetime,
    path_length: int | None,
    eku: Sequence[x509.ObjectIdentifier] = (),
) -> x509.Certificate:
    public = key.public_key()
    ski = x509.SubjectKeyIdentifier.from_public_key(public)
    aki = (
        x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key())
        if issuer is not None
        else x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject if issuer is not None else subject)
        .public_key(public)
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(_CA_KEY_USAGE, critical=True)
    )
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    builder = (
        builder.add_extension(
            x509.BasicConstraints(ca=True, path_length=path_length), critical=True
        )
        .add_extension(ski, critical=False)
        .add_extension(aki, critical=False)
    )
    return keys.sign_certificate(builder, issuer_key, hashes.SHA384())


class TestCTLog:
    """A certificate transparency log that issues SCTs for Fulcio precertificates.

    Verifiers must check the SCT embedded in a Fulcio certificate against the CT log keys
    of the trusted root; an SCT from a log they do not trust (another ``TestCTLog``) must
    be rejected.
    """

    __test__ = False  # not a pytest test class

    def __init__(self, *, seed: int = 0, now: datetime = DEFAULT_NOW, name: str = "ctfe") -> None:
        self.name = name
        self.private_key = keys.derive_ec_key(seed, f"ctlog/{name}", ec.SECP256R1())
        self.public_key = self.private_key.public_key()
        #: The RFC 6962 log ID (SHA-256 of the public key's SubjectPublicKeyInfo).
        self.log_id = keys.key_id(self.public_key)
        self.base_url = f"https://{name}.buildsig.test"
        #: The default validity window in :meth:`trusted_root_entry`.
        self.valid_for = ValidFor(start=now - CA_AGE)

    def sign_sct(
        self,
        *,
        tbs_precertificate: bytes,
        issuer_key_hash: bytes,
        timestamp: datetime,
        extensions: bytes = b"",
    ) -> bytes:
        """A TLS-encoded v1 SCT over a precertificate entry (RFC 6962 section 3.2).

        The signature covers ``version 0 || signature_type 0 || timestamp (ms) ||
        entry_type 1 || issuer_key_hash || uint24 TBS || uint16 extensions``.
        """
        if len(issuer_key_hash) != 32:
            raise ValueError("issuer_key_hash must be a SHA-256 digest")
        millis = int(timestamp.timestamp() * 1000)
        ext_len = len(extensions).to_bytes(2, "big")
        signed = (
            b"\x00\x00"
            + millis.to_bytes(8, "big")
            + (1).to_bytes(2, "big")
            + issuer_key_hash
            + len(tbs_precertificate).to_bytes(3, "big")
            + tbs_precertificate
            + ext_len
            + extensions
        )
        signature = self.private_key.sign(signed, keys.ecdsa(hashes.SHA256()))
        return (
            b"\x00"
            + self.log_id
            + millis.to_bytes(8, "big")
            + ext_len
            + extensions
            + b"\x04\x03"  # hash sha256(4), signature ecdsa(3)
            + len(signature).to_bytes(2, "big")
            + signature
        )

    def trusted_root_entry(self, valid_for: ValidFor | None = None) -> dict[str, Any]:
        """This log as a trusted-root ``ctlogs`` entry (``valid_for`` overrides the default)."""
        return _log_entry(self.base_url, self.public_key, self.log_id, valid_for or self.valid_for)


def sct_list(scts: Sequence[bytes]) -> bytes:
    """A TLS ``SignedCertificateTimestampList`` holding the serialized ``scts``."""
    body = b"".join(len(s).to_bytes(2, "big") + s for s in scts)
    return len(body).to_bytes(2, "big") + body


def _log_entry(
    base_url: str, public_key: keys.PublicKey, log_id: bytes, valid_for: ValidFor
) -> dict[str, Any]:
    return {
        "baseUrl": base_url,
        "hashAlgorithm": "SHA2_256",
        "publicKey": _with_valid_for(
            {
                "rawBytes": keys.b64(keys.spki_der(public_key)),
                "keyDetails": keys.key_details(public_key),
            },
            valid_for,
        ),
        "logId": {"keyId": keys.b64(log_id)},
    }


def _certificate_authority_entry(
    subject: x509.Name, uri: str, chain: Sequence[x509.Certificate], valid_for: ValidFor
) -> dict[str, Any]:
    names = {
        NameOID.ORGANIZATION_NAME: "organization",
        NameOID.COMMON_NAME: "commonName",
    }
    dn = {names[attr.oid]: str(attr.value) for attr in subject if attr.oid in names}
    return _with_valid_for(
        {
            "subject": dn,
            "uri": uri,
            "certChain": {
                "certificates": [
                    {"rawBytes": keys.b64(c.public_bytes(serialization.Encoding.DER))}
                    for c in chain
                ]
            },
        },
        valid_for,
    )


def _fulcio_extension_oid(key: str) -> x509.ObjectIdentifier:
    """The OID for an ``extensions`` key: ``".8"``/``"8"`` (Fulcio arc) or a dotted OID."""
    text = key.lstrip(".")
    if text.isdigit():
        return x509.ObjectIdentifier(f"{FULCIO_OID_ARC}.{text}")
    return x509.ObjectIdentifier(key)


def _fulcio_extension_value(oid: x509.ObjectIdentifier, value: str | bytes) -> bytes:
    """Encode an extension value the way Fulcio does.

    ``bytes`` are used verbatim. Strings under the Fulcio arc ``.1`` to ``.6`` are raw UTF-8
    (the deprecated encoding sigstore-python's ``Identity`` issuer check still reads);
    every other string is a DER UTF8String, as Fulcio writes ``.8`` onwards.
    """
    if isinstance(value, bytes):
        return value
    arc = oid.dotted_string
    if arc.startswith(FULCIO_OID_ARC + "."):
        last = int(arc[len(FULCIO_OID_ARC) + 1 :].split(".")[0])
        if 1 <= last <= 6:
            return value.encode("utf-8")
    return der.utf8_string(value)


class TestFulcio:
    """A Fulcio CA: a self-signed root, the ``sigstore-intermediate`` and short-lived leaves.

    Like the real instance, the root and intermediate are P-384 and named
    ``CN=sigstore,O=sigstore.dev`` and ``CN=sigstore-intermediate,O=sigstore.dev``; leaves
    are valid for ten minutes, carry the OIDC identity as a critical SAN, Fulcio's OID
    extensions, and an embedded SCT from :attr:`ctlog`. :meth:`issue` can break any of
    these so a verifier's certificate checks can be exercised one by one.
    """

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        *,
        seed: int = 0,
        now: datetime = DEFAULT_NOW,
        ctlog: TestCTLog | None = None,
        organization: str = "sigstore.dev",
    ) -> None:
        self.seed = seed
        self.now = now
        #: The CT log whose SCT :meth:`issue` embeds by default.
        self.ctlog = ctlog if ctlog is not None else TestCTLog(seed=seed, now=now)
        self.root_key = keys.derive_ec_key(seed, "fulcio/root", ec.SECP384R1())
        self.intermediate_key = keys.derive_ec_key(seed, "fulcio/intermediate", ec.SECP384R1())
        not_before, not_after = now - CA_AGE, now + CA_REMAINING
        self.root = _ca_certificate(
            subject=_name("sigstore", organization),
            key=self.root_key,
            issuer=None,
            issuer_key=self.root_key,
            serial=keys.derive_serial(seed, "fulcio/root"),
            not_before=not_before,
            not_after=not_after,
            path_length=None,
        )
        self.intermediate = _ca_certificate(
            subject=_name("sigstore-intermediate", organization),
            key=self.intermediate_key,
            issuer=self.root,
            issuer_key=self.root_key,
            serial=keys.derive_serial(seed, "fulcio/intermediate"),
            not_before=not_before,
            not_after=not_after,
            path_length=0,
            eku=(ExtendedKeyUsageOID.CODE_SIGNING,),
        )
        self.uri = "https://fulcio.buildsig.test"
        #: The default validity window in :meth:`trusted_root_entry`.
        self.valid_for = ValidFor(start=not_before)
        self._issued = 0

    @property
    def chain(self) -> tuple[x509.Certificate, x509.Certificate]:
        """``(intermediate, root)``: the trusted-root ``certChain`` order."""
        return (self.intermediate, self.root)

    def issue(
        self,
        public_key: ec.EllipticCurvePublicKey,
        *,
        identity: str = DEFAULT_IDENTITY,
        issuer: str | None = DEFAULT_ISSUER,
        san_kind: SanKind = "uri",
        extensions: Mapping[str, str | bytes | None] | None = None,
        not_before: datetime | None = None,
        lifetime: timedelta = timedelta(minutes=10),
        key_usage: x509.KeyUsage | None = LEAF_KEY_USAGE,
        extended_key_usage: Sequence[x509.ObjectIdentifier] | None = (
            ExtendedKeyUsageOID.CODE_SIGNING,
        ),
        basic_constraints: x509.BasicConstraints | None = None,
        sct: bool = True,
        ctlog: TestCTLog | None = None,
        sct_time: datetime | None = None,
        sct_extensions: bytes = b"",
        extra_extensions: Sequence[x509.Extension[x509.ExtensionType]] = (),
        serial: int | None = None,
    ) -> x509.Certificate:
        """A leaf certificate for ``public_key``, issued by the intermediate.

        ``issuer`` fills both the raw ``.1`` and the DER ``.8`` extensions (``None`` leaves
        both out); ``extensions`` adds or overrides Fulcio extensions by ``".N"`` or dotted
        OID, where a ``None`` value removes one. ``key_usage``/``extended_key_usage`` of
        ``None`` omit those extensions. ``sct=False`` issues a certificate without an SCT;
        ``ctlog`` picks the log that signs it (e.g. one the trusted root does not list).
        ``not_before`` defaults to the instance's ``now``.
        """
        start = not_before if not_before is not None else self.now
        self._issued += 1
        if serial is None:
            serial = keys.derive_serial(self.seed, f"fulcio/leaf/{self._issued}")
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(self.intermediate.subject)
            .public_key(public_key)
            .serial_number(serial)
            .not_valid_before(start)
            .not_valid_after(start + lifetime)
        )
        if key_usage is not None:
            builder = builder.add_extension(key_usage, critical=True)
        if extended_key_usage is not None:
            builder = builder.add_extension(
                x509.ExtendedKeyUsage(list(extended_key_usage)), critical=False
            )
        if basic_constraints is not None:
            builder = builder.add_extension(basic_constraints, critical=True)
        builder = builder.add_extension(
            x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False
        ).add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(self.intermediate_key.public_key()),
            critical=False,
        )
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_san(san_kind, identity)]), critical=True
        )
        for oid, value in _fulcio_extensions(issuer, extensions):
            builder = builder.add_extension(
                x509.UnrecognizedExtension(oid, _fulcio_extension_value(oid, value)), critical=False
            )
        for extension in extra_extensions:
            builder = builder.add_extension(extension.value, critical=extension.critical)
        if not sct:
            return keys.sign_certificate(builder, self.intermediate_key, hashes.SHA384())
        precert = keys.sign_certificate(builder, self.intermediate_key, hashes.SHA384())
        log = ctlog if ctlog is not None else self.ctlog
        signed = log.sign_sct(
            tbs_precertificate=precert.tbs_certificate_bytes,
            issuer_key_hash=keys.key_id(self.intermediate_key.public_key()),
            timestamp=sct_time if sct_time is not None else start,
            extensions=sct_extensions,
        )
        builder = builder.add_extension(
            x509.UnrecognizedExtension(
                x509.ObjectIdentifier(SCT_LIST_OID), der.octet_string(sct_list([signed]))
            ),
            critical=False,
        )
        certificate = keys.sign_certificate(builder, self.intermediate_key, hashes.SHA384())
        if certificate.tbs_precertificate_bytes != precert.tbs_certificate_bytes:
            raise AssertionError("precertificate TBS does not match the issued certificate")
        return certificate

    def trusted_root_entry(self, valid_for: ValidFor | None = None) -> dict[str, Any]:
        """This CA as a trusted-root ``certificateAuthorities`` entry."""
        return _certificate_authority_entry(
            self.root.subject, self.uri, self.chain, valid_for or self.valid_for
        )


def _san(kind: SanKind, identity: str) -> x509.GeneralName:
    if kind == "uri":
        return x509.UniformResourceIdentifier(identity)
    if kind == "email":
        return x509.RFC822Name(identity)
    if kind == "othername":
        return x509.OtherName(x509.ObjectIdentifier(OTHERNAME_OID), der.utf8_string(identity))
    raise ValueError(f"unknown SAN kind {kind!r}")


def _fulcio_extensions(
    issuer: str | None, extensions: Mapping[str, str | bytes | None] | None
) -> list[tuple[x509.ObjectIdentifier, str | bytes]]:
    merged: dict[x509.ObjectIdentifier, str | bytes | None] = {}
    if issuer is not None:
        merged[_fulcio_extension_oid(".1")] = issuer
        merged[_fulcio_extension_oid(".8")] = issuer
    for key, value in (extensions or {}).items():
        merged[_fulcio_extension_oid(key)] = value

    def order(oid: x509.ObjectIdentifier) -> tuple[int, ...]:
        return tuple(int(part) for part in oid.dotted_string.split("."))

    present: list[tuple[x509.ObjectIdentifier, str | bytes]] = []
    for oid in sorted(merged, key=order):
        value = merged[oid]
        if value is not None:
            present.append((oid, value))
    return present


class TestTSA:
    """An RFC 3161 timestamp authority: a self-signed root and a timestamping leaf.

    Rekor v2 entries carry no signed time, so a bundle proves when it was signed with a
    timestamp over its signature; verifiers must check the token's CMS signature, chain,
    ``timeStamping`` EKU, message imprint and the TSA's validity window.
    """

    __test__ = False  # not a pytest test class

    def __init__(
        self, *, seed: int = 0, now: datetime = DEFAULT_NOW, organization: str = "sigstore.dev"
    ) -> None:
        self.seed = seed
        self.now = now
        self.root_key = keys.derive_ec_key(seed, "tsa/root", ec.SECP384R1())
        self.signing_key = keys.derive_ec_key(seed, "tsa/leaf", ec.SECP384R1())
        not_before, not_after = now - CA_AGE, now + CA_REMAINING
        self.root = _ca_certificate(
            subject=_name("sigstore-tsa-selfsigned", organization),
            key=self.root_key,
            issuer=None,
            issuer_key=self.root_key,
            serial=keys.derive_serial(seed, "tsa/root"),
            not_before=not_before,
            not_after=not_after,
            path_length=0,
        )
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name("sigstore-tsa", organization))
            .issuer_name(self.root.subject)
            .public_key(self.signing_key.public_key())
            .serial_number(keys.derive_serial(seed, "tsa/leaf"))
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(LEAF_KEY_USAGE, critical=True)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self.signing_key.public_key()),
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.root_key.public_key()),
                critical=False,
            )
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True
            )
        )
        self.certificate = keys.sign_certificate(builder, self.root_key, hashes.SHA384())
        self.uri = "https://timestamp.buildsig.test/api/v1/timestamp"
        #: The default validity window in :meth:`trusted_root_entry`.
        self.valid_for = ValidFor(start=not_before)
        self._issued = 0

    @property
    def chain(self) -> tuple[x509.Certificate, x509.Certificate]:
        """``(signing certificate, root)``: the trusted-root ``certChain`` order."""
        return (self.certificate, self.root)

    def timestamp(
        self,
        message: bytes,
        *,
        gen_time: datetime | None = None,
        serial: int | None = None,
        nonce: int | None = None,
        policy: str = rfc3161.SIGSTORE_TSA_POLICY,
        embed_certificate: bool = True,
        accuracy_seconds: int | None = 1,
    ) -> bytes:
        """A DER TimeStampResp over SHA-256(``message``) (in a bundle: the signature bytes).

        ``gen_time`` defaults to the instance's ``now``; ``embed_certificate=False`` leaves the
        signing certificate out of the token so the verifier must take it from the root.
        """
        self._issued += 1
        if serial is None:
            serial = keys.derive_int(self.seed, f"tsa/serial/{self._issued}", 64)
        fields = rfc3161.TSTInfoFields(
            message_digest=hashlib.sha256(message).digest(),
            gen_time=gen_time if gen_time is not None else self.now,
            serial=serial,
            policy=policy,
            nonce=nonce,
            accuracy_seconds=accuracy_seconds,
            tsa_name=self.certificate.subject,
        )
        return rfc3161.encode_timestamp_response(
            fields,
            signer_certificate=self.certificate,
            signer_key=self.signing_key,
            embedded_certificates=[self.certificate] if embed_certificate else [],
        )

    def trusted_root_entry(self, valid_for: ValidFor | None = None) -> dict[str, Any]:
        """This TSA as a trusted-root ``timestampAuthorities`` entry."""
        return _certificate_authority_entry(
            self.root.subject, self.uri, self.chain, valid_for or self.valid_for
        )

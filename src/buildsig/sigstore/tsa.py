"""RFC 3161 timestamps, verified against a trusted timestamp authority's known key.

A timestamp token is a CMS ``SignedData`` whose content is a ``TSTInfo`` (the time, and
the hash of what was timestamped). Generic CMS verification (OpenSSL's ``PKCS7_verify``,
which ``rfc3161-client`` uses) rebuilds and re-verifies the TSA's certificate chain on
every call, which costs more than the rest of a bundle verification together. Here the
chain of each trusted TSA is checked once, when the trust root is loaded, and a token is
then checked against that TSA's leaf directly: the signer named in the token must be the
leaf, the signed attributes must bind the ``TSTInfo`` (content type and message digest),
the leaf's signature over them must verify, the leaf (and chain) must be valid at the
token's time, and the token's message imprint must be the hash of the bundle signature.
``rfc3161-client`` stays the oracle in the tests.

Only the DER the tokens use is read (definite lengths, bounded depth); anything else is
an error, never a guess.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from buildsig.errors import VerificationError
from buildsig.sigstore.trust import CertificateAuthority

__all__ = ["TimestampToken", "TrustedTSA", "parse_timestamp_response"]

_SIGNED_DATA = "1.2.840.113549.1.7.2"
_TST_INFO = "1.2.840.113549.1.9.16.1.4"
_ATTR_CONTENT_TYPE = "1.2.840.113549.1.9.3"
_ATTR_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
_HASHES = {
    "2.16.840.1.101.3.4.2.1": "sha256",
    "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512",
}
_SIGNATURE_HASHES: dict[str, tuple[str, hashes.HashAlgorithm]] = {
    "1.2.840.10045.4.3.2": ("ecdsa", hashes.SHA256()),
    "1.2.840.10045.4.3.3": ("ecdsa", hashes.SHA384()),
    "1.2.840.10045.4.3.4": ("ecdsa", hashes.SHA512()),
    "1.2.840.113549.1.1.11": ("rsa", hashes.SHA256()),
    "1.2.840.113549.1.1.12": ("rsa", hashes.SHA384()),
    "1.2.840.113549.1.1.13": ("rsa", hashes.SHA512()),
}
_MAX_DEPTH = 16


class _Bad(Exception):
    """Malformed DER (turned into a VerificationError by the caller)."""


@dataclasses.dataclass(frozen=True, slots=True)
class _TLV:
    tag: int
    data: bytes  # the whole buffer
    start: int  # first byte of the value
    end: int  # one past the value
    header: int  # first byte of the tag

    @property
    def value(self) -> bytes:
        return self.data[self.start : self.end]

    @property
    def encoded(self) -> bytes:
        return self.data[self.header : self.end]

    def children(self) -> list[_TLV]:
        out, pos = [], self.start
        while pos < self.end:
            child = _read(self.data, pos, self.end)
            out.append(child)
            pos = child.end
        return out


def _read(data: bytes, pos: int, limit: int) -> _TLV:
    if pos + 2 > limit:
        raise _Bad("truncated")
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise _Bad("multi-byte tags are not used here")
    length = data[pos + 1]
    start = pos + 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or start + count > limit:
            raise _Bad("bad length")
        length = int.from_bytes(data[start : start + count], "big")
        start += count
    end = start + length
    if end > limit:
        raise _Bad("value runs past its container")
    return _TLV(tag, data, start, end, pos)


def _oid(tlv: _TLV) -> str:
    if tlv.tag != 0x06 or not tlv.value:
        raise _Bad("expected an OID")
    v = tlv.value
    if v[-1] & 0x80:  # the last arc never ends (and a lone such byte has no arcs at all)
        raise _Bad("truncated OID")
    parts: list[int] = []
    n = 0
    for b in v:
        n = (n << 7) | (b & 0x7F)
        if n >= 1 << 64:  # no OID used here comes close; unbounded arcs only cost time
            raise _Bad("OID arc too large")
        if not b & 0x80:
            parts.append(n)
            n = 0
    first = min(parts[0] // 40, 2)
    return ".".join(str(p) for p in [first, parts[0] - 40 * first, *parts[1:]])


def _int(tlv: _TLV) -> int:
    if tlv.tag != 0x02 or not tlv.value:
        raise _Bad("expected an INTEGER")
    return int.from_bytes(tlv.value, "big", signed=True)


def _algorithm(tlv: _TLV, what: str) -> str:
    """The OID of an AlgorithmIdentifier (a SEQUENCE whose first element is the OID)."""
    fields = _expect(tlv, 0x30, what).children()
    if not fields:
        raise _Bad(f"empty {what}")
    return _oid(fields[0])


def _crl(tlv: _TLV) -> None:
    """Check that ``tlv`` is shaped like a CertificateList, not like a certificate.

    A TBSCertList opens with a version or an AlgorithmIdentifier; a v3 certificate's
    TBSCertificate opens with ``[0]``.
    """
    outer = _expect(tlv, 0x30, "CertificateList").children()
    tbs = _expect(outer[0], 0x30, "TBSCertList").children() if outer else []
    if not tbs or tbs[0].tag not in (0x02, 0x30):
        raise _Bad("crls holds something that is not a CRL")


def _expect(tlv: _TLV, tag: int, what: str) -> _TLV:
    if tlv.tag != tag:
        raise _Bad(f"expected {what}")
    return tlv


def _generalized_time(tlv: _TLV) -> datetime:
    text = _expect(tlv, 0x18, "GeneralizedTime").value.decode("ascii", "replace")
    if not text.endswith("Z") or len(text) < 15:
        raise _Bad("genTime must be UTC")
    base, frac = text[:14], text[14:-1]
    try:
        when = datetime.strptime(base, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        raise _Bad("bad genTime") from None
    if frac:
        if not frac.startswith(".") or not frac[1:].isdigit():
            raise _Bad("bad genTime fraction")
        when = when.replace(microsecond=int(frac[1:7].ljust(6, "0")))
    return when


@dataclasses.dataclass(frozen=True, slots=True)
class TimestampToken:
    """The parts of a granted RFC 3161 response a verifier needs."""

    gen_time: datetime
    imprint_algorithm: str  # sha256 / sha384 / sha512
    imprint: bytes
    signer_issuer: bytes | None  # DER Name of the signer's issuer (IssuerAndSerialNumber)
    signer_serial: int | None
    signer_key_id: bytes | None  # subjectKeyIdentifier form
    digest_algorithm: str
    signed_attrs: bytes  # DER, retagged as a SET: what the signature covers
    content_type: str
    message_digest: bytes
    signature_algorithm: str
    signature: bytes
    tst_info: bytes
    certificates: tuple[bytes, ...]


def parse_timestamp_response(der: bytes) -> TimestampToken:
    """Parse a TimeStampResp (VerificationError when it is not a granted, well-formed one)."""
    try:
        return _parse(der)
    except _Bad as exc:
        raise VerificationError(f"malformed RFC 3161 timestamp: {exc}") from None


def _parse(der: bytes) -> TimestampToken:
    resp = _expect(_read(der, 0, len(der)), 0x30, "TimeStampResp")
    if resp.end != len(der):
        raise _Bad("trailing bytes")
    parts = resp.children()
    if len(parts) != 2:
        raise _Bad("no timeStampToken")
    status = _expect(parts[0], 0x30, "PKIStatusInfo").children()
    if not status or _int(status[0]) != 0:
        raise _Bad("status is not granted")
    content_info = _expect(parts[1], 0x30, "ContentInfo").children()
    if len(content_info) != 2 or _oid(content_info[0]) != _SIGNED_DATA:
        raise _Bad("not SignedData")
    signed = _expect(content_info[1], 0xA0, "[0] content").children()
    if len(signed) != 1:
        raise _Bad("bad SignedData wrapper")
    fields = _expect(signed[0], 0x30, "SignedData").children()
    if len(fields) < 4:
        raise _Bad("short SignedData")
    # the version is not needed, but must be one; digestAlgorithms must list the signer's
    if _int(fields[0]) < 0:
        raise _Bad("negative SignedData version")
    listed = {
        _algorithm(a, "digestAlgorithm")
        for a in _expect(fields[1], 0x31, "digestAlgorithms").children()
    }
    encap = _expect(fields[2], 0x30, "EncapsulatedContentInfo").children()
    if len(encap) != 2 or _oid(encap[0]) != _TST_INFO:
        raise _Bad("content is not TSTInfo")
    wrapped = _expect(encap[1], 0xA0, "[0] eContent").children()
    if len(wrapped) != 1:
        raise _Bad("bad eContent")
    tst_info = _expect(wrapped[0], 0x04, "eContent OCTET STRING").value
    certificates: list[bytes] = []
    rest = fields[3:]
    if rest and rest[0].tag == 0xA0:
        certificates = [_expect(c, 0x30, "Certificate").encoded for c in rest[0].children()]
        rest = rest[1:]
    if rest and rest[0].tag == 0xA1:
        for crl in rest[0].children():  # unused, but a CRL (not, say, a certificate)
            _crl(crl)
        rest = rest[1:]
    if len(rest) != 1:
        raise _Bad("signerInfos missing")
    signer_infos = _expect(rest[0], 0x31, "SET OF SignerInfo").children()
    if len(signer_infos) != 1:
        raise _Bad(f"expected exactly one SignerInfo, got {len(signer_infos)}")
    si = _expect(signer_infos[0], 0x30, "SignerInfo").children()
    if len(si) < 5:
        raise _Bad("short SignerInfo")
    if _int(si[0]) < 0:
        raise _Bad("negative SignerInfo version")
    issuer = serial = key_id = None
    if si[1].tag == 0x30:
        sid = si[1].children()
        if len(sid) != 2:
            raise _Bad("bad IssuerAndSerialNumber")
        issuer, serial = _expect(sid[0], 0x30, "issuer Name").encoded, _int(sid[1])
    elif si[1].tag == 0x80:
        key_id = si[1].value
    else:
        raise _Bad("bad signer identifier")
    digest_oid = _algorithm(si[2], "digestAlgorithm")
    digest_alg = _HASHES.get(digest_oid)
    if digest_alg is None:
        raise _Bad("unsupported digest algorithm")
    if digest_oid not in listed:
        raise _Bad("the signer's digest algorithm is not in digestAlgorithms")
    attrs = _expect(si[3], 0xA0, "signedAttrs")
    content_type = ""
    message_digest = b""
    for attr in attrs.children():
        kv = _expect(attr, 0x30, "Attribute").children()
        if len(kv) != 2:
            raise _Bad("bad Attribute")
        values = _expect(kv[1], 0x31, "attribute values").children()
        name = _oid(kv[0])
        if name == _ATTR_CONTENT_TYPE:
            if content_type or len(values) != 1:
                raise _Bad("contentType attribute repeated")
            content_type = _oid(values[0])
        elif name == _ATTR_MESSAGE_DIGEST:
            if message_digest or len(values) != 1:
                raise _Bad("messageDigest attribute repeated")
            message_digest = _expect(values[0], 0x04, "messageDigest").value
    sig_alg = _algorithm(si[4], "signatureAlgorithm")
    if len(si) < 6:
        raise _Bad("no signature")
    signature = _expect(si[5], 0x04, "signature").value
    tst = _expect(_read(tst_info, 0, len(tst_info)), 0x30, "TSTInfo").children()
    if len(tst) < 5:
        raise _Bad("short TSTInfo")
    imprint = _expect(tst[2], 0x30, "MessageImprint").children()
    if len(imprint) != 2:
        raise _Bad("bad message imprint")
    imprint_alg = _HASHES.get(_algorithm(imprint[0], "hashAlgorithm"))
    if imprint_alg is None:
        raise _Bad("unsupported message imprint")
    return TimestampToken(
        gen_time=_generalized_time(tst[4]),
        imprint_algorithm=imprint_alg,
        imprint=_expect(imprint[1], 0x04, "hashedMessage").value,
        signer_issuer=issuer,
        signer_serial=serial,
        signer_key_id=key_id,
        digest_algorithm=digest_alg,
        signed_attrs=b"\x31" + attrs.encoded[1:],
        content_type=content_type,
        message_digest=message_digest,
        signature_algorithm=sig_alg,
        signature=signature,
        tst_info=tst_info,
        certificates=tuple(certificates),
    )


class TrustedTSA:
    """One trusted timestamp authority, its chain checked once (at construction)."""

    __slots__ = ("authority", "issuer_der", "key", "key_id", "leaf", "leaf_der")

    def __init__(self, authority: CertificateAuthority) -> None:
        self.authority = authority
        self.leaf = authority.chain[0]
        self.leaf_der = self.leaf.public_bytes(serialization.Encoding.DER)
        self.issuer_der = self.leaf.issuer.public_bytes()
        self.key = self.leaf.public_key()
        try:
            eku = self.leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
        except x509.ExtensionNotFound:
            eku = None
        self.key_id: bytes | None = None
        with contextlib.suppress(x509.ExtensionNotFound):
            self.key_id = self.leaf.extensions.get_extension_for_class(
                x509.SubjectKeyIdentifier
            ).value.digest
        if eku is None or not eku.critical or ExtendedKeyUsageOID.TIME_STAMPING not in eku.value:
            raise VerificationError(
                f"TSA {authority.uri}: leaf certificate lacks the critical timeStamping usage"
            )

    def issued(self, token: TimestampToken) -> bool:
        """Whether the token names this TSA's certificate as its signer."""
        if token.signer_issuer is not None:
            return (
                token.signer_issuer == self.issuer_der
                and token.signer_serial == self.leaf.serial_number
            )
        return token.signer_key_id is not None and token.signer_key_id == self.key_id

    def verify(self, token: TimestampToken, message: bytes) -> datetime:
        """The token's time, if this TSA issued it over ``message``; VerificationError if not."""
        if not self.issued(token):
            raise VerificationError("timestamp was not signed by this TSA")
        if token.certificates and self.leaf_der not in token.certificates:
            raise VerificationError("timestamp embeds a signing certificate other than the TSA's")
        if token.content_type != _TST_INFO:
            raise VerificationError("timestamp's signed content type is not TSTInfo")
        if hashlib.new(token.digest_algorithm, token.tst_info).digest() != token.message_digest:
            raise VerificationError("timestamp's signed digest does not match its TSTInfo")
        kind_hash = _SIGNATURE_HASHES.get(token.signature_algorithm)
        if kind_hash is None:
            raise VerificationError("timestamp uses an unsupported signature algorithm")
        kind, algorithm = kind_hash
        try:
            if kind == "ecdsa" and isinstance(self.key, ec.EllipticCurvePublicKey):
                self.key.verify(token.signature, token.signed_attrs, ec.ECDSA(algorithm))
            elif kind == "rsa" and isinstance(self.key, rsa.RSAPublicKey):
                self.key.verify(token.signature, token.signed_attrs, padding.PKCS1v15(), algorithm)
            else:
                raise VerificationError("timestamp signature does not fit the TSA's key type")
        except (InvalidSignature, UnsupportedAlgorithm):
            raise VerificationError("timestamp signature does not verify") from None
        if hashlib.new(token.imprint_algorithm, message).digest() != token.imprint:
            raise VerificationError("timestamp is over other data")
        when = token.gen_time
        for cert in self.authority.chain:
            if not cert.not_valid_before_utc <= when <= cert.not_valid_after_utc:
                raise VerificationError(f"TSA certificate was not valid at {when.isoformat()}")
        if not self.authority.valid_for.contains(when):
            raise VerificationError(f"TSA was not trusted at {when.isoformat()}")
        return when

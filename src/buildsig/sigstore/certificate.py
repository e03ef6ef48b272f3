"""Facts from a Fulcio signing certificate: who signed, from where, under which issuer.

Fulcio records the OIDC token's claims as X.509 extensions under 1.3.6.1.4.1.57264.1. The
first six (.1 to .6) hold the raw UTF-8 bytes; from .8 on each value is a DER UTF8String; .7
is not an extension but the type id of an ``otherName`` SAN. sigstore-python only exposes
these through pass/fail policy objects, so buildsig reads them itself and returns them as
:class:`~buildsig.model.SignerInfo`, the shape Buildx puts in ``input.image.signatures[].signer``.
"""

from __future__ import annotations

import warnings

from cryptography import x509
from cryptography.x509.oid import ObjectIdentifier

from buildsig.model import SignerInfo

__all__ = [
    "FULCIO_OID",
    "extension_value",
    "go_name_string",
    "signer_info",
    "subject_alternative_name",
]

FULCIO_OID = "1.3.6.1.4.1.57264.1"
_OTHERNAME_IDENTITY = ObjectIdentifier(FULCIO_OID + ".7")

#: SignerInfo field ← Fulcio OID arc number (all DER-encoded).
_FIELDS = {
    "build_signer_uri": 9,
    "build_signer_digest": 10,
    "runner_environment": 11,
    "source_repository_uri": 12,
    "source_repository_digest": 13,
    "source_repository_ref": 14,
    "source_repository_identifier": 15,
    "source_repository_owner_uri": 16,
    "source_repository_owner_identifier": 17,
    "build_config_uri": 18,
    "build_config_digest": 19,
    "build_trigger": 20,
    "run_invocation_uri": 21,
    "source_repository_visibility_at_signing": 22,
}


def _der_utf8(data: bytes) -> str | None:
    """The text of a DER UTF8String (tag 0x0C), or None when ``data`` is not one."""
    if len(data) < 2 or data[0] != 0x0C:
        return None
    length, offset = data[1], 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or len(data) < 2 + count:
            return None
        length = int.from_bytes(data[2 : 2 + count], "big")
        offset = 2 + count
    if offset + length != len(data):
        return None
    try:
        return data[offset:].decode("utf-8")
    except UnicodeDecodeError:
        return None


def extension_value(cert: x509.Certificate, number: int) -> str:
    """The value of Fulcio extension ``1.3.6.1.4.1.57264.1.<number>``, or "" when absent.

    .1 to .6 are raw strings; later ones are DER UTF8Strings (a value that is not valid DER
    is reported as absent rather than guessed at).
    """
    oid = ObjectIdentifier(f"{FULCIO_OID}.{number}")
    try:
        ext = cert.extensions.get_extension_for_oid(oid)
    except x509.ExtensionNotFound:
        return ""
    value = ext.value
    raw = value.value if isinstance(value, x509.UnrecognizedExtension) else b""
    if number <= 6:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return ""
    return _der_utf8(raw) or ""


def subject_alternative_name(cert: x509.Certificate) -> str:
    """The signer identity: first URI SAN, else first email, else Fulcio's otherName."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ""
    uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    if uris:
        return uris[0]
    emails = san.get_values_for_type(x509.RFC822Name)
    if emails:
        return emails[0]
    for other in san.get_values_for_type(x509.OtherName):
        if other.type_id == _OTHERNAME_IDENTITY:
            return _der_utf8(other.value) or ""
    return ""


#: Go's pkix.Name fields, in the order ``Name.ToRDNSequence`` emits them.
_GO_NAME_ORDER = (
    ("2.5.4.6", "C"),
    ("2.5.4.8", "ST"),
    ("2.5.4.7", "L"),
    ("2.5.4.9", "STREET"),
    ("2.5.4.17", "POSTALCODE"),
    ("2.5.4.10", "O"),
    ("2.5.4.11", "OU"),
    ("2.5.4.3", "CN"),
    ("2.5.4.5", "SERIALNUMBER"),
)


def _go_escape(value: str) -> str:
    out = []
    last = len(value) - 1
    for i, c in enumerate(value):
        if c in ',+"\\<>;' or (c == " " and i in (0, last)) or (c == "#" and i == 0):
            out.append("\\")
        out.append(c)
    return "".join(out)


_PRINTABLE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '()+,-./:=?")


def _go_marshal_string(value: str) -> bytes:
    """Go's ``asn1.Marshal`` of a string: PrintableString when it can be, else UTF8String."""
    data = value.encode()
    tag = 0x13 if set(value) <= _PRINTABLE else 0x0C
    n = len(data)
    length = (
        bytes([n])
        if n < 0x80
        else bytes([0x80 | ((n.bit_length() + 7) // 8)])
        + n.to_bytes((n.bit_length() + 7) // 8, "big")
    )
    return bytes([tag]) + length + data


def go_name_string(name: x509.Name) -> str:
    """A distinguished name exactly as Go's ``pkix.Name.String()`` prints it.

    Buildx compares ``certificateIssuer`` against Go's rendering, which does not follow
    the certificate's attribute order: the standard attributes come out in a fixed
    order (``SERIALNUMBER, CN, OU, O, POSTALCODE, STREET, L, ST, C``), values of one type
    joined with ``+``, and any other attribute first in the sequence (so last in the text).
    """
    values: dict[str, list[str]] = {}
    others: list[str] = []
    known = dict(_GO_NAME_ORDER)
    with warnings.catch_warnings():
        # cryptography warns about out-of-spec attributes (a 3-letter country, as in the
        # Sigstore scaffolding CA); Go prints them as they are, and so does this
        warnings.simplefilter("ignore", UserWarning)
        attributes = list(name)
    for attribute in attributes:
        oid = attribute.oid.dotted_string
        value = attribute.value if isinstance(attribute.value, str) else attribute.value.hex()
        if oid in known:
            values.setdefault(oid, []).append(value)
        else:  # Go prints other types as "#" + the hex of the value re-marshalled to DER
            others.append(f"{oid}=#{_go_marshal_string(value).hex()}")
    rdns = [[o] for o in others]
    for oid, short in _GO_NAME_ORDER:
        if oid in values:
            rdns.append([f"{short}={_go_escape(v)}" for v in values[oid]])
    return ",".join("+".join(rdn) for rdn in reversed(rdns))


def _issuer_dn(cert: x509.Certificate) -> str:
    """The issuer DN as Buildx reports it (Go's rendering, e.g. ``CN=…,O=…``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # see go_name_string
        issuer = cert.issuer
    return go_name_string(issuer)


def _fulcio_values(cert: x509.Certificate) -> dict[int, str]:
    """Every Fulcio extension of ``cert`` by arc number, decoded (one pass)."""
    out: dict[int, str] = {}
    prefix = FULCIO_OID + "."
    for ext in cert.extensions:
        dotted = ext.oid.dotted_string
        if not dotted.startswith(prefix) or not isinstance(ext.value, x509.UnrecognizedExtension):
            continue
        tail = dotted[len(prefix) :]
        if not tail.isdigit():
            continue
        number, raw = int(tail), ext.value.value
        if number <= 6:
            try:
                out[number] = raw.decode("utf-8")
            except UnicodeDecodeError:
                continue
        else:
            out[number] = _der_utf8(raw) or ""
    return out


def signer_info(cert: x509.Certificate) -> SignerInfo:
    """Everything Buildx reports about a signing certificate."""
    values = _fulcio_values(cert)
    return SignerInfo(
        certificate_issuer=_issuer_dn(cert),
        subject_alternative_name=subject_alternative_name(cert),
        issuer=values.get(8) or values.get(1, ""),
        **{field: values.get(number, "") for field, number in _FIELDS.items()},
    )

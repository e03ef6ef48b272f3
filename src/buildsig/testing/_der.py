"""A minimal DER encoder: just enough ASN.1 to write RFC 3161 responses and a few extensions.

``cryptography`` builds certificates but not CMS ``SignedData`` with a TSTInfo inside, so the
test TSA writes those bytes itself. Every function returns one complete DER element (tag,
length, contents); composing them is plain byte concatenation. Only definite-length DER is
produced, and ``SET OF`` contents are sorted as DER requires, so signatures over signed
attributes verify the same way OpenSSL re-encodes them.
"""

from __future__ import annotations

from datetime import UTC, datetime

# Universal tags (X.690 section 8), with the constructed bit already set where it applies.
BOOLEAN = 0x01
INTEGER = 0x02
BIT_STRING = 0x03
OCTET_STRING = 0x04
NULL = 0x05
OBJECT_IDENTIFIER = 0x06
UTF8_STRING = 0x0C
PRINTABLE_STRING = 0x13
UTC_TIME = 0x17
GENERALIZED_TIME = 0x18
SEQUENCE = 0x30
SET = 0x31


def length(n: int) -> bytes:
    """The DER length octets for a contents length of ``n`` bytes."""
    if n < 0:
        raise ValueError("negative length")
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def tlv(tag: int, contents: bytes) -> bytes:
    """One element: a single-byte ``tag``, the DER length and ``contents``."""
    if not 0 <= tag <= 0xFF or tag & 0x1F == 0x1F:
        raise ValueError(f"only single-byte tags are supported, got {tag:#x}")
    return bytes([tag]) + length(len(contents)) + contents


def integer(value: int) -> bytes:
    """An INTEGER in minimal two's-complement form."""
    if value == 0:
        return tlv(INTEGER, b"\x00")
    size = (value.bit_length() + 8) // 8  # one spare bit for the sign
    body = value.to_bytes(size, "big", signed=True)
    # Drop redundant leading octets (DER forbids them).
    while len(body) > 1 and (
        (body[0] == 0x00 and body[1] < 0x80) or (body[0] == 0xFF and body[1] >= 0x80)
    ):
        body = body[1:]
    return tlv(INTEGER, body)


def boolean(value: bool) -> bytes:
    """A BOOLEAN (DER: 0xFF for true)."""
    return tlv(BOOLEAN, b"\xff" if value else b"\x00")


def null() -> bytes:
    """NULL."""
    return tlv(NULL, b"")


def octet_string(value: bytes) -> bytes:
    """An OCTET STRING."""
    return tlv(OCTET_STRING, value)


def utf8_string(value: str) -> bytes:
    """A UTF8String."""
    return tlv(UTF8_STRING, value.encode("utf-8"))


def oid(dotted: str) -> bytes:
    """An OBJECT IDENTIFIER from its dotted form, e.g. ``"1.2.840.113549.1.7.2"``."""
    arcs = [int(part) for part in dotted.split(".")]
    if len(arcs) < 2 or arcs[0] > 2 or (arcs[0] < 2 and arcs[1] >= 40):
        raise ValueError(f"invalid object identifier {dotted!r}")
    body = bytearray()
    for arc in [arcs[0] * 40 + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body.extend(reversed(chunk))
    return tlv(OBJECT_IDENTIFIER, bytes(body))


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("times must be timezone-aware")
    return moment.astimezone(UTC)


def generalized_time(moment: datetime) -> bytes:
    """A GeneralizedTime in UTC (``YYYYMMDDHHMMSS[.fff]Z``, no trailing zeros in fractions)."""
    moment = _utc(moment)
    text = moment.strftime("%Y%m%d%H%M%S")
    if moment.microsecond:
        text += "." + f"{moment.microsecond:06d}".rstrip("0")
    return tlv(GENERALIZED_TIME, (text + "Z").encode("ascii"))


def utc_time(moment: datetime) -> bytes:
    """A UTCTime (``YYMMDDHHMMSSZ``); RFC 5280 uses it for years 1950 to 2049."""
    moment = _utc(moment)
    if not 1950 <= moment.year <= 2049:
        raise ValueError("UTCTime only covers 1950-2049")
    return tlv(UTC_TIME, moment.strftime("%y%m%d%H%M%SZ").encode("ascii"))


def sequence(*elements: bytes) -> bytes:
    """A SEQUENCE of already-encoded elements, in the given order."""
    return tlv(SEQUENCE, b"".join(elements))


def set_of(*elements: bytes) -> bytes:
    """A SET OF already-encoded elements, sorted by their encodings as DER requires."""
    return tlv(SET, b"".join(sorted(elements)))


def explicit(number: int, element: bytes) -> bytes:
    """``[number] EXPLICIT``: a constructed context tag wrapping one complete element."""
    return tlv(0xA0 | _context_number(number), element)


def implicit(number: int, element: bytes, *, constructed: bool = True) -> bytes:
    """``[number] IMPLICIT``: ``element`` with its own tag replaced by the context tag."""
    tag = (0xA0 if constructed else 0x80) | _context_number(number)
    return bytes([tag]) + _strip_tag(element)


def _context_number(number: int) -> int:
    if not 0 <= number < 31:
        raise ValueError("context tag numbers above 30 are not supported")
    return number


def _strip_tag(element: bytes) -> bytes:
    """The length and contents octets of a single-byte-tag element."""
    if len(element) < 2:
        raise ValueError("not a DER element")
    return element[1:]

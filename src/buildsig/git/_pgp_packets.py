"""OpenPGP wire format: ASCII armor, packet framing, key and signature packets.

Private to :mod:`buildsig.git.openpgp` and :mod:`buildsig.git.gnupg_backend`; no stability
guarantees. Written from RFC 4880 (v4) and RFC 9580 (v6). This layer only *reads bytes*:
it knows nothing about keyrings, self-signatures or policy, and it never calls into a
cryptographic library. Every parse failure raises :class:`PacketError` with a one-line
reason; callers turn that into a ``MALFORMED`` verdict (signatures) or a
``PolicyConfigError`` (keyrings).

Work is bounded by construction: every length is checked against the bytes that remain
before anything is sliced, counts of packets and subpackets are capped, embedded
signatures are parsed one level deep only, and nothing recurses on attacker input.
"""

from __future__ import annotations

import binascii
import dataclasses
import hashlib
import re
from collections.abc import Iterator, Sequence

__all__ = [
    "ArmorBlock",
    "KeyPacket",
    "Packet",
    "PacketError",
    "SignaturePacket",
    "Subpacket",
    "crc24",
    "dearmor",
    "encode_packet",
    "iter_packets",
    "parse_key_packet",
    "parse_signature_packet",
]

# --- constants (RFC 9580 §9) -------------------------------------------------------------

TAG_SIGNATURE = 2
TAG_SECRET_KEY = 5
TAG_PUBLIC_KEY = 6
TAG_SECRET_SUBKEY = 7
TAG_COMPRESSED = 8
TAG_SYMENC = 9
TAG_MARKER = 10
TAG_LITERAL = 11
TAG_TRUST = 12
TAG_USER_ID = 13
TAG_PUBLIC_SUBKEY = 14
TAG_USER_ATTRIBUTE = 17
TAG_SEIPD = 18
TAG_PADDING = 21

#: Packets whose length may legally be given in partial-body chunks (RFC 9580 §4.2.1.4).
PARTIAL_OK_TAGS = frozenset({TAG_COMPRESSED, TAG_SYMENC, TAG_LITERAL, TAG_SEIPD, 20})

PK_RSA = 1
PK_RSA_ENCRYPT = 2
PK_RSA_SIGN = 3
PK_ELGAMAL = 16
PK_DSA = 17
PK_ECDH = 18
PK_ECDSA = 19
PK_ELGAMAL_SIGN = 20
PK_EDDSA_LEGACY = 22
PK_X25519 = 25
PK_X448 = 26
PK_ED25519 = 27
PK_ED448 = 28

HASH_MD5 = 1
HASH_SHA1 = 2
HASH_RIPEMD160 = 3
HASH_SHA256 = 8
HASH_SHA384 = 9
HASH_SHA512 = 10
HASH_SHA224 = 11
HASH_SHA3_256 = 12
HASH_SHA3_512 = 14

#: OpenPGP hash id -> (name used in reports, hashlib name or "" when hashlib lacks it).
HASH_NAMES: dict[int, str] = {
    HASH_MD5: "md5",
    HASH_SHA1: "sha1",
    HASH_RIPEMD160: "ripemd160",
    HASH_SHA256: "sha256",
    HASH_SHA384: "sha384",
    HASH_SHA512: "sha512",
    HASH_SHA224: "sha224",
    HASH_SHA3_256: "sha3-256",
    HASH_SHA3_512: "sha3-512",
}

#: Salt size of v6 signatures per hash algorithm (RFC 9580 §9.5, table 23).
V6_SALT_SIZES: dict[int, int] = {
    HASH_SHA256: 16,
    HASH_SHA384: 24,
    HASH_SHA512: 32,
    HASH_SHA224: 16,
    HASH_SHA3_256: 16,
    HASH_SHA3_512: 32,
}

#: DER-encoded curve OIDs (without tag and length) -> short curve name.
CURVE_OIDS: dict[bytes, str] = {
    bytes.fromhex("2a8648ce3d030107"): "p256",
    bytes.fromhex("2b81040022"): "p384",
    bytes.fromhex("2b81040023"): "p521",
    bytes.fromhex("2b2403030208010107"): "brainpoolp256r1",
    bytes.fromhex("2b240303020801010b"): "brainpoolp384r1",
    bytes.fromhex("2b240303020801010d"): "brainpoolp512r1",
    bytes.fromhex("2b8104000a"): "secp256k1",
    bytes.fromhex("2b06010401da470f01"): "ed25519",  # legacy EdDSA (algorithm 22)
    bytes.fromhex("2b060104019755010501"): "curve25519",  # legacy ECDH (algorithm 18)
    bytes.fromhex("2b6571"): "ed448",
    bytes.fromhex("2b656f"): "x448",
}

# Subpacket types (RFC 9580 §5.2.3.7).
SUB_CREATION_TIME = 2
SUB_SIG_EXPIRATION = 3
SUB_KEY_EXPIRATION = 9
SUB_ISSUER_KEY_ID = 16
SUB_NOTATION = 20
SUB_PRIMARY_UID = 25
SUB_KEY_FLAGS = 27
SUB_REVOCATION_REASON = 29
SUB_EMBEDDED_SIGNATURE = 32
SUB_ISSUER_FINGERPRINT = 33

#: Subpackets whose meaning we know well enough that a *critical* one is acceptable. A
#: critical subpacket outside this set makes the signature invalid (RFC 9580 §5.2.3.7).
#: Notations (20) are deliberately absent: we understand no notation names.
UNDERSTOOD_SUBPACKETS = frozenset(
    {2, 3, 4, 5, 7, 9, 11, 12, 16, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 32, 33, 34, 35, 39}
)

KEY_FLAG_CERTIFY = 0x01
KEY_FLAG_SIGN = 0x02

# --- limits ------------------------------------------------------------------------------

MAX_MPI_BITS = 16384  # the largest RSA modulus OpenSSL accepts
MAX_SUBPACKETS = 512  # per area
MAX_PARTIAL_CHUNKS = 4096
MAX_ARMOR_HEADERS = 64


class PacketError(ValueError):
    """Bytes that are not well-formed OpenPGP; the message says what and where."""


# --- ASCII armor (RFC 9580 §6) -----------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class ArmorBlock:
    """One decoded armor block: its type (``PGP SIGNATURE`` …) and its binary payload."""

    kind: str
    data: bytes
    had_checksum: bool


_CRC24_INIT = 0xB704CE
_CRC24_POLY = 0x1864CFB


def _crc24_table8() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= _CRC24_POLY
        table.append(crc & 0xFFFFFF)
    return tuple(table)


_T8 = _crc24_table8()


def _clmul_small(a: int, b: int) -> int:
    """Carry-less (GF(2)[x]) product of two small polynomials."""
    result = 0
    while b:
        low = b & -b
        result ^= a * low  # a shifted by the position of b's lowest set bit
        b ^= low
    return result


def _polymod_small(a: int) -> int:
    """``a mod P`` for the CRC-24 generator P, bit by bit (only for tiny ``a``)."""
    while (bits := a.bit_length()) > 24:
        a ^= _CRC24_POLY << (bits - 25)
    return a


_FOLD_SHIFTS: list[tuple[int, ...]] = []


def _fold_shifts() -> list[tuple[int, ...]]:
    """For each j: the set-bit positions of ``x**(2**j) mod P`` (a 24-bit polynomial)."""
    if not _FOLD_SHIFTS:
        power = 2  # x
        table = []
        for _ in range(64):
            table.append(tuple(i for i in range(24) if power >> i & 1))
            power = _polymod_small(_clmul_small(power, power))
        _FOLD_SHIFTS.extend(table)
    return _FOLD_SHIFTS


def crc24(data: bytes) -> int:
    """The armor checksum (CRC-24, RFC 9580 §6.1).

    A table loop costs ~0.15 µs per byte in CPython: too slow for a 512 KiB keyring and
    noticeable on every signature. So beyond a few bytes the CRC is computed as algebra
    on one big integer: it is ``(init * x**(8n) + M(x) * x**24) mod P``, and a polynomial
    ``A * x**k + B`` is congruent to ``A * (x**k mod P) + B``. Folding at ``k = 2**j`` (at
    most twice per power of two) takes a dozen big-integer shifts and XORs each, all in C;
    the last few bytes go through the byte table.
    """
    n = len(data)
    t8 = _T8
    if n < 200:
        crc = _CRC24_INIT
        for b in data:
            crc = ((crc << 8) & 0xFFFFFF) ^ t8[(crc >> 16) ^ b]
        return crc
    shifts = _fold_shifts()
    v = (_CRC24_INIT << (8 * n)) ^ (int.from_bytes(data, "big") << 24)
    while (bits := v.bit_length()) > 280:
        j = (bits - 1).bit_length() - 1  # 2**j < bits <= 2**(j + 1)
        k = 1 << j
        top = v >> k
        v &= (1 << k) - 1
        for shift in shifts[j]:
            v ^= top << shift
    # v = hi * x**24 + lo with hi under 32 bytes: feeding hi through a zero register
    # gives hi * x**24 mod P
    crc = 0
    hi = v >> 24
    for b in hi.to_bytes((hi.bit_length() + 7) // 8, "big"):
        crc = ((crc << 8) & 0xFFFFFF) ^ t8[(crc >> 16) ^ b]
    return crc ^ (v & 0xFFFFFF)


_HEADER_LINE = re.compile(rb"[A-Za-z0-9_-]+: ")
_BEGIN_LINE = re.compile(rb"^-----BEGIN ([^\r\n]*)-----[ \t\r]*$", re.MULTILINE)
_END_LINE = re.compile(rb"^-----END ([^\r\n]*)-----[ \t\r]*$", re.MULTILINE)
_WHITESPACE = b" \t\r\n"


def dearmor(
    data: bytes, *, allow_text_outside: bool, max_blocks: int | None = None
) -> list[ArmorBlock]:
    """Decode every ASCII-armor block in ``data``.

    ``allow_text_outside`` permits arbitrary text before, between and after blocks (a
    key file with a note on top, as gpg accepts); without it only whitespace may surround
    the blocks (a git signature starts with its BEGIN line). Armor headers (``Version:``,
    ``Comment:`` …) are skipped, whitespace in the base64 is ignored, the base64 is
    otherwise decoded strictly, and the CRC-24 line is optional but checked when present.
    Line endings may be LF or CRLF. With ``max_blocks``, decoding stops after that many
    blocks and the rest of the input is not looked at.
    """
    blocks: list[ArmorBlock] = []
    pos = 0
    while True:
        begin = _BEGIN_LINE.search(data, pos)
        gap = data[pos : begin.start() if begin else len(data)]
        if not allow_text_outside and gap.strip():
            raise PacketError("text outside an armor block")
        if begin is None:
            return blocks
        start = begin.start()

        def fail(problem: str, start: int = start) -> PacketError:
            line = data.count(b"\n", 0, start) + 1  # only counted when reporting
            return PacketError(f"armor block on line {line}: {problem}")

        kind_bytes = begin.group(1)
        try:
            kind = kind_bytes.decode("ascii")
        except UnicodeDecodeError:
            raise fail("non-ASCII block type") from None
        end = _END_LINE.search(data, begin.end())
        if end is None:
            raise fail("no END line")
        if end.group(1) != kind_bytes:
            raise fail("END line does not match the BEGIN line")
        inner = data[begin.end() : end.start()]
        pos = end.end()
        # Armor headers directly after the BEGIN line; the blank line after them is
        # whitespace like any other.
        at = inner.find(b"\n") + 1
        headers = 0
        while (m := _HEADER_LINE.match(inner, at)) is not None:
            headers += 1
            if headers > MAX_ARMOR_HEADERS:
                raise fail("too many armor headers")
            nl = inner.find(b"\n", m.end())
            at = len(inner) if nl < 0 else nl + 1
        body = inner[at:]
        checksum: bytes | None = None
        # The checksum line starts with "=", which no base64 line can; nothing follows it.
        eq = body.find(b"\n=")
        if eq < 0 and body.lstrip(_WHITESPACE).startswith(b"="):
            eq = body.find(b"=") - 1
        if eq >= 0:
            checksum = body[eq + 2 :].translate(None, _WHITESPACE)
            body = body[: eq + 1]
            if len(checksum) != 4:
                raise fail("malformed checksum line")
        try:
            payload = binascii.a2b_base64(body.translate(None, _WHITESPACE), strict_mode=True)
        except (binascii.Error, ValueError) as exc:
            raise fail(f"bad base64 ({exc})") from None
        if checksum is not None:
            try:
                expected = binascii.a2b_base64(checksum, strict_mode=True)
            except (binascii.Error, ValueError):
                raise fail("malformed checksum line") from None
            if int.from_bytes(expected, "big") != crc24(payload):
                raise fail("CRC-24 checksum mismatch")
        blocks.append(ArmorBlock(kind, payload, checksum is not None))
        if max_blocks is not None and len(blocks) >= max_blocks:
            return blocks


# --- packet framing (RFC 9580 §4.2) ------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Packet:
    """One packet: its tag, its body and where its header started in the stream."""

    tag: int
    body: bytes
    offset: int


def iter_packets(data: bytes, *, max_packets: int) -> Iterator[Packet]:
    """Split a binary packet stream, old and new header formats, partial lengths.

    Partial-body lengths are accepted only for the packet types that may use them; the
    chunks are joined. Raises :class:`PacketError` on truncation, on reserved tags and
    after ``max_packets`` packets.
    """
    pos = 0
    n = len(data)
    count = 0
    while pos < n:
        count += 1
        if count > max_packets:
            raise PacketError(f"more than {max_packets} packets")
        start = pos
        ctb = data[pos]
        pos += 1
        if not ctb & 0x80:
            raise PacketError(f"offset {start}: not a packet header (0x{ctb:02x})")
        if ctb & 0x40:  # new format
            tag = ctb & 0x3F
            body, pos = _new_format_body(data, pos, tag, start)
        else:
            tag = (ctb >> 2) & 0x0F
            ltype = ctb & 0x03
            if ltype == 3:  # indeterminate: to the end of the data
                length = n - pos
            else:
                size = (1, 2, 4)[ltype]
                if pos + size > n:
                    raise PacketError(f"offset {start}: truncated packet length")
                length = int.from_bytes(data[pos : pos + size], "big")
                pos += size
            if length > n - pos:
                raise PacketError(f"offset {start}: packet length {length} exceeds the data")
            body = data[pos : pos + length]
            pos += length
        if tag == 0:
            raise PacketError(f"offset {start}: reserved packet tag 0")
        yield Packet(tag, body, start)


def _new_format_body(data: bytes, pos: int, tag: int, start: int) -> tuple[bytes, int]:
    n = len(data)
    chunks: list[bytes] = []
    first = True
    while True:
        if pos >= n:
            raise PacketError(f"offset {start}: truncated packet length")
        o1 = data[pos]
        pos += 1
        partial = False
        if o1 < 192:
            length = o1
        elif o1 < 224:
            if pos >= n:
                raise PacketError(f"offset {start}: truncated packet length")
            length = ((o1 - 192) << 8) + data[pos] + 192
            pos += 1
        elif o1 == 255:
            if pos + 4 > n:
                raise PacketError(f"offset {start}: truncated packet length")
            length = int.from_bytes(data[pos : pos + 4], "big")
            pos += 4
        else:
            partial = True
            length = 1 << (o1 & 0x1F)
            if tag not in PARTIAL_OK_TAGS:
                raise PacketError(f"offset {start}: partial length not allowed for tag {tag}")
            if first and length < 512:
                raise PacketError(f"offset {start}: first partial chunk shorter than 512")
        if length > n - pos:
            raise PacketError(f"offset {start}: packet length {length} exceeds the data")
        chunks.append(data[pos : pos + length])
        pos += length
        first = False
        if not partial:
            break
        if len(chunks) > MAX_PARTIAL_CHUNKS:
            raise PacketError(f"offset {start}: too many partial-length chunks")
    return (chunks[0] if len(chunks) == 1 else b"".join(chunks)), pos


def encode_packet(tag: int, body: bytes) -> bytes:
    """A packet with a new-format header (RFC 9580 §4.2.1) and a definite length."""
    n = len(body)
    if n < 192:
        length = bytes([n])
    elif n < 8384:
        n2 = n - 192
        length = bytes([(n2 >> 8) + 192, n2 & 0xFF])
    else:
        length = b"\xff" + n.to_bytes(4, "big")
    return bytes([0xC0 | tag]) + length + body


# --- a bounds-checked reader -------------------------------------------------------------


class _Reader:
    """Cursor over a packet body; every read checks the remaining length first."""

    __slots__ = ("data", "pos", "what")

    def __init__(self, data: bytes, what: str) -> None:
        self.data = data
        self.pos = 0
        self.what = what

    def remaining(self) -> int:
        return len(self.data) - self.pos

    def take(self, count: int) -> bytes:
        if count < 0 or count > len(self.data) - self.pos:
            raise PacketError(f"{self.what}: truncated (wanted {count} more bytes)")
        out = self.data[self.pos : self.pos + count]
        self.pos += count
        return out

    def u8(self) -> int:
        if self.pos >= len(self.data):
            raise PacketError(f"{self.what}: truncated")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def u16(self) -> int:
        return int.from_bytes(self.take(2), "big")

    def u32(self) -> int:
        return int.from_bytes(self.take(4), "big")

    def mpi(self) -> bytes:
        bits = self.u16()
        if bits > MAX_MPI_BITS:
            raise PacketError(f"{self.what}: MPI of {bits} bits is too large")
        return self.take((bits + 7) // 8)

    def oid(self) -> bytes:
        size = self.u8()
        if size in (0, 0xFF):
            raise PacketError(f"{self.what}: reserved curve OID length")
        return self.take(size)


# --- key packets (RFC 9580 §5.5) ---------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class KeyPacket:
    """The public part of a (sub)key packet, with its fingerprint and key id.

    ``body`` is exactly the public-key packet body (for secret keys: the public prefix),
    which is what fingerprints and key signatures hash. ``params`` are the algorithm's
    public fields: MPIs for RSA/DSA/Elgamal, ``(oid, point)`` for ECDSA/EdDSA/ECDH, the
    raw key for Ed25519/Ed448/X25519/X448. ``supported`` is False for algorithms this
    module cannot interpret (the key is kept only so that its fingerprint is known).
    """

    version: int
    created: int
    algorithm: int
    params: tuple[bytes, ...]
    curve: str  # "" unless an elliptic-curve key; "oid:<hex>" for an unknown curve
    body: bytes
    fingerprint: bytes
    key_id: bytes
    supported: bool

    def hash_prefix(self) -> bytes:
        """Bytes that stand for this key inside a key signature's hash (RFC 9580 §5.2.4)."""
        if self.version == 6:
            return b"\x9b" + len(self.body).to_bytes(4, "big") + self.body
        return b"\x99" + len(self.body).to_bytes(2, "big") + self.body


def _read_key_material(r: _Reader, algorithm: int) -> tuple[tuple[bytes, ...], str]:
    """Read the algorithm-specific public fields; unknown algorithms raise _UnknownAlgorithm."""
    if algorithm in (PK_RSA, PK_RSA_ENCRYPT, PK_RSA_SIGN):
        return (r.mpi(), r.mpi()), ""
    if algorithm == PK_DSA:
        return (r.mpi(), r.mpi(), r.mpi(), r.mpi()), ""
    if algorithm in (PK_ELGAMAL, PK_ELGAMAL_SIGN):
        return (r.mpi(), r.mpi(), r.mpi()), ""
    if algorithm in (PK_ECDSA, PK_EDDSA_LEGACY):
        oid = r.oid()
        return (oid, r.mpi()), CURVE_OIDS.get(oid, "oid:" + oid.hex())
    if algorithm == PK_ECDH:
        oid = r.oid()
        point = r.mpi()
        kdf_len = r.u8()
        kdf = r.take(kdf_len)
        return (oid, point, kdf), CURVE_OIDS.get(oid, "oid:" + oid.hex())
    sizes = {PK_X25519: 32, PK_X448: 56, PK_ED25519: 32, PK_ED448: 57}
    if algorithm in sizes:
        names = {PK_X25519: "x25519", PK_X448: "x448", PK_ED25519: "ed25519", PK_ED448: "ed448"}
        return (r.take(sizes[algorithm]),), names[algorithm]
    raise _UnknownAlgorithm(algorithm)


class _UnknownAlgorithm(Exception):
    def __init__(self, algorithm: int) -> None:
        super().__init__(algorithm)
        self.algorithm = algorithm


class UnsupportedKeyVersion(PacketError):
    """A key packet of a version this module does not handle (2, 3, 5 …): skipped by callers."""

    def __init__(self, version: int) -> None:
        super().__init__(f"unsupported key packet version {version}")
        self.version = version


def parse_key_packet(body: bytes, *, secret: bool) -> KeyPacket:
    """Parse a public or secret (sub)key packet body into its public part.

    Version 4 and 6 keys are supported; other versions raise
    :class:`UnsupportedKeyVersion`. For a secret key the public prefix is located by
    parsing the public fields (v4) or by the explicit key-material length (v6); the
    secret material itself is never interpreted.
    """
    r = _Reader(body, "key packet")
    version = r.u8()
    if version not in (4, 6):
        raise UnsupportedKeyVersion(version)
    created = r.u32()
    algorithm = r.u8()
    supported = True
    if version == 6:
        material_len = r.u32()
        material_start = r.pos
        material = r.take(material_len)
        mr = _Reader(material, "key material")
        try:
            params, curve = _read_key_material(mr, algorithm)
            if mr.remaining():
                raise PacketError("key packet: trailing bytes in key material")
        except _UnknownAlgorithm:
            params, curve, supported = (material,), "", False
        public_end = material_start + material_len
    else:
        try:
            params, curve = _read_key_material(r, algorithm)
        except _UnknownAlgorithm:
            if secret:
                raise PacketError(
                    f"secret key packet with unknown algorithm {algorithm}: cannot find its "
                    "public part"
                ) from None
            params, curve, supported = (body[r.pos :],), "", False
            r.pos = len(body)
        public_end = r.pos
        if not secret and r.remaining():
            raise PacketError("public key packet: trailing bytes after the key material")
    public_body = body[:public_end]
    if version == 6:
        fingerprint = hashlib.sha256(
            b"\x9b" + len(public_body).to_bytes(4, "big") + public_body
        ).digest()
        key_id = fingerprint[:8]
    else:
        if len(public_body) > 0xFFFF:
            raise PacketError("key packet: public part longer than 65535 bytes")
        fingerprint = hashlib.sha1(  # noqa: S324 - the v4 fingerprint is defined as SHA-1
            b"\x99" + len(public_body).to_bytes(2, "big") + public_body
        ).digest()
        key_id = fingerprint[-8:]
    return KeyPacket(
        version=version,
        created=created,
        algorithm=algorithm,
        params=params,
        curve=curve,
        body=public_body,
        fingerprint=fingerprint,
        key_id=key_id,
        supported=supported,
    )


# --- signature packets (RFC 9580 §5.2) ---------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Subpacket:
    """One signature subpacket: type (without the critical bit), critical flag, data."""

    type: int
    critical: bool
    data: bytes


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class SignaturePacket:
    """A parsed signature packet (v3, v4 or v6), with the facts verifiers need.

    ``hashed_part`` is what the v4/v6 trailer hashes (version through the end of the
    hashed subpackets; for v3 the type and creation time). Convenience fields are read
    from the *hashed* area except the issuer hints, which may legitimately be unhashed
    (they only select a key; the signature math binds the real one). ``problem`` is set
    when the packet parsed but must not be trusted (an unknown critical subpacket, listed
    in ``unknown_critical``, or a missing creation time): key-signature checks then skip
    it and data-signature checks report it.
    """

    version: int
    sig_type: int
    pk_algorithm: int
    hash_algorithm: int
    hashed_part: bytes
    hashed: tuple[Subpacket, ...]
    unhashed: tuple[Subpacket, ...]
    left16: bytes
    salt: bytes
    material: tuple[bytes, ...]
    created: int
    sig_expires: int  # seconds after creation, 0 = never
    key_expires: int  # seconds after key creation, 0 = never
    key_flags: int | None
    primary_uid: bool
    issuer_key_ids: tuple[bytes, ...]
    issuer_fingerprints: tuple[bytes, ...]
    embedded: tuple[bytes, ...]
    revocation_reason: tuple[int, str] | None
    problem: str
    unknown_critical: tuple[int, ...]

    def trailer(self) -> bytes:
        """What is hashed after the signed data (RFC 9580 §5.2.4)."""
        if self.version == 3:
            return self.hashed_part
        return (
            self.hashed_part
            + bytes([self.version, 0xFF])
            + len(self.hashed_part).to_bytes(4, "big")
        )

    def issuer_key_id(self) -> bytes:
        """The issuer's key id: from the fingerprint subpacket if present, else subpacket 16."""
        for fpr in self.issuer_fingerprints:
            return fpr[:8] if len(fpr) == 32 else fpr[-8:]
        for kid in self.issuer_key_ids:
            return kid
        return b""


def _parse_subpackets(area: bytes, what: str) -> tuple[Subpacket, ...]:
    r = _Reader(area, what)
    out: list[Subpacket] = []
    while r.remaining():
        if len(out) >= MAX_SUBPACKETS:
            raise PacketError(f"{what}: more than {MAX_SUBPACKETS} subpackets")
        o1 = r.u8()
        if o1 < 192:
            length = o1
        elif o1 < 255:
            length = ((o1 - 192) << 8) + r.u8() + 192
        else:
            length = r.u32()
        if length == 0:
            raise PacketError(f"{what}: empty subpacket")
        data = r.take(length)
        out.append(Subpacket(data[0] & 0x7F, bool(data[0] & 0x80), data[1:]))
    return tuple(out)


def parse_signature_packet(body: bytes, *, allow_embedded: bool = True) -> SignaturePacket:
    """Parse a signature packet body (versions 3, 4 and 6; others raise PacketError).

    Embedded signatures (subpacket 32) are kept as raw bytes; callers parse them with
    ``allow_embedded=False`` so that nesting stops at one level.
    """
    r = _Reader(body, "signature packet")
    version = r.u8()
    if version == 3:
        return _parse_v3(r)
    if version not in (4, 6):
        raise PacketError(f"unsupported signature packet version {version}")
    sig_type = r.u8()
    pk_algorithm = r.u8()
    hash_algorithm = r.u8()
    count_size = 2 if version == 4 else 4
    hashed_len = int.from_bytes(r.take(count_size), "big")
    hashed_area = r.take(hashed_len)
    hashed_part = body[: r.pos]
    unhashed_len = int.from_bytes(r.take(count_size), "big")
    unhashed_area = r.take(unhashed_len)
    left16 = r.take(2)
    salt = b""
    if version == 6:
        salt_len = r.u8()
        salt = r.take(salt_len)
        expected = V6_SALT_SIZES.get(hash_algorithm)
        if expected is not None and salt_len != expected:
            raise PacketError(f"v6 signature: salt of {salt_len} bytes for hash {hash_algorithm}")
    material = _read_signature_material(r, pk_algorithm)
    if r.remaining():
        raise PacketError("signature packet: trailing bytes after the signature")
    hashed = _parse_subpackets(hashed_area, "hashed subpackets")
    unhashed = _parse_subpackets(unhashed_area, "unhashed subpackets")
    return _interpret(
        version,
        sig_type,
        pk_algorithm,
        hash_algorithm,
        hashed_part,
        hashed,
        unhashed,
        left16,
        salt,
        material,
        allow_embedded,
    )


def _read_signature_material(r: _Reader, pk_algorithm: int) -> tuple[bytes, ...]:
    if pk_algorithm in (PK_RSA, PK_RSA_SIGN, PK_RSA_ENCRYPT):
        return (r.mpi(),)
    if pk_algorithm in (PK_DSA, PK_ECDSA, PK_EDDSA_LEGACY, PK_ELGAMAL_SIGN, PK_ELGAMAL):
        return (r.mpi(), r.mpi())
    if pk_algorithm == PK_ED25519:
        return (r.take(64),)
    if pk_algorithm == PK_ED448:
        return (r.take(114),)
    # Unknown algorithm: keep the opaque rest; no key of ours can check it anyway.
    return (r.take(r.remaining()),)


def _parse_v3(r: _Reader) -> SignaturePacket:
    if r.u8() != 5:
        raise PacketError("v3 signature: hashed material length must be 5")
    sig_type = r.u8()
    created = r.u32()
    key_id = r.take(8)
    pk_algorithm = r.u8()
    hash_algorithm = r.u8()
    left16 = r.take(2)
    material = _read_signature_material(r, pk_algorithm)
    if r.remaining():
        raise PacketError("signature packet: trailing bytes after the signature")
    return SignaturePacket(
        version=3,
        sig_type=sig_type,
        pk_algorithm=pk_algorithm,
        hash_algorithm=hash_algorithm,
        hashed_part=bytes([sig_type]) + created.to_bytes(4, "big"),
        hashed=(),
        unhashed=(),
        left16=left16,
        salt=b"",
        material=material,
        created=created,
        sig_expires=0,
        key_expires=0,
        key_flags=None,
        primary_uid=False,
        issuer_key_ids=(key_id,),
        issuer_fingerprints=(),
        embedded=(),
        revocation_reason=None,
        problem="",
        unknown_critical=(),
    )


def _u32(data: bytes, what: str) -> int:
    if len(data) != 4:
        raise PacketError(f"{what} subpacket must be 4 bytes")
    return int.from_bytes(data, "big")


def _interpret(
    version: int,
    sig_type: int,
    pk_algorithm: int,
    hash_algorithm: int,
    hashed_part: bytes,
    hashed: Sequence[Subpacket],
    unhashed: Sequence[Subpacket],
    left16: bytes,
    salt: bytes,
    material: tuple[bytes, ...],
    allow_embedded: bool,
) -> SignaturePacket:
    created: int | None = None
    sig_expires = 0
    key_expires = 0
    key_flags: int | None = None
    primary_uid = False
    reason: tuple[int, str] | None = None
    problem = ""
    unknown_critical: list[int] = []
    key_ids: list[bytes] = []
    fingerprints: list[bytes] = []
    embedded: list[bytes] = []
    for sp in hashed:
        t = sp.type
        if t == SUB_CREATION_TIME:
            created = _u32(sp.data, "creation time")
        elif t == SUB_SIG_EXPIRATION:
            sig_expires = _u32(sp.data, "signature expiration")
        elif t == SUB_KEY_EXPIRATION:
            key_expires = _u32(sp.data, "key expiration")
        elif t == SUB_KEY_FLAGS:
            key_flags = sp.data[0] if sp.data else 0
        elif t == SUB_PRIMARY_UID:
            primary_uid = bool(sp.data) and sp.data[0] != 0
        elif t == SUB_REVOCATION_REASON and sp.data:
            reason = (sp.data[0], sp.data[1:].decode("utf-8", "replace"))
        if sp.critical and t not in UNDERSTOOD_SUBPACKETS:
            unknown_critical.append(t)
            problem = problem or f"unknown critical subpacket {t}"
    for area in (hashed, unhashed):
        for sp in area:
            if sp.type == SUB_ISSUER_KEY_ID:
                if len(sp.data) != 8:
                    raise PacketError("issuer key id subpacket must be 8 bytes")
                key_ids.append(sp.data)
            elif sp.type == SUB_ISSUER_FINGERPRINT:
                if len(sp.data) not in (21, 33) or (len(sp.data) == 21) != (sp.data[0] == 4):
                    raise PacketError("malformed issuer fingerprint subpacket")
                fingerprints.append(sp.data[1:])
            elif sp.type == SUB_EMBEDDED_SIGNATURE and allow_embedded:
                embedded.append(sp.data)
    if created is None:
        problem = problem or "no creation time in the hashed subpackets"
        created = 0
    return SignaturePacket(
        version=version,
        sig_type=sig_type,
        pk_algorithm=pk_algorithm,
        hash_algorithm=hash_algorithm,
        hashed_part=hashed_part,
        hashed=tuple(hashed),
        unhashed=tuple(unhashed),
        left16=left16,
        salt=salt,
        material=material,
        created=created,
        sig_expires=sig_expires,
        key_expires=key_expires,
        key_flags=key_flags,
        primary_uid=primary_uid,
        issuer_key_ids=tuple(key_ids),
        issuer_fingerprints=tuple(fingerprints),
        embedded=tuple(embedded),
        revocation_reason=reason,
        problem=problem,
        unknown_critical=tuple(unknown_critical),
    )

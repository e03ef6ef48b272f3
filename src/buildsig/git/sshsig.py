"""In-process verification of SSH signatures (SSHSIG) as ``git`` makes and checks them.

git signs tags and commits with ``ssh-keygen -Y sign`` and verifies them by running
``ssh-keygen -Y find-principals`` and ``-Y verify`` once per signature. That costs two
process spawns (about 10 ms) per object; this module does the same checks in-process with
``cryptography`` in well under a millisecond, so a policy can verify thousands of objects.

What is implemented, from OpenSSH's PROTOCOL.sshsig, PROTOCOL.u2f and PROTOCOL.certkeys:

* the armored SSHSIG blob (version 1, hash ``sha256`` or ``sha512``);
* keys ``ssh-ed25519``, ``ecdsa-sha2-nistp256/384/521``, ``ssh-rsa`` (signature algorithms
  ``rsa-sha2-256``/``rsa-sha2-512``), the FIDO keys ``sk-ssh-ed25519@openssh.com`` and
  ``sk-ecdsa-sha2-nistp256@openssh.com``, and OpenSSH user certificates of all of these;
* trust as git has it (an allowed-signers file, see :mod:`buildsig.git.allowed_signers`) or
  as Buildx has it (a single pinned key, :func:`load_authorized_key`).

Deliberate differences from ``ssh-keygen -Y verify`` (each gives a :class:`Reason`, never
an exception):

* RSA keys shorter than 2048 bits and DSA keys are ``WEAK_KEY`` (Buildx's rule; ssh-keygen
  accepts RSA from 1024 bits). The SHA-1 ``ssh-rsa`` signature algorithm is ``WEAK_HASH``,
  also for a CA's signature on a certificate (ssh-keygen rejects the former, accepts the
  latter).
* A hash algorithm other than ``sha256``/``sha512`` makes the signature ``MALFORMED``: it
  is outside the format, not a signature that failed to verify.
* ``webauthn-sk-ecdsa-sha2-nistp256@openssh.com`` signatures are ``UNSUPPORTED_FORMAT``
  (git never produces them).
* FIDO user presence is not required, exactly like ssh-keygen: real OpenSSH release tags
  are signed with flags 0.
* Key and certificate encodings must be canonical (minimal mpints, uncompressed EC points);
  ssh-keygen tolerates some non-canonical encodings no SSH implementation writes.
* A certificate's validity window and type are checked whenever a signature carries one,
  also when the exact certificate is pinned (ssh-keygen only checks them for
  ``cert-authority`` lines). Past ``valid_before`` at the signer time is ``EXPIRED_KEY``.
* RSA keys above 16384 bits (OpenSSH's own limit) or with an exponent above 2**32 are
  ``MALFORMED``, so a hostile key cannot make one verification arbitrarily slow.

Like ssh-keygen, the SSHSIG ``reserved`` field is ignored: the signed data always carries
it empty. Without an explicit ``principal``, :func:`verify_sshsig` reports the principal
git would (see :meth:`buildsig.git.allowed_signers.AllowedSigners.find` for how git's
two-step ``find-principals`` + ``verify`` flow is folded into one lookup).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from buildsig.errors import InvalidInputError, PolicyConfigError
from buildsig.git.result import Reason, SignatureCheck, SignerIdentity

if TYPE_CHECKING:
    from buildsig.git.allowed_signers import AllowedSigners, RevocationList

__all__ = [
    "KEY_TYPES",
    "SSHCertificate",
    "SSHPublicKey",
    "SSHSignatureBlob",
    "load_authorized_key",
    "parse_sshsig",
    "ssh_fingerprint",
    "sshsig_info",
    "verify_sshsig",
]

CryptoPublicKey = Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey
"""The ``cryptography`` key types an SSH key can be verified with (DSA is never used)."""

_BEGIN: Final = b"-----BEGIN SSH SIGNATURE-----"
_END: Final = b"-----END SSH SIGNATURE-----"
_MAGIC: Final = b"SSHSIG"
_MAX_ARMOR: Final = 64 * 1024  # an RSA-16384 certificate signature is under 8 KiB
_MAX_AUTHORIZED_LINE: Final = 64 * 1024

_ED25519: Final = "ssh-ed25519"
_RSA: Final = "ssh-rsa"
_DSA: Final = "ssh-dss"
_SK_ED25519: Final = "sk-ssh-ed25519@openssh.com"
_SK_ECDSA: Final = "sk-ecdsa-sha2-nistp256@openssh.com"
_WEBAUTHN_SK_ECDSA: Final = "webauthn-sk-ecdsa-sha2-nistp256@openssh.com"
_CERT_SUFFIX: Final = "-cert-v01@openssh.com"

# key type -> (curve name in the blob, curve, hash the signature uses)
_ECDSA: Final[dict[str, tuple[str, type[ec.EllipticCurve], type[hashes.HashAlgorithm]]]] = {
    "ecdsa-sha2-nistp256": ("nistp256", ec.SECP256R1, hashes.SHA256),
    "ecdsa-sha2-nistp384": ("nistp384", ec.SECP384R1, hashes.SHA384),
    "ecdsa-sha2-nistp521": ("nistp521", ec.SECP521R1, hashes.SHA512),
}
# ECDSA signature algorithm objects are immutable: build them once, not per verify.
_ECDSA_ALGORITHMS: Final[dict[str, ec.ECDSA]] = {
    name: ec.ECDSA(spec[2]()) for name, spec in _ECDSA.items()
} | {_SK_ECDSA: ec.ECDSA(hashes.SHA256())}
_PLAIN_TYPES: Final = frozenset({_ED25519, _RSA, _DSA, _SK_ED25519, _SK_ECDSA, *_ECDSA})
# certificate type -> plain type ("sk-ssh-ed25519-cert-v01@openssh.com" -> "sk-ssh-ed25519@…")
_CERT_BASE: Final = {t.removesuffix("@openssh.com") + _CERT_SUFFIX: t for t in _PLAIN_TYPES}
KEY_TYPES: Final = frozenset(_PLAIN_TYPES | _CERT_BASE.keys())
"""Every key type name this module can parse (including ``ssh-dss``, which never verifies)."""

_RSA_SIG_HASHES: Final[dict[str, type[hashes.HashAlgorithm]]] = {
    "rsa-sha2-256": hashes.SHA256,
    "rsa-sha2-512": hashes.SHA512,
}
_SSHSIG_HASHES: Final = {"sha256": hashlib.sha256, "sha512": hashlib.sha512}
_MIN_RSA_BITS: Final = 2048

_MAX_RSA_BITS: Final = 16384  # OpenSSH's limit; also bounds the cost of one verify
_MAX_RSA_EXPONENT: Final = 2**32  # a huge exponent would make verification arbitrarily slow

_CERT_USER: Final = 1
_FOREVER: Final = 2**64 - 1


# --- SSH wire format --------------------------------------------------------------------


class _Reader:
    """Reads SSH wire-format values (RFC 4251 §5) with bounds checks on every length.

    Every failure is an :class:`InvalidInputError` naming the field, so a hostile length
    field can neither read past the buffer nor make the parser allocate.
    """

    __slots__ = ("_buf", "_pos", "_what")

    def __init__(self, buf: bytes, what: str) -> None:
        self._buf = buf
        self._pos = 0
        self._what = what

    def _fail(self, message: str) -> InvalidInputError:
        return InvalidInputError(f"{self._what}: {message}")

    def raw(self, n: int, name: str) -> bytes:
        pos = self._pos
        end = pos + n
        if end > len(self._buf):
            raise self._fail(f"truncated {name}")
        self._pos = end
        return self._buf[pos:end]

    def u8(self, name: str) -> int:
        pos = self._pos
        if pos >= len(self._buf):
            raise self._fail(f"truncated {name}")
        self._pos = pos + 1
        return self._buf[pos]

    def u32(self, name: str) -> int:
        pos = self._pos
        if pos + 4 > len(self._buf):
            raise self._fail(f"truncated {name}")
        self._pos = pos + 4
        return int(_U32.unpack_from(self._buf, pos)[0])

    def u64(self, name: str) -> int:
        pos = self._pos
        if pos + 8 > len(self._buf):
            raise self._fail(f"truncated {name}")
        self._pos = pos + 8
        return int(_U64.unpack_from(self._buf, pos)[0])

    def string(self, name: str) -> bytes:
        buf = self._buf
        pos = self._pos
        if pos + 4 > len(buf):
            raise self._fail(f"truncated {name}")
        start = pos + 4
        end = start + _U32.unpack_from(buf, pos)[0]
        if end > len(buf):
            raise self._fail(f"{name} length {end - start} exceeds the remaining data")
        self._pos = end
        return buf[start:end]

    def text(self, name: str) -> str:
        raw = self.string(name)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise self._fail(f"{name} is not UTF-8") from None

    def mpint(self, name: str, *, canonical: bool = True) -> int:
        raw = self.string(name)
        if raw and raw[0] & 0x80:
            raise self._fail(f"{name} is negative")
        if canonical and raw and raw[0] == 0 and (len(raw) == 1 or not raw[1] & 0x80):
            raise self._fail(f"{name} is not minimally encoded")
        return int.from_bytes(raw, "big")

    @property
    def position(self) -> int:
        return self._pos

    def end(self) -> None:
        if self._pos != len(self._buf):
            raise self._fail(f"{len(self._buf) - self._pos} unexpected trailing bytes")


_U32: Final = struct.Struct(">I")
_U64: Final = struct.Struct(">Q")


def _string(data: bytes) -> bytes:
    return _U32.pack(len(data)) + data


_EMPTY_STRING: Final = _string(b"")


def ssh_fingerprint(key_blob: bytes) -> str:
    """The ``SHA256:<unpadded base64>`` fingerprint of a key blob, as ssh-keygen prints it.

    This is the stable identifier to pin SSH keys on. It hashes exactly the bytes given:
    for a plain key that is what ``ssh-keygen -l`` shows; for a *certificate* blob it is the
    certificate's own fingerprint as Go's ``x/crypto/ssh`` (and so Buildx) computes it,
    whereas ssh-keygen shows the certified key's (:attr:`SSHPublicKey.fingerprint`).
    """
    digest = hashlib.sha256(key_blob).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


# --- keys and certificates --------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class SSHCertificate:
    """The parts of an OpenSSH certificate that decide whether a signature is trusted.

    Parsed by buildsig itself rather than with ``cryptography.load_ssh_public_identity``:
    that loader drops the FIDO application of ``sk-*`` certificates (needed to verify their
    signatures), has no public accessor for the CA's signature algorithm (so a SHA-1
    ``ssh-rsa`` CA signature could not be refused) and cannot check certificates issued by
    an ``sk-*`` CA. The tests cross-check the fields against ``cryptography`` where it can.
    """

    serial: int
    cert_type: int  # 1 = user, 2 = host
    key_id: str
    principals: tuple[str, ...]
    valid_after: int  # seconds since the epoch, inclusive
    valid_before: int  # seconds since the epoch, exclusive; 2**64-1 means forever
    critical_options: tuple[tuple[str, bytes], ...]
    extensions: tuple[tuple[str, bytes], ...]
    certified_key: SSHPublicKey  # the plain key the certificate is for
    signature_key: SSHPublicKey  # the CA
    signed_data: bytes  # the certificate up to (not including) the signature
    signature: bytes  # the CA's signature blob

    @property
    def is_user(self) -> bool:
        """Only user certificates may sign; host certificates are refused."""
        return self.cert_type == _CERT_USER

    def valid_at(self, when: int) -> str | None:
        """Why the certificate is not valid at ``when`` (epoch seconds), or None if it is."""
        if when < self.valid_after:
            return "certificate is not yet valid"
        if self.valid_before != _FOREVER and when >= self.valid_before:
            return "certificate has expired"
        return None


@dataclass(frozen=True, slots=True, eq=False)
class SSHPublicKey:
    """One parsed SSH public key or certificate: what a signature and a trust line name.

    Two keys are equal exactly when their blobs are, which (because encodings are required
    to be canonical) means they are the same key; allowed-signers lookups rely on this.
    ``fingerprint`` is the one ssh-keygen prints: for a certificate, the certified key's.
    ``public_key`` is the ``cryptography`` key to verify with (None only for ``ssh-dss``,
    which is never used). ``application`` is a FIDO key's application string (usually
    ``"ssh:"``), which the signature covers but ``cryptography``'s loader discards.
    """

    key_type: str
    blob: bytes
    fingerprint: str
    public_key: CryptoPublicKey | None
    application: str = ""
    bits: int = 0
    comment: str = ""
    certificate: SSHCertificate | None = None
    base_type: str = field(init=False, repr=False)
    """The plain key type: ``ssh-ed25519`` also for ``ssh-ed25519-cert-v01@openssh.com``."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_type", _CERT_BASE.get(self.key_type, self.key_type))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SSHPublicKey):
            return NotImplemented
        return self.blob == other.blob

    def __hash__(self) -> int:
        return hash(self.blob)

    def __repr__(self) -> str:
        return f"SSHPublicKey({self.key_type} {self.fingerprint})"

    @property
    def plain(self) -> SSHPublicKey:
        """The key itself without certificate (revocation lists name plain keys)."""
        return self if self.certificate is None else self.certificate.certified_key

    @property
    def algorithm(self) -> str:
        """Short algorithm name for :class:`SignerIdentity`: ``ed25519``, ``rsa3072``, …."""
        base = self.base_type
        if base == _ED25519:
            name = "ed25519"
        elif base == _SK_ED25519:
            name = "sk-ed25519"
        elif base == _SK_ECDSA:
            name = "sk-ecdsa-p256"
        elif base in _ECDSA:
            name = "ecdsa-p" + base.removeprefix("ecdsa-sha2-nistp")
        elif base == _RSA:
            name = f"rsa{self.bits}"
        else:
            name = f"dsa{self.bits}"
        return name + ("-cert" if self.certificate is not None else "")

    @property
    def display_type(self) -> str:
        """The upper-case type name ssh-keygen and git print (``ECDSA-SK``, ``ED25519-CERT``)."""
        base = self.base_type
        names = {_ED25519: "ED25519", _RSA: "RSA", _DSA: "DSA"}
        names |= {_SK_ED25519: "ED25519-SK", _SK_ECDSA: "ECDSA-SK"}
        name = names.get(base, "ECDSA")
        return name + ("-CERT" if self.certificate is not None else "")

    def weakness(self) -> str | None:
        """Why this key (or its certificate's CA) is too weak to trust, or None.

        DSA is refused outright and RSA below 2048 bits as Buildx does; ssh-keygen would
        accept RSA from 1024 bits.
        """
        checks: list[tuple[SSHPublicKey, str]] = [(self, "key")]
        if self.certificate is not None:
            checks.append((self.certificate.signature_key, "CA key"))
        for key, role in checks:
            if key.base_type == _DSA:
                return f"DSA {role} refused"
            if key.base_type == _RSA and key.bits < _MIN_RSA_BITS:
                return f"RSA {role} of {key.bits} bits refused (minimum {_MIN_RSA_BITS})"
        return None

    def authorized_line(self) -> str:
        """The key in authorized_keys syntax: ``<type> <base64> [comment]``."""
        line = f"{self.key_type} {base64.b64encode(self.blob).decode('ascii')}"
        return f"{line} {self.comment}" if self.comment else line

    @classmethod
    def from_blob(cls, blob: bytes) -> SSHPublicKey:
        """Parse a key or certificate blob (the base64-decoded middle of a ``.pub`` line).

        Raises :class:`~buildsig.errors.InvalidInputError` for anything that is not a
        canonical encoding of a supported key type.
        """
        return _parse_key_cached(bytes(blob))

    @classmethod
    def from_authorized_line(cls, text: str) -> SSHPublicKey:
        """Parse one ``<type> <base64> [comment]`` line (no options) as in a ``.pub`` file.

        The type word must name the same type as the blob, as ssh-keygen requires.
        """
        line = text.strip()
        if len(line) > _MAX_AUTHORIZED_LINE:
            raise InvalidInputError("key line too long")
        parts = line.split(None, 2)
        if len(parts) < 2:
            raise InvalidInputError("expected '<type> <base64> [comment]'")
        key_type, b64 = parts[0], parts[1]
        if key_type not in KEY_TYPES:
            raise InvalidInputError(f"unsupported key type {key_type[:64]!r}")
        try:
            blob = base64.b64decode(b64.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError):
            raise InvalidInputError("key is not valid base64") from None
        key = cls.from_blob(blob)
        if key.key_type != key_type:
            raise InvalidInputError(f"key type {key_type!r} does not match the key blob")
        comment = parts[2].strip() if len(parts) > 2 else ""
        if not comment:
            return key
        return SSHPublicKey(
            key_type=key.key_type,
            blob=key.blob,
            fingerprint=key.fingerprint,
            public_key=key.public_key,
            application=key.application,
            bits=key.bits,
            comment=comment,
            certificate=key.certificate,
        )


def _read_key_fields(r: _Reader, base: str) -> tuple[CryptoPublicKey | None, str, int]:
    """Read the fields after the type string of a plain key (or certificate) of type ``base``.

    Returns the ``cryptography`` key, the FIDO application ("" otherwise) and the key size.
    """
    try:
        if base in (_ED25519, _SK_ED25519):
            raw = r.string("ed25519 key")
            if len(raw) != 32:
                raise InvalidInputError(f"ed25519 key must be 32 bytes, not {len(raw)}")
            key: CryptoPublicKey = Ed25519PublicKey.from_public_bytes(raw)
            bits = 256
        elif base in _ECDSA or base == _SK_ECDSA:
            curve_name, curve, _ = _ECDSA["ecdsa-sha2-nistp256" if base == _SK_ECDSA else base]
            if r.text("curve name") != curve_name:
                raise InvalidInputError(f"curve name does not match key type {base}")
            point = r.string("EC point")
            if not point or point[0] != 0x04:
                raise InvalidInputError("EC point must be uncompressed")
            key = ec.EllipticCurvePublicKey.from_encoded_point(curve(), point)
            bits = key.curve.key_size
        elif base == _RSA:
            e = r.mpint("RSA exponent")
            n = r.mpint("RSA modulus")
            if n.bit_length() > _MAX_RSA_BITS or e > _MAX_RSA_EXPONENT:
                raise InvalidInputError("RSA key too large")
            key = rsa.RSAPublicNumbers(e, n).public_key()
            bits = n.bit_length()
        elif base == _DSA:
            p = r.mpint("DSA p")
            for part in ("DSA q", "DSA g", "DSA y"):
                r.mpint(part)
            return None, "", p.bit_length()
        else:  # pragma: no cover - callers only pass known types
            raise InvalidInputError(f"unsupported key type {base!r}")
    except (ValueError, UnsupportedAlgorithm) as exc:
        if isinstance(exc, InvalidInputError):
            raise
        raise InvalidInputError(f"invalid {base} key: {exc}") from None
    application = ""
    if base in (_SK_ED25519, _SK_ECDSA):
        application = r.text("FIDO application")
    return key, application, bits


@functools.lru_cache(maxsize=1024)
def _parse_key_cached(blob: bytes) -> SSHPublicKey:
    r = _Reader(blob, "public key")
    key_type = r.text("key type")
    base = _CERT_BASE.get(key_type)
    if base is not None:
        return _parse_certificate(blob, r, key_type, base)
    if key_type not in _PLAIN_TYPES:
        raise InvalidInputError(f"unsupported key type {key_type[:64]!r}")
    public_key, application, bits = _read_key_fields(r, key_type)
    r.end()
    return SSHPublicKey(
        key_type=key_type,
        blob=blob,
        fingerprint=ssh_fingerprint(blob),
        public_key=public_key,
        application=application,
        bits=bits,
    )


def _parse_options(raw: bytes, what: str) -> tuple[tuple[str, bytes], ...]:
    r = _Reader(raw, what)
    out: list[tuple[str, bytes]] = []
    while r.position < len(raw):
        out.append((r.text("option name"), r.string("option value")))
    return tuple(out)


def _parse_certificate(blob: bytes, r: _Reader, key_type: str, base: str) -> SSHPublicKey:
    r.string("certificate nonce")
    fields_start = r.position
    public_key, application, bits = _read_key_fields(r, base)
    plain_blob = _string(base.encode("ascii")) + blob[fields_start : r.position]
    serial = r.u64("certificate serial")
    cert_type = r.u32("certificate type")
    key_id = r.text("certificate key id")
    principals_raw = r.string("certificate principals")
    valid_after = r.u64("certificate valid-after")
    valid_before = r.u64("certificate valid-before")
    critical = _parse_options(r.string("critical options"), "certificate critical options")
    extensions = _parse_options(r.string("extensions"), "certificate extensions")
    r.string("certificate reserved field")
    ca_blob = r.string("certificate signature key")
    signed_end = r.position
    signature = r.string("certificate signature")
    r.end()
    pr = _Reader(principals_raw, "certificate principals")
    principals: list[str] = []
    while pr.position < len(principals_raw):
        principals.append(pr.text("principal"))
    ca = _parse_key_cached(ca_blob)
    if ca.certificate is not None:
        raise InvalidInputError("a certificate cannot be signed by another certificate")
    plain = SSHPublicKey(
        key_type=base,
        blob=plain_blob,
        fingerprint=ssh_fingerprint(plain_blob),
        public_key=public_key,
        application=application,
        bits=bits,
    )
    cert = SSHCertificate(
        serial=serial,
        cert_type=cert_type,
        key_id=key_id,
        principals=tuple(principals),
        valid_after=valid_after,
        valid_before=valid_before,
        critical_options=critical,
        extensions=extensions,
        certified_key=plain,
        signature_key=ca,
        signed_data=blob[:signed_end],
        signature=signature,
    )
    return SSHPublicKey(
        key_type=key_type,
        blob=blob,
        fingerprint=plain.fingerprint,
        public_key=public_key,
        application=application,
        bits=bits,
        certificate=cert,
    )


# --- raw SSH signatures -----------------------------------------------------------------


class _Failure(Exception):
    """Internal: a check failed with a :class:`Reason` (turned into a SignatureCheck)."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _ecdsa_der(blob: bytes) -> bytes:
    r = _Reader(blob, "ECDSA signature")
    sig_r = r.mpint("r", canonical=False)
    sig_s = r.mpint("s", canonical=False)
    r.end()
    return encode_dss_signature(sig_r, sig_s)


def _verify_ssh_signature(key: SSHPublicKey, sig_blob: bytes, data: bytes) -> str:
    """Check an SSH signature blob made by ``key`` over ``data``.

    Returns the signature algorithm name; raises :class:`_Failure` otherwise. Works on the
    plain key material, so certificates verify with the certified key.
    """
    base = key.base_type
    crypto = key.public_key
    if crypto is None or base == _DSA:
        raise _Failure(Reason.WEAK_KEY, "DSA signatures refused")
    try:
        r = _Reader(sig_blob, "signature")
        algo = r.text("signature algorithm")
        if base == _RSA:
            if algo == _RSA:
                raise _Failure(Reason.WEAK_HASH, 'SHA-1 "ssh-rsa" signature algorithm refused')
            if algo not in _RSA_SIG_HASHES:
                raise _Failure(
                    Reason.BAD_SIGNATURE, f"signature algorithm {algo[:64]!r} is not for RSA"
                )
        elif algo != base:
            if base == _SK_ECDSA and algo == _WEBAUTHN_SK_ECDSA:
                raise _Failure(Reason.UNSUPPORTED_FORMAT, "webauthn signatures not supported")
            raise _Failure(
                Reason.BAD_SIGNATURE,
                f"signature algorithm {algo[:64]!r} does not match key type {base}",
            )
        sig = r.string("signature")
        if base in (_SK_ED25519, _SK_ECDSA):
            flags = r.u8("FIDO flags")
            counter = r.u32("FIDO counter")
            data = b"".join(
                (
                    hashlib.sha256(key.application.encode("utf-8")).digest(),
                    bytes((flags,)),
                    counter.to_bytes(4, "big"),
                    hashlib.sha256(data).digest(),
                )
            )
        r.end()
        if isinstance(crypto, Ed25519PublicKey):
            if len(sig) != 64:
                raise _Failure(Reason.MALFORMED, "ed25519 signature must be 64 bytes")
            crypto.verify(sig, data)
        elif isinstance(crypto, ec.EllipticCurvePublicKey):
            crypto.verify(_ecdsa_der(sig), data, _ECDSA_ALGORITHMS[base])
        else:
            modulus_len = (crypto.key_size + 7) // 8
            if len(sig) > modulus_len:
                raise _Failure(Reason.BAD_SIGNATURE, "RSA signature longer than the modulus")
            sig = sig.rjust(modulus_len, b"\0")
            crypto.verify(sig, data, padding.PKCS1v15(), _RSA_SIG_HASHES[algo]())
    except InvalidSignature:
        raise _Failure(Reason.BAD_SIGNATURE, "signature does not verify") from None
    except InvalidInputError as exc:
        raise _Failure(Reason.MALFORMED, str(exc)) from None
    except ValueError as exc:  # cryptography: e.g. r or s out of range
        raise _Failure(Reason.MALFORMED, f"invalid signature encoding: {exc}") from None
    return algo


@functools.lru_cache(maxsize=1024)
def _certificate_problem(key: SSHPublicKey) -> tuple[Reason, str] | None:
    """Verify the CA's signature on a certificate once per certificate blob."""
    cert = key.certificate
    if cert is None:
        return None
    try:
        _verify_ssh_signature(cert.signature_key, cert.signature, cert.signed_data)
    except _Failure as failure:
        return failure.reason, f"certificate signature: {failure.detail}"
    return None


# --- SSHSIG -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SSHSignatureBlob:
    """A parsed, not yet verified, SSHSIG signature (PROTOCOL.sshsig).

    ``public_key`` is the embedded key or certificate blob exactly as signed; ``key_type``
    is its type name; ``signature`` is the inner SSH signature blob; ``reserved`` is kept
    for inspection but, as in ssh-keygen, not part of what is signed.
    """

    version: int
    public_key: bytes
    namespace: str
    reserved: bytes
    hash_algorithm: str
    signature: bytes
    key_type: str

    def signed_data(self, payload: bytes) -> bytes:
        """The bytes the key actually signed for ``payload`` (the SSHSIG preamble).

        The reserved field goes in *empty*, whatever the blob carries: PROTOCOL.sshsig
        says to ignore it, and ssh-keygen both signs and verifies with an empty one (a
        signature over a non-empty reserved value does not verify there either).
        """
        digest = _SSHSIG_HASHES[self.hash_algorithm](payload).digest()
        return b"".join(
            (
                _MAGIC,
                _string(self.namespace.encode("utf-8")),
                _EMPTY_STRING,
                _string(self.hash_algorithm.encode("ascii")),
                _string(digest),
            )
        )


def _dearmor(armored: bytes) -> bytes:
    if not isinstance(armored, bytes | bytearray | memoryview):
        raise InvalidInputError("signature must be bytes")
    if len(armored) > _MAX_ARMOR:
        raise InvalidInputError(f"signature larger than {_MAX_ARMOR} bytes")
    text = bytes(armored).strip()
    if not text.startswith(_BEGIN):
        raise InvalidInputError("missing '-----BEGIN SSH SIGNATURE-----'")
    if not text.endswith(_END):
        raise InvalidInputError("missing '-----END SSH SIGNATURE-----'")
    body = text[len(_BEGIN) : len(text) - len(_END)]
    if not body[:1].isspace() or not body[-1:].isspace():
        raise InvalidInputError("armor lines must stand on their own lines")
    encoded = b"".join(body.split())
    if not encoded:
        raise InvalidInputError("empty signature")
    try:
        return binascii.a2b_base64(encoded, strict_mode=True)
    except binascii.Error:
        raise InvalidInputError("signature is not valid base64") from None


def parse_sshsig(armored: bytes) -> SSHSignatureBlob:
    """Parse an armored SSHSIG (``-----BEGIN SSH SIGNATURE-----`` …) without verifying it.

    Checks the structure only: armor, magic, version 1, every field present and nothing
    after them, a known hash algorithm. Raises :class:`~buildsig.errors.InvalidInputError`
    with a message saying what is wrong; :func:`verify_sshsig` turns that into ``MALFORMED``.
    """
    raw = _dearmor(armored)
    r = _Reader(raw, "SSH signature")
    if r.raw(len(_MAGIC), "magic") != _MAGIC:
        raise InvalidInputError("SSH signature: bad magic (expected 'SSHSIG')")
    version = r.u32("version")
    if version != 1:
        raise InvalidInputError(f"unsupported sshsig version {version}")
    public_key = r.string("public key")
    namespace = r.text("namespace")
    reserved = r.string("reserved")
    hash_algorithm = r.text("hash algorithm")
    signature = r.string("signature")
    r.end()
    if hash_algorithm not in _SSHSIG_HASHES:
        raise InvalidInputError(f"unsupported sshsig hash algorithm {hash_algorithm[:32]!r}")
    key_type = _Reader(public_key, "public key").text("key type")
    return SSHSignatureBlob(
        version=version,
        public_key=public_key,
        namespace=namespace,
        reserved=reserved,
        hash_algorithm=hash_algorithm,
        signature=signature,
        key_type=key_type,
    )


def sshsig_info(armored: bytes) -> tuple[int, str] | None:
    """``(version, fingerprint)`` for the Buildx input's ``SSHSignature{version, pubKey}``.

    The fingerprint is :func:`ssh_fingerprint` of the embedded key blob. Buildx leaves the
    field out when the signature cannot be parsed, so this returns None then; it never
    raises.
    """
    try:
        sig = parse_sshsig(armored)
    except (InvalidInputError, ValueError, TypeError):
        return None
    return sig.version, ssh_fingerprint(sig.public_key)


def _epoch(when: datetime) -> int:
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return math.floor(when.timestamp())


def _identity(
    key: SSHPublicKey, sig: SSHSignatureBlob, signer_time: datetime | None, principal: str = ""
) -> SignerIdentity:
    cert = key.certificate
    return SignerIdentity(
        format="ssh",
        primary_fingerprint=key.fingerprint,
        signing_fingerprint=key.fingerprint,
        principal=principal,
        ca_fingerprint="" if cert is None else cert.signature_key.fingerprint,
        algorithm=key.algorithm,
        hash_algorithm=sig.hash_algorithm,
        signed_at=signer_time,
    )


def verify_sshsig(
    payload: bytes,
    armored_signature: bytes,
    *,
    allowed_signers: AllowedSigners | None = None,
    keys: Sequence[SSHPublicKey] = (),
    namespace: str = "git",
    signer_time: datetime | None = None,
    revoked: RevocationList | None = None,
    principal: str | None = None,
) -> SignatureCheck:
    """Verify an SSHSIG over ``payload`` and decide whether its signer is trusted.

    Trust comes from ``keys`` (Buildx's single-key mode: the embedded key or certificate
    blob must be one of them) and/or ``allowed_signers`` (git's ``gpg.ssh.allowedSignersFile``
    semantics); with both, either may vouch; with neither, the result is ``UNKNOWN_KEY``
    after the cryptographic check. ``signer_time`` is when the signer claims to have signed
    (git uses the tagger/committer time); allowed-signers windows and certificate validity
    are checked at it, or at the current time when it is None (naive datetimes are UTC).
    ``principal``, when given, must be permitted like ``ssh-keygen -Y verify -I``; when
    omitted, the principal git would report is found as ``-Y find-principals`` does.

    Problems with the signature never raise: they come back as a :class:`SignatureCheck`
    whose :class:`Reason` says what failed, checked in this order: ``MALFORMED`` →
    ``WEAK_KEY``/``WEAK_HASH``/``UNSUPPORTED_FORMAT`` → ``BAD_SIGNATURE`` → ``NOT_ALLOWED``
    (namespace) → ``REVOKED_KEY`` → ``NOT_ALLOWED``/``EXPIRED_KEY`` (certificate type and
    validity) → ``UNKNOWN_KEY``/``NOT_ALLOWED`` (trust).
    """
    try:
        sig = parse_sshsig(armored_signature)
    except InvalidInputError as exc:
        return SignatureCheck(verified=False, reason=Reason.MALFORMED, detail=str(exc))
    try:
        key = SSHPublicKey.from_blob(sig.public_key)
    except InvalidInputError as exc:
        return SignatureCheck(verified=False, reason=Reason.MALFORMED, detail=str(exc))
    try:
        _check_signature(key, sig, payload, namespace)
        when = _epoch(signer_time) if signer_time is not None else _epoch(datetime.now(UTC))
        if revoked is not None:
            why = revoked.why_revoked(key)
            if why is not None:
                raise _Failure(Reason.REVOKED_KEY, why)
        cert = key.certificate
        if cert is not None:
            if not cert.is_user:
                raise _Failure(Reason.NOT_ALLOWED, "host certificates cannot sign")
            problem = cert.valid_at(when)
            if problem is not None:
                expired = problem.endswith("expired")
                raise _Failure(Reason.EXPIRED_KEY if expired else Reason.NOT_ALLOWED, problem)
        matched = _trust(key, allowed_signers, keys, namespace, when, principal)
    except _Failure as failure:
        identity = _identity(key, sig, signer_time)
        return SignatureCheck(
            verified=False, reason=failure.reason, detail=failure.detail, signer=identity
        )
    identity = _identity(key, sig, signer_time, matched)
    for_whom = f" for {matched}" if matched else ""
    detail = f'Good "{namespace}" signature{for_whom} with {key.display_type} key {key.fingerprint}'
    return SignatureCheck(verified=True, detail=detail, signer=identity)


def _check_signature(
    key: SSHPublicKey, sig: SSHSignatureBlob, payload: bytes, namespace: str
) -> None:
    weak = key.weakness()
    if weak is not None:
        raise _Failure(Reason.WEAK_KEY, weak)
    if key.certificate is not None:
        problem = _certificate_problem(key)
        if problem is not None:
            raise _Failure(*problem)
    _verify_ssh_signature(key, sig.signature, sig.signed_data(payload))
    if sig.namespace != namespace:
        raise _Failure(
            Reason.NOT_ALLOWED,
            f"signature namespace {sig.namespace[:64]!r} is not {namespace!r}",
        )


def _trust(
    key: SSHPublicKey,
    allowed_signers: AllowedSigners | None,
    keys: Sequence[SSHPublicKey],
    namespace: str,
    when: int,
    principal: str | None,
) -> str:
    """The principal to report if ``key`` is trusted; raises :class:`_Failure` otherwise."""
    if any(k.blob == key.blob for k in keys):
        return ""  # a pinned key has no principal (Buildx mode)
    if allowed_signers is None:
        if keys:
            raise _Failure(
                Reason.UNKNOWN_KEY, f"key {key.fingerprint} is not one of the trusted keys"
            )
        raise _Failure(Reason.UNKNOWN_KEY, "no trusted keys or allowed signers given")
    match = allowed_signers.find(key, namespace=namespace, when=when, principal=principal)
    if match.reason is not None:
        raise _Failure(match.reason, match.detail)
    return match.principal


# --- Buildx key files -------------------------------------------------------------------


def _split_options_token(line: str) -> str | None:
    """The rest of ``line`` after its first (possibly quoted) token, or None."""
    in_quote = False
    for i, ch in enumerate(line):
        if ch == '"':
            in_quote = not in_quote
        elif ch in " \t" and not in_quote:
            return line[i:].lstrip(" \t")
    return None


def load_authorized_key(text: bytes | str, *, max_bytes: int = 128 * 1024) -> SSHPublicKey:
    """The key a Buildx ``verify_git_signature`` key file names, for the ``keys=`` argument.

    Buildx reads at most ``max_bytes`` (128 KiB) of the file, silently ignoring the rest,
    and uses the *first* line that parses in authorized_keys syntax ``<type> <base64>
    [comment]``, optionally preceded by one options token, so an allowed-signers line
    ``principal ssh-ed25519 AAAA…`` also works (its principal is then ignored). Lines that
    do not parse are skipped. No usable line at all is a
    :class:`~buildsig.errors.PolicyConfigError`.
    """
    data = text.encode("utf-8", "surrogateescape") if isinstance(text, str) else bytes(text)
    decoded = data[:max_bytes].decode("utf-8", "replace")
    for raw_line in decoded.split("\n"):
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        for candidate in (line, _split_options_token(line)):
            if candidate is None:
                continue
            try:
                return SSHPublicKey.from_authorized_line(candidate)
            except InvalidInputError:
                continue
    raise PolicyConfigError("no SSH public key in authorized_keys syntax found in the key file")

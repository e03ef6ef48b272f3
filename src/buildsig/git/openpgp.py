"""In-process OpenPGP verification of git tag and commit signatures.

Why this exists: ``git verify-tag`` and ``gpg --verify`` cost 5-8 ms per signature
(a process, a keybox, often an agent), while the cryptography is ~0.1 ms. Policies that
check many sources want the facts at in-process speed, and with a policy they can read:
Buildx's (``buildx-policy.md`` §4.2) rather than GnuPG's defaults. Nothing here spawns a
process or touches a GnuPG home; use :mod:`buildsig.git.gnupg_backend` for GnuPG's
keyring and trust model.

The rules, in the order they are applied (the first that fails decides the reason):

1. The signature block must parse: one armor block (``PGP SIGNATURE``, or ``PGP MESSAGE``
   as git also accepts) holding exactly one signature packet of type 0x00 (binary) or 0x01
   (text, whose payload is hashed with CRLF line endings); anything else is
   ``MALFORMED``. More than one signature is ``MALFORMED`` too: git refuses them as well.
2. The issuer (fingerprint subpacket 33, else key id 16) must name the primary key or a
   signing-capable subkey of a certificate in the keyring, else ``UNKNOWN_KEY``. A key
   counts only with a valid self-signature; a subkey only with a valid binding (0x18)
   whose key flags allow signing *and* a valid embedded back-signature (0x19).
3. A critical subpacket this module does not understand (e.g. a critical notation)
   makes the signature ``BAD_SIGNATURE``, as gpg does ("unknown critical bit").
   Version 3 signatures are not supported: ``WEAK_HASH`` when made with MD5/SHA-1/
   RIPEMD-160 (as all real ones are), otherwise ``MALFORMED``. Unknown hash algorithms are
   ``MALFORMED``; MD5 and RIPEMD-160 data signatures are ``WEAK_HASH`` without further
   work. A signing key this module cannot use (an ECDSA curve ``cryptography`` lacks,
   EdDSA on a curve other than Ed25519) is ``WEAK_KEY``; keys whose algorithm cannot sign
   at all (Elgamal, ECDH, X25519) are never candidates in step 2.
4. The math: the left-16 quick check, then RSA PKCS#1 v1.5 / DSA / ECDSA / EdDSA through
   ``cryptography``. A mismatch is ``BAD_SIGNATURE``.
5. Time: made more than 5 minutes after ``now`` → ``BAD_SIGNATURE`` ("signature made in
   the future"); a signature-expiration subpacket passed at ``now`` → ``BAD_SIGNATURE``
   ("signature expired": the *signature's* own lifetime, not the key's); made before the
   signing key existed → ``BAD_SIGNATURE``.
6. A valid revocation of the primary key (0x20) or of the signing subkey (0x28) →
   ``REVOKED_KEY``, whatever its reason code and date: revoked is revoked. Only
   revocations made by the primary key itself count; revocations by designated revokers
   are ignored (as in Buildx; GnuPG honours them when it has the revoker's key).
7. Key expiry is judged at the signature's creation time: made while the key (and, for a
   subkey, the primary) was valid → fine even if it has expired since; made later →
   ``EXPIRED_KEY``. Expiry comes from the latest valid self-signature or binding.
8. Data-signature hash: SHA-224/256/384/512 and SHA3-256/512 pass; SHA-1 is
   ``WEAK_HASH`` unless ``allow_sha1=True``. Self-signatures and bindings may use SHA-1
   (git.git's release key has 2011 SHA-1 self-signatures; GnuPG and Buildx accept them).
9. Key strength: the signing key must be RSA ≥ 2048 bits, ECDSA or EdDSA; DSA and short
   RSA are ``WEAK_KEY``. So is a subkey whose primary key is DSA or RSA < 2048 bits.

Keyrings are parsed once and checked lazily: self-signatures of a certificate are
verified the first time a signature names it, and the result is cached on the keyring,
so a keyring object is meant to be kept and reused (also across threads: the caches are
only ever filled with the same values). The work per call is bounded: input sizes,
packet and subpacket counts and MPI sizes are capped, and nothing recurses.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

from buildsig.errors import InvalidInputError, PolicyConfigError
from buildsig.git import _pgp_packets as pp
from buildsig.git.result import Reason, SignatureCheck, SignerIdentity

if TYPE_CHECKING:  # cryptography is imported lazily: buildsig must import fast
    from cryptography.hazmat.primitives.hashes import HashAlgorithm

__all__ = [
    "MAX_SIGNATURE_BYTES",
    "OpenPGPKeyring",
    "signature_packet_info",
    "verify_openpgp",
]

#: Largest armored signature accepted; real ones are 0.3-2 KiB. Larger input is MALFORMED.
MAX_SIGNATURE_BYTES: Final = 128 * 1024
#: Packets in one signature block (a detached signature has one).
_MAX_SIGNATURE_PACKETS: Final = 32
#: Packets in one keyring; far above any real export, low enough to bound the work.
_MAX_KEYRING_PACKETS: Final = 65536
#: Allowed clock skew for signatures from the future (Buildx: 5 minutes).
_FUTURE_SKEW_SECONDS: Final = 300

_KEY_BLOCK_TYPES: Final = ("PGP PUBLIC KEY BLOCK", "PGP PRIVATE KEY BLOCK")
_SIGNATURE_BLOCK_TYPES: Final = ("PGP SIGNATURE", "PGP MESSAGE")

_STRONG_DATA_HASHES: Final = frozenset(
    {
        pp.HASH_SHA224,
        pp.HASH_SHA256,
        pp.HASH_SHA384,
        pp.HASH_SHA512,
        pp.HASH_SHA3_256,
        pp.HASH_SHA3_512,
    }
)
_WEAK_HASHES: Final = frozenset({pp.HASH_MD5, pp.HASH_SHA1, pp.HASH_RIPEMD160, 5, 6, 7})
#: Hashes accepted on self-signatures and bindings: SHA-1 too (old keys), never MD5.
_KEY_SIG_HASHES: Final = _STRONG_DATA_HASHES | {pp.HASH_SHA1}

_HASHLIB_NAMES: Final = {
    pp.HASH_SHA1: "sha1",
    pp.HASH_SHA224: "sha224",
    pp.HASH_SHA256: "sha256",
    pp.HASH_SHA384: "sha384",
    pp.HASH_SHA512: "sha512",
    pp.HASH_SHA3_256: "sha3_256",
    pp.HASH_SHA3_512: "sha3_512",
}

_SIGNING_ALGORITHMS: Final = frozenset(
    {
        pp.PK_RSA,
        pp.PK_RSA_SIGN,
        pp.PK_DSA,
        pp.PK_ECDSA,
        pp.PK_EDDSA_LEGACY,
        pp.PK_ED25519,
        pp.PK_ED448,
    }
)
_ALGORITHM_NAMES: Final = {
    pp.PK_RSA: "rsa",
    pp.PK_RSA_ENCRYPT: "rsa",
    pp.PK_RSA_SIGN: "rsa",
    pp.PK_ELGAMAL: "elgamal",
    pp.PK_DSA: "dsa",
    pp.PK_ECDH: "ecdh",
    pp.PK_ECDSA: "ecdsa",
    pp.PK_ELGAMAL_SIGN: "elgamal",
    pp.PK_EDDSA_LEGACY: "eddsa",
    pp.PK_X25519: "x25519",
    pp.PK_X448: "x448",
    pp.PK_ED25519: "ed25519",
    pp.PK_ED448: "ed448",
}
_SIG_TYPE_BINARY: Final = 0x00
_SIG_TYPE_TEXT: Final = 0x01
_CERTIFICATIONS: Final = frozenset({0x10, 0x11, 0x12, 0x13})
_CERT_REVOCATION: Final = 0x30
_SUBKEY_BINDING: Final = 0x18
_PRIMARY_BINDING: Final = 0x19
_DIRECT_KEY: Final = 0x1F
_KEY_REVOCATION: Final = 0x20
_SUBKEY_REVOCATION: Final = 0x28


# --- cryptography glue --------------------------------------------------------------------

_Verify = Callable[[pp.SignaturePacket, bytes], bool]


def _first_mpi_bits(kp: pp.KeyPacket) -> int:
    """Key size: bits of the modulus (RSA) or of the prime p (DSA, Elgamal)."""
    return int.from_bytes(kp.params[0], "big").bit_length()


def _algorithm_label(kp: pp.KeyPacket) -> str:
    """Human/policy name of a key: ``rsa4096``, ``dsa2048``, ``ecdsa-p256``, ``ed25519``."""
    alg = kp.algorithm
    base = _ALGORITHM_NAMES.get(alg, f"algorithm{alg}")
    if not kp.supported:
        return base
    if alg in (
        pp.PK_RSA,
        pp.PK_RSA_ENCRYPT,
        pp.PK_RSA_SIGN,
        pp.PK_DSA,
        pp.PK_ELGAMAL,
        pp.PK_ELGAMAL_SIGN,
    ):
        return f"{base}{_first_mpi_bits(kp)}"
    if alg == pp.PK_EDDSA_LEGACY:
        return kp.curve if kp.curve in ("ed25519", "ed448") else f"eddsa-{kp.curve}"
    if alg in (pp.PK_ECDSA, pp.PK_ECDH):
        return f"{base}-{kp.curve}"
    return base


def _weak_key_reason(kp: pp.KeyPacket) -> str:
    """Why a key is too weak for the policy, or ``""``."""
    if kp.algorithm == pp.PK_DSA:
        return f"DSA keys are not allowed ({_algorithm_label(kp)})"
    if (
        kp.algorithm in (pp.PK_RSA, pp.PK_RSA_SIGN, pp.PK_RSA_ENCRYPT)
        and _first_mpi_bits(kp) < 2048
    ):
        return f"RSA keys shorter than 2048 bits are not allowed ({_algorithm_label(kp)})"
    return ""


def _hash_class(hash_id: int) -> HashAlgorithm:
    from cryptography.hazmat.primitives import hashes

    table: dict[int, type[hashes.HashAlgorithm]] = {
        pp.HASH_SHA1: hashes.SHA1,
        pp.HASH_SHA224: hashes.SHA224,
        pp.HASH_SHA256: hashes.SHA256,
        pp.HASH_SHA384: hashes.SHA384,
        pp.HASH_SHA512: hashes.SHA512,
        pp.HASH_SHA3_256: hashes.SHA3_256,
        pp.HASH_SHA3_512: hashes.SHA3_512,
    }
    return table[hash_id]()


def _make_verifier(kp: pp.KeyPacket) -> _Verify | None:
    """A function checking a signature's math against a digest, or None if this key cannot.

    Built once per key and cached: constructing RSA keys from numbers costs as much as a
    verification.
    """
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
    from cryptography.hazmat.primitives.asymmetric.utils import (
        Prehashed,
        encode_dss_signature,
    )

    alg = kp.algorithm
    if not kp.supported or alg not in _SIGNING_ALGORITHMS:
        return None
    try:
        if alg in (pp.PK_RSA, pp.PK_RSA_SIGN):
            n = int.from_bytes(kp.params[0], "big")
            e = int.from_bytes(kp.params[1], "big")
            rsa_key = rsa.RSAPublicNumbers(e, n).public_key()
            size = (n.bit_length() + 7) // 8

            def verify_rsa(sig: pp.SignaturePacket, digest: bytes) -> bool:
                s = sig.material[0]
                if len(s) > size:
                    return False
                try:
                    rsa_key.verify(
                        s.rjust(size, b"\0"),
                        digest,
                        padding.PKCS1v15(),
                        Prehashed(_hash_class(sig.hash_algorithm)),
                    )
                except (InvalidSignature, ValueError, UnsupportedAlgorithm):
                    return False
                return True

            return verify_rsa
        if alg == pp.PK_DSA:
            p, q, g, y = (int.from_bytes(x, "big") for x in kp.params)
            dsa_key = dsa.DSAPublicNumbers(y, dsa.DSAParameterNumbers(p, q, g)).public_key()

            def verify_dsa(sig: pp.SignaturePacket, digest: bytes) -> bool:
                r, s = (int.from_bytes(x, "big") for x in sig.material)
                try:
                    dsa_key.verify(
                        encode_dss_signature(r, s),
                        digest,
                        Prehashed(_hash_class(sig.hash_algorithm)),
                    )
                except (InvalidSignature, ValueError, UnsupportedAlgorithm):
                    return False
                return True

            return verify_dsa
        if alg == pp.PK_ECDSA:
            curves: dict[str, ec.EllipticCurve] = {
                "p256": ec.SECP256R1(),
                "p384": ec.SECP384R1(),
                "p521": ec.SECP521R1(),
                "brainpoolp256r1": ec.BrainpoolP256R1(),
                "brainpoolp384r1": ec.BrainpoolP384R1(),
                "brainpoolp512r1": ec.BrainpoolP512R1(),
                "secp256k1": ec.SECP256K1(),
            }
            curve = curves.get(kp.curve)
            if curve is None:
                return None
            ec_key = ec.EllipticCurvePublicKey.from_encoded_point(curve, kp.params[1])

            def verify_ecdsa(sig: pp.SignaturePacket, digest: bytes) -> bool:
                r, s = (int.from_bytes(x, "big") for x in sig.material)
                try:
                    ec_key.verify(
                        encode_dss_signature(r, s),
                        digest,
                        ec.ECDSA(Prehashed(_hash_class(sig.hash_algorithm))),
                    )
                except (InvalidSignature, ValueError, UnsupportedAlgorithm):
                    return False
                return True

            return verify_ecdsa
        if alg in (pp.PK_EDDSA_LEGACY, pp.PK_ED25519):
            if alg == pp.PK_EDDSA_LEGACY:
                point = kp.params[1]
                if kp.curve != "ed25519" or len(point) != 33 or point[0] != 0x40:
                    return None
                raw = point[1:]
            else:
                raw = kp.params[0]
            ed_key = ed25519.Ed25519PublicKey.from_public_bytes(raw)

            def verify_ed25519(sig: pp.SignaturePacket, digest: bytes) -> bool:
                if sig.pk_algorithm == pp.PK_EDDSA_LEGACY:
                    r, s = sig.material
                    if len(r) > 32 or len(s) > 32:
                        return False
                    blob = r.rjust(32, b"\0") + s.rjust(32, b"\0")
                else:
                    blob = sig.material[0]
                try:
                    ed_key.verify(blob, digest)
                except InvalidSignature:
                    return False
                return True

            return verify_ed25519
        ed448_key = ed448.Ed448PublicKey.from_public_bytes(kp.params[0])

        def verify_ed448(sig: pp.SignaturePacket, digest: bytes) -> bool:
            try:
                ed448_key.verify(sig.material[0], digest)
            except InvalidSignature:
                return False
            return True

        return verify_ed448
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return None


def _compatible(sig_alg: int, key_alg: int) -> bool:
    rsa = (pp.PK_RSA, pp.PK_RSA_SIGN)
    return sig_alg == key_alg or (sig_alg in rsa and key_alg in rsa)


def _digest(sig: pp.SignaturePacket, parts: Iterable[bytes]) -> bytes | None:
    """The hash a signature signs: [v6 salt] || parts || trailer; None for unusable hashes."""
    name = _HASHLIB_NAMES.get(sig.hash_algorithm)
    if name is None:
        return None
    h = hashlib.new(name)
    if sig.version == 6:
        h.update(sig.salt)
    for part in parts:
        h.update(part)
    h.update(sig.trailer())
    return h.digest()


# --- certificates ------------------------------------------------------------------------


@dataclasses.dataclass(slots=True, eq=False)
class _Subkey:
    key: pp.KeyPacket
    sigs: list[bytes]


@dataclasses.dataclass(slots=True, eq=False)
class _KeyState:
    """What the self-signatures say about one (sub)key; computed once, then read-only."""

    usable: bool  # may make data signatures (valid binding, flags, back-signature)
    why_not: str  # set when not usable
    revoked: str  # "" or a description of the revocation
    expires: int | None  # absolute epoch seconds, None = never


@dataclasses.dataclass(slots=True, eq=False)
class _CertState:
    valid: bool
    why_not: str
    user_id: str
    primary: _KeyState
    subkeys: dict[bytes, _KeyState]


@dataclasses.dataclass(slots=True, eq=False)
class _Cert:
    """A transferable public key: primary, user ids, subkeys and their raw signatures."""

    primary: pp.KeyPacket
    direct_sigs: list[bytes] = dataclasses.field(default_factory=list)
    user_ids: dict[tuple[int, bytes], list[bytes]] = dataclasses.field(default_factory=dict)
    subkeys: dict[bytes, _Subkey] = dataclasses.field(default_factory=dict)
    state: _CertState | None = None


class OpenPGPKeyring:
    """Trusted OpenPGP certificates, parsed once and reused for many verifications.

    Built from the armored text Buildx accepts as a git signature key file: one or more
    concatenated ``PGP PUBLIC KEY BLOCK`` or ``PGP PRIVATE KEY BLOCK`` blocks (secret key
    packets contribute only their public part; the secret material is never read).
    Certificates appearing more than once are merged. Binary keyrings, other block types,
    oversized input and structurally broken packets raise :class:`PolicyConfigError`: a
    key file that cannot be read is a configuration mistake, never evidence about a
    signature. Keys of unsupported packet versions (v3, v5) are skipped and listed in
    :attr:`skipped`.
    """

    __slots__ = ("_by_fpr", "_by_key_id", "_certs", "_verifiers", "fingerprints", "skipped")

    fingerprints: tuple[str, ...]
    """Primary-key fingerprints in file order, uppercase hex (40 digits v4, 64 digits v6)."""
    skipped: tuple[str, ...]
    """One line per key that was ignored because its packet version is unsupported."""

    def __init__(self, certs: Sequence[_Cert], skipped: Sequence[str] = ()) -> None:
        """Index already-parsed certificates; use :meth:`from_armored` instead."""
        self._certs = tuple(certs)
        self.fingerprints = tuple(c.primary.fingerprint.hex().upper() for c in self._certs)
        self.skipped = tuple(skipped)
        self._by_fpr: dict[bytes, list[tuple[_Cert, pp.KeyPacket]]] = {}
        self._by_key_id: dict[bytes, list[tuple[_Cert, pp.KeyPacket]]] = {}
        self._verifiers: dict[bytes, _Verify | None] = {}
        for cert in self._certs:
            for kp in (cert.primary, *(s.key for s in cert.subkeys.values())):
                self._by_fpr.setdefault(kp.fingerprint, []).append((cert, kp))
                self._by_key_id.setdefault(kp.key_id, []).append((cert, kp))

    def __len__(self) -> int:
        return len(self._certs)

    def __repr__(self) -> str:
        return f"OpenPGPKeyring({list(self.fingerprints)!r})"

    @classmethod
    def from_armored(cls, data: bytes, *, max_bytes: int = 512 * 1024) -> OpenPGPKeyring:
        """Parse armored key blocks; raise :class:`PolicyConfigError` if they are unusable.

        ``max_bytes`` mirrors Buildx's cap on key files (512 KiB); larger input is refused
        before any parsing. CRC-24 armor checksums are verified when present.
        """
        if len(data) > max_bytes:
            raise PolicyConfigError(
                f"OpenPGP keyring is {len(data)} bytes, more than the limit of {max_bytes}"
            )
        stripped = data.lstrip()
        if not stripped:
            raise PolicyConfigError("OpenPGP keyring is empty")
        if stripped[0] & 0x80:
            raise PolicyConfigError(
                "OpenPGP keyring is binary; only ASCII-armored key blocks are accepted "
                "(export with `gpg --export --armor`)"
            )
        try:
            blocks = pp.dearmor(data, allow_text_outside=True)
        except pp.PacketError as exc:
            raise PolicyConfigError(f"malformed armored OpenPGP keyring: {exc}") from None
        if not blocks:
            raise PolicyConfigError(
                "no ASCII-armored key block found (expected -----BEGIN PGP PUBLIC KEY BLOCK-----)"
            )
        certs: dict[bytes, _Cert] = {}
        skipped: list[str] = []
        seen: set[tuple[int, bytes]] = set()  # (id of a signature list, signature body)
        budget = _MAX_KEYRING_PACKETS
        for number, block in enumerate(blocks, 1):
            if block.kind not in _KEY_BLOCK_TYPES:
                raise PolicyConfigError(
                    f"armor block {number} is a {block.kind!r}, not a PGP PUBLIC KEY BLOCK "
                    "or PGP PRIVATE KEY BLOCK"
                )
            try:
                budget = _read_certs(block.data, certs, skipped, seen, budget)
            except pp.PacketError as exc:
                raise PolicyConfigError(f"malformed OpenPGP key block {number}: {exc}") from None
        if not certs:
            detail = f" ({'; '.join(skipped)})" if skipped else ""
            raise PolicyConfigError(f"OpenPGP keyring contains no usable keys{detail}")
        return cls(list(certs.values()), skipped)

    def public_packets(self) -> bytes:
        """The certificates as binary OpenPGP packets: public parts only, merged, in order.

        For handing the same keys to another OpenPGP implementation (the GnuPG backend
        imports these), so that both accept exactly the same key files and secret key
        material never leaves this process.
        """
        out: list[bytes] = []
        enc = pp.encode_packet
        for cert in self._certs:
            out.append(enc(pp.TAG_PUBLIC_KEY, cert.primary.body))
            out.extend(enc(pp.TAG_SIGNATURE, sig) for sig in cert.direct_sigs)
            for (tag, uid), sigs in cert.user_ids.items():
                out.append(enc(tag, uid))
                out.extend(enc(pp.TAG_SIGNATURE, sig) for sig in sigs)
            for sub in cert.subkeys.values():
                out.append(enc(pp.TAG_PUBLIC_SUBKEY, sub.key.body))
                out.extend(enc(pp.TAG_SIGNATURE, sig) for sig in sub.sigs)
        return b"".join(out)

    # -- lookups and lazily computed validity ---------------------------------------------

    def _verifier(self, kp: pp.KeyPacket) -> _Verify | None:
        try:
            return self._verifiers[kp.fingerprint]
        except KeyError:
            fn = self._verifiers[kp.fingerprint] = _make_verifier(kp)
            return fn

    def _candidates(self, sig: pp.SignaturePacket) -> list[tuple[_Cert, pp.KeyPacket]]:
        found: list[tuple[_Cert, pp.KeyPacket]] = []
        if sig.issuer_fingerprints:
            for fpr in sig.issuer_fingerprints:
                found.extend(self._by_fpr.get(fpr, ()))
        else:
            for kid in sig.issuer_key_ids:
                found.extend(self._by_key_id.get(kid, ()))
        unique: list[tuple[_Cert, pp.KeyPacket]] = []
        for item in found:
            if not any(item[0] is c and item[1] is k for c, k in unique):
                unique.append(item)
        return unique

    def _state(self, cert: _Cert) -> _CertState:
        state = cert.state
        if state is None:
            state = cert.state = _validate_cert(cert, self._verifier)
        return state

    def _key_state(self, cert: _Cert, kp: pp.KeyPacket) -> _KeyState:
        state = self._state(cert)
        if kp is cert.primary:
            return state.primary
        return state.subkeys[kp.fingerprint]


def _read_certs(
    data: bytes,
    certs: dict[bytes, _Cert],
    skipped: list[str],
    seen: set[tuple[int, bytes]],
    budget: int,
) -> int:
    """Group one block's packets into certificates (merged into ``certs``)."""
    cert: _Cert | None = None
    target: list[bytes] | None = None  # where the next signatures belong
    skipping = False  # inside a key of an unsupported version
    count = 0
    for pkt in pp.iter_packets(data, max_packets=budget):
        count += 1
        tag = pkt.tag
        if tag in (pp.TAG_PUBLIC_KEY, pp.TAG_SECRET_KEY):
            try:
                kp = pp.parse_key_packet(pkt.body, secret=tag == pp.TAG_SECRET_KEY)
            except pp.UnsupportedKeyVersion as exc:
                skipped.append(f"offset {pkt.offset}: {exc}")
                cert, target, skipping = None, None, True
                continue
            skipping = False
            cert = certs.get(kp.fingerprint)
            if cert is None:
                cert = certs[kp.fingerprint] = _Cert(kp)
            target = cert.direct_sigs
        elif skipping:
            continue
        elif cert is None:
            raise pp.PacketError(f"offset {pkt.offset}: packet type {tag} before any key")
        elif tag in (pp.TAG_PUBLIC_SUBKEY, pp.TAG_SECRET_SUBKEY):
            try:
                sk = pp.parse_key_packet(pkt.body, secret=tag == pp.TAG_SECRET_SUBKEY)
            except pp.UnsupportedKeyVersion as exc:
                skipped.append(f"offset {pkt.offset}: subkey: {exc}")
                target = None
                continue
            existing = cert.subkeys.get(sk.fingerprint)
            if existing is None:
                existing = cert.subkeys[sk.fingerprint] = _Subkey(sk, [])
            target = existing.sigs
        elif tag in (pp.TAG_USER_ID, pp.TAG_USER_ATTRIBUTE):
            target = cert.user_ids.setdefault((tag, pkt.body), [])
        elif tag == pp.TAG_SIGNATURE:
            # the same certificate exported twice must not double the validation work
            if target is not None and (id(target), pkt.body) not in seen:
                seen.add((id(target), pkt.body))
                target.append(pkt.body)
        elif tag in (pp.TAG_TRUST, pp.TAG_MARKER, pp.TAG_PADDING) or 40 <= tag <= 63:
            continue
        else:
            raise pp.PacketError(
                f"offset {pkt.offset}: unexpected packet type {tag} in a key block"
            )
    return budget - count


# --- self-signature validation -----------------------------------------------------------


def _issued_by(sig: pp.SignaturePacket, kp: pp.KeyPacket) -> bool:
    """Whether the signature's issuer hints name ``kp`` (no hints: maybe)."""
    if sig.issuer_fingerprints:
        return kp.fingerprint in sig.issuer_fingerprints
    if sig.issuer_key_ids:
        return kp.key_id in sig.issuer_key_ids
    return True


def _key_sig_ok(
    signer: pp.KeyPacket,
    sig: pp.SignaturePacket,
    parts: Sequence[bytes],
    verifier: Callable[[pp.KeyPacket], _Verify | None],
) -> bool:
    """Check a self-signature, binding or revocation made by ``signer`` over ``parts``."""
    if sig.problem or sig.version != signer.version or sig.version not in (4, 6):
        return False
    if sig.hash_algorithm not in _KEY_SIG_HASHES or not _compatible(
        sig.pk_algorithm, signer.algorithm
    ):
        return False
    if sig.created < signer.created:
        return False
    fn = verifier(signer)
    if fn is None:
        return False
    digest = _digest(sig, parts)
    if digest is None or digest[:2] != sig.left16:
        return False
    return fn(sig, digest)


def _parse_sigs(raw: Iterable[bytes]) -> list[pp.SignaturePacket]:
    out: list[pp.SignaturePacket] = []
    for body in raw:
        try:
            out.append(pp.parse_signature_packet(body))
        except pp.PacketError:
            continue  # an unreadable signature in a keyring counts as absent
    return out


def _revocation_text(sig: pp.SignaturePacket) -> str:
    when = datetime.fromtimestamp(sig.created, UTC).strftime("%Y-%m-%d")
    if sig.revocation_reason is None:
        return f"revoked on {when}"
    code, text = sig.revocation_reason
    names = {0: "no reason", 1: "superseded", 2: "compromised", 3: "retired", 32: "user id"}
    label = names.get(code, f"reason {code}")
    return f"revoked on {when} ({label}{': ' + text if text else ''})"


def _validate_cert(cert: _Cert, verifier: Callable[[pp.KeyPacket], _Verify | None]) -> _CertState:
    """Verify the self-signatures of one certificate and summarise what they say."""
    primary = cert.primary
    pprefix = primary.hash_prefix()
    # (created, order, sig, user id or None) of every valid self-signature: the latest
    # one carries the key's current flags and expiry
    self_sigs: list[tuple[int, int, pp.SignaturePacket, bytes | None]] = []
    order = 0
    revoked = ""
    for sig in _parse_sigs(cert.direct_sigs):
        if not _issued_by(sig, primary):
            continue
        if sig.sig_type == _DIRECT_KEY and _key_sig_ok(primary, sig, (pprefix,), verifier):
            order += 1
            self_sigs.append((sig.created, order, sig, None))
        elif (
            sig.sig_type == _KEY_REVOCATION
            and not revoked
            and _key_sig_ok(primary, sig, (pprefix,), verifier)
        ):
            revoked = _revocation_text(sig)
    for (tag, uid), raw in cert.user_ids.items():
        marker = b"\xb4" if tag == pp.TAG_USER_ID else b"\xd1"  # user id / user attribute
        prefix = marker + len(uid).to_bytes(4, "big") + uid
        certs_ok: list[pp.SignaturePacket] = []
        latest_revocation = -1
        for sig in _parse_sigs(raw):
            if not _issued_by(sig, primary):
                continue  # third-party certification: not our business
            if sig.sig_type in _CERTIFICATIONS:
                if _key_sig_ok(primary, sig, (pprefix, prefix), verifier):
                    certs_ok.append(sig)
            elif sig.sig_type == _CERT_REVOCATION and _key_sig_ok(
                primary, sig, (pprefix, prefix), verifier
            ):
                latest_revocation = max(latest_revocation, sig.created)
        if not certs_ok:
            continue
        newest = max(certs_ok, key=lambda s: s.created)
        if latest_revocation >= newest.created:
            continue  # the user id was withdrawn
        order += 1
        self_sigs.append((newest.created, order, newest, uid if tag == pp.TAG_USER_ID else None))
    subkey_states: dict[bytes, _KeyState] = {}
    if not self_sigs:
        why = "the primary key has no valid self-signature"
        dead = _KeyState(False, why, revoked, None)
        for fpr in cert.subkeys:
            subkey_states[fpr] = _KeyState(False, why, "", None)
        return _CertState(False, why, "", dead, subkey_states)
    latest = max(self_sigs, key=lambda t: (t[0], t[1]))[2]
    expires = primary.created + latest.key_expires if latest.key_expires else None
    flags = latest.key_flags
    if primary.algorithm not in _SIGNING_ALGORITHMS:
        primary_state = _KeyState(
            False, "the primary key's algorithm cannot sign", revoked, expires
        )
    elif flags is not None and not flags & pp.KEY_FLAG_SIGN:
        primary_state = _KeyState(
            False, "the primary key's flags do not allow signing data", revoked, expires
        )
    else:
        primary_state = _KeyState(True, "", revoked, expires)
    uid_sigs = [t for t in self_sigs if t[3] is not None]
    user_id = ""
    if uid_sigs:
        flagged = [t for t in uid_sigs if t[2].primary_uid]
        pick = (
            max(flagged, key=lambda t: (t[0], t[1]))
            if flagged
            else min(uid_sigs, key=lambda t: t[1])
        )
        user_id = (pick[3] or b"").decode("utf-8", "replace")
    for fpr, sub in cert.subkeys.items():
        subkey_states[fpr] = _validate_subkey(primary, pprefix, sub, verifier)
    return _CertState(True, "", user_id, primary_state, subkey_states)


def _validate_subkey(
    primary: pp.KeyPacket,
    pprefix: bytes,
    sub: _Subkey,
    verifier: Callable[[pp.KeyPacket], _Verify | None],
) -> _KeyState:
    key = sub.key
    parts = (pprefix, key.hash_prefix())
    bindings: list[tuple[int, int, pp.SignaturePacket]] = []
    revoked = ""
    for order, sig in enumerate(_parse_sigs(sub.sigs)):
        if not _issued_by(sig, primary):
            continue
        if sig.sig_type == _SUBKEY_BINDING:
            if _key_sig_ok(primary, sig, parts, verifier):
                bindings.append((sig.created, order, sig))
        elif (
            sig.sig_type == _SUBKEY_REVOCATION
            and not revoked
            and _key_sig_ok(primary, sig, parts, verifier)
        ):
            revoked = _revocation_text(sig)
    if not bindings:
        return _KeyState(False, "the subkey has no valid binding signature", revoked, None)
    binding = max(bindings, key=lambda t: (t[0], t[1]))[2]
    expires = key.created + binding.key_expires if binding.key_expires else None
    if binding.key_flags is None or not binding.key_flags & pp.KEY_FLAG_SIGN:
        return _KeyState(False, "the subkey's binding does not allow signing", revoked, expires)
    if key.algorithm not in _SIGNING_ALGORITHMS:
        return _KeyState(False, "the subkey's algorithm cannot sign", revoked, expires)
    for raw in binding.embedded:
        try:
            back = pp.parse_signature_packet(raw, allow_embedded=False)
        except pp.PacketError:
            continue
        if (
            back.sig_type == _PRIMARY_BINDING
            and _issued_by(back, key)
            and _key_sig_ok(key, back, parts, verifier)
        ):
            return _KeyState(True, "", revoked, expires)
    return _KeyState(
        False,
        "the signing subkey has no valid back-signature (it is not cross-certified)",
        revoked,
        expires,
    )


# --- verification ------------------------------------------------------------------------


def _parse_detached(armored: bytes) -> pp.SignaturePacket:
    if len(armored) > MAX_SIGNATURE_BYTES:
        raise pp.PacketError(
            f"signature block is {len(armored)} bytes, more than {MAX_SIGNATURE_BYTES}"
        )
    blocks = pp.dearmor(armored, allow_text_outside=False)
    if len(blocks) != 1:
        raise pp.PacketError(f"expected one armor block, found {len(blocks)}")
    block = blocks[0]
    if block.kind not in _SIGNATURE_BLOCK_TYPES:
        raise pp.PacketError(f"armor block {block.kind!r} is not a signature")
    bodies: list[bytes] = []
    for pkt in pp.iter_packets(block.data, max_packets=_MAX_SIGNATURE_PACKETS):
        if pkt.tag == pp.TAG_SIGNATURE:
            bodies.append(pkt.body)
        elif pkt.tag not in (pp.TAG_MARKER, pp.TAG_PADDING):
            raise pp.PacketError(
                f"packet type {pkt.tag} in a detached signature (only signatures are allowed)"
            )
    if not bodies:
        raise pp.PacketError("no signature packet")
    if len(bodies) > 1:
        raise pp.PacketError(
            f"{len(bodies)} signatures in one block; exactly one is expected (git refuses "
            "multiple signatures too)"
        )
    return pp.parse_signature_packet(bodies[0])


def _utc(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _fmt(ts: int) -> str:
    return _utc(ts).strftime("%Y-%m-%dT%H:%M:%SZ")


def _identity(
    keyring: OpenPGPKeyring, cert: _Cert, kp: pp.KeyPacket, sig: pp.SignaturePacket
) -> SignerIdentity:
    return SignerIdentity(
        format="openpgp",
        primary_fingerprint=cert.primary.fingerprint.hex().upper(),
        signing_fingerprint=kp.fingerprint.hex().upper(),
        key_id=kp.key_id.hex().upper(),
        user_id=keyring._state(cert).user_id,
        algorithm=_algorithm_label(kp),
        hash_algorithm=pp.HASH_NAMES.get(sig.hash_algorithm, f"hash{sig.hash_algorithm}"),
        signed_at=_utc(sig.created),
    )


def _fail(reason: Reason, detail: str, signer: SignerIdentity | None = None) -> SignatureCheck:
    return SignatureCheck(verified=False, reason=reason, detail=detail, signer=signer)


def _now_seconds(now: datetime | None) -> int:
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return int(now.timestamp())


def verify_openpgp(
    payload: bytes,
    armored_signature: bytes,
    keyring: OpenPGPKeyring,
    *,
    allow_sha1: bool = False,
    now: datetime | None = None,
) -> SignatureCheck:
    """Verify a detached, armored OpenPGP signature over ``payload`` against ``keyring``.

    This is the in-process equivalent of ``git verify-tag``/``verify-commit`` for PGP
    signatures, with the policy described in the module docstring. It never raises on
    bad input: a signature that cannot be parsed is ``MALFORMED``. ``now`` (default: the
    current time; naive values are taken as UTC) is used only for the future-signature and
    signature-expiration checks; key expiry is judged at the signature's creation time.
    ``allow_sha1`` admits SHA-1 data signatures (old git.git releases); MD5 never passes.
    """

    def digest_of(sig: pp.SignaturePacket) -> bytes | None:
        data = payload
        if sig.sig_type == _SIG_TYPE_TEXT:
            data = payload.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        return _digest(sig, (data,))

    return _verify_detached(armored_signature, keyring, digest_of, allow_sha1, now)


def checksum_request(armored_signature: bytes) -> tuple[str, bytes]:
    """What a detached signature hashes after the data: ``(hashlib name, trailer)``.

    Buildx's ``verify_http_pgp_signature`` asks the builder for ``H(content || trailer)``
    so the content itself never has to be fetched by the policy; only v4 binary signatures
    with SHA-256/384/512 can be checked that way. InvalidInputError otherwise.
    """
    try:
        sig = _parse_detached(bytes(armored_signature))
    except pp.PacketError as exc:
        raise InvalidInputError(f"failed to parse detached signature: {exc}") from None
    name = {pp.HASH_SHA256: "sha256", pp.HASH_SHA384: "sha384", pp.HASH_SHA512: "sha512"}.get(
        sig.hash_algorithm
    )
    if name is None:
        raise InvalidInputError(
            "unsupported signature hash "
            f"{pp.HASH_NAMES.get(sig.hash_algorithm, sig.hash_algorithm)}"
        )
    if sig.version != 4:
        raise InvalidInputError(
            f"a version {sig.version} signature cannot be checked against a content digest"
        )
    return name, sig.trailer()


def verify_openpgp_prehashed(
    armored_signature: bytes,
    digest: bytes,
    keyring: OpenPGPKeyring,
    *,
    now: datetime | None = None,
) -> SignatureCheck:
    """Verify a detached signature given ``digest`` = H(content || trailer) only.

    The counterpart of :func:`checksum_request`: the same key, expiry, revocation and
    weak-algorithm rules as :func:`verify_openpgp`, without the content. A text-mode
    signature cannot be checked this way (its data is line-ending-normalised first).
    """

    def digest_of(sig: pp.SignaturePacket) -> bytes | None:
        if sig.version != 4 or sig.sig_type != _SIG_TYPE_BINARY:
            return None
        return bytes(digest)

    return _verify_detached(armored_signature, keyring, digest_of, False, now)


def _verify_detached(
    armored_signature: bytes,
    keyring: OpenPGPKeyring,
    digest_of: Callable[[pp.SignaturePacket], bytes | None],
    allow_sha1: bool,
    now: datetime | None,
) -> SignatureCheck:
    try:
        sig = _parse_detached(bytes(armored_signature))
    except TypeError:
        return _fail(Reason.MALFORMED, "the signature must be bytes")
    except pp.PacketError as exc:
        return _fail(Reason.MALFORMED, f"cannot parse the OpenPGP signature: {exc}")
    if sig.problem and not sig.unknown_critical:
        return _fail(Reason.MALFORMED, f"unusable OpenPGP signature: {sig.problem}")
    if sig.sig_type not in (_SIG_TYPE_BINARY, _SIG_TYPE_TEXT):
        return _fail(
            Reason.MALFORMED,
            f"signature type 0x{sig.sig_type:02x} is not a document signature",
        )
    issuer = sig.issuer_key_id()
    hint = SignerIdentity(format="openpgp", key_id=issuer.hex().upper()) if issuer else None
    candidates = keyring._candidates(sig)
    if not candidates:
        if not issuer:
            return _fail(Reason.UNKNOWN_KEY, "the signature does not name its issuer key")
        return _fail(
            Reason.UNKNOWN_KEY, f"no key in the keyring matches issuer {issuer.hex().upper()}", hint
        )
    usable: list[tuple[_Cert, pp.KeyPacket]] = []
    reasons: list[str] = []
    for cert, kp in candidates:
        state = keyring._key_state(cert, kp)
        if state.usable:
            usable.append((cert, kp))
        else:
            reasons.append(f"key {kp.key_id.hex().upper()} is not usable: {state.why_not}")
    if not usable:
        return _fail(Reason.UNKNOWN_KEY, "; ".join(reasons), hint)
    if sig.unknown_critical:
        # RFC 9580 §5.2.3.7: such a signature is in error; gpg reports BADSIG for it.
        return _fail(
            Reason.BAD_SIGNATURE,
            f"unknown critical subpacket {sig.unknown_critical[0]} in the signature",
            _identity(keyring, *usable[0], sig),
        )
    hash_name = pp.HASH_NAMES.get(sig.hash_algorithm, "")
    if sig.version == 3:
        if sig.hash_algorithm in _WEAK_HASHES:
            return _fail(
                Reason.WEAK_HASH,
                f"version 3 signature made with {hash_name or sig.hash_algorithm}",
                _identity(keyring, *usable[0], sig),
            )
        return _fail(
            Reason.MALFORMED,
            "version 3 signatures are not supported",
            _identity(keyring, *usable[0], sig),
        )
    if not hash_name:
        return _fail(Reason.MALFORMED, f"unknown hash algorithm {sig.hash_algorithm}", hint)
    if sig.hash_algorithm in _WEAK_HASHES and sig.hash_algorithm != pp.HASH_SHA1:
        return _fail(
            Reason.WEAK_HASH,
            f"{hash_name} data signatures are never accepted",
            _identity(keyring, *usable[0], sig),
        )
    digest = digest_of(sig)
    if digest is None:
        return _fail(
            Reason.MALFORMED,
            f"a {hash_name} version {sig.version} type 0x{sig.sig_type:02x} signature cannot "
            "be checked against this data",
            hint,
        )
    now_s = _now_seconds(now)
    failures: list[SignatureCheck] = []
    for cert, kp in usable:
        result, math_ok = _check_candidate(keyring, cert, kp, sig, digest, allow_sha1, now_s)
        if math_ok:
            return result
        failures.append(result)
    return failures[0]


def _check_candidate(
    keyring: OpenPGPKeyring,
    cert: _Cert,
    kp: pp.KeyPacket,
    sig: pp.SignaturePacket,
    digest: bytes,
    allow_sha1: bool,
    now: int,
) -> tuple[SignatureCheck, bool]:
    """Steps 3-9 for one candidate key; the flag says whether the math verified."""
    who = _identity(keyring, cert, kp, sig)
    kid = who.key_id
    fn = keyring._verifier(kp)
    if fn is None:
        return _fail(
            Reason.WEAK_KEY, f"key {kid} ({who.algorithm}) cannot be used to verify", who
        ), False
    if not _compatible(sig.pk_algorithm, kp.algorithm):
        return _fail(
            Reason.BAD_SIGNATURE,
            f"signature algorithm {sig.pk_algorithm} does not match key {kid} ({who.algorithm})",
            who,
        ), False
    if sig.version != kp.version:
        return _fail(
            Reason.BAD_SIGNATURE,
            f"version {sig.version} signature cannot come from version {kp.version} key {kid}",
            who,
        ), False
    if digest[:2] != sig.left16 or not fn(sig, digest):
        return _fail(
            Reason.BAD_SIGNATURE, f"bad signature: does not match the data for key {kid}", who
        ), False
    # The math holds: from here on this key made the signature.
    if sig.created > now + _FUTURE_SKEW_SECONDS:
        return _fail(
            Reason.BAD_SIGNATURE, f"signature made in the future ({_fmt(sig.created)})", who
        ), True
    if sig.sig_expires and sig.created + sig.sig_expires <= now:
        return _fail(
            Reason.BAD_SIGNATURE,
            f"signature expired at {_fmt(sig.created + sig.sig_expires)}",
            who,
        ), True
    if sig.created < kp.created:
        return _fail(
            Reason.BAD_SIGNATURE,
            f"signature ({_fmt(sig.created)}) predates key {kid} ({_fmt(kp.created)})",
            who,
        ), True
    state = keyring._state(cert)
    key_state = keyring._key_state(cert, kp)
    if state.primary.revoked:
        return _fail(Reason.REVOKED_KEY, f"primary key {state.primary.revoked}", who), True
    if key_state.revoked:
        return _fail(Reason.REVOKED_KEY, f"signing subkey {kid} {key_state.revoked}", who), True
    for label, expires in (
        ("primary key", state.primary.expires),
        (f"key {kid}", key_state.expires),
    ):
        if expires is not None and sig.created >= expires:
            return _fail(
                Reason.EXPIRED_KEY,
                f"signature made {_fmt(sig.created)}, after the {label} expired ({_fmt(expires)})",
                who,
            ), True
    if sig.hash_algorithm not in _STRONG_DATA_HASHES and not (
        allow_sha1 and sig.hash_algorithm == pp.HASH_SHA1
    ):
        return _fail(
            Reason.WEAK_HASH,
            f"{who.hash_algorithm} data signatures are not accepted"
            + (
                " (pass allow_sha1=True to accept them)"
                if sig.hash_algorithm == pp.HASH_SHA1
                else ""
            ),
            who,
        ), True
    weak = _weak_key_reason(kp)
    if not weak and kp is not cert.primary:
        primary_weak = _weak_key_reason(cert.primary)
        weak = f"primary key: {primary_weak}" if primary_weak else ""
    if weak:
        return _fail(Reason.WEAK_KEY, weak, who), True
    signer = "primary key" if kp is cert.primary else "subkey"
    detail = (
        f"good signature from {who.user_id or who.primary_fingerprint!r} with {who.algorithm} "
        f"{signer} {kid}, {who.hash_algorithm}, made {_fmt(sig.created)}"
    )
    return SignatureCheck(verified=True, detail=detail, signer=who), True


# --- Buildx input helper -----------------------------------------------------------------


def signature_packet_info(armored_signature: bytes) -> tuple[int, str] | None:
    """``(version, issuer key id)`` of a git PGP signature, for Buildx's ``PGPSignature``.

    Mirrors what Buildx puts in ``input.git.{tag,commit}.pgpSignature``: the first v4/v5/v6
    signature packet in a ``PGP SIGNATURE`` armor block; the key id is 16 lowercase hex
    digits taken from the issuer fingerprint subpacket (v4: its last 8 bytes, v5/v6: its
    first 8) or the issuer key id subpacket, and ``""`` when the packet names no issuer.
    Returns None when Buildx would leave both fields absent: unparsable armor, another
    block type, or no such packet (a lone v3 signature, as on git's oldest tags). Never
    raises.
    """
    try:
        data = bytes(armored_signature)
        if len(data) > MAX_SIGNATURE_BYTES:
            return None
        # like Buildx's armor decoder: skip text up to the first block, read only that one
        blocks = pp.dearmor(data, allow_text_outside=True, max_blocks=1)
        if not blocks or blocks[0].kind != "PGP SIGNATURE":
            return None
        for pkt in pp.iter_packets(blocks[0].data, max_packets=_MAX_SIGNATURE_PACKETS):
            if pkt.tag != pp.TAG_SIGNATURE or not pkt.body or pkt.body[0] < 4:
                continue
            return _peek_issuer(pkt.body)
    except (pp.PacketError, ValueError, TypeError):
        return None
    return None


def _peek_issuer(body: bytes) -> tuple[int, str] | None:
    version = body[0]
    if version == 4 or version == 6:
        sig = pp.parse_signature_packet(body, allow_embedded=False)
        return version, sig.issuer_key_id().hex()
    if version != 5:
        return None
    # LibrePGP v5 signatures: same layout as v4 up to the subpackets (we never verify them)
    if len(body) < 6:
        raise pp.PacketError("truncated v5 signature")
    hashed_len = int.from_bytes(body[4:6], "big")
    end = 6 + hashed_len
    if len(body) < end + 2:
        raise pp.PacketError("truncated v5 signature")
    unhashed_len = int.from_bytes(body[end : end + 2], "big")
    if len(body) < end + 2 + unhashed_len:
        raise pp.PacketError("truncated v5 signature")
    subpackets = pp._parse_subpackets(body[6:end], "hashed") + pp._parse_subpackets(
        body[end + 2 : end + 2 + unhashed_len], "unhashed"
    )
    key_id = ""
    for sp in subpackets:
        if sp.type == pp.SUB_ISSUER_FINGERPRINT and len(sp.data) == 33:
            return version, sp.data[1:9].hex()
        if sp.type == pp.SUB_ISSUER_KEY_ID and len(sp.data) == 8 and not key_id:
            key_id = sp.data.hex()
    return version, key_id

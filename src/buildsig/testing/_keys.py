"""Deterministic keys, serial numbers and signatures for the test Sigstore.

Every key is derived from ``(seed, label)`` with SHA-512, so one seed always yields the same
trust root bytes and a second seed yields an unrelated instance. ECDSA signatures use
RFC 6979 deterministic nonces when the installed ``cryptography``/OpenSSL support them
(cryptography 44+ on OpenSSL 3.2+); otherwise they fall back to random nonces, which only
changes signature bytes, never what verifies.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

#: Private keys a transparency log may sign with (Rekor v1: ECDSA P-256, Rekor v2: Ed25519).
LogPrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
#: Public keys that can appear in a trusted root.
PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey

_ORDERS = {
    "secp256r1": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    "secp384r1": int(
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973",
        16,
    ),
}


def _probe_deterministic() -> bool:
    try:
        ec.ECDSA(hashes.SHA256(), deterministic_signing=True)
    except (TypeError, UnsupportedAlgorithm):  # pragma: no cover - old cryptography/OpenSSL
        return False
    return True


#: Whether ECDSA signatures (and so certificates, SCTs, SETs...) are byte-for-byte reproducible.
DETERMINISTIC_ECDSA = _probe_deterministic()


def _material(seed: int, label: str) -> bytes:
    return hashlib.sha512(f"buildsig.testing\x00{seed}\x00{label}".encode()).digest()


def derive_ec_key(seed: int, label: str, curve: ec.EllipticCurve) -> ec.EllipticCurvePrivateKey:
    """The EC private key for ``(seed, label)`` on ``curve`` (P-256 or P-384)."""
    order = _ORDERS[curve.name]
    scalar = int.from_bytes(_material(seed, label), "big") % (order - 1) + 1
    return ec.derive_private_key(scalar, curve)


def derive_ed25519_key(seed: int, label: str) -> ed25519.Ed25519PrivateKey:
    """The Ed25519 private key for ``(seed, label)``."""
    return ed25519.Ed25519PrivateKey.from_private_bytes(_material(seed, label)[:32])


def derive_serial(seed: int, label: str) -> int:
    """A positive certificate serial number of at most 159 bits (RFC 5280's 20-octet limit)."""
    return (int.from_bytes(_material(seed, label)[:20], "big") >> 1) or 1


def derive_int(seed: int, label: str, bits: int) -> int:
    """A non-negative integer of at most ``bits`` bits."""
    return int.from_bytes(_material(seed, label), "big") >> (512 - bits)


def ecdsa(algorithm: hashes.HashAlgorithm) -> ec.ECDSA:
    """ECDSA with ``algorithm``, deterministic when supported."""
    if DETERMINISTIC_ECDSA:
        return ec.ECDSA(algorithm, deterministic_signing=True)
    return ec.ECDSA(algorithm)  # pragma: no cover - old cryptography/OpenSSL


def sign_log(key: LogPrivateKey, data: bytes) -> bytes:
    """Sign like a transparency log: ECDSA-SHA256, or pure Ed25519."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    return key.sign(data, ecdsa(hashes.SHA256()))


def sign_certificate(
    builder: x509.CertificateBuilder,
    key: ec.EllipticCurvePrivateKey,
    algorithm: hashes.SHA256 | hashes.SHA384,
) -> x509.Certificate:
    """Sign a certificate, deterministically when supported."""
    if DETERMINISTIC_ECDSA:
        return builder.sign(key, algorithm, ecdsa_deterministic=True)
    return builder.sign(key, algorithm)  # pragma: no cover - old cryptography/OpenSSL


def spki_der(key: PublicKey) -> bytes:
    """The DER SubjectPublicKeyInfo of ``key``."""
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def spki_pem(key: PublicKey) -> bytes:
    """The PEM SubjectPublicKeyInfo (``-----BEGIN PUBLIC KEY-----``) of ``key``."""
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def key_id(key: PublicKey) -> bytes:
    """The RFC 6962 key ID: SHA-256 of the DER SubjectPublicKeyInfo."""
    return hashlib.sha256(spki_der(key)).digest()


def key_details(key: PublicKey) -> str:
    """The Sigstore ``PublicKeyDetails`` name of ``key``."""
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "PKIX_ED25519"
    names = {
        "secp256r1": "PKIX_ECDSA_P256_SHA_256",
        "secp384r1": "PKIX_ECDSA_P384_SHA_384",
        "secp521r1": "PKIX_ECDSA_P521_SHA_512",
    }
    try:
        return names[key.curve.name]
    except KeyError:
        raise ValueError(f"unsupported curve {key.curve.name}") from None


def b64(data: bytes) -> str:
    """Standard base64 with padding, as protobuf JSON encodes ``bytes``."""
    return base64.b64encode(data).decode("ascii")

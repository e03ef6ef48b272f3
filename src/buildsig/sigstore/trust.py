"""Sigstore trust roots: which logs, certificate authorities and timestamp authorities count.

A trust root is the ``trusted_root.json`` document Sigstore distributes through TUF
(media type ``application/vnd.dev.sigstore.trustedroot+json;version=0.1``). Everything a
verification believes comes from here, so it is parsed strictly and once: keys are loaded,
certificate chains decoded and their internal signatures checked when the root is built,
and each verification then only looks things up. Reusing that work across bundles is most
of why a :class:`~buildsig.sigstore.Verifier` is cheap per bundle.

Where roots come from (decided in ``docs/design.md``): the production and staging roots that
the ``sigstore`` wheel ships, or a file the caller names. There is no implicit TUF refresh
and no cache written behind the caller's back; :meth:`TrustRoot.from_tuf` refreshes only
when asked.

Validity windows (``validFor``) are closed intervals: a time equal to ``end`` is inside, as
the Sigstore conformance suite requires. A window without ``start`` makes the root invalid.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import itertools
import json
import os
from collections.abc import Mapping, Sequence
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from buildsig._internal.serde import parse_rfc3339
from buildsig.errors import PolicyConfigError, VerificationError

__all__ = [
    "CertificateAuthority",
    "PublicKey",
    "TransparencyLog",
    "TrustRoot",
    "ValidityWindow",
    "verify_signature",
]

MEDIA_TYPE = "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
CLIENT_TRUST_CONFIG = "application/vnd.dev.sigstore.clienttrustconfig"
MAX_TRUST_ROOT_BYTES = 4 * 1024 * 1024

_PACKAGED = {
    "production": "https%3A%2F%2Ftuf-repo-cdn.sigstore.dev",
    "staging": "https%3A%2F%2Ftuf-repo-cdn.sigstage.dev",
}

#: Public keys buildsig can verify with (DSA and others are refused at load).
PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey


@dataclasses.dataclass(frozen=True, slots=True)
class ValidityWindow:
    """A closed time interval; ``end`` None means open-ended."""

    start: datetime
    end: datetime | None = None

    def contains(self, when: datetime) -> bool:
        """Whether ``when`` lies in the window (both ends included)."""
        return self.start <= when and (self.end is None or when <= self.end)


@dataclasses.dataclass(frozen=True, slots=True)
class TransparencyLog:
    """A Rekor log or a certificate-transparency log: its id, key and where it lives."""

    base_url: str
    log_id: bytes  # logId.keyId; for Rekor v1 and CT logs the sha256 of the key's DER
    key: PublicKey
    key_details: str
    valid_for: ValidityWindow


@dataclasses.dataclass(frozen=True, slots=True)
class CertificateAuthority:
    """A Fulcio CA or a timestamp authority: a chain, issuing certificate first."""

    uri: str
    chain: tuple[x509.Certificate, ...]
    valid_for: ValidityWindow


def verify_signature(
    key: PublicKey, signature: bytes, data: bytes, *, key_details: str = ""
) -> None:
    """Check ``signature`` over ``data`` with ``key``; VerificationError when it does not hold.

    The hash follows the key: SHA-256 for P-256 and RSA (unless ``key_details`` names
    another), SHA-384 for P-384, SHA-512 for P-521; Ed25519 signs the message itself.
    """
    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, data)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(_ec_hash(key, key_details)))
        else:
            algorithm = _rsa_hash(key_details)
            if "PSS" in key_details:
                key.verify(
                    signature,
                    data,
                    padding.PSS(padding.MGF1(algorithm), padding.PSS.DIGEST_LENGTH),
                    algorithm,
                )
            else:
                key.verify(signature, data, padding.PKCS1v15(), algorithm)
    except InvalidSignature:
        raise VerificationError("signature does not verify") from None


def _ec_hash(key: ec.EllipticCurvePublicKey, details: str) -> hashes.HashAlgorithm:
    if details.endswith("SHA_384") or (not details and key.curve.name == "secp384r1"):
        return hashes.SHA384()
    if details.endswith("SHA_512") or (not details and key.curve.name == "secp521r1"):
        return hashes.SHA512()
    return hashes.SHA256()


def _rsa_hash(details: str) -> hashes.HashAlgorithm:
    if details.endswith("SHA384"):
        return hashes.SHA384()
    if details.endswith("SHA512"):
        return hashes.SHA512()
    return hashes.SHA256()


def load_public_key(der_or_pem: bytes, *, what: str = "public key") -> PublicKey:
    """A supported public key from DER SubjectPublicKeyInfo or PEM."""
    try:
        if der_or_pem.lstrip().startswith(b"-----BEGIN"):
            key: PublicKeyTypes = serialization.load_pem_public_key(der_or_pem)
        else:
            key = serialization.load_der_public_key(der_or_pem)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise PolicyConfigError(f"{what}: not a public key ({exc})") from None
    if isinstance(key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey):
        return key
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            raise PolicyConfigError(f"{what}: RSA keys under 2048 bits are refused")
        return key
    raise PolicyConfigError(f"{what}: unsupported key type {type(key).__name__}")


class TrustRoot:
    """A parsed Sigstore trusted root. Build with a class method; immutable afterwards."""

    __slots__ = ("_ca_store", "certificate_authorities", "ctlogs", "name", "tlogs", "tsas")

    def __init__(
        self,
        *,
        tlogs: Sequence[TransparencyLog] = (),
        ctlogs: Sequence[TransparencyLog] = (),
        certificate_authorities: Sequence[CertificateAuthority] = (),
        timestamp_authorities: Sequence[CertificateAuthority] = (),
        name: str = "custom",
    ) -> None:
        self.tlogs = tuple(tlogs)
        self.ctlogs = tuple(ctlogs)
        self.certificate_authorities = tuple(certificate_authorities)
        self.tsas = tuple(timestamp_authorities)
        self.name = name
        self._ca_store: Any = None

    def __repr__(self) -> str:
        return (
            f"TrustRoot({self.name!r}: {len(self.tlogs)} tlogs, {len(self.ctlogs)} CT logs, "
            f"{len(self.certificate_authorities)} CAs, {len(self.tsas)} TSAs)"
        )

    # --- construction ----------------------------------------------------------------

    @classmethod
    def production(cls) -> TrustRoot:
        """The Sigstore public-good root shipped with the ``sigstore`` package (offline)."""
        return cls._packaged("production")

    @classmethod
    def staging(cls) -> TrustRoot:
        """The Sigstore staging root shipped with the ``sigstore`` package (offline)."""
        return cls._packaged("staging")

    @classmethod
    def _packaged(cls, which: str) -> TrustRoot:
        path = resources.files("sigstore") / "_store" / _PACKAGED[which] / "trusted_root.json"
        try:
            data = path.read_bytes()
        except OSError as exc:  # a sigstore release that moved its embedded roots
            raise PolicyConfigError(
                f"the sigstore package has no embedded {which} trusted root ({exc}); "
                "pass one with TrustRoot.from_file"
            ) from None
        return cls.from_json(data, name=which)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> TrustRoot:
        """A ``trusted_root.json`` file, or a client trust config wrapping one (size-capped)."""
        p = Path(path)
        try:
            with p.open("rb") as f:
                data = f.read(MAX_TRUST_ROOT_BYTES + 1)
        except OSError as exc:
            raise PolicyConfigError(f"cannot read trusted root {p}: {exc.strerror}") from None
        if len(data) > MAX_TRUST_ROOT_BYTES:
            raise PolicyConfigError(f"trusted root {p} is larger than {MAX_TRUST_ROOT_BYTES} bytes")
        return cls.from_json(data, name=str(p))

    @classmethod
    def from_tuf(
        cls,
        url: str = "https://tuf-repo-cdn.sigstore.dev",
        *,
        cache_dir: str | os.PathLike[str],
        bootstrap_root: bytes | None = None,
    ) -> TrustRoot:
        """Refresh over TUF (network) into ``cache_dir`` and load the verified root.

        The only path that goes online. ``cache_dir`` is explicit, so nothing is written
        where the caller did not say. The first refresh starts from ``bootstrap_root`` (a
        TUF ``root.json``), or for Sigstore's production and staging repositories from the
        TUF root that ships with the ``sigstore`` package.
        """
        from tuf.ngclient.updater import Updater

        base = Path(cache_dir)
        metadata, targets = base / "metadata", base / "targets"
        metadata.mkdir(parents=True, exist_ok=True)
        targets.mkdir(parents=True, exist_ok=True)
        if not (metadata / "root.json").exists():
            if bootstrap_root is None:
                host = url.split("://")[-1].rstrip("/")
                known = next((v for v in _PACKAGED.values() if v.endswith(host)), None)
                if known is None:
                    raise PolicyConfigError(f"no bootstrap TUF root for {url}: pass bootstrap_root")
                bootstrap_root = (
                    resources.files("sigstore") / "_store" / known / "root.json"
                ).read_bytes()
            (metadata / "root.json").write_bytes(bootstrap_root)
        trusted = (metadata / "root.json").read_bytes()
        try:
            updater = Updater(
                metadata_dir=str(metadata),
                metadata_base_url=url,
                target_base_url=url.rstrip("/") + "/targets/",
                target_dir=str(targets),
                bootstrap=trusted,
            )
            updater.refresh()
            info = updater.get_targetinfo("trusted_root.json")
            if info is None:
                raise PolicyConfigError(f"TUF repository {url} has no trusted_root.json")
            path = updater.find_cached_target(info) or updater.download_target(info)
        except PolicyConfigError:
            raise
        except Exception as exc:  # tuf raises many unrelated types (network, metadata)
            raise PolicyConfigError(f"TUF refresh from {url} failed: {exc}") from None
        return cls.from_file(path)

    @classmethod
    def from_json(cls, data: bytes | str | Mapping[str, Any], *, name: str = "custom") -> TrustRoot:
        """Parse a trusted root document. PolicyConfigError says what is wrong and where."""
        if isinstance(data, bytes | str):
            try:
                doc = json.loads(data)
            except (ValueError, RecursionError) as exc:
                raise PolicyConfigError(f"trusted root {name}: not JSON ({exc})") from None
        else:
            doc = data
        if not isinstance(doc, Mapping):
            raise PolicyConfigError(f"trusted root {name}: not a JSON object")
        media_type = doc.get("mediaType")
        if isinstance(media_type, str) and media_type.startswith(CLIENT_TRUST_CONFIG):
            # a client trust config (what `sigstore --trust-config` takes) wraps the root
            doc = doc.get("trustedRoot")
            if not isinstance(doc, Mapping):
                raise PolicyConfigError(f"trust config {name}: no trustedRoot object")
            media_type = doc.get("mediaType")
        if media_type != MEDIA_TYPE:
            raise PolicyConfigError(f"trusted root {name}: unsupported mediaType {media_type!r}")
        return cls(
            tlogs=[_log(x, f"tlogs[{i}]", name) for i, x in enumerate(_list(doc, "tlogs", name))],
            ctlogs=[
                _log(x, f"ctlogs[{i}]", name) for i, x in enumerate(_list(doc, "ctlogs", name))
            ],
            certificate_authorities=[
                _authority(x, f"certificateAuthorities[{i}]", name)
                for i, x in enumerate(_list(doc, "certificateAuthorities", name))
            ],
            timestamp_authorities=[
                _authority(x, f"timestampAuthorities[{i}]", name)
                for i, x in enumerate(_list(doc, "timestampAuthorities", name))
            ],
            name=name,
        )

    # --- lookups -----------------------------------------------------------------------

    def tlog(self, log_id: bytes) -> TransparencyLog | None:
        """The transparency log with this id, if trusted."""
        for log in self.tlogs:
            if log.log_id == log_id:
                return log
        return None

    def ctlog(self, log_id: bytes) -> TransparencyLog | None:
        """The certificate-transparency log with this id, if trusted."""
        for log in self.ctlogs:
            if log.log_id == log_id:
                return log
        return None

    def fulcio_certificates(self) -> tuple[x509.Certificate, ...]:
        """Every certificate of every Fulcio CA chain (the anchors for leaf validation)."""
        return tuple(c for ca in self.certificate_authorities for c in ca.chain)

    def ca_store(self) -> Any:
        """A cryptography verification ``Store`` of the Fulcio chains, built once."""
        if self._ca_store is None:
            from cryptography.x509.verification import Store

            certs = self.fulcio_certificates()
            if not certs:
                raise VerificationError(f"trust root {self.name} has no certificate authorities")
            self._ca_store = Store(list(certs))
        return self._ca_store

    def without_certificate_authorities(self) -> TrustRoot:
        """The same logs and TSAs with no Fulcio CAs or CT logs (for key-only trust, e.g. DHI)."""
        return TrustRoot(tlogs=self.tlogs, timestamp_authorities=self.tsas, name=self.name)


# --- parsing helpers ----------------------------------------------------------------------


def _list(doc: Mapping[str, Any], key: str, name: str) -> list[Any]:
    value = doc.get(key, [])
    if not isinstance(value, list):
        raise PolicyConfigError(f"trusted root {name}: {key} must be a list")
    return value


def _obj(value: Any, where: str, name: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise PolicyConfigError(f"trusted root {name}: {where} must be an object")
    return value


def _b64(value: Any, where: str, name: str) -> bytes:
    if not isinstance(value, str) or not value:
        raise PolicyConfigError(f"trusted root {name}: {where} must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise PolicyConfigError(f"trusted root {name}: {where} is not valid base64") from None


def _window(value: Any, where: str, name: str) -> ValidityWindow:
    obj = _obj(value, where, name)
    start = obj.get("start")
    if not isinstance(start, str):
        raise PolicyConfigError(f"trusted root {name}: {where}.start is required")
    end = obj.get("end")
    try:
        return ValidityWindow(
            start=parse_rfc3339(start),
            end=parse_rfc3339(end) if isinstance(end, str) else None,
        )
    except ValueError as exc:
        raise PolicyConfigError(f"trusted root {name}: {where}: {exc}") from None


def _log(value: Any, where: str, name: str) -> TransparencyLog:
    obj = _obj(value, where, name)
    key_obj = _obj(obj.get("publicKey"), f"{where}.publicKey", name)
    raw = _b64(key_obj.get("rawBytes"), f"{where}.publicKey.rawBytes", name)
    log_id = _b64(
        _obj(obj.get("logId"), f"{where}.logId", name).get("keyId"), f"{where}.logId.keyId", name
    )
    try:
        key = load_public_key(raw, what=f"{where}.publicKey")
    except PolicyConfigError as exc:
        raise PolicyConfigError(f"trusted root {name}: {exc}") from None
    return TransparencyLog(
        base_url=str(obj.get("baseUrl", "")),
        log_id=log_id,
        key=key,
        key_details=str(key_obj.get("keyDetails", "")),
        valid_for=_window(key_obj.get("validFor"), f"{where}.publicKey.validFor", name),
    )


def _authority(value: Any, where: str, name: str) -> CertificateAuthority:
    obj = _obj(value, where, name)
    chain_obj = _obj(obj.get("certChain"), f"{where}.certChain", name)
    entries = chain_obj.get("certificates")
    if not isinstance(entries, list) or not entries:
        raise PolicyConfigError(f"trusted root {name}: {where}.certChain.certificates is empty")
    chain: list[x509.Certificate] = []
    for i, entry in enumerate(entries):
        raw = _b64(
            _obj(entry, f"{where}.certChain.certificates[{i}]", name).get("rawBytes"),
            f"{where}.certChain.certificates[{i}].rawBytes",
            name,
        )
        try:
            chain.append(x509.load_der_x509_certificate(raw))
        except (ValueError, x509.InvalidVersion) as exc:
            raise PolicyConfigError(
                f"trusted root {name}: {where}.certChain.certificates[{i}]: {exc}"
            ) from None
    for child, parent in itertools.pairwise(chain):
        try:
            child.verify_directly_issued_by(parent)
        except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
            raise PolicyConfigError(
                f"trusted root {name}: {where}: certificate chain is not in issuing order"
            ) from None
    return CertificateAuthority(
        uri=str(obj.get("uri", "")),
        chain=tuple(chain),
        valid_for=_window(obj.get("validFor"), f"{where}.validFor", name),
    )


def key_id(key: PublicKey) -> bytes:
    """The sha256 of the key's DER SubjectPublicKeyInfo (Rekor v1 and CT log ids)."""
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).digest()

"""Hostile input to the Sigstore parsers and verifier: only BuildsigError may come out, quickly."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from rfc3161_client import VerifierBuilder, decode_timestamp_response

from buildsig.errors import BuildsigError, VerificationError
from buildsig.sigstore import TrustRoot, Verifier, parse_bundle
from buildsig.sigstore.simplesigning import parse_payload, verify_simple_signing
from buildsig.sigstore.trust import CertificateAuthority, ValidityWindow
from buildsig.sigstore.tsa import TrustedTSA, parse_timestamp_response
from buildsig.testing import TestSigstore
from buildsig.testing import _der as der

ARTIFACT = b"buildsig fuzz artifact\n"
DIGEST = "sha256:" + hashlib.sha256(ARTIFACT).hexdigest()
LIMIT = 2.0  # seconds any single call may take

SIG = TestSigstore(seed=0)
ROOT = SIG.trusted_root_json()
VERIFIER = Verifier(TrustRoot.from_json(ROOT), now=SIG.now + timedelta(hours=1))
BUNDLE = SIG.sign_artifact(ARTIFACT, timestamp=True)


def outcome(call: Callable[[], Any]) -> Any:
    """The call's result, or None when it raised a BuildsigError (anything else fails)."""
    started = time.monotonic()
    try:
        return call()
    except BuildsigError as exc:
        if not str(exc):  # an error must say what was wrong
            raise AssertionError(f"{type(exc).__name__} without a message") from exc
        return None
    finally:
        assert time.monotonic() - started < LIMIT


def test_out_of_range_numbers_are_refused_cleanly() -> None:
    for value in ("--5", "\u00b2", "-", "", "1" * 21, "18446744073709551616"):
        doc = json.loads(BUNDLE)
        doc["verificationMaterial"]["tlogEntries"][0]["logIndex"] = value
        text = json.dumps(doc)
        assert outcome(lambda: parse_bundle(text)) is None, value  # noqa: B023


def _response(signer_info: bytes, content_oid: bytes | None = None) -> bytes:
    """A TimeStampResp around one SignerInfo (the TSTInfo is never reached)."""
    signed_data = der.sequence(
        der.integer(3),
        der.set_of(),
        der.sequence(der.oid("1.2.840.113549.1.9.16.1.4"), der.explicit(0, der.octet_string(b""))),
        der.set_of(signer_info),
    )
    content_info = der.sequence(
        content_oid if content_oid is not None else der.oid("1.2.840.113549.1.7.2"),
        der.explicit(0, signed_data),
    )
    return der.sequence(der.sequence(der.integer(0)), content_info)


def _signer_info(digest_algorithm: bytes, signature_algorithm: bytes) -> bytes:
    return der.sequence(
        der.integer(1),
        der.sequence(der.sequence(), der.integer(1)),
        digest_algorithm,
        der.implicit(0, der.set_of()),
        signature_algorithm,
        der.octet_string(b"sig"),
    )


def test_malformed_timestamp_oids_are_refused_cleanly() -> None:
    sha256 = der.sequence(der.oid("2.16.840.1.101.3.4.2.1"))
    ecdsa = der.sequence(der.oid("1.2.840.10045.4.3.2"))
    signer = _signer_info(sha256, ecdsa)
    for value in (b"\x81\x81", b"\x80", b"\xff" * 2100 + b"\x01"):
        # an OID whose last arc never ends, or whose arc is 14,700 bits long
        token = _response(signer, content_oid=der.tlv(0x06, value))
        assert outcome(lambda: parse_timestamp_response(token)) is None  # noqa: B023
    # empty AlgorithmIdentifiers
    for token in (
        _response(_signer_info(der.sequence(), ecdsa)),
        _response(_signer_info(sha256, der.sequence())),
    ):
        assert outcome(lambda: parse_timestamp_response(token)) is None  # noqa: B023


def test_deeply_nested_json_is_refused_cleanly() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    assert outcome(lambda: parse_bundle(deep)) is None
    assert outcome(lambda: TrustRoot.from_json(deep)) is None
    assert outcome(lambda: parse_payload(b'{"critical":' * 50_000)) is None
    signed = SIG.simple_signing(manifest_digest="sha256:" + "ab" * 32, docker_reference="r.test/a")
    for name in ("dev.sigstore.cosign/bundle", "dev.sigstore.cosign/rfc3161timestamp"):
        annotations = {**signed.annotations, name: "[" * 100_000}
        assert (
            outcome(
                lambda: verify_simple_signing(
                    VERIFIER,
                    signed.payload,
                    annotations,  # noqa: B023
                    manifest_digest="sha256:" + "ab" * 32,
                )
            )
            is None
        )
    # signed content is no safer: a deeply nested in-toto payload, and a log entry body
    nested = b"[" * 5_000 + b"]" * 5_000
    bundle = SIG.sign_dsse(nested)
    assert outcome(lambda: VERIFIER.verify_dsse(bundle)).payload == nested
    assert outcome(lambda: VERIFIER.verify_artifact(bundle, ARTIFACT)) is None
    parts = SIG.sign_artifact_parts(ARTIFACT)
    entry = SIG.rekor.add_entry(
        nested, integrated_time=SIG.now + timedelta(seconds=1), kind="hashedrekord", version="0.0.1"
    )
    logged = dataclasses.replace(parts, tlog_entries=(entry,)).to_json()
    assert outcome(lambda: VERIFIER.verify_artifact(logged, ARTIFACT)) is None


def test_integration_times_past_year_9999_are_refused_cleanly() -> None:
    for seconds in ("253402300800", "9223372036854775807"):
        doc = json.loads(BUNDLE)
        doc["verificationMaterial"]["tlogEntries"][0]["integratedTime"] = seconds
        text = json.dumps(doc)
        assert outcome(lambda: VERIFIER.verify_artifact(text, ARTIFACT)) is None  # noqa: B023
    signed = SIG.simple_signing(manifest_digest="sha256:" + "ab" * 32, docker_reference="r.test/a")
    legacy = json.loads(signed.annotations["dev.sigstore.cosign/bundle"])
    legacy["Payload"]["integratedTime"] = 10**18
    annotations = {**signed.annotations, "dev.sigstore.cosign/bundle": json.dumps(legacy)}
    assert (
        outcome(
            lambda: verify_simple_signing(
                VERIFIER, signed.payload, annotations, manifest_digest="sha256:" + "ab" * 32
            )
        )
        is None
    )


_TSA = TrustedTSA(
    CertificateAuthority(
        uri=SIG.tsa.uri,
        chain=SIG.tsa.chain,
        valid_for=ValidityWindow(start=datetime(1970, 1, 1, tzinfo=UTC)),
    )
)
_REFERENCE = (
    VerifierBuilder()
    .tsa_certificate(SIG.tsa.certificate)
    .add_root_certificate(SIG.tsa.root)
    .build()
)
_FIXED_TOKEN_EMBEDDED = SIG.tsa.timestamp(b"m", gen_time=SIG.now, serial=43)


def _ours(token: bytes, message: bytes) -> datetime | None:
    try:
        return _TSA.verify(parse_timestamp_response(token), message)
    except VerificationError as exc:
        if not str(exc):
            raise AssertionError("VerificationError without a message") from exc
        return None


def _theirs(token: bytes, message: bytes) -> datetime | None:
    try:
        response = decode_timestamp_response(token)
        _REFERENCE.verify_message(response, message)
    except Exception:  # rfc3161-client raises ValueError, its VerificationError, ...
        return None
    when: datetime = response.tst_info.gen_time
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _flip(token: bytes, at: int, mask: int) -> bytes:
    return token[:at] + bytes([token[at] ^ mask]) + token[at + 1 :]


def test_timestamps_with_malformed_unsigned_fields_are_refused() -> None:
    """Fields the verifier does not need must still be what they claim (rfc3161-client
    refuses all of these too): SignedData's version and digestAlgorithms, the SignerInfo
    version, the certificates set and the CRL set."""
    token = _FIXED_TOKEN_EMBEDDED
    signed_data = token.index(bytes.fromhex("020103310d300b0609608648016503040201"))
    version, digests = signed_data, signed_data + 3
    sha256_oid = digests + 6
    certificates = token.index(b"\xa0\x82", sha256_oid)
    assert token[certificates + 4 : certificates + 6] == b"\x30\x82"
    signer_version = token.index(b"\x31\x82", certificates + 4) + 8
    assert token[signer_version : signer_version + 3] == b"\x02\x01\x01"
    broken = {
        "version is negative": _flip(token, version + 2, 0x80),
        "digestAlgorithms is a SEQUENCE": _flip(token, digests, 0x01),
        "digestAlgorithms lacks the signer's SHA-256": _flip(token, sha256_oid + 8, 0x02),
        "a certificate is a SET": _flip(token, certificates + 4, 0x01),
        "crls holds a certificate": _flip(token, certificates, 0x01),
        "SignerInfo version is negative": _flip(token, signer_version + 2, 0x80),
    }
    assert _ours(token, b"m") == _theirs(token, b"m") == SIG.now
    for why, bad in broken.items():
        assert outcome(lambda: parse_timestamp_response(bad)) is None, why  # noqa: B023
        assert _theirs(bad, b"m") is None, why

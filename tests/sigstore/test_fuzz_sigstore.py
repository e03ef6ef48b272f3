"""Hostile input to the Sigstore parsers and verifier: only BuildsigError may come out, quickly.

Valid material from the offline test Sigstore is mutated the way an attacker or a broken
producer would (bytes flipped inside base64 fields, keys dropped or duplicated, values
swapped for other JSON) and fed to ``parse_bundle``, ``parse_timestamp_response``,
``TrustRoot.from_json``, simple-signing parsing and ``Verifier.verify_artifact``. Whatever
happens, the only exceptions allowed are :class:`~buildsig.errors.BuildsigError` with a
message, and a mutated bundle that still verifies must still say the same thing (same
signer, same signature, same payload). The RFC 3161 parser is also held to
``rfc3161-client``'s verdict on valid and tampered tokens.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rfc3161_client import VerifierBuilder, decode_timestamp_response

from buildsig.errors import BuildsigError, VerificationError
from buildsig.sigstore import TrustRoot, VerifiedBundle, Verifier, parse_bundle
from buildsig.sigstore.simplesigning import parse_payload, verify_simple_signing
from buildsig.sigstore.trust import CertificateAuthority, ValidityWindow
from buildsig.sigstore.tsa import TrustedTSA, parse_timestamp_response
from buildsig.testing import Signer, TestSigstore, statement
from buildsig.testing import _der as der

ARTIFACT = b"buildsig fuzz artifact\n"
DIGEST = "sha256:" + hashlib.sha256(ARTIFACT).hexdigest()
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LIMIT = 2.0  # seconds any single call may take

SIG = TestSigstore(seed=0)
ROOT = SIG.trusted_root_json()
VERIFIER = Verifier(TrustRoot.from_json(ROOT), now=SIG.now + timedelta(hours=1))
_KEY = Signer(SIG.new_key())
_STATEMENT = statement(
    subject_digest=DIGEST, predicate_type="https://slsa.dev/provenance/v1", predicate={}
)
#: name → (bundle, key PEM or None)
BUNDLES: dict[str, tuple[bytes, bytes | None]] = {
    "v0.1": (SIG.sign_artifact(ARTIFACT, bundle_version="0.1"), None),
    "v0.2": (SIG.sign_artifact(ARTIFACT, bundle_version="0.2"), None),
    "v0.3+tsa": (SIG.sign_artifact(ARTIFACT, timestamp=True), None),
    "rekor-v2": (SIG.sign_artifact(ARTIFACT, rekor="v2"), None),
    "dsse": (SIG.sign_dsse(_STATEMENT), None),
    "intoto": (SIG.sign_dsse(_STATEMENT, entry_kind="intoto"), None),
    "dsse-v2": (SIG.sign_dsse(_STATEMENT, rekor="v2"), None),
    "key": (SIG.sign_artifact(ARTIFACT, signer=_KEY), _KEY.public_key_pem),
}
BUNDLE = BUNDLES["v0.3+tsa"][0]


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


# -- regressions: inputs that once escaped as bare exceptions --------------------------------


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


# -- mutations of JSON documents ------------------------------------------------------------


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The path of every value inside ``doc`` (not the root itself)."""
    out: list[tuple[Any, ...]] = []
    items = (
        doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    )
    for key, value in items:
        out.append((*prefix, key))
        out.extend(_paths(value, (*prefix, key)))
    return out


def _parent(doc: Any, path: tuple[Any, ...]) -> Any:
    for key in path[:-1]:
        doc = doc[key]
    return doc


def _is_b64(value: Any) -> bool:
    if not isinstance(value, str) or len(value) < 4 or len(value) % 4:
        return False
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def mutated(draw: st.DrawFn, document: bytes) -> bytes:
    """``document`` (JSON) with one to three mutations, as JSON text."""
    doc = json.loads(document)
    duplicate: tuple[tuple[Any, ...], str, Any] | None = None
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(doc)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent, key = _parent(doc, path), path[-1]
        value = parent[key]
        choices = ["drop", "replace", "duplicate"]
        if _is_b64(value):
            choices += ["flip"] * 4
        if isinstance(value, str) and value.lstrip("-").isdigit():
            choices += ["number"] * 2
        if isinstance(value, str):
            choices += ["text"]
        action = draw(st.sampled_from(choices))
        if action == "drop":
            del parent[key]
        elif action == "replace":
            parent[key] = draw(_json_values)
        elif action == "flip":
            raw = bytearray(base64.b64decode(value))
            at = draw(st.integers(0, len(raw) - 1))
            raw[at] ^= 1 << draw(st.integers(0, 7))
            parent[key] = base64.b64encode(bytes(raw)).decode()
        elif action == "number":
            parent[key] = draw(
                st.sampled_from(["-1", "0", "9223372036854775807", "99999999999999", "1e3", "--5"])
                | st.integers(-(2**64), 2**64).map(str)
            )
        elif action == "text":
            at = draw(st.integers(0, len(value)))
            parent[key] = value[:at] + draw(st.text(max_size=3)) + value[at + 1 :]
        elif isinstance(parent, dict) and duplicate is None:
            duplicate = (path, key, draw(st.sampled_from([value, draw(_json_values)])))
    text = json.dumps(doc)
    if duplicate is not None:
        path, key, value = duplicate
        try:
            holder = _parent(doc, path)
        except (KeyError, IndexError, TypeError):
            holder = None
        if isinstance(holder, dict) and key in holder:
            # write the object by hand with ``key`` twice: JSON parsers disagree on which wins
            marker = "\u0000duplicate\u0000"
            pairs = [*holder.items(), (key, value)]
            body = ",".join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in pairs)
            if path[:-1]:
                _parent(doc, path[:-1])[path[-2]] = marker
                text = json.dumps(doc)
            else:
                text = json.dumps(marker)
            text = text.replace(json.dumps(marker), "{" + body + "}")
    return text.encode()


def _same_claim(result: VerifiedBundle, original: VerifiedBundle) -> None:
    """A mutated bundle that verifies must vouch for exactly what the original did."""
    assert result.bundle.signature == original.bundle.signature
    assert result.signer == original.signer
    assert result.payload == original.payload
    assert result.payload_type == original.payload_type
    if original.certificate is not None:
        assert result.certificate == original.certificate


_ORIGINALS = {
    name: (
        VERIFIER.verify_dsse(bundle, key=key)
        if name.startswith(("dsse", "intoto"))
        else VERIFIER.verify_artifact(bundle, ARTIFACT, key=key)
    )
    for name, (bundle, key) in BUNDLES.items()
}


# -- bundles -----------------------------------------------------------------------------------


@FAST
@given(st.data())
def test_mutated_bundles_verify_to_the_same_claim_or_fail_cleanly(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(BUNDLES)))
    bundle, key = BUNDLES[name]
    changed = data.draw(mutated(bundle))
    parsed = outcome(lambda: parse_bundle(changed))
    result = outcome(lambda: VERIFIER.verify_artifact(changed, ARTIFACT, key=key))
    if result is not None:
        assert parsed is not None
        _same_claim(result, _ORIGINALS[name])
    digest_result = outcome(lambda: VERIFIER.verify_artifact(changed, DIGEST, key=key))
    if digest_result is not None:
        _same_claim(digest_result, _ORIGINALS[name])


@FAST
@given(st.binary(max_size=400) | st.text(max_size=200).map(str.encode))
def test_parse_bundle_on_raw_bytes(data: bytes) -> None:
    assert outcome(lambda: parse_bundle(data)) is None or data.strip().startswith(b"{")


_bundle_keys = st.sampled_from(
    [
        "mediaType",
        "verificationMaterial",
        "certificate",
        "rawBytes",
        "tlogEntries",
        "logIndex",
        "logId",
        "keyId",
        "kindVersion",
        "integratedTime",
        "inclusionPromise",
        "inclusionProof",
        "checkpoint",
        "envelope",
        "canonicalizedBody",
        "messageSignature",
        "dsseEnvelope",
        "signatures",
        "timestampVerificationData",
        "rfc3161Timestamps",
    ]
)
_shaped = st.recursive(
    _json_values,
    lambda inner: st.dictionaries(_bundle_keys, inner, max_size=5) | st.lists(inner, max_size=3),
    max_leaves=20,
)


@FAST
@given(_shaped)
def test_parse_bundle_on_bundle_shaped_json(doc: Any) -> None:
    if isinstance(doc, dict):
        doc["mediaType"] = "application/vnd.dev.sigstore.bundle.v0.3+json"
    outcome(lambda: parse_bundle(json.dumps(doc)))
    outcome(lambda: parse_bundle(doc))


# -- trust roots -----------------------------------------------------------------------------


@FAST
@given(st.data())
def test_mutated_trust_roots(data: st.DataObject) -> None:
    changed = data.draw(mutated(ROOT))
    root = outcome(lambda: TrustRoot.from_json(changed))
    if root is None:
        return
    verifier = outcome(lambda: Verifier(root, now=SIG.now + timedelta(hours=1)))
    if verifier is not None:
        name = data.draw(st.sampled_from(sorted(BUNDLES)))
        bundle, key = BUNDLES[name]
        result = outcome(lambda: verifier.verify_artifact(bundle, ARTIFACT, key=key))
        if result is not None:
            _same_claim(result, _ORIGINALS[name])


@FAST
@given(st.binary(max_size=300) | _shaped)
def test_trust_roots_from_anything(data: Any) -> None:
    if isinstance(data, dict):
        data["mediaType"] = "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
        outcome(lambda: TrustRoot.from_json(data))
        data = json.dumps(data).encode()
    outcome(lambda: TrustRoot.from_json(data))


# -- simple signing ----------------------------------------------------------------------------

_SIMPLE = SIG.simple_signing(manifest_digest="sha256:" + "ab" * 32, docker_reference="r.test/app")
_simple_keys = st.sampled_from(
    [
        "critical",
        "identity",
        "docker-reference",
        "image",
        "docker-manifest-digest",
        "type",
        "optional",
    ]
)


@FAST
@given(
    st.binary(max_size=200)
    | st.recursive(
        _json_values,
        lambda inner: st.dictionaries(_simple_keys, inner, max_size=4),
        max_leaves=12,
    ).map(lambda d: json.dumps(d).encode())
    | mutated(_SIMPLE.payload)
)
def test_simple_signing_payloads(payload: bytes) -> None:
    parsed = outcome(lambda: parse_payload(payload))
    assert parsed is None or isinstance(parsed.manifest_digest, str)
    result = outcome(
        lambda: verify_simple_signing(
            VERIFIER, payload, _SIMPLE.annotations, manifest_digest="sha256:" + "ab" * 32
        )
    )
    if result is not None:  # only the genuine payload can verify
        assert payload == _SIMPLE.payload


@FAST
@given(st.data())
def test_simple_signing_annotations(data: st.DataObject) -> None:
    annotations = dict(_SIMPLE.annotations)
    name = data.draw(st.sampled_from(sorted(annotations)))
    value = annotations[name]
    if name == "dev.sigstore.cosign/bundle":
        annotations[name] = data.draw(mutated(value.encode())).decode()
    else:
        annotations[name] = data.draw(
            st.sampled_from(["", "x", value[:-8], value.replace("A", "B", 1)])
            | st.text(max_size=20)
        )
    result = outcome(
        lambda: verify_simple_signing(
            VERIFIER, _SIMPLE.payload, annotations, manifest_digest="sha256:" + "ab" * 32
        )
    )
    if result is not None:
        assert result[1].bundle.signature == _SIMPLE.signature


# -- RFC 3161 tokens against rfc3161-client ------------------------------------------------------

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
_OTHER_TSA = TestSigstore(seed=1).tsa
_FIXED_TOKEN = SIG.tsa.timestamp(b"m", serial=42, nonce=7)
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


_tokens = st.builds(
    lambda tsa, message, seconds, embed, nonce, serial: (
        tsa.timestamp(
            message,
            gen_time=SIG.now + timedelta(seconds=seconds),
            embed_certificate=embed,
            nonce=nonce,
            serial=serial,
        ),
        message,
    ),
    st.sampled_from([SIG.tsa, SIG.tsa, SIG.tsa, _OTHER_TSA]),
    st.binary(min_size=1, max_size=64),
    st.integers(-300 * 86400, 3000 * 86400),
    st.booleans(),
    st.none() | st.integers(0, 2**64),
    st.integers(1, 2**63),
)


@FAST
@given(_tokens, st.data())
def test_timestamps_agree_with_rfc3161_client(
    made: tuple[bytes, bytes], data: st.DataObject
) -> None:
    """Untampered tokens: the same verdict and time. Tampered ones: buildsig never accepts
    a token rfc3161-client refuses (it refuses two that rfc3161-client takes, see below)."""
    token, message = made
    how = data.draw(st.sampled_from(["as is", "other message", "flip", "truncate", "extend"]))
    if how == "other message":
        message += b"!"
    elif how == "flip":
        at = data.draw(st.integers(0, len(token) - 1))
        token = _flip(token, at, 1 << data.draw(st.integers(0, 7)))
    elif how == "truncate":
        token = token[: data.draw(st.integers(0, len(token) - 1))]
    elif how == "extend":
        token += data.draw(st.binary(min_size=1, max_size=4))
    ours = outcome(lambda: _ours(token, message))
    theirs = _theirs(token, message)
    if how in ("as is", "other message") or ours is not None:
        assert ours == theirs, (how, ours, theirs)


def test_where_buildsig_is_stricter_than_rfc3161_client() -> None:
    token = _FIXED_TOKEN_EMBEDDED
    # The SignerInfo names its signer by issuer and serial; given the TSA's certificate
    # (and none in the token), OpenSSL matches the name loosely (case-folded), buildsig
    # byte for byte, as a TSA copies it from its certificate.
    bare = SIG.tsa.timestamp(b"m", gen_time=SIG.now, serial=44, embed_certificate=False)
    recased = _flip(bare, bare.index(b"sigstore.dev", bare.rindex(b"\x31\x82")), 0x20)
    # The signature algorithm must be the one the signature uses; OpenSSL goes by the key.
    algorithm = token.rindex(bytes.fromhex("06082a8648ce3d040302"))
    unknown = _flip(token, algorithm + 9, 0x04)  # ecdsa-with-SHA256 -> 1.2.840.10045.4.3.6
    for bad in (recased, unknown):
        assert _theirs(bad, b"m") == SIG.now
        assert _ours(bad, b"m") is None


@FAST
@given(st.binary(max_size=300))
def test_timestamp_parser_on_raw_bytes(data: bytes) -> None:
    outcome(lambda: parse_timestamp_response(data))


@FAST
@given(st.data())
def test_timestamp_parser_on_structured_garbage(data: st.DataObject) -> None:
    """Valid DER framing around wrong contents: lengths right, meanings wrong."""
    token = _FIXED_TOKEN
    # rewrite one primitive value in place, keeping every length consistent
    at = data.draw(st.integers(0, len(token) - 3))
    if token[at] in (0x02, 0x04, 0x06, 0x18, 0x17) and token[at + 1] < 0x80:
        length = token[at + 1]
        payload = data.draw(st.binary(min_size=length, max_size=length))
        token = token[: at + 2] + payload + token[at + 2 + length :]
    outcome(lambda: parse_timestamp_response(token))


def test_the_reference_verifier_agrees_on_the_happy_path() -> None:
    token = SIG.tsa.timestamp(b"message", gen_time=SIG.now)
    assert _ours(token, b"message") == _theirs(token, b"message") == SIG.now

"""buildsig.testing: the offline test Sigstore, checked against independent oracles.

sigstore-python verifies everything it supports (message signatures v0.1-v0.3 on Rekor v1,
DSSE on Rekor v1, Rekor v2 + RFC 3161 for both) and must reject every tampered variant;
rfc3161-client and ``openssl ts`` check the timestamps; what sigstore-python cannot verify
(intoto entries, managed keys, cosign simple signing) is checked by hand with cryptography
and against the shapes of real Sigstore/cosign material.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import re
import subprocess
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.certificate_transparency import LogEntryType
from cryptography.x509.oid import ExtendedKeyUsageOID
from rfc3161_client import VerifierBuilder, decode_timestamp_response
from rfc3161_client.errors import VerificationError as TSAVerificationError
from sigstore.errors import Error as SigstoreError
from sigstore.hashes import Hashed
from sigstore.models import Bundle, TrustedRoot
from sigstore.verify import Verifier
from sigstore.verify.policy import (
    GitHubWorkflowRepository,
    Identity,
    OIDCBuildSignerURI,
    OIDCIssuerV2,
    UnsafeNoOp,
)
from sigstore_models.common.v1 import HashAlgorithm
from sigstore_models.rekor.v2.entry import Entry as RekorV2Entry

from buildsig.testing import (
    DEFAULT_IDENTITY,
    DEFAULT_ISSUER,
    BundleParts,
    Signer,
    TestCTLog,
    TestSigstore,
    ValidFor,
    hashedrekord_v001,
    pae,
    statement,
)
from buildsig.testing import _merkle as merkle

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "sigstore"
CASES = DATA / "conformance" / "bundle-verify"
LEGACY = DATA / "cosign-legacy"
ARTIFACT = b"buildsig test artifact\n"
POLICY = Identity(identity=DEFAULT_IDENTITY, issuer=DEFAULT_ISSUER)
FULCIO = "1.3.6.1.4.1.57264.1"


# -- helpers -----------------------------------------------------------------------------


@pytest.fixture
def sig() -> TestSigstore:
    return TestSigstore(seed=0)


@pytest.fixture
def verify(tmp_path: Path) -> Callable[..., Any]:
    """verify(instance, bundle, artifact=None, root=None, policy=POLICY): sigstore-python."""

    def run(
        instance: TestSigstore,
        bundle: bytes,
        artifact: bytes | Hashed | None = ARTIFACT,
        *,
        root: bytes | None = None,
        policy: Any = POLICY,
    ) -> Any:
        path = tmp_path / "trusted_root.json"
        path.write_bytes(root if root is not None else instance.trusted_root_json())
        verifier = Verifier(trusted_root=TrustedRoot.from_file(str(path)))
        parsed = Bundle.from_json(bundle)
        if artifact is None:
            return verifier.verify_dsse(parsed, policy)
        return verifier.verify_artifact(artifact, parsed, policy)

    return run


def _statement() -> bytes:
    return statement(
        subject_digest="sha256:" + hashlib.sha256(ARTIFACT).hexdigest(),
        predicate_type="https://slsa.dev/provenance/v1",
        predicate={"buildDefinition": {"buildType": "https://example.test/build"}},
        subject_name="artifact.txt",
    )


def _real(case: str, name: str = "bundle.sigstore.json") -> Any:
    path = CASES / case / name
    if not path.exists():
        pytest.skip("shared/data/sigstore is absent: the real examples cannot be read")
    return json.loads(path.read_bytes())


def _assert_same_shape(ours: Any, theirs: Any, path: str = "$") -> None:
    """Same keys at every level (order-insensitive) and same JSON types at the leaves."""
    if isinstance(theirs, dict):
        assert isinstance(ours, dict), path
        assert set(ours) == set(theirs), (path, sorted(ours), sorted(theirs))
        for key in theirs:
            _assert_same_shape(ours[key], theirs[key], f"{path}.{key}")
    elif isinstance(theirs, list):
        assert isinstance(ours, list), path
        if ours and theirs:  # each of ours is shaped like one of theirs
            for item in ours:
                errors = []
                for candidate in theirs:
                    try:
                        _assert_same_shape(item, candidate, f"{path}[]")
                        break
                    except AssertionError as exc:
                        errors.append(exc)
                else:
                    raise errors[0]
    else:
        assert type(ours) is type(theirs), (path, ours, theirs)


def _body(bundle: dict[str, Any]) -> Any:
    return json.loads(
        base64.b64decode(bundle["verificationMaterial"]["tlogEntries"][0]["canonicalizedBody"])
    )


def _check_log_entry(instance: TestSigstore, entry: dict[str, Any], *, v1: bool = True) -> None:
    """Check an entry's Merkle proof, checkpoint and (v1) SET by hand, as a verifier must."""
    log = instance.rekor if v1 else instance.rekor_v2
    body = base64.b64decode(entry["canonicalizedBody"])
    proof = entry["inclusionProof"]
    root = merkle.root_from_proof(
        int(proof["logIndex"]),
        int(proof["treeSize"]),
        hashlib.sha256(b"\x00" + body).digest(),
        [base64.b64decode(h) for h in proof["hashes"]],
    )
    assert base64.b64encode(root).decode() == proof["rootHash"]
    note, signature_line = proof["checkpoint"]["envelope"].split("\n\n")
    assert note.split("\n") == [log.origin, proof["treeSize"], proof["rootHash"]]
    match = re.fullmatch(r"\u2014 (\S+) (\S+)\n", signature_line)
    assert match and match.group(1) == log.name
    raw = base64.b64decode(match.group(2))
    assert raw[:4] == base64.b64decode(entry["logId"]["keyId"])[:4]
    _verify_log_signature(log.public_key, raw[4:], (note + "\n").encode())
    if v1:
        promise = rfc8785.dumps(
            {
                "body": entry["canonicalizedBody"],
                "integratedTime": int(entry["integratedTime"]),
                "logID": base64.b64decode(entry["logId"]["keyId"]).hex(),
                "logIndex": int(entry["logIndex"]),
            }
        )
        sset = base64.b64decode(entry["inclusionPromise"]["signedEntryTimestamp"])
        _verify_log_signature(log.public_key, sset, promise)
    else:
        assert "integratedTime" not in entry and "inclusionPromise" not in entry


def _verify_log_signature(key: Any, signature: bytes, data: bytes) -> None:
    if isinstance(key, ed25519.Ed25519PublicKey):
        key.verify(signature, data)
    else:
        key.verify(signature, data, ec.ECDSA(hashes.SHA256()))


def _pem_cert(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


# -- sigstore-python accepts what the test Sigstore signs -----------------------------------


@pytest.mark.parametrize("version", ["0.1", "0.2", "0.3"])
def test_message_signature_on_rekor_v1_verifies(
    sig: TestSigstore, verify: Any, version: str
) -> None:
    bundle = sig.sign_artifact(ARTIFACT, bundle_version=version)  # type: ignore[arg-type]
    verify(sig, bundle)
    verify(
        sig,
        bundle,
        Hashed(algorithm=HashAlgorithm.SHA2_256, digest=hashlib.sha256(ARTIFACT).digest()),
    )
    _check_log_entry(sig, json.loads(bundle)["verificationMaterial"]["tlogEntries"][0])


def test_message_signature_on_rekor_v2_with_timestamp_verifies(
    sig: TestSigstore, verify: Any
) -> None:
    bundle = sig.sign_artifact(ARTIFACT, rekor="v2")
    document = json.loads(bundle)
    assert (
        len(document["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"]) == 1
    )
    verify(sig, bundle)
    _check_log_entry(sig, document["verificationMaterial"]["tlogEntries"][0], v1=False)


def test_rekor_v1_bundle_with_timestamp_verifies_at_both_times(
    sig: TestSigstore, verify: Any
) -> None:
    verify(sig, sig.sign_artifact(ARTIFACT, timestamp=True))


@pytest.mark.parametrize("rekor", ["v1", "v2"])
def test_dsse_verifies(sig: TestSigstore, verify: Any, rekor: str) -> None:
    body = _statement()
    bundle = sig.sign_dsse(body, rekor=rekor)  # type: ignore[arg-type]
    payload_type, payload = verify(sig, bundle, None)
    assert (payload_type, payload) == ("application/vnd.in-toto+json", body)
    kind = json.loads(bundle)["verificationMaterial"]["tlogEntries"][0]["kindVersion"]
    assert kind == (
        {"kind": "dsse", "version": "0.0.1"}
        if rekor == "v1"
        else {"kind": "hashedrekord", "version": "0.0.2"}
    )


def test_dsse_from_a_mapping_is_compact_json(sig: TestSigstore, verify: Any) -> None:
    _, payload = verify(
        sig,
        sig.sign_dsse(
            {
                "_type": "https://in-toto.io/Statement/v1",
                "subject": [{"name": "a", "digest": {"sha256": "00"}}],
                "predicateType": "x",
                "predicate": {},
            }
        ),
        None,
    )
    assert payload.startswith(b'{"_type":"https://in-toto.io/Statement/v1","subject"')


@pytest.mark.parametrize(
    ("san_kind", "identity"),
    [("uri", "https://example.test/ci@refs/tags/v1"), ("email", "dev@example.test")],
)
def test_identity_kinds_verify(
    sig: TestSigstore, verify: Any, san_kind: str, identity: str
) -> None:
    bundle = sig.sign_artifact(ARTIFACT, identity=identity, san_kind=san_kind)  # type: ignore[arg-type]
    verify(sig, bundle, policy=Identity(identity=identity, issuer=DEFAULT_ISSUER))
    with pytest.raises(SigstoreError, match="SANs do not match"):
        verify(sig, bundle, policy=Identity(identity=DEFAULT_IDENTITY, issuer=DEFAULT_ISSUER))


def test_othername_san_is_a_der_utf8string(sig: TestSigstore, verify: Any) -> None:
    bundle = sig.sign_artifact(ARTIFACT, identity="octocat", san_kind="othername")
    verify(sig, bundle, policy=UnsafeNoOp())
    cert = Bundle.from_json(bundle).signing_certificate
    (other,) = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert isinstance(other, x509.OtherName)
    assert other.type_id.dotted_string == f"{FULCIO}.7"
    assert other.value == b"\x0c\x07octocat"


def test_fulcio_extensions_follow_fulcio_encodings(sig: TestSigstore, verify: Any) -> None:
    bundle = sig.sign_artifact(
        ARTIFACT,
        extensions={
            ".5": "o/r",
            "9": "https://github.com/o/r/.github/workflows/w.yml@refs/heads/main",
        },
    )
    for policy in (
        OIDCIssuerV2(DEFAULT_ISSUER),
        GitHubWorkflowRepository("o/r"),
        OIDCBuildSignerURI("https://github.com/o/r/.github/workflows/w.yml@refs/heads/main"),
    ):
        verify(sig, bundle, policy=policy)
    with pytest.raises(SigstoreError):
        verify(sig, bundle, policy=GitHubWorkflowRepository("o/other"))
    cert = Bundle.from_json(bundle).signing_certificate
    raw = {
        ext.oid.dotted_string: ext.value.value
        for ext in cert.extensions
        if isinstance(ext.value, x509.UnrecognizedExtension)
    }
    assert raw[f"{FULCIO}.1"] == DEFAULT_ISSUER.encode()
    assert raw[f"{FULCIO}.8"] == b"\x0c" + bytes([len(DEFAULT_ISSUER)]) + DEFAULT_ISSUER.encode()
    assert raw[f"{FULCIO}.5"] == b"o/r"


def test_extensions_can_be_removed(sig: TestSigstore, verify: Any) -> None:
    bundle = sig.sign_artifact(ARTIFACT, extensions={".1": None})
    with pytest.raises(SigstoreError, match=r"1\.3\.6\.1\.4\.1\.57264\.1\.1"):
        verify(sig, bundle)
    verify(sig, bundle, policy=OIDCIssuerV2(DEFAULT_ISSUER))


# -- ...and rejects every tampered variant ---------------------------------------------------


def test_wrong_artifact_is_rejected(sig: TestSigstore, verify: Any) -> None:
    bundle = sig.sign_artifact(ARTIFACT)
    with pytest.raises(SigstoreError, match="digest mismatch"):
        verify(sig, bundle, b"another artifact")
    unhashed = BundleParts(
        **{**_fields(sig.sign_artifact_parts(ARTIFACT)), "message_digest": None}
    ).to_json()
    with pytest.raises(SigstoreError, match="Signature is invalid"):
        verify(sig, unhashed, b"another artifact")


def _fields(parts: BundleParts) -> dict[str, Any]:
    return {f.name: getattr(parts, f.name) for f in dataclasses.fields(parts)}


def test_certificate_from_another_instance_is_rejected(sig: TestSigstore, verify: Any) -> None:
    other = TestSigstore(seed=1)
    with pytest.raises(SigstoreError, match="certificate chain"):
        verify(sig, other.sign_artifact(ARTIFACT))
    # trusting the other instance's CA is not enough: its log is still unknown
    root = sig.trusted_root_json(
        certificate_authorities=[sig.fulcio, other.fulcio], ctlogs=[sig.ctlog, other.ctlog]
    )
    with pytest.raises(SigstoreError, match=r"invalid log entry|SET"):
        verify(sig, other.sign_artifact(ARTIFACT), root=root)


def test_sct_from_an_unknown_log_is_rejected(sig: TestSigstore, verify: Any) -> None:
    key = sig.new_key()
    rogue = TestCTLog(seed=99)
    cert = sig.fulcio.issue(key.public_key(), ctlog=rogue)
    sct = cert.extensions.get_extension_for_class(
        x509.PrecertificateSignedCertificateTimestamps
    ).value[0]
    assert sct.log_id == rogue.log_id != sig.ctlog.log_id
    with pytest.raises(SigstoreError, match="failed to verify SCT"):
        verify(sig, sig.sign_artifact(ARTIFACT, signer=Signer(key, cert)))
    # the same certificate verifies once the rogue log is trusted
    verify(
        sig,
        sig.sign_artifact(ARTIFACT, signer=Signer(key, cert)),
        root=sig.trusted_root_json(ctlogs=[sig.ctlog, rogue]),
    )


def test_certificate_without_sct_is_rejected(sig: TestSigstore, verify: Any) -> None:
    key = sig.new_key()
    cert = sig.fulcio.issue(key.public_key(), sct=False)
    with pytest.raises(SigstoreError, match="signed certificate timestamp"):
        verify(sig, sig.sign_artifact(ARTIFACT, signer=Signer(key, cert)))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"extended_key_usage": (ExtendedKeyUsageOID.SERVER_AUTH,)}, "code signing"),
        (
            {
                "key_usage": x509.KeyUsage(
                    False, False, True, False, False, False, False, False, False
                )
            },
            "digital signature",
        ),
        ({"not_before": TestSigstore().now - timedelta(hours=1)}, "certificate chain"),
    ],
)
def test_bad_leaf_certificates_are_rejected(
    sig: TestSigstore, verify: Any, changes: dict[str, Any], message: str
) -> None:
    key = sig.new_key()
    cert = sig.fulcio.issue(key.public_key(), **changes)
    with pytest.raises(SigstoreError, match=message):
        verify(sig, sig.sign_artifact(ARTIFACT, signer=Signer(key, cert)))


def test_corrupted_inclusion_proof_is_rejected(sig: TestSigstore, verify: Any) -> None:
    parts = sig.sign_artifact_parts(ARTIFACT)
    proof = parts.tlog_entries[0].inclusion_proof
    assert proof is not None and proof.hashes
    corrupted = (bytes([proof.hashes[0][0] ^ 1]) + proof.hashes[0][1:], *proof.hashes[1:])
    with pytest.raises(SigstoreError, match="inclusion proof"):
        verify(sig, parts.replace_proof(hashes=corrupted).to_json())
    with pytest.raises(SigstoreError, match="inclusion proof has wrong size"):
        verify(sig, parts.replace_proof(hashes=proof.hashes[:-1]).to_json())


def test_proof_against_a_later_tree_verifies(sig: TestSigstore, verify: Any) -> None:
    parts = sig.sign_artifact_parts(ARTIFACT)
    for i in range(9):
        sig.rekor.append(b"later entry %d" % i)
    index = parts.tlog_entries[0].log_index
    later = sig.rekor.entry(index)
    assert later.inclusion_proof is not None and later.inclusion_proof.tree_size == sig.rekor.size
    verify(sig, dataclasses.replace(parts, tlog_entries=(later,)).to_json())


def test_checkpoint_by_another_key_is_rejected(sig: TestSigstore, verify: Any) -> None:
    parts = sig.sign_artifact_parts(ARTIFACT)
    proof = parts.tlog_entries[0].inclusion_proof
    assert proof is not None
    rogue = ec.generate_private_key(ec.SECP256R1())
    foreign = sig.rekor.checkpoint(proof.tree_size, signer=rogue)
    with pytest.raises(SigstoreError, match="checkpoint: Signature not found"):
        verify(sig, parts.replace_proof(checkpoint=foreign).to_json())
    forged = sig.rekor.checkpoint(proof.tree_size, signer=rogue, key_hint=sig.rekor.log_id[:4])
    with pytest.raises(SigstoreError, match="checkpoint: invalid signature"):
        verify(sig, parts.replace_proof(checkpoint=forged).to_json())


def test_checkpoint_for_another_root_is_rejected(sig: TestSigstore, verify: Any) -> None:
    parts = sig.sign_artifact_parts(ARTIFACT)
    proof = parts.tlog_entries[0].inclusion_proof
    assert proof is not None
    lying = sig.rekor.checkpoint(proof.tree_size, root_hash=b"\x00" * 32)
    with pytest.raises(SigstoreError, match="invalid root hash"):
        verify(sig, parts.replace_proof(checkpoint=lying).to_json())


def test_bad_signed_entry_timestamp_is_rejected(sig: TestSigstore, verify: Any) -> None:
    parts = sig.sign_artifact_parts(ARTIFACT)
    entry = parts.tlog_entries[0]
    assert entry.integrated_time is not None
    forged = sig.rekor.signed_entry_timestamp(
        body=entry.canonicalized_body,
        integrated_time=entry.integrated_time + 1,
        log_index=entry.log_index,
    )
    with pytest.raises(SigstoreError, match="SET"):
        verify(sig, parts.replace_entry(signed_entry_timestamp=forged).to_json())
    with pytest.raises(SigstoreError, match="SET"):
        verify(sig, parts.replace_entry(integrated_time=entry.integrated_time + 1).to_json())


@pytest.mark.parametrize("offset", [timedelta(minutes=11), -timedelta(seconds=1)])
def test_integrated_time_outside_certificate_validity_is_rejected(
    sig: TestSigstore, verify: Any, offset: timedelta
) -> None:
    bundle = sig.sign_artifact(ARTIFACT, integrated_time=sig.now + offset)
    with pytest.raises(SigstoreError, match=r"certificate chain|expired"):
        verify(sig, bundle)


def test_log_entry_inconsistent_with_the_bundle_is_rejected(sig: TestSigstore, verify: Any) -> None:
    parts = sig.sign_artifact_parts(ARTIFACT)
    assert parts.certificate is not None and parts.signature is not None
    wrong_body = hashedrekord_v001(
        digest=hashlib.sha256(b"something else").digest(),
        signature=parts.signature,
        verifier=parts.certificate,
    )
    entry = sig.rekor.add_entry(wrong_body, integrated_time=sig.now + timedelta(seconds=1))
    with pytest.raises(SigstoreError, match="inconsistent"):
        verify(sig, dataclasses.replace(parts, tlog_entries=(entry,)).to_json())


def test_log_outside_the_trusted_root_is_rejected(sig: TestSigstore, verify: Any) -> None:
    bundle = sig.sign_artifact(ARTIFACT)
    other = TestSigstore(seed=1)
    with pytest.raises(SigstoreError, match=r"invalid log entry|SET"):
        verify(sig, bundle, root=sig.trusted_root_json(tlogs=[other.rekor]))


def test_message_digest_and_signature_tampering_is_rejected(sig: TestSigstore, verify: Any) -> None:
    parts = sig.sign_artifact_parts(ARTIFACT)
    with pytest.raises(SigstoreError, match="digest mismatch"):
        verify(sig, dataclasses.replace(parts, message_digest=b"\x00" * 32).to_json())
    other = sig.sign_artifact_parts(b"other")
    with pytest.raises(SigstoreError, match="Signature is invalid"):
        verify(sig, dataclasses.replace(parts, signature=other.signature).to_json())


def test_dsse_tampering_is_rejected(sig: TestSigstore, verify: Any) -> None:
    parts = sig.sign_dsse_parts(_statement())
    envelope = parts.dsse_envelope
    assert envelope is not None
    changed = dataclasses.replace(
        envelope, payload=envelope.payload.replace(b"artifact.txt", b"artifact.exe")
    )
    with pytest.raises(SigstoreError, match="DSSE: invalid signature"):
        verify(sig, dataclasses.replace(parts, dsse_envelope=changed).to_json(), None)
    retyped = dataclasses.replace(envelope, payload_type="application/json")
    with pytest.raises(SigstoreError, match="DSSE: invalid signature"):
        verify(sig, dataclasses.replace(parts, dsse_envelope=retyped).to_json(), None)


def test_rekor_v2_without_timestamp_is_rejected(sig: TestSigstore, verify: Any) -> None:
    with pytest.raises(SigstoreError, match="signed timestamp"):
        verify(sig, sig.sign_artifact(ARTIFACT, rekor="v2", timestamp=False))


def test_timestamp_from_an_untrusted_tsa_is_rejected(sig: TestSigstore, verify: Any) -> None:
    parts = sig.sign_artifact_parts(ARTIFACT, rekor="v2")
    assert parts.signature is not None
    foreign = TestSigstore(seed=1).tsa.timestamp(parts.signature, gen_time=sig.now)
    with pytest.raises(SigstoreError, match="not enough sources of verified time"):
        verify(sig, dataclasses.replace(parts, rfc3161_timestamps=(foreign,)).to_json())


def test_timestamp_over_other_bytes_is_rejected(sig: TestSigstore, verify: Any) -> None:
    parts = sig.sign_artifact_parts(ARTIFACT, rekor="v2")
    stray = sig.tsa.timestamp(b"not the signature", gen_time=sig.now)
    with pytest.raises(SigstoreError, match="not enough sources of verified time"):
        verify(sig, dataclasses.replace(parts, rfc3161_timestamps=(stray,)).to_json())


def test_timestamp_outside_certificate_validity_is_rejected(sig: TestSigstore, verify: Any) -> None:
    bundle = sig.sign_artifact(ARTIFACT, rekor="v2", timestamp_time=sig.now + timedelta(minutes=30))
    with pytest.raises(SigstoreError, match=r"certificate chain|expired"):
        verify(sig, bundle)


def test_timestamp_outside_the_tsa_validity_window_is_rejected(
    sig: TestSigstore, verify: Any
) -> None:
    bundle = sig.sign_artifact(ARTIFACT, rekor="v2")
    verify(sig, bundle)
    later = {sig.tsa: ValidFor(start=sig.now + timedelta(days=1))}
    with pytest.raises(SigstoreError, match="not enough sources of verified time"):
        verify(sig, bundle, root=sig.trusted_root_json(valid_for=later))
    ended = {sig.tsa: ValidFor(start=sig.now - timedelta(days=30), end=sig.now)}
    with pytest.raises(SigstoreError, match="not enough sources of verified time"):
        verify(sig, bundle, root=sig.trusted_root_json(valid_for=ended))


def test_trusted_root_windows_can_be_dropped(sig: TestSigstore, tmp_path: Path) -> None:
    root = sig.trusted_root(
        valid_for={sig.rekor: ValidFor(None, sig.now), sig.ctlog: ValidFor(None)}
    )
    assert root["tlogs"][0]["publicKey"]["validFor"] == {"end": "2026-01-01T00:00:00Z"}
    assert "validFor" not in root["ctlogs"][0]["publicKey"]
    path = tmp_path / "root.json"
    path.write_text(json.dumps(root))
    with pytest.raises(ValueError, match="start"):
        TrustedRoot.from_file(str(path))


# -- what sigstore-python cannot verify: checked by hand and against real material -------------


def test_bundles_have_the_shape_of_real_ones(sig: TestSigstore) -> None:
    pairs = {
        "happy-path-v0.1": sig.sign_artifact(ARTIFACT, bundle_version="0.1"),
        "happy-path-v0.2": sig.sign_artifact(ARTIFACT, bundle_version="0.2"),
        "happy-path-v0.3": sig.sign_artifact(ARTIFACT),
        "rekor2-happy-path": sig.sign_artifact(ARTIFACT, rekor="v2"),
        "happy-path-intoto-in-dsse-v3": sig.sign_dsse(_statement()),
        "rekor2-dsse-happy-path": sig.sign_dsse(_statement(), rekor="v2"),
        "managed-key-happy-path": sig.sign_with_key(ARTIFACT, timestamp=True).bundle,
    }
    for case, ours in pairs.items():
        theirs = _real(case)
        document = json.loads(ours)
        _assert_same_shape(document, theirs, case)
        _assert_same_shape(_body(document), _body(theirs), case + " body")
        assert document["mediaType"] in {t.value for t in Bundle.BundleType}


def test_trusted_root_has_the_shape_of_a_real_one(sig: TestSigstore) -> None:
    theirs = _real("rekor2-happy-path", "trusted_root.json")
    ours = sig.trusted_root()
    _assert_same_shape(ours, theirs)
    assert [t["publicKey"]["keyDetails"] for t in ours["tlogs"]] == [
        "PKIX_ECDSA_P256_SHA_256",
        "PKIX_ED25519",
    ]
    assert ours["certificateAuthorities"][0]["subject"] == {
        "organization": "sigstore.dev",
        "commonName": "sigstore",
    }


def test_intoto_entries_match_real_ones_and_verify_by_hand(sig: TestSigstore) -> None:
    theirs = _real("intoto-with-custom-trust-root")
    bundle = json.loads(
        sig.sign_dsse(_statement(), entry_kind="intoto", bundle_version="0.2", timestamp=True)
    )
    entry = bundle["verificationMaterial"]["tlogEntries"][0]
    assert entry["kindVersion"] == {"kind": "intoto", "version": "0.0.2"}
    _assert_same_shape(_body(bundle), _body(theirs))
    _assert_same_shape(entry, theirs["verificationMaterial"]["tlogEntries"][0])
    _check_log_entry(sig, entry)

    content = _body(bundle)["spec"]["content"]
    envelope = bundle["dsseEnvelope"]
    payload = base64.b64decode(envelope["payload"])
    assert base64.b64decode(base64.b64decode(content["envelope"]["payload"])) == payload
    assert content["payloadHash"]["value"] == hashlib.sha256(payload).hexdigest()
    compact = json.dumps(envelope, separators=(",", ":"), sort_keys=True).encode()
    assert content["hash"]["value"] == hashlib.sha256(compact).hexdigest()
    (signature,) = content["envelope"]["signatures"]
    cert = x509.load_pem_x509_certificate(base64.b64decode(signature["publicKey"]))
    raw_sig = base64.b64decode(base64.b64decode(signature["sig"]))
    assert raw_sig == base64.b64decode(envelope["signatures"][0]["sig"])
    key = cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    key.verify(raw_sig, pae(envelope["payloadType"], payload), ec.ECDSA(hashes.SHA256()))


def test_rekor_v2_dsse_entries_parse_and_verify(sig: TestSigstore, verify: Any) -> None:
    parts = sig.sign_dsse_parts(_statement(), rekor="v2", entry_kind="dsse")
    entry = parts.tlog_entries[0]
    assert (entry.kind, entry.version) == ("dsse", "0.0.2")
    parsed = RekorV2Entry.from_json(entry.canonicalized_body)
    assert (
        parsed.spec.dsse_v002 is not None
        and parts.dsse_envelope is not None
        and parts.certificate is not None
    )
    assert (
        parsed.spec.dsse_v002.payload_hash.digest
        == hashlib.sha256(parts.dsse_envelope.payload).digest()
    )
    (signature,) = parsed.spec.dsse_v002.signatures
    assert signature.verifier.x509_certificate is not None
    assert signature.verifier.x509_certificate.raw_bytes == parts.certificate.public_bytes(
        serialization.Encoding.DER
    )
    key = parts.certificate.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    key.verify(signature.content, parts.dsse_envelope.pae(), ec.ECDSA(hashes.SHA256()))
    # sigstore-python only accepts hashedrekord for DSSE on Rekor v2
    with pytest.raises(SigstoreError, match="Unsupported DSSE log entry type"):
        verify(sig, parts.to_json(), None)


def test_managed_key_bundles_verify_by_hand(sig: TestSigstore) -> None:
    keyed = sig.sign_with_key(ARTIFACT)
    document = json.loads(keyed.bundle)
    public = serialization.load_pem_public_key(keyed.public_key_pem)
    assert isinstance(public, ec.EllipticCurvePublicKey)
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    material = document["verificationMaterial"]
    assert material["publicKey"] == {
        "hint": base64.b64encode(hashlib.sha256(der).digest()).decode()
    }
    assert "certificate" not in material
    signature = base64.b64decode(document["messageSignature"]["signature"])
    public.verify(signature, ARTIFACT, ec.ECDSA(hashes.SHA256()))
    body = _body(document)["spec"]
    assert base64.b64decode(body["signature"]["publicKey"]["content"]) == keyed.public_key_pem
    assert body["data"]["hash"]["value"] == hashlib.sha256(ARTIFACT).hexdigest()
    _check_log_entry(sig, material["tlogEntries"][0])
    with pytest.raises(InvalidSignature):
        public.verify(signature, b"other", ec.ECDSA(hashes.SHA256()))
    # a caller-supplied key is used as is
    key = ec.generate_private_key(ec.SECP256R1())
    again = sig.sign_with_key(ARTIFACT, key=key, rekor="v2")
    assert again.private_key is key
    v2 = json.loads(
        base64.b64decode(
            json.loads(again.bundle)["verificationMaterial"]["tlogEntries"][0]["canonicalizedBody"]
        )
    )
    verifier = v2["spec"]["hashedRekordV002"]["signature"]["verifier"]
    assert verifier["keyDetails"] == "PKIX_ECDSA_P256_SHA_256"
    assert base64.b64decode(verifier["publicKey"]["rawBytes"]) == key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def test_simple_signing_matches_cosign_and_verifies_by_hand(sig: TestSigstore) -> None:
    digest = "sha256:" + "ab" * 32
    signed = sig.simple_signing(manifest_digest=digest, docker_reference="registry.test/app")
    payload = json.loads(signed.payload)
    assert payload == {
        "critical": {
            "identity": {"docker-reference": "registry.test/app"},
            "image": {"docker-manifest-digest": digest},
            "type": "cosign container image signature",
        },
        "optional": None,
    }
    ann = signed.annotations
    cert = x509.load_pem_x509_certificate(ann["dev.sigstore.cosign/certificate"].encode())
    assert cert == signed.certificate
    chain = x509.load_pem_x509_certificates(ann["dev.sigstore.cosign/chain"].encode())
    assert chain == [sig.fulcio.intermediate, sig.fulcio.root]
    cert.verify_directly_issued_by(chain[0])
    chain[0].verify_directly_issued_by(chain[1])
    key = cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    key.verify(
        base64.b64decode(ann["dev.cosignproject.cosign/signature"]),
        signed.payload,
        ec.ECDSA(hashes.SHA256()),
    )

    legacy = json.loads(ann["dev.sigstore.cosign/bundle"])
    body = json.loads(base64.b64decode(legacy["Payload"]["body"]))
    assert body["spec"]["data"]["hash"]["value"] == signed.layer_digest.removeprefix("sha256:")
    assert base64.b64decode(body["spec"]["signature"]["publicKey"]["content"]) == _pem_cert(cert)
    promise = rfc8785.dumps({**legacy["Payload"], "logID": legacy["Payload"]["logID"]})
    public = sig.rekor.public_key
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(
        base64.b64decode(legacy["SignedEntryTimestamp"]), promise, ec.ECDSA(hashes.SHA256())
    )
    assert (
        cert.not_valid_before_utc.timestamp()
        <= legacy["Payload"]["integratedTime"]
        <= cert.not_valid_after_utc.timestamp()
    )

    path = LEGACY / "dir-img-cosign-fulcio-rekor-valid" / "signature-1"
    if not path.exists():
        pytest.skip("shared/data/sigstore is absent: the real cosign signature cannot be read")
    header = b"\x00sigstore-json\n"
    real = json.loads(path.read_bytes()[len(header) :])
    ours = json.loads(signed.to_containers_signature()[len(header) :])
    assert signed.to_containers_signature().startswith(header)
    _assert_same_shape(ours, real)
    _assert_same_shape(
        json.loads(base64.b64decode(ours["payload"])), json.loads(base64.b64decode(real["payload"]))
    )
    real_legacy = json.loads(real["annotations"]["dev.sigstore.cosign/bundle"])
    _assert_same_shape(legacy, real_legacy)
    _assert_same_shape(body, json.loads(base64.b64decode(real_legacy["Payload"]["body"])))


def test_key_signed_simple_signing_has_no_certificate(sig: TestSigstore) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    signed = sig.simple_signing(
        manifest_digest="sha256:" + "cd" * 32,
        docker_reference="registry.test/app",
        key=key,
        optional={"a": "b"},
    )
    assert set(signed.annotations) == {
        "dev.cosignproject.cosign/signature",
        "dev.sigstore.cosign/bundle",
    }
    assert signed.certificate is None and signed.chain == ()
    assert json.loads(signed.payload)["optional"] == {"a": "b"}
    key.public_key().verify(
        base64.b64decode(signed.annotations["dev.cosignproject.cosign/signature"]),
        signed.payload,
        ec.ECDSA(hashes.SHA256()),
    )
    body = json.loads(
        base64.b64decode(
            json.loads(signed.annotations["dev.sigstore.cosign/bundle"])["Payload"]["body"]
        )
    )
    assert (
        base64.b64decode(body["spec"]["signature"]["publicKey"]["content"]) == signed.public_key_pem
    )
    real = LEGACY / "dir-img-cosign-key-rekor-valid" / "signature-1"
    if real.exists():
        theirs = json.loads(real.read_bytes()[len(b"\x00sigstore-json\n") :])
        assert set(theirs["annotations"]) == set(signed.annotations)
    unlogged = sig.simple_signing(
        manifest_digest="sha256:" + "cd" * 32, docker_reference="r.test/a", rekor=False
    )
    assert "dev.sigstore.cosign/bundle" not in unlogged.annotations and unlogged.tlog_entry is None


# -- the certificate and SCT, with cryptography -----------------------------------------------


def test_fulcio_certificates_look_like_fulcio(sig: TestSigstore) -> None:
    cert = Bundle.from_json(sig.sign_artifact(ARTIFACT)).signing_certificate
    assert cert.issuer.rfc4514_string() == "CN=sigstore-intermediate,O=sigstore.dev"
    assert cert.subject == x509.Name([])
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == timedelta(minutes=10)
    assert cert.not_valid_before_utc == sig.now
    for ca in sig.fulcio.chain:
        key = ca.public_key()
        assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp384r1"
    assert sig.fulcio.root.subject.rfc4514_string() == "CN=sigstore,O=sigstore.dev"
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.critical and san.value.get_values_for_type(x509.UniformResourceIdentifier) == [
        DEFAULT_IDENTITY
    ]
    assert cert.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    assert (
        ExtendedKeyUsageOID.CODE_SIGNING
        in cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    )
    cert.verify_directly_issued_by(sig.fulcio.intermediate)
    sig.fulcio.intermediate.verify_directly_issued_by(sig.fulcio.root)


def test_embedded_sct_is_a_real_precertificate_sct(sig: TestSigstore) -> None:
    key = sig.new_key()
    cert = sig.fulcio.issue(key.public_key(), sct_extensions=b"\x01\x02")
    ext = cert.extensions.get_extension_for_class(x509.PrecertificateSignedCertificateTimestamps)
    assert ext.oid.dotted_string == "1.3.6.1.4.1.11129.2.4.2" and not ext.critical
    (sct,) = ext.value
    assert sct.entry_type == LogEntryType.PRE_CERTIFICATE
    assert sct.log_id == sig.ctlog.log_id
    assert sct.extension_bytes == b"\x01\x02"
    assert (
        sct.timestamp.replace(tzinfo=cert.not_valid_before_utc.tzinfo) == cert.not_valid_before_utc
    )
    issuer_spki = sig.fulcio.intermediate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    tbs = cert.tbs_precertificate_bytes
    signed = (
        b"\x00\x00"
        + int(cert.not_valid_before_utc.timestamp() * 1000).to_bytes(8, "big")
        + b"\x00\x01"
        + hashlib.sha256(issuer_spki).digest()
        + len(tbs).to_bytes(3, "big")
        + tbs
        + b"\x00\x02\x01\x02"
    )
    sig.ctlog.public_key.verify(sct.signature, signed, ec.ECDSA(hashes.SHA256()))
    assert isinstance(sct.signature_hash_algorithm, hashes.SHA256)


# -- RFC 3161 --------------------------------------------------------------------------------


def test_timestamps_verify_with_rfc3161_client(sig: TestSigstore) -> None:
    when = sig.now + timedelta(seconds=5)
    response = decode_timestamp_response(
        sig.tsa.timestamp(b"signature bytes", gen_time=when, nonce=42, serial=7)
    )
    info = response.tst_info
    assert (info.gen_time, info.nonce, info.serial_number) == (when, 42, 7)
    assert info.policy.dotted_string == "1.3.6.1.4.1.57264.2"
    assert info.message_imprint.message == hashlib.sha256(b"signature bytes").digest()
    assert [x509.load_der_x509_certificate(c) for c in response.signed_data.certificates] == [
        sig.tsa.certificate
    ]
    eku = sig.tsa.certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical and list(eku.value) == [ExtendedKeyUsageOID.TIME_STAMPING]

    verifier = (
        VerifierBuilder()
        .tsa_certificate(sig.tsa.certificate)
        .add_root_certificate(sig.tsa.root)
        .nonce(42)
        .build()
    )
    assert verifier.verify_message(response, b"signature bytes")
    with pytest.raises(TSAVerificationError, match="Mismatch between messages"):
        verifier.verify_message(response, b"other bytes")
    other = TestSigstore(seed=1).tsa
    foreign = (
        VerifierBuilder()
        .tsa_certificate(other.certificate)
        .add_root_certificate(other.root)
        .build()
    )
    with pytest.raises(TSAVerificationError):
        foreign.verify_message(response, b"signature bytes")

    bare = decode_timestamp_response(sig.tsa.timestamp(b"m", embed_certificate=False))
    assert bare.signed_data.certificates == set() or not bare.signed_data.certificates
    assert (
        VerifierBuilder()
        .tsa_certificate(sig.tsa.certificate)
        .add_root_certificate(sig.tsa.root)
        .build()
        .verify_message(bare, b"m")
    )


def test_tampered_timestamps_are_rejected(sig: TestSigstore) -> None:
    token = sig.tsa.timestamp(b"m")
    verifier = (
        VerifierBuilder()
        .tsa_certificate(sig.tsa.certificate)
        .add_root_certificate(sig.tsa.root)
        .build()
    )
    stamp = token.index(b"20260101000000Z")
    moved = token[: stamp + 3] + b"7" + token[stamp + 4 :]
    with pytest.raises(TSAVerificationError):
        verifier.verify_message(decode_timestamp_response(moved), b"m")
    flipped = token[:-3] + bytes([token[-3] ^ 1]) + token[-2:]
    with pytest.raises(TSAVerificationError):
        verifier.verify_message(decode_timestamp_response(flipped), b"m")


def test_timestamps_verify_with_openssl(sig: TestSigstore, tmp_path: Path) -> None:
    (tmp_path / "resp.der").write_bytes(sig.tsa.timestamp(b"payload"))
    (tmp_path / "data").write_bytes(b"payload")
    (tmp_path / "other").write_bytes(b"other")
    (tmp_path / "root.pem").write_bytes(_pem_cert(sig.tsa.root))
    (tmp_path / "tsa.pem").write_bytes(_pem_cert(sig.tsa.certificate))

    def openssl(data: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                "openssl",
                "ts",
                "-verify",
                "-in",
                "resp.der",
                "-data",
                data,
                "-CAfile",
                "root.pem",
                "-untrusted",
                "tsa.pem",
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    ok = openssl("data")
    assert ok.returncode == 0 and "Verification: OK" in ok.stdout, ok.stderr
    assert openssl("other").returncode != 0


# -- logs, determinism, speed -----------------------------------------------------------------


def test_merkle_tree_matches_the_rfc_6962_definition() -> None:
    def mth(leaves: list[bytes]) -> bytes:
        if len(leaves) == 1:
            return merkle.leaf_hash(leaves[0])
        k = 1
        while k * 2 < len(leaves):
            k *= 2
        return merkle.node_hash(mth(leaves[:k]), mth(leaves[k:]))

    data = [b"leaf %d" % i for i in range(33)]
    tree = merkle.MerkleTree()
    for item in data:
        tree.append(merkle.leaf_hash(item))
    for size in range(1, len(data) + 1):
        assert tree.root(size) == mth(data[:size])
        for index in range(size):
            path = tree.inclusion_proof(index, size)
            assert merkle.root_from_proof(
                index, size, merkle.leaf_hash(data[index]), path
            ) == tree.root(size)
    assert tree.root(0) == hashlib.sha256(b"").digest()


def test_rekor_logs_have_the_real_key_types_and_ids(sig: TestSigstore) -> None:
    assert isinstance(sig.rekor.public_key, ec.EllipticCurvePublicKey)
    assert isinstance(sig.rekor_v2.public_key, ed25519.Ed25519PublicKey)
    for log in (sig.rekor, sig.rekor_v2, sig.ctlog):
        spki = log.public_key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        assert log.log_id == hashlib.sha256(spki).digest()
    assert re.fullmatch(r"rekor\.buildsig\.test - \d+", sig.rekor.origin)
    assert sig.rekor_v2.origin == sig.rekor_v2.name


def test_same_seed_same_bytes_other_seed_other_instance() -> None:
    a, b, c = TestSigstore(seed=0), TestSigstore(seed=0), TestSigstore(seed=1)
    assert a.trusted_root_json() == b.trusted_root_json()
    assert a.sign_artifact(ARTIFACT) == b.sign_artifact(ARTIFACT)
    assert a.sign_dsse(_statement(), rekor="v2") == b.sign_dsse(_statement(), rekor="v2")
    assert a.trusted_root_json() != c.trusted_root_json()
    for x, y in ((a.fulcio.root, c.fulcio.root), (a.tsa.certificate, c.tsa.certificate)):
        assert x.public_key() != y.public_key() and x.serial_number != y.serial_number
    assert a.rekor.log_id != c.rekor.log_id and a.ctlog.log_id != c.ctlog.log_id
    assert (
        TestSigstore(seed=0, now=a.now + timedelta(days=1)).trusted_root_json()
        != a.trusted_root_json()
    )


def test_successive_signatures_use_fresh_keys_and_advance_the_log(sig: TestSigstore) -> None:
    first, second = sig.sign_artifact_parts(ARTIFACT), sig.sign_artifact_parts(ARTIFACT)
    assert first.certificate is not None and second.certificate is not None
    assert first.certificate.public_key() != second.certificate.public_key()
    assert first.certificate.serial_number != second.certificate.serial_number
    assert second.tlog_entries[0].log_index == first.tlog_entries[0].log_index + 1


def test_instances_are_fast() -> None:
    build = min(_timed(TestSigstore) for _ in range(5))
    instance = TestSigstore()
    sign = min(_timed(lambda: instance.sign_artifact(ARTIFACT)) for _ in range(5))
    assert build < 0.1, build
    assert sign < 0.01, sign


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def test_der_encoder_matches_known_encodings() -> None:
    from datetime import UTC, datetime

    from buildsig.testing import _der as der

    assert der.integer(0).hex() == "020100"
    assert der.integer(127).hex() == "02017f"
    assert der.integer(128).hex() == "02020080"
    assert der.integer(-128).hex() == "020180"
    assert der.integer(-129).hex() == "0202ff7f"
    assert der.oid("1.2.840.113549.1.7.2").hex() == "06092a864886f70d010702"
    assert der.tlv(0x04, b"x" * 200)[:3].hex() == "0481c8"
    assert der.tlv(0x04, b"x" * 300)[:4].hex() == "0482012c"
    moment = datetime(2026, 1, 2, 3, 4, 5, 120000, tzinfo=UTC)
    assert der.generalized_time(moment) == b"\x18\x1220260102030405.12Z"
    assert der.utc_time(moment) == b"\x17\x0d260102030405Z"
    assert der.set_of(der.integer(2), der.integer(1)) == der.tlv(
        0x31, der.integer(1) + der.integer(2)
    )
    assert der.implicit(0, der.set_of(der.integer(1)))[0] == 0xA0
    with pytest.raises(ValueError, match="timezone"):
        der.generalized_time(datetime(2026, 1, 1))


def test_module_example_runs() -> None:
    import doctest

    from buildsig.testing import sigstore as module

    result = doctest.testmod(module, verbose=False)
    assert result.attempted >= 5 and result.failed == 0


def test_entries_expose_their_parsed_body(sig: TestSigstore) -> None:
    (entry,) = sig.sign_dsse_parts(_statement()).tlog_entries
    assert entry.body()["kind"] == "dsse" and entry.kind == "dsse"
    assert entry.log_index == sig.rekor.size - 1
    assert entry.integrated_time == int((sig.now + timedelta(seconds=1)).timestamp())

"""Real-world Sigstore material: sigstore-python's bundles, cosign's, sigstore-go's, and
a production legacy cosign signature, each checked against what sigstore-python (the
oracle, where it can judge) or the material's provenance says.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from buildsig.errors import (
    BuildsigError,
    InvalidDocumentError,
    PolicyConfigError,
    VerificationError,
)
from buildsig.sigstore import TrustRoot, Verifier, parse_bundle
from buildsig.sigstore.simplesigning import verify_simple_signing
from buildsig.sigstore.trust import load_public_key

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "sigstore"
SP = DATA / "sigstore-python"


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"real-world data {path} is not on this machine")
    return path


def root(name: str) -> TrustRoot:
    return TrustRoot.from_file(need(DATA / "trusted-roots" / f"{name}.trusted_root.json"))


# --- the oracle ------------------------------------------------------------------------------


class _AnyIdentity:
    """A sigstore-python policy that accepts any certificate (identity is not the question)."""

    def verify(self, cert: Any) -> None:
        return None


def sigstore_python_verdict(raw: bytes, artifact: bytes | None, root_path: Path) -> bool:
    from sigstore.hashes import Hashed
    from sigstore.models import Bundle, TrustedRoot
    from sigstore.verify import Verifier as SPVerifier
    from sigstore_models.common.v1 import HashAlgorithm

    logging.getLogger("sigstore").setLevel(logging.CRITICAL)
    try:
        verifier = SPVerifier(trusted_root=TrustedRoot.from_file(str(root_path)))
        bundle = Bundle.from_json(raw)
        if bundle._dsse_envelope is not None:
            verifier.verify_dsse(bundle, _AnyIdentity())
        elif artifact is not None:
            verifier.verify_artifact(artifact, bundle, _AnyIdentity())
        else:
            digest = bundle._inner.message_signature.message_digest.digest  # type: ignore[union-attr]
            verifier.verify_artifact(
                Hashed(algorithm=HashAlgorithm.SHA2_256, digest=digest), bundle, _AnyIdentity()
            )
    except Exception:  # any failure is a "no" from the oracle
        return False
    return True


def buildsig_verdict(raw: bytes, artifact: bytes | None, trust: TrustRoot) -> bool:
    verifier = Verifier(trust)
    try:
        bundle = parse_bundle(raw)
        if bundle.dsse is not None:
            verifier.verify_dsse(bundle)
        elif artifact is not None:
            verifier.verify_artifact(bundle, artifact)
        else:
            assert bundle.message_signature is not None
            verifier.verify_artifact(bundle, "sha256:" + bundle.message_signature.digest.hex())
    except BuildsigError:
        return False
    return True


#: (bundle, artifact, root) → expected verdict, and where buildsig differs from sigstore-python.
SIGSTORE_PYTHON_BUNDLES = [
    ("bundle.txt.sigstore", "bundle.txt", "staging", True),
    ("bundle_v3.txt.sigstore", "bundle_v3.txt", "staging", True),
    ("bundle_v3_alt.txt.sigstore", "bundle_v3_alt.txt", "staging", True),
    ("integration/bundle_v3.txt.sigstore", "integration/bundle_v3.txt", "staging", True),
    ("staging-rekor-v2.txt.sigstore.json", "staging-rekor-v2.txt", "staging", True),
    ("a.dsse.staging-rekor-v2.txt.sigstore.json", None, "staging", True),
    ("bundle_v3_github.whl.sigstore", "bundle_v3_github.whl", "production", True),
    ("bundle_cve_2022_36056.txt.sigstore", "bundle_cve_2022_36056.txt", "staging", False),
    ("bundle_invalid_version.txt.sigstore", "bundle_invalid_version.txt", "staging", False),
    ("bundle_no_cert_v1.txt.sigstore", "bundle_no_cert_v1.txt", "staging", False),
    ("bundle_no_checkpoint.txt.sigstore", "bundle_no_checkpoint.txt", "staging", False),
    ("bundle_no_log_entry.txt.sigstore", "bundle_no_log_entry.txt", "staging", False),
    (
        "bundle_v3_no_signed_time.txt.sigstore.json",
        "bundle_v3_no_signed_time.txt",
        "staging",
        False,
    ),
    ("tsa/bundle.duplicate.sigstore", "tsa/bundle.txt", "staging", False),
    ("tsa/bundle.many_timestamp.sigstore", "tsa/bundle.txt", "staging", False),
]


@pytest.mark.parametrize(("bundle", "artifact", "root_name", "expected"), SIGSTORE_PYTHON_BUNDLES)
def test_sigstore_python_assets_agree_with_the_oracle(
    bundle: str, artifact: str | None, root_name: str, expected: bool
) -> None:
    raw = need(SP / bundle).read_bytes()
    data = need(SP / artifact).read_bytes() if artifact else None
    trust = root(root_name)
    assert buildsig_verdict(raw, data, trust) is expected
    assert (
        sigstore_python_verdict(
            raw, data, DATA / "trusted-roots" / f"{root_name}.trusted_root.json"
        )
        is expected
    )


def test_a_timestamp_from_an_untrusted_authority_fails_the_bundle() -> None:
    """Deliberate difference: sigstore-python skips an unverifiable RFC 3161 token and passes
    on the log's time alone; buildsig refuses a bundle that presents evidence it cannot
    check (here the token's TSA chain is not the configured one)."""
    raw = need(SP / "tsa" / "bundle.txt.sigstore").read_bytes()
    artifact = need(SP / "tsa" / "bundle.txt").read_bytes()
    trust = TrustRoot.from_file(need(SP / "tsa" / "trust_config.json"))  # a client trust config
    assert len(trust.tsas) == 1
    with pytest.raises(VerificationError, match="timestamp 0"):
        Verifier(trust).verify_artifact(raw, artifact)


def test_cosign_oci_attestation_bundle_names_the_image() -> None:
    """A production DSSE bundle whose in-toto subject is an image digest (cosign testdata)."""
    raw = need(DATA / "more" / "cosign" / "oci-attestation.sigstore.json").read_bytes()
    result = Verifier(root("production")).verify_dsse(raw)
    statement = result.statement()
    digest = statement["subject"][0]["digest"]["sha256"]
    assert digest.startswith("732112")
    assert result.signer is not None
    assert result.signer.subject_alternative_name == "cody@soyland.com"
    assert result.signer.issuer == "https://github.com/login/oauth"
    assert result.predicate_type == "https://cosign.sigstore.dev/attestation/v1"
    # the same bundle verifies against its subject, and not against another digest
    Verifier(root("production")).verify_artifact(raw, "sha256:" + digest)
    with pytest.raises(VerificationError, match="no in-toto subject"):
        Verifier(root("production")).verify_artifact(raw, "sha256:" + "0" * 64)


def test_npm_provenance_with_an_intoto_entry_verifies() -> None:
    """Rekor's ``intoto`` kind (npm provenance): sigstore-python refuses the kind."""
    raw = need(
        DATA / "more" / "sigstore-go" / "sigstore.js@2.0.0-provenance.sigstore.json"
    ).read_bytes()
    result = Verifier(root("production")).verify_dsse(raw)
    assert result.predicate_type == "https://slsa.dev/provenance/v1"
    assert result.bundle.tlog_entries[0].kind == "intoto"
    assert result.signer is not None and result.signer.source_repository_uri.endswith(
        "sigstore/sigstore-js"
    )
    assert not sigstore_python_verdict(
        raw, None, DATA / "trusted-roots" / "production.trusted_root.json"
    )


def test_fulcio_extensions_of_a_real_github_certificate() -> None:
    raw = need(SP / "bundle_v3_github.whl.sigstore").read_bytes()
    result = Verifier(root("production")).verify_artifact(
        raw, need(SP / "bundle_v3_github.whl").read_bytes()
    )
    s = result.signer
    assert s is not None
    assert s.issuer == "https://token.actions.githubusercontent.com"
    assert s.source_repository_uri == "https://github.com/trailofbits/rfc8785.py"
    assert s.build_signer_uri.startswith(
        "https://github.com/trailofbits/rfc8785.py/.github/workflows/"
    )
    assert s.subject_alternative_name == s.build_signer_uri
    assert s.runner_environment == "github-hosted"
    assert s.source_repository_visibility_at_signing == "public"
    assert s.build_trigger and s.source_repository_digest and s.run_invocation_uri


# --- legacy cosign simple signing ----------------------------------------------------------


def _legacy(case: str, sig: str = "signature-1") -> tuple[bytes, dict[str, str], str]:
    folder = need(DATA / "cosign-legacy" / case)
    raw = (folder / sig).read_bytes()
    if not raw.startswith(b"\x00"):  # a git symlink stored as text: "../other/signature-1"
        raw = (folder / raw.decode().strip()).read_bytes()
    doc = json.loads(raw.split(b"\n", 1)[1])
    manifest = (folder / "manifest.json").read_bytes()
    if manifest.startswith(b".."):  # also a symlink stored as text
        manifest = (folder / manifest.decode().strip()).read_bytes()
    return (
        base64.b64decode(doc["payload"]),
        doc.get("annotations", {}),
        "sha256:" + hashlib.sha256(manifest).hexdigest(),
    )


def test_legacy_cosign_keyless_signature_verifies() -> None:
    payload, annotations, digest = _legacy("dir-img-cosign-fulcio-rekor-valid")
    parsed, result = verify_simple_signing(
        Verifier(root("production")), payload, annotations, manifest_digest=digest
    )
    assert parsed.docker_reference == "192.168.64.2:5000/cosign-signed/fulcio-rekor-1"
    assert result.signer is not None and result.signer.subject_alternative_name == "mitr@redhat.com"
    assert [(t.type, t.uri, t.time.isoformat()) for t in result.timestamps] == [
        ("Tlog", "https://rekor.sigstore.dev", "2023-01-20T20:51:33+00:00")
    ]


def test_legacy_cosign_signature_over_another_manifest_fails() -> None:
    payload, annotations, _ = _legacy("dir-img-cosign-fulcio-rekor-valid")
    with pytest.raises(VerificationError, match="simple signature is for"):
        verify_simple_signing(
            Verifier(root("production")), payload, annotations, manifest_digest="sha256:" + "1" * 64
        )


def test_legacy_cosign_tampered_payload_fails() -> None:
    payload, annotations, digest = _legacy("dir-img-cosign-fulcio-rekor-valid")
    doc = json.loads(payload)
    doc["optional"] = {"added": "later"}
    with pytest.raises(VerificationError):
        verify_simple_signing(
            Verifier(root("production")),
            json.dumps(doc).encode(),
            annotations,
            manifest_digest=digest,
        )


def test_legacy_cosign_key_signature_with_rekor() -> None:
    payload, annotations, digest = _legacy("dir-img-cosign-key-rekor-valid")
    key = load_public_key(need(DATA / "cosign-legacy" / "cosign2.pub").read_bytes())
    verifier = Verifier(root("production"))
    parsed, result = verify_simple_signing(
        verifier, payload, annotations, manifest_digest=digest, key=key
    )
    assert parsed.docker_reference.endswith("cosign-signed/key-1")
    assert result.signer is None and result.timestamps[0].type == "Tlog"
    wrong = load_public_key(need(DATA / "cosign-legacy" / "cosign.pub").read_bytes())
    with pytest.raises(VerificationError, match="signature does not verify"):
        verify_simple_signing(verifier, payload, annotations, manifest_digest=digest, key=wrong)
    with pytest.raises(VerificationError, match="no certificate and no key"):
        verify_simple_signing(verifier, payload, annotations, manifest_digest=digest)


@pytest.mark.parametrize(
    ("case", "sig"),
    [
        ("dir-img-cosign-valid", "signature-1"),
        ("dir-img-cosign-valid-2", "signature-1"),
        ("dir-img-cosign-valid-2", "signature-2"),
    ],
)
def test_legacy_cosign_key_signatures_without_a_log(case: str, sig: str) -> None:
    """Key-signed, no Rekor entry: valid only when the caller asks for no log evidence."""
    payload, annotations, digest = _legacy(case, sig)
    key = load_public_key(need(DATA / "cosign-legacy" / "cosign.pub").read_bytes())
    with pytest.raises(VerificationError, match="verified"):
        verify_simple_signing(
            Verifier(root("production")), payload, annotations, manifest_digest=digest, key=key
        )
    lax = Verifier(root("production"), tlog_threshold=0, timestamp_threshold=0)
    _, result = verify_simple_signing(lax, payload, annotations, manifest_digest=digest, key=key)
    assert result.timestamps == ()


@pytest.mark.parametrize(
    ("case", "sig"),
    [("dir-img-cosign-modified-manifest", "signature-1")],
)
def test_legacy_cosign_signature_of_another_manifest_fails(case: str, sig: str) -> None:
    payload, annotations, digest = _legacy(case, sig)
    key = load_public_key(need(DATA / "cosign-legacy" / "cosign.pub").read_bytes())
    lax = Verifier(root("production"), tlog_threshold=0, timestamp_threshold=0)
    with pytest.raises(VerificationError, match="simple signature is for"):
        verify_simple_signing(lax, payload, annotations, manifest_digest=digest, key=key)


# --- trust roots ---------------------------------------------------------------------------


def test_packaged_roots_equal_the_published_files() -> None:
    prod = TrustRoot.production()
    assert [t.base_url for t in prod.tlogs] == [t.base_url for t in root("production").tlogs]
    assert "rekor.sigstore.dev" in prod.tlogs[0].base_url
    assert TrustRoot.staging().tlogs[0].base_url.endswith("sigstage.dev")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("trustedroot.badtype.json", "mediaType"),
        ("certificate_authority.empty.json", "mediaType|certChain|start"),
    ],
)
def test_bad_trust_roots_are_policy_config_errors(name: str, message: str) -> None:
    with pytest.raises(PolicyConfigError, match=message):
        TrustRoot.from_file(need(SP / "trusted_root" / name))


def test_trust_root_errors(tmp_path: Path) -> None:
    bad = tmp_path / "root.json"
    bad.write_text("{not json")
    with pytest.raises(PolicyConfigError, match="not JSON"):
        TrustRoot.from_file(bad)
    with pytest.raises(PolicyConfigError, match="cannot read"):
        TrustRoot.from_file(tmp_path / "missing.json")
    big = tmp_path / "big.json"
    big.write_bytes(b" " * (4 * 1024 * 1024 + 1))
    with pytest.raises(PolicyConfigError, match="larger than"):
        TrustRoot.from_file(big)


# --- malformed bundles ---------------------------------------------------------------------


def _happy() -> dict[str, Any]:
    path = need(DATA / "conformance" / "bundle-verify" / "happy-path-v0.3" / "bundle.sigstore.json")
    doc: dict[str, Any] = json.loads(path.read_bytes())
    return doc


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda d: d.pop("verificationMaterial"), "verificationMaterial"),
        (
            lambda d: d["verificationMaterial"].pop("tlogEntries"),
            "verificationMaterial.tlogEntries",
        ),
        (
            lambda d: d["verificationMaterial"]["tlogEntries"][0].update(logIndex="x"),
            "verificationMaterial.tlogEntries[0].logIndex",
        ),
        (
            lambda d: d["verificationMaterial"]["tlogEntries"][0].update(logIndex=True),
            "verificationMaterial.tlogEntries[0].logIndex",
        ),
        (
            lambda d: d["verificationMaterial"]["certificate"].update(rawBytes="AAAA"),
            "verificationMaterial.certificate.rawBytes",
        ),
        (
            lambda d: d["verificationMaterial"].update(publicKey={"hint": "x"}),
            "verificationMaterial",
        ),
        (lambda d: d.pop("messageSignature"), ""),
        (
            lambda d: d.update(dsseEnvelope={"payload": "", "payloadType": "x", "signatures": []}),
            "",
        ),
        (
            lambda d: d["verificationMaterial"]["tlogEntries"][0]["inclusionProof"].update(
                hashes=["AA=="] * 65
            ),
            "verificationMaterial.tlogEntries[0].inclusionProof.hashes",
        ),
        (
            lambda d: d["verificationMaterial"]["tlogEntries"].extend(
                [d["verificationMaterial"]["tlogEntries"][0]] * 8
            ),
            "verificationMaterial.tlogEntries",
        ),
        (lambda d: d.update(mediaType=7), "mediaType"),
    ],
)
def test_malformed_bundles_name_the_field(mutate: Any, path: str) -> None:
    doc = _happy()
    mutate(doc)
    with pytest.raises(InvalidDocumentError) as info:
        parse_bundle(json.dumps(doc))
    assert info.value.path == path


def test_oversized_and_non_json_bundles() -> None:
    with pytest.raises(InvalidDocumentError, match="larger than"):
        parse_bundle(b" " * (8 * 1024 * 1024 + 1))
    with pytest.raises(InvalidDocumentError, match="not JSON"):
        parse_bundle(b"\xff\xfe")
    with pytest.raises(InvalidDocumentError):
        parse_bundle(b"[]")


def test_duplicate_keys_are_refused() -> None:
    """Two values for one key: which one a parser keeps is a guess, so neither is used."""
    raw = json.dumps(_happy())
    doubled = raw.replace('"mediaType":', '"mediaType": "x", "mediaType":', 1)
    with pytest.raises(InvalidDocumentError, match="repeats the key 'mediaType'"):
        parse_bundle(doubled)


def test_an_othername_identity_from_a_private_instance() -> None:
    """sigstore-go's scaffolding instance: an otherName SAN (username identity) and a CA
    whose name cryptography finds out of spec (a 3-letter country); Buildx reports both."""
    folder = DATA / "more" / "sigstore-go"
    trust = TrustRoot.from_file(need(folder / "trusted-root-scaffolding.json"))
    raw = need(folder / "othername.sigstore.json").read_bytes()
    bundle = parse_bundle(raw)
    assert bundle.message_signature is not None
    result = Verifier(trust).verify_artifact(raw, "sha256:" + bundle.message_signature.digest.hex())
    assert result.signer is not None
    assert result.signer.subject_alternative_name == "foo!oidc.local"
    assert result.signer.issuer == "http://oidc.local:8080"
    assert result.signer.certificate_issuer == (
        "O=Linux Foundation,POSTALCODE=57274,STREET=548 Market St,L=San Francisco,"
        "ST=California,C=USA"
    )


def test_a_certificate_with_an_unknown_x509_version_is_a_document_error() -> None:
    """cryptography raises InvalidVersion (not a ValueError) for it; found by fuzzing."""
    doc = _happy()
    der = bytearray(base64.b64decode(doc["verificationMaterial"]["certificate"]["rawBytes"]))
    at = der.index(b"\xa0\x03\x02\x01\x02")  # version [0] EXPLICIT INTEGER 2 (v3)
    der[at + 4] = 3
    doc["verificationMaterial"]["certificate"]["rawBytes"] = base64.b64encode(der).decode()
    with pytest.raises(InvalidDocumentError, match=r"not an X\.509 certificate"):
        parse_bundle(json.dumps(doc))

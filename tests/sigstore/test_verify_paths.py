"""Every verification path of buildsig's Sigstore verifier, offline and deterministic.

Each path gets a happy case and its tampered cases, minted by :mod:`buildsig.testing`.
For each case the test asserts buildsig's verdict *and its reason* (the VerificationError
message), and, where sigstore-python 4.5.1 can judge the material, that sigstore-python
reaches the same verdict (the oracle). Where the two disagree the test pins both sides and
says which one is right and why; ``oracle=None`` marks material sigstore-python cannot
verify at all (managed keys, intoto entries, simple signing, thresholds, regexes).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID
from sigstore.hashes import Hashed
from sigstore.models import Bundle as SigstoreBundle
from sigstore.models import TrustedRoot
from sigstore.verify import Verifier as SigstoreVerifier
from sigstore.verify.policy import Identity as SigstoreIdentity
from sigstore.verify.policy import OIDCIssuer, OIDCIssuerV2, UnsafeNoOp
from sigstore_models.common.v1 import HashAlgorithm

from buildsig.errors import (
    InvalidDocumentError,
    InvalidInputError,
    PolicyConfigError,
    VerificationError,
)
from buildsig.model import SignatureKind, SignatureType
from buildsig.sigstore import Identity, TrustRoot, VerifiedBundle, VerifiedTime, Verifier
from buildsig.sigstore.batch import BatchItem, verify_batch
from buildsig.sigstore.classify import attestation_signature
from buildsig.sigstore.simplesigning import verify_simple_signing
from buildsig.testing import (
    DEFAULT_IDENTITY,
    DEFAULT_ISSUER,
    IN_TOTO_PAYLOAD_TYPE,
    SCT_LIST_OID,
    BundleParts,
    Signer,
    TestCTLog,
    TestFulcio,
    TestSigstore,
    ValidFor,
    dsse_v001,
    hashedrekord_v001,
    hashedrekord_v002,
    intoto_v002,
    sct_list,
    statement,
)
from buildsig.testing import _der as der
from buildsig.testing import _rfc3161 as rfc3161

ARTIFACT = b"buildsig verify-paths artifact\n"
DIGEST = "sha256:" + hashlib.sha256(ARTIFACT).hexdigest()
OTHER = b"another artifact\n"
SLSA = "https://slsa.dev/provenance/v1"
STATEMENT = statement(
    subject_digest=DIGEST,
    predicate_type=SLSA,
    predicate={"buildDefinition": {"buildType": "https://example.test/build"}},
    subject_name="artifact.txt",
)
IDENTITY = Identity(subject=DEFAULT_IDENTITY, issuer=DEFAULT_ISSUER)
POLICY = SigstoreIdentity(identity=DEFAULT_IDENTITY, issuer=DEFAULT_ISSUER)
SECOND = timedelta(seconds=1)
VERSIONS = ["0.1", "0.2", "0.3"]
#: sigstore-python accepts what buildsig rejects (a documented disagreement).
ACCEPTS = "sigstore-python accepts"
_UNSET: Any = object()


class Paths:
    """One test Sigstore plus both verifiers: buildsig's and sigstore-python's."""

    def __init__(self, sig: TestSigstore, tmp_path: Path) -> None:
        self.sig = sig
        self.tmp_path = tmp_path
        #: buildsig's clock: an hour after the test Sigstore's signing time.
        self.now = sig.now + timedelta(hours=1)

    def verifier(
        self, root: bytes | None = None, *, now: datetime | None = _UNSET, **thresholds: int
    ) -> Verifier:
        return Verifier(
            TrustRoot.from_json(root if root is not None else self.sig.trusted_root_json()),
            now=self.now if now is _UNSET else now,
            **thresholds,
        )

    def ours(
        self,
        bundle: bytes,
        artifact: bytes | str | None = ARTIFACT,
        *,
        root: bytes | None = None,
        identity: Identity | None = _UNSET,
        key: Any = None,
        now: datetime | None = _UNSET,
        **thresholds: int,
    ) -> VerifiedBundle:
        """buildsig: verify_artifact, or verify_dsse when ``artifact`` is None."""
        if identity is _UNSET:
            identity = None if key is not None else IDENTITY
        verifier = self.verifier(root, now=now, **thresholds)
        if artifact is None:
            return verifier.verify_dsse(bundle, identity=identity, key=key)
        return verifier.verify_artifact(bundle, artifact, identity=identity, key=key)

    def theirs(
        self,
        bundle: bytes,
        artifact: bytes | str | None = ARTIFACT,
        *,
        root: bytes | None = None,
        policy: Any = POLICY,
    ) -> Any:
        """sigstore-python; DSSE bundles go through verify_dsse (it has no subject check)."""
        path = self.tmp_path / "trusted_root.json"
        path.write_bytes(root if root is not None else self.sig.trusted_root_json())
        verifier = SigstoreVerifier(trusted_root=TrustedRoot.from_file(str(path)))
        parsed = SigstoreBundle.from_json(bundle)
        if artifact is None or "dsseEnvelope" in json.loads(bundle):
            return verifier.verify_dsse(parsed, policy)
        if isinstance(artifact, str):
            data: bytes | Hashed = Hashed(
                algorithm=HashAlgorithm.SHA2_256, digest=bytes.fromhex(artifact.split(":")[1])
            )
        else:
            data = artifact
        return verifier.verify_artifact(data, parsed, policy)

    def theirs_error(
        self, bundle: bytes, artifact: bytes | str | None = ARTIFACT, **kw: Any
    ) -> str:
        """sigstore-python's refusal ("" when it accepts)."""
        try:
            self.theirs(bundle, artifact, **kw)
        except Exception as exc:  # sigstore-python raises several unrelated types
            return f"{type(exc).__name__}: {exc}"
        return ""

    def accepts(
        self,
        bundle: bytes,
        artifact: bytes | str | None = ARTIFACT,
        *,
        oracle: bool | str = True,
        policy: Any = POLICY,
        root: bytes | None = None,
        **kw: Any,
    ) -> VerifiedBundle:
        """buildsig accepts; ``oracle``: True (so does sigstore-python), False (it cannot
        judge), or a pattern of the error sigstore-python wrongly or unavoidably gives."""
        result = self.ours(bundle, artifact, root=root, **kw)
        if oracle is True:
            self.theirs(bundle, artifact, root=root, policy=policy)
        elif isinstance(oracle, str):
            assert re.search(
                oracle, self.theirs_error(bundle, artifact, root=root, policy=policy), re.I
            )
        return result

    def rejects(
        self,
        bundle: bytes,
        reason: str,
        artifact: bytes | str | None = ARTIFACT,
        *,
        oracle: str | None,
        error: type[Exception] = VerificationError,
        policy: Any = POLICY,
        root: bytes | None = None,
        **kw: Any,
    ) -> str:
        """buildsig rejects with ``reason`` (a regex); ``oracle`` is the regex of
        sigstore-python's refusal, :data:`ACCEPTS` for a disagreement, or None when
        sigstore-python cannot judge. Returns buildsig's message."""
        with pytest.raises(error, match=reason) as caught:
            self.ours(bundle, artifact, root=root, **kw)
        message = str(caught.value)
        assert message
        if oracle is not None:
            theirs = self.theirs_error(bundle, artifact, root=root, policy=policy)
            if oracle == ACCEPTS:
                assert theirs == "", theirs
            else:
                assert theirs and re.search(oracle, theirs, re.IGNORECASE), theirs
        return message

    # -- building blocks ----------------------------------------------------------------

    def relog(self, parts: BundleParts, body: bytes, *, v2: bool = False) -> bytes:
        """``parts`` with its entry replaced by a genuinely logged entry for ``body``."""
        if v2:
            entry = self.sig.rekor_v2.add_entry(body)
        else:
            entry = self.sig.rekor.add_entry(body, integrated_time=self.sig.now + SECOND)
        return dataclasses.replace(parts, tlog_entries=(entry,)).to_json()

    def root(self, **kw: Any) -> bytes:
        return self.sig.trusted_root_json(**kw)


@pytest.fixture
def p(tmp_path: Path) -> Paths:
    return Paths(TestSigstore(seed=0), tmp_path)


def _leaf(p: Paths, **changes: Any) -> Signer:
    key = p.sig.new_key()
    return Signer(key, p.sig.fulcio.issue(key.public_key(), **changes))


def _pem(key: Any) -> bytes:
    pem: bytes = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem


def _with_json(bundle: bytes, edit: Callable[[dict[str, Any]], None]) -> bytes:
    doc = json.loads(bundle)
    edit(doc)
    return json.dumps(doc).encode()


# -- message signatures on Rekor v1 ---------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_message_signature_on_rekor_v1(p: Paths, version: str) -> None:
    bundle = p.sig.sign_artifact(ARTIFACT, bundle_version=version)  # type: ignore[arg-type]
    result = p.accepts(bundle)
    assert result.bundle.version == version
    assert result.certificate is not None and result.signer is not None
    assert result.signer.subject_alternative_name == DEFAULT_IDENTITY
    assert result.signer.issuer == DEFAULT_ISSUER
    assert result.timestamps == (VerifiedTime("Tlog", p.sig.rekor.base_url, p.sig.now + SECOND),)
    assert (result.payload_type, result.payload, result.predicate_type) == ("", b"", "")
    p.accepts(bundle, DIGEST)
    p.rejects(
        bundle,
        "^bundle's message digest does not match the artifact$",
        OTHER,
        oracle="digest mismatch",
    )
    p.rejects(
        bundle,
        "^bundle's message digest does not match the artifact$",
        "sha256:" + "0" * 64,
        oracle="digest mismatch",
    )


@pytest.mark.parametrize("version", VERSIONS)
def test_message_signature_tampering(p: Paths, version: str) -> None:
    parts = p.sig.sign_artifact_parts(ARTIFACT, bundle_version=version)  # type: ignore[arg-type]
    other = p.sig.sign_artifact_parts(OTHER, bundle_version=version)  # type: ignore[arg-type]
    p.rejects(
        dataclasses.replace(parts, signature=other.signature).to_json(),
        "^signature does not verify for the artifact$",
        oracle="Signature is invalid for input",
    )
    # without the optional messageDigest the signature itself catches a wrong artifact
    undigested = dataclasses.replace(parts, message_digest=None).to_json()
    p.accepts(undigested)
    p.rejects(
        undigested,
        "^signature does not verify for the artifact$",
        OTHER,
        oracle="Signature is invalid for input",
    )
    # a digest named with another algorithm is not the artifact's sha256
    relabelled = _with_json(
        parts.to_json(),
        lambda d: d["messageSignature"]["messageDigest"].update(algorithm="SHA2_384"),
    )
    p.rejects(relabelled, "message digest does not match the artifact", oracle=None)


def test_artifact_arguments(p: Paths) -> None:
    bundle = p.sig.sign_artifact(ARTIFACT)
    for bad in ("sha256:" + "A" * 64, "sha512:" + "0" * 128, "sha256:abc", DIGEST + " "):
        with pytest.raises(InvalidInputError, match="not a sha256 digest"):
            p.ours(bundle, bad)
    p.rejects(
        bundle,
        "^bundle has no DSSE envelope$",
        None,
        oracle="cannot perform DSSE verification on a bundle without a DSSE envelope",
    )


# -- DSSE on Rekor v1: dsse and intoto entries ------------------------------------------------


@pytest.mark.parametrize("kind", ["dsse", "intoto"])
def test_dsse_on_rekor_v1(p: Paths, kind: str) -> None:
    bundle = p.sig.sign_dsse(STATEMENT, entry_kind=kind)  # type: ignore[arg-type]
    # sigstore-python 4.5.1 refuses Rekor's intoto kind outright (npm and old cosign use it)
    oracle: bool | str = True if kind == "dsse" else "only supported for dsse/hashedrekord"
    result = p.accepts(bundle, None, oracle=oracle)
    assert (result.payload_type, result.payload) == (IN_TOTO_PAYLOAD_TYPE, STATEMENT)
    assert result.predicate_type == SLSA
    assert result.statement()["subject"][0]["name"] == "artifact.txt"
    assert result.bundle.tlog_entries[0].kind == kind
    assert [t.type for t in result.timestamps] == ["Tlog"]
    # verify_artifact: the statement must name the artifact (sigstore-python has no such check)
    p.accepts(bundle, ARTIFACT, oracle=False)
    p.accepts(bundle, DIGEST, oracle=False)
    want = hashlib.sha256(OTHER).hexdigest()
    p.rejects(bundle, f"^no in-toto subject has digest sha256:{want}$", OTHER, oracle=None)
    p.rejects(
        bundle, f"^no in-toto subject has digest sha256:{want}$", f"sha256:{want}", oracle=None
    )


@pytest.mark.parametrize("kind", ["dsse", "intoto"])
def test_dsse_envelope_tampering(p: Paths, kind: str) -> None:
    parts = p.sig.sign_dsse_parts(STATEMENT, entry_kind=kind)  # type: ignore[arg-type]
    envelope = parts.dsse_envelope
    assert envelope is not None
    oracle = "DSSE: invalid signature" if kind == "dsse" else None

    def tampered(**changes: Any) -> bytes:
        return dataclasses.replace(
            parts, dsse_envelope=dataclasses.replace(envelope, **changes)
        ).to_json()

    p.rejects(
        tampered(payload=STATEMENT.replace(b"artifact.txt", b"artifact.exe")),
        "^DSSE signature does not verify$",
        None,
        oracle=oracle,
    )
    p.rejects(
        tampered(payload_type="application/json"),
        "^DSSE signature does not verify$",
        None,
        oracle=oracle,
    )
    p.rejects(
        tampered(signatures=envelope.signatures * 2),
        "^DSSE envelope must carry exactly one signature$",
        None,
        oracle="envelope must contain exactly one signature" if kind == "dsse" else None,
    )


def test_dsse_payloads_that_are_not_statements(p: Paths) -> None:
    plain = p.sig.sign_dsse(b'{"hello":"world"}', payload_type="application/json")
    assert p.accepts(plain, None).payload == b'{"hello":"world"}'
    p.rejects(plain, "^payload type is 'application/json', not in-toto$", oracle=None)
    for payload, reason in (
        (b"not json", "^in-toto payload is not JSON$"),
        (b'{"_type":"https://in-toto.io/Statement/v1"}', "^in-toto payload is not a statement$"),
        (
            json.dumps({"_type": "https://example.test/Statement", "subject": []}).encode(),
            "^unknown in-toto statement type 'https://example.test/Statement'$",
        ),
        (
            statement(subject_digest="sha512:" + "0" * 128, predicate_type=SLSA, predicate={}),
            "^no in-toto subject has digest sha256:",
        ),
    ):
        bundle = p.sig.sign_dsse(payload)
        p.accepts(bundle, None)  # the envelope itself is fine
        p.rejects(bundle, reason, oracle=None)


# -- Rekor v2 with RFC 3161 timestamps ---------------------------------------------------------


@pytest.mark.parametrize("dsse", [False, True], ids=["hashedrekord", "dsse"])
def test_rekor_v2_with_timestamp(p: Paths, dsse: bool) -> None:
    if dsse:
        parts = p.sig.sign_dsse_parts(STATEMENT, rekor="v2")
        artifact: bytes | None = None
    else:
        parts = p.sig.sign_artifact_parts(ARTIFACT, rekor="v2")
        artifact = ARTIFACT
    result = p.accepts(parts.to_json(), artifact)
    (entry,) = result.bundle.tlog_entries
    assert (entry.kind, entry.version) == ("hashedrekord", "0.0.2")
    assert entry.integrated_time is None and entry.signed_entry_timestamp is None
    assert result.timestamps == (
        VerifiedTime("TimestampAuthority", p.sig.tsa.uri, p.sig.now + SECOND),
    )
    if dsse:
        p.accepts(parts.to_json(), ARTIFACT, oracle=False)
    p.rejects(
        dataclasses.replace(parts, rfc3161_timestamps=()).to_json(),
        r"^0 verified timestamps \(counting each log or TSA once\), at least 1 required$",
        artifact,
        oracle="must contain an inclusion promise or signed timestamp",
    )


def test_rekor_v2_dsse_entries_are_refused_by_both(p: Paths) -> None:
    # Rekor v2 records DSSE as hashedrekord over the PAE; a dsse 0.0.2 entry is not
    # verifiable by either implementation (its body lacks what consistency needs)
    bundle = p.sig.sign_dsse(STATEMENT, rekor="v2", entry_kind="dsse")
    p.rejects(
        bundle,
        "^unsupported log entry kind dsse 0.0.2$",
        None,
        oracle="Unsupported DSSE log entry type: dsse/0.0.2",
    )


# -- log entry bodies must match the bundle (CVE-2022-36056) -----------------------------------


def test_hashedrekord_v1_body_must_match(p: Paths) -> None:
    signer = p.sig.new_signer()
    parts = p.sig.sign_artifact_parts(ARTIFACT, signer=signer)
    assert parts.signature is not None and signer.certificate is not None
    digest = hashlib.sha256(ARTIFACT).digest()
    oracle = "transparency log entry is inconsistent with other materials"
    bodies = {
        "^log entry records a different artifact digest$": hashedrekord_v001(
            digest=hashlib.sha256(OTHER).digest(),
            signature=parts.signature,
            verifier=signer.certificate,
        ),
        "^log entry records a different signature$": hashedrekord_v001(
            digest=digest, signature=signer.sign(OTHER), verifier=signer.certificate
        ),
        "^log entry records a different certificate or key$": hashedrekord_v001(
            digest=digest, signature=parts.signature, verifier=p.sig.new_signer().verifier
        ),
    }
    for reason, body in bodies.items():
        p.rejects(p.relog(parts, body), reason, oracle=oracle)
    # the honest body, logged again, is of course fine
    p.accepts(
        p.relog(
            parts,
            hashedrekord_v001(
                digest=digest, signature=parts.signature, verifier=signer.certificate
            ),
        )
    )


def test_hashedrekord_v2_body_must_match(p: Paths) -> None:
    signer = p.sig.new_signer()
    parts = p.sig.sign_artifact_parts(ARTIFACT, signer=signer, rekor="v2")
    assert parts.signature is not None and signer.certificate is not None
    digest = hashlib.sha256(ARTIFACT).digest()
    oracle = "transparency log entry is inconsistent with other materials"
    for reason, body in {
        "^log entry records a different digest$": hashedrekord_v002(
            digest=hashlib.sha256(OTHER).digest(),
            signature=parts.signature,
            verifier=signer.certificate,
        ),
        "^log entry records a different signature$": hashedrekord_v002(
            digest=digest, signature=signer.sign(OTHER), verifier=signer.certificate
        ),
        "^log entry records a different certificate or key$": hashedrekord_v002(
            digest=digest, signature=parts.signature, verifier=p.sig.new_signer().verifier
        ),
    }.items():
        p.rejects(p.relog(parts, body, v2=True), reason, oracle=oracle)


def test_dsse_v1_body_must_match(p: Paths) -> None:
    signer = p.sig.new_signer()
    parts = p.sig.sign_dsse_parts(STATEMENT, signer=signer)
    envelope = parts.dsse_envelope
    assert envelope is not None and signer.certificate is not None
    other_payload = dataclasses.replace(envelope, payload=STATEMENT + b" ")
    other_signature = dataclasses.replace(envelope, signatures=(signer.sign(OTHER),))
    for reason, body, oracle in (
        (
            "^log entry records a different payload$",
            dsse_v001(other_payload, signer.certificate),
            "log entry payload hash does not match bundle",
        ),
        (
            "^log entry records different signatures$",
            dsse_v001(other_signature, signer.certificate),
            "log entry signatures do not match bundle",
        ),
        (
            "^log entry records different signatures$",
            dsse_v001(envelope, p.sig.new_signer().verifier),
            "log entry signatures do not match bundle",
        ),
    ):
        p.rejects(p.relog(parts, body), reason, None, oracle=oracle)


def test_intoto_body_must_match(p: Paths) -> None:
    signer = p.sig.new_signer()
    parts = p.sig.sign_dsse_parts(STATEMENT, signer=signer, entry_kind="intoto")
    envelope = parts.dsse_envelope
    assert envelope is not None and signer.certificate is not None
    for reason, recorded in (
        (
            "^log entry records a different payload$",
            intoto_v002(dataclasses.replace(envelope, payload=STATEMENT + b" "), signer.verifier),
        ),
        (
            "^log entry records a different payload type$",
            intoto_v002(
                dataclasses.replace(envelope, payload_type="application/json"), signer.verifier
            ),
        ),
        (
            "^log entry records different signatures$",
            intoto_v002(
                dataclasses.replace(envelope, signatures=(signer.sign(OTHER),)), signer.verifier
            ),
        ),
        (
            "^log entry records different signatures$",
            intoto_v002(envelope, p.sig.new_signer().verifier),
        ),
    ):
        p.rejects(p.relog(parts, recorded), reason, None, oracle=None)


def test_dsse_v2_body_must_match(p: Paths) -> None:
    signer = p.sig.new_signer()
    parts = p.sig.sign_dsse_parts(STATEMENT, signer=signer, rekor="v2")
    envelope = parts.dsse_envelope
    assert envelope is not None and signer.certificate is not None
    pae_digest = hashlib.sha256(envelope.pae()).digest()
    other_pae = hashlib.sha256(
        dataclasses.replace(envelope, payload=STATEMENT + b" ").pae()
    ).digest()
    oracle = "transparency log entry is inconsistent with other materials"
    for reason, body in (
        (
            "^log entry records a different digest$",
            hashedrekord_v002(
                digest=other_pae, signature=envelope.signatures[0], verifier=signer.certificate
            ),
        ),
        (
            "^log entry records a different signature$",
            hashedrekord_v002(
                digest=pae_digest, signature=signer.sign(OTHER), verifier=signer.certificate
            ),
        ),
        (
            "^log entry records a different certificate or key$",
            hashedrekord_v002(
                digest=pae_digest,
                signature=envelope.signatures[0],
                verifier=p.sig.new_signer().verifier,
            ),
        ),
    ):
        p.rejects(p.relog(parts, body, v2=True), reason, None, oracle=oracle)


def test_entry_kind_must_fit_the_bundle(p: Paths) -> None:
    signer = p.sig.new_signer()
    message = p.sig.sign_artifact_parts(ARTIFACT, signer=signer)
    dsse = p.sig.sign_dsse_parts(STATEMENT, signer=signer)
    assert dsse.dsse_envelope is not None and message.signature is not None
    # a message signature whose entry is a (valid) dsse entry
    p.rejects(
        p.relog(message, dsse_v001(dsse.dsse_envelope, signer.verifier)),
        "^a message signature cannot use a dsse 0.0.1 entry$",
        oracle="Expected entry type hashedrekord, got dsse",
    )
    # a DSSE bundle whose entry is a hashedrekord 0.0.1 over the PAE
    p.rejects(
        p.relog(
            dsse,
            hashedrekord_v001(
                digest=hashlib.sha256(dsse.dsse_envelope.pae()).digest(),
                signature=dsse.dsse_envelope.signatures[0],
                verifier=signer.verifier,
            ),
        ),
        "^a DSSE bundle cannot use a hashedrekord 0.0.1 entry$",
        None,
        oracle="Unsupported DSSE log entry type: hashedrekord/0.0.1",
    )
    # kindVersion relabelled (the SET covers only the body, so it still verifies)
    p.rejects(
        message.replace_entry(kind="dsse").to_json(),
        "^log entry body's kind does not match its kindVersion$",
        oracle="Expected entry type hashedrekord, got dsse",
    )


# -- managed keys -----------------------------------------------------------------------------
# sigstore-python 4.5.1 has no API for key-signed bundles: buildsig alone judges these.


@pytest.mark.parametrize("rekor", ["v1", "v2"])
def test_managed_key(p: Paths, rekor: str) -> None:
    keyed = p.sig.sign_with_key(ARTIFACT, rekor=rekor)  # type: ignore[arg-type]
    public = serialization.load_pem_public_key(keyed.public_key_pem)
    for key in (keyed.public_key_pem, public):
        result = p.ours(keyed.bundle, key=key)
        assert result.certificate is None and result.signer is None
        assert result.bundle.public_key_hint
    wrong = _pem(p.sig.new_key().public_key())
    p.rejects(keyed.bundle, "^signature does not verify for the artifact$", key=wrong, oracle=None)
    p.rejects(
        keyed.bundle,
        "^bundle is signed with a key, and no key was given$",
        identity=None,
        oracle=None,
    )
    p.rejects(
        keyed.bundle,
        "^an identity cannot be checked on a key-signed bundle$",
        key=keyed.public_key_pem,
        identity=IDENTITY,
        oracle=None,
    )
    p.rejects(
        keyed.bundle,
        "not a public key",
        key=b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        error=PolicyConfigError,
        oracle=None,
    )
    keyless = p.sig.sign_artifact(ARTIFACT, rekor=rekor)  # type: ignore[arg-type]
    p.rejects(
        keyless,
        "^bundle carries a certificate; key verification does not apply$",
        key=keyed.public_key_pem,
        oracle=None,
    )


def test_managed_key_dsse_and_log_consistency(p: Paths) -> None:
    signer = Signer(p.sig.new_key())
    dsse = p.sig.sign_dsse(STATEMENT, signer=signer)
    assert p.ours(dsse, None, key=signer.public_key_pem).payload == STATEMENT
    p.rejects(
        dsse,
        "^DSSE signature does not verify$",
        None,
        key=_pem(p.sig.new_key().public_key()),
        oracle=None,
    )
    # the log entry names another key than the one the bundle verifies with
    parts = p.sig.sign_artifact_parts(ARTIFACT, signer=signer)
    assert parts.signature is not None
    body = hashedrekord_v001(
        digest=hashlib.sha256(ARTIFACT).digest(),
        signature=parts.signature,
        verifier=p.sig.new_key().public_key(),
    )
    p.rejects(
        p.relog(parts, body),
        "^log entry records a different certificate or key$",
        key=signer.public_key_pem,
        oracle=None,
    )


# -- identities -------------------------------------------------------------------------------


def test_identity_exact_and_regex(p: Paths) -> None:
    bundle = p.sig.sign_artifact(ARTIFACT)
    other_workflow = DEFAULT_IDENTITY.replace("w.yml", "other.yml")
    p.accepts(bundle, identity=Identity(subject=DEFAULT_IDENTITY))
    p.accepts(bundle, identity=Identity(issuer=DEFAULT_ISSUER), oracle=False)
    p.accepts(bundle, identity=Identity(), oracle=False)
    p.accepts(bundle, identity=None, oracle=False)
    p.rejects(
        bundle,
        f"^certificate subject is '{re.escape(DEFAULT_IDENTITY)}', "
        f"expected '{re.escape(other_workflow)}'$",
        identity=Identity(subject=other_workflow, issuer=DEFAULT_ISSUER),
        policy=SigstoreIdentity(identity=other_workflow, issuer=DEFAULT_ISSUER),
        oracle="SANs do not match",
    )
    p.rejects(
        bundle,
        "^certificate issuer is 'https://token.actions.githubusercontent.com', "
        "expected 'https://accounts.example.test'$",
        identity=Identity(subject=DEFAULT_IDENTITY, issuer="https://accounts.example.test"),
        policy=SigstoreIdentity(identity=DEFAULT_IDENTITY, issuer="https://accounts.example.test"),
        oracle="OIDCIssuer does not match",
    )
    # regexes must match the whole value (sigstore-python has no regex policy)
    p.accepts(
        bundle,
        identity=Identity(
            subject_regex=r"https://github\.com/o/r/\.github/workflows/.+@refs/heads/main",
            issuer_regex=r"https://token\.actions\.githubusercontent\.com",
        ),
        oracle=False,
    )
    for identity, what in (
        (Identity(subject_regex=r"https://github\.com/o/"), "subject"),
        (Identity(subject_regex=r".*/workflows/w\.yml"), "subject"),
        (Identity(issuer_regex=r"https://token\.actions"), "issuer"),
        (Identity(subject=DEFAULT_IDENTITY, issuer_regex=r"https://.*\.example\.test"), "issuer"),
    ):
        p.rejects(
            bundle, f"^certificate {what} '.*' does not match ", identity=identity, oracle=None
        )


@pytest.mark.parametrize(
    ("san_kind", "name"),
    [("uri", "https://ci.example.test/job@refs/tags/v1"), ("email", "dev@example.test")],
)
def test_identity_san_kinds(p: Paths, san_kind: str, name: str) -> None:
    bundle = p.sig.sign_artifact(ARTIFACT, san_kind=san_kind, identity=name)  # type: ignore[arg-type]
    result = p.accepts(
        bundle,
        identity=Identity(subject=name, issuer=DEFAULT_ISSUER),
        policy=SigstoreIdentity(identity=name, issuer=DEFAULT_ISSUER),
    )
    assert result.signer is not None and result.signer.subject_alternative_name == name
    p.rejects(
        bundle,
        "^certificate subject is ",
        identity=IDENTITY,
        oracle="SANs do not match",
    )


def test_identity_othername_san(p: Paths) -> None:
    bundle = p.sig.sign_artifact(ARTIFACT, san_kind="othername", identity="octocat")
    result = p.accepts(
        bundle,
        identity=Identity(subject="octocat", issuer=DEFAULT_ISSUER),
        # Disagreement: sigstore-python compares the otherName's raw DER (b"\x0c\x07octocat")
        # with the identity, so it can never match a Fulcio username identity. Fulcio
        # encodes that SAN as a DER UTF8String (as sigstore-go decodes it): buildsig is right.
        oracle="SANs do not match octocat",
        policy=SigstoreIdentity(identity="octocat", issuer=DEFAULT_ISSUER),
    )
    assert result.signer is not None and result.signer.subject_alternative_name == "octocat"
    p.theirs(bundle, policy=UnsafeNoOp())  # the rest of the bundle is fine for it
    p.rejects(bundle, "^certificate subject is 'octocat', expected", oracle=None)


def test_issuer_comes_from_v2_extension_with_v1_fallback(p: Paths) -> None:
    legacy = "https://legacy.example.test"
    # .8 only: the issuer is read from .8 (sigstore-python's Identity reads .1 only)
    only_v2 = p.sig.sign_artifact(ARTIFACT, extensions={".1": None})
    p.accepts(only_v2, policy=OIDCIssuerV2(DEFAULT_ISSUER))
    p.accepts(only_v2, oracle="1.3.6.1.4.1.57264.1.1")
    # .1 only: the deprecated raw extension is the fallback
    only_v1 = p.sig.sign_artifact(ARTIFACT, extensions={".8": None})
    result = p.accepts(only_v1, policy=OIDCIssuer(DEFAULT_ISSUER))
    assert result.signer is not None and result.signer.issuer == DEFAULT_ISSUER
    # both, disagreeing: .8 wins (as Buildx's certificate summary does)
    both = p.sig.sign_artifact(ARTIFACT, extensions={".1": legacy})
    result = p.accepts(both, policy=OIDCIssuerV2(DEFAULT_ISSUER))
    assert result.signer is not None and result.signer.issuer == DEFAULT_ISSUER
    p.rejects(
        both,
        f"^certificate issuer is '{re.escape(DEFAULT_ISSUER)}', expected '{re.escape(legacy)}'$",
        identity=Identity(issuer=legacy),
        policy=OIDCIssuerV2(legacy),
        oracle="OIDCIssuerV2 does not match",
    )
    # neither: no issuer at all
    neither = p.sig.sign_artifact(ARTIFACT, issuer=None)
    result = p.accepts(neither, identity=Identity(subject=DEFAULT_IDENTITY), policy=UnsafeNoOp())
    assert result.signer is not None and result.signer.issuer == ""
    p.rejects(neither, "^certificate issuer is '', expected", oracle="1.3.6.1.4.1.57264.1.1")


# -- the signing certificate --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "timing", "reason", "oracle"),
    [
        pytest.param(
            {},
            {"integrated_time": timedelta(minutes=11)},
            "^signing certificate does not chain to a trusted CA: .*not valid at validation time",
            "failed to build timestamp certificate chain: .*not valid at validation time",
            id="expired-at-signing-time",
        ),
        pytest.param(
            {},
            {"integrated_time": -SECOND},
            "^signing certificate does not chain to a trusted CA: .*not valid at validation time",
            "failed to build timestamp certificate chain: .*not valid at validation time",
            id="not-yet-valid",
        ),
        pytest.param(
            {"extended_key_usage": (ExtendedKeyUsageOID.SERVER_AUTH,)},
            {},
            "^signing certificate is not for code signing$",
            "Extended usage does not contain `code signing`",
            id="wrong-eku",
        ),
        pytest.param(
            {"extended_key_usage": None},
            {},
            "^signing certificate lacks extendedKeyUsage$",
            "ExtensionNotFound",  # sigstore-python fails, but by crashing
            id="no-eku",
        ),
        pytest.param(
            {
                "key_usage": x509.KeyUsage(
                    False, False, True, False, False, False, False, False, False
                )
            },
            {},
            "^signing certificate does not allow digital signatures$",
            "Key usage is not of type `digital signature`",
            id="wrong-key-usage",
        ),
        pytest.param(
            {"key_usage": None},
            {},
            "^signing certificate lacks keyUsage$",
            "ExtensionNotFound",
            id="no-key-usage",
        ),
        pytest.param(
            {"basic_constraints": x509.BasicConstraints(ca=True, path_length=None)},
            {},
            "^signing certificate does not chain to a trusted CA: .*basicConstraints.cA",
            "basicConstraints.cA must not be asserted in an EE certificate",
            id="ca-certificate-as-leaf",
        ),
    ],
)
def test_bad_signing_certificates(
    p: Paths, changes: dict[str, Any], timing: dict[str, timedelta], reason: str, oracle: str
) -> None:
    signer = _leaf(p, **changes)
    moments = {k: p.sig.now + v for k, v in timing.items()}
    bundle = p.sig.sign_artifact(ARTIFACT, signer=signer, **moments)  # type: ignore[arg-type]
    p.rejects(bundle, reason, oracle=oracle)


def test_certificate_validity_is_checked_at_every_verified_time(p: Paths) -> None:
    # the chain is built at the first time (the TSA's, inside the certificate's ten
    # minutes); the Rekor v1 time after them must fail the certificate all the same
    bundle = p.sig.sign_artifact(
        ARTIFACT, timestamp=True, integrated_time=p.sig.now + timedelta(minutes=11)
    )
    p.rejects(
        bundle,
        r"^certificate \(leaf\) was not valid at Tlog time 2026-01-01T00:11:00\+00:00$",
        oracle="not valid at validation time",
    )
    late_tsa = p.sig.sign_artifact(
        ARTIFACT, timestamp=True, timestamp_time=p.sig.now + timedelta(minutes=11)
    )
    p.rejects(late_tsa, "^signing certificate does not chain", oracle="not valid at validation")
    # both inside: two verified times, both reported
    result = p.accepts(p.sig.sign_artifact(ARTIFACT, timestamp=True))
    assert sorted(t.type for t in result.timestamps) == ["TimestampAuthority", "Tlog"]


def test_certificate_from_another_instance(p: Paths) -> None:
    other = TestSigstore(seed=1)
    for name, kind in (("https://example.test/x", "uri"), ("octocat", "othername")):
        bundle = other.sign_artifact(ARTIFACT, identity=name, san_kind=kind)  # type: ignore[arg-type]
        p.rejects(
            bundle,
            "^signing certificate does not chain to a trusted CA: .*signature does not match",
            identity=None,
            policy=UnsafeNoOp(),
            oracle="failed to build timestamp certificate chain",
        )


def test_certificate_authority_window(p: Paths) -> None:
    bundle = p.sig.sign_artifact(ARTIFACT)
    later = p.root(valid_for={p.sig.fulcio: ValidFor(p.sig.now + timedelta(days=1))})
    # Disagreement: sigstore-python ignores a CA's validFor at verification time; the
    # trusted-root spec says times must be checked against it too: buildsig is right.
    p.rejects(
        bundle,
        r"^CA https://fulcio\.buildsig\.test was not trusted at 2026-01-01T00:00:01",
        root=later,
        oracle=ACCEPTS,
    )
    ends = p.sig.now + SECOND
    closed = p.root(valid_for={p.sig.fulcio: ValidFor(p.sig.now - timedelta(days=1), ends)})
    p.accepts(bundle, root=closed)
    before = p.root(valid_for={p.sig.fulcio: ValidFor(p.sig.now - timedelta(days=1), p.sig.now)})
    p.rejects(bundle, "was not trusted at", root=before, oracle=ACCEPTS)
    p.rejects(
        bundle,
        "^trust root has no certificate authority to verify with$",
        root=p.root(certificate_authorities=[]),
        oracle=None,  # sigstore-python refuses such a root when loading it
    )


# -- SCTs ---------------------------------------------------------------------------------------


def test_scts(p: Paths) -> None:
    p.rejects(
        p.sig.sign_artifact(ARTIFACT, signer=_leaf(p, sct=False)),
        "^signing certificate has no embedded SCT$",
        oracle="does not contain a signed certificate timestamp",
    )
    rogue = TestCTLog(seed=9, name="rogue")
    untrusted = p.sig.sign_artifact(ARTIFACT, signer=_leaf(p, ctlog=rogue))
    p.rejects(
        untrusted,
        r"^0 valid SCTs \(counting each CT log once\), at least 1 required$",
        oracle="failed to verify SCT",
    )
    p.accepts(untrusted, root=p.root(ctlogs=[p.sig.ctlog, rogue]))
    # an SCT that names the trusted log but is signed by another key
    impostor = TestCTLog(seed=9, name="impostor")
    impostor.log_id = p.sig.ctlog.log_id
    p.rejects(
        p.sig.sign_artifact(ARTIFACT, signer=_leaf(p, ctlog=impostor)),
        r"^0 valid SCTs \(counting each CT log once\), at least 1 required$",
        oracle="SCT verify failed: keyring: invalid signature",
    )
    # an SCT with extensions is still verified over them
    p.accepts(p.sig.sign_artifact(ARTIFACT, signer=_leaf(p, sct_extensions=b"\x01\x02")))
    # the CT log's window must contain the SCT's time (sigstore-python does not check it)
    p.rejects(
        p.sig.sign_artifact(ARTIFACT),
        r"^0 valid SCTs \(counting each CT log once\)",
        root=p.root(valid_for={p.sig.ctlog: ValidFor(p.sig.now + SECOND)}),
        oracle=ACCEPTS,
    )


# -- thresholds -----------------------------------------------------------------------------------


def test_sct_threshold(p: Paths) -> None:
    no_sct = p.sig.sign_artifact(ARTIFACT, signer=_leaf(p, sct=False))
    p.ours(no_sct, sct_threshold=0)
    p.rejects(
        p.sig.sign_artifact(ARTIFACT),
        r"^1 valid SCTs \(counting each CT log once\), at least 2 required$",
        sct_threshold=2,
        oracle=None,
    )


def test_tlog_threshold(p: Paths) -> None:
    bundle = p.sig.sign_artifact(ARTIFACT)
    p.ours(bundle, tlog_threshold=0)
    p.rejects(
        bundle,
        r"^1 verified log entries \(counting each log once\), at least 2 required$",
        tlog_threshold=2,
        oracle=None,
    )
    # the same signature logged in Rekor v1 and Rekor v2 (plus a TSA time for the v2 entry)
    signer = p.sig.new_signer()
    parts = p.sig.sign_artifact_parts(ARTIFACT, signer=signer, timestamp=True)
    assert parts.signature is not None
    v2_entry = p.sig.rekor_v2.add_entry(
        hashedrekord_v002(
            digest=hashlib.sha256(ARTIFACT).digest(),
            signature=parts.signature,
            verifier=signer.verifier,
        )
    )
    two = dataclasses.replace(parts, tlog_entries=(*parts.tlog_entries, v2_entry)).to_json()
    result = p.ours(two, tlog_threshold=2)
    assert {e.kind + e.version for e in result.bundle.tlog_entries} == {
        "hashedrekord0.0.1",
        "hashedrekord0.0.2",
    }
    assert "expected exactly one log entry" in p.theirs_error(two)  # sigstore-python: one only
    p.rejects(
        two,
        r"^2 verified log entries \(counting each log once\), at least 3 required$",
        tlog_threshold=3,
        oracle=None,
    )


def test_timestamp_threshold(p: Paths) -> None:
    bundle = p.sig.sign_artifact(ARTIFACT)
    p.rejects(
        bundle,
        r"^1 verified timestamps \(counting each log or TSA once\), at least 2 required$",
        timestamp_threshold=2,
        oracle=None,
    )
    both = p.sig.sign_artifact(ARTIFACT, timestamp=True)
    assert len(p.ours(both, timestamp_threshold=2).timestamps) == 2
    # with no verified time at all, a keyless certificate cannot be validated...
    untimed = p.sig.sign_artifact(ARTIFACT, rekor="v2", timestamp=False)
    p.rejects(
        untimed,
        "^no verified time to validate the certificate at$",
        timestamp_threshold=0,
        oracle=None,
    )
    # ...and a Rekor v2 entry cannot be placed in its log key's validity window
    keyed = p.sig.sign_with_key(ARTIFACT, rekor="v2", timestamp=False)
    p.rejects(
        keyed.bundle,
        "^log entry 0: the log's key was not valid at that time$",
        key=keyed.public_key_pem,
        timestamp_threshold=0,
        oracle=None,
    )
    # a Rekor v1 entry carries its own signed time: thresholds of 0 change nothing there
    keyed_v1 = p.sig.sign_with_key(ARTIFACT)
    p.ours(keyed_v1.bundle, key=keyed_v1.public_key_pem, timestamp_threshold=0, tlog_threshold=0)


def _two_sct_signer(p: Paths, first: TestCTLog, second: TestCTLog) -> Signer:
    """A leaf with two embedded SCTs, by ``first`` and ``second`` (same TBS, as Fulcio does)."""
    key = p.sig.new_key()
    serial = 4242
    precert = p.sig.fulcio.issue(key.public_key(), sct=False, serial=serial)
    issuer_key_hash = hashlib.sha256(
        p.sig.fulcio.intermediate.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    ).digest()
    scts = [
        log.sign_sct(
            tbs_precertificate=precert.tbs_certificate_bytes,
            issuer_key_hash=issuer_key_hash,
            timestamp=p.sig.now,
        )
        for log in (first, second)
    ]
    oid = x509.ObjectIdentifier(SCT_LIST_OID)
    value = der.octet_string(sct_list(scts))
    certificate = p.sig.fulcio.issue(
        key.public_key(),
        sct=False,
        serial=serial,
        extra_extensions=[x509.Extension(oid, False, x509.UnrecognizedExtension(oid, value))],
    )
    assert certificate.tbs_precertificate_bytes == precert.tbs_certificate_bytes
    return Signer(key, certificate)


def test_thresholds_count_each_witness_once(p: Paths) -> None:
    # One CT log, one transparency log or one TSA is one witness, however many SCTs,
    # entries or timestamps it gave: a threshold of two asks for two independent ones
    # (sigstore-go GHSA-9vcr-p3rj-q5q6 and sigstore-go#472 fixed the same counting).
    second_ct = TestCTLog(seed=0, name="ctfe-2")
    both_ct = p.root(ctlogs=[p.sig.ctlog, second_ct])
    same = p.sig.sign_artifact(ARTIFACT, signer=_two_sct_signer(p, p.sig.ctlog, p.sig.ctlog))
    # (sigstore-python accepts exactly one SCT per certificate)
    p.accepts(same, root=both_ct, oracle="Expected one certificate timestamp, found 2")
    p.rejects(
        same,
        r"^1 valid SCTs \(counting each CT log once\), at least 2 required$",
        root=both_ct,
        sct_threshold=2,
        oracle=None,
    )
    distinct = p.sig.sign_artifact(ARTIFACT, signer=_two_sct_signer(p, p.sig.ctlog, second_ct))
    p.ours(distinct, root=both_ct, sct_threshold=2)

    # the same Rekor v1 entry twice, and the same signature logged twice in one log
    parts = p.sig.sign_artifact_parts(ARTIFACT)
    entry = parts.tlog_entries[0]
    again = p.sig.rekor.add_entry(entry.canonicalized_body, integrated_time=p.sig.now + SECOND)
    for entries in ((entry, entry), (entry, again)):
        doubled = dataclasses.replace(parts, tlog_entries=entries).to_json()
        p.ours(doubled)
        p.rejects(
            doubled,
            r"^1 verified log entries \(counting each log once\), at least 2 required$",
            tlog_threshold=2,
            oracle=None,
        )
        p.rejects(
            doubled,
            r"^1 verified timestamps \(counting each log or TSA once\), at least 2 required$",
            timestamp_threshold=2,
            oracle=None,
        )

    # two tokens from one TSA, then from two trusted TSAs
    v2 = p.sig.sign_artifact_parts(ARTIFACT, rekor="v2")
    assert v2.signature is not None
    other = TestSigstore(seed=1).tsa
    other.uri = "https://timestamp-2.buildsig.test/api/v1/timestamp"  # another authority
    later = p.sig.now + 2 * SECOND
    one_tsa = dataclasses.replace(
        v2,
        rfc3161_timestamps=(
            *v2.rfc3161_timestamps,
            p.sig.tsa.timestamp(v2.signature, gen_time=later),
        ),
    ).to_json()
    two_tsas = dataclasses.replace(
        v2,
        rfc3161_timestamps=(*v2.rfc3161_timestamps, other.timestamp(v2.signature, gen_time=later)),
    ).to_json()
    root = p.root(timestamp_authorities=[p.sig.tsa, other])
    assert len(p.ours(one_tsa, root=root).timestamps) == 2  # both still reported
    p.rejects(
        one_tsa,
        r"^1 verified timestamps \(counting each log or TSA once\), at least 2 required$",
        root=root,
        timestamp_threshold=2,
        oracle=None,
    )
    assert len(p.ours(two_tsas, root=root, timestamp_threshold=2).timestamps) == 2


# -- inclusion proofs ----------------------------------------------------------------------------


@pytest.mark.parametrize("rekor", ["v1", "v2"])
def test_inclusion_proofs(p: Paths, rekor: str) -> None:
    parts = p.sig.sign_artifact_parts(ARTIFACT, rekor=rekor)  # type: ignore[arg-type]
    proof = parts.tlog_entries[0].inclusion_proof
    assert proof is not None and len(proof.hashes) >= 2
    flipped = (bytes([proof.hashes[0][0] ^ 1]) + proof.hashes[0][1:], *proof.hashes[1:])
    cases: list[tuple[dict[str, Any], str, str | None]] = [
        (
            {"hashes": flipped},
            "^inclusion proof does not lead to the checkpointed root hash$",
            "inclusion proof contains invalid root hash",
        ),
        (
            {"hashes": proof.hashes[:-1]},
            "^inclusion proof is shorter than the tree is deep$",
            "inclusion proof has wrong size",
        ),
        (
            {"hashes": (*proof.hashes, proof.hashes[0])},
            "^inclusion proof is longer than the tree is deep$",
            "inclusion proof has wrong size",
        ),
        (
            {"hashes": (proof.hashes[0][:31], *proof.hashes[1:])},
            "^inclusion proof hash is not 32 bytes$",
            None,  # sigstore-python: "root hash" or a crash, depending on the position
        ),
        (
            {"log_index": proof.tree_size},
            f"^inclusion proof index {proof.tree_size} is outside a tree of {proof.tree_size}$",
            "must be less than treeSize",
        ),
        (
            {"log_index": proof.log_index - 1},
            "^inclusion proof does not lead to the checkpointed root hash$",
            "inclusion proof",
        ),
    ]
    artifact = ARTIFACT
    for changes, reason, oracle in cases:
        p.rejects(parts.replace_proof(**changes).to_json(), reason, artifact, oracle=oracle)
    # a proof to a later tree head, with its checkpoint, is as good
    log = p.sig.rekor if rekor == "v1" else p.sig.rekor_v2
    for i in range(9):
        log.append(b"later entry %d" % i)
    later = log.entry(proof.log_index)
    assert later.inclusion_proof is not None and later.inclusion_proof.tree_size == log.size
    later = dataclasses.replace(later, integrated_time=parts.tlog_entries[0].integrated_time)
    if rekor == "v1":
        entry = parts.tlog_entries[0]
        later = dataclasses.replace(later, signed_entry_timestamp=entry.signed_entry_timestamp)
    p.accepts(dataclasses.replace(parts, tlog_entries=(later,)).to_json())


def test_v01_bundles_may_rest_on_the_promise_alone(p: Paths) -> None:
    parts = p.sig.sign_artifact_parts(ARTIFACT, bundle_version="0.1")
    promise_only = parts.replace_entry(inclusion_proof=None).to_json()
    # sigstore-python insists on an inclusion proof even in v0.1 bundles
    p.accepts(promise_only, oracle="inclusionProof")
    # an integratedTime of 0 is no time: nothing dates the entry
    p.rejects(
        parts.replace_entry(inclusion_proof=None, integrated_time=0).to_json(),
        r"^0 verified timestamps \(counting each log or TSA once\), at least 1 required$",
        oracle=None,
    )
    with pytest.raises(InvalidDocumentError, match="needs an inclusion promise"):
        p.ours(parts.replace_entry(signed_entry_timestamp=None).to_json())
    with pytest.raises(InvalidDocumentError, match="needs an inclusion proof"):
        p.ours(
            dataclasses.replace(parts.replace_entry(inclusion_proof=None), version="0.3").to_json()
        )


def _signed_note(log: Any, note: str) -> str:
    """``note`` (any text) genuinely signed by ``log``, as a checkpoint."""
    signature = log.log_id[:4] + log.sign(note.encode())
    return f"{note}\n\u2014 {log.name} {base64.b64encode(signature).decode()}\n"


# -- checkpoints ---------------------------------------------------------------------------------


@pytest.mark.parametrize("rekor", ["v1", "v2"])
def test_checkpoints(p: Paths, rekor: str) -> None:
    parts = p.sig.sign_artifact_parts(ARTIFACT, rekor=rekor)  # type: ignore[arg-type]
    proof = parts.tlog_entries[0].inclusion_proof
    assert proof is not None
    log = p.sig.rekor if rekor == "v1" else p.sig.rekor_v2
    rogue = TestSigstore(seed=1).rekor if rekor == "v1" else TestSigstore(seed=1).rekor_v2
    size = proof.tree_size

    def with_checkpoint(text: str) -> bytes:
        return parts.replace_proof(checkpoint=text).to_json()

    genuine = log.checkpoint(size)
    assert genuine == proof.checkpoint
    header, signatures = genuine.split("\n\n")
    root = base64.b64encode(proof.root_hash).decode()
    cosignature = rogue.checkpoint(size, root_hash=proof.root_hash, origin=log.origin)
    cosign_line = cosignature.split("\n\n")[1]
    # co-signed notes: the log's signature is found among others, in any order
    p.accepts(with_checkpoint(f"{header}\n\n{signatures}{cosign_line}"))
    p.accepts(with_checkpoint(f"{header}\n\n{cosign_line}{signatures}"))
    # extension lines after the root hash are signed like the rest
    p.accepts(with_checkpoint(log.checkpoint(size, extra_lines=["Timestamp: 1767225601000000000"])))
    rejected = [
        (
            rogue.checkpoint(size, root_hash=proof.root_hash, origin=log.origin),
            "^checkpoint: no signature by the log$",
            "checkpoint: Signature not found for log ID",
        ),
        (
            log.checkpoint(size, signer=rogue.private_key, key_hint=log.log_id[:4]),
            "^checkpoint: the log's signature does not verify$",
            "checkpoint: invalid signature",
        ),
        (
            log.checkpoint(size, root_hash=b"\x00" * 32),
            "^checkpoint: root hash does not match the inclusion proof$",
            "inclusion proof contains invalid root hash",
        ),
        (
            log.checkpoint(size - 1),
            "^checkpoint: tree size does not match the inclusion proof$",
            "inclusion proof|checkpoint",
        ),
        (
            f"{header}\n\n{cosign_line}",
            "^checkpoint: no signature by the log$",
            "checkpoint: Signature not found",
        ),
        (f"{header}\n\n", "^checkpoint: signature block must end with a newline$", "signature"),
        (
            header + "\n" + signatures,
            r"^checkpoint: malformed signed note \(no single blank line\)$",
            "blank line",
        ),
        (
            _signed_note(log, f"\n{size}\n{root}\n"),
            "^checkpoint: needs origin, tree size and root hash$",
            "empty origin|too few items",
        ),
        (
            _signed_note(log, f"{log.origin}\n{root}\n"),
            "^checkpoint: needs origin, tree size and root hash$",
            "too few items",
        ),
        (
            _signed_note(log, f"{log.origin}\nsix\n{root}\n"),
            "^checkpoint: tree size does not match the inclusion proof$",
            "invalid log size",
        ),
        (
            _signed_note(log, f"{log.origin}\n{size}\n%%%\n"),
            "^checkpoint: root hash is not base64$",
            "invalid root hash|Incorrect padding|base64",
        ),
    ]
    for text, reason, oracle in rejected:
        p.rejects(with_checkpoint(text), reason, oracle=oracle)
    # the signature covers the origin line: another origin is another note
    moved = genuine.replace(log.origin, log.origin + "x", 1)
    p.rejects(
        with_checkpoint(moved),
        "^checkpoint: the log's signature does not verify$",
        oracle="invalid signature",
    )


# -- signed entry timestamps (inclusion promises) -------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_signed_entry_timestamps(p: Paths, version: str) -> None:
    parts = p.sig.sign_artifact_parts(ARTIFACT, bundle_version=version)  # type: ignore[arg-type]
    if version == "0.1":  # the promise is the only log evidence
        parts = parts.replace_entry(inclusion_proof=None)
    entry = parts.tlog_entries[0]
    assert entry.integrated_time is not None
    reason = "^log entry's signed entry timestamp does not verify$"
    oracle = None if version == "0.1" else "SET: invalid inclusion promise"
    forged = p.sig.rekor.signed_entry_timestamp(
        body=entry.canonicalized_body,
        integrated_time=entry.integrated_time + 1,
        log_index=entry.log_index,
    )
    p.rejects(parts.replace_entry(signed_entry_timestamp=forged).to_json(), reason, oracle=oracle)
    p.rejects(
        parts.replace_entry(integrated_time=entry.integrated_time + 1).to_json(),
        reason,
        oracle=oracle,
    )
    p.rejects(parts.replace_entry(log_index=entry.log_index + 1).to_json(), reason, oracle=oracle)
    by_another = TestSigstore(seed=1).rekor.signed_entry_timestamp(
        body=entry.canonicalized_body,
        integrated_time=entry.integrated_time,
        log_index=entry.log_index,
    )
    p.rejects(
        parts.replace_entry(signed_entry_timestamp=by_another).to_json(), reason, oracle=oracle
    )


# -- the log's key validity window -------------------------------------------------------------


def test_log_key_validity_window(p: Paths) -> None:
    bundle = p.sig.sign_artifact(ARTIFACT)
    integrated = p.sig.now + SECOND
    year_ago = p.sig.now - timedelta(days=365)
    reason = "^log entry 0: the log's key was not valid at that time$"
    # Disagreement: sigstore-python never compares log entries with the key's validFor
    # (GHSA-wqqc-jjcq-vfxm fixed the same hole in sigstore-go): buildsig is right.
    p.rejects(
        bundle,
        reason,
        root=p.root(valid_for={p.sig.rekor: ValidFor(integrated + SECOND)}),
        oracle=ACCEPTS,
    )
    # closed interval: an entry integrated exactly at the end is inside
    p.accepts(bundle, root=p.root(valid_for={p.sig.rekor: ValidFor(year_ago, integrated)}))
    p.rejects(
        bundle,
        reason,
        root=p.root(valid_for={p.sig.rekor: ValidFor(year_ago, integrated - SECOND)}),
        oracle=ACCEPTS,
    )
    # Rekor v2 entries have no time of their own: the TSA's time is what must fit
    v2 = p.sig.sign_artifact(ARTIFACT, rekor="v2")
    p.accepts(v2, root=p.root(valid_for={p.sig.rekor_v2: ValidFor(year_ago, integrated)}))
    p.rejects(
        v2,
        reason,
        root=p.root(valid_for={p.sig.rekor_v2: ValidFor(year_ago, integrated - SECOND)}),
        oracle=ACCEPTS,
    )


def test_log_key_window_is_checked_at_signed_times_only(p: Paths) -> None:
    # A Rekor v1 entry without its SET still shows an integratedTime, but nobody signed it:
    # only the TSA's time dates the entry, and that is what the key's window must contain.
    parts = p.sig.sign_artifact_parts(ARTIFACT, timestamp=True)  # TSA at now + 1 s
    unpromised = parts.replace_entry(signed_entry_timestamp=None)
    result = p.accepts(unpromised.to_json())
    assert [t.type for t in result.timestamps] == ["TimestampAuthority"]
    ended = p.root(valid_for={p.sig.rekor: ValidFor(p.sig.now - timedelta(days=365), p.sig.now)})
    backdated = unpromised.replace_entry(integrated_time=int(p.sig.now.timestamp()) - 30)
    # (sigstore-python checks no log key window at all)
    p.rejects(
        backdated.to_json(),
        "^log entry 0: the log's key was not valid at that time$",
        root=ended,
        oracle=ACCEPTS,
    )


def test_untrusted_log(p: Paths) -> None:
    parts = p.sig.sign_artifact_parts(ARTIFACT)
    reason = "^log entry 0 is from a log the trust root does not trust$"
    p.rejects(
        parts.to_json(),
        reason,
        root=p.root(tlogs=[p.sig.rekor_v2, TestSigstore(seed=1).rekor]),
        oracle="invalid log entry|SET",
    )
    p.rejects(
        parts.replace_entry(log_id=hashlib.sha256(b"no such log").digest()).to_json(),
        reason,
        oracle="invalid log entry|SET",
    )


def test_times_in_the_future(p: Paths) -> None:
    # buildsig's clock is set a day before the signing: every signed time is in its future
    # (sigstore-python reads only the real clock, and has no such check at all; the
    # conformance case integrated-time-in-future requires one)
    yesterday = p.sig.now - timedelta(days=1)
    signed = p.sig.now + SECOND
    bundle = p.sig.sign_artifact(ARTIFACT)
    p.rejects(
        bundle,
        r"^Tlog time 2026-01-01T00:00:01\+00:00 is in the future$",
        now=yesterday,
        oracle=None,
    )
    p.rejects(
        p.sig.sign_artifact(ARTIFACT, rekor="v2"),
        r"^TimestampAuthority time 2026-01-01T00:00:01\+00:00 is in the future$",
        now=yesterday,
        oracle=None,
    )
    # five minutes of clock skew are tolerated
    p.ours(bundle, now=signed - timedelta(minutes=5))
    p.rejects(
        bundle, "is in the future$", now=signed - timedelta(minutes=5, seconds=1), oracle=None
    )
    # the real clock is the default
    assert Verifier(TrustRoot.from_json(p.root())).verify_artifact(bundle, ARTIFACT).signer


# -- RFC 3161 timestamps ---------------------------------------------------------------------


def _foreign_certificate_token(p: Paths, message: bytes) -> bytes:
    """A token really signed by the trusted TSA, embedding another TSA's certificate."""
    fields = rfc3161.TSTInfoFields(
        message_digest=hashlib.sha256(message).digest(),
        gen_time=p.sig.now + SECOND,
        serial=7,
        tsa_name=p.sig.tsa.certificate.subject,
    )
    return rfc3161.encode_timestamp_response(
        fields,
        signer_certificate=p.sig.tsa.certificate,
        signer_key=p.sig.tsa.signing_key,
        embedded_certificates=[TestSigstore(seed=1).tsa.certificate],
    )


def test_timestamps(p: Paths) -> None:
    parts = p.sig.sign_artifact_parts(ARTIFACT, rekor="v2")
    assert parts.signature is not None
    signature = parts.signature
    when = p.sig.now + SECOND
    other = TestSigstore(seed=1)

    def stamped(*tokens: bytes) -> bytes:
        return dataclasses.replace(parts, rfc3161_timestamps=tokens).to_json()

    no_time = "not enough sources of verified time"
    p.accepts(stamped(p.sig.tsa.timestamp(signature, gen_time=when, embed_certificate=False)))
    for token, reason, oracle in (
        (
            p.sig.tsa.timestamp(b"not the signature", gen_time=when),
            "^timestamp 0: timestamp is over other data$",
            no_time,
        ),
        (
            other.tsa.timestamp(signature, gen_time=when),
            "^timestamp 0: not from a trusted timestamp authority$",
            no_time,
        ),
        (
            other.tsa.timestamp(signature, gen_time=when, embed_certificate=False),
            "^timestamp 0: not from a trusted timestamp authority$",
            no_time,
        ),
        (
            _foreign_certificate_token(p, signature),
            "^timestamp 0: timestamp embeds a signing certificate other than the TSA's$",
            no_time,
        ),
        (
            p.sig.tsa.timestamp(signature, gen_time=p.sig.now + timedelta(days=3651)),
            r"^timestamp 0: TSA certificate was not valid at 2035-12-31T00:00:00\+00:00$",
            no_time,
        ),
        (
            p.sig.tsa.timestamp(signature, gen_time=p.sig.now - timedelta(days=366)),
            "^timestamp 0: TSA certificate was not valid at 2024-12-31",
            no_time,
        ),
        (
            b"\x30\x03\x02\x01\x00",
            "^malformed RFC 3161 timestamp: no timeStampToken$",
            "Invalid Timestamp",
        ),
    ):
        p.rejects(stamped(token), reason, oracle=oracle)
    token = p.sig.tsa.timestamp(signature, gen_time=when)
    at = token.index(b"20260101000001Z")
    p.rejects(
        stamped(token[: at + 3] + b"7" + token[at + 4 :]),
        "^timestamp 0: timestamp's signed digest does not match its TSTInfo$",
        oracle=no_time,
    )
    p.rejects(
        stamped(token[:-3] + bytes([token[-3] ^ 1]) + token[-2:]),
        "^timestamp 0: timestamp signature does not verify$",
        oracle=no_time,
    )
    # two trusted TSAs: each token is checked against the one that issued it
    both = p.root(timestamp_authorities=[other.tsa, p.sig.tsa])
    p.accepts(stamped(other.tsa.timestamp(signature, gen_time=when)), root=both)
    p.accepts(stamped(token), root=both)
    p.rejects(
        parts.to_json(),
        "^bundle has signed timestamps but the trust root has no TSA$",
        root=p.root(timestamp_authorities=[]),
        oracle="no Timestamp Authorities have been provided",
    )


def test_a_bad_timestamp_fails_the_bundle_even_beside_a_good_time(p: Paths) -> None:
    # Documented rule (verify.py step 1): every timestamp must verify. sigstore-python (and
    # sigstore-go) instead skip a bad token and count the rest, so a Rekor v1 bundle with a
    # stray token passes there on its SET time alone. buildsig fails closed.
    parts = p.sig.sign_artifact_parts(ARTIFACT)
    stray = p.sig.tsa.timestamp(b"not the signature", gen_time=p.sig.now + SECOND)
    p.rejects(
        dataclasses.replace(parts, rfc3161_timestamps=(stray,)).to_json(),
        "^timestamp 0: timestamp is over other data$",
        oracle=ACCEPTS,
    )


def test_timestamp_authority_window(p: Paths) -> None:
    bundle = p.sig.sign_artifact(ARTIFACT, rekor="v2")
    stamped = p.sig.now + SECOND
    year_ago = p.sig.now - timedelta(days=365)
    no_time = "not enough sources of verified time"
    p.rejects(
        bundle,
        r"^timestamp 0: TSA was not trusted at 2026-01-01T00:00:01\+00:00$",
        root=p.root(valid_for={p.sig.tsa: ValidFor(stamped + SECOND)}),
        oracle=no_time,
    )
    # Disagreement: the window is closed (the conformance case
    # trust-root-tsa-validity-end-inclusive must pass); sigstore-python treats the end as
    # excluded: buildsig is right.
    p.accepts(
        bundle, root=p.root(valid_for={p.sig.tsa: ValidFor(year_ago, stamped)}), oracle=no_time
    )
    p.rejects(
        bundle,
        "^timestamp 0: TSA was not trusted at",
        root=p.root(valid_for={p.sig.tsa: ValidFor(year_ago, stamped - SECOND)}),
        oracle=no_time,
    )


def test_timestamp_counts(p: Paths) -> None:
    parts = p.sig.sign_artifact_parts(ARTIFACT, rekor="v2")
    assert parts.signature is not None
    tokens = [p.sig.tsa.timestamp(parts.signature, gen_time=p.sig.now + SECOND) for _ in range(33)]
    p.accepts(dataclasses.replace(parts, rfc3161_timestamps=tuple(tokens[:32])).to_json())
    p.rejects(
        dataclasses.replace(parts, rfc3161_timestamps=tuple(tokens)).to_json(),
        "too many signed timestamps: 33 > 32$",
        error=InvalidDocumentError,
        oracle="too many signed timestamp: 33 > 32",
    )
    p.rejects(
        dataclasses.replace(parts, rfc3161_timestamps=(tokens[0], tokens[0])).to_json(),
        "duplicate signed timestamp$",
        error=InvalidDocumentError,
        oracle="duplicate timestamp found",
    )


# -- trust roots -----------------------------------------------------------------------------


@pytest.mark.parametrize("component", ["rekor", "ctlog", "fulcio", "tsa"])
def test_trust_root_window_needs_a_start(p: Paths, component: str) -> None:
    part = getattr(p.sig, component)
    end = p.sig.now + timedelta(days=1)
    for window, reason in (
        (ValidFor(None, end), r"validFor\.start is required"),
        (ValidFor(None), "validFor must be an object"),
    ):
        root = p.root(valid_for={part: window})
        with pytest.raises(PolicyConfigError, match=reason):
            TrustRoot.from_json(root)
        path = p.tmp_path / "root.json"
        path.write_bytes(root)
        if window.end is None and component in ("rekor", "ctlog"):
            # a log key without any validFor: the protobuf field is optional and
            # sigstore-python takes the key as valid forever; sigstore-go (Buildx's
            # verifier) refuses it ("tlog missing public key validity period"), and so does
            # buildsig. Both readings are defensible; buildsig follows Buildx.
            TrustedRoot.from_file(str(path))
            continue
        with pytest.raises(ValueError, match=r"start|valid_for|validFor|Field required"):
            TrustedRoot.from_file(str(path))


# -- cosign simple signing --------------------------------------------------------------------
# sigstore-python cannot verify these: buildsig alone judges them.

MANIFEST = "sha256:" + "ab" * 32


def test_simple_signing_keyless(p: Paths) -> None:
    signed = p.sig.simple_signing(manifest_digest=MANIFEST, docker_reference="registry.test/app")
    verifier = p.verifier()
    parsed, result = verify_simple_signing(
        verifier, signed.payload, signed.annotations, manifest_digest=MANIFEST
    )
    assert (parsed.docker_reference, parsed.manifest_digest) == ("registry.test/app", MANIFEST)
    assert result.signer is not None and result.signer.subject_alternative_name == DEFAULT_IDENTITY
    assert result.timestamps == (VerifiedTime("Tlog", p.sig.rekor.base_url, p.sig.now + SECOND),)
    # a cosign RFC 3161 annotation adds a second verified time
    token = p.sig.tsa.timestamp(signed.signature, gen_time=p.sig.now + SECOND)
    stamped = {
        **signed.annotations,
        "dev.sigstore.cosign/rfc3161timestamp": json.dumps(
            {"SignedRFC3161Timestamp": base64.b64encode(token).decode()}
        ),
    }
    _, result = verify_simple_signing(
        p.verifier(timestamp_threshold=2), signed.payload, stamped, manifest_digest=MANIFEST
    )
    assert sorted(t.type for t in result.timestamps) == ["TimestampAuthority", "Tlog"]


def test_simple_signing_rejections(p: Paths) -> None:
    signed = p.sig.simple_signing(manifest_digest=MANIFEST, docker_reference="registry.test/app")
    verifier = p.verifier()

    def check(payload: bytes, annotations: Mapping[str, str], reason: str, **kw: Any) -> None:
        with pytest.raises(VerificationError, match=reason):
            verify_simple_signing(
                kw.pop("verifier", verifier),
                payload,
                annotations,
                manifest_digest=kw.pop("digest", MANIFEST),
                **kw,
            )

    check(
        signed.payload,
        signed.annotations,
        f"^simple signature is for {MANIFEST}, not sha256:{'cd' * 32}$",
        digest="sha256:" + "cd" * 32,
    )
    doc = json.loads(signed.payload)
    doc["critical"]["type"] = "atomic container signature"
    check(
        json.dumps(doc).encode(),
        signed.annotations,
        "^simple signature has type 'atomic container signature'$",
    )
    tampered = signed.payload.replace(b"registry.test/app", b"registry.test/evil")
    check(tampered, signed.annotations, "^signature does not verify for the artifact$")
    other = p.sig.simple_signing(manifest_digest=MANIFEST, docker_reference="registry.test/evil")
    swapped = {
        **signed.annotations,
        "dev.cosignproject.cosign/signature": other.annotations[
            "dev.cosignproject.cosign/signature"
        ],
    }
    check(signed.payload, swapped, "^signature does not verify for the artifact$")
    # the Rekor evidence must be about this payload, signature and certificate
    assert other.tlog_entry is not None
    foreign_entry = {
        **signed.annotations,
        "dev.sigstore.cosign/bundle": other.annotations["dev.sigstore.cosign/bundle"],
    }
    check(signed.payload, foreign_entry, "^log entry records a different artifact digest$")
    legacy = json.loads(signed.annotations["dev.sigstore.cosign/bundle"])
    legacy["Payload"]["integratedTime"] += 1
    check(
        signed.payload,
        {**signed.annotations, "dev.sigstore.cosign/bundle": json.dumps(legacy)},
        "^log entry's signed entry timestamp does not verify$",
    )
    # no certificate and no key
    keyless = {
        k: v for k, v in signed.annotations.items() if k != "dev.sigstore.cosign/certificate"
    }
    check(signed.payload, keyless, "^simple signature has no certificate and no key was given$")
    # not logged: no verified time
    unlogged = p.sig.simple_signing(
        manifest_digest=MANIFEST, docker_reference="registry.test/app", rekor=False
    )
    check(
        unlogged.payload,
        unlogged.annotations,
        r"^0 verified timestamps \(counting each log or TSA once\), at least 1 required$",
    )
    check(
        unlogged.payload,
        unlogged.annotations,
        "^no verified time to validate the certificate at$",
        verifier=p.verifier(tlog_threshold=0, timestamp_threshold=0),
    )
    with pytest.raises(InvalidDocumentError, match="is not JSON"):
        verify_simple_signing(
            verifier,
            signed.payload,
            {**signed.annotations, "dev.sigstore.cosign/bundle": "{"},
            manifest_digest=MANIFEST,
        )
    with pytest.raises(InvalidDocumentError, match="not JSON"):
        verify_simple_signing(verifier, b"{", signed.annotations, manifest_digest=MANIFEST)


@pytest.mark.parametrize("rekor", [True, False])
def test_simple_signing_with_a_key(p: Paths, rekor: bool) -> None:
    key = p.sig.new_key()
    signed = p.sig.simple_signing(
        manifest_digest=MANIFEST, docker_reference="registry.test/app", key=key, rekor=rekor
    )
    public = key.public_key()
    wrong = p.sig.new_key().public_key()
    if rekor:
        verifier = p.verifier()
        _, result = verify_simple_signing(
            verifier, signed.payload, signed.annotations, manifest_digest=MANIFEST, key=public
        )
        assert result.signer is None and [t.type for t in result.timestamps] == ["Tlog"]
    else:
        # no Rekor bundle annotation: no log entry and no verified time
        untimed = r"^0 verified timestamps \(counting each log or TSA once\), at least 1 required$"
        with pytest.raises(VerificationError, match=untimed):
            verify_simple_signing(
                p.verifier(),
                signed.payload,
                signed.annotations,
                manifest_digest=MANIFEST,
                key=public,
            )
        verifier = p.verifier(tlog_threshold=0, timestamp_threshold=0)
        _, result = verify_simple_signing(
            verifier, signed.payload, signed.annotations, manifest_digest=MANIFEST, key=public
        )
        assert result.timestamps == ()
    with pytest.raises(VerificationError, match=r"^signature does not verify for the artifact$"):
        verify_simple_signing(
            verifier, signed.payload, signed.annotations, manifest_digest=MANIFEST, key=wrong
        )
    tampered = signed.payload.replace(b"registry.test/app", b"registry.test/evil")
    with pytest.raises(VerificationError, match=r"^signature does not verify for the artifact$"):
        verify_simple_signing(
            verifier, tampered, signed.annotations, manifest_digest=MANIFEST, key=public
        )


def test_simple_signing_key_wins_over_certificate(p: Paths) -> None:
    signed = p.sig.simple_signing(manifest_digest=MANIFEST, docker_reference="registry.test/app")
    assert signed.certificate is not None
    verifier = p.verifier()
    # the certificate's own key, given as the trusted key: verified as key-signed
    _, result = verify_simple_signing(
        verifier,
        signed.payload,
        signed.annotations,
        manifest_digest=MANIFEST,
        key=signed.private_key.public_key(),
    )
    assert result.signer is None and result.certificate is None
    # another key: the certificate does not rescue it (and the log names the certificate)
    with pytest.raises(VerificationError, match=r"^signature does not verify for the artifact$"):
        verify_simple_signing(
            verifier,
            signed.payload,
            signed.annotations,
            manifest_digest=MANIFEST,
            key=p.sig.new_key().public_key(),
        )


def test_a_key_signer_may_be_logged_with_a_certificate_for_that_key(p: Paths) -> None:
    # the log entry names a certificate whose public key is the trusted key: the log has
    # witnessed a signature by that key (the certificate itself is not trusted, nor needed)
    signer = p.sig.new_signer()
    assert signer.certificate is not None
    keyed = Signer(signer.private_key)
    digest = hashlib.sha256(ARTIFACT).digest()
    for v2, body in ((False, hashedrekord_v001), (True, hashedrekord_v002)):
        parts = p.sig.sign_artifact_parts(
            ARTIFACT, signer=keyed, rekor="v2" if v2 else "v1", timestamp=v2
        )
        assert parts.signature is not None
        logged = p.relog(
            parts,
            body(digest=digest, signature=parts.signature, verifier=signer.certificate),
            v2=v2,
        )
        assert p.ours(logged, key=keyed.public_key_pem).signer is None
        other = p.sig.new_signer()
        assert other.certificate is not None
        foreign = p.relog(
            parts, body(digest=digest, signature=parts.signature, verifier=other.certificate), v2=v2
        )
        p.rejects(
            foreign,
            "^log entry records a different certificate or key$",
            key=keyed.public_key_pem,
            oracle=None,
        )


# -- batches ---------------------------------------------------------------------------------


@pytest.mark.parametrize("jobs", [1, 2])
def test_verify_batch_mixed(p: Paths, jobs: int) -> None:
    keyed = p.sig.sign_with_key(ARTIFACT)
    good = p.sig.sign_artifact(ARTIFACT)
    items = [
        BatchItem(good, ARTIFACT, identity=IDENTITY),
        BatchItem(good, OTHER),
        BatchItem(keyed.bundle, DIGEST, key=keyed.public_key_pem),
        BatchItem(b"{not json", ARTIFACT),
        BatchItem(p.sig.sign_dsse(STATEMENT), DIGEST),
        BatchItem(good, ARTIFACT, identity=Identity(subject="someone else")),
        BatchItem(keyed.bundle, ARTIFACT),
        BatchItem(p.sig.sign_artifact(ARTIFACT, rekor="v2"), ARTIFACT),
    ]
    results = verify_batch(items, trust_root=p.sig.trusted_root_json(), jobs=jobs)
    assert [r.verified for r in results] == [True, False, True, False, True, False, False, True]
    reasons = [r.reason for r in results]
    assert reasons[0] == reasons[2] == reasons[4] == reasons[7] == ""
    assert reasons[1] == ("VerificationError: bundle's message digest does not match the artifact")
    assert reasons[3].startswith("InvalidDocumentError: ") and "not JSON" in reasons[3]
    assert reasons[5].startswith("VerificationError: certificate subject is ")
    assert reasons[6] == ("VerificationError: bundle is signed with a key, and no key was given")
    assert results[0].signer is not None and results[2].signer is None
    assert results[4].predicate_type == SLSA and results[0].predicate_type == ""
    assert [t.type for t in results[7].timestamps] == ["TimestampAuthority"]
    # same verdicts whatever the number of workers
    again = verify_batch(items, trust_root=p.sig.trusted_root_json(), jobs=1)
    assert again == results


def test_verify_batch_with_a_bad_trust_root(p: Paths) -> None:
    items = [BatchItem(p.sig.sign_artifact(ARTIFACT), ARTIFACT)] * 4
    with pytest.raises(PolicyConfigError, match="not JSON"):
        verify_batch(items, trust_root=b"{", jobs=2)


# -- Buildx signature kinds --------------------------------------------------------------------

BUILDER = "https://github.com/docker/github-builder/.github/workflows/build.yml@refs/heads/main"
REPO = "https://github.com/acme/app"
SELF = REPO + "/.github/workflows/release.yml@refs/tags/v1"
SIGNATURE_KEYS = {"kind", "type", "timestamps", "dockerReference", "isDHI", "signer"}
SIGNER_KEYS = {
    "certificateIssuer",
    "subjectAlternativeName",
    "issuer",
    "buildSignerURI",
    "buildSignerDigest",
    "runnerEnvironment",
    "sourceRepositoryURI",
    "sourceRepositoryDigest",
    "sourceRepositoryRef",
    "sourceRepositoryIdentifier",
    "sourceRepositoryOwnerURI",
    "sourceRepositoryOwnerIdentifier",
    "buildConfigURI",
    "buildConfigDigest",
    "buildTrigger",
    "runInvocationURI",
    "sourceRepositoryVisibilityAtSigning",
}


def _github(identity: str, **overrides: str | None) -> dict[str, str | None]:
    extensions: dict[str, str | None] = {
        ".9": identity,
        ".11": "github-hosted",
        ".12": REPO,
        ".14": "refs/tags/v1",
    }
    extensions.update({f".{k.lstrip('_')}": v for k, v in overrides.items()})
    return extensions


def _classified(
    p: Paths,
    identity: str,
    extensions: Mapping[str, str | None],
    *,
    type: SignatureType = SignatureType.BUNDLE_V03,
    untimed: bool = False,
    **kw: Any,
) -> Any:
    bundle = p.sig.sign_dsse(STATEMENT, identity=identity, extensions=extensions)
    verified = p.ours(bundle, None, identity=Identity(subject=identity), **kw)
    if untimed:
        verified = dataclasses.replace(verified, timestamps=())
    return attestation_signature(verified, type=type)


def test_kind_docker_github_builder(p: Paths) -> None:
    sig = _classified(p, BUILDER, _github(BUILDER))
    assert sig.kind == SignatureKind.DOCKER_GITHUB_BUILDER
    assert sig.signer.certificate_issuer == "CN=sigstore-intermediate,O=sigstore.dev"
    assert (sig.signer.build_signer_uri, sig.signer.source_repository_uri) == (BUILDER, REPO)
    assert (sig.signer.runner_environment, sig.signer.issuer) == ("github-hosted", DEFAULT_ISSUER)
    experimental = BUILDER.replace("github-builder", "github-builder-experimental")
    assert _classified(p, experimental, _github(experimental)).kind == "docker-github-builder"
    doc = json.loads(sig.to_json())
    assert set(doc) == {"kind", "type", "timestamps", "signer"} <= SIGNATURE_KEYS
    assert doc["type"] == "bundle-v0.3" and doc["kind"] == "docker-github-builder"
    assert [set(t) for t in doc["timestamps"]] == [{"type", "uri", "timestamp"}]
    assert doc["timestamps"][0]["type"] == "Tlog"
    assert doc["timestamps"][0]["uri"] == p.sig.rekor.base_url
    assert doc["timestamps"][0]["timestamp"] == "2026-01-01T00:00:01Z"
    assert set(doc["signer"]) == {
        "certificateIssuer",
        "subjectAlternativeName",
        "issuer",
        "buildSignerURI",
        "runnerEnvironment",
        "sourceRepositoryURI",
        "sourceRepositoryRef",
    }
    # each condition is necessary: take one away and it is only a self-signed signature
    for why, classified in {
        "self-hosted runner": _classified(p, BUILDER, _github(BUILDER, _11="self-hosted")),
        "no runner": _classified(p, BUILDER, _github(BUILDER, _11=None)),
        "build signer elsewhere": _classified(p, BUILDER, _github(BUILDER, _9=SELF)),
        "SAN elsewhere": _classified(p, DEFAULT_IDENTITY, _github(BUILDER)),
        "repository not on GitHub": _classified(
            p, BUILDER, _github(BUILDER, _12="https://gitlab.example.test/acme/app")
        ),
        "another OIDC issuer": _classified(
            p, BUILDER, {**_github(BUILDER), ".8": "https://gitlab.example.test"}
        ),
        "no timestamp": _classified(p, BUILDER, _github(BUILDER), untimed=True),
        "simple signing": _classified(
            p, BUILDER, _github(BUILDER), type=SignatureType.SIMPLESIGNING_V1
        ),
    }.items():
        assert classified.kind == SignatureKind.SELF_SIGNED, why


def test_kind_self_signed_github_repo(p: Paths) -> None:
    sig = _classified(p, SELF, _github(SELF))
    assert sig.kind == SignatureKind.SELF_SIGNED_GITHUB_REPO
    assert sig.signer.subject_alternative_name == SELF
    # a workflow from another repository than the one built
    other = "https://github.com/acme/other/.github/workflows/release.yml@refs/tags/v1"
    assert _classified(p, other, _github(other)).kind == SignatureKind.SELF_SIGNED
    assert _classified(p, SELF, _github(SELF, _11="self-hosted")).kind == "self-signed"
    # no timestamp and simple signing are fine for this kind
    assert _classified(p, SELF, _github(SELF), untimed=True).kind == "self-signed-github-repo"


def test_kind_self_signed_and_untrusted(p: Paths, tmp_path: Path) -> None:
    plain = _classified(p, DEFAULT_IDENTITY, {})
    assert plain.kind == SignatureKind.SELF_SIGNED
    # another Fulcio (its intermediate has another DN): untrusted even when verified
    other = TestSigstore(seed=2)
    other.fulcio = TestFulcio(seed=2, now=other.now, ctlog=other.ctlog, organization="example.test")
    q = Paths(other, tmp_path)
    foreign = _classified(q, SELF, _github(SELF))
    assert foreign.signer.certificate_issuer == "CN=sigstore-intermediate,O=example.test"
    assert foreign.kind == SignatureKind.UNTRUSTED
    # key-signed: no signer, untrusted unless a DHI with a docker reference
    keyed = p.sig.sign_with_key(ARTIFACT)
    verified = p.ours(keyed.bundle, key=keyed.public_key_pem)
    sig = attestation_signature(verified, type=SignatureType.BUNDLE_V03)
    assert sig.kind == SignatureKind.UNTRUSTED and sig.signer is None
    assert set(json.loads(sig.to_json())) == {"kind", "type", "timestamps"}
    dhi = attestation_signature(
        verified,
        type=SignatureType.SIMPLESIGNING_V1,
        docker_reference="dhi.io/python:3",
        is_dhi=True,
    )
    assert dhi.kind == SignatureKind.DOCKER_HARDENED_IMAGE
    assert set(json.loads(dhi.to_json())) == {
        "kind",
        "type",
        "timestamps",
        "dockerReference",
        "isDHI",
    }
    assert attestation_signature(verified, type=SignatureType.BUNDLE_V03, is_dhi=True).kind == (
        SignatureKind.UNTRUSTED
    )
    # every signer key Buildx knows, and only those
    full = _classified(
        p,
        SELF,
        {
            **_github(SELF),
            **{f".{n}": f"value-{n}" for n in (10, 13, 15, 16, 17, 18, 19, 20, 21, 22)},
        },
    )
    assert set(json.loads(full.to_json())["signer"]) == SIGNER_KEYS

"""artifact_attestation and github_attestation with bundles minted by a test Sigstore.

The GitHub API is played by a real HTTP server on 127.0.0.1 (``api_base`` points at it),
so the request line, headers and bundle downloads are the ones a real run would make.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import cramjam
import pytest

from buildsig.errors import HTTPStatusError, InvalidInputError, UnresolvedFieldError
from buildsig.http import HTTPClient
from buildsig.model import HTTP, SignatureKind
from buildsig.sigstore import TrustRoot, Verifier
from buildsig.sigstore.artifact import (
    MAX_BUNDLE_BYTES,
    MAX_CANDIDATES,
    artifact_attestation,
    github_attestation,
    verify_artifact_attestation,
    verify_github_attestation,
)
from buildsig.testing import TestSigstore
from tests.http import LocalServer, body

SLSA_V1 = "https://slsa.dev/provenance/v1"
SLSA_V02 = "https://slsa.dev/provenance/v0.2"
ARTIFACT = b"#!/bin/sh\necho the downloaded tool\n"
DIGEST = "sha256:" + hashlib.sha256(ARTIFACT).hexdigest()
OTHER_DIGEST = "sha256:" + hashlib.sha256(b"something else").hexdigest()

REPO_WORKFLOW = "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.2.3"
REPO_SIGNER = {
    ".9": REPO_WORKFLOW,
    ".11": "github-hosted",
    ".12": "https://github.com/acme/app",
    ".14": "refs/tags/v1.2.3",
}
BUILDER_WORKFLOW = (
    "https://github.com/docker/github-builder/.github/workflows/bake.yml@refs/tags/v1"
)
BUILDER_SIGNER = {
    ".9": BUILDER_WORKFLOW,
    ".11": "github-hosted",
    ".12": "https://github.com/acme/app",
}
API_QUERY = "?predicate_type=https%3A%2F%2Fslsa.dev%2Fprovenance%2Fv1"


@pytest.fixture(scope="module")
def sigstore() -> TestSigstore:
    return TestSigstore(seed=11)


@pytest.fixture(scope="module")
def verifier(sigstore: TestSigstore, tmp_path_factory: pytest.TempPathFactory) -> Verifier:
    path = tmp_path_factory.mktemp("trust") / "trusted_root.json"
    path.write_bytes(sigstore.trusted_root_json())
    return Verifier(TrustRoot.from_file(path), now=sigstore.now + timedelta(hours=1))


def http_input(checksum: str = DIGEST) -> HTTP:
    return HTTP(
        url="https://downloads.example/tool.sh",
        schema="https",
        host="downloads.example",
        path="/tool.sh",
        checksum=checksum,
    )


def provenance(
    sigstore: TestSigstore,
    *,
    digest: str = DIGEST,
    predicate_type: str = SLSA_V1,
    identity: str = REPO_WORKFLOW,
    extensions: dict[str, str] | None = None,
) -> bytes:
    """A DSSE bundle over an in-toto statement about ``digest``, signed keylessly."""
    statement = sigstore.statement(
        subject_digest=digest,
        predicate_type=predicate_type,
        predicate={"buildDefinition": {"buildType": "https://example/build"}},
        subject_name="tool.sh",
    )
    return sigstore.sign_dsse(
        statement, identity=identity, extensions=REPO_SIGNER if extensions is None else extensions
    )


# --- artifact_attestation ----------------------------------------------------------------


def test_slsa_v1_from_a_github_repository(sigstore: TestSigstore, verifier: Verifier) -> None:
    verdict = verify_artifact_attestation(http_input(), provenance(sigstore), verifier=verifier)
    assert verdict.verified, verdict.reason
    assert verdict.predicate_type == SLSA_V1
    sig = verdict.signature
    assert sig is not None
    assert sig.kind == SignatureKind.SELF_SIGNED_GITHUB_REPO
    assert sig.type == "bundle-v0.3"
    assert sig.signer is not None
    assert sig.signer.subject_alternative_name == REPO_WORKFLOW
    assert sig.signer.source_repository_uri == "https://github.com/acme/app"
    assert sig.signer.source_repository_ref == "refs/tags/v1.2.3"
    assert sig.signer.issuer == "https://token.actions.githubusercontent.com"
    assert [t.type for t in sig.timestamps] == ["Tlog"]
    assert sig.timestamps[0].timestamp == sigstore.now + timedelta(seconds=1)
    as_json = json.loads(sig.to_json())
    assert as_json["kind"] == "self-signed-github-repo"
    assert "isDHI" not in as_json


def test_slsa_v02_from_docker_github_builder(sigstore: TestSigstore, verifier: Verifier) -> None:
    bundle = provenance(
        sigstore, predicate_type=SLSA_V02, identity=BUILDER_WORKFLOW, extensions=BUILDER_SIGNER
    )
    sig = artifact_attestation(http_input(), bundle, verifier=verifier)
    assert sig is not None
    assert sig.kind == SignatureKind.DOCKER_GITHUB_BUILDER
    assert sig.signer is not None
    assert sig.signer.build_signer_uri == BUILDER_WORKFLOW


def test_any_identity_is_accepted_and_classified(
    sigstore: TestSigstore, verifier: Verifier
) -> None:
    statement = sigstore.statement(subject_digest=DIGEST, predicate_type=SLSA_V1, predicate={})
    bundle = sigstore.sign_dsse(
        statement,
        identity="dev@example.com",
        san_kind="email",
        issuer="https://accounts.example",
    )
    sig = artifact_attestation(http_input(), bundle, verifier=verifier)
    assert sig is not None
    assert sig.kind == SignatureKind.SELF_SIGNED
    assert sig.signer is not None
    assert sig.signer.subject_alternative_name == "dev@example.com"


def test_bundle_text_is_accepted(sigstore: TestSigstore, verifier: Verifier) -> None:
    bundle = provenance(sigstore).decode()
    assert artifact_attestation(http_input(), bundle, verifier=verifier) is not None


def test_wrong_digest(sigstore: TestSigstore, verifier: Verifier) -> None:
    bundle = provenance(sigstore, digest=OTHER_DIGEST)
    assert artifact_attestation(http_input(), bundle, verifier=verifier) is None
    verdict = verify_artifact_attestation(http_input(), bundle, verifier=verifier)
    assert f"no in-toto subject has digest {DIGEST}" in verdict.reason


def test_non_slsa_predicate(sigstore: TestSigstore, verifier: Verifier) -> None:
    bundle = provenance(sigstore, predicate_type="https://spdx.dev/Document")
    assert artifact_attestation(http_input(), bundle, verifier=verifier) is None
    verdict = verify_artifact_attestation(http_input(), bundle, verifier=verifier)
    assert verdict.reason == 'unexpected predicate type "https://spdx.dev/Document"'
    assert verdict.predicate_type == "https://spdx.dev/Document"


def test_message_signature_bundle(sigstore: TestSigstore, verifier: Verifier) -> None:
    bundle = sigstore.sign_artifact(ARTIFACT, identity=REPO_WORKFLOW, extensions=REPO_SIGNER)
    assert artifact_attestation(http_input(), bundle, verifier=verifier) is None
    verdict = verify_artifact_attestation(http_input(), bundle, verifier=verifier)
    assert "message signature" in verdict.reason


def test_key_signed_bundle(sigstore: TestSigstore, verifier: Verifier) -> None:
    keyed = sigstore.sign_with_key(ARTIFACT)
    assert artifact_attestation(http_input(), keyed.bundle, verifier=verifier) is None
    verdict = verify_artifact_attestation(http_input(), keyed.bundle, verifier=verifier)
    assert "certificate" in verdict.reason


def test_non_in_toto_payload(sigstore: TestSigstore, verifier: Verifier) -> None:
    bundle = sigstore.sign_dsse(b'{"not": "a statement"}', payload_type="text/plain")
    verdict = verify_artifact_attestation(http_input(), bundle, verifier=verifier)
    assert verdict.signature is None
    assert "not in-toto" in verdict.reason


def test_signed_by_an_untrusted_instance(verifier: Verifier) -> None:
    stranger = TestSigstore(seed=99)
    bundle = provenance(stranger)
    verdict = verify_artifact_attestation(http_input(), bundle, verifier=verifier)
    assert verdict.signature is None
    assert verdict.reason


def test_public_good_root_is_the_default(sigstore: TestSigstore) -> None:
    # Test-Sigstore bundles must not verify against the real public-good root.
    verdict = verify_artifact_attestation(http_input(), provenance(sigstore))
    assert verdict.signature is None
    assert verdict.reason


@pytest.mark.parametrize("data", [b"", b"not json", b"{}", b"[]", b'{"mediaType": 1}'])
def test_garbage_bundles(verifier: Verifier, data: bytes) -> None:
    verdict = verify_artifact_attestation(http_input(), data, verifier=verifier)
    assert verdict.signature is None
    assert verdict.reason


def test_oversized_bundle(sigstore: TestSigstore, verifier: Verifier) -> None:
    # A valid bundle padded past 8 MiB with JSON whitespace: refused for its size alone.
    bundle = provenance(sigstore)
    padded = bundle + b" " * (MAX_BUNDLE_BYTES - len(bundle) + 1)
    assert artifact_attestation(http_input(), padded, verifier=verifier) is None
    verdict = verify_artifact_attestation(http_input(), padded, verifier=verifier)
    assert f"larger than {MAX_BUNDLE_BYTES} bytes" in verdict.reason
    at_cap = bundle + b" " * (MAX_BUNDLE_BYTES - len(bundle))
    assert artifact_attestation(http_input(), at_cap, verifier=verifier) is not None


def test_unresolved_checksum(sigstore: TestSigstore, verifier: Verifier) -> None:
    with pytest.raises(UnresolvedFieldError) as caught:
        artifact_attestation(http_input(checksum=""), provenance(sigstore), verifier=verifier)
    assert isinstance(caught.value, InvalidInputError)
    assert caught.value.unknown == "http.checksum"
    assert "http.checksum is unresolved" in str(caught.value)


@pytest.mark.parametrize("checksum", ["sha256:abc", "md5:" + "0" * 32, "sha256:" + "G" * 64])
def test_malformed_checksum(sigstore: TestSigstore, verifier: Verifier, checksum: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        artifact_attestation(http_input(checksum), provenance(sigstore), verifier=verifier)
    assert not isinstance(caught.value, UnresolvedFieldError)


def test_sha512_checksum_cannot_verify(sigstore: TestSigstore, verifier: Verifier) -> None:
    checksum = "sha512:" + hashlib.sha512(ARTIFACT).hexdigest()
    verdict = verify_artifact_attestation(
        http_input(checksum), provenance(sigstore), verifier=verifier
    )
    assert verdict.signature is None
    assert "sha512" in verdict.reason


# --- github_attestation -------------------------------------------------------------------


@pytest.fixture
def api() -> Iterator[LocalServer]:
    with LocalServer() as server:
        yield server


@pytest.fixture
def client() -> Iterator[HTTPClient]:
    with HTTPClient(retries=0, trust_env=False) as c:
        yield c


API_PATH = f"/repos/acme/app/attestations/{DIGEST}"


def serve(api: LocalServer, entries: Any, *, raw: bytes | None = None) -> None:
    """Answer the attestation API for acme/app and DIGEST with ``entries``."""
    data = raw if raw is not None else json.dumps({"attestations": entries}).encode()
    api.routes[API_PATH] = body(data, headers={"Content-Type": "application/json"})


def lookup(api: LocalServer, client: HTTPClient, verifier: Verifier, **kwargs: Any) -> Any:
    return verify_github_attestation(
        http_input(), "acme/app", client=client, api_base=api.base_url, verifier=verifier, **kwargs
    )


def test_github_inline_bundle(
    sigstore: TestSigstore, verifier: Verifier, api: LocalServer, client: HTTPClient
) -> None:
    serve(api, [{"bundle": json.loads(provenance(sigstore)), "bundle_url": None}])
    sig = github_attestation(
        http_input(), "acme/app", client=client, api_base=api.base_url, verifier=verifier
    )
    assert sig is not None
    assert sig.kind == SignatureKind.SELF_SIGNED_GITHUB_REPO
    (request,) = api.requests
    assert request.target == API_PATH + API_QUERY
    assert request.headers["accept"] == "application/vnd.github+json"
    assert "authorization" not in request.headers


def test_github_request_is_exactly_as_buildx_makes_it(
    verifier: Verifier, api: LocalServer, client: HTTPClient
) -> None:
    serve(api, [])
    result = lookup(api, client, verifier)
    assert result.signature is None
    assert [r.target for r in api.requests] == [
        f"/repos/acme/app/attestations/{DIGEST}"
        "?predicate_type=https%3A%2F%2Fslsa.dev%2Fprovenance%2Fv1"
    ]
    assert result.url == api.url(API_PATH + API_QUERY)


def test_github_bundle_url(
    sigstore: TestSigstore, verifier: Verifier, api: LocalServer, client: HTTPClient
) -> None:
    api.routes["/blobs/att.json"] = body(provenance(sigstore))
    serve(api, [{"bundle": None, "bundle_url": api.url("/blobs/att.json")}])
    result = lookup(api, client, verifier)
    assert result.signature is not None
    assert result.signature.kind == SignatureKind.SELF_SIGNED_GITHUB_REPO
    (verdict,) = result.verdicts
    assert verdict.source.startswith("attestations[0].bundle_url (")
    assert len(api.hits("/blobs/att.json")) == 1


def test_github_snappy_bundle_url(
    sigstore: TestSigstore, verifier: Verifier, api: LocalServer, client: HTTPClient
) -> None:
    compressed = bytes(cramjam.snappy.compress_raw(provenance(sigstore)))
    api.routes["/blobs/att.json.sn"] = body(compressed)
    # the suffix is judged on the URL path: a presigned query does not hide it
    serve(api, [{"bundle_url": api.url("/blobs/att.json.sn?sig=abc&se=1")}])
    result = lookup(api, client, verifier)
    assert result.signature is not None, result.failures
    assert "sig=xxxxx" in result.verdicts[0].source  # presigned credentials never shown


def test_github_snappy_is_only_for_json_sn(
    sigstore: TestSigstore, verifier: Verifier, api: LocalServer, client: HTTPClient
) -> None:
    compressed = bytes(cramjam.snappy.compress_raw(provenance(sigstore)))
    api.routes["/blobs/att.json"] = body(compressed)
    serve(api, [{"bundle_url": api.url("/blobs/att.json")}])
    result = lookup(api, client, verifier)
    assert result.signature is None
    assert len(result.failures) == 1


def test_github_snappy_bomb_is_refused(
    verifier: Verifier, api: LocalServer, client: HTTPClient
) -> None:
    bomb = bytes(cramjam.snappy.compress_raw(b" " * (MAX_BUNDLE_BYTES + 1)))
    assert len(bomb) < MAX_BUNDLE_BYTES // 10  # small on the wire, over the cap inflated
    api.routes["/bomb.json.sn"] = body(bomb)
    api.routes["/corrupt.json.sn"] = body(b"\xff\xff\xff\xff\xff\xff")
    serve(
        api, [{"bundle_url": api.url("/bomb.json.sn")}, {"bundle_url": api.url("/corrupt.json.sn")}]
    )
    result = lookup(api, client, verifier)
    assert result.signature is None
    reasons = [v.reason for v in result.verdicts]
    assert "would decompress to" in reasons[0]
    assert "corrupt" in reasons[1]


def test_github_invalid_json(verifier: Verifier, api: LocalServer, client: HTTPClient) -> None:
    serve(api, None, raw=b"<html>rate limit page</html>")
    result = lookup(api, client, verifier)
    assert result.signature is None
    assert result.verdicts == ()
    assert "not valid JSON" in result.reason


@pytest.mark.parametrize("doc", [[], {"attestations": {}}, {"other": []}, "text"])
def test_github_unexpected_shapes(
    verifier: Verifier, api: LocalServer, client: HTTPClient, doc: Any
) -> None:
    serve(api, None, raw=json.dumps(doc).encode())
    result = lookup(api, client, verifier)
    assert (result.signature, result.verdicts) == (None, ())
    assert result.reason


def test_github_empty_and_null_entries_are_skipped(
    verifier: Verifier, api: LocalServer, client: HTTPClient
) -> None:
    serve(
        api,
        [
            {"bundle": None, "bundle_url": None},
            {"bundle": "", "bundle_url": ""},
            {"bundle": "   ", "bundle_url": "  \n"},
            {},
            None,
            7,
        ],
    )
    result = lookup(api, client, verifier)
    assert (result.signature, result.verdicts) == (None, ())
    assert result.reason == "the API answer lists no bundles"
    assert len(api.requests) == 1  # nothing fetched


def test_github_inline_bundles_before_urls(
    sigstore: TestSigstore, verifier: Verifier, api: LocalServer, client: HTTPClient
) -> None:
    api.routes["/blobs/good.json"] = body(provenance(sigstore))
    wrong = json.loads(provenance(sigstore, digest=OTHER_DIGEST))
    right = json.loads(provenance(sigstore, predicate_type=SLSA_V02))
    serve(
        api,
        [
            {"bundle_url": api.url("/blobs/good.json"), "bundle": wrong},
            {"bundle": right},
        ],
    )
    result = lookup(api, client, verifier)
    assert result.signature is not None
    assert [v.source for v in result.verdicts] == [
        "attestations[0].bundle",
        "attestations[1].bundle",
    ]
    assert [v.verified for v in result.verdicts] == [False, True]
    assert result.verdicts[1].predicate_type == SLSA_V02
    assert api.hits("/blobs/good.json") == []  # the first success ends the search


def test_github_all_candidates_fail(
    sigstore: TestSigstore, verifier: Verifier, api: LocalServer, client: HTTPClient
) -> None:
    api.routes["/blobs/wrong-digest.json"] = body(provenance(sigstore, digest=OTHER_DIGEST))
    api.routes["/blobs/message.json"] = body(sigstore.sign_artifact(ARTIFACT))
    serve(
        api,
        [
            {"bundle": json.loads(provenance(sigstore, predicate_type="https://example/sbom"))},
            {"bundle_url": api.url("/blobs/missing.json")},
            {"bundle_url": api.url("/blobs/wrong-digest.json")},
            {"bundle_url": api.url("/blobs/message.json")},
            {"bundle_url": "ftp://elsewhere/x.json"},
        ],
    )
    assert (
        github_attestation(
            http_input(), "acme/app", client=client, api_base=api.base_url, verifier=verifier
        )
        is None
    )
    result = lookup(api, client, verifier)
    assert result.signature is None
    reasons = [v.reason for v in result.failures]
    assert len(reasons) == 5
    assert reasons[0] == 'unexpected predicate type "https://example/sbom"'
    assert "not found" in reasons[1]
    assert "no in-toto subject" in reasons[2]
    assert "message signature" in reasons[3]
    assert "not an http(s) URL" in reasons[4]


def test_github_candidates_are_bounded(
    verifier: Verifier, api: LocalServer, client: HTTPClient
) -> None:
    serve(api, [{"bundle": {"mediaType": "junk"}} for _ in range(MAX_CANDIDATES + 8)])
    result = lookup(api, client, verifier)
    assert len(result.verdicts) == MAX_CANDIDATES
    assert f"only the first {MAX_CANDIDATES} of {MAX_CANDIDATES + 8}" in result.reason


def test_github_token_goes_to_the_api_only(
    sigstore: TestSigstore, verifier: Verifier, api: LocalServer, client: HTTPClient
) -> None:
    api.routes["/blobs/att.json"] = body(provenance(sigstore))
    serve(api, [{"bundle_url": api.url("/blobs/att.json")}])
    result = lookup(api, client, verifier, token="ghp_secret")
    assert result.signature is not None
    assert api.hits(API_PATH)[0].headers["authorization"] == "Bearer ghp_secret"
    assert "authorization" not in api.hits("/blobs/att.json")[0].headers


def test_github_no_attestations(verifier: Verifier, api: LocalServer, client: HTTPClient) -> None:
    result = lookup(api, client, verifier)  # no route: the server answers 404
    assert (result.signature, result.verdicts) == (None, ())
    assert "no attestations" in result.reason


def test_github_api_errors_raise(verifier: Verifier, api: LocalServer, client: HTTPClient) -> None:
    api.routes[API_PATH] = body(b'{"message": "API rate limit exceeded"}', 403)
    with pytest.raises(HTTPStatusError) as caught:
        lookup(api, client, verifier, token="ghp_secret")
    assert caught.value.status == 403
    assert "ghp_secret" not in caught.value.diagnostics()


@pytest.mark.parametrize(
    "repo", ["acme", "acme/app/more", "../app", "acme/..", "-acme/app", "acme/", "/app", "a b/c"]
)
def test_github_invalid_repository(
    verifier: Verifier, api: LocalServer, client: HTTPClient, repo: str
) -> None:
    with pytest.raises(InvalidInputError):
        github_attestation(
            http_input(), repo, client=client, api_base=api.base_url, verifier=verifier
        )
    assert api.requests == []


def test_github_unresolved_checksum(
    verifier: Verifier, api: LocalServer, client: HTTPClient
) -> None:
    with pytest.raises(UnresolvedFieldError):
        github_attestation(
            http_input(checksum=""), "acme/app", client=client, api_base=api.base_url
        )
    assert api.requests == []


def test_github_without_a_client(
    sigstore: TestSigstore, verifier: Verifier, api: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    serve(api, [{"bundle": json.loads(provenance(sigstore))}])
    sig = github_attestation(
        http_input(), "acme/app", api_base=api.base_url + "/", verifier=verifier
    )
    assert sig is not None
    assert api.requests[0].target == API_PATH + API_QUERY  # trailing slash of the base dropped

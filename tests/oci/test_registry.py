"""RegistryClient against a real distribution 2.8 registry and against servers that misbehave.

skopeo is the oracle for digests and raw bytes; every failure mode must surface as the
right BuildsigError subclass, quickly, and without secrets in its message.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from buildsig.errors import (
    BuildsigError,
    DigestMismatchError,
    InvalidInputError,
    InvalidReferenceError,
    NetworkError,
    NetworkTimeoutError,
    NotFoundError,
    PolicyConfigError,
    RateLimitedError,
    RegistryError,
)
from buildsig.oci.auth import Credentials, CredentialStore
from buildsig.oci.cache import ContentCache
from buildsig.oci.registry import RegistryClient, RequestStats, referrers_tag
from buildsig.oci.store import (
    MEDIA_TYPE_DOCKER_LIST,
    MEDIA_TYPE_OCI_INDEX,
    MEDIA_TYPE_OCI_MANIFEST,
    ImageStore,
    Repository,
)
from tests.oci.conftest import Pushed
from tests.oci.registryd import (
    ATTESTATION_ARTIFACT,
    GOOD_BLOB,
    GOOD_MANIFEST,
    SIGSTORE_BUNDLE,
    TAMPERED_BLOB,
    TAMPERED_MANIFEST,
    BadRegistry,
    HungServer,
    PushedImage,
    RunningRegistry,
    TokenService,
    free_port,
    sha256,
    skopeo,
)

MakeClient = Callable[..., RegistryClient]


def image(pushed: Pushed, name: str) -> PushedImage:
    return {"single": pushed.single, "multi": pushed.multi, "dockerlist": pushed.docker_list}[name]


# --- reading from a real registry, checked against skopeo --------------------------------


@pytest.mark.parametrize(
    ("name", "media_type"),
    [
        ("single", MEDIA_TYPE_OCI_MANIFEST),
        ("multi", MEDIA_TYPE_OCI_INDEX),
        ("dockerlist", MEDIA_TYPE_DOCKER_LIST),
    ],
)
def test_manifest_by_tag_agrees_with_skopeo(
    anon_registry: RunningRegistry,
    pushed: Pushed,
    make_client: MakeClient,
    name: str,
    media_type: str,
) -> None:
    img = image(pushed, name)
    client = make_client()
    manifest = client.get_manifest(img.repo, "v1")
    raw = skopeo(anon_registry, f"{img.repo.path}:v1", "--raw")
    info = json.loads(skopeo(anon_registry, f"{img.repo.path}:v1", "--override-arch", "amd64"))
    assert manifest.raw == raw == img.raw
    assert manifest.digest == info["Digest"] == img.digest == sha256(raw)
    assert manifest.media_type == media_type
    assert client.stats.snapshot() == {"manifest": 1, "total": 1}


def test_platform_manifests_and_configs_agree_with_skopeo(
    anon_registry: RunningRegistry, pushed: Pushed, make_client: MakeClient
) -> None:
    client = make_client()
    index = json.loads(client.get_manifest(pushed.multi.repo, "v1").raw)
    assert [m["platform"]["architecture"] for m in index["manifests"]] == ["amd64", "arm64", "arm"]
    for entry in index["manifests"]:
        child = client.get_manifest(pushed.multi.repo, entry["digest"])
        assert child.raw == skopeo(anon_registry, f"app/multi@{entry['digest']}", "--raw")
        config_desc = json.loads(child.raw)["config"]
        config = client.get_blob(pushed.multi.repo, config_desc["digest"], max_bytes=1 << 20)
        oracle = skopeo(anon_registry, f"app/multi@{entry['digest']}", "--config", "--raw")
        assert config == oracle
        parsed = json.loads(config)
        assert parsed["architecture"] == entry["platform"]["architecture"]
        assert parsed["config"]["WorkingDir"] == "/srv/app"


def test_single_image_config_fields(
    anon_registry: RunningRegistry, pushed: Pushed, make_client: MakeClient
) -> None:
    client = make_client()
    manifest = json.loads(client.get_manifest(pushed.single.repo, "v1").raw)
    config = json.loads(
        client.get_blob(pushed.single.repo, manifest["config"]["digest"], max_bytes=1 << 20)
    )
    inspected = json.loads(skopeo(anon_registry, "app/single:v1"))
    assert config["config"]["Labels"] == inspected["Labels"]
    assert config["config"]["Env"] == inspected["Env"]
    assert config["config"]["User"] == "65532:65532"
    assert set(config["config"]["Volumes"]) == {"/data", "/var/cache/app"}
    assert config["created"].startswith("2024-05-06T07:08:09")


def test_manifest_by_digest_and_head(pushed: Pushed, make_client: MakeClient) -> None:
    client = make_client()
    by_digest = client.get_manifest(pushed.multi.repo, pushed.multi.digest)
    assert by_digest.raw == pushed.multi.raw
    head = client.head_manifest(pushed.multi.repo, "v1")
    assert (head.digest, head.size, head.media_type) == (
        pushed.multi.digest,
        len(pushed.multi.raw),
        MEDIA_TYPE_OCI_INDEX,
    )
    assert client.stats.count("manifest_head") == 1
    assert client.stats.total == 2


def test_client_is_an_image_store(make_client: MakeClient) -> None:
    store: ImageStore = make_client()
    assert callable(store.referrers)


def test_not_found_names_the_reference(
    anon_registry: RunningRegistry, pushed: Pushed, make_client: MakeClient
) -> None:
    client = make_client()
    with pytest.raises(NotFoundError, match=r"app/single:nope") as err:
        client.get_manifest(pushed.single.repo, "nope")
    assert "MANIFEST_UNKNOWN" in str(err.value)
    with pytest.raises(NotFoundError, match="no/such/repo:v1"):
        client.get_manifest(anon_registry.repo("no/such/repo"), "v1")
    with pytest.raises(NotFoundError, match="BLOB_UNKNOWN"):
        client.get_blob(pushed.single.repo, sha256(b"nothing"), max_bytes=100)
    with pytest.raises(NotFoundError):
        client.head_manifest(pushed.single.repo, "nope")
    # a 4xx other than 429 is never retried
    assert client.stats.total == 4


def test_blob_size_cap(pushed: Pushed, make_client: MakeClient) -> None:
    client = make_client()
    digest, blob = next(iter(pushed.single.blobs.items()))
    assert client.get_blob(pushed.single.repo, digest, max_bytes=len(blob)) == blob
    with pytest.raises(InvalidInputError, match="is larger than"):
        client.get_blob(pushed.single.repo, digest, max_bytes=len(blob) - 1)


@pytest.mark.parametrize(
    "reference",
    [
        "md5:d41d8cd98f00b204e9800998ecf8427e",
        "sha256:xyz",
        "sha256:" + "A" * 64,
        "sha1:da39a3ee5e6b4b0d3255bfef95601890afd80709",
    ],
)
def test_unsupported_digests_are_refused_before_any_request(
    pushed: Pushed, make_client: MakeClient, reference: str
) -> None:
    client = make_client()
    with pytest.raises(InvalidInputError):
        client.get_manifest(pushed.single.repo, reference)
    with pytest.raises(InvalidInputError):
        client.get_blob(pushed.single.repo, reference, max_bytes=10)
    with pytest.raises(InvalidInputError):
        client.referrers(pushed.single.repo, reference)
    assert client.stats.total == 0


@pytest.mark.parametrize(
    ("repo", "reference"),
    [
        (Repository("127.0.0.1:5000", "UPPER/case"), "v1"),
        (Repository("127.0.0.1:5000", "../../etc"), "v1"),
        (Repository("127.0.0.1:5000/x", "a"), "v1"),
        (Repository("127.0.0.1:5000", "ok"), "bad tag"),
        (Repository("127.0.0.1:5000", "ok"), "x" * 200),
        (Repository("user@host", "ok"), "v1"),
    ],
)
def test_malformed_names_are_refused(
    make_client: MakeClient, repo: Repository, reference: str
) -> None:
    client = make_client()
    with pytest.raises(InvalidReferenceError):
        client.get_manifest(repo, reference)
    assert client.stats.total == 0


# --- referrers ---------------------------------------------------------------------------


def test_referrers_fall_back_to_the_tag(pushed: Pushed, make_client: MakeClient) -> None:
    client = make_client()
    found = client.referrers(pushed.single.repo, pushed.single.digest)
    assert {d.digest for d in found} == {
        pushed.bundle_referrer.digest,
        pushed.attestation_referrer.digest,
    }
    assert {d.artifact_type for d in found} == {SIGSTORE_BUNDLE, ATTESTATION_ARTIFACT}
    attestation = next(d for d in found if d.artifact_type == ATTESTATION_ARTIFACT)
    assert attestation.annotations == {"vnd.docker.reference.type": "attestation-manifest"}
    # distribution 2.8 answered the API with a plain-text 404 once; it is not asked again
    assert client.stats.count("referrers") == 1
    only = client.referrers(pushed.single.repo, pushed.single.digest, artifact_type=SIGSTORE_BUNDLE)
    assert [d.digest for d in only] == [pushed.bundle_referrer.digest]
    assert client.stats.count("referrers") == 1
    # each referrer is a real manifest whose subject is the image
    for desc in found:
        manifest = json.loads(client.get_manifest(pushed.single.repo, desc.digest).raw)
        assert manifest["subject"]["digest"] == pushed.single.digest


def test_no_referrers_is_an_empty_list(pushed: Pushed, make_client: MakeClient) -> None:
    client = make_client()
    assert client.referrers(pushed.multi.repo, pushed.multi.digest) == []
    assert client.referrers(pushed.multi.repo, pushed.multi.digest, artifact_type="x/y") == []


def test_referrers_tag_names() -> None:
    assert referrers_tag("sha256:" + "ab" * 32) == "sha256-" + "ab" * 32
    assert referrers_tag("sha512:" + "cd" * 64) == "sha512-" + "cd" * 32  # hex cut to 64


def test_referrers_api_when_the_server_has_it(
    bad_server: BadRegistry, make_client: MakeClient
) -> None:
    client = make_client()
    subject = sha256(b"subject")
    both = client.referrers(bad_server.repo("referrers-api"), subject)
    assert [d.artifact_type for d in both] == [SIGSTORE_BUNDLE, ATTESTATION_ARTIFACT]
    filtered = client.referrers(
        bad_server.repo("referrers-api"), subject, artifact_type=SIGSTORE_BUNDLE
    )
    assert [d.artifact_type for d in filtered] == [SIGSTORE_BUNDLE]
    assert "artifactType=" in bad_server.seen[-1].path
    # a server that ignores the filter: the client filters
    unfiltered = client.referrers(
        bad_server.repo("referrers-nofilter"), subject, artifact_type=ATTESTATION_ARTIFACT
    )
    assert [d.artifact_type for d in unfiltered] == [ATTESTATION_ARTIFACT]
    # pages are followed through the Link header
    paged = client.referrers(bad_server.repo("referrers-paged"), subject)
    assert [d.artifact_type for d in paged] == [SIGSTORE_BUNDLE, ATTESTATION_ARTIFACT]
    assert client.stats.count("manifest") == 0  # no fallback tag was needed


def test_malformed_referrers_responses(bad_server: BadRegistry, make_client: MakeClient) -> None:
    client = make_client()
    with pytest.raises(InvalidInputError, match="not valid JSON"):
        client.referrers(bad_server.repo("malformed"), sha256(b"s"))
    with pytest.raises(InvalidInputError, match="not a valid descriptor"):
        client.referrers(bad_server.repo("referrers-bad-entry"), sha256(b"s"))


# --- the content cache -------------------------------------------------------------------


def resolve_pinned(client: RegistryClient, pushed: Pushed) -> bytes:
    """What image resolution does for a digest-pinned multi-platform reference."""
    index = json.loads(client.get_manifest(pushed.multi.repo, pushed.multi.digest).raw)
    child = next(m for m in index["manifests"] if m["platform"]["architecture"] == "arm64")
    manifest = json.loads(client.get_manifest(pushed.multi.repo, child["digest"]).raw)
    return client.get_blob(pushed.multi.repo, manifest["config"]["digest"], max_bytes=1 << 20)


def test_pinned_resolution_is_free_when_cached(pushed: Pushed, make_client: MakeClient) -> None:
    client = make_client(cache=ContentCache())
    first = resolve_pinned(client, pushed)
    assert client.stats.total == 3
    client.stats.reset()
    assert resolve_pinned(client, pushed) == first
    assert client.stats.total == 0
    assert (
        client.head_manifest(pushed.multi.repo, pushed.multi.digest).digest == pushed.multi.digest
    )
    assert client.stats.total == 0


def test_tags_cost_one_get_with_a_cache(pushed: Pushed, make_client: MakeClient) -> None:
    # A HEAD before the GET would cost a round trip on every cold resolution to save a
    # few hundred bytes on warm ones: a tag is one GET, and the result is cached by digest.
    client = make_client(cache=ContentCache())
    assert client.get_manifest(pushed.multi.repo, "v1").raw == pushed.multi.raw
    assert client.stats.snapshot() == {"manifest": 1, "total": 1}
    client.stats.reset()
    assert client.get_manifest(pushed.multi.repo, "v1").raw == pushed.multi.raw
    assert client.stats.snapshot() == {"manifest": 1, "total": 1}
    client.stats.reset()
    assert client.get_manifest(pushed.multi.repo, pushed.multi.digest).raw == pushed.multi.raw
    assert client.stats.total == 0


def test_tag_ttl_skips_the_head(pushed: Pushed, make_client: MakeClient) -> None:
    client = make_client(cache=ContentCache(tag_ttl=60))
    client.get_manifest(pushed.multi.repo, "v1")
    client.stats.reset()
    assert client.get_manifest(pushed.multi.repo, "v1").digest == pushed.multi.digest
    assert client.head_manifest(pushed.multi.repo, "v1").digest == pushed.multi.digest
    assert client.stats.total == 0


def test_disk_cache_is_shared_and_reverified(
    pushed: Pushed, make_client: MakeClient, tmp_path: Path
) -> None:
    first = make_client(cache=ContentCache(directory=tmp_path))
    config = resolve_pinned(first, pushed)
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert len(files) == 3 and all(f.startswith("sha256/") for f in files)
    second = make_client(cache=ContentCache(directory=tmp_path))
    assert resolve_pinned(second, pushed) == config
    assert second.stats.total == 0
    # a tampered cache file is dropped and fetched again, never served
    config_digest = sha256(config)
    (tmp_path / "sha256" / config_digest.split(":")[1]).write_bytes(b"tampered")
    third = make_client(cache=ContentCache(directory=tmp_path))
    assert resolve_pinned(third, pushed) == config
    assert third.stats.snapshot() == {"blob": 1, "total": 1}
    assert (tmp_path / "sha256" / config_digest.split(":")[1]).read_bytes() == config


def test_content_cache_bounds_and_checks(tmp_path: Path) -> None:
    cache = ContentCache(max_memory_bytes=1000)
    blobs = [bytes([i]) * 200 for i in range(8)]
    for blob in blobs:
        cache.put(sha256(blob), blob)
    assert cache.memory_bytes <= 1000
    assert cache.get(sha256(blobs[0])) is None  # least recently used went first
    assert cache.get(sha256(blobs[-1])) == blobs[-1]
    big = b"x" * 600  # more than a quarter of the budget: not kept in memory
    cache.put(sha256(big), big)
    assert cache.get(sha256(big)) is None
    with pytest.raises(DigestMismatchError):
        cache.put(sha256(b"a"), b"b")
    with pytest.raises(InvalidInputError):
        cache.get("md5:" + "0" * 32)
    disk = ContentCache(max_memory_bytes=0, directory=tmp_path)
    disk.put(sha256(big), big)
    assert disk.get(sha256(big)) == big
    assert sha256(big) in disk
    assert not list(tmp_path.rglob(".tmp-*"))


# --- concurrency -------------------------------------------------------------------------


def test_concurrent_fetches_share_one_client(
    pushed: Pushed, make_client: MakeClient, capsys: pytest.CaptureFixture[str]
) -> None:
    client = make_client(max_workers=8)
    jobs = []
    for img in (pushed.single, pushed.multi, pushed.docker_list):
        jobs += [("blob", img.repo, d, b) for d, b in img.blobs.items()]
        jobs += [("manifest", img.repo, d, raw) for d, raw in img.manifests.items()]
    jobs = jobs * 20

    def fetch(job: tuple[str, Repository, str, bytes]) -> bool:
        kind, repo, digest, expected = job
        if kind == "blob":
            return client.get_blob(repo, digest, max_bytes=1 << 20) == expected
        return client.get_manifest(repo, digest).raw == expected

    fetch(jobs[0])  # warm one connection so the timing is about throughput
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(fetch, jobs))
    elapsed = time.perf_counter() - start
    assert all(results)
    assert client.stats.total == len(jobs) + 1
    with capsys.disabled():
        print(f"\n[registry] {len(jobs)} verified fetches, 8 threads: {len(jobs) / elapsed:.0f}/s")


def test_concurrent_cold_start_fetches_one_token(
    token_registry: RunningRegistry,
    token_image: PushedImage,
    tokens: TokenService,
    make_client: MakeClient,
) -> None:
    client = make_client(max_workers=16)
    barrier = threading.Barrier(16)

    def fetch(_: int) -> str:
        barrier.wait()
        return client.get_manifest(token_image.repo, "v1").digest

    with ThreadPoolExecutor(max_workers=16) as pool:
        digests = set(pool.map(fetch, range(16)))
    assert digests == {token_image.digest}
    assert tokens.count() == 1
    assert client.stats.count("token") == 1


# --- servers that misbehave --------------------------------------------------------------


def test_tampered_content_is_rejected(bad_server: BadRegistry, make_client: MakeClient) -> None:
    client = make_client(retries=0)
    repo = bad_server.repo("tampered")
    with pytest.raises(DigestMismatchError) as by_tag:
        client.get_manifest(repo, "v1")
    assert by_tag.value.expected == sha256(GOOD_MANIFEST)
    with pytest.raises(DigestMismatchError):
        client.get_manifest(repo, sha256(GOOD_MANIFEST))
    with pytest.raises(DigestMismatchError) as blob:
        client.get_blob(repo, sha256(GOOD_BLOB), max_bytes=1 << 20)
    assert blob.value.actual == sha256(TAMPERED_BLOB)
    # a HEAD that names another digest is never consulted: the bytes fetched by tag are
    # what the cache keeps, under their own digest, never under the claimed one
    cached = make_client(cache=ContentCache(), retries=0)
    got = cached.get_manifest(bad_server.repo("liar-head"), "v1")
    assert got.digest == sha256(TAMPERED_MANIFEST)
    assert sha256(GOOD_MANIFEST) not in cached.cache  # type: ignore[operator]


def test_missing_content_digest_header(bad_server: BadRegistry, make_client: MakeClient) -> None:
    client = make_client()
    manifest = client.get_manifest(bad_server.repo("nodigest"), "v1")
    assert manifest.digest == sha256(GOOD_MANIFEST)
    assert manifest.media_type == MEDIA_TYPE_OCI_MANIFEST
    head = client.head_manifest(bad_server.repo("nodigest"), "v1")  # HEAD says nothing: GET
    assert head.digest == sha256(GOOD_MANIFEST)
    assert client.stats.snapshot() == {"manifest": 2, "manifest_head": 1, "total": 3}


def test_oversized_bodies_stop_early(bad_server: BadRegistry, make_client: MakeClient) -> None:
    client = make_client(retries=0)
    start = time.monotonic()
    with pytest.raises(InvalidInputError, match=r"is larger than 4194304 bytes \(\d+ announced\)"):
        client.get_manifest(bad_server.repo("big"), "v1")
    with pytest.raises(InvalidInputError, match="is larger than 4194304 bytes"):
        client.get_manifest(bad_server.repo("big"), "chunked")
    with pytest.raises(InvalidInputError, match="is larger than 1048576 bytes"):
        client.get_blob(bad_server.repo("big"), sha256(b"big"), max_bytes=1 << 20)
    assert time.monotonic() - start < 5
    deadline = time.monotonic() + 5
    while bad_server.streamed() < 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert 0 <= bad_server.streamed() < 64 * 1024 * 1024  # the endless body was abandoned


def test_malformed_json(bad_server: BadRegistry, make_client: MakeClient) -> None:
    client = make_client()
    with pytest.raises(InvalidInputError, match="is not valid JSON"):
        client.get_manifest(bad_server.repo("malformed"), "v1")
    with pytest.raises(RegistryError, match="malformed JSON error body") as err:
        client.get_manifest(bad_server.repo("badjsonerror"), "v1")
    assert err.value.status == 400


def test_html_error_pages_become_short_messages(
    bad_server: BadRegistry, make_client: MakeClient
) -> None:
    client = make_client(retries=2)
    start = time.monotonic()
    with pytest.raises(RegistryError) as err:
        client.get_manifest(bad_server.repo("html500"), "v1")
    assert time.monotonic() - start < 3
    assert err.value.status == 500
    assert "HTML error page: 500 Internal Server Error" in err.value.message
    assert "<" not in err.value.message and len(err.value.message) < 200
    assert bad_server.count("/v2/html500/") == 3  # 5xx is retried, twice here
    with pytest.raises(NotFoundError, match="HTML error page: 404 Not Found"):
        client.get_manifest(bad_server.repo("html404"), "v1")


def test_registry_error_codes(bad_server: BadRegistry, make_client: MakeClient) -> None:
    client = make_client()
    with pytest.raises(NotFoundError, match=r"unknown/manifests|unknown:v1"):
        client.get_manifest(bad_server.repo("unknown"), "v1")
    with pytest.raises(RegistryError, match="access denied") as denied:
        client.get_manifest(bad_server.repo("denied"), "v1")
    assert denied.value.status == 403
    assert "DENIED: requested access to the resource is denied" in denied.value.message
    assert bad_server.count("/v2/denied/") == 1


def test_429_storm_is_ridden_out(bad_server: BadRegistry, make_client: MakeClient) -> None:
    client = make_client(retries=3)
    start = time.monotonic()
    manifest = client.get_manifest(bad_server.repo("storm"), "v1")
    elapsed = time.monotonic() - start
    assert manifest.raw == GOOD_MANIFEST
    assert 2.0 <= elapsed < 4.0  # Retry-After: 1, twice
    assert client.stats.count("manifest") == 3


def test_429_without_retries_reports_retry_after(
    bad_server: BadRegistry, make_client: MakeClient
) -> None:
    client = make_client(retries=0)
    with pytest.raises(RateLimitedError) as err:
        client.get_manifest(bad_server.repo("storm"), "v1")
    assert err.value.retry_after == 1.0
    assert err.value.status == 429


@pytest.mark.parametrize("case", ["slowdown", "slowdate"])
def test_long_retry_after_fails_at_once(
    bad_server: BadRegistry, make_client: MakeClient, case: str
) -> None:
    client = make_client(retries=5)
    start = time.monotonic()
    with pytest.raises(RateLimitedError) as err:
        client.get_manifest(bad_server.repo(case), "v1")
    assert time.monotonic() - start < 1
    assert err.value.retry_after is not None and 3500 < err.value.retry_after <= 3600
    assert bad_server.count(f"/v2/{case}/") == 1
    assert pickle.loads(pickle.dumps(err.value)).retry_after == err.value.retry_after


def test_5xx_backoff_then_success(bad_server: BadRegistry, make_client: MakeClient) -> None:
    client = make_client(retries=3)
    start = time.monotonic()
    assert client.get_manifest(bad_server.repo("flaky503"), "v1").raw == GOOD_MANIFEST
    assert time.monotonic() - start < 2  # 0.125-0.25 s, then 0.25-0.5 s
    assert bad_server.count("/v2/flaky503/") == 3


def test_broken_transfer_is_retried(bad_server: BadRegistry, make_client: MakeClient) -> None:
    client = make_client(retries=1)
    assert client.get_manifest(bad_server.repo("broken-body"), "v1").raw == GOOD_MANIFEST
    assert client.stats.count("manifest") == 2


def test_hung_server_times_out(hung: HungServer, make_client: MakeClient) -> None:
    client = make_client(timeout=0.5, retries=1)
    start = time.monotonic()
    with pytest.raises(NetworkTimeoutError, match=r"no answer from 127\.0\.0\.1:\d+ within 0\.5 s"):
        client.get_manifest(Repository(f"127.0.0.1:{hung.port}", "any"), "v1")
    elapsed = time.monotonic() - start
    assert 1.0 <= elapsed < 3.0
    assert client.stats.total == 2


def test_connection_refused(make_client: MakeClient) -> None:
    client = make_client(retries=2)
    start = time.monotonic()
    with pytest.raises(NetworkError, match="Connection refused") as err:
        client.get_blob(Repository(f"127.0.0.1:{free_port()}", "any"), sha256(b"x"), max_bytes=9)
    assert not isinstance(err.value, RegistryError | NetworkTimeoutError)
    assert time.monotonic() - start < 2
    assert client.stats.total == 3


def test_writes_are_not_retried(bad_server: BadRegistry, make_client: MakeClient) -> None:
    client = make_client(retries=3)
    with pytest.raises(RegistryError) as err:
        client.push_manifest(bad_server.repo("html500"), GOOD_MANIFEST, MEDIA_TYPE_OCI_MANIFEST)
    assert err.value.status == 500
    assert bad_server.count("/v2/html500/") == 1


def test_connections_are_reused(bad_server: BadRegistry, make_client: MakeClient) -> None:
    client = bad_client(bad_server, make_client)
    for _ in range(5):
        client.get_manifest(bad_server.repo("nodigest"), "v1")  # a body
        client.head_manifest(bad_server.repo("nodigest"), "v1")  # no body, then a GET
        with pytest.raises(NotFoundError):
            client.get_manifest(bad_server.repo("unknown"), "v1")  # an error body
        with pytest.raises(RegistryError):
            client.get_manifest(bad_server.repo("echo"), "v1")  # 401, then Basic
    assert len(bad_server.seen) == 6 + 4 * 5  # later rounds send the credentials up front
    assert len({s.peer for s in bad_server.seen}) == 1


# --- redirects ---------------------------------------------------------------------------


def bad_client(bad: BadRegistry, make_client: MakeClient, **kwargs: object) -> RegistryClient:
    static = {bad.host: Credentials(bad.basic_user, bad.basic_password)}
    return make_client(
        credentials=CredentialStore(static=static, read_docker_config=False), **kwargs
    )


def test_redirect_to_blob_storage_drops_credentials(
    bad_server: BadRegistry, make_client: MakeClient
) -> None:
    client = bad_client(bad_server, make_client)
    assert (
        client.get_blob(bad_server.repo("redirect"), sha256(GOOD_BLOB), max_bytes=1 << 20)
        == GOOD_BLOB
    )
    assert [s.headers.get("Authorization") for s in bad_server.seen][-1] == bad_server.basic_header
    assert len(bad_server.storage_seen) == 1
    assert "Authorization" not in bad_server.storage_seen[0].headers


def test_redirect_on_the_same_host_drops_credentials(
    bad_server: BadRegistry, make_client: MakeClient
) -> None:
    client = bad_client(bad_server, make_client)
    got = client.get_blob(bad_server.repo("redirect-same"), sha256(GOOD_BLOB), max_bytes=1 << 20)
    assert got == GOOD_BLOB
    assert [s.path.split("/")[1] for s in bad_server.storage_seen] == ["store"]
    assert "Authorization" not in bad_server.storage_seen[0].headers


def test_redirects_are_bounded_and_checked(
    bad_server: BadRegistry, make_client: MakeClient
) -> None:
    client = bad_client(bad_server, make_client, retries=0)
    with pytest.raises(RegistryError, match="more than 5 redirects"):
        client.get_blob(bad_server.repo("redirect-loop"), sha256(GOOD_BLOB), max_bytes=1 << 20)
    assert bad_server.count("/v2/redirect-loop/") == 2 + 5  # 401, then 1 + 5 hops
    with pytest.raises(DigestMismatchError):
        client.get_blob(bad_server.repo("redirect-tampered"), sha256(GOOD_BLOB), max_bytes=1 << 20)


# --- mirrors -----------------------------------------------------------------------------


def test_mirror_serves_pulls(
    anon_registry: RunningRegistry, pushed: Pushed, make_client: MakeClient
) -> None:
    dead = f"127.0.0.1:{free_port()}"  # the registry itself is down
    client = make_client(mirrors={dead: [anon_registry.host]}, retries=0)
    repo = Repository(dead, pushed.multi.repo.path)
    assert client.get_manifest(repo, "v1").raw == pushed.multi.raw
    assert resolve_pinned(client, pushed) == resolve_pinned(make_client(), pushed)
    assert client.stats.total == 4


def test_mirror_misses_fall_through_without_credentials(
    basic_registry: RunningRegistry,
    basic_image: PushedImage,
    bad_server: BadRegistry,
    make_client: MakeClient,
) -> None:
    creds = CredentialStore(
        static={basic_registry.host: Credentials(*next(iter(basic_registry.users.items())))},
        read_docker_config=False,
    )
    mirror = f"http://{bad_server.host}"  # a loopback mirror may be given as a URL
    client = make_client(credentials=creds, mirrors={basic_registry.host: [mirror]})
    # the bad server's "record" case 404s everything: point the mirror at that repository
    repo = Repository(basic_registry.host, "record")
    with pytest.raises(NotFoundError):
        client.get_manifest(repo, "v1")
    assert bad_server.count("/v2/record/manifests/v1") == 1
    assert all("Authorization" not in s.headers for s in bad_server.seen)
    assert client.get_manifest(basic_image.repo, "v1").raw == basic_image.raw
    assert all("Authorization" not in s.headers for s in bad_server.seen)


def test_referrers_never_use_mirrors(
    pushed: Pushed, anon_registry: RunningRegistry, bad_server: BadRegistry, make_client: MakeClient
) -> None:
    client = make_client(mirrors={anon_registry.host: [bad_server.host]})
    assert len(client.referrers(pushed.single.repo, pushed.single.digest)) == 2
    assert bad_server.seen == []


def test_mirror_configuration_is_checked() -> None:
    with pytest.raises(PolicyConfigError, match="plain HTTP"):
        RegistryClient(mirrors={"docker.io": ["http://mirror.example.com"]})
    with pytest.raises(PolicyConfigError, match="paths are not supported"):
        RegistryClient(mirrors={"docker.io": ["mirror.example.com/v2/x"]})
    with RegistryClient(
        mirrors={"docker.io": ["http://mirror.example.com"]},
        insecure_registries=["mirror.example.com"],
    ):
        pass


# --- smaller contracts -------------------------------------------------------------------


def test_request_stats() -> None:
    stats = RequestStats()
    stats.record("manifest")
    stats.record("manifest")
    stats.record("blob")
    assert stats.total == 3
    assert stats.snapshot() == {"manifest": 2, "blob": 1, "total": 3}
    assert "manifest" in repr(stats)
    stats.reset()
    assert stats.total == 0


def test_push_round_trip(anon_registry: RunningRegistry, make_client: MakeClient) -> None:
    client = make_client()
    repo = anon_registry.repo("scratch/roundtrip")
    data = os.urandom(3000)
    desc = client.push_blob(repo, data)
    assert desc.digest == "sha256:" + hashlib.sha256(data).hexdigest()
    assert client.push_blob(repo, data) == desc  # already there: one HEAD
    assert client.stats.count("blob_head") == 2
    assert client.stats.count("blob_upload") == 2
    assert client.get_blob(repo, desc.digest, max_bytes=len(data)) == data


def test_errors_are_buildsig_errors_and_pickle(
    bad_server: BadRegistry, make_client: MakeClient
) -> None:
    client = make_client(retries=0)
    for case in ("html500", "denied", "unknown", "tampered", "malformed", "slowdown"):
        with pytest.raises(BuildsigError) as err:
            client.get_manifest(bad_server.repo(case), "v1")
        again = pickle.loads(pickle.dumps(err.value))
        assert type(again) is type(err.value) and again.message == err.value.message
        assert "\n" not in err.value.message

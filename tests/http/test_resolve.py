"""``input.http.checksum``: downloaded from a real local server, streamed through the hash.

The expected digests are computed here from the bytes the server serves; the resolver
must agree, honour an ``ADD --checksum`` pin, restart its hash when a broken transfer is
retried, and produce the ``content || suffix`` digest ``verify_http_pgp_signature`` needs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator

import pytest

from buildsig.cli import main
from buildsig.errors import DigestMismatchError, InvalidInputError, NotFoundError
from buildsig.http import HTTPClient
from buildsig.http.resolve import ChecksumRequest, resolve_http_checksum
from buildsig.model import ChecksumResponse
from buildsig.resolver import ResolveOptions, Resolver
from buildsig.source import Source, source_to_input
from tests.http import Handler, LocalServer, Request, body, chunks
from tests.http import sequence as seq

DATA = b"release tarball bytes\n" * 1000
DIGEST = "sha256:" + hashlib.sha256(DATA).hexdigest()


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer() as s:
        s.routes["/app.tgz"] = body(DATA)
        yield s


@pytest.fixture
def client() -> Iterator[HTTPClient]:
    with HTTPClient(retries=2) as c:
        yield c


def resolve(
    source: Source,
    client: HTTPClient,
    *,
    request: ChecksumRequest | None = None,
    max_bytes: int = 1 << 30,
) -> tuple[str, ChecksumResponse | None]:
    inp = resolve_http_checksum(
        source, source_to_input(source), client=client, request=request, max_bytes=max_bytes
    )
    assert inp.http is not None
    assert "http.checksum" not in inp.unknowns
    return inp.http.checksum, inp.http.checksum_response


def test_checksum_is_the_sha256_of_the_bytes_served(
    server: LocalServer, client: HTTPClient
) -> None:
    checksum, response = resolve(Source(server.url("/app.tgz")), client)
    assert checksum == DIGEST
    assert response is None


def test_the_fragment_is_not_sent(server: LocalServer, client: HTTPClient) -> None:
    checksum, _ = resolve(Source(server.url("/app.tgz#frag")), client)
    assert checksum == DIGEST
    assert [r.target for r in server.hits("/app.tgz")] == ["/app.tgz"]


def test_a_chunked_body_hashes_the_same(server: LocalServer, client: HTTPClient) -> None:
    parts = [DATA[i : i + 1000] for i in range(0, len(DATA), 1000)]
    server.routes["/chunked"] = lambda handler, _request: chunks(handler, iter(parts))
    checksum, _ = resolve(Source(server.url("/chunked")), client)
    assert checksum == DIGEST


def test_a_retried_transfer_hashes_from_the_start(server: LocalServer, client: HTTPClient) -> None:
    def truncated(handler: Handler, _request: Request) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(DATA)))
        handler.end_headers()
        handler.send_raw(DATA[:100])
        handler.close_connection = True

    server.routes["/flaky"] = seq(truncated, body(DATA))
    checksum, _ = resolve(Source(server.url("/flaky")), client)
    assert checksum == DIGEST
    assert len(server.hits("/flaky")) == 2


def test_a_pinned_checksum_must_match(server: LocalServer, client: HTTPClient) -> None:
    good = Source(server.url("/app.tgz"), attrs={"http.checksum": DIGEST})
    assert resolve(good, client)[0] == DIGEST
    wrong = "sha256:" + "0" * 64
    bad = Source(server.url("/app.tgz"), attrs={"http.checksum": wrong})
    with pytest.raises(DigestMismatchError) as caught:
        resolve(bad, client)
    assert caught.value.expected == wrong and caught.value.actual == DIGEST


@pytest.mark.parametrize("algorithm", ["sha256", "sha384", "sha512"])
def test_checksum_request_digests_content_then_suffix(
    server: LocalServer, client: HTTPClient, algorithm: str
) -> None:
    suffix = b"\x04\x00\x01\x08\x00\x06\x05\x02\x69\x00\x00\x00\x04\xff\x00\x00\x00\x0c"
    request = ChecksumRequest(algorithm=algorithm, suffix=suffix)
    checksum, response = resolve(Source(server.url("/app.tgz")), client, request=request)
    assert checksum == DIGEST
    assert response is not None
    assert response.digest == f"{algorithm}:" + hashlib.new(algorithm, DATA + suffix).hexdigest()
    assert response.suffix == suffix
    assert len(server.hits("/app.tgz")) == 1  # one download serves both digests


def test_checksum_requests_are_bounded() -> None:
    with pytest.raises(InvalidInputError, match="algorithm"):
        ChecksumRequest(algorithm="md5", suffix=b"")
    with pytest.raises(InvalidInputError, match="4096"):
        ChecksumRequest(algorithm="sha256", suffix=b"x" * 4097)


def test_missing_oversized_and_secret_sources(server: LocalServer, client: HTTPClient) -> None:
    with pytest.raises(NotFoundError):
        resolve(Source(server.url("/missing")), client)
    with pytest.raises(InvalidInputError, match="larger than"):
        resolve(Source(server.url("/app.tgz")), client, max_bytes=1000)
    secret = Source(server.url("/app.tgz"), attrs={"http.authheadersecret": "token"})
    with pytest.raises(InvalidInputError, match="auth header secret"):
        resolve(secret, client)


def test_the_resolver_and_inspect_fill_the_checksum(
    server: LocalServer, capsys: pytest.CaptureFixture[str]
) -> None:
    source = Source(server.url("/app.tgz"))
    with Resolver(ResolveOptions(timeout=10.0)) as resolver:
        [inp] = resolver.resolve_many([(source, source_to_input(source))], ["http.checksum"])
    assert inp.http is not None and inp.http.checksum == DIGEST
    assert main(["inspect", "--fields", "http.checksum", server.url("/app.tgz")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["http"]["checksum"] == DIGEST

"""HTTPClient against a real server on 127.0.0.1: redirects, caps, timeouts, retries, errors."""

from __future__ import annotations

import base64
import contextlib
import pickle
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from buildsig.errors import (
    HTTPStatusError,
    InvalidInputError,
    NetworkError,
    NetworkTimeoutError,
    NotFoundError,
)
from buildsig.http import HTTPClient, display_url
from tests.http import Handler, LocalServer, Request, Route, body, chunks, make_tls, redirect
from tests.http import sequence as seq

_PROXY_VARIABLES = (
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "SSL_CERT_FILE",
)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # A proxy or CA bundle set on the test machine must not reroute 127.0.0.1 requests.
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer() as s:
        yield s


@pytest.fixture
def other() -> Iterator[LocalServer]:
    with LocalServer() as s:
        yield s


@pytest.fixture
def client() -> Iterator[HTTPClient]:
    with HTTPClient(connect_timeout=2, read_timeout=2, deadline=10) as c:
        yield c


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- success -------------------------------------------------------------------------------


def test_get_returns_body_status_and_headers(server: LocalServer) -> None:
    server.routes["/file"] = body(b"payload", headers={"X-Thing": "one", "Content-Type": "a/b"})
    with HTTPClient(headers={"X-Client": "c", "Accept": "*/*"}) as client:
        response = client.get(server.url("/file"), headers={"accept": "application/json"})
    assert response.status == 200
    assert response.body == b"payload"
    assert response.url == server.url("/file")
    assert response.headers["x-thing"] == "one"
    assert response.headers["CONTENT-TYPE"] == "a/b"
    assert "X-THING" in response.headers
    assert dict(response.headers)["X-Thing"] == "one"  # names as sent
    assert response.headers.get("missing") is None
    (sent,) = server.hits("/file")
    assert sent.headers["user-agent"].startswith("buildsig/")
    assert sent.headers["accept-encoding"] == "identity"
    assert sent.headers["x-client"] == "c"
    assert sent.headers["accept"] == "application/json"  # the per-call header wins


def test_connections_are_reused(server: LocalServer, client: HTTPClient) -> None:
    server.routes["/a"] = body(b"x" * 10)
    for _ in range(3):
        assert client.get(server.url("/a")).body == b"x" * 10
    peers = {r.peer for r in server.hits("/a")}
    assert len(peers) == 1


def test_empty_body(server: LocalServer, client: HTTPClient) -> None:
    server.routes["/empty"] = body(b"", status=204)
    response = client.get(server.url("/empty"))
    assert (response.status, response.body) == (204, b"")


def test_chunked_body_is_read_whole(server: LocalServer, client: HTTPClient) -> None:
    parts = [b"a" * 70_000, b"b" * 5, b"c" * 100_000]
    server.routes["/chunked"] = lambda h, _r: chunks(h, iter(parts))
    assert client.get(server.url("/chunked")).body == b"".join(parts)


def test_concurrent_use_from_many_threads(server: LocalServer) -> None:
    for i in range(8):
        server.routes[f"/f{i}"] = body(f"file {i}".encode() * 1000)
    with HTTPClient(max_connections=4) as client, ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda n: client.get(server.url(f"/f{n % 8}")).body, range(64)))
    assert results == [f"file {n % 8}".encode() * 1000 for n in range(64)]


def test_close_releases_and_the_client_stays_usable(server: LocalServer) -> None:
    server.routes["/a"] = body(b"1")
    with HTTPClient() as client:
        assert client.get(server.url("/a")).body == b"1"
    assert client.get(server.url("/a")).body == b"1"  # a new connection after close()
    client.close()
    peers = {r.peer for r in server.hits("/a")}
    assert len(peers) == 2


# --- redirects -----------------------------------------------------------------------------


def test_redirects_are_followed(server: LocalServer, client: HTTPClient) -> None:
    server.routes["/start"] = redirect("/middle", 301)
    server.routes["/middle"] = redirect(server.url("/end?x=1"), 307)
    server.routes["/end"] = body(b"arrived")
    response = client.get(server.url("/start"))
    assert response.body == b"arrived"
    assert response.url == server.url("/end?x=1")
    assert [len(server.hits(p)) for p in ("/start", "/middle", "/end")] == [1, 1, 1]


def test_redirect_limit(server: LocalServer) -> None:
    server.routes["/loop"] = redirect("/loop")
    with HTTPClient(max_redirects=3) as client, pytest.raises(NetworkError) as caught:
        client.get(server.url("/loop"))
    assert "more than 3 redirects" in str(caught.value)
    assert len(server.hits("/loop")) == 4


def test_redirect_without_location(server: LocalServer, client: HTTPClient) -> None:
    server.routes["/r"] = body(b"", status=302)
    with pytest.raises(HTTPStatusError) as caught:
        client.get(server.url("/r"))
    assert caught.value.status == 302


def test_redirect_to_other_scheme_refused(server: LocalServer, client: HTTPClient) -> None:
    server.routes["/r"] = redirect("file:///etc/passwd")
    with pytest.raises(NetworkError, match="unsupported URL scheme"):
        client.get(server.url("/r"))


def test_credentials_stay_on_their_origin(
    server: LocalServer, other: LocalServer, client: HTTPClient
) -> None:
    server.routes["/same"] = redirect("/landing")
    server.routes["/away"] = redirect(other.url("/landing"))
    server.routes["/landing"] = body(b"here")
    other.routes["/landing"] = body(b"there")
    secret = {"Authorization": "Bearer s3cret", "Cookie": "c=1"}
    assert client.get(server.url("/same"), headers=secret).body == b"here"
    assert client.get(server.url("/away"), headers=secret).body == b"there"
    (kept,) = server.hits("/landing")
    assert kept.headers["authorization"] == "Bearer s3cret"
    (dropped,) = other.hits("/landing")
    assert "authorization" not in dropped.headers
    assert "cookie" not in dropped.headers
    assert server.hits("/away")[0].headers["authorization"] == "Bearer s3cret"


def test_url_user_info_becomes_basic_auth_and_is_redacted(
    server: LocalServer, client: HTTPClient
) -> None:
    server.routes["/private"] = body(b"ok")
    url = server.url("/private").replace("://", "://alice:s3cret@")
    assert client.get(url).body == b"ok"
    (sent,) = server.hits("/private")
    assert sent.headers["authorization"] == "Basic " + base64.b64encode(b"alice:s3cret").decode()
    with pytest.raises(NotFoundError) as caught:
        client.get(url.replace("/private", "/missing"))
    assert "s3cret" not in str(caught.value)
    assert "s3cret" not in str(caught.value.source)
    assert "alice:xxxxx@" in str(caught.value)


def test_display_url_redacts_presigned_queries() -> None:
    url = "https://u:pw@blob.example/x.json?sv=1&sig=abc%2B&X-Amz-Signature=def&se=2026&t=ok#f"
    shown = display_url(url)
    assert shown == (
        "https://u:xxxxx@blob.example/x.json?sv=1&sig=xxxxx&X-Amz-Signature=xxxxx&se=2026&t=ok#f"
    )


# --- TLS -----------------------------------------------------------------------------------


def test_https_verified_against_the_given_ca(tmp_path: Path) -> None:
    tls = make_tls(tmp_path)
    with LocalServer(tls=tls.server_context) as secure:
        secure.routes["/s"] = body(b"secret stuff")
        with HTTPClient(ca_bundle=tls.ca_pem) as client:
            assert client.get(secure.url("/s")).body == b"secret stuff"
        before = secure.connections
        with HTTPClient(retries=3) as client, pytest.raises(NetworkError) as caught:
            client.get(secure.url("/s"))
        assert "certificate verify failed" in str(caught.value)
        time.sleep(0.1)
        assert secure.connections == before + 1  # one handshake: not retried
        assert len(secure.hits("/s")) == 1


def test_https_to_http_redirect_is_refused(tmp_path: Path, server: LocalServer) -> None:
    tls = make_tls(tmp_path)
    server.routes["/plain"] = body(b"downgraded")
    with LocalServer(tls=tls.server_context) as secure:
        secure.routes["/r"] = redirect(server.url("/plain"))
        with HTTPClient(ca_bundle=tls.ca_pem) as client, pytest.raises(NetworkError) as caught:
            client.get(secure.url("/r"))
    assert "from HTTPS to plain HTTP" in str(caught.value)
    assert server.hits("/plain") == []


def test_ca_bundle_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tls = make_tls(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(tls.ca_pem))
    with LocalServer(tls=tls.server_context) as secure:
        secure.routes["/s"] = body(b"ok")
        with HTTPClient() as client:
            assert client.get(secure.url("/s")).body == b"ok"
        with HTTPClient(trust_env=False, retries=0) as client, pytest.raises(NetworkError):
            client.get(secure.url("/s"))


# --- size cap ------------------------------------------------------------------------------


def test_announced_length_over_the_cap_fails_before_reading(
    server: LocalServer, client: HTTPClient
) -> None:
    server.routes["/big"] = body(b"x" * 2000)
    with pytest.raises(InvalidInputError) as caught:
        client.get(server.url("/big"), max_bytes=1000)
    assert "larger than 1000 bytes (2000 announced)" in str(caught.value)
    assert len(server.hits("/big")) == 1  # not retried


def test_body_at_the_cap_is_accepted(server: LocalServer, client: HTTPClient) -> None:
    server.routes["/exact"] = body(b"y" * 1000)
    assert len(client.get(server.url("/exact"), max_bytes=1000).body) == 1000


def test_streamed_body_over_the_cap_stops_reading(server: LocalServer) -> None:
    sent: list[int] = []
    chunk = b"z" * (1024 * 1024)

    def endless(handler: Handler, _request: Request) -> None:
        def parts() -> Iterator[bytes]:
            for _ in range(512):  # 512 MiB, if anyone read it all
                sent.append(len(chunk))
                yield chunk

        with contextlib.suppress(OSError):  # the client hangs up, as it should
            chunks(handler, parts())

    server.routes["/endless"] = endless
    started = time.monotonic()
    with HTTPClient() as client, pytest.raises(InvalidInputError) as caught:
        client.get(server.url("/endless"), max_bytes=100_000)
    assert "larger than 100000 bytes" in str(caught.value)
    assert time.monotonic() - started < 5
    time.sleep(0.2)
    assert sum(sent) < 64 * 1024 * 1024


# --- timeouts ------------------------------------------------------------------------------


def stall(server: LocalServer, seconds: float = 10) -> Route:
    """A route that answers nothing until the server stops (or ``seconds`` pass)."""

    def route(handler: Handler, _request: Request) -> None:
        server.stopping.wait(seconds)

    return route


def test_stalled_server_times_out(server: LocalServer) -> None:
    server.routes["/stall"] = stall(server)
    started = time.monotonic()
    with HTTPClient(read_timeout=0.3, retries=0) as client, pytest.raises(NetworkTimeoutError):
        client.get(server.url("/stall"))
    assert time.monotonic() - started < 2


def test_stall_is_retried(server: LocalServer) -> None:
    server.routes["/flaky"] = seq(stall(server), body(b"second time"))
    with HTTPClient(read_timeout=0.3, retries=1) as client:
        assert client.get(server.url("/flaky")).body == b"second time"
    assert len(server.hits("/flaky")) == 2


def test_deadline_bounds_a_trickling_body(server: LocalServer) -> None:
    def trickle(handler: Handler, _request: Request) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", "1000")
        handler.end_headers()
        try:
            for _ in range(1000):
                handler.send_raw(b".")
                if server.stopping.wait(0.1):
                    return
        except OSError:
            pass

    server.routes["/trickle"] = trickle
    started = time.monotonic()
    with (
        HTTPClient(read_timeout=5, deadline=0.7, retries=3) as client,
        pytest.raises(NetworkTimeoutError) as caught,
    ):
        client.get(server.url("/trickle"))
    assert "deadline" in str(caught.value)
    assert time.monotonic() - started < 1.5
    assert len(server.hits("/trickle")) == 1


def test_per_call_deadline(server: LocalServer) -> None:
    server.routes["/stall"] = stall(server)
    started = time.monotonic()
    with HTTPClient(read_timeout=30) as client, pytest.raises(NetworkTimeoutError):
        client.get(server.url("/stall"), deadline=0.5)
    assert time.monotonic() - started < 1.5


# --- retries -------------------------------------------------------------------------------


def test_5xx_is_retried_until_success(server: LocalServer, client: HTTPClient) -> None:
    server.routes["/x"] = seq(body(b"", 503), body(b"oops", 502), body(b"fine"))
    assert client.get(server.url("/x")).body == b"fine"
    assert len(server.hits("/x")) == 3


def test_retries_are_bounded(server: LocalServer) -> None:
    server.routes["/down"] = body(b"down", 500)
    with HTTPClient(retries=2) as client, pytest.raises(HTTPStatusError) as caught:
        client.get(server.url("/down"))
    assert caught.value.status == 500
    assert "HTTP 500" in str(caught.value)
    assert len(server.hits("/down")) == 3


@pytest.mark.parametrize("status", [403, 501, 400])
def test_other_errors_are_not_retried(server: LocalServer, client: HTTPClient, status: int) -> None:
    server.routes["/e"] = body(b"no", status)
    with pytest.raises(HTTPStatusError) as caught:
        client.get(server.url("/e"))
    assert caught.value.status == status
    assert len(server.hits("/e")) == 1


def test_retry_after_is_honoured(server: LocalServer, client: HTTPClient) -> None:
    server.routes["/busy"] = seq(body(b"", 429, {"Retry-After": "1"}), body(b"now"))
    started = time.monotonic()
    assert client.get(server.url("/busy")).body == b"now"
    assert time.monotonic() - started >= 1.0
    assert len(server.hits("/busy")) == 2


def test_long_retry_after_fails_at_once(server: LocalServer) -> None:
    server.routes["/busy"] = body(b"", 429, {"Retry-After": "3600"})
    started = time.monotonic()
    with HTTPClient(max_retry_after=5) as client, pytest.raises(HTTPStatusError) as caught:
        client.get(server.url("/busy"))
    assert (caught.value.status, caught.value.retry_after) == (429, 3600.0)
    assert "rate limited" in str(caught.value)
    assert time.monotonic() - started < 1
    assert len(server.hits("/busy")) == 1


def test_no_sleeping_past_the_deadline(server: LocalServer) -> None:
    server.routes["/busy"] = body(b"", 503, {"Retry-After": "2"})
    started = time.monotonic()
    with HTTPClient(deadline=1) as client, pytest.raises(HTTPStatusError):
        client.get(server.url("/busy"))
    assert time.monotonic() - started < 0.5
    assert len(server.hits("/busy")) == 1


def test_broken_transfer_is_retried(server: LocalServer, client: HTTPClient) -> None:
    def truncated(handler: Handler, _request: Request) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", "100")
        handler.end_headers()
        handler.send_raw(b"only ten..")
        handler.close_connection = True

    server.routes["/t"] = seq(truncated, body(b"w" * 100))
    assert client.get(server.url("/t")).body == b"w" * 100
    assert len(server.hits("/t")) == 2


def test_connection_refused(client: HTTPClient) -> None:
    url = f"http://127.0.0.1:{free_port()}/x"
    with HTTPClient(retries=1) as client, pytest.raises(NetworkError) as caught:
        client.get(url)
    assert not isinstance(caught.value, NetworkTimeoutError)
    assert "cannot reach 127.0.0.1" in str(caught.value)
    assert caught.value.source == url


# --- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [404, 410])
def test_not_found(server: LocalServer, client: HTTPClient, status: int) -> None:
    server.routes["/gone"] = body(b"", status)
    with pytest.raises(NotFoundError) as caught:
        client.get(server.url("/gone"))
    assert server.url("/gone") in str(caught.value)
    assert f"HTTP {status}" in str(caught.value)
    assert len(server.hits("/gone")) == 1


@pytest.mark.parametrize(
    "url", ["ftp://127.0.0.1/x", "/relative", "http:///nohost", "http://127.0.0.1:99999/"]
)
def test_bad_urls(client: HTTPClient, url: str) -> None:
    with pytest.raises(InvalidInputError):
        client.get(url)


def test_bad_headers(server: LocalServer, client: HTTPClient) -> None:
    with pytest.raises(InvalidInputError):
        client.get(server.url("/"), headers={"X-Evil": "a\r\nInjected: 1"})
    with pytest.raises(InvalidInputError):
        client.get(server.url("/"), headers={"Bad Name": "v"})
    assert server.requests == []


def test_bad_settings() -> None:
    with pytest.raises(InvalidInputError):
        HTTPClient(read_timeout=0)
    with pytest.raises(InvalidInputError):
        HTTPClient(retries=-1)


def test_status_errors_survive_pickling() -> None:
    error = HTTPStatusError("GET x: HTTP 503", status=503, retry_after=2.0, source="x")
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), copy.status, copy.retry_after, str(copy)) == (
        HTTPStatusError,
        503,
        2.0,
        "GET x: HTTP 503",
    )


# --- proxies -------------------------------------------------------------------------------


def test_proxy_from_the_environment(
    server: LocalServer, other: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # ``other`` plays a forward proxy: it gets the absolute-form request and answers itself.
    target = server.url("/via")
    other.routes[target] = body(b"from the proxy")
    server.routes["/via"] = body(b"direct")
    monkeypatch.setenv("HTTP_PROXY", "http://bob:pw@" + other.base_url.split("://")[1])
    with HTTPClient() as client:
        assert client.get(target).body == b"from the proxy"
    (proxied,) = other.requests
    assert proxied.target == target
    assert proxied.headers["proxy-authorization"] == "Basic " + base64.b64encode(b"bob:pw").decode()
    assert server.requests == []
    with HTTPClient(trust_env=False) as client:
        assert client.get(target).body == b"direct"
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with HTTPClient() as client:
        assert client.get(target).body == b"direct"
    assert len(other.requests) == 1


def test_socks_proxy_is_refused_not_bypassed(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.routes["/x"] = body(b"direct")
    monkeypatch.setenv("ALL_PROXY", "socks5://127.0.0.1:1")
    with HTTPClient() as client, pytest.raises(NetworkError, match="only HTTP\\(S\\) proxies"):
        client.get(server.url("/x"))
    assert server.requests == []

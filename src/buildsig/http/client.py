"""A small, bounded HTTP GET client for policy builtins and HTTP sources.

Policy evaluation fetches things a remote party controls: GitHub's attestation API, the
bundle URLs it names, files behind ``ADD <url>``. A policy check that hangs, or that a
server can make read gigabytes, is a denial of service on the build, so every request
made here is bounded on every axis, on the patterns of :mod:`buildsig.oci.registry`:

- **Time.** A connect timeout, a read timeout for every wait on the socket, and an
  overall *deadline* per request covering retries, redirects and the body: a server that
  sends one byte a second never resets the clock.
- **Retries.** Only on transient trouble (connection errors, timeouts, 429 and 5xx other
  than 501), a bounded number of times, with exponential backoff and jitter; a
  ``Retry-After`` is honoured up to ``max_retry_after`` seconds, and a longer one fails at
  once rather than sleeping for the server. Nothing sleeps past the deadline.
- **Redirects.** Followed up to ``max_redirects`` (10, Go's default, which BuildKit's HTTP
  source uses). A redirect from HTTPS to plain HTTP is refused (it would silently drop
  the transport security the caller chose), and ``Authorization``, ``Cookie`` and
  ``Proxy-Authorization`` headers are dropped when a redirect changes scheme, host or port
  (a GitHub token must never reach the blob storage GitHub redirects to).
- **Size.** The body is streamed and reading stops as soon as it exceeds the cap
  (``InvalidInputError``); an announced ``Content-Length`` over the cap fails before any
  of the body is read.
- **TLS.** Certificates are always verified: against ``ca_bundle`` when given, else the
  CA bundle the environment names (``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``,
  ``SSL_CERT_FILE``), else certifi's when installed, else the system's.
- **Proxies.** ``HTTPS_PROXY``/``HTTP_PROXY``/``ALL_PROXY`` and ``NO_PROXY`` are honoured
  exactly as the registry client honours them (HTTP(S) proxies, Basic proxy credentials
  from the proxy URL's user info); SOCKS proxies are refused with a clear error rather
  than bypassed. ``trust_env=False`` ignores the environment (proxies and CA variables).
- **Secrets.** A password in a URL's user info is sent as Basic credentials to that
  origin only, and every URL in an error message has its password and any signature- or
  token-like query value replaced with ``xxxxx`` (presigned storage URLs carry their
  credentials in the query). Header values never appear in messages.

Errors: transport problems raise :class:`~buildsig.errors.NetworkError` (or
:class:`~buildsig.errors.NetworkTimeoutError`), a final error status raises
:class:`HTTPStatusError` (a NetworkError with the status) or, for 404 and 410,
:class:`~buildsig.errors.NotFoundError`; malformed arguments and oversized bodies raise
:class:`~buildsig.errors.InvalidInputError`. No ``urllib3`` or ``http.client`` exception
escapes.

One :class:`HTTPClient` is thread-safe and meant to be shared: it pools connections per
host. ``close()`` (or ``with``) releases them.
"""

from __future__ import annotations

import base64
import http.client
import os
import random
import re
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, Self

import urllib3
import urllib3.exceptions

from buildsig._internal.giturl import redact_url
from buildsig._internal.httputil import (
    default_ca_bundle,
    environ_ca_bundle,
    environ_proxy,
    parse_retry_after,
    proxy_pool_manager,
)
from buildsig._version import __version__
from buildsig.errors import (
    BuildsigError,
    HTTPStatusError,
    InvalidInputError,
    NetworkError,
    NetworkTimeoutError,
    NotFoundError,
)

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_DEADLINE",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_READ_TIMEOUT",
    "DEFAULT_RETRIES",
    "MAX_REDIRECTS",
    "MAX_RETRY_AFTER",
    "HTTPClient",
    "HTTPResponse",
    "Headers",
    "display_url",
]

#: Seconds allowed to establish a connection (TCP and TLS).
DEFAULT_CONNECT_TIMEOUT: Final = 10.0
#: Seconds allowed for any single wait on the socket (response headers, each body read).
DEFAULT_READ_TIMEOUT: Final = 30.0
#: Seconds one request may take in total: every attempt, redirect, sleep and body byte.
DEFAULT_DEADLINE: Final = 120.0
#: Largest body accepted unless the caller says otherwise.
DEFAULT_MAX_BYTES: Final = 32 * 1024 * 1024
#: Extra attempts after a transient failure.
DEFAULT_RETRIES: Final = 3
#: Longest ``Retry-After`` (seconds) waited for; a longer one fails the request at once.
MAX_RETRY_AFTER: Final = 30.0
#: Redirects followed per attempt (Go's net/http default, as BuildKit's HTTP source).
MAX_REDIRECTS: Final = 10

_CHUNK: Final = 64 * 1024
_MAX_DRAINED: Final = 64 * 1024  # error bodies up to this size are drained to keep the conn
_MAX_POOLS: Final = 16
_BACKOFF_BASE: Final = 0.25
_BACKOFF_CAP: Final = 8.0
_REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})
_GONE_STATUSES: Final = frozenset({404, 410})
_ORIGIN_BOUND_HEADERS: Final = frozenset({"authorization", "cookie", "proxy-authorization"})
_SECRET_QUERY_NAME: Final = re.compile(
    r"sig|signature|token|secret|password|passwd|credential|key|auth|session", re.IGNORECASE
)
_HEADER_NAME: Final = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_REDACTED: Final = "xxxxx"
_URLLIB3_ERROR: Final = urllib3.exceptions.HTTPError


class Headers(Mapping[str, str]):
    """Response headers: read-only, looked up case-insensitively, names kept as sent.

    A header sent several times has its values joined with ``", "`` (RFC 9110 §5.3), as
    urllib3 and Go's ``Header.Get`` callers see them.
    """

    __slots__ = ("_items",)

    _items: dict[str, tuple[str, str]]

    def __init__(self, items: Mapping[str, str] | None = None) -> None:
        self._items = {}
        for name, value in (items or {}).items():
            key = name.lower()
            if key in self._items:
                first, previous = self._items[key]
                self._items[key] = (first, f"{previous}, {value}")
            else:
                self._items[key] = (name, value)

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()][1]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Mapping):
            return NotImplemented
        theirs = {str(k).lower(): v for k, v in other.items()}
        return {k: v for k, (_, v) in self._items.items()} == theirs

    __hash__ = None  # type: ignore[assignment]  # a mapping; equal to dicts, so unhashable

    def __repr__(self) -> str:
        return f"Headers({dict(self.items())!r})"


@dataclass(frozen=True, slots=True)
class HTTPResponse:
    """A successful (2xx) answer, read completely and within the size cap.

    ``url`` is the URL the body came from after redirects (without user info), so a
    caller can tell where content really was served from.
    """

    url: str
    status: int
    headers: Headers
    body: bytes


def display_url(url: str) -> str:
    """``url`` fit for a message or log: password and secret-looking query values redacted.

    The password in the user info becomes ``xxxxx`` (Go's ``URL.Redacted``, as elsewhere
    in buildsig); so does the value of every query parameter whose name looks like it
    carries a credential (Azure's ``sig``, ``X-Amz-Signature``, ``X-Amz-Credential``,
    ``token``, ``key`` ...), since presigned blob-storage URLs are bearer credentials
    until they expire.
    """
    shown = redact_url(url)
    head, hash_mark, fragment = shown.partition("#")
    base, question, query = head.partition("?")
    if not question or not query:
        return shown
    pairs = []
    for part in query.split("&"):
        name, equals, value = part.partition("=")
        if equals and value and _SECRET_QUERY_NAME.search(urllib.parse.unquote(name)):
            value = _REDACTED
        pairs.append(f"{name}{equals}{value}")
    return f"{base}?{'&'.join(pairs)}{hash_mark}{fragment}"


def _origin(parts: urllib.parse.SplitResult) -> tuple[str, str, int | None]:
    """Scheme, host and effective port: what decides whether credentials may follow."""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, (parts.hostname or "").lower(), port


def _without_userinfo(parts: urllib.parse.SplitResult) -> str:
    netloc = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def _reason(exc: BaseException) -> str:
    """A short cause such as "Connection refused", without URLs or object reprs."""
    text = str(exc)
    match = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
    if match:
        return " ".join(match.group(1).split())[:80]
    for marker in (
        "certificate verify failed",
        "Connection refused",
        "Connection reset",
        "Name or service not known",
        "Remote end closed connection",
        "IncompleteRead",
    ):
        if marker.lower() in text.lower():
            return marker
    return type(exc).__name__


def _is_timeout(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it wraps) is a timeout rather than a refusal or reset."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, urllib3.exceptions.NewConnectionError):
            return False  # "connection refused" is a subclass of ConnectTimeoutError
        if isinstance(current, urllib3.exceptions.TimeoutError | TimeoutError):
            return True
        nested = [a for a in getattr(current, "args", ()) if isinstance(a, BaseException)]
        current = nested[0] if nested else (current.__cause__ or current.__context__)
    return False


class _Retry(Exception):
    """Internal: this attempt failed in a way another attempt may fix."""

    def __init__(self, error: BuildsigError, retry_after: float | None = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.retry_after = retry_after


class HTTPClient:
    """Bounded GET requests over a shared connection pool. Thread-safe; reuse it.

    ``connect_timeout`` / ``read_timeout``
        seconds for establishing a connection and for each wait on the socket.
    ``deadline``
        seconds a whole :meth:`get` may take, retries and body included.
    ``retries``
        extra attempts after connection errors, timeouts, 429 and 5xx (not 501).
    ``max_retry_after``
        the longest ``Retry-After`` waited for; a server asking for more fails the call.
    ``max_redirects``
        redirects followed per attempt.
    ``max_bytes``
        default body size cap (each :meth:`get` may set its own).
    ``headers``
        sent with every request (per-call headers override them, case-insensitively).
    ``ca_bundle``
        a PEM file (or directory) of CA certificates to verify HTTPS servers against.
    ``trust_env``
        honour proxy and CA-bundle environment variables (default True).
    ``max_connections``
        connections kept per host: size it like the caller's thread pool.
    """

    def __init__(
        self,
        *,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        deadline: float = DEFAULT_DEADLINE,
        retries: int = DEFAULT_RETRIES,
        max_retry_after: float = MAX_RETRY_AFTER,
        max_redirects: int = MAX_REDIRECTS,
        max_bytes: int = DEFAULT_MAX_BYTES,
        headers: Mapping[str, str] | None = None,
        ca_bundle: str | os.PathLike[str] | None = None,
        trust_env: bool = True,
        user_agent: str = f"buildsig/{__version__}",
        max_connections: int = 8,
    ) -> None:
        for name, value in (
            ("connect_timeout", connect_timeout),
            ("read_timeout", read_timeout),
            ("deadline", deadline),
        ):
            if not value > 0:
                raise InvalidInputError(f"{name} must be positive")
        if retries < 0 or max_redirects < 0 or max_retry_after < 0:
            raise InvalidInputError("retries, max_redirects and max_retry_after must be >= 0")
        if max_bytes < 0:
            raise InvalidInputError("max_bytes must not be negative")
        if max_connections < 1:
            raise InvalidInputError("max_connections must be at least 1")
        self.connect_timeout = float(connect_timeout)
        self.read_timeout = float(read_timeout)
        self.deadline = float(deadline)
        self.retries = int(retries)
        self.max_retry_after = float(max_retry_after)
        self.max_redirects = int(max_redirects)
        self.max_bytes = int(max_bytes)
        self.trust_env = trust_env
        # Identity encoding: the size cap then counts what the server sends, and no
        # decompression bomb can hide behind a small transfer. (A server that compresses
        # anyway is decoded, still within the cap on the decoded bytes.)
        self._headers = self._merge(
            {"User-Agent": user_agent, "Accept": "*/*", "Accept-Encoding": "identity"},
            headers,
        )
        self._lock = threading.Lock()
        self._pool_kw: dict[str, Any] = {
            "num_pools": _MAX_POOLS,
            "maxsize": max_connections,
            "block": False,
            "retries": False,
            "cert_reqs": "CERT_REQUIRED",
        }
        ca = os.fspath(ca_bundle) if ca_bundle is not None else self._environment_ca_bundle()
        if ca:
            self._pool_kw["ca_cert_dir" if os.path.isdir(ca) else "ca_certs"] = ca
        self._pool = urllib3.PoolManager(**self._pool_kw)
        self._proxy_pools: dict[str, urllib3.PoolManager] = {}
        self._routes: dict[str, urllib3.PoolManager] = {}  # scheme://netloc -> manager

    # --- lifecycle -----------------------------------------------------------------------

    def close(self) -> None:
        """Release pooled connections (a later request opens new ones)."""
        self._pool.clear()
        with self._lock:
            proxied = list(self._proxy_pools.values())
            self._proxy_pools.clear()
            self._routes.clear()
        for manager in proxied:
            manager.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- the one verb --------------------------------------------------------------------

    def get(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        max_bytes: int | None = None,
        deadline: float | None = None,
        sink: Callable[[], Callable[[bytes], None]] | None = None,
    ) -> HTTPResponse:
        """GET ``url`` and return the whole 2xx response.

        ``headers`` are added to the client's (and win over them); ``max_bytes`` and
        ``deadline`` override the client's cap and deadline for this call. Raises
        NotFoundError (404, 410), HTTPStatusError (other error statuses), NetworkError /
        NetworkTimeoutError (transport, deadline) and InvalidInputError (a URL that is not
        absolute http(s), bad header values, a body over the cap).

        ``sink`` streams the body instead of keeping it (the response's ``body`` is then
        empty): it is called once per attempt and returns the function each chunk is fed
        to, so a retried transfer starts from a fresh consumer.
        """
        limit = self.max_bytes if max_bytes is None else int(max_bytes)
        budget = self.deadline if deadline is None else float(deadline)
        if limit < 0 or not budget > 0:
            raise InvalidInputError("max_bytes must be >= 0 and deadline positive")
        shown = display_url(url)
        try:
            parts = urllib.parse.urlsplit(url)
            parts.port  # noqa: B018 - validates the port, raising ValueError
        except ValueError:
            raise InvalidInputError(f"invalid URL {shown}", source=shown) from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidInputError(f"not an absolute http(s) URL: {shown}", source=shown)
        request_headers = self._merge(self._headers, headers)
        if parts.username is not None and "authorization" not in {
            k.lower() for k in request_headers
        }:
            user = urllib.parse.unquote(parts.username)
            password = urllib.parse.unquote(parts.password or "")
            token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
            request_headers["Authorization"] = f"Basic {token}"
        target = _without_userinfo(parts)
        ends = time.monotonic() + budget

        tries = 0
        while True:
            try:
                return self._attempt(target, request_headers, limit, ends, shown, sink)
            except _Retry as failure:
                error = failure.error
                if tries >= self.retries:
                    raise error from None
                if failure.retry_after is not None:
                    if failure.retry_after > self.max_retry_after:
                        raise error from None
                    delay = failure.retry_after + random.uniform(0.0, 0.1)  # noqa: S311
                else:
                    ceiling = min(_BACKOFF_CAP, _BACKOFF_BASE * 2**tries)
                    delay = random.uniform(ceiling / 2, ceiling)  # noqa: S311
                if time.monotonic() + delay >= ends:
                    raise error from None  # the deadline would pass while sleeping
                time.sleep(delay)
                tries += 1

    # --- one attempt: redirects, status, body ---------------------------------------------

    def _attempt(
        self,
        url: str,
        headers: dict[str, str],
        limit: int,
        ends: float,
        shown: str,
        sink: Callable[[], Callable[[bytes], None]] | None = None,
    ) -> HTTPResponse:
        current = url
        sent = headers
        for hop in range(self.max_redirects + 1):
            raw = self._send(current, sent, ends, shown)
            status = raw.status
            if status in _REDIRECT_STATUSES:
                location = raw.headers.get("Location")
                self._discard(raw)
                current, sent = self._redirect(current, location, sent, status, shown)
                if hop == self.max_redirects:
                    raise NetworkError(
                        f"GET {shown}: more than {self.max_redirects} redirects", source=shown
                    )
                continue
            if status == 429 or (status >= 500 and status != 501):
                retry_after = parse_retry_after(raw.headers.get("Retry-After"))
                self._discard(raw)
                error = self._status_error(status, raw.reason, retry_after, shown)
                raise _Retry(error, retry_after)
            if not 200 <= status < 300:
                self._discard(raw)
                if status in _GONE_STATUSES:
                    raise NotFoundError(f"GET {shown}: not found (HTTP {status})", source=shown)
                raise self._status_error(status, raw.reason, None, shown)
            body = self._read_body(raw, limit, ends, shown, sink() if sink else None)
            return HTTPResponse(url=current, status=status, headers=Headers(raw.headers), body=body)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _redirect(
        self,
        current: str,
        location: str | None,
        headers: dict[str, str],
        status: int,
        shown: str,
    ) -> tuple[str, dict[str, str]]:
        """The next URL and the headers it may receive, or an error for a bad redirect."""
        if not location:
            raise HTTPStatusError(
                f"GET {shown}: redirect (HTTP {status}) without a Location",
                status=status,
                source=shown,
            )
        try:
            parts = urllib.parse.urlsplit(urllib.parse.urljoin(current, location.strip()))
            parts.port  # noqa: B018 - validates the port
        except ValueError:
            raise NetworkError(f"GET {shown}: redirect to a malformed URL", source=shown) from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise NetworkError(f"GET {shown}: redirect to an unsupported URL scheme", source=shown)
        before = urllib.parse.urlsplit(current)
        if before.scheme == "https" and parts.scheme == "http":
            raise NetworkError(
                f"GET {shown}: refusing a redirect from HTTPS to plain HTTP "
                f"({display_url(_without_userinfo(parts))})",
                source=shown,
            )
        if _origin(parts) != _origin(before):
            headers = {k: v for k, v in headers.items() if k.lower() not in _ORIGIN_BOUND_HEADERS}
        # User info in a Location is the server's invention: never turned into credentials.
        return _without_userinfo(parts), headers

    def _send(
        self, url: str, headers: Mapping[str, str], ends: float, shown: str
    ) -> urllib3.BaseHTTPResponse:
        """One request on the wire; transient failures raise _Retry."""
        remaining = ends - time.monotonic()
        if remaining <= 0:
            raise self._deadline_error(shown)
        timeout = urllib3.Timeout(
            connect=min(self.connect_timeout, remaining), read=min(self.read_timeout, remaining)
        )
        host = urllib.parse.urlsplit(url).netloc
        try:
            manager = self._manager_for(url, shown)
            return manager.urlopen(
                "GET",
                url,
                headers=dict(headers),
                redirect=False,
                retries=False,
                timeout=timeout,
                preload_content=False,
                decode_content=True,
            )
        except (ValueError, OSError, http.client.HTTPException, _URLLIB3_ERROR) as exc:
            if isinstance(exc, ValueError):  # a URL or header that cannot be sent: not transient
                raise NetworkError(
                    f"GET {shown}: cannot send the request: {type(exc).__name__}", source=shown
                ) from None
            if _is_timeout(exc):
                if time.monotonic() >= ends:
                    raise self._deadline_error(shown) from None
                raise _Retry(
                    NetworkTimeoutError(f"GET {shown}: no answer from {host} in time", source=shown)
                ) from None
            reason = _reason(exc)
            error = NetworkError(f"GET {shown}: cannot reach {host}: {reason}", source=shown)
            if reason == "certificate verify failed":
                raise error from None  # a certificate does not fix itself between attempts
            raise _Retry(error) from None

    def _read_body(
        self,
        raw: urllib3.BaseHTTPResponse,
        limit: int,
        ends: float,
        shown: str,
        consume: Callable[[bytes], None] | None = None,
    ) -> bytes:
        """Stream the body within the cap and the deadline.

        Each read waits for at most min(read timeout, time left) and returns whatever
        arrived (``read1``), so the deadline holds even against a server that trickles.
        """
        declared = raw.headers.get("Content-Length", "")
        encoded = raw.headers.get("Content-Encoding", "").strip().lower() not in ("", "identity")
        if declared.isdigit() and int(declared) > limit and not encoded:
            raw.close()
            raw.release_conn()
            raise InvalidInputError(
                f"GET {shown}: the response is larger than {limit} bytes ({declared} announced)",
                source=shown,
            )
        chunks: list[bytes] = []
        total = 0
        complete = False
        try:
            while True:
                remaining = ends - time.monotonic()
                if remaining <= 0:
                    raise self._deadline_error(shown)
                self._set_read_timeout(raw, min(self.read_timeout, remaining))
                chunk = raw.read1(_CHUNK)
                if not chunk:
                    complete = True
                    break
                total += len(chunk)
                if total > limit:
                    raise InvalidInputError(
                        f"GET {shown}: the response is larger than {limit} bytes", source=shown
                    )
                if consume is None:
                    chunks.append(chunk)
                else:
                    consume(chunk)
        except (OSError, http.client.HTTPException, _URLLIB3_ERROR) as exc:
            host = urllib.parse.urlsplit(shown).netloc.rpartition("@")[2]
            if _is_timeout(exc):
                if time.monotonic() >= ends:
                    raise self._deadline_error(shown) from None
                raise _Retry(
                    NetworkTimeoutError(
                        f"GET {shown}: {host} stopped sending for {self.read_timeout:g} s",
                        source=shown,
                    )
                ) from None
            raise _Retry(
                NetworkError(
                    f"GET {shown}: the transfer from {host} broke off: {_reason(exc)}",
                    source=shown,
                )
            ) from None
        finally:
            if not complete:
                raw.close()  # the rest is unread: the connection cannot be reused
            raw.release_conn()
        return b"".join(chunks)

    # --- helpers -----------------------------------------------------------------------

    @staticmethod
    def _deadline_error(shown: str) -> NetworkTimeoutError:
        return NetworkTimeoutError(
            f"GET {shown}: the deadline passed before the answer was complete", source=shown
        )

    @staticmethod
    def _status_error(
        status: int, reason: str | None, retry_after: float | None, shown: str
    ) -> HTTPStatusError:
        text = " ".join((reason or "").split())[:60]
        suffix = f" {text}" if text.isprintable() and text else ""
        if status == 429:
            wait = f", retry after {retry_after:g} s" if retry_after is not None else ""
            message = f"GET {shown}: rate limited (HTTP 429){wait}"
        else:
            message = f"GET {shown}: HTTP {status}{suffix}"
        return HTTPStatusError(message, status=status, retry_after=retry_after, source=shown)

    @staticmethod
    def _set_read_timeout(raw: urllib3.BaseHTTPResponse, seconds: float) -> None:
        connection = getattr(raw, "connection", None)
        sock = getattr(connection, "sock", None)
        if isinstance(sock, socket.socket):  # ssl.SSLSocket is one too
            sock.settimeout(max(seconds, 0.001))

    @staticmethod
    def _discard(raw: urllib3.BaseHTTPResponse) -> None:
        """Finish with a response whose body is not wanted, keeping the connection if cheap."""
        length = raw.headers.get("Content-Length", "")
        try:
            if length.isdigit() and int(length) <= _MAX_DRAINED:
                raw.drain_conn()
            else:
                raw.close()
        finally:
            raw.release_conn()

    @staticmethod
    def _merge(base: Mapping[str, str], extra: Mapping[str, str] | None) -> dict[str, str]:
        """``base`` with ``extra`` laid over it, names compared case-insensitively."""
        merged = dict(base)
        for name, value in (extra or {}).items():
            if not _HEADER_NAME.fullmatch(name) or any(c in value for c in "\r\n\x00"):
                raise InvalidInputError(f"invalid HTTP header {name!r}")
            for existing in [k for k in merged if k.lower() == name.lower()]:
                del merged[existing]
            merged[name] = value
        return merged

    def _environment_ca_bundle(self) -> str | None:
        # None: urllib3 then loads the system's default CAs
        return environ_ca_bundle() if self.trust_env else default_ca_bundle()

    def _manager_for(self, url: str, shown: str) -> urllib3.PoolManager:
        """The pool manager for ``url``: direct, or the proxy the environment names."""
        if not self.trust_env:
            return self._pool
        parts = urllib.parse.urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        with self._lock:
            manager = self._routes.get(origin)
        if manager is not None:
            return manager
        proxy = environ_proxy(url)
        manager = self._pool if proxy is None else self._proxy_manager(proxy, shown)
        with self._lock:
            if len(self._routes) >= _MAX_POOLS:
                self._routes.clear()  # hosts are the servers' choice (redirects): bounded
            self._routes[origin] = manager
        return manager

    def _proxy_manager(self, proxy: str, shown: str) -> urllib3.PoolManager:
        with self._lock:
            manager = self._proxy_pools.get(proxy)
            if manager is not None:
                return manager
            scheme = urllib.parse.urlsplit(proxy).scheme
            if scheme not in ("http", "https"):
                raise NetworkError(
                    f"GET {shown}: the environment names a {scheme or 'schemeless'} "
                    f"proxy ({display_url(proxy)}); only HTTP(S) proxies are supported",
                    source=shown,
                )
            try:
                manager = proxy_pool_manager(proxy, self._pool_kw, socks=False)
            except ValueError as exc:
                raise NetworkError(
                    f"GET {shown}: cannot use the proxy {display_url(proxy)}: {exc}",
                    source=shown,
                ) from None
            self._proxy_pools[proxy] = manager
            return manager

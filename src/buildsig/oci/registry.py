"""A small OCI distribution v2 client that can be trusted with verification work.

Why not oras-py (see ``shared/reference/sigstore-oci.md`` §5): it has no referrers API,
sets no timeouts, hands back parsed JSON instead of the bytes a digest covers, retries
for 131 s before reporting a refused connection, and picks its auth backend up front
instead of from the registry's challenge. :class:`RegistryClient` is the part buildsig
needs, written on ``urllib3`` with these rules:

- **Bytes are checked, never trusted.** A manifest fetched by digest must hash to it; one
  fetched by tag must hash to the ``Docker-Content-Digest`` the registry sent; a blob is
  hashed while it streams in and reading stops at a size cap. Raw bytes are returned.
- **Every request is bounded.** Connect and read timeouts always; retries only for
  GET/HEAD, only on connection trouble, 429 and 5xx, with exponential backoff and jitter,
  honouring ``Retry-After`` up to a total sleep budget (a longer ``Retry-After`` raises
  :class:`~buildsig.errors.RateLimitedError` at once instead of sleeping). One retry after
  authenticating; a second 401 is an error, never a loop.
- **Credentials stay where they belong.** Auth follows the ``WWW-Authenticate``
  challenge (Bearer token or Basic); credentials go only to the registry host or the
  token realm it names, never over plain HTTP to a host that is not loopback or listed as
  insecure, and never along a redirect (blob storage gets no ``Authorization``, even on
  the same host).
- **Cheap when repeated.** One ``urllib3.PoolManager`` shared by all threads (``requests``
  cost about twice the client CPU per request, and client CPU is what limits concurrent
  resolution), tokens cached per (registry, scope) and fetched once even under
  concurrency, and an optional :class:`~buildsig.oci.cache.ContentCache`: a digest-pinned
  resolution that is cached costs zero requests, a tag one ``GET``.
- **The environment is honoured.** ``HTTPS_PROXY``/``HTTP_PROXY``/``ALL_PROXY`` and
  ``NO_PROXY`` (read once per scheme and host, matched like ``requests`` does), and the CA
  bundle from ``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE`` or ``SSL_CERT_FILE`` (else
  certifi's, as ``requests`` used). ``~/.netrc`` is never read.
- **Failures are typed.** Every transport or registry problem becomes a
  :class:`~buildsig.errors.BuildsigError` subclass with a short, clean message (HTML
  error pages and JSON ``errors`` arrays are summarised, secrets are never included);
  no ``urllib3`` or ``http.client`` exception escapes.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.client
import ipaddress
import json
import logging
import os
import random
import re
import threading
import time
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Self, TypeVar

from buildsig._internal.httputil import (
    environ_ca_bundle,
    environ_proxy,
    parse_retry_after,
    proxy_pool_manager,
)
from buildsig._version import __version__
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
from buildsig.oci.cache import ContentCache, split_digest
from buildsig.oci.store import (
    MEDIA_TYPE_OCI_INDEX,
    MEDIA_TYPE_OCI_MANIFEST,
    MEDIA_TYPES_MANIFEST,
    Descriptor,
    Manifest,
    Repository,
)

if TYPE_CHECKING:
    import urllib3

__all__ = [
    "DEFAULT_MAX_MANIFEST_BYTES",
    "DEFAULT_TIMEOUT",
    "MAX_REDIRECTS",
    "MAX_RETRY_WAIT",
    "RegistryClient",
    "RequestStats",
    "referrers_tag",
]

#: Seconds for connecting and for each read, per request.
DEFAULT_TIMEOUT: Final = 30.0
#: Largest manifest, index or referrers response accepted (containerd uses 4 MiB too).
DEFAULT_MAX_MANIFEST_BYTES: Final = 4 * 1024 * 1024
#: Most seconds one call spends sleeping between retries, ``Retry-After`` included.
MAX_RETRY_WAIT: Final = 30.0
#: Redirects followed for one request (blob storage normally needs one).
MAX_REDIRECTS: Final = 5

_MAX_ERROR_BODY: Final = 64 * 1024
_MAX_TOKEN_RESPONSE: Final = 1024 * 1024
_MAX_REFERRER_PAGES: Final = 64
_CHUNK: Final = 64 * 1024
_MAX_POOLS: Final = 16  # hosts with pooled connections, per pool manager
_BACKOFF_BASE: Final = 0.25
_BACKOFF_CAP: Final = 8.0
_DEFAULT_TOKEN_LIFETIME: Final = 60.0
_REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})
_NOT_FOUND_CODES: Final = frozenset({"MANIFEST_UNKNOWN", "NAME_UNKNOWN", "BLOB_UNKNOWN"})
_MANIFEST_ACCEPT: Final = ", ".join(MEDIA_TYPES_MANIFEST)
_DOCKER_HUB_NAMES: Final = frozenset({"docker.io", "index.docker.io"})
_DOCKER_HUB_API: Final = "registry-1.docker.io"
_HASHERS: Final[Mapping[str, Callable[[], hashlib._Hash]]] = {
    "sha256": hashlib.sha256,
    "sha384": hashlib.sha384,
    "sha512": hashlib.sha512,
}

_PATH_COMPONENT: Final = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_PATH_RE: Final = re.compile(rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*")
_HOST_LABEL: Final = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_REGISTRY_RE: Final = re.compile(
    rf"(?:{_HOST_LABEL}(?:\.{_HOST_LABEL})*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{{1,5}})?"
)
_TAG_RE: Final = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_HTTP_TOKEN_RE: Final = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_TITLE_RE: Final = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_CONTROL_RE: Final = re.compile(r"[\x00-\x1f\x7f]+")
# A request target that urllib3 would send exactly as it is (nothing to percent-encode or
# normalise): path and query characters of RFC 3986 without "%" and "#".
_PLAIN_TARGET: Final = re.compile(
    r"/[A-Za-z0-9\-._~!$&'()*+,;=:@/]*(?:\?[A-Za-z0-9\-._~!$&'()*+,;=:@/?]*)?"
)

_log = logging.getLogger("buildsig.oci.registry")

_T = TypeVar("_T")
_V = TypeVar("_V")


# --- small helpers -----------------------------------------------------------------------


def _urllib3_error() -> type[Exception]:
    """urllib3's base exception (imported on first failure: except clauses are lazy)."""
    import urllib3.exceptions

    return urllib3.exceptions.HTTPError


def _closed_pool_error() -> type[Exception]:
    import urllib3.exceptions

    return urllib3.exceptions.ClosedPoolError


def referrers_tag(digest: str) -> str:
    """The referrers fallback tag for ``digest``: ``<alg>-<hex>`` (distribution-spec).

    The algorithm is cut to 32 characters and the encoded part to 64, and anything a tag
    may not contain becomes ``-``; registries without the referrers API keep an image
    index of a subject's referrers under this tag.
    """
    algorithm, encoded = split_digest(digest)
    tag = f"{algorithm[:32]}-{encoded[:64]}"
    return re.sub(r"[^A-Za-z0-9_.-]", "-", tag)


def _is_digest(reference: str) -> bool:
    return ":" in reference


def _host_without_port(netloc: str) -> str:
    if netloc.startswith("["):
        return netloc[1 : netloc.find("]")] if "]" in netloc else netloc
    return netloc.rsplit(":", 1)[0] if netloc.count(":") == 1 else netloc


def _is_loopback(netloc: str) -> bool:
    """127.0.0.0/8, ::1 and ``localhost`` (with any port) are this machine."""
    host = _host_without_port(netloc).lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _clean(text: str, limit: int = 200) -> str:
    """One printable line of at most ``limit`` characters, for an error message."""
    text = _CONTROL_RE.sub(" ", text).strip()
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


@dataclass(frozen=True, slots=True)
class _Challenge:
    """One ``WWW-Authenticate`` challenge: the scheme (lowercase) and its parameters."""

    scheme: str
    params: dict[str, str] = field(default_factory=dict)


def _parse_challenges(value: str) -> list[_Challenge]:
    """Parse ``WWW-Authenticate`` (RFC 9110 §11.6.1): several challenges, quoted params."""
    challenges: list[_Challenge] = []
    current: _Challenge | None = None
    i, n = 0, len(value)
    while i < n:
        while i < n and value[i] in " \t,":
            i += 1
        match = _HTTP_TOKEN_RE.match(value, i)
        if match is None:
            break
        token, j = match.group(), match.end()
        k = j
        while k < n and value[k] in " \t":
            k += 1
        if current is not None and k < n and value[k] == "=":
            k += 1
            while k < n and value[k] in " \t":
                k += 1
            if k < n and value[k] == '"':
                k += 1
                chars: list[str] = []
                while k < n and value[k] != '"':
                    if value[k] == "\\" and k + 1 < n:
                        k += 1
                    chars.append(value[k])
                    k += 1
                param = "".join(chars)
                k += 1
            else:
                end = value.find(",", k)
                end = n if end < 0 else end
                param = value[k:end].strip()
                k = end
            current.params[token.lower()] = param
            i = k
        else:
            current = _Challenge(token.lower())
            challenges.append(current)
            i = j
    return challenges


def _merge_scopes(ours: Sequence[str], asked: Sequence[str]) -> tuple[str, ...]:
    """Our scopes plus those a challenge asks for that ours do not already cover.

    distribution asks for ``pull`` on a HEAD made while pushing; ``pull,push`` covers it,
    and keeping the scope set unchanged keeps the token cache key unchanged.
    """
    merged = list(ours)
    for scope in asked:
        kind, _, rest = scope.partition(":")
        name, _, actions = rest.rpartition(":")
        covered = False
        for have in merged:
            h_kind, _, h_rest = have.partition(":")
            h_name, _, h_actions = h_rest.rpartition(":")
            if (h_kind, h_name) == (kind, name) and set(actions.split(",")) <= set(
                h_actions.split(",")
            ):
                covered = True
                break
        if not covered:
            merged.append(scope)
    return tuple(merged)


def _basic_header(credentials: Credentials) -> str:
    raw = f"{credentials.username}:{credentials.password}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def _secrets_in(header: str | None) -> list[str]:
    """The secret parts of an Authorization header, to scrub from echoed error bodies."""
    if not header:
        return []
    _, _, value = header.partition(" ")
    found = [value]
    if header.startswith("Basic "):
        with contextlib.suppress(ValueError):
            user, _, password = base64.b64decode(value).decode("utf-8").partition(":")
            found.extend(s for s in (password, f"{user}:{password}") if s)
    return [s for s in found if len(s) >= 4]


def _redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "<redacted>")
    return text


class _Response:
    """One answer on the wire, with what was sent that error handling needs to know.

    ``with resp:`` releases it (see :func:`_release`) however the block is left.
    """

    __slots__ = ("authorization", "headers", "method", "raw", "status", "url")

    def __init__(
        self, raw: urllib3.BaseHTTPResponse, method: str, url: str, authorization: str | None
    ) -> None:
        self.raw = raw
        self.status = raw.status
        self.headers: Mapping[str, str] = raw.headers
        self.method = method
        self.url = url
        self.authorization = authorization  # sent, to scrub from echoed error bodies

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        _release(self)


def _release(resp: _Response) -> None:
    """Finish with a response so that its connection goes back to the pool if it can.

    A body read to its end has already given its connection back. Otherwise what is left
    on the wire must be read first or the connection closed: empty and small bodies are
    drained; a large unread body (an oversized manifest we refused) costs its connection.
    """
    raw = resp.raw
    if raw.connection is not None:
        length = resp.headers.get("Content-Length", "")
        small = length.isdigit() and int(length) <= _MAX_ERROR_BODY
        if resp.method == "HEAD" or resp.status in (204, 304) or small:
            raw.drain_conn()  # transport trouble here closes the connection instead
        else:
            raw.close()
    raw.release_conn()


@dataclass(frozen=True, slots=True)
class _Route:
    """How requests for one ``scheme://host`` are sent."""

    manager: urllib3.PoolManager  # the PoolManager, or the ProxyManager of a proxy
    pool: urllib3.HTTPConnectionPool | None  # the manager's pool for a direct route


def _origin(url: str) -> str:
    """``scheme://netloc`` (and possibly a little more) of an absolute URL, without parsing.

    Only a cache key: every URL that shares it has the same scheme and host.
    """
    end = url.find("/", url.find("//") + 2)
    return url if end < 0 else url[:end]


class _Retry(Exception):
    """Internal: this attempt failed in a way another attempt may fix."""

    def __init__(self, error: BuildsigError, retry_after: float | None = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class _Endpoint:
    """Where requests for one registry (or mirror) go, and how carefully."""

    name: str  # the registry's name, as credentials are keyed ("docker.io", "127.0.0.1:5000")
    scheme: str  # "https", or "http" for loopback and configured-insecure hosts
    host: str  # host[:port] in URLs ("registry-1.docker.io" for Docker Hub)
    plain_http_ok: bool  # loopback or configured insecure
    base: str = field(init=False, compare=False)  # scheme://host, built once

    def __post_init__(self) -> None:
        object.__setattr__(self, "base", f"{self.scheme}://{self.host}")


@dataclass(slots=True)
class _Token:
    header: str
    expires_at: float  # time.monotonic()


class RequestStats:
    """How many HTTP requests a client made, in total and per kind.

    Kinds: ``manifest`` (GET), ``manifest_head``, ``blob``, ``blob_head``,
    ``blob_upload``, ``manifest_put``, ``referrers``, ``token``. Every request on the
    wire counts, including 401 round trips, retries and redirect hops, so the numbers are
    what a registry's rate limiter sees (benchmarks report them per image).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def record(self, kind: str) -> None:
        """Count one request of ``kind``."""
        with self._lock:
            self._counts[kind] += 1

    @property
    def total(self) -> int:
        """All requests made since creation or the last :meth:`reset`."""
        with self._lock:
            return sum(self._counts.values())

    def count(self, kind: str) -> int:
        """Requests of one kind."""
        with self._lock:
            return self._counts[kind]

    def snapshot(self) -> dict[str, int]:
        """Per-kind counts plus ``total``, as a plain dict (for logs and benchmarks)."""
        with self._lock:
            result = dict(self._counts)
        result["total"] = sum(result.values())
        return result

    def reset(self) -> None:
        """Start counting from zero."""
        with self._lock:
            self._counts.clear()

    def __repr__(self) -> str:
        return f"RequestStats({self.snapshot()})"


# --- the client --------------------------------------------------------------------------


class RegistryClient:
    """Reads (and, for tests and tooling, writes) images on OCI distribution registries.

    Implements :class:`buildsig.oci.store.ImageStore`. Parameters:

    ``timeout``
        seconds allowed for connecting and for each read of every request.
    ``retries``
        extra attempts for GET/HEAD on connection errors, timeouts, 429 and 5xx.
    ``insecure_registries``
        registries (``host`` or ``host:port``) spoken to over plain HTTP. Loopback hosts
        (127.0.0.0/8, ``[::1]``, ``localhost``) always are; everything else uses HTTPS.
    ``credentials``
        where credentials come from; None means the user's Docker config
        (:class:`~buildsig.oci.auth.CredentialStore` defaults), read on first need. Pass
        ``CredentialStore.anonymous()`` to never authenticate with stored secrets.
    ``cache``
        a :class:`~buildsig.oci.cache.ContentCache` for manifests and blobs by digest.
    ``mirrors``
        registry name → mirror hosts tried first for pulls (manifests and blobs), in
        order, before the registry itself. A mirror gets its own credentials, never the
        registry's. Referrers are always asked of the registry (see :meth:`referrers`).
    ``max_workers``
        connections kept per host: size it like the caller's thread pool.
    ``user_agent``
        the ``User-Agent`` header.
    ``max_manifest_bytes``
        the size cap for manifests, indexes and referrers responses.
    ``max_retry_wait``
        most seconds one call may sleep between retries in total.

    Thread-safe: one client serves any number of threads. Close it (or use ``with``) to
    release pooled connections.
    """

    def __init__(
        self,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = 3,
        insecure_registries: Iterable[str] = (),
        credentials: CredentialStore | None = None,
        cache: ContentCache | None = None,
        mirrors: Mapping[str, Sequence[str]] | None = None,
        max_workers: int = 8,
        user_agent: str = f"buildsig/{__version__}",
        max_manifest_bytes: int = DEFAULT_MAX_MANIFEST_BYTES,
        max_retry_wait: float = MAX_RETRY_WAIT,
    ) -> None:
        import urllib3
        import urllib3.util

        if timeout <= 0:
            raise InvalidInputError("timeout must be positive")
        if retries < 0:
            raise InvalidInputError("retries must not be negative")
        if max_workers < 1:
            raise InvalidInputError("max_workers must be at least 1")
        self.timeout = float(timeout)
        self.retries = int(retries)
        self.max_manifest_bytes = int(max_manifest_bytes)
        self.max_retry_wait = float(max_retry_wait)
        self.credentials = credentials if credentials is not None else CredentialStore()
        self.cache = cache
        #: HTTP requests made by this client (see :class:`RequestStats`).
        self.stats = RequestStats()
        self._insecure = {self._normalise_host(h) for h in insecure_registries}
        self._mirrors: dict[str, tuple[_Endpoint, ...]] = {}
        for name, hosts in (mirrors or {}).items():
            key = "docker.io" if name in _DOCKER_HUB_NAMES else name.lower()
            self._mirrors[key] = tuple(self._mirror_endpoint(h) for h in hosts)

        self._lock = threading.Lock()
        self._challenges: dict[str, _Challenge] = {}
        self._tokens: dict[tuple[str, str], _Token] = {}
        self._token_locks: dict[tuple[str, str], threading.Lock] = {}
        self._no_referrers_api: set[str] = set()

        # Endpoints per registry name: the mirrors and insecure hosts are fixed above.
        self._endpoint_cache: dict[str, _Endpoint] = {}
        self._endpoints_cache: dict[str, tuple[_Endpoint, ...]] = {}

        # The headers ``requests`` sent, built once: every request starts from one of
        # these (never changed in place), and _authorized adds Authorization to a copy.
        encodings = urllib3.util.make_headers(accept_encoding=True)["accept-encoding"]
        self._base_headers: Mapping[str, str] = {
            "User-Agent": user_agent,
            "Accept-Encoding": ", ".join(encodings.split(",")),
            "Accept": "*/*",
            "Connection": "keep-alive",
        }
        self._manifest_headers = {**self._base_headers, "Accept": _MANIFEST_ACCEPT}
        self._referrers_headers = {**self._base_headers, "Accept": MEDIA_TYPE_OCI_INDEX}
        self._timeout = urllib3.Timeout(connect=self.timeout, read=self.timeout)
        # The environment (proxies, CA bundle) is read here and once per host, not on
        # every call, and never ~/.netrc: it would add credentials to hosts we chose not
        # to authenticate to. Registries have no business setting cookies: none are kept.
        self._pool_kw: dict[str, Any] = {
            "num_pools": _MAX_POOLS,
            "maxsize": max_workers,
            "block": False,
            "retries": False,
        }
        ca_bundle = environ_ca_bundle()
        if ca_bundle:
            self._pool_kw["ca_cert_dir" if os.path.isdir(ca_bundle) else "ca_certs"] = ca_bundle
        self._pool = urllib3.PoolManager(**self._pool_kw)
        self._proxy_pools: dict[str, urllib3.PoolManager] = {}
        # scheme://host -> how its requests go: through a proxy, or straight to its pool
        self._routes: dict[str, _Route] = {}

    # --- lifecycle -------------------------------------------------------------------

    def close(self) -> None:
        """Release pooled connections. The client must not be used afterwards."""
        self._pool.clear()
        with self._lock:
            self._routes.clear()
            proxied = list(self._proxy_pools.values())
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

    # --- ImageStore ------------------------------------------------------------------

    def get_manifest(self, repo: Repository, reference: str) -> Manifest:
        """A manifest or index by tag or digest, as the exact bytes the registry stores.

        By digest, the bytes must hash to it; by tag, to ``Docker-Content-Digest`` when the
        registry sends one (DigestMismatchError otherwise). With a cache, a digest that is
        cached costs no request and a tag one GET (none while a tag TTL holds).
        Raises NotFoundError when the tag, digest or repository does not exist.
        """
        self._check_repository(repo)
        if _is_digest(reference):
            split_digest(reference)
            cached = self._cached_manifest(reference, f"manifest {repo}@{reference}")
            if cached is not None:
                return cached
            return self._pull(repo, lambda ep: self._fetch_manifest(ep, repo, reference))
        self._check_tag(reference)
        cache = self.cache
        if cache is not None:
            return self._pull(
                repo, lambda ep: self._manifest_by_tag_cached(ep, repo, reference, cache)
            )
        return self._pull(repo, lambda ep: self._fetch_manifest(ep, repo, reference))

    def head_manifest(self, repo: Repository, reference: str) -> Descriptor:
        """What a tag (or digest) points at, from one HEAD request: media type, digest, size.

        The cheap way to see whether a tag moved. A digest that is cached costs no
        request. Registries that answer HEAD without ``Docker-Content-Digest`` are asked
        with a GET instead, and the digest is computed.
        """
        self._check_repository(repo)
        if _is_digest(reference):
            split_digest(reference)
            cached = self._cached_manifest(reference, f"manifest {repo}@{reference}")
            if cached is not None:
                return Descriptor(cached.media_type, cached.digest, len(cached.raw))
        else:
            self._check_tag(reference)
            if self.cache is not None:
                known = self.cache.lookup_tag(f"{repo}:{reference}")
                if known is not None:
                    return known
        return self._pull(repo, lambda ep: self._head_or_get(ep, repo, reference))

    def get_blob(self, repo: Repository, digest: str, *, max_bytes: int) -> bytes:
        """A blob (config, attestation layer …), checked against ``digest`` as it streams.

        Reading stops as soon as more than ``max_bytes`` arrive (InvalidInputError
        "… is larger than …"); redirects to blob storage are followed without the
        registry's credentials.
        """
        self._check_repository(repo)
        split_digest(digest)
        what = f"blob {repo}@{digest}"
        if self.cache is not None:
            data = self.cache.get(digest)
            if data is not None:
                if len(data) > max_bytes:
                    raise InvalidInputError(
                        f"{what} is larger than {max_bytes} bytes ({len(data)})", source=what
                    )
                return data
        data = self._pull(repo, lambda ep: self._fetch_blob(ep, repo, digest, max_bytes))
        if self.cache is not None:
            self.cache.put(digest, data)
        return data

    def referrers(
        self, repo: Repository, digest: str, *, artifact_type: str | None = None
    ) -> list[Descriptor]:
        """Manifests whose ``subject`` is ``digest``, optionally of one artifact type.

        Asks ``/v2/<name>/referrers/<digest>`` first; on 404 (the registry has no
        referrers API, like distribution 2.8), 405 or 400, reads the fallback index at
        the tag :func:`referrers_tag` instead, and a missing tag means no referrers. A
        registry found without the API is remembered, so later calls go straight to the
        tag. ``artifact_type`` is filtered here too, whatever the server did.

        Always the registry itself, never a mirror: a referrers list cannot be checked
        against a digest, and a stale mirror answering "none" would hide signatures.
        """
        self._check_repository(repo)
        split_digest(digest)
        ep = self._endpoint(repo.registry)
        with self._lock:
            has_api = ep.base not in self._no_referrers_api
        found = self._referrers_api(ep, repo, digest, artifact_type) if has_api else None
        if found is None:
            found = self._referrers_from_tag(ep, repo, digest)
        if artifact_type is not None:
            found = [d for d in found if d.artifact_type == artifact_type]
        return found

    # --- writing (tests, tooling) ----------------------------------------------------

    def push_blob(
        self, repo: Repository, data: bytes, *, media_type: str = "application/octet-stream"
    ) -> Descriptor:
        """Upload ``data`` as a blob (skipped when the registry has it) and describe it.

        A monolithic upload: POST to open the session, PUT with the digest. Writes are not
        retried (they are not idempotent), apart from the one re-send after a 401.
        """
        self._check_repository(repo)
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        descriptor = Descriptor(media_type=media_type, digest=digest, size=len(data))
        ep = self._endpoint(repo.registry)
        scopes = self._scopes(repo, push=True)
        what = f"blob {repo}@{digest}"
        blob_url = f"{ep.base}/v2/{repo.path}/blobs/{digest}"

        def exists() -> bool:
            headers = self._base_headers
            resp = self._authorized(ep, "blob_head", "HEAD", blob_url, scopes, headers, what)
            with resp:
                if resp.status == 200:
                    return True
                if resp.status == 404:
                    return False
                raise self._error_from_response(resp, what, ep)

        if self._retrying(exists, idempotent=True):
            return descriptor

        def upload() -> None:
            start = f"{ep.base}/v2/{repo.path}/blobs/uploads/"
            headers = {**self._base_headers, "Content-Length": "0"}
            resp = self._authorized(ep, "blob_upload", "POST", start, scopes, headers, what)
            with resp:
                if resp.status != 202:
                    raise self._error_from_response(resp, what, ep)
                location = resp.headers.get("Location")
            if not location:
                raise RegistryError(
                    f"{what}: {ep.host} opened an upload without a Location",
                    status=202,
                    source=what,
                )
            put_url = self._with_query(urllib.parse.urljoin(start, location), digest=digest)
            headers = {**self._base_headers, "Content-Type": "application/octet-stream"}
            resp = self._authorized(
                ep, "blob_upload", "PUT", put_url, scopes, headers, what, data=data
            )
            with resp:
                if resp.status not in (201, 204):
                    raise self._error_from_response(resp, what, ep)
                self._check_pushed_digest(resp.headers.get("Docker-Content-Digest"), digest, what)

        self._retrying(upload, idempotent=False)
        if self.cache is not None:
            self.cache.put(digest, data)
        return descriptor

    def push_manifest(
        self, repo: Repository, raw: bytes, media_type: str, *, tag: str | None = None
    ) -> Descriptor:
        """Store ``raw`` as a manifest or index, under ``tag`` or only by its digest.

        The bytes are sent exactly as given (so the digest is the caller's to know), and
        the registry's ``Docker-Content-Digest`` must agree with it.
        """
        self._check_repository(repo)
        if tag is not None:
            self._check_tag(tag)
        digest = "sha256:" + hashlib.sha256(raw).hexdigest()
        ep = self._endpoint(repo.registry)
        reference = tag or digest
        what = f"manifest {repo}{'@' if tag is None else ':'}{reference}"
        url = f"{ep.base}/v2/{repo.path}/manifests/{reference}"
        scopes = self._scopes(repo, push=True)

        def put() -> None:
            headers = {**self._base_headers, "Content-Type": media_type}
            resp = self._authorized(ep, "manifest_put", "PUT", url, scopes, headers, what, data=raw)
            with resp:
                if resp.status not in (200, 201, 204):
                    raise self._error_from_response(resp, what, ep)
                self._check_pushed_digest(resp.headers.get("Docker-Content-Digest"), digest, what)

        self._retrying(put, idempotent=False)
        if self.cache is not None:
            self.cache.put(digest, raw)
        return Descriptor(media_type=media_type, digest=digest, size=len(raw))

    # --- manifests -------------------------------------------------------------------

    def _cached_manifest(self, digest: str, what: str) -> Manifest | None:
        if self.cache is None:
            return None
        raw = self.cache.get(digest)
        if raw is None:
            return None
        return Manifest(
            raw=raw, media_type=self._manifest_media_type(raw, None, what), digest=digest
        )

    def _manifest_by_tag_cached(
        self, ep: _Endpoint, repo: Repository, tag: str, cache: ContentCache
    ) -> Manifest:
        """One GET of the tag, cached by digest (a tag remembered within its TTL: none).

        A HEAD first would save only a few hundred bytes of manifest when the digest is
        cached, and cost a whole extra round trip when it is not (every cold resolution).
        """
        key = f"{repo}:{tag}"
        known = cache.lookup_tag(key)
        cached = (
            None if known is None else self._cached_manifest(known.digest, f"manifest {repo}:{tag}")
        )
        manifest = cached or self._fetch_manifest(ep, repo, tag)
        cache.remember_tag(key, Descriptor(manifest.media_type, manifest.digest, len(manifest.raw)))
        return manifest

    def _fetch_manifest(
        self, ep: _Endpoint, repo: Repository, reference: str, *, shown: str | None = None
    ) -> Manifest:
        """GET one manifest and check its bytes; ``shown`` is the tag it was resolved from."""
        by_digest = _is_digest(reference)
        label = shown if shown is not None else reference
        what = f"manifest {repo}{'@' if _is_digest(label) else ':'}{label}"
        url = f"{ep.base}/v2/{repo.path}/manifests/{reference}"
        scopes = self._scopes(repo)

        def attempt() -> tuple[str | None, str | None, bytes, str]:
            resp = self._get(ep, "manifest", url, scopes, self._manifest_headers, what)
            with resp:
                if not 200 <= resp.status < 300:
                    raise self._error_from_response(resp, what, ep)
                header_digest = resp.headers.get("Docker-Content-Digest")
                expected = reference if by_digest else header_digest
                raw, actual = self._read_body(
                    resp, self.max_manifest_bytes, what, expected or "sha256:"
                )
                return header_digest, resp.headers.get("Content-Type"), raw, actual

        header_digest, content_type, raw, actual = self._retrying(attempt, idempotent=True)
        if header_digest and not by_digest:
            try:
                split_digest(header_digest)
            except InvalidInputError:
                raise RegistryError(
                    f"{what}: {ep.host} sent a malformed Docker-Content-Digest",
                    status=200,
                    source=what,
                ) from None
        if by_digest:
            self._check_digest(reference, actual, what)
            digest = reference
        elif header_digest:
            self._check_digest(header_digest, actual, what)
            digest = header_digest
        else:
            digest = actual
        media_type = self._manifest_media_type(raw, content_type, what)
        if self.cache is not None:
            self.cache.put(digest, raw)
        return Manifest(raw=raw, media_type=media_type, digest=digest)

    def _head_or_get(self, ep: _Endpoint, repo: Repository, reference: str) -> Descriptor:
        found = self._head(ep, repo, reference)
        if found is None:
            manifest = self._fetch_manifest(ep, repo, reference)
            found = Descriptor(manifest.media_type, manifest.digest, len(manifest.raw))
        if self.cache is not None and not _is_digest(reference):
            self.cache.remember_tag(f"{repo}:{reference}", found)
        return found

    def _head(self, ep: _Endpoint, repo: Repository, reference: str) -> Descriptor | None:
        """HEAD a manifest; None when the registry does not name its digest."""
        what = f"manifest {repo}{'@' if _is_digest(reference) else ':'}{reference}"
        url = f"{ep.base}/v2/{repo.path}/manifests/{reference}"
        scopes = self._scopes(repo)

        def attempt() -> Descriptor | None:
            headers = self._manifest_headers
            resp = self._authorized(ep, "manifest_head", "HEAD", url, scopes, headers, what)
            with resp:
                if resp.status in _REDIRECT_STATUSES or resp.status in (405, 501):
                    return None  # redirected or HEAD unsupported: a GET handles both
                if not 200 <= resp.status < 300:
                    raise self._error_from_response(resp, what, ep)
                digest = resp.headers.get("Docker-Content-Digest")
                if not digest:
                    return None
                try:
                    split_digest(digest)
                except InvalidInputError:
                    raise RegistryError(
                        f"{what}: {ep.host} sent a malformed Docker-Content-Digest",
                        status=resp.status,
                        source=what,
                    ) from None
                if _is_digest(reference) and digest != reference:
                    raise DigestMismatchError(
                        f"{what}: the registry reports digest {digest}",
                        expected=reference,
                        actual=digest,
                        source=what,
                    )
                length = resp.headers.get("Content-Length", "0")
                return Descriptor(
                    media_type=_media_type(resp.headers.get("Content-Type")),
                    digest=digest,
                    size=int(length) if length.isdigit() else 0,
                )

        return self._retrying(attempt, idempotent=True)

    def _manifest_media_type(self, raw: bytes, content_type: str | None, what: str) -> str:
        """The manifest's media type: its own ``mediaType``, else the header, else its shape.

        The body wins because the digest covers it (the header does not), and because
        cached manifests have no header: both paths must agree.
        """
        try:
            doc = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise InvalidInputError(f"{what} is not valid JSON", source=what) from None
        if not isinstance(doc, dict):
            raise InvalidInputError(f"{what} is not a JSON object", source=what)
        declared = doc.get("mediaType")
        header = _media_type(content_type)
        if isinstance(declared, str) and declared:
            media_type = declared
        elif header in MEDIA_TYPES_MANIFEST:
            media_type = header
        elif isinstance(doc.get("manifests"), list):
            media_type = MEDIA_TYPE_OCI_INDEX
        elif isinstance(doc.get("config"), dict) and isinstance(doc.get("layers"), list):
            # (an image config also has a "config" object, but never "layers")
            media_type = MEDIA_TYPE_OCI_MANIFEST
        elif header:
            media_type = header
        else:
            raise InvalidInputError(f"{what} is neither a manifest nor an index", source=what)
        if media_type not in MEDIA_TYPES_MANIFEST:
            raise InvalidInputError(
                f"{what} has unsupported media type {_clean(media_type, 100)!r}", source=what
            )
        return media_type

    # --- blobs -----------------------------------------------------------------------

    def _fetch_blob(self, ep: _Endpoint, repo: Repository, digest: str, max_bytes: int) -> bytes:
        what = f"blob {repo}@{digest}"
        url = f"{ep.base}/v2/{repo.path}/blobs/{digest}"
        scopes = self._scopes(repo)

        def attempt() -> tuple[bytes, str]:
            resp = self._get(ep, "blob", url, scopes, self._base_headers, what)
            with resp:
                if not 200 <= resp.status < 300:
                    raise self._error_from_response(resp, what, ep)
                return self._read_body(resp, max_bytes, what, digest)

        data, actual = self._retrying(attempt, idempotent=True)
        self._check_digest(digest, actual, what)
        return data

    # --- referrers -------------------------------------------------------------------

    def _referrers_api(
        self, ep: _Endpoint, repo: Repository, digest: str, artifact_type: str | None
    ) -> list[Descriptor] | None:
        """The referrers API's answer (all pages), or None when the registry lacks it."""
        what = f"referrers of {repo}@{digest}"
        url = f"{ep.base}/v2/{repo.path}/referrers/{digest}"
        if artifact_type:
            url += "?" + urllib.parse.urlencode({"artifactType": artifact_type})
        scopes = self._scopes(repo)
        found: list[Descriptor] = []
        seen_urls = {url}
        for page in range(_MAX_REFERRER_PAGES):

            def attempt(page_url: str = url) -> tuple[int, Mapping[str, str], bytes]:
                headers = self._referrers_headers
                resp = self._get(ep, "referrers", page_url, scopes, headers, what)
                with resp:
                    if resp.status in (400, 404, 405):
                        body = self._read_error_body(resp)
                        return resp.status, resp.headers, body
                    if not 200 <= resp.status < 300:
                        raise self._error_from_response(resp, what, ep)
                    raw, _ = self._read_body(resp, self.max_manifest_bytes, what, "sha256:")
                    return resp.status, resp.headers, raw

            status, headers, body = self._retrying(attempt, idempotent=True)
            if status in (400, 404, 405):
                if page > 0:
                    raise RegistryError(
                        f"{what}: {ep.host} failed on a later page (HTTP {status})", status=status
                    )
                codes, _ = self._error_details(body, headers.get("Content-Type"))
                if status in (404, 405) and not codes:
                    # A route the registry does not have (distribution 2.8: plain-text
                    # "404 page not found"): remember, and use the tag from now on.
                    with self._lock:
                        self._no_referrers_api.add(ep.base)
                    _log.debug("%s has no referrers API; using the referrers tag", ep.host)
                return None
            found.extend(self._parse_index(body, what))
            next_url = self._next_link(headers.get("Link"), url, ep)
            if next_url is None or next_url in seen_urls:
                break
            seen_urls.add(next_url)
            url = next_url
        return found

    def _referrers_from_tag(self, ep: _Endpoint, repo: Repository, digest: str) -> list[Descriptor]:
        tag = referrers_tag(digest)
        try:
            index = self._fetch_manifest(ep, repo, tag)
        except NotFoundError:
            return []
        what = f"referrers tag {repo}:{tag}"
        if index.media_type != MEDIA_TYPE_OCI_INDEX:
            raise InvalidInputError(
                f"{what} holds {index.media_type}, not an OCI image index", source=what
            )
        return self._parse_index(index.raw, what)

    @staticmethod
    def _parse_index(raw: bytes, what: str) -> list[Descriptor]:
        """The descriptors of an index-shaped document, each checked for shape."""
        try:
            doc = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise InvalidInputError(
                f"{what}: the response is not valid JSON", source=what
            ) from None
        if not isinstance(doc, dict):
            raise InvalidInputError(f"{what}: the response is not a JSON object", source=what)
        entries = doc.get("manifests")
        if entries is None:
            return []
        if not isinstance(entries, list):
            raise InvalidInputError(f"{what}: 'manifests' is not a list", source=what)
        result = []
        for i, entry in enumerate(entries):
            bad = f"{what}: manifests[{i}] is not a valid descriptor"
            if not isinstance(entry, dict):
                raise InvalidInputError(bad, source=what)
            digest, size = entry.get("digest"), entry.get("size")
            media_type = entry.get("mediaType")
            annotations = entry.get("annotations") or {}
            if (
                not isinstance(digest, str)
                or not isinstance(media_type, str)
                or not isinstance(size, int)
                or isinstance(size, bool)
                or size < 0
                or not isinstance(entry.get("artifactType", ""), str)
                or not isinstance(annotations, dict)
                or not all(isinstance(v, str) for v in annotations.values())
            ):
                raise InvalidInputError(bad, source=what)
            try:
                split_digest(digest)
            except InvalidInputError:
                raise InvalidInputError(bad, source=what) from None
            result.append(Descriptor.from_json(entry))
        return result

    @staticmethod
    def _next_link(link: str | None, current: str, ep: _Endpoint) -> str | None:
        """The ``rel="next"`` target of a Link header, if it stays on the registry."""
        if not link:
            return None
        for part in link.split(","):
            target, _, params = part.partition(";")
            if 'rel="next"' not in params.replace(" ", "") and "rel=next" not in params:
                continue
            target = target.strip()
            if target.startswith("<") and target.endswith(">"):
                try:
                    absolute = urllib.parse.urljoin(current, target[1:-1])
                except ValueError:  # a malformed link (bad IPv6 literal…): no next page
                    return None
                if absolute.startswith(ep.base + "/"):
                    return absolute
        return None

    # --- HTTP: auth, redirects, retries ----------------------------------------------

    @staticmethod
    def _scopes(repo: Repository, *, push: bool = False) -> tuple[str, ...]:
        return (f"repository:{repo.path}:{'pull,push' if push else 'pull'}",)

    def _get(
        self,
        ep: _Endpoint,
        kind: str,
        url: str,
        scopes: tuple[str, ...],
        headers: Mapping[str, str],
        what: str,
    ) -> _Response:
        """An authorised GET that follows up to MAX_REDIRECTS redirects, without auth."""
        resp = self._authorized(ep, kind, "GET", url, scopes, headers, what)
        hops = 0
        while resp.status in _REDIRECT_STATUSES:
            location = resp.headers.get("Location")
            _release(resp)
            if not location:
                raise RegistryError(
                    f"{what}: redirect without a Location", status=resp.status, source=what
                )
            try:
                target = urllib.parse.urljoin(url, location)
                scheme = urllib.parse.urlsplit(target).scheme
            except ValueError as exc:  # such as "Invalid IPv6 URL": not transient
                host = urllib.parse.urlsplit(url).netloc
                raise NetworkError(
                    f"{what}: cannot send the request to {host}: {type(exc).__name__}",
                    source=what,
                ) from None
            if hops >= MAX_REDIRECTS:
                raise RegistryError(
                    f"{what}: more than {MAX_REDIRECTS} redirects",
                    status=resp.status,
                    source=what,
                )
            url = target
            if scheme not in ("http", "https"):
                raise RegistryError(
                    f"{what}: redirect to an unsupported URL scheme",
                    status=resp.status,
                    source=what,
                )
            hops += 1
            # Blob storage gets no Authorization, even on the registry's own host: the
            # token is for the registry API, and storage URLs carry their own signature.
            resp = self._exchange(kind, "GET", url, headers, what)
        return resp

    def _authorized(
        self,
        ep: _Endpoint,
        kind: str,
        method: str,
        url: str,
        scopes: tuple[str, ...],
        headers: Mapping[str, str],
        what: str,
        *,
        data: bytes | None = None,
    ) -> _Response:
        """Send with what the registry asked for; on a 401 authenticate and re-send once.

        ``headers`` are complete (one of the client's prepared sets, or a copy of one).
        """
        same_origin = url.startswith(ep.base + "/")
        sent = self._auth_header(ep, scopes, what) if same_origin else None
        request_headers = {**headers, "Authorization": sent} if sent else headers
        resp = self._exchange(kind, method, url, request_headers, what, data=data)
        if resp.status != 401 or not same_origin:
            return resp
        challenge = resp.headers.get("WWW-Authenticate", "")
        _release(resp)
        header = self._auth_after_challenge(ep, scopes, challenge, sent, what)
        request_headers = {**headers, "Authorization": header}
        resp = self._exchange(kind, method, url, request_headers, what, data=data)
        if resp.status == 401:
            _release(resp)
            used = "token" if header.startswith("Bearer ") else "credentials"
            if self.credentials.get(ep.name) is None:
                hint = (
                    "the repository may not exist, or needs credentials and none are "
                    f"configured for {ep.name}"
                )
            else:
                hint = "check the credentials and their permissions"
            raise RegistryError(
                f"{what}: authentication failed: {ep.host} rejected the {used} ({hint})",
                status=401,
                source=what,
            )
        return resp

    def _auth_header(self, ep: _Endpoint, scopes: tuple[str, ...], what: str) -> str | None:
        """Authorization to send up front, once a challenge from this host is known."""
        with self._lock:
            challenge = self._challenges.get(ep.base)
        if challenge is None:
            return None
        if challenge.scheme == "basic":
            return self._basic_for(ep)
        return self._bearer_for(ep, challenge, scopes, what, stale=None)

    def _auth_after_challenge(
        self, ep: _Endpoint, scopes: tuple[str, ...], value: str, sent: str | None, what: str
    ) -> str:
        challenges = {c.scheme: c for c in _parse_challenges(value)}
        chosen = challenges.get("bearer") or challenges.get("basic")
        if chosen is None:
            offered = ", ".join(sorted(challenges)) or "none"
            raise RegistryError(
                f"{what}: {ep.host} requires authentication with an unsupported scheme "
                f"({_clean(offered, 60)})",
                status=401,
                source=what,
            )
        with self._lock:
            self._challenges[ep.base] = chosen
        if chosen.scheme == "basic":
            if sent is not None and sent.startswith("Basic "):
                raise RegistryError(
                    f"{what}: authentication failed: {ep.host} rejected the credentials "
                    f"for {ep.name}",
                    status=401,
                    source=what,
                )
            header = self._basic_for(ep)
            if header is None:
                raise RegistryError(
                    f"{what}: {ep.host} requires authentication and no credentials are "
                    f"configured for {ep.name}",
                    status=401,
                    source=what,
                )
            return header
        wanted = _merge_scopes(scopes, chosen.params.get("scope", "").split())
        return self._bearer_for(ep, chosen, wanted, what, stale=sent)

    def _basic_for(self, ep: _Endpoint) -> str | None:
        credentials = self.credentials.get(ep.name)
        if credentials is None or not credentials.has_password:
            return None
        if ep.scheme != "https" and not ep.plain_http_ok:  # pragma: no cover - defence
            _log.debug("not sending credentials for %s over plain HTTP", ep.name)
            return None
        return _basic_header(credentials)

    def _bearer_for(
        self,
        ep: _Endpoint,
        challenge: _Challenge,
        scopes: tuple[str, ...],
        what: str,
        *,
        stale: str | None,
    ) -> str:
        """A cached token for (host, scopes), or a new one; one fetch per key at a time."""
        key = (ep.base, " ".join(sorted(scopes)))
        with self._lock:
            lock = self._token_locks.setdefault(key, threading.Lock())
        with lock:
            with self._lock:
                token = self._tokens.get(key)
            if token is not None and token.expires_at > time.monotonic() and token.header != stale:
                return token.header
            token = self._fetch_token(ep, challenge, scopes, what)
            with self._lock:
                self._tokens[key] = token
            return token.header

    def _fetch_token(
        self, ep: _Endpoint, challenge: _Challenge, scopes: tuple[str, ...], what: str
    ) -> _Token:
        """Ask the realm for a token: OAuth2 refresh (identity token), Basic, or anonymous."""
        realm = challenge.params.get("realm", "")
        parts = urllib.parse.urlsplit(realm)
        if parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
            raise RegistryError(
                f"{what}: {ep.host} named an unusable token realm", status=401, source=what
            )
        service = challenge.params.get("service")
        credentials = self.credentials.get(ep.name)
        may_send = (
            parts.scheme == "https"
            or _is_loopback(parts.netloc)
            or self._normalise_host(parts.netloc) in self._insecure
            or _host_without_port(parts.netloc).lower() in self._insecure
        )
        withheld = credentials is not None and not may_send
        if withheld:
            _log.warning(
                "not sending credentials for %s to token realm %s over plain HTTP",
                ep.name,
                parts.netloc,
            )
            credentials = None
        kind = "token"
        if credentials is not None and credentials.identity_token:
            form = {
                "grant_type": "refresh_token",
                "refresh_token": credentials.identity_token,
                "client_id": "buildsig",
                "scope": " ".join(scopes),
            }
            if service:
                form["service"] = service
            secrets = [credentials.identity_token]

            def post() -> tuple[int, Mapping[str, str], bytes]:
                resp = self._exchange(
                    kind,
                    "POST",
                    realm,
                    {**self._base_headers, "Content-Type": "application/x-www-form-urlencoded"},
                    what,
                    data=urllib.parse.urlencode(form).encode(),
                    secrets=secrets,
                )
                return self._read_token_response(resp, what)

            status, headers, body = self._retrying(post, idempotent=False)
        else:
            query = [("service", service)] if service else []
            query += [("scope", s) for s in scopes]
            url = realm
            if query:
                url += ("&" if parts.query else "?") + urllib.parse.urlencode(query)
            headers_out = dict(self._base_headers)
            if credentials is not None and credentials.has_password:
                headers_out["Authorization"] = _basic_header(credentials)
            secrets = _secrets_in(headers_out.get("Authorization"))

            def get() -> tuple[int, Mapping[str, str], bytes]:
                resp = self._exchange(kind, "GET", url, headers_out, what, secrets=secrets)
                return self._read_token_response(resp, what)

            status, headers, body = self._retrying(get, idempotent=True)

        if status in (401, 403):
            who = "the configured credentials" if credentials is not None else "anonymous access"
            note = " (credentials withheld: the token realm uses plain HTTP)" if withheld else ""
            raise RegistryError(
                f"{what}: authentication failed: token service {parts.netloc} refused {who} "
                f"for {ep.name}{note}",
                status=401,
                source=what,
            )
        if not 200 <= status < 300:
            _, detail = self._error_details(body, headers.get("Content-Type"), secrets)
            raise RegistryError(
                f"{what}: token service {parts.netloc} answered HTTP {status}"
                + (f": {detail}" if detail else ""),
                status=status,
                source=what,
            )
        try:
            doc = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            doc = None
        value = None
        lifetime: Any = None
        if isinstance(doc, dict):
            value = doc.get("token") or doc.get("access_token")
            lifetime = doc.get("expires_in")
        if not isinstance(value, str) or not value or not value.isprintable() or " " in value:
            raise RegistryError(
                f"{what}: token service {parts.netloc} returned no usable token",
                status=status,
                source=what,
            )
        if not isinstance(lifetime, int | float) or isinstance(lifetime, bool) or lifetime <= 0:
            lifetime = _DEFAULT_TOKEN_LIFETIME
        # Renew a little early so a token does not expire between check and use.
        margin = min(5.0, float(lifetime) * 0.1)
        return _Token(header=f"Bearer {value}", expires_at=time.monotonic() + lifetime - margin)

    def _read_token_response(
        self, resp: _Response, what: str
    ) -> tuple[int, Mapping[str, str], bytes]:
        with resp:
            if resp.status == 200:
                body, _ = self._read_body(resp, _MAX_TOKEN_RESPONSE, f"token for {what}", "sha256:")
            else:
                body = self._read_error_body(resp)
            return resp.status, resp.headers, body

    def _exchange(
        self,
        kind: str,
        method: str,
        url: str,
        headers: Mapping[str, str],
        what: str,
        *,
        data: bytes | None = None,
        secrets: Sequence[str] = (),
    ) -> _Response:
        """One HTTP request. Transport errors, 429 and 5xx raise _Retry; others return.

        ``headers`` are sent as they are: callers start from ``self._base_headers``.
        """
        self.stats.record(kind)
        origin = _origin(url)
        try:
            route = self._routes.get(origin)
            if route is None:
                route = self._route(url, origin)
            raw = None
            pool = route.pool
            target = url[len(origin) :]
            if pool is not None and "/." not in target and _PLAIN_TARGET.fullmatch(target):
                # What PoolManager.urlopen would do, minus parsing the URL again (our
                # own URLs, already in normal form: anything else takes the long way).
                try:
                    raw = pool.urlopen(
                        method,
                        target,
                        body=data,
                        headers=headers,
                        redirect=False,
                        retries=False,
                        assert_same_host=False,
                        timeout=self._timeout,
                        preload_content=False,
                        decode_content=True,
                    )
                except _closed_pool_error():  # dropped by the manager (LRU): nothing sent
                    with self._lock:
                        self._routes.pop(origin, None)
            if raw is None:
                raw = route.manager.urlopen(
                    method,
                    url,
                    body=data,
                    headers=headers,
                    redirect=False,
                    retries=False,
                    timeout=self._timeout,
                    preload_content=False,
                    decode_content=True,
                )
        except (ValueError, OSError, http.client.HTTPException, _urllib3_error()) as exc:
            raise self._transport_error(exc, url, what) from None
        resp = _Response(raw, method, url, headers.get("Authorization"))
        status = resp.status
        if status == 429 or (status >= 500 and status != 501):
            error = self._error_from_response(resp, what, None, secrets=secrets)
            raise _Retry(error, parse_retry_after(resp.headers.get("Retry-After")))
        return resp

    def _transport_error(self, exc: Exception, url: str, what: str) -> NetworkError | _Retry:
        """What a failure to send and get an answer becomes (_Retry when transient)."""
        import urllib3.exceptions

        try:
            host = urllib.parse.urlsplit(url).netloc
        except ValueError:
            host = _clean(url, 100)
        if isinstance(exc, urllib3.exceptions.TimeoutError) and not isinstance(
            exc, urllib3.exceptions.NewConnectionError
        ):
            return _Retry(
                NetworkTimeoutError(
                    f"{what}: no answer from {host} within {self.timeout:g} s", source=what
                )
            )
        if isinstance(exc, ValueError):  # a URL or header that cannot be sent: not transient
            return NetworkError(
                f"{what}: cannot send the request to {host}: {type(exc).__name__}", source=what
            )
        return _Retry(
            NetworkError(f"{what}: cannot reach {host}: {self._reason(exc)}", source=what)
        )

    def _route(self, url: str, origin: str) -> _Route:
        """How to reach ``url``'s scheme and host: directly, or the proxy named for it."""
        proxy = environ_proxy(url)
        if proxy is None:
            route = _Route(self._pool, self._pool.connection_from_url(url))
        else:
            route = _Route(self._proxy_manager(proxy), None)
        with self._lock:
            # As many as the manager keeps pools: a pool the manager has let go must not
            # be kept alive here (redirect hosts are the server's choice).
            if len(self._routes) >= _MAX_POOLS:
                self._routes.clear()
            self._routes[origin] = route
        return route

    def _proxy_manager(self, proxy: str) -> urllib3.PoolManager:
        """One pool manager per proxy URL (see ``proxy_pool_manager``)."""
        with self._lock:
            manager = self._proxy_pools.get(proxy)
            if manager is None:
                manager = self._proxy_pools[proxy] = proxy_pool_manager(proxy, self._pool_kw)
            return manager

    def _retrying(self, attempt: Callable[[], _T], *, idempotent: bool) -> _T:
        """Run ``attempt``; on _Retry sleep (backoff, jitter, Retry-After) and run again."""
        budget = self.max_retry_wait
        tries = 0
        while True:
            try:
                return attempt()
            except _Retry as failure:
                error = failure.error
                if not idempotent or tries >= self.retries:
                    raise error from None
                if failure.retry_after is not None:
                    if failure.retry_after > budget:
                        raise error from None
                    delay = failure.retry_after + random.uniform(0.0, 0.1)  # noqa: S311
                else:
                    ceiling = min(_BACKOFF_CAP, _BACKOFF_BASE * 2**tries)
                    delay = random.uniform(ceiling / 2, ceiling)  # noqa: S311
                delay = min(delay, budget)
                _log.debug("retrying after %.2f s: %s", delay, error.message)
                time.sleep(delay)
                budget -= delay
                tries += 1

    # --- bodies and errors -----------------------------------------------------------

    def _read_body(
        self, resp: _Response, max_bytes: int, what: str, digest: str
    ) -> tuple[bytes, str]:
        """Stream the body, hashing as it comes, stopping beyond ``max_bytes``.

        Returns the bytes and their digest in ``digest``'s algorithm (sha256 when
        ``digest`` is just an algorithm prefix or unusable).
        """
        algorithm = digest.partition(":")[0]
        new_hasher = _HASHERS.get(algorithm)
        if new_hasher is None:
            algorithm, new_hasher = "sha256", hashlib.sha256
        hasher = new_hasher()
        declared = resp.headers.get("Content-Length", "")
        if (
            declared.isdigit()
            and int(declared) > max_bytes
            and _media_type(resp.headers.get("Content-Encoding")) in ("", "identity")
        ):
            raise InvalidInputError(
                f"{what} is larger than {max_bytes} bytes ({declared} announced)", source=what
            )
        chunks: list[bytes] = []
        total = 0
        try:
            for chunk in resp.raw.stream(_CHUNK, decode_content=True):
                total += len(chunk)
                if total > max_bytes:
                    raise InvalidInputError(f"{what} is larger than {max_bytes} bytes", source=what)
                hasher.update(chunk)
                chunks.append(chunk)
        except (_urllib3_error(), http.client.HTTPException, OSError) as exc:
            host = urllib.parse.urlsplit(resp.url).netloc
            if self._is_timeout(exc):
                raise _Retry(
                    NetworkTimeoutError(
                        f"{what}: {host} stopped sending for {self.timeout:g} s", source=what
                    )
                ) from None
            raise _Retry(
                NetworkError(
                    f"{what}: the transfer from {host} broke off: {self._reason(exc)}",
                    source=what,
                )
            ) from None
        return b"".join(chunks), f"{algorithm}:{hasher.hexdigest()}"

    @staticmethod
    def _read_error_body(resp: _Response) -> bytes:
        """Up to 64 KiB of an error body; transport trouble here just means no details."""
        chunks: list[bytes] = []
        total = 0
        try:
            for chunk in resp.raw.stream(_CHUNK, decode_content=True):
                chunks.append(chunk)
                total += len(chunk)
                if total >= _MAX_ERROR_BODY:
                    break
        except Exception as exc:  # the status line already says what matters
            _log.debug("could not read an error body: %s", type(exc).__name__)
        finally:
            _release(resp)
        return b"".join(chunks)[:_MAX_ERROR_BODY]

    @staticmethod
    def _error_details(
        body: bytes, content_type: str | None, secrets: Sequence[str] = ()
    ) -> tuple[set[str], str]:
        """Error codes and a one-line summary of an error body of any kind."""
        text = body.decode("utf-8", "replace")
        kind = _media_type(content_type)
        stripped = text.lstrip()
        if kind.endswith("json") or stripped.startswith("{"):
            try:
                doc = json.loads(text)
            except ValueError:
                return set(), "malformed JSON error body"
            errors = doc.get("errors") if isinstance(doc, dict) else None
            if isinstance(errors, list) and errors:
                codes: set[str] = set()
                parts = []
                for entry in errors[:3]:
                    if not isinstance(entry, dict):
                        continue
                    code = str(entry.get("code", "")).upper()
                    message = str(entry.get("message", ""))
                    if code:
                        codes.add(_clean(code, 40))
                    parts.append(": ".join(p for p in (code, message) if p))
                return codes, _clean(_redact("; ".join(parts), secrets))
            if isinstance(doc, dict) and isinstance(doc.get("details") or doc.get("error"), str):
                return set(), _clean(_redact(str(doc.get("details") or doc.get("error")), secrets))
            return set(), "JSON error body without an 'errors' list"
        if kind == "text/html" or stripped[:15].lower().startswith(("<!doctype", "<html")):
            title = _TITLE_RE.search(body)
            if title:
                name = re.sub(r"<[^>]*>", "", title.group(1).decode("utf-8", "replace"))
                return set(), "HTML error page: " + _clean(_redact(name, secrets), 100)
            return set(), "HTML error page"
        first = stripped.splitlines()[0] if stripped else ""
        return set(), _clean(_redact(first, secrets), 120)

    def _error_from_response(
        self,
        resp: _Response,
        what: str,
        ep: _Endpoint | None,
        *,
        secrets: Sequence[str] = (),
    ) -> BuildsigError:
        """The BuildsigError for a non-success answer; reads a bounded body and closes."""
        status = resp.status
        headers = resp.headers
        # Servers sometimes echo the request back; whatever we sent must not come back out.
        secrets = [*secrets, *_secrets_in(resp.authorization)]
        if resp.method == "HEAD":
            body = b""
            _release(resp)
        else:
            body = self._read_error_body(resp)
        codes, detail = self._error_details(body, headers.get("Content-Type"), secrets)
        host = ep.host if ep is not None else urllib.parse.urlsplit(resp.url).netloc
        suffix = f" ({detail})" if detail else ""
        if status == 429 or "TOOMANYREQUESTS" in codes:
            retry_after = parse_retry_after(headers.get("Retry-After"))
            wait = f", retry after {retry_after:g} s" if retry_after is not None else ""
            return RateLimitedError(
                f"{what}: rate limited by {host}{wait}{suffix}",
                retry_after=retry_after,
                status=status,
                source=what,
            )
        if codes & _NOT_FOUND_CODES or (status == 404 and not codes):
            return NotFoundError(f"{what} not found{suffix}", source=what)
        if status == 401:
            return RegistryError(
                f"{what}: authentication required by {host}{suffix}", status=status, source=what
            )
        if status == 403:
            return RegistryError(
                f"{what}: access denied by {host}{suffix}", status=status, source=what
            )
        reason = _clean(resp.raw.reason or "", 60) if not detail else ""
        return RegistryError(
            f"{what}: {host} answered HTTP {status}{' ' + reason if reason else ''}{suffix}",
            status=status,
            source=what,
        )

    @staticmethod
    def _is_timeout(exc: BaseException) -> bool:
        import urllib3.exceptions

        seen: set[int] = set()
        current: BaseException | None = exc
        while current is not None and id(current) not in seen:
            seen.add(id(current))
            if isinstance(current, urllib3.exceptions.TimeoutError | TimeoutError):
                return True
            nested = [a for a in getattr(current, "args", ()) if isinstance(a, BaseException)]
            current = nested[0] if nested else (current.__cause__ or current.__context__)
        return False

    @staticmethod
    def _reason(exc: BaseException) -> str:
        """A short cause such as "Connection refused", without URLs or object reprs."""
        text = str(exc)
        match = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
        if match:
            return _clean(match.group(1), 80)
        for marker in (
            "Connection refused",
            "Connection reset",
            "Name or service not known",
            "Remote end closed connection",
            "IncompleteRead",
            "certificate verify failed",
        ):
            if marker.lower() in text.lower():
                return marker
        return type(exc).__name__

    @staticmethod
    def _check_digest(expected: str, actual: str, what: str) -> None:
        if expected != actual:
            raise DigestMismatchError(
                f"{what}: content hashes to {actual}, not {expected}",
                expected=expected,
                actual=actual,
                source=what,
            )

    @staticmethod
    def _check_pushed_digest(reported: str | None, digest: str, what: str) -> None:
        if reported and reported != digest:
            raise DigestMismatchError(
                f"{what}: the registry stored it as {_clean(reported, 140)}",
                expected=digest,
                actual=_clean(reported, 140),
                source=what,
            )

    @staticmethod
    def _with_query(url: str, **params: str) -> str:
        parts = urllib.parse.urlsplit(url)
        query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        query += list(params.items())
        return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))

    # --- endpoints and names ---------------------------------------------------------

    def _pull(self, repo: Repository, operation: Callable[[_Endpoint], _T]) -> _T:
        """Run a read against each mirror in turn, then against the registry itself."""
        endpoints = self._endpoints(repo.registry)
        for mirror in endpoints[:-1]:
            try:
                return operation(mirror)
            except PolicyConfigError:
                raise
            except BuildsigError as exc:
                _log.info("mirror %s failed for %s (%s); trying the next", mirror.host, repo, exc)
        return operation(endpoints[-1])

    def _endpoints(self, registry: str) -> tuple[_Endpoint, ...]:
        found = self._endpoints_cache.get(registry)
        if found is None:
            key = "docker.io" if registry in _DOCKER_HUB_NAMES else registry.lower()
            found = (*self._mirrors.get(key, ()), self._endpoint(registry))
            self._remember(self._endpoints_cache, registry, found)
        return found

    def _endpoint(self, registry: str) -> _Endpoint:
        """Scheme and host for a registry name: Docker Hub's API host, HTTP for loopback."""
        found = self._endpoint_cache.get(registry)
        if found is None:
            found = self._new_endpoint(registry)
            self._remember(self._endpoint_cache, registry, found)
        return found

    def _remember(self, cache: dict[str, _V], key: str, value: _V) -> None:
        """Keep a derived value, within a bound (names come from callers' references)."""
        with self._lock:
            if len(cache) >= 1024:
                cache.clear()
            cache[key] = value

    def _new_endpoint(self, registry: str) -> _Endpoint:
        if registry in _DOCKER_HUB_NAMES:
            return _Endpoint("docker.io", "https", _DOCKER_HUB_API, plain_http_ok=False)
        name = registry.lower()
        plain = _is_loopback(name) or self._is_insecure(name)
        return _Endpoint(name, "http" if plain else "https", name, plain_http_ok=plain)

    def _is_insecure(self, netloc: str) -> bool:
        netloc = self._normalise_host(netloc)
        return netloc in self._insecure or _host_without_port(netloc) in self._insecure

    def _mirror_endpoint(self, entry: str) -> _Endpoint:
        text = entry.strip()
        scheme = ""
        for prefix in ("https://", "http://"):
            if text.lower().startswith(prefix):
                scheme, text = prefix[:-3], text[len(prefix) :]
        text = text.rstrip("/")
        if not _REGISTRY_RE.fullmatch(text):
            raise PolicyConfigError(
                f"mirror {entry!r} is not a host[:port] (paths are not supported)", source=entry
            )
        name = text.lower()
        plain = _is_loopback(name) or self._is_insecure(name)
        if scheme == "http" and not plain:
            raise PolicyConfigError(
                f"mirror {entry!r} uses plain HTTP but is neither loopback nor listed in "
                "insecure_registries",
                source=entry,
            )
        if scheme == "https":
            plain = False
        return _Endpoint(name, "http" if plain else "https", name, plain_http_ok=plain)

    @staticmethod
    def _normalise_host(value: str) -> str:
        text = value.strip().lower()
        for prefix in ("https://", "http://"):
            if text.startswith(prefix):
                text = text[len(prefix) :]
        return text.split("/", 1)[0]

    @staticmethod
    def _check_repository(repo: Repository) -> None:
        if not _REGISTRY_RE.fullmatch(repo.registry):
            raise InvalidReferenceError(
                f"invalid registry name {_clean(repo.registry, 100)!r}", source=str(repo)[:200]
            )
        if not _PATH_RE.fullmatch(repo.path) or len(repo.path) > 255:
            raise InvalidReferenceError(
                f"invalid repository path {_clean(repo.path, 100)!r}", source=str(repo)[:200]
            )

    @staticmethod
    def _check_tag(tag: str) -> None:
        if not _TAG_RE.fullmatch(tag):
            raise InvalidReferenceError(f"invalid tag {_clean(tag, 140)!r}", source=tag[:200])

"""Resolve an HTTP source's content checksum, as BuildKit does for ``ADD <url>``.

``input.http.checksum`` is the digest of the downloaded bytes. BuildKit learns it by
downloading the file; so does buildsig, streaming the body through the hash (nothing is
kept in memory or written to disk) within a size cap and a deadline. When the source
carries an expected checksum (``ADD --checksum=…``, attribute ``http.checksum``) the
download must match it, as BuildKit requires.

``verify_http_pgp_signature`` needs one more digest: the hash of the content followed by
the OpenPGP signature's trailer (:class:`ChecksumRequest`), so a detached signature can be
checked without ever holding the file. Both digests come from the same download.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable

from buildsig.errors import DigestMismatchError, InvalidInputError
from buildsig.http.client import HTTPClient, display_url
from buildsig.model import ChecksumResponse, Input
from buildsig.source import Source

__all__ = [
    "ATTR_HTTP_CHECKSUM",
    "MAX_DOWNLOAD_BYTES",
    "ChecksumRequest",
    "resolve_http_checksum",
]

#: BuildKit's source attribute for the checksum an ``ADD --checksum`` expects.
ATTR_HTTP_CHECKSUM = "http.checksum"
#: Largest download hashed (streamed: this bounds time and traffic, not memory).
MAX_DOWNLOAD_BYTES = 8 * 1024 * 1024 * 1024
MAX_SUFFIX_BYTES = 4096  # Buildx's cap on a checksum request's suffix
_ALGORITHMS = ("sha256", "sha384", "sha512")


@dataclasses.dataclass(frozen=True, slots=True)
class ChecksumRequest:
    """A digest of ``content || suffix`` wanted alongside the plain checksum."""

    algorithm: str  # sha256, sha384 or sha512
    suffix: bytes

    def __post_init__(self) -> None:
        if self.algorithm not in _ALGORITHMS:
            raise InvalidInputError(f"unsupported checksum algorithm {self.algorithm!r}")
        if len(self.suffix) > MAX_SUFFIX_BYTES:
            raise InvalidInputError(f"checksum suffix is longer than {MAX_SUFFIX_BYTES} bytes")


class _Digests:
    """The hashes one download feeds: the content's, and content-then-suffix's if asked."""

    def __init__(self, request: ChecksumRequest | None) -> None:
        self.content = hashlib.sha256()
        self.extra = hashlib.new(request.algorithm) if request is not None else None

    def feed(self, chunk: bytes) -> None:
        self.content.update(chunk)
        if self.extra is not None:
            self.extra.update(chunk)


def resolve_http_checksum(
    source: Source,
    inp: Input,
    *,
    client: HTTPClient,
    request: ChecksumRequest | None = None,
    max_bytes: int = MAX_DOWNLOAD_BYTES,
    deadline: float = 600.0,
) -> Input:
    """The input with ``http.checksum`` (and, if asked, the checksum response) filled in.

    Raises DigestMismatchError when the source pins a different checksum, and
    InvalidInputError for sources buildsig cannot download as BuildKit would (one that
    needs the build's auth-header secret).
    """
    http = inp.http
    if http is None:
        raise InvalidInputError("not an HTTP input", source=source.identifier)
    shown = display_url(http.url)
    if http.has_auth:
        raise InvalidInputError(
            f"{shown} is downloaded with the build's auth header secret, which buildsig does "
            "not have; its checksum cannot be resolved here",
            source=shown,
        )
    expected = source.attrs.get(ATTR_HTTP_CHECKSUM, "")
    attempts: list[_Digests] = []

    def fresh() -> Callable[[bytes], None]:
        """New hashers per attempt: a retried transfer starts from byte 0 again."""
        attempts.append(_Digests(request))
        return attempts[-1].feed

    # A fragment is not sent; BuildKit downloads the URL without it.
    client.get(http.url.split("#", 1)[0], max_bytes=max_bytes, deadline=deadline, sink=fresh)
    digests = attempts[-1]
    checksum = "sha256:" + digests.content.hexdigest()
    if expected and expected != checksum:
        raise DigestMismatchError(
            f"{shown}: content has checksum {checksum}, the source expects {expected}",
            expected=expected,
            actual=checksum,
            source=shown,
        )
    response = None
    if request is not None and digests.extra is not None:
        digests.extra.update(request.suffix)
        response = ChecksumResponse(
            digest=f"{request.algorithm}:{digests.extra.hexdigest()}", suffix=request.suffix
        )
    resolved = dataclasses.replace(
        http, checksum=checksum, checksum_response=response or http.checksum_response
    )
    unknowns = tuple(u for u in inp.unknowns if u != "http.checksum")
    return dataclasses.replace(inp, http=resolved, unknowns=unknowns)

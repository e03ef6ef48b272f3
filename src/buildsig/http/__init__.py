"""HTTP for policy builtins and HTTP sources: a bounded, retrying, size-capped GET client.

See :mod:`buildsig.http.client` for the rules every request follows.
"""

from buildsig.http.client import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_DEADLINE,
    DEFAULT_MAX_BYTES,
    DEFAULT_READ_TIMEOUT,
    DEFAULT_RETRIES,
    MAX_REDIRECTS,
    MAX_RETRY_AFTER,
    Headers,
    HTTPClient,
    HTTPResponse,
    display_url,
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

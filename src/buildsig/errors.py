"""Every error buildsig raises, grouped by cause.

A caller deciding what to do next needs to know *why* something failed far more than
*where*: bad input should be fixed by whoever wrote it, a missing object is a fact about
the world, a failed verification is a security event, and a network error may go away on
retry. So there is one root, :class:`BuildsigError`, and one family per cause::

    BuildsigError
    ├── InvalidInputError (also ValueError)   the input cannot be parsed or is ill-formed
    │   ├── InvalidSourceError                a source identifier or URL
    │   │   └── UnsupportedSchemeError        a scheme Buildx has no input for (oci-layout, …)
    │   ├── InvalidReferenceError             an image reference or digest
    │   ├── InvalidPlatformError              a platform specifier
    │   ├── InvalidDocumentError              JSON that does not fit the input model
    │   └── UnresolvedFieldError              an input field the operation needs is unknown
    ├── NotFoundError                         what was asked for does not exist
    ├── VerificationError                     a check failed: bad signature, digest mismatch
    │   └── DigestMismatchError
    ├── UntrustedError                        valid, but not by anyone the caller trusts
    ├── NetworkError                          transport trouble; may succeed later
    │   ├── NetworkTimeoutError
    │   ├── HTTPStatusError                   an HTTP server answered with an error status
    │   └── RegistryError                     an OCI registry answered with an error
    │       └── RateLimitedError              429, with the server's Retry-After
    └── PolicyConfigError                     policy or trust configuration is unusable

Verification *outcomes* (a signature that does not verify against a key) are normally
returned as data for the policy to judge; these exceptions are for when buildsig cannot
establish the facts at all.

Every error carries its message plus structured attributes (``source``, and per class
e.g. ``path``, ``expected``/``actual``), survives pickling (so errors cross process
pools intact) and offers :meth:`BuildsigError.diagnostics` for a fuller human report.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BuildsigError",
    "DigestMismatchError",
    "HTTPStatusError",
    "InvalidDocumentError",
    "InvalidInputError",
    "InvalidPlatformError",
    "InvalidReferenceError",
    "InvalidSourceError",
    "NetworkError",
    "NetworkTimeoutError",
    "NotFoundError",
    "PolicyConfigError",
    "RateLimitedError",
    "RegistryError",
    "UnresolvedFieldError",
    "UnsupportedSchemeError",
    "UntrustedError",
    "VerificationError",
]


def _rebuild(cls: type[BuildsigError], message: str, fields: dict[str, Any]) -> BuildsigError:
    """Recreate an error from its message and attributes (the pickle path)."""
    err = cls.__new__(cls)
    Exception.__init__(err, message)
    err.__dict__.update(fields)
    return err


class BuildsigError(Exception):
    """Root of every error buildsig raises on purpose.

    ``message`` is one line meant for a person; ``source`` names the identifier, file or
    URL the error is about, when there is one (credentials are never put here).
    """

    message: str
    source: str | None

    def __init__(self, message: str, *, source: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.source = source

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.message, dict(self.__dict__)))

    def fields(self) -> dict[str, Any]:
        """The structured attributes, without the message (for logs and JSON)."""
        return {k: v for k, v in self.__dict__.items() if k != "message" and v is not None}

    def diagnostics(self) -> str:
        """A multi-line report for humans: the message, then every structured attribute."""
        lines = [f"{type(self).__name__}: {self.message}"]
        lines.extend(f"  {key}: {value}" for key, value in sorted(self.fields().items()))
        return "\n".join(lines)


# --- invalid input -----------------------------------------------------------------------


class InvalidInputError(BuildsigError, ValueError):
    """The input cannot be parsed or is ill-formed; retrying will not help."""


class InvalidSourceError(InvalidInputError):
    """A source identifier (``docker-image://``, ``git://``, a URL …) is malformed."""


class UnsupportedSchemeError(InvalidSourceError):
    """The identifier's scheme has no policy input (Buildx rejects these too)."""

    scheme: str

    def __init__(self, message: str, *, scheme: str, source: str | None = None) -> None:
        super().__init__(message, source=source)
        self.scheme = scheme


class InvalidReferenceError(InvalidInputError):
    """An image reference or a digest does not follow distribution's grammar."""


class InvalidPlatformError(InvalidInputError):
    """A platform specifier such as ``linux/arm64`` cannot be parsed."""


class InvalidDocumentError(InvalidInputError):
    """A JSON document does not fit the model; ``path`` points at the offending value."""

    path: str

    def __init__(self, message: str, *, path: str, source: str | None = None) -> None:
        super().__init__(f"{path}: {message}" if path else message, source=source)
        self.path = path


# --- facts about the world ---------------------------------------------------------------


class UnresolvedFieldError(InvalidInputError):
    """An input field the operation needs is still unknown (``unknown`` names it).

    Buildx turns this into a runtime unknown: the builtin stays undefined until the field
    is resolved (e.g. ``http.checksum`` once BuildKit has downloaded and hashed the file),
    so a policy layer maps this error by its ``unknown`` field, not by its message.
    """

    unknown: str

    def __init__(self, message: str, *, unknown: str, source: str | None = None) -> None:
        super().__init__(message, source=source)
        self.unknown = unknown


class NotFoundError(BuildsigError):
    """What was asked for does not exist: a tag, a ref, a blob, a signature."""


class VerificationError(BuildsigError):
    """A cryptographic or structural check failed on data that was supposed to pass it."""


class DigestMismatchError(VerificationError):
    """Content did not hash to the digest it was fetched or addressed by."""

    expected: str
    actual: str

    def __init__(
        self, message: str, *, expected: str, actual: str, source: str | None = None
    ) -> None:
        super().__init__(message, source=source)
        self.expected = expected
        self.actual = actual


class UntrustedError(BuildsigError):
    """The evidence is valid but was made by no one the caller's trust configuration names."""


# --- transport ---------------------------------------------------------------------------


class NetworkError(BuildsigError):
    """Talking to a remote failed; the same call may succeed later."""


class NetworkTimeoutError(NetworkError):
    """A remote did not answer within the configured time."""


class HTTPStatusError(NetworkError):
    """An HTTP server answered with an error status (after any retries).

    Transport trouble rather than a fact about the content: a 503 or 429 may pass later,
    and a 403 may be a rate limit. ``retry_after`` is the server's ``Retry-After`` in
    seconds, when it sent one. (404 and 410 are NotFoundError.)
    """

    status: int
    retry_after: float | None

    def __init__(
        self,
        message: str,
        *,
        status: int,
        retry_after: float | None = None,
        source: str | None = None,
    ) -> None:
        super().__init__(message, source=source)
        self.status = status
        self.retry_after = retry_after


class RegistryError(NetworkError):
    """An OCI registry answered with an error status."""

    status: int | None

    def __init__(self, message: str, *, status: int | None = None, source: str | None = None):
        super().__init__(message, source=source)
        self.status = status


class RateLimitedError(RegistryError):
    """The registry asked us to slow down (HTTP 429); ``retry_after`` is in seconds."""

    retry_after: float | None

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        status: int | None = 429,
        source: str | None = None,
    ) -> None:
        super().__init__(message, status=status, source=source)
        self.retry_after = retry_after


# --- configuration -----------------------------------------------------------------------


class PolicyConfigError(BuildsigError):
    """A policy, key file or trust configuration cannot be used as given.

    Kept apart from verification failures on purpose: a missing allowed-signers file is a
    configuration mistake, never evidence that an object is unsigned.
    """

"""Image references, parsed exactly the way Buildx sees them.

Buildx hands policies image names after running them through the Go library
``github.com/distribution/reference`` (``ParseNormalizedNamed``): ``alpine`` becomes
``docker.io/library/alpine``, ``index.docker.io`` is folded into ``docker.io``, an
uppercase repository is rejected, and so on. A policy that disagrees with Buildx about
what a name *means* would check the wrong image, so this module reproduces those rules
(grammar, normalisation, error cases and digest validation) rather than approximating
them. The regular expressions below are transcriptions of the Go grammar; they are
always applied with :meth:`re.Pattern.fullmatch`, which is what Go's ``^…$`` means.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from typing import Final

from buildsig.errors import InvalidReferenceError

__all__ = ["ImageReference", "parse_image_reference", "validate_digest"]

# --- grammar (distribution/reference regexp.go) -------------------------------------------

_ALPHANUMERIC: Final = r"[a-z0-9]+"
_SEPARATOR: Final = r"(?:[._]|__|[-]+)"
_DOMAIN_NAME_COMPONENT: Final = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_OPTIONAL_PORT: Final = r"(?::[0-9]+)?"
_TAG: Final = r"[\w][\w.-]{0,127}"
_DIGEST: Final = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}"
_IDENTIFIER: Final = r"[a-f0-9]{64}"
_IPV6_ADDRESS: Final = r"\[(?:[a-fA-F0-9:]+)\]"
_DOMAIN_NAME: Final = rf"{_DOMAIN_NAME_COMPONENT}(?:\.{_DOMAIN_NAME_COMPONENT})*"
_HOST: Final = rf"(?:{_DOMAIN_NAME}|{_IPV6_ADDRESS})"
_DOMAIN_AND_PORT: Final = rf"{_HOST}{_OPTIONAL_PORT}"
_PATH_COMPONENT: Final = rf"{_ALPHANUMERIC}(?:{_SEPARATOR}{_ALPHANUMERIC})*"
_REMOTE_NAME: Final = rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_NAME: Final = rf"(?:{_DOMAIN_AND_PORT}/)?{_REMOTE_NAME}"

# re.ASCII makes \w mean [0-9A-Za-z_], as it does in Go's RE2.
_REFERENCE_RE: Final = re.compile(rf"({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?", re.ASCII)
_ANCHORED_NAME_RE: Final = re.compile(rf"(?:({_DOMAIN_AND_PORT})/)?({_REMOTE_NAME})", re.ASCII)
_IDENTIFIER_RE: Final = re.compile(_IDENTIFIER)

# --- digests (opencontainers/go-digest) ---------------------------------------------------

_DIGEST_GENERIC_RE: Final = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")
_DIGEST_HEX_LENGTHS: Final = {"sha256": 64, "sha384": 96, "sha512": 128}
_LOWER_HEX_RE: Final = re.compile(r"[a-f0-9]+")

# --- Docker Hub naming (distribution/reference normalize.go) ------------------------------

_DEFAULT_DOMAIN: Final = "docker.io"
_LEGACY_DEFAULT_DOMAIN: Final = "index.docker.io"
_LOCALHOST: Final = "localhost"
_OFFICIAL_REPO_PREFIX: Final = "library/"
_DEFAULT_TAG: Final = "latest"
_NAME_TOTAL_LENGTH_MAX: Final = 255


def _quote(s: str) -> str:
    """Quote user input for an error message, keeping the message on one line."""
    return json.dumps(s, ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class ImageReference:
    """A fully qualified image reference, as Buildx resolves it before asking a policy.

    Instances are plain values: equal references compare equal and hash alike, so they
    can key caches of verification results. Build them with :func:`parse_image_reference`
    rather than by hand, so that the normalisation rules are applied.
    """

    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """The repository with its registry (``docker.io/library/alpine``): Buildx's fullRepo."""
        return f"{self.domain}/{self.path}" if self.domain else self.path

    @property
    def familiar_name(self) -> str:
        """The repository as people write it (``alpine``, ``foo/bar``): Buildx's repo.

        Only Docker Hub names are shortened: the ``docker.io/`` domain goes, and so does
        ``library/`` when what follows it has no further ``/``.
        """
        if self.domain != _DEFAULT_DOMAIN:
            return self.name
        path = self.path
        if path.startswith(_OFFICIAL_REPO_PREFIX):
            rest = path[len(_OFFICIAL_REPO_PREFIX) :]
            if "/" not in rest:
                return rest
        return path

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text

    def with_default_tag(self) -> ImageReference:
        """Add the ``latest`` tag when nothing pins the reference, as Buildx does on pull.

        A reference that already has a tag or a digest is returned unchanged (Go's
        ``TagNameOnly``).
        """
        if self.tag or self.digest:
            return self
        return dataclasses.replace(self, tag=_DEFAULT_TAG)


def _digest_problem(s: str) -> str | None:
    """Why ``s`` is not a valid digest (go-digest's ``Validate``), or None if it is."""
    colon = s.find(":")
    if colon <= 0 or colon + 1 == len(s):
        return "invalid checksum digest format"
    algorithm, encoded = s[:colon], s[colon + 1 :]
    expected_length = _DIGEST_HEX_LENGTHS.get(algorithm)
    if expected_length is None:
        if _DIGEST_GENERIC_RE.fullmatch(s) is None:
            return "invalid checksum digest format"
        return "unsupported digest algorithm"
    # Go measures the length in bytes, which matters for non-ASCII input.
    if len(encoded.encode("utf-8", "surrogatepass")) != expected_length:
        return "invalid checksum digest length"
    if _LOWER_HEX_RE.fullmatch(encoded) is None:
        return "invalid checksum digest format"
    return None


def validate_digest(s: str) -> str:
    """Check that ``s`` is a content digest Buildx would accept, and return it.

    Only ``sha256``, ``sha384`` and ``sha512`` with lowercase hex of the right length
    pass; anything else raises :class:`~buildsig.errors.InvalidReferenceError`, because a
    digest that cannot be checked cannot pin anything.
    """
    problem = _digest_problem(s)
    if problem is not None:
        raise InvalidReferenceError(f"{problem}: {_quote(s)}", source=s)
    return s


def _split_docker_domain(s: str) -> tuple[str, str]:
    """Split a name into registry domain and remainder, applying Docker Hub defaults."""
    maybe_domain, slash, maybe_remainder = s.partition("/")
    if not slash:
        # A single element ("alpine", "alpine:3") is always an official Hub image.
        return _DEFAULT_DOMAIN, _OFFICIAL_REPO_PREFIX + s
    if maybe_domain == _LOCALHOST:
        domain, remainder = maybe_domain, maybe_remainder
    elif maybe_domain == _LEGACY_DEFAULT_DOMAIN:
        domain, remainder = _DEFAULT_DOMAIN, maybe_remainder
    elif "." in maybe_domain or ":" in maybe_domain:
        domain, remainder = maybe_domain, maybe_remainder
    elif maybe_domain.lower() != maybe_domain:
        # Repository names cannot be uppercase, so an uppercase first element is a host.
        domain, remainder = maybe_domain, maybe_remainder
    else:
        domain, remainder = _DEFAULT_DOMAIN, s
    if domain == _DEFAULT_DOMAIN and "/" not in remainder:
        remainder = _OFFICIAL_REPO_PREFIX + remainder
    return domain, remainder


def _parse_reference(s: str, *, source: str | None = None) -> ImageReference:
    """Parse an already-qualified reference (Go's ``Parse``); ``source`` names the input.

    Error messages name ``source`` (the caller's original string) when given, so the
    user sees what they typed rather than the normalised form.
    """
    shown = s if source is None else source

    def fail(reason: str) -> InvalidReferenceError:
        return InvalidReferenceError(f"{reason}: {_quote(shown)}", source=shown)

    match = _REFERENCE_RE.fullmatch(s)
    if match is None:
        if not s:
            raise fail("repository name must have at least one component")
        if _REFERENCE_RE.fullmatch(s.lower()) is not None:
            raise fail("invalid reference format: repository name must be lowercase")
        raise fail("invalid reference format")
    name, tag, digest = match.group(1), match.group(2), match.group(3)
    if len(name) > _NAME_TOTAL_LENGTH_MAX:
        raise fail(f"repository name must not be more than {_NAME_TOTAL_LENGTH_MAX} characters")
    name_match = _ANCHORED_NAME_RE.fullmatch(name)
    if name_match is None:  # pragma: no cover - the reference grammar already matched
        raise fail("invalid reference format")
    domain, path = name_match.group(1) or "", name_match.group(2)
    if digest is not None:
        problem = _digest_problem(digest)
        if problem is not None:
            raise InvalidReferenceError(f"{problem}: {_quote(digest)}", source=shown)
    return ImageReference(domain=domain, path=path, tag=tag, digest=digest)


def parse_image_reference(s: str) -> ImageReference:
    """Parse an image reference the way Buildx does (Go's ``ParseNormalizedNamed``).

    Familiar names are completed (``alpine`` → ``docker.io/library/alpine``), the legacy
    ``index.docker.io`` host becomes ``docker.io``, and anything distribution would
    reject raises :class:`~buildsig.errors.InvalidReferenceError` with ``source`` set to
    ``s``. No default tag is added; see :meth:`ImageReference.with_default_tag`.
    """
    if _IDENTIFIER_RE.fullmatch(s) is not None:
        raise InvalidReferenceError(
            f"invalid repository name ({s}), cannot specify 64-byte hexadecimal strings",
            source=s,
        )
    domain, remainder = _split_docker_domain(s)
    remote = remainder.partition(":")[0]
    if remote.lower() != remote:
        raise InvalidReferenceError(
            f"invalid reference format: repository name ({remote}) must be lowercase",
            source=s,
        )
    return _parse_reference(f"{domain}/{remainder}", source=s)

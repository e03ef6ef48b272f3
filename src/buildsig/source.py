"""Source identifiers: from BuildKit's ``scheme://…`` strings to policy inputs, offline.

BuildKit names every build input by an identifier (``docker-image://docker.io/library/
alpine:latest``, ``git://github.com/moby/buildkit.git#v0.12.0``, ``https://…``,
``local://context``) plus attributes (``git.fullurl``, ``http.authheadersecret``, …).
:func:`source_to_input` turns one into the :class:`~buildsig.model.Input` Buildx would
build *before* any metadata is fetched: every field the identifier determines is set, and
every field that needs the network is listed in ``Input.unknowns`` in Buildx's order, so
a resolver can fetch exactly what a policy asks for and nothing more.

:meth:`Source.parse` accepts what people type on a command line: a bare image reference
(``alpine`` means ``docker-image://docker.io/library/alpine:latest``), an HTTP(S) URL
(a git source when it looks like a repository), scp-like git URLs and local paths.
"""

from __future__ import annotations

import dataclasses
import os
import posixpath
import re
import string
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import unquote, unquote_plus, urlsplit

from buildsig._internal.giturl import (
    GitURL,
    is_commit_sha,
    is_git_transport,
    looks_like_git_repository,
    parse_git_url,
    redact_url,
)
from buildsig._internal.platform import Platform, host_platform, parse_platform
from buildsig._internal.reference import ImageReference, parse_image_reference, validate_digest
from buildsig._internal.serde import FrozenMap
from buildsig.errors import (
    InvalidReferenceError,
    InvalidSourceError,
    UnsupportedSchemeError,
)
from buildsig.model import HTTP, Env, Git, Image, Input, Local
from buildsig.unknowns import GIT_UNKNOWNS, IMAGE_UNKNOWNS

__all__ = [
    "ATTR_GIT_FULL_URL",
    "ATTR_HTTP_AUTH_HEADER_SECRET",
    "ATTR_IMAGE_CHECKSUM",
    "SUPPORTED_SCHEMES",
    "ImageReference",
    "Platform",
    "Source",
    "host_platform",
    "parse_image_reference",
    "parse_platform",
    "source_to_input",
    "validate_digest",
]

#: Source attribute carrying the full git URL (the identifier keeps only host/path/fragment).
ATTR_GIT_FULL_URL = "git.fullurl"
#: Source attribute naming a secret that holds an HTTP auth header.
ATTR_HTTP_AUTH_HEADER_SECRET = "http.authheadersecret"  # noqa: S105 - an attribute name
#: Source attribute an image pin adds (``pin_image``, source policies).
ATTR_IMAGE_CHECKSUM = "image.checksum"

#: Schemes that have a policy input; anything else (``oci-layout`` …) is rejected, as in Buildx.
SUPPORTED_SCHEMES = ("docker-image", "git", "http", "https", "local")


@dataclasses.dataclass(frozen=True, slots=True)
class Source:
    """A BuildKit source: an identifier plus its attributes (LLB ``SourceOp``)."""

    identifier: str
    attrs: Mapping[str, str] = dataclasses.field(default_factory=FrozenMap)

    def __post_init__(self) -> None:
        if not isinstance(self.attrs, FrozenMap):
            object.__setattr__(self, "attrs", FrozenMap(self.attrs))

    @property
    def scheme(self) -> str:
        """The text before ``://`` (empty when there is none)."""
        scheme, sep, _ = self.identifier.partition("://")
        return scheme if sep else ""

    @classmethod
    def parse(cls, text: str) -> Source:
        """Read a source the way a person writes one on a command line.

        - ``docker-image://REF``: normalised, ``:latest`` added when there is neither a tag
          nor a digest (as ``buildx policy eval`` does);
        - ``git://…``: kept, after checking it parses as a git URL;
        - ``http(s)://…``: a git source (with ``git.fullurl``) when it looks like a
          repository (``.git`` path), otherwise an HTTP download;
        - ``local://NAME``: kept;
        - a bare image reference, with ``:latest`` added as above;
        - otherwise an scp-like git URL (``git@github.com:o/r.git#ref``) is a git source;
          a ``file://`` URL or a local git repository with a ref (``./repo#v1.0``) is a git source
          read from disk (a buildsig extension: BuildKit has no file transport); any other
          existing path is the local build context.
        """
        text = text.strip()
        if not text:
            raise InvalidSourceError("empty source", source=text)
        scheme, sep, rest = text.partition("://")
        if sep:
            if scheme == "docker-image":
                ref = parse_image_reference(rest).with_default_tag()
                return cls(f"docker-image://{ref}")
            if scheme == "git":
                _git_url_of(rest, text)
                return cls(text)
            if scheme in ("http", "https"):
                if looks_like_git_repository(text):
                    return cls(f"git://{text}", {ATTR_GIT_FULL_URL: text})
                return cls(text)
            if scheme == "local":
                return cls(text)
            if scheme == "file":  # a repository on this machine (buildsig extension)
                return cls(f"git://{text}", {ATTR_GIT_FULL_URL: text})
            if scheme.lower() in ("ssh",):
                return cls(f"git://{text}", {ATTR_GIT_FULL_URL: text})
            raise _unsupported(scheme, text)
        # Image references first: ``alpine@sha256:…`` also fits the scp-like git pattern
        # (user "alpine", host "sha256"), while no scp-like git URL is a valid reference.
        try:
            ref = parse_image_reference(text)
        except InvalidReferenceError:
            if is_git_transport(text):
                return cls(f"git://{text}", {ATTR_GIT_FULL_URL: text})
            # A path names a repository only with a ref (./repo#v1); a plain path is the
            # local build context, as in Buildx, even inside a git checkout.
            path, sep, fragment = text.partition("#")
            if sep and _is_git_repository(path):
                url = Path(path).resolve().as_uri() + (f"#{fragment}" if fragment else "")
                return cls(f"git://{url}", {ATTR_GIT_FULL_URL: url})
            if os.path.exists(text):
                return cls("local://context")
            raise
        return cls(f"docker-image://{ref.with_default_tag()}")


def _is_git_repository(path: str) -> bool:
    """A working tree with .git, or a bare repository (HEAD, objects/ and refs/)."""
    p = Path(path)
    if not path or not p.is_dir():
        return False
    if (p / ".git").exists():
        return True
    return (p / "HEAD").is_file() and (p / "objects").is_dir() and (p / "refs").is_dir()


def _unsupported(scheme: str, identifier: str) -> UnsupportedSchemeError:
    return UnsupportedSchemeError(
        f"unsupported source scheme: {scheme}", scheme=scheme, source=redact_url(identifier)
    )


def source_to_input(
    source: Source | str,
    *,
    platform: Platform | str | None = None,
    env: Env | None = None,
) -> Input:
    """Build the policy input for ``source`` from the identifier alone (no network).

    ``source`` is a :class:`Source` or a full identifier string (use :meth:`Source.parse`
    for command-line shorthands). ``platform`` applies to image sources; without one the
    host's platform is used (Buildx uses the builder's). ``env`` is applied at depth 0.

    Raises :class:`~buildsig.errors.InvalidSourceError` (or a subclass) naming the
    identifier when it is malformed or its scheme has no input.
    """
    if isinstance(source, str):
        source = Source(source)
    identifier = source.identifier
    scheme, sep, rest = identifier.partition("://")
    if not sep:
        raise InvalidSourceError(f"invalid source identifier: {identifier}", source=identifier)
    if scheme in ("http", "https"):
        inp = _http_input(source, scheme)
    elif scheme == "git":
        inp = _git_input(source, rest)
    elif scheme == "docker-image":
        inp = _image_input(source, rest, platform)
    elif scheme == "local":
        inp = Input(local=Local(name=rest))
    else:
        raise _unsupported(scheme, identifier)
    if env is not None:
        inp = inp.with_env(env)
    return inp


# --- http ------------------------------------------------------------------------------------

_HOST_CHARS = frozenset(string.ascii_letters + string.digits + "-._~!$&'()*+,;=%[]:")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def _http_input(source: Source, scheme: str) -> Input:
    url = source.identifier
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - validates the port, raising ValueError
    except ValueError as exc:
        raise InvalidSourceError(
            f"failed to parse http source url: {exc}", source=redact_url(url)
        ) from None
    host = parts.netloc.rpartition("@")[2]
    if any(c not in _HOST_CHARS for c in host) or _BAD_ESCAPE.search(host):
        raise InvalidSourceError(
            f"failed to parse http source url: invalid host {host!r}", source=redact_url(url)
        )
    if _BAD_ESCAPE.search(parts.path) or any(ord(c) < 0x21 or c == "\x7f" for c in url):
        raise InvalidSourceError(
            "failed to parse http source url: invalid character or escape", source=redact_url(url)
        )
    http = HTTP(
        # Buildx passes the identifier through; a password in it is redacted here as for git.
        url=redact_url(url),
        schema=scheme,
        host=host,
        path=unquote(parts.path),
        query=_go_query(parts.query),
        has_auth=ATTR_HTTP_AUTH_HEADER_SECRET in source.attrs,
    )
    return Input(http=http, unknowns=("http.checksum",))


def _go_query(raw: str) -> dict[str, tuple[str, ...]]:
    """Parse a query as Go's ``URL.Query()``: malformed pairs are skipped, order is kept."""
    out: dict[str, list[str]] = {}
    for pair in raw.split("&"):
        if not pair or ";" in pair:
            continue
        key, _, value = pair.partition("=")
        if _BAD_ESCAPE.search(key) or _BAD_ESCAPE.search(value):
            continue
        out.setdefault(unquote_plus(key), []).append(unquote_plus(value))
    return {k: tuple(v) for k, v in out.items()}


# --- git -------------------------------------------------------------------------------------


def _git_url_of(text: str, identifier: str) -> GitURL:
    """Parse the part after ``git://`` (https:// assumed without a git transport)."""
    if not is_git_transport(text):
        text = "https://" + text
    try:
        return parse_git_url(text)
    except InvalidSourceError as exc:
        raise InvalidSourceError(str(exc), source=redact_url(identifier)) from None


def _file_git_url(text: str) -> tuple[str, str, str]:
    """``file:///path[#ref[:subdir]]`` as (remote, ref, subdir): buildsig's local extension."""
    remote, _, fragment = text.partition("#")
    ref, _, subdir = fragment.partition(":")
    subdir = posixpath.normpath("/" + subdir).lstrip("/") if subdir else ""
    return remote, ref, "" if subdir == "." else subdir


def _git_input(source: Source, rest: str) -> Input:
    if rest.startswith("file://"):
        remote, ref, subdir = _file_git_url(rest)
        return _git_input_for(source, "file", "", remote, ref, subdir)
    url = _git_url_of(rest, source.identifier)
    return _git_input_for(source, url.scheme, url.host, url.remote, url.ref, url.subdir)


def _git_input_for(
    source: Source, schema: str, host: str, remote: str, ref: str, subdir: str
) -> Input:
    full_url = ""
    full = source.attrs.get(ATTR_GIT_FULL_URL)
    if full is not None and full.startswith("file://"):
        schema, host, remote, full_url = "file", "", _file_git_url(full)[0], full
    elif full is not None:
        override = _git_url_of(full, source.identifier)
        if not is_git_transport(full):
            full = "https://" + full
        # Buildx copies the attribute verbatim; a password in it would reach every policy
        # log, so it is redacted here (the one deliberate difference, see docs/design.md).
        schema, host, remote, full_url = (
            override.scheme,
            override.host,
            override.remote,
            redact_url(full),
        )
    is_tag, is_branch, is_commit = (
        ref.startswith("refs/tags/"),
        ref.startswith("refs/heads/"),
        is_commit_sha(ref),
    )
    checksum = ref if is_commit else ""
    # GIT_UNKNOWNS in three groups: which ref it is, what it resolves to, the objects.
    unknowns: list[str] = []
    if not (is_tag or is_branch or is_commit):
        unknowns += GIT_UNKNOWNS[0:3]
    if not checksum:
        unknowns += GIT_UNKNOWNS[3:7]
    unknowns += GIT_UNKNOWNS[7:9]
    git = Git(
        schema=schema,
        host=host,
        remote=remote,
        full_url=full_url,
        tag_name=ref.removeprefix("refs/tags/") if is_tag else "",
        branch=ref.removeprefix("refs/heads/") if is_branch else "",
        ref=ref if (is_tag or is_branch or is_commit) else "",
        sub_dir=subdir,
        is_commit_ref=is_commit,
        is_sha256=len(checksum) == 64,
        checksum=checksum,
        commit_checksum=checksum,
    )
    return Input(git=git, unknowns=tuple(unknowns))


# --- image -----------------------------------------------------------------------------------


def _image_input(source: Source, rest: str, platform: Platform | str | None) -> Input:
    try:
        ref = parse_image_reference(rest)
    except InvalidReferenceError as exc:
        raise InvalidReferenceError(
            f"failed to parse image source reference {rest!r}: {exc}", source=source.identifier
        ) from None
    if platform is None:
        platform = host_platform()
    elif isinstance(platform, str):
        platform = parse_platform(platform)
    image = Image(
        ref=str(ref),
        host=ref.domain,
        repo=ref.familiar_name,
        full_repo=ref.name,
        tag=ref.tag or "",
        platform=str(platform),
        os=platform.os,
        arch=platform.architecture,
        variant=platform.variant,
        is_canonical=ref.digest is not None,
        checksum=ref.digest or "",
    )
    unknowns = IMAGE_UNKNOWNS if ref.digest is None else IMAGE_UNKNOWNS[1:]
    return Input(image=image, unknowns=unknowns)

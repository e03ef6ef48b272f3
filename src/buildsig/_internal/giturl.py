"""Git URLs, parsed exactly the way BuildKit parses them.

Buildx describes a git build context to a policy (the ``input.git`` fields) after running
it through BuildKit's ``util/gitutil.ParseURL`` (with ``util/sshutil`` for scp-like
``user@host:path`` addresses), and it decides whether a context *is* a git repository at
all with ``frontend/dockerfile/dfgitutil.ParseGitRef``. If buildsig read the same string
differently it would vouch for a source other than the one Buildx fetches, so this module
follows Go's ``net/url`` rules rather than Python's more forgiving :mod:`urllib.parse`:
percent-escapes, hosts, IP literals, ports and user information are validated as Go does,
and ``remote`` is re-serialised as Go's ``URL.String`` would.

Go strings are bytes, so the URL grammar below works on the UTF-8 encoding of the input;
decoded components that are not valid UTF-8 are turned into text with U+FFFD, which is
what Go's JSON encoder would emit for them.

Deliberate departures from BuildKit, all for safety or determinism:

* ``remote`` never carries a password: it is replaced by ``xxxxx`` (BuildKit keeps it);
* query keys keep their order of first appearance (Go hands back a map);
* error messages are buildsig's own, one line, and never contain a password.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from dataclasses import dataclass
from typing import Final

from buildsig.errors import InvalidSourceError

__all__ = [
    "GitURL",
    "is_commit_sha",
    "is_git_transport",
    "looks_like_git_repository",
    "parse_git_url",
    "redact_url",
]

# --- grammar (gitutil, sshutil) -----------------------------------------------------------

# Go's ``^[a-zA-Z0-9]+://``; used with re.match, which anchors at the start only.
_PROTO_RE: Final = re.compile(r"[a-zA-Z0-9]+://")
# sshutil's scp-like form, used with fullmatch (what Go's ``^…$`` means). ``.`` does not
# match a newline in either engine, and lazy/greedy choices resolve identically because
# both use leftmost-first (Perl) semantics.
_SCP_RE: Final = re.compile(r"([a-zA-Z0-9-_]+)@([a-zA-Z0-9-.]+):(.*?)(?:\?(.*?))?(?:#(.*))?")
_SUPPORTED_PROTOCOLS: Final = frozenset({"http", "https", "ssh", "git"})
_COMMIT_SHA_RE: Final = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")
# Go's getScheme plus "//": where an authority (and so a password) may start.
_AUTHORITY_START_RE: Final = re.compile(r"(?:[a-zA-Z][a-zA-Z0-9+.-]*:)?//")
_PORT_LIKE_RE: Final = re.compile(r"[0-9]*(?:[/?#].*)?", re.DOTALL)

_REDACTED: Final = "xxxxx"


# --- Go net/url escaping rules ------------------------------------------------------------


class _Mode(enum.Enum):
    """Which URL component a byte string belongs to (Go's ``encoding``)."""

    PATH = enum.auto()
    HOST = enum.auto()
    ZONE = enum.auto()
    USER_PASSWORD = enum.auto()
    QUERY_COMPONENT = enum.auto()
    FRAGMENT = enum.auto()


_ALNUM: Final = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_HEX: Final = frozenset(b"0123456789abcdefABCDEF")
_HOST_ALLOWED: Final = frozenset(b"!$&'()*+,;=:[]<>\"")
_UNRESERVED_MARKS: Final = frozenset(b"-_.~")
_RESERVED: Final = frozenset(b"$&+,/:;=?@")
_FRAGMENT_SUB_DELIMS: Final = frozenset(b"!()*")
_USERINFO_ALLOWED: Final = _ALNUM | frozenset(b"-._:~!$&'()*+,;=%@")
_VALID_ENCODED_EXTRA: Final = frozenset(b"!$&'()*+,;=:@[]%")


def _should_escape(c: int, mode: _Mode) -> bool:
    """Whether byte ``c`` must be percent-encoded in ``mode`` (Go's ``shouldEscape``)."""
    if c in _ALNUM:
        return False
    if mode in (_Mode.HOST, _Mode.ZONE) and c in _HOST_ALLOWED:
        return False
    if c in _UNRESERVED_MARKS:
        return False
    if c in _RESERVED:
        if mode is _Mode.PATH:
            return c == ord("?")
        if mode is _Mode.USER_PASSWORD:
            return c in b"@/?:"
        if mode is _Mode.QUERY_COMPONENT:
            return True
        if mode is _Mode.FRAGMENT:
            return False
    return not (mode is _Mode.FRAGMENT and c in _FRAGMENT_SUB_DELIMS)


class _GoURLError(Exception):
    """A Go ``net/url`` parse failure; ``generic`` omits any quoted input."""

    def __init__(self, detail: str, generic: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.generic = generic if generic is not None else detail


def _go_quote(raw: bytes) -> str:
    """Quote bytes for an error message roughly as Go's ``strconv.Quote`` does."""
    out = ['"']
    for ch in raw.decode("utf-8", "surrogateescape"):
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:
            out.append(f"\\x{code - 0xDC00:02x}")
        elif ch in '"\\':
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
    out.append('"')
    return "".join(out)


def _unescape(s: bytes, mode: _Mode) -> bytes:
    """Percent-decode ``s`` with Go's validation for ``mode`` (Go's ``unescape``)."""
    out = bytearray()
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c == ord("%"):
            if i + 2 >= n or s[i + 1] not in _HEX or s[i + 2] not in _HEX:
                raise _GoURLError(f"invalid URL escape {_go_quote(s[i : i + 3])}", "bad escape")
            triplet = s[i : i + 3]
            value = int(triplet[1:], 16)
            if mode is _Mode.HOST and int(chr(s[i + 1]), 16) < 8 and triplet != b"%25":
                raise _GoURLError(f"invalid URL escape {_go_quote(triplet)}", "bad escape")
            if (
                mode is _Mode.ZONE
                and triplet != b"%25"
                and value != ord(" ")
                and _should_escape(value, _Mode.HOST)
            ):
                raise _GoURLError(f"invalid URL escape {_go_quote(triplet)}", "bad escape")
            out.append(value)
            i += 3
            continue
        if c == ord("+") and mode is _Mode.QUERY_COMPONENT:
            out.append(ord(" "))
        elif mode in (_Mode.HOST, _Mode.ZONE) and c < 0x80 and _should_escape(c, mode):
            raise _GoURLError(
                f"invalid character {_go_quote(bytes([c]))} in host name",
                "invalid character in host name",
            )
        else:
            out.append(c)
        i += 1
    return bytes(out)


def _escape(s: bytes, mode: _Mode) -> bytes:
    """Percent-encode every byte of ``s`` that ``mode`` requires (Go's ``escape``)."""
    return b"".join(b"%%%02X" % c if _should_escape(c, mode) else bytes([c]) for c in s)


def _valid_encoded(s: bytes, mode: _Mode) -> bool:
    """Whether ``s`` needs no further escaping to be used as written (Go's ``validEncoded``)."""
    return all(c in _VALID_ENCODED_EXTRA or not _should_escape(c, mode) for c in s)


def _text(raw: bytes) -> str:
    """Decode URL bytes as text; invalid UTF-8 becomes U+FFFD, as in Go's JSON output."""
    return raw.decode("utf-8", "replace")


# --- Go url.Parse, for the scheme://authority/path form -----------------------------------


@dataclass(frozen=True, slots=True)
class _ParsedURL:
    """The subset of Go's ``url.URL`` that gitutil reads."""

    scheme: str
    username: bytes | None
    password_set: bool
    host: bytes
    path: bytes
    raw_path: bytes
    force_query: bool
    raw_query: bytes
    fragment: bytes

    def escaped_path(self) -> bytes:
        """Return the path as written if that is a valid encoding, else Go's own escaping."""
        if self.raw_path and _valid_encoded(self.raw_path, _Mode.PATH):
            try:
                if _unescape(self.raw_path, _Mode.PATH) == self.path:
                    return self.raw_path
            except _GoURLError:
                pass
        return _escape(self.path, _Mode.PATH)

    def remote(self) -> str:
        """``URL.String()`` without fragment and query, and with the password redacted."""
        out = [self.scheme.encode("ascii"), b":"]
        if self.host or self.path or self.username is not None:
            out.append(b"//")
        if self.username is not None:
            out.append(_escape(self.username, _Mode.USER_PASSWORD))
            if self.password_set:
                out.append(b":" + _REDACTED.encode("ascii"))
            out.append(b"@")
        out.append(_escape(self.host, _Mode.HOST))
        out.append(self.escaped_path())
        if self.force_query:
            # gitutil clears RawQuery but not ForceQuery, so a lone trailing "?" survives.
            out.append(b"?")
        return _text(b"".join(out))


def _has_control_byte(s: bytes) -> bool:
    """Whether ``s`` holds an ASCII control character (Go's ``stringContainsCTLByte``)."""
    return any(c < 0x20 or c == 0x7F for c in s)


def _valid_optional_port(port: bytes) -> bool:
    """Whether ``port`` is empty or ``:`` followed by ASCII digits only."""
    return not port or (port[:1] == b":" and all(0x30 <= c <= 0x39 for c in port[1:]))


def _check_ip_literal(address: bytes) -> None:
    """Reject a bracketed host that is not an IPv6 address (Go's ``netip.ParseAddr`` rule)."""
    try:
        text = address.decode("utf-8")
    except UnicodeDecodeError:
        raise _GoURLError("invalid host: not an IP address") from None
    kind = next((c for c in text if c in ".:%"), "")
    if kind == ".":
        try:
            ipaddress.IPv4Address(text)
        except ValueError:
            raise _GoURLError("invalid host: not an IP address") from None
        raise _GoURLError("invalid IP-literal")
    if kind != ":":
        raise _GoURLError("invalid host: not an IPv6 address")
    bare, has_zone, zone = text.partition("%")
    if has_zone and not zone:
        raise _GoURLError("invalid host: IPv6 zone must be a non-empty string")
    try:
        ipaddress.IPv6Address(bare)
    except ValueError:
        raise _GoURLError("invalid host: not an IPv6 address") from None


def _parse_host(scheme: str, host: bytes) -> bytes:
    """Validate and percent-decode ``host[:port]`` (Go's ``parseHost``)."""
    open_bracket = host.rfind(b"[")
    if open_bracket > 0:
        raise _GoURLError("invalid IP-literal")
    if open_bracket == 0:
        close_bracket = host.rfind(b"]")
        if close_bracket < 0:
            raise _GoURLError("missing ']' in host")
        colon_port = host[close_bracket + 1 :]
        if not _valid_optional_port(colon_port):
            raise _GoURLError(f"invalid port {_go_quote(colon_port)} after host", "invalid port")
        colon_port = _unescape(colon_port, _Mode.HOST)
        hostname = host[1:close_bracket]
        zone = hostname.find(b"%25")
        if zone >= 0:
            address = _unescape(hostname[:zone], _Mode.HOST) + _unescape(
                hostname[zone:], _Mode.ZONE
            )
        else:
            address = _unescape(hostname, _Mode.HOST)
        _check_ip_literal(address)
        return b"[" + address + b"]" + colon_port
    first_colon = host.find(b":")
    if first_colon >= 0:
        # Go only insists on a single colon for http(s); other schemes take the last one.
        colon = first_colon if scheme in ("http", "https") else host.rfind(b":")
        colon_port = host[colon:]
        if not _valid_optional_port(colon_port):
            raise _GoURLError(f"invalid port {_go_quote(colon_port)} after host", "invalid port")
    return _unescape(host, _Mode.HOST)


def _parse_authority(scheme: str, authority: bytes) -> tuple[bytes | None, bool, bytes]:
    """Split ``[userinfo@]host`` into user name, whether a password is set, and host."""
    at = authority.rfind(b"@")
    host = _parse_host(scheme, authority[at + 1 :])
    if at < 0:
        return None, False, host
    userinfo = authority[:at]
    if not all(c in _USERINFO_ALLOWED for c in userinfo):
        raise _GoURLError("invalid userinfo")
    username, has_password, password = userinfo.partition(b":")
    try:
        _unescape(password, _Mode.USER_PASSWORD)  # validated, then dropped
        return _unescape(username, _Mode.USER_PASSWORD), bool(has_password), host
    except _GoURLError:
        # The quoted escape could be part of a credential: never show it.
        raise _GoURLError("invalid URL escape in userinfo") from None


def _parse_standard_url(raw: bytes) -> _ParsedURL:
    """Go's ``url.Parse`` for input known to start with ``<letters/digits>://``."""
    head, _, raw_fragment = raw.partition(b"#")
    if _has_control_byte(head):
        raise _GoURLError("invalid control character in URL")
    scheme_bytes, _, rest = head.partition(b":")
    scheme = scheme_bytes.decode("ascii").lower()
    force_query = rest.endswith(b"?") and rest.count(b"?") == 1
    if force_query:
        rest, raw_query = rest[:-1], b""
    else:
        rest, _, raw_query = rest.partition(b"?")
    authority, slash, path_part = rest[2:].partition(b"/")
    username, password_set, host = _parse_authority(scheme, authority)
    escaped = slash + path_part
    path = _unescape(escaped, _Mode.PATH)
    raw_path = b"" if _escape(path, _Mode.PATH) == escaped else escaped
    fragment = _unescape(raw_fragment, _Mode.FRAGMENT)
    return _ParsedURL(
        scheme=scheme,
        username=username,
        password_set=password_set,
        host=host,
        path=path,
        raw_path=raw_path,
        force_query=force_query,
        raw_query=raw_query,
        fragment=fragment,
    )


def _parses_as_relative_url(raw: bytes) -> bool:
    """Whether Go's ``url.Parse`` accepts a scheme-less ``host/path`` string."""
    head, _, raw_fragment = raw.partition(b"#")
    if _has_control_byte(head):
        return False
    path, _, _ = head.partition(b"?")
    segment, _, _ = path.partition(b"/")
    if not path.startswith(b"/") and b":" in segment:
        return False
    try:
        _unescape(path, _Mode.PATH)
        _unescape(raw_fragment, _Mode.FRAGMENT)
    except _GoURLError:
        return False
    return True


_Query = tuple[tuple[str, tuple[str, ...]], ...]


def _parse_query(raw: bytes, *, strict: bool) -> _Query:
    """Go's ``url.ParseQuery``; lenient (``URL.Query()``) skips bad pairs, strict raises."""
    values: dict[str, list[str]] = {}
    for pair in raw.split(b"&"):
        try:
            if b";" in pair:
                raise _GoURLError("invalid semicolon separator in query")
            if not pair:
                continue
            key, _, value = pair.partition(b"=")
            decoded_key = _unescape(key, _Mode.QUERY_COMPONENT)
            decoded_value = _unescape(value, _Mode.QUERY_COMPONENT)
        except _GoURLError:
            if strict:
                raise
            continue
        values.setdefault(_text(decoded_key), []).append(_text(decoded_value))
    return tuple((key, tuple(vals)) for key, vals in values.items())


# --- redaction and errors -----------------------------------------------------------------


def _password_span(s: str) -> tuple[int, int] | None:
    """Locate a URL's password the way Go splits a URL; ``None`` if it has none."""
    head = s.partition("#")[0]
    match = _AUTHORITY_START_RE.match(head)
    if match is None or (match.end() == 2 and head.startswith("///")):
        return None
    start = match.end()
    end = next((i for i, ch in enumerate(head[start:], start) if ch in "/?"), len(head))
    at = head.rfind("@", start, end)
    if at < 0:
        return None
    colon = head.find(":", start, at)
    return None if colon < 0 else (colon + 1, at)


def _loose_secret_span(s: str) -> tuple[int, int] | None:
    """Find a likely ``user:secret@`` in a string too broken to split like a URL.

    A password holding ``/``, ``?`` or ``#`` makes Go cut the authority short, so the
    structural search misses it while the raw text still contains it. Error messages
    quote the input, so for them we also treat ``<user>:<anything but a port>@`` (up to
    the last ``@``) as secret.
    """
    marker = s.find("://")
    start = marker + 3 if marker >= 0 else 0
    at = s.rfind("@")
    if at < start:
        return None
    colon = s.find(":", start, at)
    if colon < 0 or any(ch in "/?#@" for ch in s[start:colon]):
        return None
    if _PORT_LIKE_RE.fullmatch(s, colon + 1, at):
        return None
    return colon + 1, at


def redact_url(s: str) -> str:
    """Replace a URL's password with ``xxxxx``, leaving every other character as written.

    Use this before a URL reaches a log, a message or a policy input: it follows Go's
    ``URL.Redacted`` (the password is whatever follows the first ``:`` of the user
    information) but works on the text itself, so it also cleans URLs that fail to parse
    and never changes anything else.
    """
    span = _password_span(s)
    if span is None:
        return s
    return s[: span[0]] + _REDACTED + s[span[1] :]


def _invalid(
    s: str, reason: str, generic: str | None = None, *, verb: str = "invalid"
) -> InvalidSourceError:
    """Build the :class:`InvalidSourceError` for ``s`` without leaking any credential."""
    span = _password_span(s) or _loose_secret_span(s)
    shown = s if span is None else s[: span[0]] + _REDACTED + s[span[1] :]
    if span is not None and generic is not None:
        reason = generic
    display = shown if shown.isprintable() else repr(shown)
    return InvalidSourceError(f"{verb} git URL {display}: {reason}", source=shown)


# --- public API ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GitURL:
    """A git remote as BuildKit understands it: the facts behind Buildx's ``input.git``.

    ``scheme`` is lower-case (``https``, ``http``, ``ssh``, ``git``; scp-like addresses
    are ``ssh``); ``host`` includes any port (percent-escapes decoded, as Go does);
    ``path`` is percent-decoded (for scp-like addresses, the raw text after ``:``);
    ``user`` is the user name only, and ``has_password`` records that a password was
    given without keeping it. ``query`` lists each key once, in order of first
    appearance, with all its values in order. ``ref`` and ``subdir`` come from the
    ``#<ref>[:<subdir>]`` fragment, ``subdir`` cleaned to a relative path. ``remote`` is
    the repository address as BuildKit reports it (no fragment, no query) except that a
    password is replaced by ``xxxxx``, so it is safe to log and to show a policy.
    """

    scheme: str
    host: str
    path: str
    user: str | None
    has_password: bool
    query: tuple[tuple[str, tuple[str, ...]], ...]
    ref: str
    subdir: str
    remote: str
    is_scp_like: bool


def is_git_transport(s: str) -> bool:
    """Whether ``s`` names a git transport by its form alone (gitutil ``IsGitTransport``).

    True for ``http``, ``https``, ``ssh`` and ``git`` URLs (any case) and for scp-like
    ``user@host:path`` addresses; the rest of the string is not validated.
    """
    match = _PROTO_RE.match(s)
    if match is not None:
        return match.group()[:-3].lower() in _SUPPORTED_PROTOCOLS
    return _SCP_RE.fullmatch(s) is not None


def _split_fragment(fragment: str) -> tuple[str, str]:
    """``ref[:subdir]`` → ``(ref, subdir)``, with ``subdir`` cleaned like Go's ``path.Join``."""
    if not fragment:
        return "", ""
    ref, _, subdir = fragment.partition(":")
    parts: list[str] = []
    for segment in subdir.split("/"):
        if segment == "..":
            if parts:
                parts.pop()
        elif segment not in ("", "."):
            parts.append(segment)
    return ref, "/".join(parts)


def parse_git_url(s: str) -> GitURL:
    """Parse a git remote exactly as BuildKit's ``gitutil.ParseURL`` does.

    Raises :class:`~buildsig.errors.InvalidSourceError` when BuildKit would reject the
    string: an unsupported protocol (``ftp://…``), neither a URL nor an scp-like address,
    or a URL that Go's ``net/url`` refuses (bad percent-escape, invalid port, invalid
    host, control character …). The message and ``source`` never include a password.
    """
    match = _PROTO_RE.match(s)
    if match is not None:
        proto = match.group()[:-3].lower()
        if proto not in _SUPPORTED_PROTOCOLS:
            raise _invalid(s, f"invalid protocol: {proto}", verb="unsupported")
        try:
            parsed = _parse_standard_url(s.encode("utf-8", "surrogatepass"))
        except _GoURLError as err:
            raise _invalid(s, err.detail, err.generic) from None
        ref, subdir = _split_fragment(_text(parsed.fragment))
        return GitURL(
            scheme=parsed.scheme,
            host=_text(parsed.host),
            path=_text(parsed.path),
            user=None if parsed.username is None else _text(parsed.username),
            has_password=parsed.password_set,
            query=_parse_query(parsed.raw_query, strict=False),
            ref=ref,
            subdir=subdir,
            remote=parsed.remote(),
            is_scp_like=False,
        )
    scp = _SCP_RE.fullmatch(s)
    if scp is None:
        raise _invalid(s, "unknown protocol", verb="unsupported")
    user, host, path, raw_query, fragment = scp.group(1, 2, 3, 4, 5)
    try:
        query = _parse_query((raw_query or "").encode("utf-8", "surrogatepass"), strict=True)
    except _GoURLError as err:
        # BuildKit reports this as "unknown protocol"; naming the real fault helps more.
        raise _invalid(s, f"invalid query in scp-style URL: {err.detail}") from None
    ref, subdir = _split_fragment(fragment or "")
    return GitURL(
        scheme="ssh",
        host=host,
        path=path,
        user=user,
        has_password=False,
        query=query,
        ref=ref,
        subdir=subdir,
        remote=f"{user}@{host}:{path}",
        is_scp_like=True,
    )


def is_commit_sha(s: str) -> bool:
    """Whether ``s`` is a full SHA-1 or SHA-256 commit id in git's lower-case hex.

    Buildx pins a git source only when its ref is a full commit id; abbreviations and
    upper-case hex are ordinary ref names to BuildKit (gitutil ``IsCommitSHA``).
    """
    return _COMMIT_SHA_RE.fullmatch(s) is not None


def looks_like_git_repository(s: str) -> bool:
    """Whether Dockerfile build-context syntax treats ``s`` as a git repository.

    Mirrors the ``isGit`` answer of dfgitutil ``ParseGitRef``: this is what makes
    ``https://github.com/moby/buildkit.git#v0.12.0`` a git source while
    ``https://example.com/a.tar.gz`` is a plain HTTP download. Relative paths are local;
    the legacy ``github.com/…`` form is git when Go can parse it as a URL; anything else
    must parse as a git URL, and http(s) URLs additionally need a path ending in ``.git``.
    """
    if s.startswith(("./", "../")):
        return False
    if s.startswith("github.com/"):
        return _parses_as_relative_url(s.encode("utf-8", "surrogatepass"))
    try:
        url = parse_git_url(s)
    except InvalidSourceError:
        return False
    if url.scheme in ("http", "https"):
        return url.path.endswith(".git")
    return True

r"""git's SSH trust configuration: allowed-signers files and revocation lists.

``gpg.ssh.allowedSignersFile`` says which keys may sign for which principals, in which
namespaces and when; ``gpg.ssh.revocationFile`` (``ssh-keygen -r``) says which keys must
never be trusted. Both are parsed once into indexed objects so that verifying many
signatures costs one dictionary lookup each (see :func:`buildsig.git.sshsig.verify_sshsig`).

The syntax follows ssh-keygen(1) "ALLOWED SIGNERS"::

    principals [options] keytype base64-key [comment]

``principals`` is a comma-separated ssh_config pattern list (``*``, ``?``, ``!negation``),
optionally double-quoted; ``options`` are ``cert-authority``, ``namespaces="…"``,
``valid-after="…"`` and ``valid-before="…"`` (names case-insensitive, values double-quoted,
``\"`` escapes a quote inside a value).

Where buildsig differs from ssh-keygen, and why:

* ssh-keygen skips a malformed line with a warning and keeps going; buildsig refuses the
  whole file (:class:`~buildsig.errors.PolicyConfigError` naming the file and line). A
  trust file that does not say what its author meant should be fixed, not half-applied.
  The same goes for revocation lists, where skipping a line would un-revoke a key.
* Leading commas in the options field (``,namespaces="git"``), which ssh-keygen tolerates,
  are refused along with the other empty options it already refuses.
* Impossible dates (``20250230``, second 60) are refused; ssh-keygen's ``mktime`` silently
  rolls them over into the next month or minute.
* Times without ``Z`` are local time for ssh-keygen, i.e. depend on the machine's time
  zone; buildsig interprets them in an explicit ``tz``, UTC unless told otherwise, so the
  same file means the same thing everywhere.
* When several lines carry the signing key, the first one that permits the signature
  decides. git asks ``ssh-keygen -Y find-principals`` for the first line valid at the
  signer time and then verifies only its principals, so it fails when that line happens to
  exclude the namespace while a later line would allow it.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Final

from buildsig.errors import InvalidInputError, PolicyConfigError
from buildsig.git.result import Reason
from buildsig.git.sshsig import KEY_TYPES, SSHPublicKey, _Reader

__all__ = [
    "AllowedSignerEntry",
    "AllowedSignerMatch",
    "AllowedSigners",
    "RevocationList",
    "match_pattern",
    "match_pattern_list",
    "parse_ssh_time",
]

MAX_FILE_BYTES: Final = 1024 * 1024
"""Default cap on an allowed-signers file; real ones are a few KiB."""
MAX_REVOCATION_BYTES: Final = 16 * 1024 * 1024
"""Default cap on a revocation list (KRLs of large fleets run to megabytes)."""
MAX_LINE_CHARS: Final = 64 * 1024
"""Longest line accepted: an RSA-16384 certificate line is well under 8 KiB."""

_KRL_MAGIC: Final = b"SSHKRL\n\0"
_TIME_RE: Final = re.compile(r"([0-9]{8}|[0-9]{12}|[0-9]{14})([Zz]?)")
_OPTIONS_WITH_VALUE: Final = frozenset({"namespaces", "valid-after", "valid-before"})


# --- patterns and times -----------------------------------------------------------------


def match_pattern(text: str, pattern: str) -> bool:
    """Whether ``text`` matches one ssh_config(5) pattern (``*`` any run, ``?`` one char).

    Iterative with single-star backtracking, so hostile patterns cannot make it blow up.
    """
    t = p = 0
    star = -1
    mark = 0
    n, m = len(text), len(pattern)
    while t < n:
        if p < m and pattern[p] == "*":
            star, mark = p, t
            p += 1
        elif p < m and (pattern[p] == "?" or pattern[p] == text[t]):
            t += 1
            p += 1
        elif star >= 0:
            p = star + 1
            mark += 1
            t = mark
        else:
            return False
    while p < m and pattern[p] == "*":
        p += 1
    return p == m


def match_pattern_list(text: str, patterns: str) -> int:
    """ssh_config(5) pattern-list match: 1 matched, 0 not matched, -1 excluded by ``!pat``.

    A negated pattern that matches wins over any positive one, as in OpenSSH.
    """
    result = 0
    for pattern in patterns.split(","):
        negated = pattern.startswith("!")
        if match_pattern(text, pattern[1:] if negated else pattern):
            if negated:
                return -1
            result = 1
    return result


def parse_ssh_time(text: str, tz: tzinfo = UTC) -> datetime:
    """Parse ``YYYYMMDD[Z]`` or ``YYYYMMDDHHMM[SS][Z]`` as ssh-keygen's options take them.

    A trailing ``Z`` (or ``z``, as ssh-keygen allows) means UTC; otherwise ``tz``
    (ssh-keygen would use the machine's local zone). Raises
    :class:`~buildsig.errors.InvalidInputError` for anything else, including impossible
    dates that ``mktime`` would roll over.
    """
    m = _TIME_RE.fullmatch(text)
    if m is None:
        raise InvalidInputError(f"invalid time {text[:32]!r}: expected YYYYMMDD[HHMM[SS]][Z]")
    digits = m.group(1)
    zone = UTC if m.group(2) else tz
    try:
        return datetime(
            int(digits[0:4]),
            int(digits[4:6]),
            int(digits[6:8]),
            int(digits[8:10] or 0),
            int(digits[10:12] or 0),
            int(digits[12:14] or 0),
            tzinfo=zone,
        )
    except ValueError as exc:
        raise InvalidInputError(f"invalid time {text!r}: {exc}") from None


def _epoch(when: datetime | int) -> int:
    if isinstance(when, int):
        return when
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() // 1)


# --- allowed signers --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AllowedSignerEntry:
    """One line of an allowed-signers file, parsed.

    ``principals`` is the pattern list as written (quotes removed); ``options`` the option
    field as written ("" if none), with its meaning in ``cert_authority``, ``namespaces``
    (None = any namespace), ``valid_after`` and ``valid_before`` (aware datetimes, None =
    unbounded). ``line`` is the 1-based line number, for error messages and reports.
    """

    principals: str
    key: SSHPublicKey
    line: int
    options: str = ""
    cert_authority: bool = False
    namespaces: str | None = None
    valid_after: datetime | None = None
    valid_before: datetime | None = None
    _after: int | None = field(init=False, repr=False, compare=False)
    _before: int | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        after = None if self.valid_after is None else _epoch(self.valid_after)
        before = None if self.valid_before is None else _epoch(self.valid_before)
        object.__setattr__(self, "_after", after)
        object.__setattr__(self, "_before", before)

    def refusal(self, namespace: str, when: int) -> str | None:
        """Why this line does not permit ``namespace`` at ``when`` (epoch s), or None."""
        if self.namespaces is not None and match_pattern_list(namespace, self.namespaces) != 1:
            return f"key is not permitted for use in signature namespace {namespace!r}"
        if self._after is not None and when < self._after:
            return f"key is not yet valid: signer time is before valid-after {self._iso(True)}"
        if self._before is not None and when > self._before:
            return f"key has expired: signer time is after valid-before {self._iso(False)}"
        return None

    def _iso(self, after: bool) -> str:
        value = self.valid_after if after else self.valid_before
        return "" if value is None else value.isoformat()

    def principal_for(self, key: SSHPublicKey, principal: str | None) -> str | None:
        """The principal this line grants ``key``, or None if it grants none.

        With ``principal`` given this is ``ssh-keygen -Y verify -I`` matching: the principal
        must match the line's pattern list and, for a certificate authority line, be one of
        the certificate's principals. Without it, it is the principal git would report: the
        first of the line's own entries (or, for a CA line, of the certificate's
        principals) that the pattern list accepts. Negated entries (``!name``) are never
        reported; git would report ``!x`` for a line ``!x,*`` (its find-principals step
        prints every entry), buildsig reports ``*``.
        """
        cert = key.certificate
        if self.cert_authority:
            if cert is None:
                return None
            if principal is not None:
                if principal not in cert.principals:
                    return None
                return principal if match_pattern_list(principal, self.principals) == 1 else None
            for name in cert.principals:
                if match_pattern_list(name, self.principals) == 1:
                    return name
            return None
        if principal is not None:
            return principal if match_pattern_list(principal, self.principals) == 1 else None
        for name in self.principals.split(","):
            if not name.startswith("!") and match_pattern_list(name, self.principals) == 1:
                return name
        return None


@dataclass(frozen=True, slots=True)
class AllowedSignerMatch:
    """What an allowed-signers lookup found: the permitting line, or why there is none.

    ``reason`` is None exactly when a line permitted the signature; then ``entry`` is that
    line and ``principal`` the principal to report. Otherwise ``reason`` is
    ``UNKNOWN_KEY`` (no line names the key or its CA) or ``NOT_ALLOWED`` (lines do, but
    none permits this principal, namespace or time) and ``detail`` says why.
    """

    reason: Reason | None
    detail: str = ""
    principal: str = ""
    entry: AllowedSignerEntry | None = None


class AllowedSigners:
    """A parsed allowed-signers file (``gpg.ssh.allowedSignersFile``), indexed by key.

    Parse once with :meth:`parse` or :meth:`from_file`, then look up any number of
    signatures with :meth:`find` in O(1) per signature.
    """

    __slots__ = ("_by_ca", "_by_key", "entries", "source")

    entries: tuple[AllowedSignerEntry, ...]
    source: str

    def __init__(self, entries: Iterable[AllowedSignerEntry], *, source: str = "") -> None:
        self.entries = tuple(entries)
        self.source = source
        self._by_key: dict[bytes, list[AllowedSignerEntry]] = {}
        self._by_ca: dict[bytes, list[AllowedSignerEntry]] = {}
        for entry in self.entries:
            index = self._by_ca if entry.cert_authority else self._by_key
            index.setdefault(entry.key.blob, []).append(entry)

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[AllowedSignerEntry]:
        return iter(self.entries)

    def __repr__(self) -> str:
        return f"AllowedSigners({self.source!r}, {len(self.entries)} entries)"

    @classmethod
    def parse(
        cls, text: str, *, source: str = "<allowed signers>", tz: tzinfo = UTC
    ) -> AllowedSigners:
        """Parse the text of an allowed-signers file.

        Blank lines and ``#`` comments are skipped; any other line that is not a valid
        entry raises :class:`~buildsig.errors.PolicyConfigError` naming ``source`` and the
        line number. ``tz`` is the zone for ``valid-after``/``valid-before`` times without
        ``Z`` (ssh-keygen uses the machine's local zone; buildsig defaults to UTC).
        """
        entries: list[AllowedSignerEntry] = []
        for number, raw in enumerate(text.split("\n"), start=1):
            try:
                entry = _parse_line(raw, number, tz)
            except InvalidInputError as exc:
                raise PolicyConfigError(f"{source}:{number}: {exc}", source=source) from None
            if entry is not None:
                entries.append(entry)
        return cls(entries, source=source)

    @classmethod
    def from_file(
        cls,
        path: str | os.PathLike[str],
        *,
        max_bytes: int = MAX_FILE_BYTES,
        tz: tzinfo = UTC,
    ) -> AllowedSigners:
        """Read and parse an allowed-signers file of at most ``max_bytes`` bytes (UTF-8)."""
        source = os.fspath(path)
        data = _read_capped(source, max_bytes, "allowed signers file")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PolicyConfigError(
                f"{source}: not UTF-8 text (byte {exc.start})", source=source
            ) from None
        return cls.parse(text, source=source, tz=tz)

    def find(
        self,
        key: SSHPublicKey,
        *,
        namespace: str = "git",
        when: datetime | int,
        principal: str | None = None,
    ) -> AllowedSignerMatch:
        """Find the line that lets ``key`` sign in ``namespace`` at ``when``.

        Lines naming the key itself, and (for a certificate) ``cert-authority`` lines
        naming its CA, are considered in file order; the first that grants a principal
        (see :meth:`AllowedSignerEntry.principal_for`) and whose namespaces and validity
        window permit the signature wins. Other lines for the same key, expired or not,
        do not matter. ``when`` is a datetime or seconds since the epoch.
        """
        at = _epoch(when)
        candidates = self._by_key.get(key.blob, [])
        if key.certificate is not None:
            by_ca = self._by_ca.get(key.certificate.signature_key.blob)
            if by_ca:
                candidates = sorted([*candidates, *by_ca], key=lambda e: e.line)
        if not candidates:
            what = f"{key.display_type} key {key.fingerprint}"
            if key.certificate is not None:
                what += f" or its CA {key.certificate.signature_key.fingerprint}"
            return AllowedSignerMatch(
                reason=Reason.UNKNOWN_KEY, detail=f"no allowed signer for {what}"
            )
        first_refusal = ""
        for entry in candidates:
            granted = entry.principal_for(key, principal)
            if granted is None:
                refusal: str | None = (
                    f"principal {principal!r} is not permitted"
                    if principal is not None
                    else "no principal of the certificate is permitted"
                    if entry.cert_authority
                    else "no principal is permitted"
                )
            else:
                refusal = entry.refusal(namespace, at)
            if refusal is None and granted is not None:
                return AllowedSignerMatch(reason=None, principal=granted, entry=entry)
            if refusal is not None and not first_refusal:
                first_refusal = f"{self.source}:{entry.line}: {refusal}"
        return AllowedSignerMatch(reason=Reason.NOT_ALLOWED, detail=first_refusal)


def _read_capped(path: str, max_bytes: int, what: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise PolicyConfigError(
            f"cannot read {what} {path}: {exc.strerror or exc}", source=path
        ) from None
    if len(data) > max_bytes:
        raise PolicyConfigError(f"{what} {path} is larger than {max_bytes} bytes", source=path)
    return data


def _take_token(text: str, *, unquote: bool = False) -> tuple[str, str]:
    """Split off the first whitespace-delimited token; quotes protect spaces inside it."""
    if unquote and text.startswith('"'):
        end = text.find('"', 1)
        if end < 0:
            raise InvalidInputError("unterminated quoted principals")
        return text[1:end], text[end + 1 :]
    in_quote = False
    i = 0
    while i < len(text):
        ch = text[i]
        if in_quote and ch == "\\" and i + 1 < len(text):
            i += 2
            continue
        if ch == '"':
            in_quote = not in_quote
        elif ch in " \t" and not in_quote:
            return text[:i], text[i:]
        i += 1
    if in_quote:
        raise InvalidInputError("unterminated quote in options")
    return text, ""


def _split_options(options: str) -> list[str]:
    parts: list[str] = []
    start = 0
    in_quote = False
    i = 0
    while i < len(options):
        ch = options[i]
        if in_quote and ch == "\\" and i + 1 < len(options):
            i += 2
            continue
        if ch == '"':
            in_quote = not in_quote
        elif ch == "," and not in_quote:
            parts.append(options[start:i])
            start = i + 1
        i += 1
    parts.append(options[start:])
    return parts


def _dequote(value: str, name: str) -> str:
    if len(value) < 2 or not value.startswith('"') or not value.endswith('"'):
        raise InvalidInputError(f'bad options: {name} value must be double-quoted ("…")')
    inner = value[1:-1]
    out: list[str] = []
    i = 0
    while i < len(inner):
        ch = inner[i]
        if ch == "\\" and i + 1 < len(inner) and inner[i + 1] == '"':
            out.append('"')
            i += 2
            continue
        if ch == '"':
            raise InvalidInputError(f"bad options: stray quote in {name} value")
        out.append(ch)
        i += 1
    return "".join(out)


def _parse_options(options: str, tz: tzinfo) -> dict[str, str]:
    parsed: dict[str, str] = {}
    for part in _split_options(options):
        if not part:
            raise InvalidInputError("bad options: empty option")
        name, eq, value = part.partition("=")
        name = name.lower()
        if name == "cert-authority":
            if eq:
                raise InvalidInputError("bad options: cert-authority takes no value")
            value = ""
        elif name in _OPTIONS_WITH_VALUE:
            if not eq:
                raise InvalidInputError(f"bad options: {name} needs a value")
            value = _dequote(value, name)
            if name != "namespaces":
                parse_ssh_time(value, tz)
        else:
            raise InvalidInputError(f"bad options: unknown option {name[:40]!r}")
        if name in parsed:
            raise InvalidInputError(f"bad options: multiple {name!r} clauses")
        parsed[name] = value
    return parsed


def _parse_line(raw: str, number: int, tz: tzinfo) -> AllowedSignerEntry | None:
    if len(raw) > MAX_LINE_CHARS:
        raise InvalidInputError(f"line longer than {MAX_LINE_CHARS} characters")
    line = raw.strip(" \t\r")
    if not line or line.startswith("#"):
        return None
    principals, rest = _take_token(line, unquote=True)
    if not principals:
        raise InvalidInputError("empty principals")
    rest = rest.lstrip(" \t")
    if not rest:
        raise InvalidInputError("missing key")
    first, after = _take_token(rest)
    if first in KEY_TYPES:
        options, key_text = "", rest
    else:
        options, key_text = first, after.lstrip(" \t")
    opts = _parse_options(options, tz) if options else {}
    if not key_text:
        raise InvalidInputError("missing key")
    try:
        key = SSHPublicKey.from_authorized_line(key_text)
    except InvalidInputError as exc:
        raise InvalidInputError(f"invalid key: {exc}") from None
    cert_authority = "cert-authority" in opts
    if cert_authority and key.certificate is not None:
        raise InvalidInputError("a cert-authority key must be a plain key, not a certificate")
    after_t = parse_ssh_time(opts["valid-after"], tz) if "valid-after" in opts else None
    before_t = parse_ssh_time(opts["valid-before"], tz) if "valid-before" in opts else None
    return AllowedSignerEntry(
        principals=principals,
        key=key,
        line=number,
        options=options,
        cert_authority=cert_authority,
        namespaces=opts.get("namespaces"),
        valid_after=after_t,
        valid_before=before_t,
    )


# --- revocation -------------------------------------------------------------------------


@dataclass(slots=True)
class _CertRevocations:
    """Certificates revoked under one CA (or, with an empty CA, under any CA)."""

    serials: set[int] = field(default_factory=set)
    ranges: list[tuple[int, int]] = field(default_factory=list)
    bitmaps: list[tuple[int, int]] = field(default_factory=list)
    key_ids: set[str] = field(default_factory=set)

    def covers(self, serial: int, key_id: str) -> str | None:
        if key_id in self.key_ids:
            return f"certificate key id {key_id!r} is revoked"
        if (
            serial in self.serials
            or any(lo <= serial <= hi for lo, hi in self.ranges)
            or any(serial >= off and (bitmap >> (serial - off)) & 1 for off, bitmap in self.bitmaps)
        ):
            return f"certificate serial {serial} is revoked"
        return None


class RevocationList:
    """Revoked SSH keys and certificates (``gpg.ssh.revocationFile``, ``ssh-keygen -r``).

    Accepts both forms ssh-keygen does: a text list of public keys (one per line in
    authorized_keys syntax, optionally after one options or principal token; certificates
    listed there revoke their key) and a binary OpenSSH KRL (PROTOCOL.krl: explicit keys,
    SHA-1/SHA-256 key hashes, certificates by serial, serial range, serial bitmap or key
    id, per CA or for any CA), refusing what ssh-keygen refuses (serial 0, reversed
    ranges, unknown sections). Two differences: signed KRLs are refused rather than having
    their signatures checked (ssh-keygen cannot make them), and non-critical extension
    sections are skipped as PROTOCOL.krl says (OpenSSH 9.2 refuses them; later releases
    skip them too).
    """

    __slots__ = ("_certs", "_keys", "_sha1", "_sha256", "source")

    def __init__(self, *, source: str = "<revocation list>") -> None:
        self.source = source
        self._keys: set[bytes] = set()
        self._sha1: set[bytes] = set()
        self._sha256: set[bytes] = set()
        self._certs: dict[bytes, _CertRevocations] = {}

    def __repr__(self) -> str:
        return f"RevocationList({self.source!r}, {len(self._keys)} keys)"

    @classmethod
    def from_keys(
        cls, keys: Iterable[SSHPublicKey], *, source: str = "<revocation list>"
    ) -> RevocationList:
        """A list revoking exactly ``keys`` (certificates revoke their certified key)."""
        out = cls(source=source)
        out._keys.update(k.plain.blob for k in keys)
        return out

    @classmethod
    def parse(cls, data: str | bytes, *, source: str = "<revocation list>") -> RevocationList:
        """Parse a revocation list: a KRL if ``data`` starts with its magic, else key lines.

        Blank lines and ``#`` comments are skipped; any other line that is not a public key
        raises :class:`~buildsig.errors.PolicyConfigError` (ssh-keygen skips it silently,
        which would quietly leave a key trusted).
        """
        if isinstance(data, bytes):
            if data.startswith(_KRL_MAGIC):
                return cls._parse_krl(data, source)
            try:
                data = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise PolicyConfigError(
                    f"{source}: neither a KRL nor UTF-8 text (byte {exc.start})", source=source
                ) from None
        out = cls(source=source)
        for number, raw in enumerate(data.split("\n"), start=1):
            line = raw.strip(" \t\r")
            if not line or line.startswith("#"):
                continue
            key = _key_from_line(line) if len(line) <= MAX_LINE_CHARS else None
            if key is None:
                raise PolicyConfigError(
                    f"{source}:{number}: not a public key in authorized_keys syntax",
                    source=source,
                )
            out._keys.add(key.plain.blob)
        return out

    @classmethod
    def from_file(
        cls, path: str | os.PathLike[str], *, max_bytes: int = MAX_REVOCATION_BYTES
    ) -> RevocationList:
        """Read and parse a revocation list file (KRL or key list) of at most ``max_bytes``."""
        source = os.fspath(path)
        return cls.parse(_read_capped(source, max_bytes, "revocation list"), source=source)

    def _is_key_revoked(self, key: SSHPublicKey) -> bool:
        blob = key.plain.blob
        if blob in self._keys:
            return True
        if self._sha256 and hashlib.sha256(blob).digest() in self._sha256:
            return True
        return bool(self._sha1) and hashlib.sha1(blob, usedforsecurity=False).digest() in self._sha1

    def why_revoked(self, key: SSHPublicKey) -> str | None:
        """Why ``key`` must not be trusted, or None.

        A key is revoked when it is listed; a certificate also when its CA is listed or
        when a KRL revokes it by serial or key id under its CA (or under any CA).
        """
        if self._is_key_revoked(key):
            return f"key {key.fingerprint} is revoked"
        cert = key.certificate
        if cert is None:
            return None
        if self._is_key_revoked(cert.signature_key):
            return f"certificate authority {cert.signature_key.fingerprint} is revoked"
        for ca in (cert.signature_key.blob, b""):
            revs = self._certs.get(ca)
            if revs is not None:
                why = revs.covers(cert.serial, cert.key_id)
                if why is not None:
                    return why
        return None

    @classmethod
    def _parse_krl(cls, data: bytes, source: str) -> RevocationList:
        out = cls(source=source)
        try:
            out._read_krl(data)
        except InvalidInputError as exc:
            raise PolicyConfigError(f"{source}: malformed KRL: {exc}", source=source) from None
        return out

    def _read_krl(self, data: bytes) -> None:
        r = _Reader(data, "KRL")
        r.raw(len(_KRL_MAGIC), "magic")
        version = r.u32("format version")
        if version != 1:
            raise InvalidInputError(f"unsupported KRL format version {version}")
        r.u64("KRL version")
        r.u64("generated date")
        r.u64("flags")
        r.string("reserved")
        r.string("comment")
        while r.position < len(data):
            section = r.u8("section type")
            if section == 4:
                raise InvalidInputError("signed KRLs are not supported")
            body = r.string("section")
            s = _Reader(body, f"KRL section {section}")
            if section == 1:
                self._read_krl_certs(s, len(body))
            elif section == 2:
                while s.position < len(body):
                    # Kept as is: like ssh-keygen, a certificate listed here matches nothing.
                    self._keys.add(s.string("revoked key"))
            elif section in (3, 5):
                digests = self._sha1 if section == 3 else self._sha256
                size = 20 if section == 3 else 32
                while s.position < len(body):
                    digest = s.string("key hash")
                    if len(digest) != size:
                        raise InvalidInputError(f"key hash of {len(digest)} bytes")
                    digests.add(digest)
            elif section == 255:
                _read_krl_extension(s)
            else:
                raise InvalidInputError(f"unknown section type {section}")

    def _read_krl_certs(self, s: _Reader, size: int) -> None:
        ca_blob = s.string("CA key")
        s.string("reserved")
        ca = ca_blob  # empty: the revocations apply to certificates from any CA
        revs = self._certs.setdefault(ca, _CertRevocations())
        while s.position < size:
            kind = s.u8("certificate section type")
            body = s.string("certificate section")
            c = _Reader(body, f"KRL certificate section {kind:#x}")
            if kind == 0x20:
                while c.position < len(body):
                    serial = c.u64("serial")
                    if serial == 0:
                        raise InvalidInputError("serial 0 cannot be revoked")
                    revs.serials.add(serial)
            elif kind == 0x21:
                lo, hi = c.u64("serial range start"), c.u64("serial range end")
                if lo == 0 or lo > hi:
                    raise InvalidInputError(f"invalid serial range {lo}-{hi}")
                revs.ranges.append((lo, hi))
                c.end()
            elif kind == 0x22:
                offset = c.u64("bitmap offset")
                bitmap = c.mpint("bitmap", canonical=False)
                if offset == 0 and bitmap & 1:
                    raise InvalidInputError("serial 0 cannot be revoked")
                revs.bitmaps.append((offset, bitmap))
                c.end()
            elif kind == 0x23:
                while c.position < len(body):
                    revs.key_ids.add(c.text("key id"))
            elif kind == 0x39:
                _read_krl_extension(c)
            else:
                raise InvalidInputError(f"unknown certificate section type {kind:#x}")


def _read_krl_extension(r: _Reader) -> None:
    name = r.text("extension name")
    critical = r.u8("extension criticality")
    r.string("extension data")
    r.end()
    if critical:
        raise InvalidInputError(f"unsupported critical extension {name[:64]!r}")


def _key_from_line(line: str) -> SSHPublicKey | None:
    """A key line, possibly after one options or principal token; None if not one."""
    try:
        return SSHPublicKey.from_authorized_line(line)
    except InvalidInputError:
        pass
    try:
        rest = _take_token(line)[1].lstrip(" \t")
        return SSHPublicKey.from_authorized_line(rest) if rest else None
    except InvalidInputError:
        return None

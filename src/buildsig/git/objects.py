r"""Raw git tag and commit objects: what they say, what exactly was signed, and their ids.

A signature is only as good as the bytes it is checked against. This module reproduces
git's own rules (``gpg-interface.c``, ``commit.c``, ``tag.c``) for splitting an object into
the signed payload and the signature, because any difference lets a signature "verify"
over bytes git would not have accepted:

- **tags**: the signature starts at the *last* line that begins with an armor marker
  (``-----BEGIN PGP SIGNATURE-----``, ``PGP MESSAGE``, ``SSH SIGNATURE``, ``SIGNED
  MESSAGE``); everything before it is signed, minus any ``gpgsig``/``gpgsig-sha256``
  header (compat-object-format tags);
- **commits**: the signature is the ``gpgsig`` header (SHA-1 repositories) or
  ``gpgsig-sha256`` (SHA-256), continuation lines unfolded; the payload is the object with
  *every* ``gpgsig*`` header removed, byte for byte otherwise (``mergetag`` stays).

Object ids are recomputed from the bytes (``sha1``/``sha256`` of ``"<type> <len>\\0" +
raw``) so a server cannot hand over a different object than the one asked for.
:func:`to_model` then gives the Buildx input's ``Commit``/``Tag`` (actors with their own
UTC offsets, messages with one trailing newline removed, signature metadata).
"""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime, timedelta, timezone
from typing import Literal

from buildsig.errors import DigestMismatchError, InvalidInputError
from buildsig.model import Actor, Commit, PGPSignature, SSHSignature, Tag

__all__ = [
    "MAX_OBJECT_BYTES",
    "GitObject",
    "ObjectType",
    "SignatureFormat",
    "check_object_id",
    "object_id",
    "parse_actor",
    "parse_git_object",
    "to_model",
]

ObjectType = Literal["commit", "tag"]
SignatureFormat = Literal["openpgp", "ssh", "x509"]

#: Largest object accepted (git itself has no limit; real tags and commits are far smaller).
MAX_OBJECT_BYTES = 16 * 1024 * 1024

_MARKERS: tuple[tuple[bytes, SignatureFormat], ...] = (
    (b"-----BEGIN PGP SIGNATURE-----", "openpgp"),
    (b"-----BEGIN PGP MESSAGE-----", "openpgp"),
    (b"-----BEGIN SIGNED MESSAGE-----", "x509"),
    (b"-----BEGIN SSH SIGNATURE-----", "ssh"),
)


def signature_format(signature: bytes) -> SignatureFormat | None:
    """The signature's format from its armor header, as git decides (None: unknown)."""
    for marker, fmt in _MARKERS:
        if signature.startswith(marker):
            return fmt
    return None


@dataclasses.dataclass(frozen=True, slots=True)
class GitObject:
    """A parsed tag or commit, keeping the exact bytes needed to verify it."""

    type: ObjectType
    raw: bytes
    headers: tuple[tuple[str, bytes], ...]  # in order; continuation lines unfolded
    message: bytes  # the body without the signature (as stored, trailing newline kept)
    signature: bytes | None  # the armored signature block, or None when unsigned
    payload: bytes  # exactly the bytes the signature covers

    @property
    def signature_format(self) -> SignatureFormat | None:
        """openpgp, ssh or x509 by armor header; None when unsigned or unrecognised."""
        return None if self.signature is None else signature_format(self.signature)

    def header(self, name: str) -> bytes | None:
        """The first header with this name (git uses the first for single-valued ones)."""
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def header_all(self, name: str) -> list[bytes]:
        """Every header with this name, in order (``parent`` repeats)."""
        return [value for key, value in self.headers if key == name]

    def object_id(self, algorithm: Literal["sha1", "sha256"] = "sha1") -> str:
        """This object's id under ``algorithm``."""
        return object_id(self.type, self.raw, algorithm)

    @property
    def signer_time(self) -> datetime | None:
        """The tagger's or committer's time: what git checks SSH key validity at."""
        line = self.header("tagger" if self.type == "tag" else "committer")
        return None if line is None else parse_actor(line).when


def object_id(kind: str, raw: bytes, algorithm: Literal["sha1", "sha256"] = "sha1") -> str:
    """Git's object id: the hash of ``"<type> <size>"``, a NUL byte, then the content."""
    h = hashlib.sha1(usedforsecurity=False) if algorithm == "sha1" else hashlib.sha256()
    h.update(b"%s %d\0" % (kind.encode(), len(raw)))
    h.update(raw)
    return h.hexdigest()


def check_object_id(kind: str, raw: bytes, expected: str) -> None:
    """Raise DigestMismatchError unless ``raw`` hashes to ``expected`` (40 or 64 hex)."""
    if len(expected) == 40:
        actual = object_id(kind, raw, "sha1")
    elif len(expected) == 64:
        actual = object_id(kind, raw, "sha256")
    else:
        raise InvalidInputError(f"unsupported sha length: {expected!r}", source=expected)
    if actual != expected.lower():
        raise DigestMismatchError(
            f"checksum mismatch: expected {expected}, got {actual}",
            expected=expected,
            actual=actual,
        )


def _split_headers(raw: bytes, kind: str) -> tuple[list[tuple[str, bytes, int, int]], int]:
    """Header lines as (name, value, start, end) byte spans, and the offset of the body."""
    headers: list[tuple[str, bytes, int, int]] = []
    pos = 0
    size = len(raw)
    while pos < size:
        end = raw.find(b"\n", pos)
        if end < 0:
            raise InvalidInputError(f"invalid {kind} object: header without newline")
        line = raw[pos:end]
        if not line:
            return headers, end + 1  # blank line: the body starts after it
        if line.startswith(b" "):
            if not headers:
                raise InvalidInputError(f"invalid {kind} object: continuation before header")
            name, value, start, _ = headers[-1]
            headers[-1] = (name, value + b"\n" + line[1:], start, end + 1)
        else:
            key, sep, value = line.partition(b" ")
            if not sep or not key:
                raise InvalidInputError(f"invalid {kind} object: malformed header line")
            headers.append((key.decode("ascii", "replace"), value, pos, end + 1))
        pos = end + 1
    return headers, size  # no body at all (a message-less object)


def _tag_signature_start(raw: bytes, body: int) -> int | None:
    """Offset of the last line that starts with an armor marker, as git finds it."""
    start = None
    pos = body
    while pos < len(raw):
        if any(raw.startswith(marker, pos) for marker, _ in _MARKERS):
            start = pos
        nl = raw.find(b"\n", pos)
        if nl < 0:
            break
        pos = nl + 1
    return start


def parse_git_object(
    raw: bytes, kind: ObjectType | None = None, *, object_format: str | None = None
) -> GitObject:
    """Parse the bytes ``git cat-file <type> <id>`` prints.

    ``kind`` defaults to Buildx's guess (``object `` first means a tag). For commits,
    ``object_format`` (``sha1``/``sha256``) picks the ``gpgsig`` or ``gpgsig-sha256`` header
    as git does; by default it follows the length of the ``tree`` id.

    Raises InvalidInputError for bytes that are not a tag or commit at all.
    """
    if len(raw) > MAX_OBJECT_BYTES:
        raise InvalidInputError(f"git object too large: {len(raw)} bytes")
    if kind is None:
        kind = "tag" if raw.startswith(b"object ") else "commit"
    spans, body = _split_headers(raw, kind)
    headers = tuple((name, value) for name, value, _, _ in spans)
    if kind == "commit":
        if object_format is None:
            tree = next((v for n, v in headers if n == "tree"), b"")
            object_format = "sha256" if len(tree) == 64 else "sha1"
        wanted = "gpgsig" if object_format == "sha1" else "gpgsig-sha256"
        sig_values = [v for n, v in headers if n == wanted]
        signature = b"\n".join(sig_values) + b"\n" if sig_values else None
        payload = _without_gpgsig(raw, spans)
        return GitObject(kind, raw, headers, raw[body:], signature, payload)
    start = _tag_signature_start(raw, body)
    if start is None:
        return GitObject(kind, raw, headers, raw[body:], None, raw)
    head_spans = [s for s in spans if s[3] <= start]
    payload = _without_gpgsig(raw[:start], head_spans)
    return GitObject(kind, raw, headers, raw[body:start], raw[start:], payload)


def _without_gpgsig(raw: bytes, spans: list[tuple[str, bytes, int, int]]) -> bytes:
    cut = [(s, e) for name, _, s, e in spans if name in ("gpgsig", "gpgsig-sha256")]
    if not cut:
        return raw
    out = bytearray()
    pos = 0
    for start, end in cut:
        out += raw[pos:start]
        pos = end
    out += raw[pos:]
    return bytes(out)


def parse_actor(value: bytes) -> Actor:
    """``Name <email> 1700000000 +0100`` as Buildx reads it; malformed parts stay empty."""
    text = value.decode("utf-8", "replace")
    lt = text.rfind("<")
    if lt < 0:
        return Actor(name=text.strip())
    name = text[:lt].strip()
    gt = text.rfind(">")
    if gt < lt:
        return Actor(name=name)
    email = text[lt + 1 : gt]
    return Actor(name=name, email=email, when=_parse_when(text[gt + 1 :]))


def _parse_when(text: str) -> datetime | None:
    parts = text.split()
    if len(parts) != 2:
        return None
    seconds, offset = parts
    if not seconds.isdigit() or len(offset) != 5 or offset[0] not in "+-":
        return None
    if not offset[1:].isdigit():
        return None
    hours, minutes = int(offset[1:3]), int(offset[3:5])
    if minutes >= 60:
        return None
    delta = timedelta(hours=hours, minutes=minutes)
    try:
        tz = timezone(-delta if offset[0] == "-" else delta)
        return datetime.fromtimestamp(int(seconds), UTC).astimezone(tz)
    except (OverflowError, OSError, ValueError):
        return None  # beyond what datetime can hold: Buildx leaves `when` out too


def _signature_model(obj: GitObject) -> tuple[PGPSignature | None, SSHSignature | None]:
    """The signature's self-description for the input (Buildx: absent when unparsable)."""
    fmt = obj.signature_format
    if obj.signature is None or fmt is None:
        return None, None
    if fmt == "openpgp":
        from buildsig.git.openpgp import signature_packet_info

        info = signature_packet_info(obj.signature)
        if info is None:
            return None, None
        return PGPSignature(version=info[0], key_id=info[1]), None
    if fmt == "ssh":
        from buildsig.git.sshsig import sshsig_info

        ssh = sshsig_info(obj.signature)
        if ssh is None:
            return None, None
        return None, SSHSignature(version=ssh[0], pub_key=ssh[1])
    return None, None


def _text(value: bytes) -> str:
    # Go strings are bytes; encoding/json writes invalid UTF-8 as U+FFFD. Do the same.
    return value.decode("utf-8", "replace")


def _message(body: bytes) -> str:
    return _text(body[:-1] if body.endswith(b"\n") else body)


def to_model(obj: GitObject) -> Commit | Tag:
    """The Buildx input's ``Commit`` or ``Tag`` for this object (raw bytes kept, hidden).

    Requires the headers Buildx requires (commit: tree, author, committer; tag: object,
    type, tag, tagger) and raises InvalidInputError naming the missing one.
    """
    required = (
        ("tree", "author", "committer")
        if obj.type == "commit"
        else (
            "object",
            "type",
            "tag",
            "tagger",
        )
    )
    for name in required:
        if obj.header(name) is None:
            raise InvalidInputError(f"invalid {obj.type} object: missing {name} header")
    pgp, ssh = _signature_model(obj)
    if obj.type == "commit":
        return Commit(
            tree=_text(obj.header("tree") or b""),
            parents=tuple(_text(p) for p in obj.header_all("parent")),
            author=parse_actor(obj.header("author") or b""),
            committer=parse_actor(obj.header("committer") or b""),
            message=_message(obj.message),
            pgp_signature=pgp,
            ssh_signature=ssh,
            raw=obj.raw,
        )
    return Tag(
        object=_text(obj.header("object") or b""),
        type=_text(obj.header("type") or b""),
        tag=_text(obj.header("tag") or b""),
        tagger=parse_actor(obj.header("tagger") or b""),
        message=_message(obj.message),
        pgp_signature=pgp,
        ssh_signature=ssh,
        raw=obj.raw,
    )

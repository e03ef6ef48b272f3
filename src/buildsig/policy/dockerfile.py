"""The sources a Dockerfile uses, named as Buildx and BuildKit name them.

``buildsig check`` evaluates a build policy once per source: every base image, every
image a ``COPY --from`` or ``RUN --mount`` reads, every URL and git repository ``ADD``
fetches, and the build context. :func:`dockerfile_sources` lists them without running a
build, following BuildKit's Dockerfile frontend (``frontend/dockerfile`` in moby/buildkit:
``parser``, ``instructions``, ``shell`` and ``dockerfile2llb``) so that each
:class:`DockerfileSource` carries the identifier and attributes of the LLB source
operation BuildKit would create, e.g. ``docker-image://docker.io/library/alpine:3.20``,
``https://example.com/x.tgz`` with ``http.checksum``, or
``git://github.com/org/repo.git#v1.0`` with ``git.fullurl``.

What follows BuildKit:

* the parser: parser directives (``# syntax=``, ``# escape=``), line continuations
  (including comment and empty lines inside them), heredocs, JSON-form arguments and
  ``--flags``;
* variables: global ``ARG`` s before the first ``FROM`` (defaults, then ``build_args``),
  the automatic platform arguments (``BUILDPLATFORM``, ``TARGETARCH`` …), stage-local
  ``ARG`` and ``ENV``, and the shell-like expansion of ``$VAR``, ``${VAR:-default}``,
  ``${VAR:+alt}``, ``${VAR:?msg}``, ``${VAR#pat}``, ``${VAR%pat}``, ``${VAR/a/b}`` with
  quotes and the escape character;
* stages: ``FROM <stage>``, ``COPY --from=<stage name or index>`` and
  ``RUN --mount=…,from=<stage>`` refer to stages, any other name is an image; only stages
  reachable from the target (the last stage by default) count; ``ONBUILD`` triggers of a
  stage run in the stages built ``FROM`` it.

What cannot be known without the network, and is therefore left out: ``ENV`` values and
``ONBUILD`` triggers that come from a base *image's* configuration (a variable only the
image defines expands to the empty string here, as it would if the image did not define
it). Named build contexts (``--build-context``) are not modelled, and the Dockerfile itself
(``local://dockerfile``) is not listed.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import posixpath
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from typing import Final
from urllib.parse import unquote

from buildsig._internal.giturl import GitURL, parse_git_url
from buildsig._internal.platform import Platform, host_platform, parse_platform
from buildsig._internal.reference import parse_image_reference, validate_digest
from buildsig._internal.serde import FrozenMap
from buildsig.errors import InvalidInputError

__all__ = [
    "MAX_DOCKERFILE_SIZE",
    "DockerfileError",
    "DockerfileSource",
    "dockerfile_sources",
]

#: Largest Dockerfile accepted, in bytes (UTF-8). BuildKit reads Dockerfiles far smaller.
MAX_DOCKERFILE_SIZE: Final = 1024 * 1024

_EMPTY_IMAGE: Final = "scratch"
_GIT_AUTH_HEADER_KEY: Final = "GIT_AUTH_HEADER"
_GIT_AUTH_TOKEN_KEY: Final = "GIT_AUTH_TOKEN"  # noqa: S105 - a secret's name, not a secret


class DockerfileError(InvalidInputError):
    """A Dockerfile BuildKit would refuse to build; ``line`` is 1-based when known."""

    line: int | None

    def __init__(self, message: str, *, line: int | None = None, source: str | None = None):
        shown = f"dockerfile line {line}: {message}" if line is not None else message
        super().__init__(shown, source=source)
        self.line = line


@dataclasses.dataclass(frozen=True, slots=True)
class DockerfileSource:
    """One source a Dockerfile uses, where it is first used, as BuildKit names it.

    ``identifier`` and ``attrs`` are those of the LLB source operation (the policy's
    subject); ``kind`` is ``image``, ``http``, ``git`` or ``local``. ``stage`` is the stage
    name, or its 0-based index when unnamed (``None`` for the ``# syntax`` frontend image);
    ``instruction`` is ``FROM``, ``COPY``, ``ADD``, ``RUN`` or ``SYNTAX``; ``line`` is 1-based.
    ``platform`` is the stage's ``FROM --platform`` after expansion and normalisation, for
    base images that have one; ``None`` means the build's target platform.
    """

    identifier: str
    kind: str
    stage: str | int | None
    instruction: str
    line: int
    attrs: Mapping[str, str] = dataclasses.field(default_factory=FrozenMap)
    platform: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.attrs, FrozenMap):
            object.__setattr__(self, "attrs", FrozenMap(self.attrs))


# --- shell-like word expansion (frontend/dockerfile/shell/lex.go) ---------------------------


class _LexError(Exception):
    """An expansion failed; the message is BuildKit's."""


_EOF: Final = ""
_MAX_NESTING: Final = 100


def _is_name_char(ch: str) -> bool:
    return ch == "_" or ch.isalpha() or unicodedata.category(ch) == "Nd"


class _Words:
    """Splits the expanded text into words the way the Go ``wordsStruct`` does."""

    def __init__(self) -> None:
        self.buf: list[str] = []
        self.words: list[str] = []
        self.in_word = False

    def add_char(self, ch: str) -> None:
        if ch.isspace() and self.in_word:
            if self.buf:
                self.words.append("".join(self.buf))
                self.buf = []
                self.in_word = False
        elif not ch.isspace():
            self.add_raw_char(ch)

    def add_raw_char(self, ch: str) -> None:
        self.buf.append(ch)
        self.in_word = True

    def add_string(self, s: str) -> None:
        for ch in s:
            self.add_char(ch)

    def add_raw_string(self, s: str) -> None:
        self.buf.append(s)
        self.in_word = True

    def get(self) -> list[str]:
        if self.buf:
            self.words.append("".join(self.buf))
            self.buf = []
            self.in_word = False
        return self.words


class _Lexer:
    """One pass of BuildKit's ``Lex`` over a word."""

    def __init__(
        self,
        text: str,
        env: Mapping[str, str],
        escape: str = "\\",
        *,
        raw_quotes: bool = False,
        raw_escapes: bool = False,
        skip_unset: bool = False,
    ) -> None:
        self.text = text
        self.pos = 0
        self.env = env
        self.escape = escape
        self.raw_quotes = raw_quotes
        self.raw_escapes = raw_escapes
        self.skip_unset = skip_unset
        self.depth = 0

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else _EOF

    def next(self) -> str:
        ch = self.peek()
        if ch:
            self.pos += 1
        return ch

    def run(self) -> tuple[str, list[str]]:
        try:
            return self.stop_on(_EOF, self.raw_escapes)
        except _LexError as exc:
            raise _LexError(f"failed to process {json.dumps(self.text)}: {exc}") from None

    def stop_on(self, stop: str, raw_escapes: bool) -> tuple[str, list[str]]:
        saved, self.raw_escapes = self.raw_escapes, raw_escapes
        try:
            return self._stop_on(stop)
        finally:
            self.raw_escapes = saved

    def _stop_on(self, stop: str) -> tuple[str, list[str]]:
        result: list[str] = []
        words = _Words()
        while self.peek() != _EOF:
            ch = self.peek()
            if stop and ch == stop:
                self.next()
                return "".join(result), words.get()
            special: Callable[[], str] | None = {
                "$": self.dollar,
                "<": self.possible_heredoc,
                "'": self.single_quote,
                '"': self.double_quote,
            }.get(ch)
            if special is not None:
                tmp = special()
                result.append(tmp)
                if ch == "$":
                    words.add_string(tmp)
                else:
                    words.add_raw_string(tmp)
                continue
            ch = self.next()
            if ch == self.escape:
                if self.raw_escapes:
                    words.add_raw_char(ch)
                    result.append(ch)
                ch = self.next()
                if ch == _EOF:
                    break
                words.add_raw_char(ch)
            else:
                words.add_char(ch)
            result.append(ch)
        if stop:
            raise _LexError(f"unexpected end of statement while looking for matching {stop}")
        return "".join(result), words.get()

    def single_quote(self) -> str:
        out: list[str] = []
        ch = self.next()
        if self.raw_quotes:
            out.append(ch)
        while True:
            ch = self.next()
            if ch == _EOF:
                raise _LexError(
                    "unexpected end of statement while looking for matching single-quote"
                )
            if ch == "'":
                if self.raw_quotes:
                    out.append(ch)
                return "".join(out)
            out.append(ch)

    def double_quote(self) -> str:
        out: list[str] = []
        ch = self.next()
        if self.raw_quotes:
            out.append(ch)
        while True:
            peek = self.peek()
            if peek == _EOF:
                raise _LexError(
                    "unexpected end of statement while looking for matching double-quote"
                )
            if peek == '"':
                ch = self.next()
                if self.raw_quotes:
                    out.append(ch)
                return "".join(out)
            if peek == "$":
                out.append(self.dollar())
                continue
            ch = self.next()
            if ch == self.escape:
                if self.raw_escapes:
                    out.append(ch)
                nxt = self.peek()
                if nxt == _EOF:
                    continue
                if nxt in ('"', "$", self.escape):
                    ch = self.next()
            out.append(ch)

    def possible_heredoc(self) -> str:
        self.next()
        if self.peek() != "<":
            return "<"
        self.next()
        space: list[str] = []
        while self.peek() in ("\t", "\r", " ") and self.peek() != _EOF:
            space.append(self.next())
        return "<<" + "".join(space)

    def name(self) -> str:
        out: list[str] = []
        while self.peek() != _EOF:
            ch = self.peek()
            if not out and unicodedata.category(ch) == "Nd":
                while self.peek() != _EOF and unicodedata.category(self.peek()) == "Nd":
                    out.append(self.next())
                return "".join(out)
            if not out and ch in "@*#?-$!0":
                return self.next()
            if not _is_name_char(ch):
                break
            out.append(self.next())
        return "".join(out)

    def get(self, name: str) -> tuple[str, bool]:
        if name in self.env:
            return self.env[name], True
        return "", False

    def dollar(self) -> str:
        # Go's stacks grow; Python's do not. Nesting this deep is never meant.
        self.depth += 1
        if self.depth > _MAX_NESTING:
            raise _LexError("substitution nested too deeply")
        try:
            return self._dollar()
        finally:
            self.depth -= 1

    def _dollar(self) -> str:
        self.next()
        if self.peek() != "{":
            name = self.name()
            if not name:
                return "$"
            value, found = self.get(name)
            if not found and self.skip_unset:
                return "$" + name
            return value
        self.next()
        if self.peek() == _EOF:
            raise _LexError("syntax error: missing '}'")
        if self.peek() in "{}:":
            raise _LexError("syntax error: bad substitution")
        name = self.name()
        ch = self.next()
        modifier = ch
        null_is_unset = False
        if ch == "}":
            value, found = self.get(name)
            if not found and self.skip_unset:
                return "${" + name + "}"
            return value
        if ch == ":":
            null_is_unset = True
            ch = self.next()
            modifier += ch
        if null_is_unset or (ch and ch in "+-?#%"):
            raw = ch in "#%"
            if null_is_unset and raw:
                raise _LexError(f"unsupported modifier ({modifier}) in substitution")
            try:
                word, _ = self.stop_on("}", raw)
            except _LexError:
                if self.peek() == _EOF:
                    raise _LexError("syntax error: missing '}'") from None
                raise
            value, found = self.get(name)
            if self.skip_unset and not found:
                return "${" + name + modifier + word + "}"
            empty = not found or (null_is_unset and value == "")
            if ch == "-":
                return word if empty else value
            if ch == "+":
                return "" if empty else word
            if ch == "?":
                if not found:
                    raise _LexError(f"{name}: {word or 'is not allowed to be unset'}")
                if null_is_unset and value == "":
                    raise _LexError(f"{name}: {word or 'is not allowed to be empty'}")
                return value
            if ch not in ("#", "%"):
                raise _LexError(f"unsupported modifier ({modifier}) in substitution")
            greedy = bool(word) and word[0] == ch
            if greedy:
                word = word[1:]
            if ch == "%":
                return _trim_suffix(word, value, greedy)
            return _trim_prefix(word, value, greedy)
        if ch == "/" and not null_is_unset:
            replace_all = self.peek() == "/"
            if replace_all:
                self.next()
            try:
                pattern, _ = self.stop_on("/", True)
            except _LexError:
                if self.peek() == _EOF:
                    raise _LexError("syntax error: missing '/' in ${}") from None
                raise
            try:
                replacement, _ = self.stop_on("}", True)
            except _LexError:
                if self.peek() == _EOF:
                    raise _LexError("syntax error: missing '}'") from None
                raise
            value, found = self.get(name)
            if self.skip_unset and not found:
                return "${" + name + "/" + pattern + "/" + replacement + "}"
            rx = _shell_pattern(pattern, greedy=True, anchored=False)
            if replace_all:
                return rx.sub(lambda _m: replacement, value)
            m = rx.search(value)
            return value if m is None else value[: m.start()] + replacement + value[m.end() :]
        raise _LexError(f"unsupported modifier ({modifier}) in substitution")


def _shell_pattern(pattern: str, *, greedy: bool, anchored: bool) -> re.Pattern[str]:
    """A ``${VAR#pattern}`` wildcard pattern as a regular expression."""
    out = ["^"] if anchored else []
    i = 0
    while i < len(pattern):
        tok = pattern[i]
        i += 1
        if tok == "*":
            out.append(".*" if greedy else ".*?")
            continue
        if tok == "?":
            out.append(".")
            continue
        if tok == "\\":
            nxt = pattern[i] if i < len(pattern) else ""
            if nxt in ("}", "/"):
                continue
            if nxt not in ("*", "?", "\\"):
                raise _LexError(f"invalid pattern ({pattern}) in substitution: invalid escape")
            out.append("\\" + nxt)
            i += 1
            continue
        out.append(re.escape(tok))
    return re.compile("".join(out))


def _trim_prefix(pattern: str, value: str, greedy: bool) -> str:
    m = _shell_pattern(pattern, greedy=greedy, anchored=True).search(value)
    return value if m is None else value[m.end() :]


def _reverse_pattern(pattern: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\" and i != len(pattern) - 1:
            out.append(pattern[i : i + 2])
            i += 2
        else:
            out.append(pattern[i])
            i += 1
    return "".join(reversed(out))


def _trim_suffix(pattern: str, value: str, greedy: bool) -> str:
    return _trim_prefix(_reverse_pattern(pattern), value[::-1], greedy)[::-1]


def _expand(word: str, env: Mapping[str, str], escape: str) -> str:
    """BuildKit's ``ProcessWord``: expand variables and remove quotes and escapes."""
    return _Lexer(word, env, escape).run()[0]


# --- the parser (frontend/dockerfile/parser) -----------------------------------------------

_WHITESPACE_RE: Final = re.compile(r"[\t\v\f\r ]+")
_HEREDOC_RE: Final = re.compile(r"(\d*)<<(-?)\s*([^<]*)", re.DOTALL)
_DIRECTIVE_RE: Final = re.compile(r"([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*", re.DOTALL)
_STAGE_NAME_RE: Final = re.compile(r"[a-z][a-z0-9-_.]*")
_KNOWN_INSTRUCTIONS: Final = frozenset(
    {
        "add",
        "arg",
        "cmd",
        "copy",
        "entrypoint",
        "env",
        "expose",
        "from",
        "healthcheck",
        "label",
        "maintainer",
        "onbuild",
        "run",
        "shell",
        "stopsignal",
        "user",
        "volume",
        "workdir",
    }
)


@dataclasses.dataclass(slots=True)
class _Heredoc:
    name: str
    chomp: bool
    expand: bool
    content: str = ""


@dataclasses.dataclass(slots=True)
class _Node:
    """One instruction: BuildKit's ``parser.Node`` reduced to what is needed here."""

    command: str  # lower case
    flags: list[str]
    rest: str  # the text after the command and its flags
    args: list[str]
    json_form: bool
    line: int
    heredocs: list[_Heredoc] = dataclasses.field(default_factory=list)
    sub: _Node | None = None  # ONBUILD's instruction


def _is_space(ch: str) -> bool:
    return ch.isspace()


def _is_comment(line: str) -> bool:
    stripped = line.lstrip()
    return stripped.startswith("#")


class _Directives:
    """Parser directives; ``escape`` changes how lines continue and words are escaped."""

    def __init__(self) -> None:
        self.escape = "\\"
        self.continuation = self._continuation_re("\\")
        self.done = False
        self.seen: dict[str, tuple[str, int]] = {}

    @staticmethod
    def _continuation_re(token: str) -> re.Pattern[str]:
        t = re.escape(token)
        return re.compile(rf"([^{t}]){t}[ \t]*$|^{t}[ \t]*$")

    def parse_line(self, line: str, number: int) -> bool:
        """Consume a possible directive; True when ``line`` was one."""
        if self.done:
            return False
        if not line.startswith("#"):
            self.done = True
            return False
        m = _DIRECTIVE_RE.fullmatch(line[1:].lstrip())
        if m is None or m.group(1).lower() not in ("syntax", "escape", "check"):
            self.done = True
            return False
        key = m.group(1).lower()
        if key in self.seen:
            raise DockerfileError(f"only one {key} parser directive can be used", line=number)
        self.seen[key] = (m.group(2), number)
        if key == "escape":
            value = m.group(2)
            if value not in ("`", "\\"):
                raise DockerfileError(
                    f"invalid escape token '{value}' does not match ` or \\", line=number
                )
            self.escape = value
            self.continuation = self._continuation_re(value)
        return True

    def trim_continuation(self, line: str) -> tuple[str, bool]:
        if self.continuation.search(line):
            return self.continuation.sub(r"\1", line, count=1), False
        return line, True


def _split_lines(text: str) -> list[str]:
    """Lines with their endings, split on newlines only (Go's ``bufio.ScanLines`` variant)."""
    parts = text.split("\n")
    lines = [p + "\n" for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def _parse_words(rest: str, escape: str) -> list[str]:
    """BuildKit's ``parseWords``: split on spaces, keeping quotes and escapes."""
    words: list[str] = []
    buf: list[str] = []
    in_word = in_quote = blank_ok = False
    quote = ""
    i, n = 0, len(rest)
    while i < n:
        ch = rest[i]
        if not in_word and not in_quote:
            if ch.isspace():
                i += 1
                continue
            in_word = True
        if in_word:
            if ch.isspace():
                in_word = False
                if blank_ok or buf:
                    words.append("".join(buf))
                buf, blank_ok = [], False
                i += 1
                continue
            if ch in ("'", '"'):
                quote, blank_ok, in_word, in_quote = ch, True, False, True
            if ch == escape:
                if i + 1 == n:
                    i += 1
                    continue
                buf.append(ch)
                i += 1
                ch = rest[i]
            buf.append(ch)
            i += 1
            continue
        # in a quote
        if ch == quote:
            in_quote, in_word = False, True
        if ch == escape and quote != "'":
            if i + 1 == n:
                in_quote, in_word = False, True
                i += 1
                continue
            buf.append(ch)
            i += 1
            ch = rest[i]
        buf.append(ch)
        i += 1
    if (in_word or in_quote) and (blank_ok or buf):
        words.append("".join(buf))
    return words


def _extract_flags(line: str, escape: str) -> tuple[str, list[str]]:
    """BuildKit's ``extractBuilderFlags``: leading ``--flag`` words, then the rest."""
    words: list[str] = []
    buf: list[str] = []
    phase = "spaces"
    quote = ""
    blank_ok = False
    pos, n = 0, len(line)
    while pos <= n:
        ch = line[pos] if pos < n else ""
        if phase == "spaces":
            if pos == n:
                break
            if ch.isspace():
                pos += 1
                continue
            if ch != "-" or pos + 1 == n or line[pos + 1] != "-":
                return line[pos:], words
            phase = "word"
        if pos == n:
            word = "".join(buf)
            if word != "--" and (blank_ok or word):
                words.append(word)
            break
        if phase == "word":
            if ch.isspace():
                word = "".join(buf)
                phase = "spaces"
                if word == "--":
                    return line[pos:], words
                if blank_ok or word:
                    words.append(word)
                buf, blank_ok = [], False
                pos += 1
                continue
            if ch in ("'", '"'):
                quote, blank_ok, phase = ch, True, "quote"
                pos += 1
                continue
            if ch == escape:
                if pos + 1 == n:
                    pos += 1
                    continue
                pos += 1
                ch = line[pos]
            buf.append(ch)
            pos += 1
            continue
        # in a quote
        if ch == quote:
            phase = "word"
            pos += 1
            continue
        if ch == escape:
            if pos + 1 == n:
                phase = "word"
                pos += 1
                continue
            pos += 1
            ch = line[pos]
        buf.append(ch)
        pos += 1
    return "", words


class _NotStringArray(Exception):
    pass


def _parse_json(rest: str) -> list[str] | None:
    rest = rest.lstrip()
    if not rest.startswith("["):
        return None
    try:
        value = json.loads(rest)
    except ValueError:
        return None
    if not isinstance(value, list):  # pragma: no cover - starts with "["
        return None
    if not all(isinstance(v, str) for v in value):
        raise _NotStringArray
    return value


def _parse_heredoc_word(word: str) -> _Heredoc | None:
    """BuildKit's ``ParseHeredoc``: ``<<[-]NAME`` (quoted names disable expansion)."""
    m = _HEREDOC_RE.fullmatch(word)
    if m is None or not m.group(3):
        return None
    rest = m.group(3)
    try:
        words = _Lexer(rest, {}, skip_unset=True).run()[1]
        if len(words) != 1:
            return None
        raw = _Lexer(rest, {}, raw_quotes=True, skip_unset=True).run()[1]
    except _LexError:
        return None
    name = words[0]
    expand = name.count("'") + name.count('"') == raw[0].count("'") + raw[0].count('"')
    return _Heredoc(name=name, chomp=m.group(2) == "-", expand=expand)


def _new_node(line: str, escape: str, number: int, *, nested: bool = False) -> _Node:
    parts = _WHITESPACE_RE.split(line.strip(), maxsplit=1)
    command = parts[0]
    rest, flags = "", list[str]()
    if len(parts) == 2:
        rest, flags = _extract_flags(parts[1], escape)
    rest = rest.strip()
    lower = command.lower()
    args: list[str] = []
    json_form = False
    sub: _Node | None = None
    try:
        if lower == "from" or lower == "expose":
            args = _WHITESPACE_RE.split(rest) if rest else []
        elif lower in ("add", "copy", "volume"):
            parsed = _parse_json(rest)
            if parsed is not None:
                args, json_form = parsed, True
            else:
                args = _WHITESPACE_RE.split(rest) if rest else []
        elif lower in ("run", "cmd", "entrypoint", "shell"):
            parsed = _parse_json(rest) if rest else None
            if parsed is not None:
                args, json_form = parsed, True
            elif rest:
                args = [rest]
        elif lower in ("arg", "env", "label"):
            args = _parse_words(rest, escape)
        elif lower == "onbuild" and rest and not nested:
            sub = _new_node(rest, escape, number, nested=True)
    except _NotStringArray:
        raise DockerfileError("only strings allowed in JSON array", line=number) from None
    return _Node(lower, flags, rest, args, json_form, number, sub=sub)


def _heredocs_in(line: str) -> list[_Heredoc]:
    try:
        words = _Lexer(line, {}, raw_quotes=True, raw_escapes=True, skip_unset=True).run()[1]
    except _LexError:
        words = []
    return [h for h in (_parse_heredoc_word(w) for w in words) if h is not None]


@dataclasses.dataclass(slots=True)
class _Parsed:
    nodes: list[_Node]
    escape: str
    syntax: tuple[str, int] | None


def _parse(text: str) -> _Parsed:
    """Split a Dockerfile into instructions as BuildKit's ``parser.Parse`` does."""
    directives = _Directives()
    lines = _split_lines(text)
    if lines:
        lines[0] = lines[0].removeprefix("\ufeff")
    nodes: list[_Node] = []
    current = 0
    i = 0
    while i < len(lines):
        raw = lines[i]
        i += 1
        stripped = raw.rstrip("\r\n").lstrip()
        current += 1
        if directives.parse_line(stripped, current):
            continue
        content = "" if _is_comment(stripped) else stripped
        start = current
        content, end_of_line = directives.trim_continuation(content)
        if end_of_line and not content:
            continue
        buf = [content]
        while not end_of_line and i < len(lines):
            raw = lines[i]
            i += 1
            current += 1
            cont = raw.rstrip("\r\n")
            if _is_comment(raw):
                continue
            if not cont.lstrip():
                continue
            cont, end_of_line = directives.trim_continuation(cont)
            buf.append(cont)
        line = "".join(buf)
        node = _new_node(line, directives.escape, start)
        target = node.sub if node.command == "onbuild" and node.sub is not None else node
        if target.command in ("add", "copy", "run") and not target.json_form and "<<" in line:
            for heredoc in _heredocs_in(line):
                body: list[str] = []
                terminated = False
                while i < len(lines):
                    raw = lines[i]
                    i += 1
                    current += 1
                    candidate = raw.rstrip("\r\n")
                    if heredoc.chomp:
                        candidate = candidate.lstrip("\t")
                    if candidate == heredoc.name:
                        terminated = True
                        break
                    body.append(raw)
                if not terminated:
                    raise DockerfileError("unterminated heredoc", line=start)
                heredoc.content = "".join(body)
                node.heredocs.append(heredoc)
        nodes.append(node)
    if not nodes:
        raise DockerfileError("file with no instructions", line=current or None)
    return _Parsed(nodes, directives.escape, _syntax_directive(lines))


def _syntax_directive(lines: list[str]) -> tuple[str, int] | None:
    """The ``# syntax=`` frontend image, found as BuildKit's ``DetectSyntax`` finds it."""
    number = 0
    for raw in lines:
        number += 1
        line = raw.rstrip("\r\n")
        if number == 1 and line.startswith("#!"):
            continue
        if not line.startswith("#"):
            break
        m = _DIRECTIVE_RE.fullmatch(line[1:].lstrip())
        if m is None or m.group(1).lower() not in ("syntax", "escape", "check"):
            break
        if m.group(1).lower() == "syntax":
            value = m.group(2).split()
            return (value[0], number) if value else None
    return None


# --- instructions (frontend/dockerfile/instructions) ---------------------------------------

_BOOL: Final = "bool"
_STRING: Final = "string"
_STRINGS: Final = "strings"

_FLAG_TYPES: Final[Mapping[str, Mapping[str, str]]] = {
    "from": {"platform": _STRING},
    "copy": {
        "chown": _STRING,
        "from": _STRING,
        "chmod": _STRING,
        "link": _BOOL,
        "exclude": _STRINGS,
        "parents": _BOOL,
    },
    "add": {
        "chown": _STRING,
        "chmod": _STRING,
        "link": _BOOL,
        "keep-git-dir": _BOOL,
        "checksum": _STRING,
        "unpack": _BOOL,
        "exclude": _STRINGS,
    },
    "run": {"mount": _STRINGS, "network": _STRING, "security": _STRING, "device": _STRINGS},
}


def _parse_flags(node: _Node) -> dict[str, list[str]]:
    """BuildKit's ``BFlags.Parse`` for the instructions whose flags matter here."""
    types = _FLAG_TYPES.get(node.command)
    if types is None:
        return {}
    out: dict[str, list[str]] = {}
    for arg in node.flags:
        if arg == "--":
            break
        if not arg.startswith("--"):
            raise DockerfileError(f"arg should start with -- : {arg}", line=node.line)
        flag, has_value, value = arg.partition("=")
        name = flag[2:]
        kind = types.get(name)
        if kind is None:
            raise DockerfileError(f"unknown flag: {flag}", line=node.line)
        if name in out and kind != _STRINGS:
            raise DockerfileError(f"duplicate flag specified: {flag}", line=node.line)
        if kind == _BOOL:
            if has_value and not value:
                raise DockerfileError(f"missing a value on flag: {flag}", line=node.line)
            if value.lower() not in ("true", "false", ""):
                raise DockerfileError(
                    f"expecting boolean value for flag {flag}, not: {value}", line=node.line
                )
            out[name] = ["false" if value.lower() == "false" else "true"]
        else:
            if not has_value:
                raise DockerfileError(f"missing a value on flag: {flag}", line=node.line)
            out.setdefault(name, []).append(value)
    return out


@dataclasses.dataclass(slots=True)
class _Mount:
    type: str
    from_: str


def _csv_fields(value: str) -> list[str]:
    """Go's ``encoding/csv`` reading one record (what ``csvvalue.Fields`` does)."""
    try:
        rows = list(csv.reader([value], strict=True))
    except csv.Error as exc:
        raise _LexError(f"failed to parse csv mounts: {exc}") from None
    return rows[0] if rows else []


_MOUNT_TYPES: Final = frozenset({"bind", "cache", "tmpfs", "secret", "ssh"})


def _parse_mount(value: str, expand: Callable[[str], str] | None) -> _Mount:
    """The parts of ``parseMount`` that decide whether a mount reads another source."""
    mount = _Mount(type="bind", from_="")
    for field in _csv_fields(value):
        key, has_value, val = field.partition("=")
        key = key.lower()
        if not has_value:
            if expand is None:
                continue
            if key in ("readonly", "ro", "readwrite", "rw", "required"):
                continue
            raise _LexError(f"invalid field '{field}' must be a key=value pair")
        if expand is not None:
            val = expand(val)
        elif key == "from":
            idx = val.find("$")
            if idx not in (-1, len(val) - 1):
                raise _LexError(
                    f"'{key}' doesn't support variable expansion, define alias stage instead"
                )
        else:
            continue
        if key == "type":
            if val.lower() not in _MOUNT_TYPES:
                raise _LexError(f"unsupported mount type {json.dumps(val)}")
            mount.type = val.lower()
        elif key == "from":
            mount.from_ = val
    if mount.type == "secret" and mount.from_:
        raise _LexError("secret mount should not have a from")
    return mount


@dataclasses.dataclass(slots=True)
class _Cmd:
    """An instruction inside a stage (only the kinds that matter here)."""

    kind: str  # arg, env, copy, add, run, onbuild, other
    line: int
    pairs: list[tuple[str, str | None]] = dataclasses.field(default_factory=list)
    sources: list[str] = dataclasses.field(default_factory=list)
    from_: str = ""
    checksum: str = ""
    keep_git_dir: bool | None = None
    mounts: list[str] = dataclasses.field(default_factory=list)
    trigger: str = ""
    deps: list[_State] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(eq=False, slots=True)
class _State:
    """A stage, or an image another stage reads (BuildKit's ``dispatchState``)."""

    base_name: str
    line: int
    name: str = ""
    index: int = 0
    platform_expr: str = ""
    platform: str | None = None
    commands: list[_Cmd] = dataclasses.field(default_factory=list)
    base: _State | None = None
    deps: list[_State] = dataclasses.field(default_factory=list)
    dep_ids: set[int] = dataclasses.field(default_factory=set)
    unregistered: bool = False
    dispatched: bool = False
    onbuild_done: bool = False
    env: dict[str, str] = dataclasses.field(default_factory=dict)
    identifier: str = ""  # the image, when the state is an image


def _to_command(node: _Node) -> _Cmd:
    """Turn a parsed line into a stage command (``instructions.ParseInstruction``)."""
    flags = _parse_flags(node)
    if node.command == "arg":
        if not node.args:
            raise DockerfileError("ARG requires at least one argument", line=node.line)
        pairs: list[tuple[str, str | None]] = []
        for word in node.args:
            key, eq, value = word.partition("=")
            if eq and not key:
                raise DockerfileError("ARG names can not be blank", line=node.line)
            pairs.append((key, value if eq else None))
        return _Cmd("arg", node.line, pairs=pairs)
    if node.command == "env":
        return _Cmd("env", node.line, pairs=_env_pairs(node))
    if node.command in ("copy", "add"):
        name = node.command.upper()
        if len(node.args) < 2:
            raise DockerfileError(f"{name} requires at least two arguments", line=node.line)
        dest = node.args[-1]
        if _parse_heredoc_word(dest) is not None:
            raise DockerfileError(
                f"{name} cannot accept a heredoc as a destination", line=node.line
            )
        sources = [s for s in node.args[:-1] if _parse_heredoc_word(s) is None]
        keep = flags.get("keep-git-dir")
        return _Cmd(
            node.command,
            node.line,
            sources=sources,
            from_=flags.get("from", [""])[0],
            checksum=flags.get("checksum", [""])[0],
            keep_git_dir=None if keep is None else keep[0] == "true",
        )
    if node.command == "run":
        mounts = flags.get("mount", [])
        for spec in mounts:
            try:
                _parse_mount(spec, None)
            except _LexError as exc:
                raise DockerfileError(str(exc), line=node.line) from None
        return _Cmd("run", node.line, mounts=mounts)
    if node.command == "onbuild":
        if node.sub is None:
            raise DockerfileError("ONBUILD requires at least one argument", line=node.line)
        trigger = node.sub.command.upper()
        if node.sub.command not in _KNOWN_INSTRUCTIONS:
            raise DockerfileError(f"unknown instruction: {trigger}", line=node.line)
        if trigger == "ONBUILD":
            raise DockerfileError(
                "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed", line=node.line
            )
        if trigger in ("MAINTAINER", "FROM"):
            raise DockerfileError(f"{trigger} isn't allowed as an ONBUILD trigger", line=node.line)
        return _Cmd("onbuild", node.line, trigger=node.rest)
    return _Cmd("other", node.line)


def _env_pairs(node: _Node) -> list[tuple[str, str | None]]:
    """``ENV a=b c=d`` or the legacy ``ENV a b c``."""
    words = node.args
    if not words:
        raise DockerfileError("ENV requires at least one argument", line=node.line)
    if "=" not in words[0]:
        parts = _WHITESPACE_RE.split(node.rest, maxsplit=1)
        if len(parts) < 2:
            raise DockerfileError("ENV must have two arguments", line=node.line)
        return [(parts[0], parts[1])]
    pairs: list[tuple[str, str | None]] = []
    for word in words:
        if "=" not in word:
            raise DockerfileError(
                f"Syntax error - can't find = in {json.dumps(word)}. "
                "Must be of the form: name=value",
                line=node.line,
            )
        key, _, value = word.partition("=")
        pairs.append((key, value))
    return pairs


# --- git and http sources (dfgitutil, llb.Git, llb.HTTP) ------------------------------------


@dataclasses.dataclass(slots=True)
class _GitRef:
    url: GitURL
    ref: str = ""
    subdir: str = ""
    checksum: str = ""
    keep_git_dir: bool | None = None
    submodules: bool | None = None
    mtime: str = ""
    fetch_by_commit: bool = False


def _parse_bool(value: str) -> bool | None:
    """Go's ``strconv.ParseBool``."""
    if value in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if value in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    return None


def _git_ref(src: str) -> tuple[_GitRef | None, str | None]:
    """BuildKit's ``ParseGitRef`` for ADD: the ref (None when not git) and any query error.

    The legacy ``github.com/…`` form is *not* a git source for ADD (BuildKit treats it as
    a local path), so it is not recognised here.
    """
    if src.startswith(("./", "../", "github.com/")):
        return None, None
    try:
        url = parse_git_url(src)
    except InvalidInputError:
        return None, None
    if url.scheme in ("http", "https") and not url.path.endswith(".git"):
        return None, None
    ref = _GitRef(url=url, ref=url.ref, subdir=url.subdir)
    return ref, _load_query(ref, url.query)


def _load_query(ref: _GitRef, query: Iterable[tuple[str, tuple[str, ...]]]) -> str | None:
    tag = branch = ""
    for key, values in query:
        vals: list[str] | None = list(values)
        if len(values) > 1:
            return f"query {json.dumps(key)} has multiple values"
        if not values or values[0] == "":
            if key in ("submodules", "keep-git-dir", "fetch-by-commit"):
                vals = None
            else:
                return f"query {json.dumps(key)} has no value"
        first = vals[0] if vals else ""
        if key == "ref":
            if ref.ref and ref.ref != first:
                return f"ref conflicts: {json.dumps(ref.ref)} vs {json.dumps(first)}"
            ref.ref = first
        elif key == "tag":
            tag = first
        elif key == "branch":
            branch = first
        elif key == "subdir":
            if ref.subdir and ref.subdir != first:
                return f"subdir conflicts: {json.dumps(ref.subdir)} vs {json.dumps(first)}"
            ref.subdir = first
        elif key in ("checksum", "commit"):
            ref.checksum = first
        elif key in ("keep-git-dir", "submodules", "fetch-by-commit"):
            parsed = True if vals is None else _parse_bool(first)
            if parsed is None:
                return f"invalid {key} value: {json.dumps(first)}"
            if key == "keep-git-dir":
                ref.keep_git_dir = parsed
            elif key == "submodules":
                ref.submodules = parsed
            else:
                ref.fetch_by_commit = parsed
        elif key == "mtime":
            if first not in ("checkout", "commit"):
                return f'invalid mtime value: {json.dumps(first)} (must be "checkout" or "commit")'
            ref.mtime = first
        else:
            return f"unexpected query {json.dumps(key)}"
    if tag:
        tag = tag if tag.startswith("refs/tags/") else "refs/tags/" + tag
        if ref.ref and ref.ref != tag:
            return f"ref conflicts: {json.dumps(ref.ref)} vs {json.dumps(tag)}"
        ref.ref = tag
    if branch:
        if tag:
            return "branch conflicts with tag"
        branch = branch if branch.startswith("refs/heads/") else "refs/heads/" + branch
        if ref.ref and ref.ref != branch:
            return f"ref conflicts: {json.dumps(ref.ref)} vs {json.dumps(branch)}"
        ref.ref = branch
    return None


def _go_path_join_root(p: str) -> str:
    """Go's ``path.Join("/", p)``."""
    cleaned = posixpath.normpath("/" + p)
    return "/" + cleaned.lstrip("/")


def _git_source(ref: _GitRef, checksum: str) -> tuple[str, dict[str, str]]:
    """The identifier and attributes ``llb.Git`` gives this repository."""
    url = ref.url
    ident = url.host + _go_path_join_root(url.path)
    if ref.ref or ref.subdir:
        ident += "#" + ref.ref
        if ref.subdir:
            ident += ":" + ref.subdir
    attrs = {
        "git.fullurl": url.remote,
        "git.authtokensecret": _GIT_AUTH_TOKEN_KEY,
        "git.authheadersecret": _GIT_AUTH_HEADER_KEY,
    }
    if ref.keep_git_dir:
        attrs["git.keepgitdir"] = "true"
    if url.scheme == "ssh":
        attrs["git.mountsshsock"] = "default"
    if checksum:
        attrs["git.checksum"] = checksum
    if ref.submodules is False:
        attrs["git.skipsubmodules"] = "true"
    if ref.mtime:
        attrs["git.mtime"] = ref.mtime
    if ref.fetch_by_commit:
        attrs["git.fetchbycommit"] = "true"
    return "git://" + ident, attrs


def _http_filename(src: str) -> str:
    """``http.filename``: the last path element, or ``__unnamed__``."""
    path = src.split("://", 1)[1]
    path = path.split("#", 1)[0].split("?", 1)[0]
    _, slash, path = path.partition("/")
    base = posixpath.basename(posixpath.normpath("/" + unquote(path))) if slash else ""
    return base if base not in ("", ".", "/") else "__unnamed__"


# --- evaluation (dockerfile2llb/convert.go) --------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class _Context:
    identifier: str
    kind: str
    attrs: Mapping[str, str]


def _main_context(context: str, build_args: Mapping[str, str]) -> _Context:
    """The build context as dockerui loads it: git, an HTTP download, or local files."""
    if context.startswith("github.com/"):
        try:
            url = parse_git_url("https://" + context)
        except InvalidInputError:
            url = None
        gref: _GitRef | None = None if url is None else _GitRef(url, url.ref, url.subdir)
        err = None if gref is None else _load_query(gref, gref.url.query)
    else:
        gref, err = _git_ref(context)
    if gref is not None:
        if err is not None:
            raise DockerfileError(err, source=context)
        keep = _parse_bool(build_args.get("BUILDKIT_CONTEXT_KEEP_GIT_DIR", ""))
        if keep:
            gref.keep_git_dir = True
        if build_args.get("SOURCE_DATE_EPOCH"):
            gref.mtime = gref.mtime or "commit"
        ident, attrs = _git_source(gref, gref.checksum)
        return _Context(ident, "git", FrozenMap(attrs))
    if re.match(r"https?://", context):
        return _Context(context, "http", FrozenMap({"http.filename": "context"}))
    return _Context("local://context", "local", FrozenMap())


def _default_args(
    build: Platform, target: Platform, overrides: Mapping[str, str], target_stage: str
) -> dict[str, str]:
    values = {
        "BUILDPLATFORM": str(build),
        "BUILDOS": build.os,
        "BUILDOSVERSION": build.os_version,
        "BUILDARCH": build.architecture,
        "BUILDVARIANT": build.variant,
        "TARGETPLATFORM": str(target),
        "TARGETOS": target.os,
        "TARGETOSVERSION": target.os_version,
        "TARGETARCH": target.architecture,
        "TARGETVARIANT": target.variant,
        "TARGETSTAGE": target_stage or "default",
    }
    return {k: overrides.get(k, v) for k, v in values.items()}


def _closure(target: _State) -> list[_State]:
    """The stages (and images) ``target`` needs: its base and dependencies, recursively."""
    reachable: list[_State] = []
    seen: set[int] = set()
    pending = [target]
    while pending:
        state = pending.pop()
        if id(state) in seen:
            continue
        seen.add(id(state))
        reachable.append(state)
        if state.base is not None:
            pending.append(state.base)
        pending.extend(state.deps)
    return reachable


class _Builder:
    """Walks the stages the way ``toDispatchState`` does, collecting sources."""

    def __init__(
        self,
        parsed: _Parsed,
        build_args: Mapping[str, str],
        target: str | None,
        target_platform: Platform,
        build_platform: Platform,
        context: _Context,
    ) -> None:
        self.escape = parsed.escape
        self.build_args = build_args
        self.target_name = target
        self.target_platform = target_platform
        self.build_platform = build_platform
        self.context = context
        self.states: list[_State] = []
        self.by_name: dict[str, _State] = {}
        self.global_args: dict[str, str] = {}
        self.out: list[DockerfileSource] = []
        self.seen: set[tuple[str, FrozenMap[str], str | None]] = set()
        self.stage_nodes: list[tuple[_Node, list[_Node]]] = []
        self.meta_args: list[_Node] = []
        self._split(parsed.nodes)

    # -- structure --

    def _split(self, nodes: list[_Node]) -> None:
        for node in nodes:
            if node.command not in _KNOWN_INSTRUCTIONS:
                raise DockerfileError(
                    f"unknown instruction: {node.command.upper()}", line=node.line
                )
            if node.command == "from":
                self.stage_nodes.append((node, []))
            elif not self.stage_nodes:
                if node.command != "arg":
                    raise DockerfileError("no build stage in current context", line=node.line)
                self.meta_args.append(node)
            else:
                self.stage_nodes[-1][1].append(node)
        if not self.stage_nodes:
            raise DockerfileError("dockerfile contains no stages to build")

    def expand(self, word: str, env: Mapping[str, str], line: int) -> str:
        try:
            return _expand(word, env, self.escape)
        except _LexError as exc:
            raise DockerfileError(str(exc), line=line) from None

    def build(self) -> list[DockerfileSource]:
        stages = [self._parse_from(node) for node, _ in self.stage_nodes]
        commands = [[_to_command(n) for n in body] for _, body in self.stage_nodes]
        meta = [_to_command(n) for n in self.meta_args]
        target_stage = self.target_name or stages[-1][1]
        self.global_args = _default_args(
            self.build_platform, self.target_platform, self.build_args, target_stage
        )
        for cmd in meta:
            for key, value in cmd.pairs:
                if key in self.build_args:
                    self.global_args[key] = self.build_args[key]
                elif value is not None:
                    self.global_args[key] = self.expand(value, self.global_args, cmd.line)
        for i, ((node, _), (base, name, platform_expr), cmds) in enumerate(
            zip(self.stage_nodes, stages, commands, strict=True)
        ):
            self._add_stage(i, node.line, base, name, platform_expr, cmds)
        target = self._resolve_target()
        for state in list(self.states):
            for cmd in state.commands:
                self._link(state, cmd)
        self._check_cycles()
        reachable = {id(s) for s in self._reachable(target)}
        for state in self.states:
            if state.base is None and state.base_name != _EMPTY_IMAGE:
                self._resolve_image(state)
        for state in self.states:
            if id(state) in reachable and not state.unregistered:
                self._dispatch(state)
        return self.out

    def _parse_from(self, node: _Node) -> tuple[str, str, str]:
        flags = _parse_flags(node)
        args = node.args
        name = ""
        if len(args) == 3 and args[1].lower() == "as":
            name = args[2].lower()
            if _STAGE_NAME_RE.fullmatch(name) is None:
                raise DockerfileError(
                    f"invalid name for build stage: {json.dumps(args[2])}, name can't start "
                    "with a number or contain symbols",
                    line=node.line,
                )
        elif len(args) != 1:
            raise DockerfileError("FROM requires either one or three arguments", line=node.line)
        return args[0], name, flags.get("platform", [""])[0]

    def _add_stage(
        self, index: int, line: int, base: str, name: str, platform_expr: str, cmds: list[_Cmd]
    ) -> None:
        base_name = self.expand(base, self.global_args, line)
        if not base_name:
            raise DockerfileError(f"base name ({base}) should not be blank", line=line)
        platform: str | None = None
        if platform_expr:
            value = self.expand(platform_expr, self.global_args, line)
            if not value:
                raise DockerfileError(
                    f"empty platform value from expression {platform_expr}", line=line
                )
            try:
                platform = str(parse_platform(value))
            except InvalidInputError as exc:
                raise DockerfileError(
                    f"failed to parse platform {platform_expr}: {exc}", line=line
                ) from None
        state = _State(
            base_name=base_name,
            line=line,
            name=name,
            index=index,
            platform_expr=platform_expr,
            platform=platform,
            commands=cmds,
        )
        self._register(state)

    def _register(self, state: _State) -> None:
        self.states.append(state)
        base = self.by_name.get(state.base_name)
        if base is not None:
            state.base = base
        if state.name:
            self.by_name[state.name] = state

    def _resolve_target(self) -> _State:
        if not self.target_name:
            return self.states[-1]
        state = self.by_name.get(self.target_name.lower())
        if state is None:
            raise DockerfileError(f"target stage {json.dumps(self.target_name)} could not be found")
        return state

    def _unregistered(self, name: str, line: int) -> _State:
        state = _State(base_name=name, line=line, unregistered=True)
        self._register(state)
        return state

    def _link(self, state: _State, cmd: _Cmd) -> None:
        """``toCommand``: find the stages or images a command reads."""
        if cmd.kind == "copy" and cmd.from_:
            if self.expand(cmd.from_, {}, cmd.line) != cmd.from_:
                raise DockerfileError(
                    "variable expansion is not supported for --from, define a new stage with "
                    "FROM using ARG from global scope as a workaround",
                    line=cmd.line,
                )
            dep: _State | None
            if re.fullmatch(r"[+-]?[0-9]+", cmd.from_):
                index = int(cmd.from_)
                if not 0 <= index < len(self.states):
                    raise DockerfileError(f"invalid stage index {index}", line=cmd.line)
                dep = self.states[index]
            else:
                dep = self.by_name.get(cmd.from_.lower())
                if dep is None:
                    dep = self._unregistered(cmd.from_, cmd.line)
            cmd.deps = [dep]
        elif cmd.kind == "run":
            deps = []
            for spec in cmd.mounts:
                name = _parse_mount(spec, None).from_ or _EMPTY_IMAGE
                dep = self.by_name.get(name.lower())
                if dep is None:
                    dep = self._unregistered(name, cmd.line)
                deps.append(dep)
            cmd.deps = deps
        for dep in cmd.deps:
            if id(dep) not in state.dep_ids:
                state.dep_ids.add(id(dep))
                state.deps.append(dep)

    def _check_cycles(self) -> None:
        """``validateCircularDependency``, without recursion (chains can be long)."""
        visited: set[int] = set()
        for root in self.states:
            if id(root) in visited:
                continue
            visited.add(id(root))
            path = {id(root)}
            stack: list[tuple[_State, int]] = [(root, 0)]
            while stack:
                state, i = stack[-1]
                if i == len(state.deps):
                    stack.pop()
                    path.discard(id(state))
                    continue
                stack[-1] = (state, i + 1)
                dep = state.deps[i]
                if id(dep) in path:
                    name = root.name or f"stage-{root.index}"
                    raise DockerfileError(
                        f"circular dependency detected on stage: {name}", line=root.line
                    )
                if id(dep) not in visited:
                    visited.add(id(dep))
                    path.add(id(dep))
                    stack.append((dep, 0))

    def _reachable(self, target: _State) -> list[_State]:
        while True:
            reachable = _closure(target)
            new_deps = False
            for state in reachable:
                if state.base is None or state.onbuild_done:
                    continue
                state.onbuild_done = True
                triggers = [c for c in state.base.commands if c.kind == "onbuild"]
                cmds: list[_Cmd] = []
                for trig in triggers:
                    node = _new_node(trig.trigger, self.escape, state.line)
                    cmd = _to_command(node)
                    self._link(state, cmd)
                    new_deps = new_deps or bool(cmd.deps)
                    cmds.append(cmd)
                state.commands = cmds + state.commands
            if not new_deps:
                return reachable

    def _resolve_image(self, state: _State) -> None:
        try:
            ref = parse_image_reference(state.base_name)
        except InvalidInputError as exc:
            raise DockerfileError(
                f"failed to parse stage name {json.dumps(state.base_name)}: {exc}",
                line=state.line,
            ) from None
        state.identifier = f"docker-image://{ref.with_default_tag()}"

    # -- dispatch --

    def _stage_label(self, state: _State) -> str | int:
        return state.name or state.index

    def _emit(
        self,
        state: _State,
        instruction: str,
        line: int,
        identifier: str,
        kind: str,
        attrs: Mapping[str, str] | None = None,
        platform: str | None = None,
    ) -> None:
        frozen: FrozenMap[str] = FrozenMap(attrs or {})
        key = (identifier, frozen, platform)
        if key in self.seen:
            return
        self.seen.add(key)
        self.out.append(
            DockerfileSource(
                identifier=identifier,
                kind=kind,
                stage=self._stage_label(state),
                instruction=instruction,
                line=line,
                attrs=frozen,
                platform=platform,
            )
        )

    def _emit_dep(self, state: _State, dep: _State, instruction: str, line: int) -> None:
        if dep.unregistered and dep.identifier:
            self._emit(state, instruction, line, dep.identifier, "image")

    def _emit_context(self, state: _State, instruction: str, line: int) -> None:
        ctx = self.context
        self._emit(state, instruction, line, ctx.identifier, ctx.kind, ctx.attrs)

    def _dispatch(self, state: _State) -> None:
        state.dispatched = True
        if state.base is not None:
            state.env = dict(state.base.env)
        else:
            state.env = {}
            if state.identifier:
                self._emit(
                    state, "FROM", state.line, state.identifier, "image", None, state.platform
                )
        if "PATH" not in state.env and (state.platform or "").split("/")[0] != "windows":
            state.env["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        for cmd in state.commands:
            if cmd.kind == "arg":
                self._dispatch_arg(state, cmd)
            elif cmd.kind == "env":
                for key, value in cmd.pairs:
                    state.env[self.expand(key, state.env, cmd.line)] = self.expand(
                        value or "", state.env, cmd.line
                    )
            elif cmd.kind in ("copy", "add"):
                self._dispatch_copy(state, cmd)
            elif cmd.kind == "run":
                self._dispatch_run(state, cmd)

    def _dispatch_arg(self, state: _State, cmd: _Cmd) -> None:
        for key, default in cmd.pairs:
            value = default
            if key in self.build_args:
                value = self.build_args[key]
            elif default is not None:
                value = self.expand(default, state.env, cmd.line)
            elif key in self.global_args:
                value = self.global_args[key]
            if value is not None:
                state.env[key] = value

    def _dispatch_copy(self, state: _State, cmd: _Cmd) -> None:
        is_add = cmd.kind == "add"
        name = cmd.kind.upper()
        sources = [self.expand(s, state.env, cmd.line) for s in cmd.sources]
        checksum = self.expand(cmd.checksum, state.env, cmd.line) if cmd.checksum else ""
        if cmd.deps:
            dep = cmd.deps[0]
            if not dep.dispatched and not dep.unregistered:
                raise DockerfileError(
                    f"cannot copy from stage {json.dumps(cmd.from_)}, it needs to be defined "
                    f"before current stage {json.dumps(state.name or f'stage-{state.index}')}",
                    line=cmd.line,
                )
            self._emit_dep(state, dep, name, cmd.line)
        if checksum:
            if len(sources) != 1:
                raise DockerfileError(
                    "checksum can't be specified for multiple sources", line=cmd.line
                )
            gref, _ = _git_ref(sources[0])
            if gref is None and not sources[0].startswith(("http://", "https://")):
                raise DockerfileError("checksum requires HTTP(S) or Git sources", line=cmd.line)
        for src in sources:
            gref, err = _git_ref(src)
            if gref is not None:
                if err is not None:
                    raise DockerfileError(err, line=cmd.line)
                if not is_add:
                    raise DockerfileError("source can't be a git ref for COPY", line=cmd.line)
                self._add_git(state, cmd, gref, checksum)
            elif src.startswith(("http://", "https://")):
                if not is_add:
                    raise DockerfileError("source can't be a URL for COPY", line=cmd.line)
                attrs = {}
                if checksum:
                    try:
                        attrs["http.checksum"] = validate_digest(checksum)
                    except InvalidInputError as exc:
                        raise DockerfileError(str(exc), line=cmd.line) from None
                attrs["http.filename"] = _http_filename(src)
                self._emit(state, name, cmd.line, src, "http", attrs)
            elif not cmd.deps:
                self._emit_context(state, name, cmd.line)

    def _add_git(self, state: _State, cmd: _Cmd, gref: _GitRef, checksum: str) -> None:
        keep = cmd.keep_git_dir
        if keep is not None and gref.keep_git_dir is not None and keep != gref.keep_git_dir:
            raise DockerfileError("inconsistent keep-git-dir configuration", line=cmd.line)
        if gref.keep_git_dir is not None:
            keep = gref.keep_git_dir
        gref.keep_git_dir = keep
        if checksum and gref.checksum and checksum != gref.checksum:
            raise DockerfileError(
                f"checksum mismatch {json.dumps(checksum)} != {json.dumps(gref.checksum)}",
                line=cmd.line,
            )
        ident, attrs = _git_source(gref, gref.checksum or checksum)
        self._emit(state, "ADD", cmd.line, ident, "git", attrs)

    def _dispatch_run(self, state: _State, cmd: _Cmd) -> None:
        for spec, dep in zip(cmd.mounts, cmd.deps, strict=True):
            try:
                mount = _parse_mount(spec, lambda w: _expand(w, state.env, self.escape))
            except _LexError as exc:
                raise DockerfileError(str(exc), line=cmd.line) from None
            if mount.type in ("secret", "ssh"):
                continue
            if mount.from_:
                if not dep.dispatched and not dep.unregistered:
                    raise DockerfileError(
                        f"cannot mount from stage {json.dumps(mount.from_)}, stage needs to be "
                        "defined before current command",
                        line=cmd.line,
                    )
                self._emit_dep(state, dep, "RUN", cmd.line)
            elif mount.type == "bind":
                self._emit_context(state, "RUN", cmd.line)


def dockerfile_sources(
    text: str,
    *,
    build_args: Mapping[str, str] = FrozenMap(),
    target: str | None = None,
    platform: str | None = None,
    context: str = ".",
    build_platform: str | None = None,
) -> list[DockerfileSource]:
    """List the sources a build of this Dockerfile would ask a policy about, in order.

    ``build_args`` are ``--build-arg`` values; ``target`` the ``--target`` stage (default:
    the last stage); ``platform`` the target platform (default: the host's);
    ``build_platform`` the builder's (default: the host's); ``context`` the build context as
    given to Buildx: a local path (``local://context``), a git URL or an HTTP(S) URL.

    The ``# syntax=`` frontend image comes first when there is one. Then every stage
    reachable from the target contributes, in file order, its base image (unless it is
    ``scratch`` or another stage), images read by ``COPY --from`` and ``RUN --mount``,
    URLs and git repositories fetched by ``ADD``, and the build context when files are
    copied or bind-mounted from it. A source already listed (same identifier, attributes
    and platform) is not repeated: the first use is kept.

    Raises :class:`DockerfileError` (an :class:`~buildsig.errors.InvalidInputError`),
    with the 1-based ``line`` where known, for anything BuildKit would refuse.
    """
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_DOCKERFILE_SIZE:
        raise DockerfileError(
            f"dockerfile is {size} bytes, more than the {MAX_DOCKERFILE_SIZE} allowed"
        )
    if not text:
        raise DockerfileError("the Dockerfile cannot be empty")
    try:
        build = parse_platform(build_platform) if build_platform else host_platform()
        target_platform = parse_platform(platform) if platform else build
    except InvalidInputError as exc:
        raise DockerfileError(str(exc)) from None
    parsed = _parse(text)
    builder = _Builder(
        parsed,
        dict(build_args),
        target,
        target_platform,
        build,
        _main_context(context, build_args),
    )
    sources = builder.build()
    syntax = _syntax_source(parsed.syntax, build_args)
    if syntax is None:
        return sources
    rest = [
        s
        for s in sources
        if (s.identifier, s.attrs, s.platform) != (syntax.identifier, syntax.attrs, None)
    ]
    return [syntax, *rest]


def _syntax_source(
    directive: tuple[str, int] | None, build_args: Mapping[str, str]
) -> DockerfileSource | None:
    """The frontend image: ``# syntax=``, or the ``BUILDKIT_SYNTAX`` build argument.

    The argument wins when both are given; without a directive the source gets line 0.
    """
    text, line = directive if directive is not None else ("", 0)
    text = build_args.get("BUILDKIT_SYNTAX", text).strip()
    if not text:
        return None
    text = text.split()[0]
    try:
        ref = parse_image_reference(text).with_default_tag()
    except InvalidInputError as exc:
        raise DockerfileError(str(exc), line=line or None) from None
    return DockerfileSource(f"docker-image://{ref}", "image", None, "SYNTAX", line)

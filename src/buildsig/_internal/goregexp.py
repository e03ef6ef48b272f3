r"""Go ``regexp`` semantics in Python, for rules that BuildKit evaluates with Go.

A source policy is only reproducible if its patterns mean here what they mean in the
daemon. Python's :mod:`re` differs from Go's ``regexp`` in ways that change answers:
``$`` also matches before a trailing newline, ``\\d`` and ``\\w`` match non-ASCII digits
and letters, lookarounds and backreferences are accepted, ``re.sub`` replaces an empty
match right after a non-empty one (Go skips it), and replacement templates are read
differently (Go's ``$1x`` names group ``1x``; a malformed ``$`` is literal). So patterns are
compiled with RE2 (``google-re2``), whose syntax and leftmost-first semantics Go's
package implements, and the two operations Go adds on top (template expansion and
replace-all) are written here after Go's documented rules.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Any

import re2  # type: ignore[import-untyped]  # google-re2 ships no stubs

__all__ = [
    "GoRegexp",
    "GoRegexpError",
    "compile_go",
    "expand",
    "go_string",
    "quote_meta",
    "wildcard_to_regexp",
]

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # RE2 would print every bad pattern to stderr

_SPECIAL = frozenset("\\.+*?()|[]{}^$")
_SURROGATE = re.compile("[\\ud800-\\udfff]")


class GoRegexpError(ValueError):
    """A pattern Go's ``regexp.Compile`` would refuse (or a wildcard with ``**``)."""


class GoRegexp:
    """A compiled pattern with the Go operations BuildKit uses on it.

    Matching runs on the UTF-8 bytes, as Go's does: offsets are byte offsets, and the
    work per match does not grow with the text (RE2's ``str`` interface would convert
    offsets from the start of the text on every search, making replace-all quadratic).
    """

    __slots__ = ("_re", "names", "pattern")

    def __init__(self, pattern: str) -> None:
        pattern = go_string(pattern)
        if _has_any_byte_escape(pattern):
            # RE2 reads \C as "any byte"; Go refuses it
            raise GoRegexpError(
                f"error parsing regexp: invalid escape sequence: `\\C`: `{pattern}`"
            )
        try:
            self._re: Any = re2.compile(pattern.encode(), _OPTIONS)
        except re2.error as exc:
            reason = exc.args[0] if exc.args else exc
            if isinstance(reason, bytes):
                reason = reason.decode("utf-8", "replace")
            raise GoRegexpError(f"error parsing regexp: {reason}: `{pattern}`") from None
        self.pattern = pattern
        names = [""] * (self._re.groups + 1)
        for name, index in self._re.groupindex.items():
            names[index] = name.decode() if isinstance(name, bytes) else name
        self.names: tuple[str, ...] = tuple(names)

    def search(self, text: str) -> bool:
        """Go's ``MatchString``: whether there is a match anywhere (unanchored)."""
        return self._re.search(go_string(text).encode()) is not None

    def _submatch(self, data: bytes, pos: int) -> list[int] | None:
        m = self._re.search(data, pos)
        if m is None:
            return None
        out: list[int] = []
        for group in range(self._re.groups + 1):
            start, end = m.span(group)
            out += (start, end)
        return out

    def submatch_index(self, text: str) -> list[int] | None:
        """Go's ``FindStringSubmatchIndex``: flat ``[start, end, …]`` UTF-8 byte offsets.

        ``-1`` marks groups that did not take part.
        """
        return self._submatch(go_string(text).encode(), 0)

    def expand_first(self, text: str, template: str) -> str | None:
        """The template expanded with the first match in ``text``; ``None`` if none."""
        data = go_string(text).encode()
        match = self._submatch(data, 0)
        if match is None:
            return None
        return _expand(template, data, match, self.names).decode("utf-8", "replace")

    def replace_all(self, text: str, template: str) -> str:
        """Go's ``ReplaceAllString``: each non-overlapping match becomes the expanded template.

        Unlike ``re.sub``, an empty match right after the previous match is not replaced.
        """
        data = go_string(text).encode()
        out: list[bytes] = []
        last_end = 0
        pos = 0
        while pos <= len(data):
            match = self._submatch(data, pos)
            if match is None:
                break
            start, end = match[0], match[1]
            out.append(data[last_end:start])
            if end > last_end or start == 0:
                out.append(_expand(template, data, match, self.names))
            last_end = end
            # advance past the match, always by at least one character (a whole rune)
            width = _rune_width(data, pos)
            if pos + width > end:
                pos += width
            elif pos + 1 > end:
                pos += 1
            else:
                pos = end
        out.append(data[last_end:])
        return b"".join(out).decode("utf-8", "replace")


def _rune_width(data: bytes, pos: int) -> int:
    """Go's ``utf8.DecodeRuneInString`` width at ``pos`` (0 at the end of the text)."""
    if pos >= len(data):
        return 0
    lead = data[pos]
    width = 1 if lead < 0xC0 else 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4
    return min(width, len(data) - pos)


def go_string(text: str) -> str:
    """``text`` as Go would hold it: lone surrogates become U+FFFD.

    Go's JSON decoder never yields one, and UTF-8 cannot encode it.
    """
    if text.isascii():
        return text
    return _SURROGATE.sub("\ufffd", text)


def _has_any_byte_escape(pattern: str) -> bool:
    r"""Whether ``pattern`` uses ``\C`` outside a ``\Q…\E`` literal."""
    i = 0
    while i < len(pattern) - 1:
        if pattern[i] != "\\":
            i += 1
            continue
        following = pattern[i + 1]
        if following == "C":
            return True
        if following == "Q":
            end = pattern.find("\\E", i + 2)
            if end < 0:
                return False
            i = end + 2
            continue
        i += 2
    return False


def compile_go(pattern: str) -> GoRegexp:
    """Compile ``pattern`` as Go's ``regexp.Compile`` would (RE2 syntax)."""
    return GoRegexp(pattern)


def quote_meta(text: str) -> str:
    """Go's ``regexp.QuoteMeta``."""
    return "".join("\\" + c if c in _SPECIAL else c for c in text)


def wildcard_to_regexp(wildcard: str) -> str:
    """BuildKit's ``wildcard.Wildcard2Regexp``: literal text with ``*`` as ``(.*)``, anchored.

    ``**`` is refused, as BuildKit refuses it.
    """
    quoted = quote_meta(wildcard)
    if "\\*\\*" in quoted:
        raise GoRegexpError('invalid wildcard: "**"')
    return "^" + quoted.replace("\\*", "(.*)") + "$"


def _is_name_char(c: str) -> bool:
    # Go: unicode.IsLetter (category L*) or unicode.IsDigit (Nd) or '_'
    if c == "_":
        return True
    category = unicodedata.category(c)
    return category.startswith("L") or category == "Nd"


def _extract(template: str) -> tuple[str, int, str] | None:
    """Go's ``extract``: the name after ``$`` (``name`` or ``{name}``), its number, the rest.

    The number is -1 for a name; ``None`` means malformed (the ``$`` is then literal).
    """
    brace = template.startswith("{")
    body = template[1:] if brace else template
    i = 0
    while i < len(body) and _is_name_char(body[i]):
        i += 1
    if i == 0:
        return None
    name = body[:i]
    if brace:
        if i >= len(body) or body[i] != "}":
            return None
        i += 1
    num = 0
    for c in name:
        if not "0" <= c <= "9" or num >= 100_000_000:
            num = -1
            break
        num = num * 10 + ord(c) - ord("0")
    if name[0] == "0" and len(name) > 1:
        num = -1  # leading zeros are a name, not a number
    return name, num, body[i:]


def expand(template: str, text: str, match: Sequence[int], names: Sequence[str]) -> str:
    """Go's ``Regexp.ExpandString`` with ``match`` in UTF-8 byte offsets of ``text``.

    ``$1``, ``${1}``, ``$name``, ``${name}``, ``$$``: ``$name`` takes the longest run of
    letters, digits and ``_`` (``$1x`` is group ``1x``); a group that is out of range,
    unnamed or did not match gives ``""``; a malformed ``$`` is literal.
    """
    return _expand(template, go_string(text).encode(), match, names).decode("utf-8", "replace")


def _expand(template: str, data: bytes, match: Sequence[int], names: Sequence[str]) -> bytes:
    out: list[bytes] = []
    template = go_string(template)
    while template:
        before, sep, after = template.partition("$")
        if not sep:
            break
        out.append(before.encode())
        template = after
        if template.startswith("$"):
            out.append(b"$")
            template = template[1:]
            continue
        parsed = _extract(template)
        if parsed is None:
            out.append(b"$")
            continue
        name, num, template = parsed
        if num >= 0:
            if 2 * num + 1 < len(match) and match[2 * num] >= 0:
                out.append(data[match[2 * num] : match[2 * num + 1]])
        else:
            for index, group_name in enumerate(names):
                if name == group_name and 2 * index + 1 < len(match) and match[2 * index] >= 0:
                    out.append(data[match[2 * index] : match[2 * index + 1]])
                    break
    out.append(template.encode())
    return b"".join(out)

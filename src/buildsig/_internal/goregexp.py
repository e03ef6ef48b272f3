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

import unicodedata
from collections.abc import Sequence
from typing import Any

import re2  # type: ignore[import-untyped]  # google-re2 ships no stubs

__all__ = [
    "GoRegexp",
    "GoRegexpError",
    "compile_go",
    "expand",
    "quote_meta",
    "wildcard_to_regexp",
]

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # RE2 would print every bad pattern to stderr

_SPECIAL = frozenset("\\.+*?()|[]{}^$")


class GoRegexpError(ValueError):
    """A pattern Go's ``regexp.Compile`` would refuse (or a wildcard with ``**``)."""


class GoRegexp:
    """A compiled pattern with the Go operations BuildKit uses on it."""

    __slots__ = ("_re", "names", "pattern")

    def __init__(self, pattern: str) -> None:
        try:
            self._re: Any = re2.compile(pattern, _OPTIONS)
        except re2.error as exc:
            reason = exc.args[0] if exc.args else exc
            if isinstance(reason, bytes):
                reason = reason.decode("utf-8", "replace")
            raise GoRegexpError(f"error parsing regexp: {reason}: `{pattern}`") from None
        self.pattern = pattern
        names = [""] * (self._re.groups + 1)
        for name, index in self._re.groupindex.items():
            names[index] = name
        self.names: tuple[str, ...] = tuple(names)

    def search(self, text: str) -> bool:
        """Go's ``MatchString``: whether there is a match anywhere (unanchored)."""
        return self._re.search(text) is not None

    def submatch_index(self, text: str, pos: int = 0) -> list[int] | None:
        """Go's ``FindStringSubmatchIndex``, searching from ``pos``.

        The result is flat ``[start, end, …]`` pairs, ``-1`` for groups that did not take
        part. ``^`` still means position 0, as when Go resumes a search.
        """
        m = self._re.search(text, pos)
        if m is None:
            return None
        out: list[int] = []
        for group in range(self._re.groups + 1):
            start, end = m.span(group)
            out += (start, end)
        return out

    def replace_all(self, text: str, template: str) -> str:
        """Go's ``ReplaceAllString``: each non-overlapping match becomes the expanded template.

        Unlike ``re.sub``, an empty match right after the previous match is not replaced.
        """
        out: list[str] = []
        last_end = 0
        pos = 0
        while pos <= len(text):
            match = self.submatch_index(text, pos)
            if match is None:
                break
            start, end = match[0], match[1]
            out.append(text[last_end:start])
            if end > last_end or start == 0:
                out.append(expand(template, text, match, self.names))
            last_end = end
            # advance past the match, always by at least one character
            pos = pos + 1 if pos + 1 > end else end
        out.append(text[last_end:])
        return "".join(out)


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
    """Go's ``Regexp.ExpandString``: ``$1``, ``${1}``, ``$name``, ``${name}``, ``$$``.

    ``$name`` takes the longest run of letters, digits and ``_`` (``$1x`` is group
    ``1x``); a group that is out of range, unnamed or did not match gives ``""``.
    """
    out: list[str] = []
    while template:
        before, sep, after = template.partition("$")
        if not sep:
            break
        out.append(before)
        template = after
        if template.startswith("$"):
            out.append("$")
            template = template[1:]
            continue
        parsed = _extract(template)
        if parsed is None:
            out.append("$")
            continue
        name, num, template = parsed
        if num >= 0:
            if 2 * num + 1 < len(match) and match[2 * num] >= 0:
                out.append(text[match[2 * num] : match[2 * num + 1]])
        else:
            for index, group_name in enumerate(names):
                if name == group_name and 2 * index + 1 < len(match) and match[2 * index] >= 0:
                    out.append(text[match[2 * index] : match[2 * index + 1]])
                    break
    out.append(template)
    return "".join(out)

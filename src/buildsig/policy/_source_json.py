"""Decode a source policy document exactly as Go's ``encoding/json`` fills BuildKit's types.

A policy that means one thing here and another to the daemon is worse than none, and Go's
decoder has habits Python's ``json`` does not share, all reproduced here:

- object keys match struct fields case-insensitively (``Match_Type`` is ``match_type``;
  the long s U+017F folds to ``s``, the Kelvin sign to ``k``), but ``matchType`` matches
  nothing;
- unknown keys are ignored (reported here as warnings);
- a repeated key decodes *into* the value already there: two ``selector`` objects merge,
  two ``attrs`` maps merge, and a repeated ``rules`` array decodes its elements into the
  earlier rules at the same positions;
- ``null`` leaves a string or number as it was, sets a pointer, slice or map to nil, and
  resets an enum to its zero value (BuildKit's enums decode ``null`` as 0);
- enums are an exact name or an int32 that names a value;
- a top-level ``null`` is an empty policy.

Decoding produces plain state (dicts and lists); :func:`decode_policy` turns it into the
model, refusing what BuildKit would crash on (a null rule, a rule without a selector).
"""

from __future__ import annotations

import enum
import json
import math
from typing import Any

from buildsig._internal.goregexp import go_string
from buildsig._internal.serde import describe_json

__all__ = ["INT64", "MAP", "STRING", "Kind", "Pairs", "SourcePolicyJSON", "loads"]

_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)


class Pairs(list[tuple[str, Any]]):
    """A JSON object: its members in document order, repeated keys kept."""


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def loads(text: str) -> Any:
    """Parse JSON keeping every object member (``Pairs``); NaN and infinities refused."""
    obj = json.loads(text, object_pairs_hook=Pairs, parse_constant=_refuse_constant)
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            raise ValueError("number out of range")
        if isinstance(item, Pairs):
            stack.extend(value for _, value in item)
        elif isinstance(item, list):
            stack.extend(item)
    return obj


def _fold(name: str) -> str:
    """Go's key folding: ASCII case, plus the two runes that fold onto ASCII letters."""
    return name.replace("\u017f", "s").replace("\u212a", "k").lower()


def _json_type(value: Any) -> str:
    return "an object" if isinstance(value, Pairs) else describe_json(value)


# Field kinds: ("string",), ("int64",), ("enum", E), ("ptr", struct), ("slice", kind),
# ("map",), mirroring the Go types of BuildKit's sourcepolicy/pb messages.
Kind = tuple[Any, ...]
STRING: Kind = ("string",)
INT64: Kind = ("int64",)
MAP: Kind = ("map",)


class SourcePolicyJSON:
    """One decoding: the struct layouts, the warnings and the error context."""

    def __init__(self, name: str, structs: dict[str, dict[str, Kind]]) -> None:
        self.name = name
        self.structs = structs
        self.warnings: list[str] = []

    def fail(self, where: str, message: str) -> ValueError:
        return ValueError(f"{where or 'policy'}: {message}")

    def struct(self, struct: str, raw: Any, state: dict[str, Any], where: str) -> dict[str, Any]:
        """Decode ``raw`` into ``state`` (a struct's fields so far), as Go does."""
        if not isinstance(raw, Pairs):
            raise self.fail(where, f"expected a JSON object, got {_json_type(raw)}")
        fields = self.structs[struct]
        folded = {_fold(k): k for k in fields}
        for key, value in raw:
            target = key if key in fields else folded.get(_fold(key))
            if target is None:
                self.warnings.append(self._unknown_key(where or "policy", key))
                continue
            at = f"{where}.{target}" if where else target
            state[target] = self.value(fields[target], value, state.get(target), at)
        return state

    def value(self, kind: Kind, raw: Any, old: Any, where: str) -> Any:
        tag = kind[0]
        if tag == "string":
            if raw is None:
                return old if old is not None else ""
            if not isinstance(raw, str):
                raise self.fail(where, f"expected a string, got {_json_type(raw)}")
            return go_string(raw)
        if tag == "int64":
            if raw is None:
                return old if old is not None else 0
            return self.integer(raw, where, _INT64)
        if tag == "enum":
            return self.enum(kind[1], raw, where)
        if tag == "ptr":
            if raw is None:
                return None
            return self.struct(kind[1], raw, dict(old) if old is not None else {}, where)
        if tag == "slice":
            if raw is None:
                return None
            if not isinstance(raw, list) or isinstance(raw, Pairs):
                raise self.fail(where, f"expected a JSON array, got {_json_type(raw)}")
            previous = old or []
            return [
                self.value(
                    kind[1], item, previous[i] if i < len(previous) else None, f"{where}[{i}]"
                )
                for i, item in enumerate(raw)
            ]
        if tag == "map":
            if raw is None:
                return None
            if not isinstance(raw, Pairs):
                raise self.fail(where, f"expected a JSON object, got {_json_type(raw)}")
            merged = dict(old) if old is not None else {}
            for key, value in raw:
                merged[go_string(key)] = self.value(STRING, value, None, f"{where}.{key}")
            return merged
        raise AssertionError(kind)  # pragma: no cover - the layouts are fixed

    def integer(self, raw: Any, where: str, bounds: tuple[int, int]) -> int:
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise self.fail(where, f"expected an integer, got {_json_type(raw)}")
        if not bounds[0] <= raw <= bounds[1]:
            raise self.fail(where, f"{raw} is out of range")
        return raw

    def enum(self, kind: type[enum.IntEnum], raw: Any, where: str) -> Any:
        """BuildKit's ``UnmarshalJSONEnum``: an exact name, or a number naming a value.

        ``null`` is 0, whatever came before.
        """
        if raw is None:
            return kind(0)
        if isinstance(raw, str):
            try:
                return kind[raw]
            except KeyError:
                names = ", ".join(m.name for m in kind)
                raise self.fail(
                    where, f"unrecognized enum {kind.__name__} value {raw!r} (one of {names})"
                ) from None
        number = self.integer(raw, where, _INT32)
        try:
            return kind(number)
        except ValueError:
            raise self.fail(where, f"invalid {kind.__name__} value: {number}") from None

    def _unknown_key(self, where: str, key: str) -> str:
        if _fold(key) in ("matchtype", "match-type"):
            return (
                f"warning: {self.name}: {where}: key {key!r} is ignored by BuildKit, which "
                'reads only "match_type"; this selector is therefore WILDCARD'
            )
        return f"warning: {self.name}: {where}: unknown key {key!r} is ignored by BuildKit"

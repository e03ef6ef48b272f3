r"""JSON read the way Go's ``encoding/json`` reads it into Buildx's provenance structs.

Buildx decodes an attestation with ``json.Unmarshal`` into typed Go structs. What a policy
sees therefore depends on Go's rules, not on the JSON text alone:

* object keys match struct fields **case-insensitively** (``invocationID`` and
  ``invocationId`` both fill ``InvocationID``), a later matching key overriding an earlier
  one, and unknown keys are ignored;
* ``null`` leaves a string, bool or struct untouched but resets a pointer, map or slice;
  ``null`` inside a ``map[string]string`` stores ``""``;
* a value of the wrong JSON type anywhere in a typed field (a number where a string is
  declared, ``"yes"`` for a bool, a malformed timestamp) fails the whole decode, and
  Buildx then reports *no provenance*.

This module reproduces those rules with small declarative *schemas* that transcribe the
Go types field by field (see :mod:`buildsig.provenance.slsa`). Decoding yields plain
Python data (``dict`` per struct, holding only the fields that were set), or raises
:class:`GoDecodeError`, which callers turn into "no provenance".

It also holds the JSON loader shared by the statement parser and the provenance finder:
a size cap, Go's rejection of ``NaN``/``Infinity``, and Go's replacement of invalid UTF-8
and lone surrogates by U+FFFD.

Known differences from Go, all in documents no BuildKit writes: the LLB build definition
(``buildConfig``'s ops) and BuildKit's metadata blob are only checked for being objects
or arrays, not field by field; an exactly repeated key replaces a nested object instead
of merging into it; a timestamp written with JSON escapes (``"\u0032024-…"``) is
accepted, where Go's ``time.Time`` reads the raw bytes and rejects it; numbers too large
for a float64 inside free-form (``interface{}``) fields are accepted.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from buildsig._internal.serde import describe_json
from buildsig.errors import InvalidDocumentError

__all__ = [
    "ANY",
    "BOOL",
    "BYTES",
    "INT",
    "OPAQUE_ARRAY",
    "OPAQUE_OBJECT",
    "STR",
    "TIME",
    "GoDecodeError",
    "ListOf",
    "MapOf",
    "Ptr",
    "Schema",
    "Struct",
    "as_sequence",
    "decode",
    "field",
    "fold_key",
    "format_go_rfc3339_utc",
    "go_lower",
    "load_json",
    "lookup",
]


class GoDecodeError(Exception):
    """Go's ``json.Unmarshal`` would have returned an error for this value."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(f"{path or '(root)'}: {message}")
        self.path = path


# --- loading ---------------------------------------------------------------------------------

_LONE_SURROGATE_HINT: Final = re.compile(rb"\\u[dD][89a-fA-F]")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"invalid JSON literal {name}")


def _pairs_last_wins(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Build an object so the *position* of a duplicated key is its last occurrence.

    Go assigns struct fields in document order, so with ``{"a": 1, "A": 2, "a": 3}`` the
    field ends up ``3``; keeping the last occurrence last lets a "last match wins" lookup
    reproduce that.
    """
    out: dict[str, Any] = {}
    for key, value in pairs:
        out.pop(key, None)
        out[key] = value
    return out


def _scrub_surrogates(value: Any) -> Any:
    """Replace lone UTF-16 surrogates (from backslash-u escapes) by U+FFFD, as Go does."""
    if isinstance(value, str):
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(value, list):
        return [_scrub_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {_scrub_surrogates(k): _scrub_surrogates(v) for k, v in value.items()}
    return value


def load_json(data: bytes, *, max_size: int, lenient_utf8: bool, what: str) -> Any:
    """Decode one JSON document, refusing anything Go's decoder would refuse.

    ``max_size`` caps the input in bytes (checked before any parsing, so a hostile blob
    costs nothing). With ``lenient_utf8`` invalid UTF-8 becomes U+FFFD as in Go; without
    it, it is an error. Raises :class:`~buildsig.errors.InvalidDocumentError` with an
    empty path on any failure.
    """
    if len(data) > max_size:
        raise InvalidDocumentError(
            f"{what} is {len(data)} bytes, more than the limit of {max_size}", path=""
        )
    try:
        text = data.decode("utf-8", "replace" if lenient_utf8 else "strict")
    except UnicodeDecodeError as exc:
        raise InvalidDocumentError(f"{what} is not UTF-8: {exc.reason}", path="") from None
    try:
        value = json.loads(
            text, parse_constant=_reject_constant, object_pairs_hook=_pairs_last_wins
        )
    except RecursionError:
        raise InvalidDocumentError(f"{what} is nested too deeply", path="") from None
    except ValueError as exc:
        raise InvalidDocumentError(f"{what} is not valid JSON: {exc}", path="") from None
    if _LONE_SURROGATE_HINT.search(data) is not None:
        try:
            value = _scrub_surrogates(value)
        except RecursionError:  # pragma: no cover - json.loads would have failed first
            raise InvalidDocumentError(f"{what} is nested too deeply", path="") from None
    return value


# --- Go's case-insensitive key matching ------------------------------------------------------

# Non-ASCII runes whose Go fold (ToUpper(ToLower(r))) is ASCII: only they can match the
# ASCII field names used here; every other non-ASCII rune folds to non-ASCII.
_FOLD_SPECIAL: Final = {"\u017f": "S", "\u212a": "K", "\u0130": "I", "\u0131": "I"}
_LOWER_SPECIAL: Final = {"\u0130": "i", "\u212a": "k"}


def fold_key(key: str) -> str:
    """Fold a JSON object key the way Go's decoder does before comparing it to a field.

    Exact for comparisons with ASCII field names (all of Buildx's): ASCII letters are
    upper-cased and the four non-ASCII runes that Go folds to ASCII are mapped; other
    non-ASCII runes are kept, since they can never match an ASCII name anyway.
    """
    if key.isascii():
        return key.upper()
    return "".join(c.upper() if c.isascii() else _FOLD_SPECIAL.get(c, c) for c in key)


def go_lower(text: str) -> str:
    """Go's ``strings.ToLower`` for the purposes here: rune by rune, never growing."""
    if text.isascii():
        return text.lower()
    out = []
    for c in text:
        special = _LOWER_SPECIAL.get(c)
        if special is not None:
            out.append(special)
            continue
        lowered = c.lower()
        out.append(lowered if len(lowered) == 1 else c)
    return "".join(out)


def lookup(obj: Mapping[str, Any], name: str, default: Any = None) -> Any:
    """The value Go would decode into field ``name``: the last case-insensitive match."""
    want = fold_key(name)
    found = default
    for key, value in obj.items():
        if key == name or fold_key(key) == want:
            found = value
    return found


# --- RFC 3339 as Go's time.Time.UnmarshalJSON accepts it -------------------------------------

_RFC3339: Final = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(?:\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})"
)


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _days_in(month: int, year: int) -> int:
    if month == 2:
        return 29 if _is_leap(year) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 in the proleptic Gregorian calendar (any year)."""
    y -= m <= 2
    era = y // 400  # floor division: also right for negative years
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _civil_from_days(z: int) -> tuple[int, int, int]:
    """Inverse of :func:`_days_from_civil`."""
    z += 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + (3 if mp < 10 else -9)
    return y + (m <= 2), m, d


def _go_year(year: int) -> str:
    """Go's ``appendInt(b, year, 4)``: at least four digits, a leading ``-`` if negative."""
    return ("-" if year < 0 else "") + f"{abs(year):04d}"


def format_go_rfc3339_utc(text: str) -> str:
    """Parse ``text`` as Go's strict RFC 3339 and re-emit it in UTC with whole seconds.

    Buildx stores ``t.UTC().Format(time.RFC3339)``: the offset is applied, the fraction
    truncated. Raises ``ValueError`` for anything Go's ``time.Time.UnmarshalJSON`` rejects
    (lower-case ``t``/``z``, one-digit hours, a comma before the fraction, out-of-range
    fields, offsets of 24 hours or more, leap seconds).
    """
    m = _RFC3339.fullmatch(text)
    if m is None:
        raise ValueError(f"not an RFC 3339 timestamp: {text!r}")
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    zone = m.group(7)
    if not (1 <= month <= 12 and 1 <= day <= _days_in(month, year)):
        raise ValueError(f"date out of range: {text!r}")
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError(f"time out of range: {text!r}")
    offset = 0
    if zone != "Z":
        zone_hour, zone_minute = int(zone[1:3]), int(zone[4:6])
        if zone_hour > 23 or zone_minute > 59:
            raise ValueError(f"time zone offset out of range: {text!r}")
        offset = (zone_hour * 60 + zone_minute) * 60 * (1 if zone[0] == "+" else -1)
    seconds = _days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second
    seconds -= offset
    days, rest = divmod(seconds, 86400)
    y, mo, d = _civil_from_days(days)
    hh, rest = divmod(rest, 3600)
    mm, ss = divmod(rest, 60)
    return f"{_go_year(y)}-{mo:02d}-{d:02d}T{hh:02d}:{mm:02d}:{ss:02d}Z"


# --- schemas ---------------------------------------------------------------------------------


class Schema:
    """A Go type, as far as ``encoding/json`` cares: how to decode a value into it."""

    __slots__ = ()

    #: Whether JSON ``null`` resets the value (pointers, maps, slices) instead of keeping it.
    nullable = False

    def zero(self) -> Any:
        """The Go zero value, in the Python form :meth:`decode_into` produces."""
        return None

    def decode_into(self, value: Any, existing: Any, path: str) -> Any:  # pragma: no cover
        """Decode non-null ``value`` on top of ``existing`` (Go reuses maps and structs)."""
        raise NotImplementedError


class _Scalar(Schema):
    __slots__ = ("_check", "_convert", "_name", "_zero", "nullable")

    def __init__(
        self,
        name: str,
        check: Callable[[Any], bool],
        zero: Any,
        convert: Callable[[Any], Any] | None = None,
        *,
        nullable: bool = False,
    ) -> None:
        self._name = name
        self._check = check
        self._zero = zero
        self._convert = convert
        self.nullable = nullable

    def zero(self) -> Any:
        return self._zero

    def decode_into(self, value: Any, existing: Any, path: str) -> Any:
        if not self._check(value):
            raise GoDecodeError(f"cannot decode {describe_json(value)} into {self._name}", path)
        if self._convert is None:
            return value
        try:
            return self._convert(value)
        except ValueError as exc:
            raise GoDecodeError(str(exc), path) from None

    def __repr__(self) -> str:
        return self._name


_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1


def _is_int(value: Any) -> bool:
    return (
        isinstance(value, int) and not isinstance(value, bool) and _INT64_MIN <= value <= _INT64_MAX
    )


def _decode_bytes(value: Any) -> bytes:
    """Go's ``[]byte``: standard padded base64 (CR/LF ignored), or an array of bytes."""
    if isinstance(value, str):
        cleaned = value.replace("\r", "").replace("\n", "")
        try:
            return base64.b64decode(cleaned.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError):
            raise ValueError("invalid base64 data") from None
    if all(_is_int(v) and 0 <= v <= 255 for v in value):
        return bytes(value)
    raise ValueError("array is not a byte array")


#: Go ``string``.
STR: Final[Schema] = _Scalar("string", lambda v: isinstance(v, str), "")
#: Go ``bool``.
BOOL: Final[Schema] = _Scalar("bool", lambda v: isinstance(v, bool), False)
#: Go ``int`` (64-bit): an integer literal only, as ``strconv.ParseInt`` reads it.
INT: Final[Schema] = _Scalar("int", _is_int, 0)
#: Go ``*time.Time``, decoded to Buildx's re-formatted UTC string (``None`` when null).
TIME: Final[Schema] = _Scalar(
    "time.Time", lambda v: isinstance(v, str), None, format_go_rfc3339_utc, nullable=True
)
#: Go ``[]byte``.
BYTES: Final[Schema] = _Scalar(
    "[]byte",
    lambda v: isinstance(v, (str, list, tuple)),
    None,
    _decode_bytes,
    nullable=True,
)
#: Go ``interface{}``: anything goes.
ANY: Final[Schema] = _Scalar("interface{}", lambda v: True, None, nullable=True)
#: A struct or map Buildx decodes but never reads: it must be an object, contents unchecked.
OPAQUE_OBJECT: Final[Schema] = _Scalar(
    "object", lambda v: isinstance(v, Mapping), None, nullable=True
)
#: A slice Buildx decodes but never reads: it must be an array, contents unchecked.
OPAQUE_ARRAY: Final[Schema] = _Scalar(
    "array", lambda v: isinstance(v, (list, tuple)), None, nullable=True
)


class Ptr(Schema):
    """Go ``*T``: ``null`` makes it nil; a value decodes into the existing target."""

    __slots__ = ("inner",)
    nullable = True

    def __init__(self, inner: Schema) -> None:
        self.inner = inner

    def decode_into(self, value: Any, existing: Any, path: str) -> Any:
        return _decode_value(self.inner, value, existing, path)


class MapOf(Schema):
    """Go ``map[string]T``: merges into an existing map, ``null`` elements store zero."""

    __slots__ = ("elem",)
    nullable = True

    def __init__(self, elem: Schema) -> None:
        self.elem = elem

    def decode_into(self, value: Any, existing: Any, path: str) -> Any:
        if not isinstance(value, Mapping):
            raise GoDecodeError(f"cannot decode {describe_json(value)} into a map", path)
        out: dict[str, Any] = dict(existing) if existing else {}
        for key, item in value.items():
            out[key] = _decode_value(self.elem, item, None, f"{path}.{key}" if path else key)
        return out


class ListOf(Schema):
    """Go ``[]T``: replaced by the decoded array; ``null`` makes it nil."""

    __slots__ = ("elem",)
    nullable = True

    def __init__(self, elem: Schema) -> None:
        self.elem = elem

    def zero(self) -> Any:
        return []

    def decode_into(self, value: Any, existing: Any, path: str) -> Any:
        if not isinstance(value, (list, tuple)):
            raise GoDecodeError(f"cannot decode {describe_json(value)} into a slice", path)
        return [_decode_value(self.elem, v, None, f"{path}[{i}]") for i, v in enumerate(value)]


class Struct(Schema):
    """Go struct: JSON keys matched to fields case-insensitively, others ignored.

    ``fields`` maps each JSON field name to its schema; it may be filled in after
    construction so recursive types can refer to themselves.
    """

    __slots__ = ("_by_fold", "fields", "name")

    def __init__(self, name: str, fields: Mapping[str, Schema] | None = None) -> None:
        self.name = name
        self.fields: dict[str, Schema] = dict(fields or {})
        self._by_fold: dict[str, str] | None = None

    def zero(self) -> Any:
        return {}

    def _field_for(self, key: str) -> str | None:
        if key in self.fields:
            return key
        if self._by_fold is None:
            self._by_fold = {fold_key(name): name for name in self.fields}
        return self._by_fold.get(fold_key(key))

    def decode_into(self, value: Any, existing: Any, path: str) -> Any:
        if not isinstance(value, Mapping):
            raise GoDecodeError(
                f"cannot decode {describe_json(value)} into struct {self.name}", path
            )
        out: dict[str, Any] = dict(existing) if existing else {}
        for key, item in value.items():
            name = self._field_for(key)
            if name is None:
                continue
            sub = f"{path}.{name}" if path else name
            out[name] = _decode_value(self.fields[name], item, out.get(name), sub)
        return out

    def __repr__(self) -> str:
        return f"Struct({self.name})"


def _decode_value(schema: Schema, value: Any, existing: Any, path: str) -> Any:
    if value is None:
        if schema.nullable:
            return None
        return existing if existing is not None else schema.zero()
    return schema.decode_into(value, existing, path)


def decode(schema: Schema, value: Any) -> Any:
    """Decode a JSON value into ``schema`` as ``json.Unmarshal`` would, or raise GoDecodeError.

    A ``null`` document decodes to the zero value without error, as in Go.
    """
    return _decode_value(schema, value, None, "")


def field(obj: Any, name: str, schema: Schema | None = None) -> Any:
    """Read field ``name`` of a decoded struct, with Go's zero value when it was never set."""
    if not isinstance(obj, dict):
        return schema.zero() if schema is not None else None
    value = obj.get(name)
    if value is None and schema is not None:
        return schema.zero()
    return value


def as_sequence(value: Any) -> Sequence[Any]:
    """A decoded slice (``None`` for a nil slice) as a sequence."""
    return value if isinstance(value, list) else []

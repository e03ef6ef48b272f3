"""Go-compatible JSON for frozen dataclasses: encode, strict decode, JSON Schema.

The policy input must serialise exactly as Buildx's Go structs do, because Rego sees an
absent key as *undefined*, not as false. Each model field declares its JSON name and omit
rule in dataclass metadata (see :func:`jfield`); everything here is driven by that
metadata and the type hints, so the model module stays a plain list of declarations.

Supported field types: ``str``, ``int``, ``bool``, ``datetime`` (RFC 3339), ``X | None``,
``tuple[X, ...]`` (JSON arrays), ``Mapping[str, X]`` (JSON objects, keys sorted on output
as Go does) and nested model dataclasses. Nothing here is public API.
"""

from __future__ import annotations

import dataclasses
import json
import re
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Literal, TypeVar

from buildsig.errors import InvalidDocumentError

Omit = Literal["empty", "zero", "never"]

_T = TypeVar("_T")


class FrozenMap(Mapping[str, _T]):
    """An immutable, hashable mapping, so frozen dataclasses can hold JSON objects."""

    __slots__ = ("_data", "_hash")

    def __init__(self, data: Mapping[str, _T] | None = None) -> None:
        self._data: dict[str, _T] = dict(data or {})
        self._hash: int | None = None

    def __getitem__(self, key: str) -> _T:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(frozenset(self._data.items()))
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return self._data == dict(other.items())
        return NotImplemented

    def __repr__(self) -> str:
        return f"{dict(self._data)!r}"


def jfield(
    json_name: str,
    *,
    default: Any = dataclasses.MISSING,
    default_factory: Callable[[], Any] | Any = dataclasses.MISSING,
    omit: Omit = "empty",
    required: bool = False,
    doc: str = "",
) -> Any:
    """Declare a serialised field.

    ``omit`` follows Go: ``"empty"`` is ``omitempty`` (absent when "", 0, false, None or an
    empty list/map), ``"zero"`` is ``omitzero`` (absent when a nested struct is entirely
    zero), ``"never"`` is a plain tag (always present). ``required`` fields have no
    default: the constructor and :func:`from_dict` insist on them.
    """
    meta = {"json": json_name, "omit": omit, "doc": doc}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    if required:
        return dataclasses.field(metadata=meta)
    if default is dataclasses.MISSING:
        default = ""
    return dataclasses.field(default=default, metadata=meta)


def hidden(*, default: Any = None, doc: str = "") -> Any:
    """Declare a field that is never serialised and not part of equality (like Go's ``json:"-"``).

    Used for data that resolvers carry along for builtins (raw git objects, unknowns) but
    that a policy engine must not see.
    """
    return dataclasses.field(
        default=default, compare=False, repr=False, metadata={"hidden": True, "doc": doc}
    )


# --- time ------------------------------------------------------------------------------------

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})"
)


def format_rfc3339(value: datetime) -> str:
    """Format like Go's ``time.Time`` JSON: RFC 3339, fraction trimmed, ``Z`` for +00:00."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    out = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        out += f".{value.microsecond:06d}".rstrip("0")
    offset = value.utcoffset() or timedelta(0)
    if offset == timedelta(0):
        return out + "Z"
    total = int(offset.total_seconds())
    sign = "+" if total >= 0 else "-"
    hours, minutes = divmod(abs(total) // 60, 60)
    return f"{out}{sign}{hours:02d}:{minutes:02d}"


def parse_rfc3339(text: str) -> datetime:
    """Parse an RFC 3339 timestamp, keeping its offset; ``ValueError`` if it is not one."""
    m = _RFC3339.fullmatch(text)
    if not m:
        raise ValueError(f"not an RFC 3339 timestamp: {text!r}")
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    frac, zone = m.group(7), m.group(8)
    micro = int((frac or "0").ljust(6, "0")[:6])
    if zone in ("Z", "z"):
        tz: timezone = UTC
    else:
        sign = 1 if zone[0] == "+" else -1
        tz = timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=tz)


# --- type analysis ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class _FieldInfo:
    name: str
    json: str
    omit: Omit
    hidden: bool
    doc: str
    type: Any
    pointer: bool  # ``X | None``: Go pointer semantics, empty only when None
    collection: bool  # may be given a list or dict that must be frozen


_FIELDS: dict[type, tuple[_FieldInfo, ...]] = {}


def fields_of(cls: type) -> tuple[_FieldInfo, ...]:
    """The serialisation plan of a model class, computed once from its hints and metadata."""
    plan = _FIELDS.get(cls)
    if plan is None:
        hints = typing.get_type_hints(cls)
        plan = tuple(
            _FieldInfo(
                name=f.name,
                json=f.metadata.get("json", f.name),
                omit=f.metadata.get("omit", "empty"),
                hidden=bool(f.metadata.get("hidden", False)),
                doc=f.metadata.get("doc", ""),
                type=hints[f.name],
                pointer=_unwrap_optional(hints[f.name])[1],
                collection=typing.get_origin(hints[f.name]) in (tuple, Mapping, dict),
            )
            for f in dataclasses.fields(cls)
        )
        _FIELDS[cls] = plan
    return plan


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0], True
    return tp, False


# --- encoding --------------------------------------------------------------------------------


def is_zero(value: Any) -> bool:
    """Go's zero-value test, extended to model dataclasses (every serialised field zero)."""
    if value is None or value is False:
        return True
    if isinstance(value, bool):
        return False
    if isinstance(value, (str, int, tuple, list, Mapping)):
        return not value
    if dataclasses.is_dataclass(value):
        return all(
            _field_is_zero(f, getattr(value, f.name))
            for f in fields_of(type(value))
            if not f.hidden
        )
    return False


def _field_is_zero(f: _FieldInfo, value: Any) -> bool:
    # A Go pointer (``X | None`` here) is empty only when nil: a false ``*bool`` or an
    # empty ``*Struct`` is still written, e.g. ``"reproducible": false``, ``"configSource": {}``.
    if f.pointer:
        return value is None
    return is_zero(value)


def _encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_dict(value)
    if isinstance(value, datetime):
        return format_rfc3339(value)
    if isinstance(value, Mapping):
        return {k: _encode(value[k]) for k in sorted(value)}
    if isinstance(value, (tuple, list)):
        return [_encode(v) for v in value]
    return value


def to_dict(obj: Any) -> dict[str, Any]:
    """Encode a model object to plain JSON-ready data with Go's field order and omit rules."""
    out: dict[str, Any] = {}
    for f in fields_of(type(obj)):
        if f.hidden:
            continue
        value = getattr(obj, f.name)
        if f.omit != "never" and _field_is_zero(f, value):
            continue
        out[f.json] = _encode(value)
    return out


_GO_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}
_GO_ESCAPE_RE = re.compile("[<>&\u2028\u2029]")


def dumps_go(data: Any, *, indent: int | None = 2) -> str:
    """Serialise like Go's ``json.MarshalIndent``: same separators and HTML-safe escapes.

    Go escapes ``<``, ``>``, ``&``, U+2028 and U+2029 inside strings and leaves other
    non-ASCII as UTF-8. Those characters can only occur inside JSON strings, so a
    replacement over the whole text is exact.
    """
    if indent is None:
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    else:
        text = json.dumps(data, ensure_ascii=False, indent=indent)
    return _GO_ESCAPE_RE.sub(lambda m: _GO_ESCAPES[m.group(0)], text)


# --- strict decoding -------------------------------------------------------------------------


def describe_json(value: Any) -> str:
    """How an error message names a JSON value's type ("a string", "an array" …)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def freeze(value: Any) -> Any:
    """JSON-like data made immutable and hashable: mappings as FrozenMap, arrays as tuples."""
    if isinstance(value, Mapping) and not isinstance(value, FrozenMap):
        return FrozenMap({k: freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    return value


def _fail(path: str, expected: str, value: Any) -> InvalidDocumentError:
    return InvalidDocumentError(f"expected {expected}, got {describe_json(value)}", path=path)


def _decode(tp: Any, value: Any, path: str) -> Any:
    inner, optional = _unwrap_optional(tp)
    if value is None:
        if optional:
            return None
        return _zero_of(tp)
    if optional:
        return _decode(inner, value, path)
    origin = typing.get_origin(tp)
    if tp is str:
        if not isinstance(value, str):
            raise _fail(path, "a string", value)
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise _fail(path, "a boolean", value)
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer() and not isinstance(value, bool):
                return int(value)
            raise _fail(path, "an integer", value)
        return value
    if tp is datetime:
        if not isinstance(value, str):
            raise _fail(path, "an RFC 3339 timestamp string", value)
        try:
            return parse_rfc3339(value)
        except ValueError as exc:
            raise InvalidDocumentError(str(exc), path=path) from None
    if origin is tuple:
        (item_tp, _ellipsis) = typing.get_args(tp)
        if not isinstance(value, list):
            raise _fail(path, "an array", value)
        return tuple(_decode(item_tp, v, f"{path}[{i}]") for i, v in enumerate(value))
    if origin is Mapping or origin is dict:
        _key_tp, val_tp = typing.get_args(tp)
        if not isinstance(value, dict):
            raise _fail(path, "an object", value)
        return FrozenMap({k: _decode(val_tp, v, f"{path}.{k}") for k, v in value.items()})
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return from_dict(tp, value, path=path)
    raise TypeError(f"unsupported model type {tp!r}")  # a bug in the model, not bad input


def _zero_of(tp: Any) -> Any:
    origin = typing.get_origin(tp)
    if tp is str:
        return ""
    if tp is bool:
        return False
    if tp is int:
        return 0
    if origin is tuple:
        return ()
    if origin is Mapping or origin is dict:
        return FrozenMap()
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return tp()
    return None


_D = TypeVar("_D")


def from_dict(cls: type[_D], data: Any, *, path: str = "") -> _D:
    """Decode strictly: unknown keys and ill-typed values raise ``InvalidDocumentError``.

    ``null`` is read as the zero value (as Go does), so a document with explicit nulls
    still loads; everything else must have the declared type.
    """
    if not isinstance(data, dict):
        raise _fail(path or "(root)", "an object", data)
    by_json = {f.json: f for f in fields_of(cls) if not f.hidden}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        f = by_json.get(key)
        sub = f"{path}.{key}" if path else key
        if f is None:
            expected = ", ".join(sorted(by_json))
            raise InvalidDocumentError(f"unknown field (expected one of: {expected})", path=sub)
        decoded = _decode(f.type, value, sub)
        if decoded is not None:
            kwargs[f.name] = decoded
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        no_default = (
            field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
        )
        if no_default and field.name not in kwargs:
            where = f"{path}.{field.metadata['json']}" if path else field.metadata["json"]
            raise InvalidDocumentError("required field is missing", path=where)
    return cls(**kwargs)


# --- JSON Schema -----------------------------------------------------------------------------


def json_schema(root: type, *, title: str, schema_id: str) -> dict[str, Any]:
    """Generate a draft 2020-12 JSON Schema of ``root`` and every class it reaches."""
    defs: dict[str, Any] = {}

    def schema_for(tp: Any) -> dict[str, Any]:
        inner, optional = _unwrap_optional(tp)
        if optional:
            return schema_for(inner)
        origin = typing.get_origin(tp)
        if tp is str:
            return {"type": "string"}
        if tp is bool:
            return {"type": "boolean"}
        if tp is int:
            return {"type": "integer"}
        if tp is datetime:
            return {"type": "string", "format": "date-time"}
        if origin is tuple:
            return {"type": "array", "items": schema_for(typing.get_args(tp)[0])}
        if origin is Mapping or origin is dict:
            val_tp = typing.get_args(tp)[1]
            val_inner, val_optional = _unwrap_optional(val_tp)
            val_schema = schema_for(val_inner)
            if val_optional:
                val_schema = {"type": [val_schema["type"], "null"]}
            return {"type": "object", "additionalProperties": val_schema}
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            name = tp.__name__
            if name not in defs:
                defs[name] = {}  # placeholder: breaks recursion (materials are inputs)
                defs[name] = class_schema(tp)
            return {"$ref": f"#/$defs/{name}"}
        raise TypeError(f"unsupported model type {tp!r}")

    def class_schema(cls: type) -> dict[str, Any]:
        props: dict[str, Any] = {}
        required: list[str] = []
        for f in fields_of(cls):
            if f.hidden:
                continue
            prop = dict(schema_for(f.type))
            if f.doc:
                prop["description"] = f.doc
            props[f.json] = prop
            if f.omit == "never":
                required.append(f.json)
        out: dict[str, Any] = {"type": "object", "properties": props}
        doc = (cls.__doc__ or "").strip().split("\n\n")[0]
        if doc:
            out["description"] = " ".join(doc.split())
        if required:
            out["required"] = required
        out["additionalProperties"] = False
        return out

    top = schema_for(root)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": schema_id,
        "title": title,
        **top,
        "$defs": defs,
    }

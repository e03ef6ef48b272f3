"""Static reading of Rego modules through the engine's AST: ``input`` references, tests.

Buildx finds the input fields a policy needs by partial evaluation; without one, a scan of
every ``input…`` reference in the modules is the stated approximation (it is also what
``buildx policy test`` does for ``missing_input``). The scan works on regorus's JSON AST
(``Engine.get_ast_as_json``), so strings, comments and formatting never confuse it.

A reference is trimmed to a *key* the way Buildx trims unknowns: the first two components
(``input.image.signatures[_].signer.issuer`` → ``image.signatures``,
``input["git"]["commit"]`` → ``git.commit``, ``input.local`` → ``local``), except that
provenance material paths keep a literal index and recurse
(``image.provenance.materials[0].image.labels``); ``object.get(input.image, "labels", d)``
and ``object.get(input, ["git", "ref"], d)`` count as the field they read. The scan
follows variables bound to part of the input (``img := input.image``,
``some s in input.image.signatures``, ``every``, rule heads such as
``img := input.image``, and the parameters of functions defined in the modules when
called with part of the input). When it cannot tell which field is meant (a computed
index, an iterated value's fields) it reports the parent key; a use of the whole
``input`` (``f(input)`` to a builtin, ``x := input`` used opaquely)
is reported as :data:`WHOLE_INPUT`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "WHOLE_INPUT",
    "ModuleAst",
    "function_calls",
    "import_texts",
    "input_overrides",
    "module_package",
    "parse_asts",
    "scan_ast_input_fields",
    "test_rule_names",
]

WHOLE_INPUT: Final = ""
"""The key reported when a module uses the input document as a whole."""

_REF_KINDS = ("RefDot", "RefBrack")
_MATERIALS = ("image", "provenance", "materials")
_MAX_ALIAS_ROUNDS = 16

# A path into the input: field names (str) and literal array indices (int).
_Path = tuple[str | int, ...]


@dataclass(frozen=True)
class ModuleAst:
    """One parsed module: its file name, source text and regorus AST (JSON form)."""

    file: str
    source: str
    ast: dict[str, Any]

    def text(self, span: Any) -> str | None:
        """The source text of a span (regorus spans are UTF-8 byte offsets)."""
        if not isinstance(span, dict) or "start" not in span or "end" not in span:
            return None
        raw = self.source.encode("utf-8")[int(span["start"]) : int(span["end"])]
        return raw.decode("utf-8", errors="replace")


def parse_asts(ast_json: str) -> list[ModuleAst]:
    """Split the engine's AST dump into one :class:`ModuleAst` per module."""
    out = []
    for entry in json.loads(ast_json):
        src = entry.get("source", {})
        out.append(ModuleAst(str(src.get("file", "")), str(src.get("contents", "")), entry["ast"]))
    return out


def _node(value: Any) -> tuple[str, Any] | None:
    """A single-key AST variant ``{"Kind": {...}}`` as (kind, payload)."""
    if isinstance(value, dict) and len(value) == 1:
        ((kind, payload),) = value.items()
        if isinstance(kind, str) and kind[:1].isupper():
            return kind, payload
    return None


def _var(value: Any) -> str | None:
    n = _node(value)
    if n and n[0] == "Var" and isinstance(n[1], dict):
        v = n[1].get("value")
        return v if isinstance(v, str) else None
    return None


def _ref_chain(value: Any) -> tuple[str, _Path, list[Any]] | None:
    """For a reference ``v.a["b"][0][x].c``: (``v``, literal prefix path, non-literal parts).

    The path stops at the first computed index; the remaining indices are returned so the
    caller still scans them.
    """
    parts: list[tuple[str, Any]] = []
    cur = value
    while True:
        n = _node(cur)
        if n is None or n[0] not in _REF_KINDS:
            break
        kind, payload = n
        if kind == "RefDot":
            fld = payload.get("field")
            name = fld[-1] if isinstance(fld, list) and fld else fld
            parts.append(("field", name))
        else:
            parts.append(("index", payload.get("index")))
        cur = payload.get("refr")
    base = _var(cur)
    if base is None or not parts:
        return None
    parts.reverse()
    path: list[str | int] = []
    rest: list[Any] = []
    open_ = True
    for kind, item in parts:
        if kind == "field" and isinstance(item, str):
            lit: str | int | None = item
        elif kind == "index":
            idx = _node(item)
            lit = None
            if idx and idx[0] == "String":
                lit = str(idx[1].get("value"))
            elif idx and idx[0] == "Number" and isinstance(idx[1].get("value"), int):
                lit = int(idx[1]["value"])
            if lit is None:
                rest.append(item)
        else:
            lit = None
        if open_ and lit is not None:
            path.append(lit)
        else:
            open_ = False
    return base, tuple(path), rest


def module_package(module: ModuleAst) -> str | None:
    """The module's package as a ``data.…`` reference."""
    pkg = module.ast.get("package", {}).get("refr")
    chain = _ref_chain(pkg)
    if chain is not None:
        base, path, rest = chain
        if rest or not all(isinstance(p, str) for p in path):
            return None
        return ".".join(["data", base, *(str(p) for p in path)])
    name = _var(pkg)
    return f"data.{name}" if name else None


def _rules(module: ModuleAst) -> Iterator[tuple[str, dict[str, Any]]]:
    for rule in module.ast.get("rules", []):
        n = _node(rule)
        if n is not None:
            yield n


def _head(payload: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    return _node(payload.get("head"))


def test_rule_names(module: ModuleAst) -> list[tuple[str, list[Any]]]:
    """The ``test_*`` rules of a module without arguments, with their bodies."""
    found: dict[str, list[Any]] = {}
    for kind, payload in _rules(module):
        if kind != "Spec":
            continue
        head = _head(payload)
        if head is None or head[0] != "Compr":
            continue
        name = _var(head[1].get("refr"))
        if name and name.startswith("test_"):
            found.setdefault(name, []).extend(payload.get("bodies", []))
    return list(found.items())


def _walk(value: Any) -> Iterator[Any]:
    stack = [value]
    while stack:
        cur = stack.pop()
        if isinstance(cur, dict):
            yield cur
            stack.extend(cur.values())
        elif isinstance(cur, list):
            stack.extend(cur)


def input_overrides(module: ModuleAst, body: Any) -> list[str]:
    """The source text of each ``with input as <value>`` in a rule body."""
    texts = []
    for d in _walk(body):
        for mod in d.get("with_mods", []) or []:
            if _var(mod.get("refr")) == "input":
                n = _node(mod.get("as"))
                text = module.text(n[1].get("span")) if n and isinstance(n[1], dict) else None
                if text:
                    texts.append(text)
    return texts


def _call_name(call: dict[str, Any]) -> str | None:
    """The dotted name of a called function (``object.get``), if it is a plain name."""
    fcn = call.get("fcn")
    name = _var(fcn)
    if name is None:
        chain = _ref_chain(fcn)
        if chain is None or chain[2] or not all(isinstance(p, str) for p in chain[1]):
            return None
        name = ".".join([chain[0], *(str(p) for p in chain[1])])
    return name


def _literal_keys(value: Any) -> _Path | None:
    """``"k"`` or ``["a", "b"]`` as a path; None for anything computed."""
    n = _node(value)
    if n is None or not isinstance(n[1], dict):
        return None
    if n[0] == "String":
        return (str(n[1].get("value")),)
    if n[0] == "Array":
        out: list[str | int] = []
        for item in n[1].get("items", []):
            k = _node(item)
            if k is None or k[0] != "String":
                return None
            out.append(str(k[1].get("value")))
        return tuple(out)
    return None


def function_calls(module: ModuleAst) -> Iterator[tuple[str, int, int]]:
    """Every call in a module as (dotted function name, line, column)."""
    for d in _walk(module.ast):
        call = d.get("Call")
        if not isinstance(call, dict):
            continue
        name = _call_name(call)
        if name is None:
            continue
        span = call.get("span") or {}
        yield name, int(span.get("line", 0)), int(span.get("col", 0))


def import_texts(module: ModuleAst) -> list[str]:
    """The module's ``import`` statements, as written."""
    texts = []
    for imp in module.ast.get("imports", []):
        text = module.text(imp.get("span")) if isinstance(imp, dict) else None
        if text:
            texts.append(text)
    return texts


def _key(path: _Path) -> str:
    """Trim an input path to the key Buildx would resolve."""
    if not path:
        return WHOLE_INPUT
    if tuple(path[:3]) == _MATERIALS:
        if len(path) > 3 and isinstance(path[3], int):
            inner = _key(path[4:])
            base = f"image.provenance.materials[{path[3]}]"
            return f"{base}.{inner}" if inner else base
        return "image.provenance.materials"
    head: list[str] = []
    for p in path[:2]:
        if not isinstance(p, str):
            break
        head.append(p)
    return ".".join(head)


@dataclass
class _Alias:
    path: _Path
    extendable: bool  # False: the variable holds *some* element, its fields are unknown


class _Scanner:
    def __init__(self, modules: list[ModuleAst]) -> None:
        self.modules = modules
        self.aliases: dict[str, list[_Alias]] = {}
        self.functions: dict[str, list[list[str | None]]] = {}
        for m in modules:
            for kind, payload in _rules(m):
                head = _head(payload) if kind == "Spec" else None
                if head and head[0] == "Func":
                    name = self._rule_name(head[1].get("refr"))
                    params = [_var(a) for a in head[1].get("args", [])]
                    if name:
                        self.functions.setdefault(name, []).append(params)

    @staticmethod
    def _rule_name(refr: Any) -> str | None:
        name = _var(refr)
        if name:
            return name
        chain = _ref_chain(refr)
        if chain and chain[1] and isinstance(chain[1][-1], str):
            return chain[1][-1]
        return None

    def resolve(self, value: Any) -> list[_Alias]:
        """The input paths an expression denotes, if it is (part of) the input."""
        name = _var(value)
        if name is not None:
            if name == "input":
                return [_Alias((), True)]
            return list(self.aliases.get(name, []))
        chain = _ref_chain(value)
        if chain is None:
            return []
        base, path, rest = chain
        if base == "input":
            return [_Alias(path, not rest)]
        out = []
        for a in self.aliases.get(base, []):
            out.append(_Alias(a.path + path, not rest) if a.extendable else _Alias(a.path, False))
        return out

    def _bind(self, name: str | None, targets: list[_Alias]) -> bool:
        if not name or name == "_" or not targets:
            return False
        have = self.aliases.setdefault(name, [])
        changed = False
        for t in targets:
            if t not in have:
                have.append(t)
                changed = True
        return changed

    def collect_aliases(self) -> None:
        for _ in range(_MAX_ALIAS_ROUNDS):
            changed = False
            for m in self.modules:
                changed |= self._collect_module(m)
            if not changed:
                return

    def _collect_module(self, m: ModuleAst) -> bool:
        changed = False
        for kind, payload in _rules(m):
            head = _head(payload) if kind == "Spec" else None
            if head and head[0] == "Compr":
                assign = head[1].get("assign")
                name = _var(head[1].get("refr"))
                if isinstance(assign, dict):
                    changed |= self._bind(name, self.resolve(assign.get("value")))
        for d in _walk(m.ast):
            for kind, p in d.items():
                if not isinstance(p, dict):
                    continue
                if kind == "AssignExpr":
                    lhs, rhs = p.get("lhs"), p.get("rhs")
                    changed |= self._bind(_var(lhs), self.resolve(rhs))
                    changed |= self._bind(_var(rhs), self.resolve(lhs))
                elif kind in ("SomeIn", "Every"):
                    coll = p.get("collection", p.get("domain"))
                    elems = [_Alias(a.path, False) for a in self.resolve(coll)]
                    val = p.get("value")
                    vname = _var(val) if _node(val) else m.text(val)
                    changed |= self._bind(vname, elems)
                elif kind == "Call":
                    fname = self._rule_name(p.get("fcn"))
                    for params in self.functions.get(fname or "", []):
                        for pname, arg in zip(params, p.get("params", []), strict=False):
                            changed |= self._bind(pname, self.resolve(arg))
        return changed

    def keys(self) -> set[str]:
        found: set[str] = set()
        for m in self.modules:
            self._scan(m.ast.get("rules", []), found, skip_var=False)
        return found

    def _scan(self, value: Any, found: set[str], *, skip_var: bool) -> None:
        n = _node(value)
        if n is not None:
            kind, payload = n
            if kind == "Var":
                if not skip_var:
                    found.update(_key(a.path) for a in self.resolve(value))
                return
            if kind in _REF_KINDS:
                chain = _ref_chain(value)
                if chain is not None:
                    found.update(_key(a.path) for a in self.resolve(value))
                    for part in chain[2]:
                        self._scan(part, found, skip_var=False)
                    return
            if kind == "AssignExpr" and isinstance(payload, dict):
                lhs = payload.get("lhs")
                if _var(lhs) is None:  # a bare variable on the left is bound, not used
                    self._scan(lhs, found, skip_var=False)
                self._scan(payload.get("rhs"), found, skip_var=False)
                return
            if kind == "Call" and isinstance(payload, dict):
                params = payload.get("params", [])
                if _call_name(payload) == "object.get" and len(params) == 3:
                    keys = _literal_keys(params[1])
                    targets = self.resolve(params[0])
                    if keys is not None and targets:
                        found.update(
                            _key(a.path + keys if a.extendable else a.path) for a in targets
                        )
                        self._scan(params[2], found, skip_var=False)
                        return
                fname = self._rule_name(payload.get("fcn"))
                known = fname in self.functions
                for arg in params:
                    # arguments to the modules' own functions are scanned through the
                    # parameters' uses in the function bodies
                    if known and self.resolve(arg):
                        continue
                    self._scan(arg, found, skip_var=False)
                return
        if isinstance(value, dict):
            for k, v in value.items():
                if k == "with_mods" and isinstance(v, list):
                    for mod in v:
                        self._scan(mod.get("as"), found, skip_var=False)
                    continue
                if k == "head":
                    self._scan_head(v, found)
                    continue
                self._scan(v, found, skip_var=False)
        elif isinstance(value, list):
            for v in value:
                self._scan(v, found, skip_var=False)

    def _scan_head(self, head: Any, found: set[str]) -> None:
        n = _node(head)
        if n is None or not isinstance(n[1], dict):
            return
        for k, v in n[1].items():
            if k not in ("refr", "args"):  # the rule's name and parameters are not uses
                self._scan(v, found, skip_var=False)


def scan_ast_input_fields(modules: Iterable[ModuleAst]) -> frozenset[str]:
    """The input keys the modules reference (see the module docstring for the rules)."""
    scanner = _Scanner(list(modules))
    scanner.collect_aliases()
    return frozenset(scanner.keys())

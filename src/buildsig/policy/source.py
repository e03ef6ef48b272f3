"""BuildKit source policies: the static allow, deny and convert rules of a build daemon.

BuildKit applies them to every source before a build runs (``buildctl
--source-policy-file``, Buildx's ``EXPERIMENTAL_BUILDKIT_SOURCE_POLICY``).

Loading follows Go's ``encoding/json`` as BuildKit uses it, so a file means here what it
means to the daemon: field names are the proto names matched case-insensitively, unknown
keys are ignored (and reported as warnings here, above all ``matchType``, which BuildKit
silently ignores so the selector falls back to WILDCARD), enums are names or numbers, and
``null`` leaves a field at its zero value. The early pin format
(``{"sources": [{"type", "ref", "pin"}]}``) is translated to CONVERT rules.

Evaluation is BuildKit's ``sourcepolicy`` engine rule for rule: constraints first, then
identifier equality, then the match type (anchored wildcard with ``*`` captures, unanchored
RE2 regex, exact); within a policy the last matching ALLOW/DENY wins; a CONVERT that
changes the source restarts evaluation from the first policy; after 21 passes that each
mutated, the source is refused. A denial is a result (``action == "DENY"``), not an
exception: deciding what to do with it is the caller's business.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from buildsig._internal.goregexp import (
    GoRegexp,
    GoRegexpError,
    compile_go,
    wildcard_to_regexp,
)
from buildsig._internal.serde import FrozenMap
from buildsig.errors import PolicyConfigError
from buildsig.policy._source_json import INT64, MAP, STRING, Kind, Pairs, SourcePolicyJSON, loads

__all__ = [
    "MAX_MUTATIONS",
    "AttrConstraint",
    "AttrMatch",
    "MatchType",
    "PolicyAction",
    "Rule",
    "Selector",
    "SourcePolicy",
    "SourcePolicyEngine",
    "SourcePolicyError",
    "SourcePolicyResult",
    "Update",
    "evaluate_source_policies",
    "load_source_policy",
    "parse_source_policy",
]

#: Largest policy file read; BuildKit has no limit, but a policy is a few KiB of rules.
MAX_POLICY_BYTES = 16 * 1024 * 1024
#: Longest identifier a conversion may produce. BuildKit has no limit, but a template that
#: repeats its match (REGEX ``x*`` → ``$0$0``) doubles the identifier on every pass.
MAX_IDENTIFIER_CHARS = 64 * 1024
#: BuildKit's engine allows passes 0..20; a 21st mutation is refused.
MAX_MUTATIONS = 20


class SourcePolicyError(PolicyConfigError):
    """A source policy cannot be loaded or evaluated.

    Bad JSON, a bad pattern, a CONVERT rule without ``updates``, a conversion loop:
    BuildKit fails the build on each.
    """


class PolicyAction(enum.IntEnum):
    """``PolicyAction`` in BuildKit's ``policy.proto``."""

    ALLOW = 0
    DENY = 1
    CONVERT = 2


class MatchType(enum.IntEnum):
    """``MatchType``: how ``selector.identifier`` is compared with a source."""

    WILDCARD = 0
    EXACT = 1
    REGEX = 2


class AttrMatch(enum.IntEnum):
    """``AttrMatch``: how an attribute constraint compares."""

    EQUAL = 0
    NOTEQUAL = 1
    MATCHES = 2


@dataclasses.dataclass(frozen=True, slots=True)
class AttrConstraint:
    """A condition on one source attribute; a missing attribute reads as ``""``."""

    key: str = ""
    value: str = ""
    condition: AttrMatch = AttrMatch.EQUAL


@dataclasses.dataclass(frozen=True, slots=True)
class Selector:
    """Which sources a rule applies to."""

    identifier: str = ""
    match_type: MatchType = MatchType.WILDCARD
    constraints: tuple[AttrConstraint, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class Update:
    """What a CONVERT rule changes: the identifier and attributes.

    The identifier is a template for WILDCARD and REGEX selectors (empty keeps the
    selector's); the attributes are merged into the source's, never removed.
    """

    identifier: str = ""
    attrs: Mapping[str, str] = dataclasses.field(default_factory=FrozenMap)

    def __post_init__(self) -> None:
        if not isinstance(self.attrs, FrozenMap):
            object.__setattr__(self, "attrs", FrozenMap(self.attrs))


@dataclasses.dataclass(frozen=True, slots=True)
class Rule:
    """One rule: an action for the sources its selector matches."""

    action: PolicyAction
    selector: Selector
    updates: Update | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class SourcePolicy:
    """One policy file: its rules in order, plus what loading it noticed.

    ``warnings`` lists keys BuildKit ignores (a ``matchType`` selector key above all) and
    early-format translations; they are never part of the JSON.
    """

    rules: tuple[Rule, ...] = ()
    version: int = 1
    name: str = dataclasses.field(default="", compare=False)
    warnings: tuple[str, ...] = dataclasses.field(default=(), compare=False)

    def to_json(self) -> dict[str, Any]:
        """BuildKit's JSON form (Go ``encoding/json``: enum names, empty fields omitted)."""
        out: dict[str, Any] = {}
        if self.version:
            out["version"] = self.version
        if self.rules:
            out["rules"] = [_rule_json(rule) for rule in self.rules]
        return out

    def dumps(self) -> str:
        """The policy as a file: two-space indented JSON with a final newline."""
        return json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n"


def _rule_json(rule: Rule) -> dict[str, Any]:
    out: dict[str, Any] = {"action": rule.action.name}
    sel: dict[str, Any] = {}
    if rule.selector.identifier:
        sel["identifier"] = rule.selector.identifier
    if rule.selector.match_type:
        sel["match_type"] = rule.selector.match_type.name
    if rule.selector.constraints:
        sel["constraints"] = [_constraint_json(c) for c in rule.selector.constraints]
    out["selector"] = sel
    if rule.updates is not None:
        upd: dict[str, Any] = {}
        if rule.updates.identifier:
            upd["identifier"] = rule.updates.identifier
        if rule.updates.attrs:
            upd["attrs"] = dict(rule.updates.attrs)
        out["updates"] = upd
    return out


def _constraint_json(c: AttrConstraint) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if c.key:
        out["key"] = c.key
    if c.value:
        out["value"] = c.value
    if c.condition:
        out["condition"] = c.condition.name
    return out


# --- loading (Go encoding/json semantics, see _source_json) ----------------------------------

_LAYOUTS: dict[str, dict[str, Kind]] = {
    "policy": {"version": INT64, "rules": ("slice", ("ptr", "rule"))},
    "rule": {
        "action": ("enum", PolicyAction),
        "selector": ("ptr", "selector"),
        "updates": ("ptr", "update"),
    },
    "selector": {
        "identifier": STRING,
        "match_type": ("enum", MatchType),
        "constraints": ("slice", ("ptr", "constraint")),
    },
    "constraint": {"key": STRING, "value": STRING, "condition": ("enum", AttrMatch)},
    "update": {"identifier": STRING, "attrs": MAP},
}
_EARLY_LAYOUTS: dict[str, dict[str, Kind]] = {
    "early": {"sources": ("slice", ("ptr", "pin"))},
    "pin": {"type": STRING, "ref": STRING, "pin": STRING},
}


def parse_source_policy(data: bytes | str, *, name: str = "<policy>") -> SourcePolicy:
    """Read one source policy document (BuildKit JSON, or the early pin format)."""
    if isinstance(data, bytes):
        if len(data) > MAX_POLICY_BYTES:
            raise SourcePolicyError(f"source policy {name}: larger than {MAX_POLICY_BYTES} bytes")
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SourcePolicyError(f"source policy {name}: not UTF-8: {exc}") from None
    try:
        raw = loads(data)
    except (ValueError, RecursionError) as exc:
        raise SourcePolicyError(f"source policy {name}: not valid JSON: {exc}") from None
    try:
        if _is_early_pin_format(raw):
            return _early_pin_policy(raw, name)
        return _policy(raw, name)
    except ValueError as exc:
        raise SourcePolicyError(f"source policy {name}: {exc}") from None


def _is_early_pin_format(raw: Any) -> bool:
    if not isinstance(raw, Pairs):
        return False
    keys = {key.lower() for key, _ in raw}
    return "sources" in keys and "rules" not in keys


def _policy(raw: Any, name: str) -> SourcePolicy:
    decoder = SourcePolicyJSON(name, _LAYOUTS)
    if raw is None:  # Go: unmarshalling null into a struct changes nothing
        decoder.warnings.append(f"warning: {name}: the document is null, an empty policy")
        state: dict[str, Any] = {}
    else:
        state = decoder.struct("policy", raw, {}, "")
    rules = []
    for index, rule in enumerate(state.get("rules") or ()):
        where = f"rules[{index}]"
        if rule is None:
            raise decoder.fail(where, "a rule is null (BuildKit crashes on it)")
        if rule.get("selector") is None:
            raise decoder.fail(where, "rule has no selector (BuildKit crashes on it)")
        rules.append(_rule(rule, where, decoder))
    return SourcePolicy(tuple(rules), state.get("version", 0), name, tuple(decoder.warnings))


def _rule(rule: dict[str, Any], where: str, decoder: SourcePolicyJSON) -> Rule:
    sel = rule["selector"]
    constraints = []
    for index, c in enumerate(sel.get("constraints") or ()):
        if c is None:
            raise decoder.fail(f"{where}.selector.constraints[{index}]", "invalid nil constraint")
        constraints.append(
            AttrConstraint(c.get("key", ""), c.get("value", ""), c.get("condition", AttrMatch(0)))
        )
    selector = Selector(
        sel.get("identifier", ""), sel.get("match_type", MatchType(0)), tuple(constraints)
    )
    upd = rule.get("updates")
    updates = None if upd is None else Update(upd.get("identifier", ""), upd.get("attrs") or {})
    return Rule(rule.get("action", PolicyAction(0)), selector, updates)


def _early_pin_policy(raw: Pairs, name: str) -> SourcePolicy:
    """Translate the first pinning format (BuildKit PR #2943) to EXACT CONVERT rules.

    Each entry pins one source by its normalised ref: an image ref gains ``@pin``, an
    HTTP source gains ``http.checksum``.
    """
    decoder = SourcePolicyJSON(name, _EARLY_LAYOUTS)
    state = decoder.struct("early", raw, {}, "")
    rules = []
    for index, entry in enumerate(state.get("sources") or ()):
        at = f"sources[{index}]"
        entry = entry or {}
        kind, ref, pin = entry.get("type", ""), entry.get("ref", ""), entry.get("pin", "")
        if not ref or not pin:
            raise decoder.fail(at, "an early-format pin needs both ref and pin")
        if kind == "docker-image":
            identifier = f"docker-image://{ref}"
            update = Update(f"docker-image://{ref.split('@', 1)[0]}@{pin}")
        elif kind == "http":
            identifier = ref
            update = Update(attrs={"http.checksum": pin})
        else:
            raise decoder.fail(
                f"{at}.type",
                f"early-format pins exist only for docker-image and http, not {kind!r}",
            )
        rules.append(Rule(PolicyAction.CONVERT, Selector(identifier, MatchType.EXACT), update))
    decoder.warnings.append(
        f"warning: {name}: early pin format ({len(rules)} pin(s)) translated to "
        "CONVERT rules; current BuildKit reads only the rules format"
    )
    return SourcePolicy(tuple(rules), 1, name, tuple(decoder.warnings))


def load_source_policy(path: str | os.PathLike[str]) -> SourcePolicy:
    """Read a source policy file (see :func:`parse_source_policy`)."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_POLICY_BYTES + 1)
    except OSError as exc:
        raise SourcePolicyError(f"source policy {path}: {exc.strerror or exc}") from None
    return parse_source_policy(data, name=str(path))


# --- evaluation ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class SourcePolicyResult:
    """What the policies did to one source.

    ``identifier`` and ``attrs`` are the source after every conversion; ``messages`` says
    what happened, in order: load warnings, each conversion, and the denial.
    """

    action: str  # "ALLOW" or "DENY"
    identifier: str
    attrs: Mapping[str, str]
    mutated: bool
    messages: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.attrs, FrozenMap):
            object.__setattr__(self, "attrs", FrozenMap(self.attrs))

    @property
    def allowed(self) -> bool:
        """Whether the source may be used (possibly converted)."""
        return self.action == "ALLOW"

    def to_json(self) -> dict[str, Any]:
        """The result as ``buildsig source-policy eval`` prints it."""
        return {
            "action": self.action,
            "identifier": self.identifier,
            "attrs": dict(sorted(self.attrs.items())),
            "mutated": self.mutated,
            "messages": list(self.messages),
        }


@functools.lru_cache(maxsize=256)
def _constraint_regex(pattern: str) -> GoRegexp:
    try:
        return compile_go(pattern)
    except GoRegexpError as exc:
        raise SourcePolicyError(f"invalid regex {pattern!r}: {exc}") from None


class _CompiledSelector:
    """A selector with its pattern compiled once (BuildKit's ``selectorCache``)."""

    __slots__ = ("_prefix", "_regex", "_star", "_suffix", "_wildcard", "selector")

    def __init__(self, selector: Selector) -> None:
        self.selector = selector
        self._regex: GoRegexp | None = None
        self._wildcard: GoRegexp | None = None
        # a wildcard can only match text with its literal head and tail: a cheap test
        # that spares most rules of a large policy the regex
        pattern = selector.identifier
        self._star = "*" in pattern
        self._prefix = pattern.split("*", 1)[0]
        self._suffix = pattern.rsplit("*", 1)[-1]

    def _compiled(self) -> GoRegexp:
        try:
            if self.selector.match_type == MatchType.REGEX:
                if self._regex is None:
                    self._regex = compile_go(self.selector.identifier)
                return self._regex
            if self._wildcard is None:
                pattern = wildcard_to_regexp(self.selector.identifier)
                self._wildcard = compile_go(pattern)
            return self._wildcard
        except GoRegexpError as exc:
            what = "regex" if self.selector.match_type == MatchType.REGEX else "wildcard"
            raise SourcePolicyError(
                f"invalid {what} {self.selector.identifier!r} in source policy: {exc}"
            ) from None

    def matches(self, identifier: str, attrs: Mapping[str, str]) -> bool:
        selector = self.selector
        for c in selector.constraints:
            have = attrs.get(c.key, "")
            if c.condition == AttrMatch.EQUAL:
                if have != c.value:
                    return False
            elif c.condition == AttrMatch.NOTEQUAL:
                if have == c.value:
                    return False
            else:
                if not _constraint_regex(c.value).search(have):
                    return False
        if self.selector.identifier == identifier:
            return True
        if self.selector.match_type == MatchType.EXACT:
            return False
        compiled = self._compiled()  # first: an invalid pattern is an error either way
        if self.selector.match_type == MatchType.WILDCARD and not (
            self._star and identifier.startswith(self._prefix) and identifier.endswith(self._suffix)
        ):
            return False
        return compiled.search(identifier)

    def format(self, identifier: str, template: str) -> str:
        """The conversion's destination for ``identifier`` (BuildKit's ``Format``)."""
        if self.selector.match_type == MatchType.EXACT:
            return template
        compiled = self._compiled()
        if self.selector.match_type == MatchType.REGEX:
            return compiled.replace_all(identifier, template)
        expanded = compiled.expand_first(identifier, template)
        return identifier if expanded is None else expanded


class SourcePolicyEngine:
    """BuildKit's source policy engine over one or more policies, in order.

    Patterns are compiled once per engine, so one engine should judge all the sources
    of a build.
    """

    def __init__(self, policies: Iterable[SourcePolicy]) -> None:
        self.policies: tuple[SourcePolicy, ...] = tuple(policies)
        self._selectors: dict[tuple[MatchType, str, tuple[AttrConstraint, ...]], _CompiledSelector]
        self._selectors = {}
        # each policy's rules beside their compiled selectors, shared between equal ones
        self._compiled: tuple[tuple[_CompiledSelector, ...], ...] = tuple(
            tuple(self._selector(rule.selector) for rule in policy.rules)
            for policy in self.policies
        )

    def _selector(self, selector: Selector) -> _CompiledSelector:
        key = (selector.match_type, selector.identifier, selector.constraints)
        compiled = self._selectors.get(key)
        if compiled is None:
            compiled = self._selectors[key] = _CompiledSelector(selector)
        return compiled

    def evaluate(
        self, identifier: str, attrs: Mapping[str, str] | None = None
    ) -> SourcePolicyResult:
        """Judge one source.

        Raises :class:`SourcePolicyError` where BuildKit fails the build for a reason
        other than a denial: a bad pattern, CONVERT without ``updates``, more than
        :data:`MAX_MUTATIONS` conversions.
        """
        current = dict(attrs or {})
        messages = [w for p in self.policies for w in p.warnings]
        mutated = False
        if not self.policies:
            return SourcePolicyResult("ALLOW", identifier, current, False, tuple(messages))
        for passes in range(MAX_MUTATIONS + 2):
            if passes > MAX_MUTATIONS:
                raise SourcePolicyError(
                    f"too many mutations on a single source: {identifier!r} was converted "
                    f"{MAX_MUTATIONS + 1} times (a conversion loop?)"
                )
            changed, denied = False, False
            for number, policy in enumerate(self.policies):
                changed, denied, identifier = self._evaluate_policy(
                    policy, number, identifier, current, messages
                )
                if changed or denied:
                    break
            mutated = mutated or changed
            if denied:
                messages.append(f"source {json.dumps(identifier)} denied by policy")
                return SourcePolicyResult("DENY", identifier, current, mutated, tuple(messages))
            if not changed:
                break
        return SourcePolicyResult("ALLOW", identifier, current, mutated, tuple(messages))

    def _evaluate_policy(
        self,
        policy: SourcePolicy,
        number: int,
        identifier: str,
        attrs: dict[str, str],
        messages: list[str],
    ) -> tuple[bool, bool, str]:
        """Run one policy over the source: (mutated, denied, identifier).

        ``attrs`` is updated in place, as BuildKit updates the op.
        """
        deny = False
        where = policy.name or f"policy {number + 1}"
        for index, (rule, selector) in enumerate(
            zip(policy.rules, self._compiled[number], strict=True)
        ):
            if not selector.matches(identifier, attrs):
                continue
            if rule.action == PolicyAction.ALLOW:
                deny = False
            elif rule.action == PolicyAction.DENY:
                deny = True
            else:
                if rule.updates is None:
                    raise SourcePolicyError(
                        f"{where} rule {index + 1}: missing destination for convert rule"
                    )
                dest = selector.format(
                    identifier, rule.updates.identifier or rule.selector.identifier
                )
                if len(dest) > MAX_IDENTIFIER_CHARS:
                    raise SourcePolicyError(
                        f"{where} rule {index + 1}: converting {identifier[:200]!r} gives an "
                        f"identifier of {len(dest)} characters (limit {MAX_IDENTIFIER_CHARS})"
                    )
                changed = False
                new_identifier = identifier
                if dest and dest != identifier:
                    new_identifier, changed = dest, True
                changed_attrs = []
                for key, value in rule.updates.attrs.items():
                    if attrs.get(key) != value:
                        attrs[key] = value
                        changed_attrs.append(f"{key}={value}")
                        changed = True
                if changed:
                    note = f"{where} rule {index + 1}: CONVERT {identifier}"
                    if new_identifier != identifier:
                        note += f" -> {new_identifier}"
                    if changed_attrs:
                        note += f" (set {', '.join(changed_attrs)})"
                    messages.append(note)
                    return True, False, new_identifier
        return False, deny, identifier


def evaluate_source_policies(
    policies: Iterable[SourcePolicy], identifier: str, attrs: Mapping[str, str] | None = None
) -> SourcePolicyResult:
    """Judge one source against ``policies`` (a one-off :class:`SourcePolicyEngine`)."""
    return SourcePolicyEngine(policies).evaluate(identifier, attrs)

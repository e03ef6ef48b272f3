"""The Go semantics under source policies, checked against Go itself.

BuildKit evaluates source policies with Go's ``regexp`` and decodes them with Go's
``encoding/json``. ``go_oracle/main.go`` (standard library only) is built with Debian's Go
and asked the same questions as :mod:`buildsig._internal.goregexp` and the policy loader:
compile errors, matches, submatch offsets, ``ReplaceAllString``, ``ExpandString``,
``QuoteMeta`` and JSON key folding. Property tests generate the questions.

Debian's Go (1.19) predates ``(?<name>…)`` groups (Go 1.22), which current BuildKit
accepts; the generators leave that syntax out.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from buildsig._internal.goregexp import (
    GoRegexpError,
    compile_go,
    quote_meta,
    wildcard_to_regexp,
)
from buildsig.policy.source import (
    MatchType,
    PolicyAction,
    Rule,
    Selector,
    SourcePolicy,
    SourcePolicyEngine,
    SourcePolicyError,
    Update,
    parse_source_policy,
)
from tests.conftest import ensure_tools

ORACLE_SOURCE = Path(__file__).with_name("go_oracle") / "main.go"
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class GoOracle:
    """A running ``go_oracle``: one JSON request per line, one answer per line."""

    def __init__(self, binary: Path) -> None:
        self.proc = subprocess.Popen(
            [str(binary)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )

    def ask(self, **request: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        answer: dict[str, Any] = json.loads(self.proc.stdout.readline())
        return answer

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture(scope="module")
def go(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GoOracle]:
    ensure_tools({"go": "golang-go"})
    work = tmp_path_factory.mktemp("go-oracle")
    binary = work / "go_oracle"
    env = dict(
        os.environ,
        GOCACHE=str(work / "cache"),
        GOPATH=str(work / "gopath"),
        GO111MODULE="off",
        GOFLAGS="",
        CGO_ENABLED="0",
    )
    subprocess.run(
        ["go", "build", "-o", str(binary), str(ORACLE_SOURCE)],
        check=True,
        env=env,
        timeout=600,
        capture_output=True,
    )
    oracle = GoOracle(binary)
    yield oracle
    oracle.close()


# --- generators ---------------------------------------------------------------------------

TEXT_ALPHABET = "abct/:.-_@1é\n"
texts = st.text(alphabet=TEXT_ALPHABET, max_size=12)
REGEX_TOKENS = [
    "a", "b", "t", "é", "/", ":", ".", "-", r"\.", r"\d", r"\w", r"\s", r"\b", r"\pL",
    "*", "+", "?", "*?", "{2}", "{1,2}", "{,2}", "{2,1}",
    "(", ")", "(?:", "(?P<n>", "(?P<m>", "(?i)", "(?s)", "(?U)", "|", "^", "$", r"\A", r"\z",
    "[a-c]", "[^a]", "[[:alpha:]]", r"\Q.*\E", "\\", r"\1", r"\C", "(?=", "x**",
]  # fmt: skip
regexes = st.lists(st.sampled_from(REGEX_TOKENS), max_size=7).map("".join)
TEMPLATE_TOKENS = [
    "$", "$1", "${1}", "$2", "$0", "$01", "$n", "${n}", "$1x", "${1}x", "$$", "{", "}", "x", "é",
    "-",
]  # fmt: skip
templates = st.lists(st.sampled_from(TEMPLATE_TOKENS), max_size=6).map("".join)
wildcards = st.text(alphabet="ab*.:/\\?[]()$^", max_size=10)


# --- regexp -------------------------------------------------------------------------------


@SETTINGS
@given(pattern=regexes)
def test_patterns_compile_exactly_when_go_compiles_them(go: GoOracle, pattern: str) -> None:
    expected = go.ask(op="compile", pattern=pattern)
    try:
        compile_go(pattern)
    except GoRegexpError:
        assert expected.get("err"), f"Go accepts {pattern!r}"
    else:
        assert not expected.get("err"), f"Go refuses {pattern!r}: {expected.get('err')}"


@SETTINGS
@given(pattern=regexes, text=texts)
def test_matches_and_offsets_equal_gos(go: GoOracle, pattern: str, text: str) -> None:
    try:
        compiled = compile_go(pattern)
    except GoRegexpError:
        return
    assert compiled.search(text) == go.ask(op="match", pattern=pattern, text=text)["bool"]
    expected = go.ask(op="submatch", pattern=pattern, text=text)["indexes"]
    assert compiled.submatch_index(text) == expected


@SETTINGS
@given(pattern=regexes, text=texts, template=templates)
def test_replace_all_equals_gos(go: GoOracle, pattern: str, text: str, template: str) -> None:
    try:
        compiled = compile_go(pattern)
    except GoRegexpError:
        return
    expected = go.ask(op="replace", pattern=pattern, text=text, template=template)["out"]
    assert compiled.replace_all(text, template) == expected


@SETTINGS
@given(pattern=regexes, text=texts, template=templates)
def test_expand_equals_gos(go: GoOracle, pattern: str, text: str, template: str) -> None:
    try:
        compiled = compile_go(pattern)
    except GoRegexpError:
        return
    answer = go.ask(op="expand", pattern=pattern, text=text, template=template)
    got = compiled.expand_first(text, template)
    if answer.get("err") == "no match":
        assert got is None
    else:
        assert got == answer["out"]


@SETTINGS
@given(text=st.text(max_size=20).filter(lambda t: not any(0xD800 <= ord(c) < 0xE000 for c in t)))
def test_quote_meta_equals_gos(go: GoOracle, text: str) -> None:
    assert quote_meta(text) == go.ask(op="quote", text=text)["out"]


# --- wildcards: the same answers as the regex they stand for, and as a plain reading -------


def reference_wildcard(pattern: str, text: str) -> list[str] | None:
    """What a wildcard means, written independently of regexps: literal pieces between
    ``*`` that must cover ``text`` end to end, each ``*`` taking as much as it can
    (leftmost-first, as the ``(.*)`` groups do); ``*`` never spans a newline."""
    pieces = pattern.split("*")

    def fit(i: int, pos: int) -> list[str] | None:
        if not text.startswith(pieces[i], pos):
            return None
        pos += len(pieces[i])
        if i == len(pieces) - 1:
            return [] if pos == len(text) else None
        limit = text.find("\n", pos)
        limit = len(text) if limit < 0 else limit
        for end in range(limit, pos - 1, -1):  # longest first
            rest = fit(i + 1, end)
            if rest is not None:
                return [text[pos:end], *rest]
        return None

    return fit(0, 0)


@SETTINGS
@given(pattern=wildcards, text=st.text(alphabet="ab.:/\\?[]()$^\n", max_size=10))
def test_wildcards_match_as_their_regex_and_as_a_plain_reading(pattern: str, text: str) -> None:
    try:
        as_regex = wildcard_to_regexp(pattern)
    except GoRegexpError:
        assert "**" in pattern
        return
    assert "**" not in pattern
    wildcard_policy = SourcePolicy(
        (Rule(PolicyAction.CONVERT, Selector(pattern), Update("[$1|$2|$3]")),)
    )
    regex_policy = SourcePolicy(
        (Rule(PolicyAction.CONVERT, Selector(as_regex, MatchType.REGEX), Update("[$1|$2|$3]")),)
    )
    captures = reference_wildcard(pattern, text)
    by_wildcard = SourcePolicyEngine([wildcard_policy])._selector(wildcard_policy.rules[0].selector)
    by_regex = SourcePolicyEngine([regex_policy])._selector(regex_policy.rules[0].selector)
    # identifier equality matches first, whatever the pattern says
    plain_match = captures is not None or pattern == text
    assert by_wildcard.matches(text, {}) == plain_match
    assert by_regex.matches(text, {}) == plain_match
    if captures is not None:
        padded = [*captures, "", "", ""][:3]
        expected = f"[{padded[0]}|{padded[1]}|{padded[2]}]"
        assert by_wildcard.format(text, "[$1|$2|$3]") == expected
        assert by_regex.format(text, "[$1|$2|$3]") == expected


@SETTINGS
@given(pattern=wildcards, text=st.text(alphabet="ab.:/\\?[]()$^", max_size=10), template=templates)
def test_wildcard_conversions_equal_go(
    go: GoOracle, pattern: str, text: str, template: str
) -> None:
    try:
        regex = wildcard_to_regexp(pattern)
    except GoRegexpError:
        return
    answer = go.ask(op="expand", pattern=regex, text=text, template=template)
    sel = SourcePolicyEngine([])._selector(Selector(pattern))
    got = sel.format(text, template)
    assert got == (text if answer.get("err") == "no match" else answer["out"])


# --- encoding/json ------------------------------------------------------------------------

KEY_SPELLINGS = {
    "version": ["version", "Version", "VERSION", "ver\u017fion"],
    "rules": ["rules", "Rules", "RULES", "rule\u017f", "rule_s"],
    "action": ["action", "Action", "ACTION", "actions"],
    "selector": ["selector", "Selector", "SELECTOR", "\u017felector", "select"],
    "updates": ["updates", "Updates", "UPDATES"],
    "identifier": ["identifier", "Identifier", "IDENTIFIER", "identifier_"],
    "match_type": ["match_type", "Match_Type", "MATCH_TYPE", "matchType", "matchtype"],
    "constraints": ["constraints", "Constraints", "ConstraintS"],
    "key": ["key", "Key", "\u212aey", "KEY"],
    "value": ["value", "Value"],
    "condition": ["condition", "Condition", "cond"],
    "attrs": ["attrs", "Attrs", "ATTRS"],
}


def spelled(name: str) -> st.SearchStrategy[str]:
    return st.sampled_from(KEY_SPELLINGS[name])


def obj(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[list[tuple[str, Any]]]:
    """A JSON object as key/value pairs (duplicates allowed), keys spelled variously."""
    pair = st.one_of(*(st.tuples(spelled(k), v) for k, v in fields.items()))
    return st.lists(pair, max_size=4)


def render(pairs: Any) -> str:
    if isinstance(pairs, list) and all(isinstance(p, tuple) for p in pairs):
        return "{" + ",".join(f"{json.dumps(k)}:{render(v)}" for k, v in pairs) + "}"
    if isinstance(pairs, _Array):
        return "[" + ",".join(render(v) for v in pairs.items) + "]"
    return json.dumps(pairs)


class _Array:
    def __init__(self, items: list[Any]) -> None:
        self.items = items


def arrays(of: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), st.lists(of, max_size=2).map(_Array))


enum_values = st.one_of(st.none(), st.integers(0, 2))
strings = st.one_of(st.none(), st.sampled_from(["", "x", "a*", "é"]))
constraint = obj({"key": strings, "value": strings, "condition": enum_values})
selector = obj(
    {"identifier": strings, "match_type": enum_values, "constraints": arrays(constraint)}
)
update = obj(
    {
        "identifier": strings,
        "attrs": st.one_of(st.none(), st.dictionaries(st.sampled_from("ab"), st.just("v"))),
    }
)
rule = obj({"action": enum_values, "selector": selector, "updates": st.one_of(st.none(), update)})
policy_doc = obj({"version": st.one_of(st.none(), st.integers(0, 3)), "rules": arrays(rule)})


def go_shape(p: SourcePolicy) -> dict[str, Any]:
    """Our policy in the shape the oracle prints (Go's omitempty on every field)."""
    rules = []
    for r in p.rules:
        out: dict[str, Any] = {}
        if r.action:
            out["action"] = int(r.action)
        sel: dict[str, Any] = {}
        if r.selector.identifier:
            sel["identifier"] = r.selector.identifier
        if r.selector.match_type:
            sel["match_type"] = int(r.selector.match_type)
        if r.selector.constraints:
            sel["constraints"] = [
                {
                    k: v
                    for k, v in (("key", c.key), ("value", c.value), ("condition", c.condition))
                    if v
                }
                for c in r.selector.constraints
            ]
        out["selector"] = sel
        if r.updates is not None:
            upd: dict[str, Any] = {}
            if r.updates.identifier:
                upd["identifier"] = r.updates.identifier
            if r.updates.attrs:
                upd["attrs"] = dict(r.updates.attrs)
            out["updates"] = upd
        rules.append(out)
    shape: dict[str, Any] = {}
    if p.version:
        shape["version"] = p.version
    if rules:
        shape["rules"] = rules
    return shape


def buildkit_crashes_on(go_value: dict[str, Any]) -> bool:
    """A null rule, a rule without a selector, a null constraint: Go decodes them and
    BuildKit's engine then dereferences nil; buildsig refuses them when loading."""
    for r in go_value.get("rules") or []:
        if r is None or r.get("selector") is None:
            return True
        if None in (r["selector"].get("constraints") or []):
            return True
    return False


@SETTINGS
@given(doc=policy_doc)
def test_keys_nulls_and_duplicates_decode_as_in_go(go: GoOracle, doc: Any) -> None:
    text = render(doc)
    answer = go.ask(op="policy", document=text)
    assert "err" not in answer
    value = answer.get("value", {})
    if buildkit_crashes_on(value):
        with pytest.raises(SourcePolicyError, match=r"null|no selector|nil constraint"):
            parse_source_policy(text)
        return
    assert go_shape(parse_source_policy(text)) == value

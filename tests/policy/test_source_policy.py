"""BuildKit source policies: loading as Go does, and the engine's rules, table by table.

Each expectation follows BuildKit's ``sourcepolicy`` package (engine.go, matcher.go,
mutate.go, formatter.go) and reference §6; the Go-semantics pieces (regexp, templates,
JSON key folding) are also checked against real Go in ``test_source_policy_go.py``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from buildsig._internal.goregexp import compile_go
from buildsig.cli import main
from buildsig.errors import PolicyConfigError
from buildsig.policy.source import (
    MAX_MUTATIONS,
    AttrConstraint,
    AttrMatch,
    MatchType,
    PolicyAction,
    Rule,
    Selector,
    SourcePolicy,
    SourcePolicyEngine,
    SourcePolicyError,
    Update,
    load_source_policy,
    parse_source_policy,
)

BUSYBOX = "docker-image://docker.io/library/busybox:latest"
ALPINE = "docker-image://docker.io/library/alpine:latest"
ALPINE_DIGEST = "sha256:4edbd2beb5f78b1014028f4fbb99f3237d9561100b6881aabbf5acce2c4f9454"


def rule(
    action: str | int,
    selector: str,
    *,
    match_type: str | None = None,
    constraints: list[dict[str, Any]] | None = None,
    to: str | None = None,
    attrs: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A rule in BuildKit JSON; ``to`` and ``attrs`` make its ``updates``."""
    sel: dict[str, Any] = {"identifier": selector}
    if match_type is not None:
        sel["match_type"] = match_type
    if constraints is not None:
        sel["constraints"] = constraints
    out: dict[str, Any] = {"action": action, "selector": sel}
    if to is not None or attrs is not None:
        out["updates"] = {"identifier": to or "", "attrs": attrs or {}}
    return out


def policy(*rules: dict[str, Any], name: str = "p.json") -> SourcePolicy:
    return parse_source_policy(json.dumps({"rules": list(rules)}), name=name)


def evaluate(
    policies: SourcePolicy | list[SourcePolicy],
    identifier: str,
    attrs: dict[str, str] | None = None,
) -> Any:
    if isinstance(policies, SourcePolicy):
        policies = [policies]
    return SourcePolicyEngine(policies).evaluate(identifier, attrs)


# --- matching (matcher.go) ----------------------------------------------------------------

MATCH_CASES = [
    # (selector identifier, match type, source identifier, matches)
    (BUSYBOX, "WILDCARD", BUSYBOX, True),
    (BUSYBOX, "EXACT", BUSYBOX, True),
    (BUSYBOX, "REGEX", BUSYBOX, True),  # equality first: the dots need no escaping
    ("docker-image://docker.io/library/busybox:*", "WILDCARD", BUSYBOX, True),
    ("docker-image://docker.io/library/busybox:*", "EXACT", BUSYBOX, False),
    ("docker-image://*", "WILDCARD", "docker-image://x", True),
    ("docker-image://*", "WILDCARD", "docker-image://", True),  # (.*) matches empty
    ("docker-image://*", "WILDCARD", "xdocker-image://x", False),  # anchored at the start
    ("*busybox", "WILDCARD", BUSYBOX, False),  # anchored at the end
    ("*busybox*", "WILDCARD", BUSYBOX, True),
    ("docker-image://docker.io/library/busybox:?", "WILDCARD", BUSYBOX, False),  # ? is literal
    ("docker-image://docker.io/library/busybox:[l]atest", "WILDCARD", BUSYBOX, False),
    ("docker.io", "REGEX", BUSYBOX, True),  # unanchored search
    ("^docker.io", "REGEX", BUSYBOX, False),
    ("busybox:latest$", "REGEX", BUSYBOX, True),
    ("busybox:latest$", "REGEX", BUSYBOX + "\n", False),  # Go's $ is end of text only
    (r"busybox:\d+", "REGEX", "docker-image://docker.io/library/busybox:\u0663", False),
    ("BUSYBOX", "REGEX", BUSYBOX, False),
    ("(?i)BUSYBOX", "REGEX", BUSYBOX, True),
    ("docker-image://docker.io/library/busybox:latest", "EXACT", BUSYBOX + "-x", False),
    ("*", "WILDCARD", "line1\nline2", False),  # . does not match a newline in Go either
]


@pytest.mark.parametrize(("selector", "match_type", "identifier", "expected"), MATCH_CASES)
def test_selector_matching(selector: str, match_type: str, identifier: str, expected: bool) -> None:
    p = policy(rule("DENY", selector, match_type=match_type))
    result = evaluate(p, identifier)
    assert result.action == ("DENY" if expected else "ALLOW")
    assert result.mutated is False


CONSTRAINT_CASES = [
    # (constraint, source attrs, matches)
    ({"key": "a", "value": "1"}, {"a": "1"}, True),  # condition omitted = EQUAL
    ({"key": "a", "value": "1", "condition": "EQUAL"}, {"a": "2"}, False),
    ({"key": "a", "value": "", "condition": "EQUAL"}, {}, True),  # missing attr reads as ""
    ({"key": "a", "value": "1", "condition": "NOTEQUAL"}, {}, True),
    ({"key": "a", "value": "1", "condition": "NOTEQUAL"}, {"a": "1"}, False),
    ({"key": "a", "value": "", "condition": "NOTEQUAL"}, {}, False),
    ({"key": "a", "value": "^1", "condition": "MATCHES"}, {"a": "12"}, True),
    ({"key": "a", "value": "2", "condition": "MATCHES"}, {"a": "12"}, True),  # unanchored
    ({"key": "a", "value": "^2", "condition": "MATCHES"}, {"a": "12"}, False),
    ({"key": "a", "value": "", "condition": "MATCHES"}, {}, True),
    ({"key": "a", "value": "x", "condition": 2}, {"a": "x"}, True),  # enum by number
]


@pytest.mark.parametrize(("constraint", "attrs", "expected"), CONSTRAINT_CASES)
def test_attribute_constraints(
    constraint: dict[str, Any], attrs: dict[str, str], expected: bool
) -> None:
    p = policy(rule("DENY", BUSYBOX, constraints=[constraint]))
    assert evaluate(p, BUSYBOX, attrs).action == ("DENY" if expected else "ALLOW")


def test_constraints_are_checked_before_the_identifier_and_all_must_hold() -> None:
    both = [{"key": "a", "value": "1"}, {"key": "b", "value": "2"}]
    p = policy(rule("DENY", "docker-image://*", constraints=both))
    assert evaluate(p, BUSYBOX, {"a": "1", "b": "2"}).action == "DENY"
    assert evaluate(p, BUSYBOX, {"a": "1"}).action == "ALLOW"
    # an invalid constraint regex is an error even when the identifier would not match
    bad = policy(rule("DENY", "nomatch", constraints=[{"value": "(", "condition": "MATCHES"}]))
    with pytest.raises(SourcePolicyError, match="invalid regex"):
        evaluate(bad, BUSYBOX)


def test_identifier_equality_comes_before_the_pattern() -> None:
    # "a**" is an invalid wildcard and "(" an invalid regex, but a source whose identifier
    # equals the selector matches before either is compiled, as in BuildKit.
    assert evaluate(policy(rule("DENY", "a**")), "a**").action == "DENY"
    assert evaluate(policy(rule("DENY", "(", match_type="REGEX")), "(").action == "DENY"
    with pytest.raises(SourcePolicyError, match=r'invalid wildcard.*"\*\*"'):
        evaluate(policy(rule("DENY", "a**")), "abc")
    with pytest.raises(SourcePolicyError, match="invalid regex"):
        evaluate(policy(rule("DENY", "(", match_type="REGEX")), "abc")


@pytest.mark.parametrize(
    "pattern",
    ["(?=x)", "(?<=x)y", r"(a)\1", "a{1001}", r"\Z", r"\C", r"a\C", "[[:nope:]]"],
)
def test_python_only_regex_syntax_is_refused_as_go_refuses_it(pattern: str) -> None:
    with pytest.raises(SourcePolicyError, match="invalid regex"):
        evaluate(policy(rule("DENY", pattern, match_type="REGEX")), "x")


# --- actions and order (engine.go) --------------------------------------------------------


@pytest.mark.parametrize(
    ("actions", "expected"),
    [
        (["ALLOW"], "ALLOW"),
        (["DENY"], "DENY"),
        (["ALLOW", "DENY"], "DENY"),
        (["DENY", "ALLOW"], "ALLOW"),
        (["ALLOW", "DENY", "ALLOW"], "ALLOW"),
        ([0, 1], "DENY"),  # numbers are accepted for enums
    ],
)
def test_last_matching_allow_or_deny_wins(actions: list[Any], expected: str) -> None:
    p = policy(*(rule(a, BUSYBOX) for a in actions))
    assert evaluate(p, BUSYBOX).action == expected


def test_non_matching_rules_do_not_count() -> None:
    p = policy(rule("DENY", BUSYBOX), rule("ALLOW", ALPINE))
    assert evaluate(p, BUSYBOX).action == "DENY"


def test_no_policies_and_empty_policies_allow() -> None:
    assert SourcePolicyEngine([]).evaluate(BUSYBOX).action == "ALLOW"
    assert evaluate(parse_source_policy("{}"), BUSYBOX).action == "ALLOW"


def test_each_policy_must_allow_and_a_denial_stops_at_the_policy() -> None:
    allow = policy(rule("ALLOW", BUSYBOX))
    deny = policy(rule("DENY", BUSYBOX), name="host.json")
    result = evaluate([allow, deny], BUSYBOX)
    assert result.action == "DENY"
    assert result.messages == (f'source "{BUSYBOX}" denied by policy',)
    # a later policy's ALLOW cannot undo an earlier policy's DENY
    assert evaluate([deny, allow], BUSYBOX).action == "DENY"


def test_deny_all_images_but_alpine_buildkit_example() -> None:
    p = policy(
        rule("DENY", "docker-image://*"),
        rule("ALLOW", "docker-image://docker.io/library/alpine:*"),
    )
    assert evaluate(p, ALPINE).action == "ALLOW"
    assert evaluate(p, "docker-image://docker.io/library/alpine:3.20").action == "ALLOW"
    denied = evaluate(p, BUSYBOX)
    assert (denied.action, denied.identifier, denied.mutated) == ("DENY", BUSYBOX, False)
    assert denied.messages[-1] == f'source "{BUSYBOX}" denied by policy'
    # not an image: neither rule matches
    assert evaluate(p, "https://example.com/a.tgz").action == "ALLOW"


# --- CONVERT (mutate.go, formatter.go) ----------------------------------------------------


def test_busybox_to_alpine_with_a_wildcard_capture_buildkit_example() -> None:
    p = policy(
        rule(
            "CONVERT",
            "docker-image://docker.io/library/busybox:*",
            to="docker-image://docker.io/library/alpine:$1",
        )
    )
    result = evaluate(p, "docker-image://docker.io/library/busybox:1.36")
    assert result.action == "ALLOW"
    assert result.identifier == "docker-image://docker.io/library/alpine:1.36"
    assert result.mutated is True
    assert result.messages == (
        "p.json rule 1: CONVERT docker-image://docker.io/library/busybox:1.36 -> "
        "docker-image://docker.io/library/alpine:1.36",
    )


def test_pin_alpine_latest_to_a_digest_buildkit_example() -> None:
    pinned = f"{ALPINE}@{ALPINE_DIGEST}"
    p = policy(rule("CONVERT", ALPINE, to=pinned))
    result = evaluate(p, ALPINE)
    assert (result.action, result.identifier, result.mutated) == ("ALLOW", pinned, True)
    # the pinned identifier is not converted again
    again = evaluate(p, pinned)
    assert (again.identifier, again.mutated) == (pinned, False)


def test_a_chain_of_conversions_and_an_allow_after_it() -> None:
    p = policy(
        rule("CONVERT", BUSYBOX, to=ALPINE),
        rule("CONVERT", ALPINE, to="docker-image://docker.io/library/debian:buster"),
        rule(
            "CONVERT",
            "docker-image://docker.io/library/debian:buster",
            to="docker-image://docker.io/library/debian:bullseye",
        ),
    )
    result = evaluate(p, BUSYBOX)
    assert result.identifier == "docker-image://docker.io/library/debian:bullseye"
    assert result.mutated is True
    assert len(result.messages) == 3


def test_a_converted_source_is_judged_again_from_the_first_policy() -> None:
    first = policy(rule("DENY", "docker-image://docker.io/library/alpine:*"), name="a.json")
    second = policy(rule("CONVERT", BUSYBOX, to=ALPINE), name="b.json")
    result = evaluate([first, second], BUSYBOX)
    assert (result.action, result.identifier, result.mutated) == ("DENY", ALPINE, True)
    assert result.messages == (
        f"b.json rule 1: CONVERT {BUSYBOX} -> {ALPINE}",
        f'source "{ALPINE}" denied by policy',
    )


def test_deny_before_a_convert_in_the_same_policy_is_forgotten_by_the_restart() -> None:
    # BuildKit's testConvertDeny / testAllowConvertDeny: the deny of the old identifier
    # does not survive the conversion; the new identifier is judged afresh.
    p = policy(
        rule("DENY", BUSYBOX),
        rule("CONVERT", BUSYBOX, to=ALPINE),
        rule("ALLOW", ALPINE),
        rule("DENY", "docker-image://docker.io/library/alpine:*"),
    )
    result = evaluate(p, BUSYBOX)
    assert (result.action, result.identifier) == ("DENY", ALPINE)
    assert result.mutated is True


def test_attribute_updates_merge_and_count_as_mutations() -> None:
    p = policy(rule("CONVERT", "https://example.com/foo", attrs={"http.checksum": "sha256:1234"}))
    result = evaluate(p, "https://example.com/foo", {"http.filename": "foo"})
    assert result.identifier == "https://example.com/foo"
    assert dict(result.attrs) == {"http.filename": "foo", "http.checksum": "sha256:1234"}
    assert result.mutated is True
    assert result.messages == (
        "p.json rule 1: CONVERT https://example.com/foo (set http.checksum=sha256:1234)",
    )
    # already set to that value: nothing changes
    same = evaluate(p, "https://example.com/foo", {"http.checksum": "sha256:1234"})
    assert same.mutated is False


def test_a_convert_that_changes_nothing_lets_later_rules_decide() -> None:
    p = policy(rule("CONVERT", BUSYBOX, to=BUSYBOX), rule("DENY", BUSYBOX))
    result = evaluate(p, BUSYBOX)
    assert (result.action, result.mutated) == ("DENY", False)


def test_an_empty_update_identifier_keeps_the_selector_identifier() -> None:
    # EXACT: the destination is the selector's identifier itself
    p = policy(rule("CONVERT", BUSYBOX, match_type="EXACT", attrs={"k": "v"}))
    assert evaluate(p, BUSYBOX).identifier == BUSYBOX
    # WILDCARD: the selector's identifier is the template, so "*" stays literal
    p = policy(rule("CONVERT", "docker-image://*", attrs={"k": "v"}))
    assert evaluate(p, BUSYBOX).identifier == "docker-image://*"


def test_exact_converts_to_the_destination_verbatim() -> None:
    # Before moby/buildkit#6861 the selector came back, making EXACT converts no-ops.
    dst = f"docker-image://docker.io/library/busybox@{ALPINE_DIGEST}"
    p = policy(rule("CONVERT", BUSYBOX, match_type="EXACT", to=dst + "$1"))
    assert evaluate(p, BUSYBOX).identifier == dst + "$1"  # no template expansion


@pytest.mark.parametrize(
    ("selector", "template", "source", "expected"),
    [
        (
            "docker-image://docker.io/library/golang:*",
            "${1}",
            "docker-image://docker.io/library/golang:1.19",
            "1.19",
        ),
        ("a*b*c", "$2-$1", "aXbYc", "Y-X"),
        ("a*b*c", "${2}${1}", "aXbYc", "YX"),
        ("a*b*c", "$1x", "aXbYc", ""),  # group "1x" does not exist
        ("a*b*c", "${1}x", "aXbYc", "Xx"),
        ("a*b*c", "$3|$$|$", "aXbYc", "|$|$"),  # missing group: empty; $$ and lone $ literal
        ("a*", "$01", "aX", ""),  # leading zero: a name, not group 1
        ("a*b", "$1", "abab", "ba"),  # greedy: the first * takes the longest match
        ("x*", "[$0]", "xyz", "[xyz]"),
    ],
)
def test_wildcard_templates(selector: str, template: str, source: str, expected: str) -> None:
    p = policy(rule("CONVERT", selector, to=template))
    result = evaluate(p, source)
    assert result.identifier == (expected or source)
    assert result.mutated is bool(expected and expected != source)


@pytest.mark.parametrize(
    ("pattern", "template", "source", "expected"),
    [
        (
            r"docker\-image://docker\.io/library/golang:(.*)",
            "docker-image://fakereg.io/library/golang:${1}",
            "docker-image://docker.io/library/golang:1.19",
            "docker-image://fakereg.io/library/golang:1.19",
        ),
        # unanchored: the unmatched prefix and suffix are kept
        (
            "docker.io",
            "mirror.example",
            BUSYBOX,
            "docker-image://mirror.example/library/busybox:latest",
        ),
        # replace-all
        ("o", "0", "docker-image://foo", "d0cker-image://f00"),
        # named groups, in both syntaxes
        (
            r"library/(?P<name>[a-z]+):",
            "library/${name}-mirror:",
            BUSYBOX,
            "docker-image://docker.io/library/busybox-mirror:latest",
        ),
        # offsets are UTF-8 bytes in Go; captures of multi-byte text stay whole
        ("é(.)", "[$1]", "s://xéyéz", "s://x[y][z]"),
    ],
)
def test_regex_conversions(pattern: str, template: str, source: str, expected: str) -> None:
    p = policy(rule("CONVERT", pattern, match_type="REGEX", to=template))
    assert evaluate(p, source).identifier == expected


def test_replace_all_skips_an_empty_match_right_after_a_match() -> None:
    # Go, unlike re.sub: "x*" on "abxd" gives -a-b-d-, not -a-b--d-
    assert compile_go("x*").replace_all("abxd", "-") == "-a-b-d-"
    assert compile_go("t+|$").replace_all("att", "-") == "a-"


def test_a_growing_conversion_is_refused_in_bounded_time() -> None:
    # "x*" matches the empty string everywhere, so each pass doubles the identifier
    p = policy(rule("CONVERT", "x*", match_type="REGEX", to="$0-"))
    with pytest.raises(SourcePolicyError, match=r"too many mutations|characters"):
        evaluate(p, "s://abc")
    p = policy(rule("CONVERT", "(.+)", match_type="REGEX", to="$1$1$1$1"))
    with pytest.raises(SourcePolicyError, match=r"identifier of \d+ characters \(limit"):
        evaluate(p, "s://abc")


def test_a_convert_without_updates_is_an_error() -> None:
    p = policy(rule("CONVERT", BUSYBOX))
    with pytest.raises(SourcePolicyError, match="rule 1: missing destination for convert rule"):
        evaluate(p, BUSYBOX)
    # only when it matches
    assert evaluate(p, ALPINE).action == "ALLOW"


def test_conversion_loops_stop_after_twenty_mutations() -> None:
    p = policy(rule("CONVERT", BUSYBOX, to=ALPINE), rule("CONVERT", ALPINE, to=BUSYBOX))
    with pytest.raises(SourcePolicyError, match="too many mutations on a single source"):
        evaluate(p, BUSYBOX)


@pytest.mark.parametrize("conversions", [MAX_MUTATIONS, MAX_MUTATIONS + 1])
def test_the_mutation_limit_is_exactly_buildkits(conversions: int) -> None:
    # v0 -> v1 -> ... -> vN: BuildKit's loop allows passes 0..20, so 20 conversions
    # (and a 21st pass that changes nothing) succeed and 21 do not.
    rules = [rule("CONVERT", f"s://v{i}", to=f"s://v{i + 1}") for i in range(conversions)]
    p = policy(*rules)
    if conversions <= MAX_MUTATIONS:
        result = evaluate(p, "s://v0")
        assert result.identifier == f"s://v{conversions}"
        assert len(result.messages) == conversions
    else:
        with pytest.raises(SourcePolicyError, match="too many mutations"):
            evaluate(p, "s://v0")


def test_errors_are_policy_configuration_errors() -> None:
    assert issubclass(SourcePolicyError, PolicyConfigError)


# --- loading (Go encoding/json) -----------------------------------------------------------


def test_enum_names_and_numbers_and_the_model() -> None:
    doc = {
        "version": 1,
        "rules": [
            {
                "action": 2,
                "selector": {
                    "identifier": "a",
                    "match_type": "REGEX",
                    "constraints": [{"key": "k", "value": "v", "condition": "NOTEQUAL"}],
                },
                "updates": {"identifier": "b", "attrs": {"x": "y"}},
            }
        ],
    }
    p = parse_source_policy(json.dumps(doc))
    assert p.rules == (
        Rule(
            PolicyAction.CONVERT,
            Selector("a", MatchType.REGEX, (AttrConstraint("k", "v", AttrMatch.NOTEQUAL),)),
            Update("b", {"x": "y"}),
        ),
    )
    assert p.version == 1
    assert p.warnings == ()
    # written back as BuildKit writes it: names, not numbers
    assert json.loads(p.dumps()) == {**doc, "rules": [{**doc["rules"][0], "action": "CONVERT"}]}


def test_dumps_omits_empty_fields_like_go() -> None:
    p = SourcePolicy((Rule(PolicyAction.ALLOW, Selector("x")),))
    assert json.loads(p.dumps()) == {
        "version": 1,
        "rules": [{"action": "ALLOW", "selector": {"identifier": "x"}}],
    }
    assert p.dumps().endswith("}\n")
    assert parse_source_policy(p.dumps()) == p


def test_keys_are_matched_case_insensitively_like_go() -> None:
    doc = '{"RULES": [{"Action": "DENY", "SELECTOR": {"Identifier": "x", "Match_Type": "EXACT"}}]}'
    p = parse_source_policy(doc)
    assert p.rules[0].action is PolicyAction.DENY
    assert p.rules[0].selector == Selector("x", MatchType.EXACT)
    # the Kelvin sign and the long s fold onto k and s in Go
    p = parse_source_policy('{"rule\u017f": [{"action": "DENY", "selector": {"identifier": "x"}}]}')
    assert p.rules[0].action is PolicyAction.DENY


def test_camel_case_match_type_is_ignored_with_a_warning() -> None:
    raw = {"rules": [{"action": "DENY", "selector": {"identifier": "x*", "matchType": "EXACT"}}]}
    p = parse_source_policy(json.dumps(raw), name="pol.json")
    assert p.rules[0].selector.match_type is MatchType.WILDCARD  # as BuildKit reads it
    assert p.warnings == (
        "warning: pol.json: rules[0].selector: key 'matchType' is ignored by BuildKit, which "
        'reads only "match_type"; this selector is therefore WILDCARD',
    )
    # so "x*" matches as a wildcard, and the warning is part of the result
    result = SourcePolicyEngine([p]).evaluate("xyz")
    assert result.action == "DENY"
    assert result.messages[0] == p.warnings[0]


def test_unknown_keys_are_ignored_with_a_warning() -> None:
    p = parse_source_policy('{"rules": [], "comment": "pins"}', name="p")
    assert p.warnings == ("warning: p: policy: unknown key 'comment' is ignored by BuildKit",)


def test_null_means_the_zero_value_and_later_duplicates_win() -> None:
    p = parse_source_policy(
        '{"version": null, "rules": [{"action": null, "action": "DENY",'
        ' "selector": {"identifier": "x", "match_type": null, "constraints": null},'
        ' "updates": null}]}'
    )
    assert p.version == 0
    assert p.rules == (Rule(PolicyAction.DENY, Selector("x")),)


def test_repeated_keys_decode_into_what_is_there_as_in_go() -> None:
    # Go decodes a repeated object into the struct or map already there, and a repeated
    # array's elements into the earlier elements; a null enum is 0, a null string is kept.
    p = parse_source_policy(
        '{"rules": [{"action": "DENY", "selector": {"identifier": "x"}}],'
        ' "rules": [{"selector": {"match_type": "EXACT"},'
        ' "updates": {"attrs": {"a": "1"}}, "updates": {"attrs": {"b": "2"}}}]}'
    )
    assert p.rules == (
        Rule(PolicyAction.DENY, Selector("x", MatchType.EXACT), Update(attrs={"a": "1", "b": "2"})),
    )
    p = parse_source_policy(
        '{"rules": [{"action": 1, "action": null, "selector": {"identifier": "x",'
        ' "identifier": null}}]}'
    )
    assert p.rules == (Rule(PolicyAction.ALLOW, Selector("x")),)
    p = parse_source_policy(
        '{"rules": [{"selector": {"identifier": "x"}, "updates": {"identifier": "y"}},'
        ' {"selector": {}}], "rules": [{"updates": null}]}'
    )
    assert p.rules == (Rule(PolicyAction.ALLOW, Selector("x")),)  # shortened, merged


def test_a_null_document_is_an_empty_policy() -> None:
    p = parse_source_policy("null", name="n.json")
    assert p.rules == ()
    assert p.warnings == ("warning: n.json: the document is null, an empty policy",)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("", "not valid JSON"),
        ("[]", "policy: expected a JSON object, got an array"),
        ('{"rules": {}}', "rules: expected a JSON array"),
        ('{"rules": [null]}', r"rules\[0\]: a rule is null"),
        ('{"rules": [{"action": "DENY"}]}', "rule has no selector"),
        (
            '{"rules": [{"action": "deny", "selector": {}}]}',
            "unrecognized enum PolicyAction value 'deny'",
        ),
        ('{"rules": [{"action": 3, "selector": {}}]}', "invalid PolicyAction value: 3"),
        ('{"rules": [{"action": -1, "selector": {}}]}', "invalid PolicyAction value: -1"),
        ('{"rules": [{"action": 1.0, "selector": {}}]}', "expected an integer"),
        ('{"rules": [{"action": "1", "selector": {}}]}', "unrecognized enum"),
        ('{"rules": [{"action": true, "selector": {}}]}', "expected an integer, got a boolean"),
        ('{"rules": [{"selector": {"match_type": "GLOB"}}]}', "unrecognized enum MatchType"),
        (
            '{"rules": [{"selector": {"identifier": 5}}]}',
            r"selector\.identifier: expected a string",
        ),
        ('{"rules": [{"selector": {"constraints": [null]}}]}', "invalid nil constraint"),
        ('{"rules": [{"selector": {"constraints": [{"condition": "LIKE"}]}}]}', "AttrMatch"),
        (
            '{"rules": [{"selector": {}, "updates": {"attrs": {"a": 1}}}]}',
            r"attrs\.a: expected a string",
        ),
        ('{"version": 9223372036854775808}', "out of range"),
        ('{"version": NaN}', "not valid JSON"),
        ('{"version": 1e999}', "out of range"),
        ("[" * 100_000, "not valid JSON"),
    ],
)
def test_bad_documents_are_clear_errors(document: str, message: str) -> None:
    with pytest.raises(SourcePolicyError, match=message):
        parse_source_policy(document)


def test_bad_bytes_and_files(tmp_path: Path) -> None:
    with pytest.raises(SourcePolicyError, match="not UTF-8"):
        parse_source_policy(b'{"rules": "\xff"}')
    with pytest.raises(SourcePolicyError, match="No such file"):
        load_source_policy(tmp_path / "missing.json")
    big = tmp_path / "big.json"
    big.write_bytes(b" " * (16 * 1024 * 1024 + 1))
    with pytest.raises(SourcePolicyError, match="larger than"):
        load_source_policy(big)


def test_the_early_pin_format_becomes_convert_rules() -> None:
    early = {
        "sources": [
            {
                "type": "docker-image",
                "ref": "docker.io/library/alpine:latest",
                "pin": ALPINE_DIGEST,
            },
            {
                "type": "http",
                "ref": "https://raw.githubusercontent.com/moby/buildkit/v0.10.1/README.md",
                "pin": "sha256:6e4b94fc270e708e1068be28bd3551dc6917a4fc5a61293d51bb36e6b75c4b53",
            },
        ]
    }
    p = parse_source_policy(json.dumps(early), name="Dockerfile.pol")
    assert len(p.rules) == 2
    assert p.warnings[0].startswith("warning: Dockerfile.pol: early pin format (2 pin(s))")
    image = evaluate(p, ALPINE)
    assert (image.identifier, image.mutated) == (f"{ALPINE}@{ALPINE_DIGEST}", True)
    readme = "https://raw.githubusercontent.com/moby/buildkit/v0.10.1/README.md"
    http = evaluate(p, readme)
    assert http.identifier == readme
    assert dict(http.attrs) == {"http.checksum": early["sources"][1]["pin"]}
    assert evaluate(p, BUSYBOX).mutated is False
    with pytest.raises(SourcePolicyError, match="only for docker-image and http, not 'git'"):
        parse_source_policy('{"sources": [{"type": "git", "ref": "x", "pin": "y"}]}')
    with pytest.raises(SourcePolicyError, match="needs both ref and pin"):
        parse_source_policy('{"sources": [{"type": "http", "ref": "x"}]}')


# --- the command --------------------------------------------------------------------------


def write(tmp_path: Path, name: str, *rules: dict[str, Any]) -> str:
    path = tmp_path / name
    path.write_text(json.dumps({"rules": list(rules)}))
    return str(path)


def run_eval(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = main(["source-policy", "eval", *args])
    out = capsys.readouterr().out
    return code, json.loads(out) if out else {}


def test_cli_reproduces_the_buildkit_examples(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    only_alpine = write(
        tmp_path,
        "only-alpine.json",
        rule("DENY", "docker-image://*"),
        rule("ALLOW", "docker-image://docker.io/library/alpine:*"),
    )
    code, out = run_eval(capsys, "--policy", only_alpine, "alpine")
    assert code == 0
    assert out == {
        "action": "ALLOW",
        "identifier": ALPINE,
        "attrs": {},
        "mutated": False,
        "messages": [],
    }
    code, out = run_eval(capsys, "--policy", only_alpine, "docker-image://busybox")
    assert code == 1
    assert out == {
        "action": "DENY",
        "identifier": BUSYBOX,
        "attrs": {},
        "mutated": False,
        "messages": [f'source "{BUSYBOX}" denied by policy'],
    }

    mirror = write(
        tmp_path,
        "mirror.json",
        rule(
            "CONVERT",
            "docker-image://docker.io/library/busybox:*",
            to="docker-image://docker.io/library/alpine:$1",
        ),
        rule("CONVERT", ALPINE, to=f"{ALPINE}@{ALPINE_DIGEST}"),
    )
    code, out = run_eval(capsys, "--policy", mirror, "--policy", only_alpine, "busybox")
    assert code == 0
    assert out["identifier"] == f"{ALPINE}@{ALPINE_DIGEST}"  # busybox -> alpine -> pinned
    assert out["mutated"] is True
    assert len(out["messages"]) == 2


def test_cli_attributes_and_normalisation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pol = write(
        tmp_path,
        "p.json",
        rule("DENY", "*", constraints=[{"key": "image.recordtype", "value": "internal"}]),
    )
    code, out = run_eval(capsys, "--policy", pol, "--attr", "image.recordtype=internal", "alpine:3")
    assert code == 1
    assert out["identifier"] == "docker-image://docker.io/library/alpine:3"
    assert out["attrs"] == {"image.recordtype": "internal"}
    code, out = run_eval(capsys, "--policy", pol, "--no-normalize", "alpine:3")
    assert code == 0
    assert out["identifier"] == "alpine:3"
    # other schemes are matched as written
    code, out = run_eval(capsys, "--policy", pol, "oci-layout://store@sha256:abc")
    assert out["identifier"] == "oci-layout://store@sha256:abc"


def test_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"rules": [{"action": "CONVERT", "selector": {"identifier": "*"}}]}')
    assert main(["source-policy", "eval", "--policy", str(bad), "alpine"]) == 1
    err = capsys.readouterr().err
    assert "missing destination for convert rule" in err
    assert main(["source-policy", "eval", "--policy", str(tmp_path / "none"), "alpine"]) == 1
    assert "No such file" in capsys.readouterr().err

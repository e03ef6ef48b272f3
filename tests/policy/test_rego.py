"""The Rego engine layer: Buildx-style policies on the embedded regorus engine.

Everything runs the real engine (no mocks). The two policies below are the issue's seed
examples (a registry gatekeeper and a production lockdown), evaluated against inputs of the
shapes Buildx builds (reference §1): absent keys stay absent, never ``false``.
"""

from __future__ import annotations

import functools
import os
import pickle
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from buildsig.errors import InvalidInputError, NotFoundError, PolicyConfigError
from buildsig.policy import (
    UNDEFINED,
    WHOLE_INPUT,
    Builtin,
    Limits,
    PolicyBundle,
    RegoError,
    RegorusEngine,
    evaluate_isolated,
    run_tests_isolated,
    scan_input_fields,
)

#: The blog's two policies, as published (examples/policies/).
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "policies"
GATEKEEPER = (EXAMPLES / "registry-gatekeeper.rego").read_text()

LOCKDOWN = (EXAMPLES / "production-lockdown.rego").read_text()

ENV = {"filename": "Dockerfile", "depth": 0}


def image(ref: str, host: str, repo: str, *, digest: str | None = None, **extra: Any) -> Any:
    """An image input as Buildx builds it: ``isCanonical``/``tag`` only when they apply."""
    img: dict[str, Any] = {"ref": ref, "host": host, "repo": repo, "fullRepo": f"{host}/{repo}"}
    if digest is not None:
        img["isCanonical"] = True
        img["checksum"] = digest
    img.update(extra)
    return {"env": ENV, "image": img}


def http(url: str, **extra: Any) -> Any:
    schema, rest = url.split("://", 1)
    host, _, path = rest.partition("/")
    return {
        "env": ENV,
        "http": {"url": url, "schema": schema, "host": host, "path": "/" + path, **extra},
    }


def git(remote: str, **extra: Any) -> Any:
    return {"env": ENV, "git": {"schema": "https", "host": "github.com", "remote": remote, **extra}}


LOCAL = {"env": ENV, "local": {"name": "context"}}
APPROVED = '["registry.company.com", "docker.io", "ghcr.io"]'
DIGEST = "sha256:" + "ab" * 32


def engine(src: str, name: str = "Dockerfile.rego", **kw: Any) -> RegorusEngine:
    return RegorusEngine({name: src}, **kw)


def decide(eng: RegorusEngine, inp: Any) -> Any:
    return eng.evaluate(inp).value


# --- the seed policies ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("inp", "allow", "deny"),
    [
        (LOCAL, True, []),
        (
            image("docker.io/library/node:20", "docker.io", "node", tag="20"),
            False,
            [
                "Image docker.io/library/node:20 must use a digest reference (e.g., "
                "@sha256:...). Tags alone are not allowed."
            ],
        ),
        (
            image(
                f"registry.company.com/base/node:20@{DIGEST}",
                "registry.company.com",
                "registry.company.com/base/node",
                digest=DIGEST,
            ),
            True,
            [],
        ),
        (
            image(f"quay.io/a/b@{DIGEST}", "quay.io", "quay.io/a/b", digest=DIGEST),
            False,
            [f"Registry quay.io is not in the approved list. Allowed: {APPROVED}"],
        ),
        (http("https://example.com/x.tar.gz"), True, []),
        (
            http("http://example.com/x.tar.gz"),
            False,
            ["All HTTP downloads must use HTTPS. Plain HTTP is not allowed."],
        ),
        (git("https://github.com/a/b.git"), True, []),
        ({"env": ENV}, False, []),
    ],
)
def test_gatekeeper_decisions(inp: Any, allow: bool, deny: list[str]) -> None:
    assert decide(engine(GATEKEEPER), inp) == {"allow": allow, "deny_msg": deny}


def trusted_tag(tag: Any, keyfile: str) -> Any:
    """A stand-in verifier: Buildx's builtin errors (→ undefined) on a bad signature."""
    assert keyfile == "trusted-maintainers.asc"
    return True if tag.get("tagger", {}).get("email") == "maintainer@company.com" else UNDEFINED


LOCKDOWN_BUILTINS = [Builtin("verify_git_signature", 2, trusted_tag)]
SIGNED_TAG = {
    "object": "c" * 40,
    "type": "commit",
    "tag": "v1.0",
    "tagger": {"name": "M", "email": "maintainer@company.com"},
    "pgpSignature": {"version": 4, "keyID": "0123456789abcdef"},
}


@pytest.mark.parametrize(
    ("inp", "allow", "deny"),
    [
        (LOCAL, True, []),
        (
            image(
                f"registry.company.com/base/golang:1.23@{DIGEST}",
                "registry.company.com",
                "registry.company.com/base/golang",
                digest=DIGEST,
                hasProvenance=True,
            ),
            True,
            [],
        ),
        (
            image(
                f"registry.company.com/base/golang:1.23@{DIGEST}",
                "registry.company.com",
                "registry.company.com/base/golang",
                digest=DIGEST,
            ),
            False,
            [
                f"Internal image registry.company.com/base/golang:1.23@{DIGEST} requires "
                "provenance attestations. Rebuild with --provenance=true"
            ],
        ),
        (
            image(
                "docker.io/library/golang:1.23",
                "docker.io",
                "golang",
                checksum="sha256:def456abc789...",
            ),
            True,
            [],
        ),
        (image("docker.io/library/alpine:3", "docker.io", "alpine", checksum=DIGEST), False, []),
        (http("https://releases.internal.com/config-v2.1.tar.gz"), True, []),
        (
            http("https://evil.example/x"),
            False,
            [
                "Download from evil.example is not allowed. Approved hosts: "
                '["releases.internal.com", "artifacts.company.com"]'
            ],
        ),
        (git("https://github.com/our-org/svc.git"), True, []),
        (git("https://github.com/other/lib.git", tagName="v1.0", tag=SIGNED_TAG), True, []),
        (
            git(
                "https://github.com/other/lib.git",
                tagName="v1.0",
                tag={**SIGNED_TAG, "tagger": {"name": "X", "email": "x@evil.example"}},
            ),
            False,
            [
                "External Git repo https://github.com/other/lib.git requires a signed tag "
                "from a trusted maintainer"
            ],
        ),
        (
            git("https://github.com/other/lib.git", branch="main"),
            False,
            [
                "External Git repo https://github.com/other/lib.git requires a signed tag "
                "from a trusted maintainer"
            ],
        ),
    ],
)
def test_lockdown_decisions(inp: Any, allow: bool, deny: list[str]) -> None:
    eng = engine(LOCKDOWN, builtins=LOCKDOWN_BUILTINS)
    assert decide(eng, inp) == {"allow": allow, "deny_msg": deny}


def test_builtin_receives_the_input_subobject() -> None:
    seen: list[tuple[Any, str]] = []

    def record(obj: Any, keyfile: str) -> bool:
        seen.append((obj, keyfile))
        return True

    eng = engine(LOCKDOWN, builtins=[Builtin("verify_git_signature", 2, record)])
    inp = git("https://github.com/other/lib.git", tagName="v1.0", tag=SIGNED_TAG)
    assert decide(eng, inp)["allow"] is True
    assert seen == [(SIGNED_TAG, "trusted-maintainers.asc")]


# --- builtins ------------------------------------------------------------------------------


def test_builtins_called_from_rego() -> None:
    src = """\
package docker

cfg := load_json("registries.json")

allow if input.image.host in cfg.registries

decision := {"allow": allow, "n": count(cfg.registries), "stamp": stamp, "dotted": x.y(2)}
"""
    files = {"registries.json": {"registries": ["ghcr.io", "docker.io"]}}
    eng = engine(
        src,
        builtins=[
            Builtin("load_json", 1, lambda p: files[p]),
            Builtin("stamp", 0, lambda: "t0"),
            Builtin("x.y", 1, lambda n: n * 21),
        ],
    )
    got = decide(eng, image("ghcr.io/a/b:1", "ghcr.io", "ghcr.io/a/b"))
    assert got == {"allow": True, "n": 2, "stamp": "t0", "dotted": 42}
    # no default for allow: the decision object itself is undefined
    assert decide(eng, image("quay.io/a/b:1", "quay.io", "quay.io/a/b")) is UNDEFINED


def test_builtin_undefined_fails_the_rule_and_negates() -> None:
    src = """\
package docker

default pos := false

pos if check(input.v)

default neg := false

neg if not check(input.v)

decision := {"pos": pos, "neg": neg}
"""
    eng = engine(src, builtins=[Builtin("check", 1, lambda v: True if v == 1 else UNDEFINED)])
    assert decide(eng, {"v": 1}) == {"pos": True, "neg": False}
    assert decide(eng, {"v": 2}) == {"pos": False, "neg": True}


class NoValue(Exception):  # a builtin's "undefined", as buildsig's builtins use
    pass


def test_builtin_undefined_by_exception_and_per_evaluation_overrides() -> None:
    def never(v: Any) -> Any:
        raise NoValue

    src = "package docker\n\ndefault allow := false\n\nallow if check(input.v)\n"
    eng = engine(src, builtins=[Builtin("check", 1, never, undefined_on=(NoValue,))])
    assert eng.evaluate({"v": 1}, "data.docker.allow").value is False
    # a builtin bound to one input replaces the registered function for one evaluation
    got = eng.evaluate({"v": 1}, "data.docker.allow", overrides={"check": lambda v: v == 1})
    assert got.value is True
    assert eng.evaluate({"v": 1}, "data.docker.allow").value is False
    with pytest.raises(PolicyConfigError, match="not registered builtins: nope"):
        eng.evaluate({}, overrides={"nope": len})


POLICY_CALLS = """\
package docker

default allow := false

allow if verify_git_signature(input.git.commit, "keys.asc")

negated if not verify_git_signature(input.git.commit, "keys.asc")

decision := {"allow": allow}
"""


def test_builtin_raising_buildsig_error_surfaces_unchanged() -> None:
    def missing(obj: Any, keyfile: str) -> bool:
        raise NotFoundError(f"key file {keyfile} not found", source=keyfile)

    eng = engine(POLICY_CALLS, builtins=[Builtin("verify_git_signature", 2, missing)])
    inp = git("https://github.com/a/b.git", commit={"tree": "t"})
    with pytest.raises(NotFoundError, match=r"keys\.asc not found"):
        eng.evaluate(inp)
    # under `not` too: an error never turns into "not verified"
    with pytest.raises(NotFoundError):
        eng.evaluate(inp, "data.docker.negated")


def test_builtin_raising_other_error_is_policy_config_error() -> None:
    def broken(obj: Any, keyfile: str) -> bool:
        raise ValueError("bad keyring")

    eng = engine(POLICY_CALLS, builtins=[Builtin("verify_git_signature", 2, broken)])
    with pytest.raises(
        PolicyConfigError, match=r"verify_git_signature failed: ValueError: bad keyring"
    ) as ei:
        eng.evaluate(git("https://github.com/a/b.git", commit={}))
    assert isinstance(ei.value.__cause__, ValueError)
    # the engine stays usable afterwards
    ok = engine(POLICY_CALLS, builtins=[Builtin("verify_git_signature", 2, lambda o, k: True)])
    assert decide(ok, git("https://github.com/a/b.git", commit={})) == {"allow": True}


def test_builtin_returning_non_json_is_an_error() -> None:
    eng = engine(POLICY_CALLS, builtins=[Builtin("verify_git_signature", 2, lambda o, k: object())])
    with pytest.raises(RegoError, match="not JSON-compatible"):
        eng.evaluate(git("https://github.com/a/b.git", commit={}))


def test_builtin_definitions_are_checked() -> None:
    with pytest.raises(PolicyConfigError, match="invalid builtin name"):
        Builtin("bad name", 1, len)
    with pytest.raises(PolicyConfigError, match="invalid builtin name"):
        Builtin("print", 1, len)
    with pytest.raises(PolicyConfigError, match="registered twice"):
        engine("package docker\n", builtins=[Builtin("f", 1, len), Builtin("f", 1, len)])


def test_unknown_function_is_an_error_not_undefined() -> None:
    eng = engine('package docker\n\nallow if verify_git_signature(input.git.tag, "k")\n')
    with pytest.raises(RegoError, match=r"Dockerfile.rego:3:\d+: could not find function") as ei:
        eng.evaluate(git("https://github.com/a/b.git", tag={}), "data.docker.allow")
    assert ei.value.line == 3


# --- print, errors, undefined --------------------------------------------------------------


def test_print_output_is_captured_per_evaluation() -> None:
    src = """\
package docker

allow if {
    print("checking", input.image.ref, input.image.labels)
    input.image.host == "docker.io"
}

decision := {"allow": allow}
"""
    eng = engine(src)
    res = eng.evaluate(image("docker.io/library/a:1", "docker.io", "a", labels={"k": "v"}))
    assert res.value == {"allow": True}
    assert res.prints == ('Dockerfile.rego:4: checking docker.io/library/a:1 {"k": "v"}',)
    # as in OPA, undefined operands print as <undefined> and the rule body goes on to fail
    res = eng.evaluate(LOCAL)
    assert res.value is UNDEFINED
    assert res.prints == ("Dockerfile.rego:4: checking <undefined> <undefined>",)


def test_syntax_error_has_location() -> None:
    src = "package docker\n\nallow if {\n    input.image.host ==\n}\n"
    with pytest.raises(RegoError) as ei:
        engine(src, name="policies/app.Dockerfile.rego")
    err = ei.value
    assert isinstance(err, PolicyConfigError)
    assert (err.source, err.line, err.column) == ("policies/app.Dockerfile.rego", 5, 1)
    assert str(err).startswith("invalid policy: policies/app.Dockerfile.rego:5:1: ")
    assert "input.image.host ==" in (err.detail or "") or "}" in (err.detail or "")
    assert pickle.loads(pickle.dumps(err)).line == 5


def test_rego_v1_syntax_and_import_rego_v1() -> None:
    with pytest.raises(RegoError, match="`if` keyword is required"):
        engine("package docker\n\nallow { input.local }\n")
    eng = engine("package docker\n\nimport rego.v1\n\nallow if input.local\n")
    assert eng.evaluate(LOCAL, "data.docker.allow").value is True


def test_conflict_and_runtime_errors() -> None:
    with pytest.raises(RegoError, match="conflict"):
        engine("package docker\n\nx := 1\n\nx := 2\n").evaluate({}, "data.docker.x")
    with pytest.raises(RegoError, match=r"Dockerfile.rego:3:\d+: divide by zero"):
        engine("package docker\n\nx := input.n / 0\n").evaluate({"n": 1}, "data.docker.x")


def test_undefined_is_not_false() -> None:
    src = 'package docker\n\nyes if input.a\n\nno := false\n\ndecision := {"allow": yes}\n'
    eng = engine(src)
    assert eng.evaluate({}, "data.docker.no").value is False
    assert eng.evaluate({}, "data.docker.no").defined
    res = eng.evaluate({}, "data.docker.yes")
    assert res.value is UNDEFINED and not res.defined
    assert eng.evaluate({}).value is UNDEFINED  # decision depends on an undefined rule
    assert eng.evaluate({"a": True}).value == {"allow": True}
    assert eng.evaluate({}, "data.docker.nosuch").value is UNDEFINED
    assert pickle.loads(pickle.dumps(UNDEFINED)) is UNDEFINED


def test_no_input_differs_from_empty_input() -> None:
    eng = engine("package docker\n\nhas_input if input\n\nnone if not input\n")
    assert eng.evaluate(None, "data.docker.none").value is True
    assert eng.evaluate({}, "data.docker.has_input").value is True


def test_data_documents_and_packages() -> None:
    src = "package docker\n\nallow if input.image.host in data.config.registries\n"
    eng = RegorusEngine(
        {"Dockerfile.rego": src, "lib/util.rego": "package lib.util\n\nn := 1\n"},
        data={"config": {"registries": ["ghcr.io"]}},
    )
    assert eng.evaluate(image("ghcr.io/a:1", "ghcr.io", "ghcr.io/a"), "data.docker.allow").value
    assert eng.packages() == ["data.docker", "data.lib.util"]
    assert eng.evaluate(None, "data.lib.util.n").value == 1


def test_input_must_be_json() -> None:
    eng = engine("package docker\n\nallow if input.local\n")
    with pytest.raises(InvalidInputError):
        eng.evaluate({"x": object()})
    with pytest.raises(InvalidInputError):
        eng.evaluate({"x": float("nan")})


# --- input-field scan ----------------------------------------------------------------------


def test_scan_seed_policies() -> None:
    assert scan_input_fields({"a.rego": GATEKEEPER}) == {
        "local",
        "image",
        "image.host",
        "image.isCanonical",
        "image.ref",
        "http",
        "http.schema",
        "git",
    }
    assert scan_input_fields({"a.rego": LOCKDOWN}) == {
        "local",
        "image",
        "image.host",
        "image.isCanonical",
        "image.hasProvenance",
        "image.repo",
        "image.checksum",
        "image.ref",
        "http",
        "http.schema",
        "http.host",
        "git",
        "git.remote",
        "git.tagName",
        "git.tag",
    }


SIGNATURE_POLICY = """\
package docker

default allow := false

img := input.image

allow if {
    input.image.signatures[_].signer.issuer == "https://token.actions.githubusercontent.com"
    input["git"]["commit"]
    some label in img.labels
    label == "x"
}

allow if {
    some sig in input.image.provenance.materials[0].image.signatures
    sig.kind == "docker-github-builder"
    every m in input.image.provenance.materials {
        m.image.host == "docker.io"
    }
}

allow if {
    g := input.git
    g.tag.tagger.email == "a@b"
    h := g
    h.isAnnotatedTag
}

allow if signed_by(input.image, "moby/buildkit")

signed_by(image, repo) if {
    some s in image.signatures
    s.signer.sourceRepositoryURI == concat("", ["https://github.com/", repo])
}

allow if {
    k := "http"
    input[k].checksum
}

# input.env.target in a comment, and "input.env.args" in a string, are not references
note := "input.env.args"

decision := {"allow": allow}
"""


def test_scan_follows_aliases_and_is_conservative() -> None:
    assert scan_input_fields({"a.rego": SIGNATURE_POLICY}) == {
        "image",  # img := input.image, a reference in its own right
        "image.signatures",  # [_] and the fields below it trim to the key
        "git.commit",  # input["git"]["commit"]
        "image.labels",  # some label in img.labels, through the alias
        "image.provenance.materials[0].image.signatures",  # a literal material index
        "image.provenance.materials",  # every m in …: m's fields are not followed
        "git",  # g := input.git
        "git.tag",  # g.tag.tagger.email
        "git.isAnnotatedTag",  # through h := g
        WHOLE_INPUT,  # input[k] with a computed key
    }


def test_scan_whole_input_and_tests_excluded() -> None:
    mods = {
        "Dockerfile.rego": 'package docker\n\nallow if input.image.host == "x"\n',
        "Dockerfile_test.rego": (
            "package docker\n\nhelper if input.git.ref\n\n"
            'test_a if allow with input as {"git": {}}\n'
        ),
    }
    # keys of the `with input as` object are data, not references
    assert scan_input_fields(mods) == {"image.host"}
    assert scan_input_fields(mods, include_tests=True) == {"image.host", "git.ref"}
    assert scan_input_fields(
        {"a.rego": "package docker\n\nallow if f(input)\n\nf(x) if x.git.ref\n"}
    ) == {"git.ref"}
    assert scan_input_fields({"a.rego": "package docker\n\nallow if count(input) > 1\n"}) == {
        WHOLE_INPUT
    }


# --- policy test ---------------------------------------------------------------------------

GATEKEEPER_TESTS = """\
package docker

test_local_allowed if {
    decision.allow with input as {"local": {"name": "context"}}
}

test_tag_only_denied if {
    not decision.allow with input as {"image": {
        "host": "docker.io",
        "ref": "docker.io/library/node:20",
    }}
}

test_wrong_expectation if {
    decision.allow with input as {"http": {"schema": "http", "host": "example.com"}}
}

test_constant := true

helper(x) := x
"""


def test_policy_tests_report_pass_fail_and_decisions() -> None:
    eng = RegorusEngine({"Dockerfile.rego": GATEKEEPER, "Dockerfile_test.rego": GATEKEEPER_TESTS})
    results = {r.name: r for r in eng.run_tests()}
    assert list(results) == [
        "test_constant",
        "test_local_allowed",
        "test_tag_only_denied",
        "test_wrong_expectation",
    ]
    assert [r.passed for r in results.values()] == [True, True, True, False]
    local = results["test_local_allowed"]
    assert local.package == "data.docker"
    assert local.input == {"local": {"name": "context"}}
    assert local.decision == {"allow": True, "deny_msg": []}
    failed = results["test_wrong_expectation"]
    assert failed.input == {"http": {"schema": "http", "host": "example.com"}}
    assert failed.decision == {
        "allow": False,
        "deny_msg": ["All HTTP downloads must use HTTPS. Plain HTTP is not allowed."],
    }
    # policy references the test input lacks (the test module's own are not counted)
    assert failed.missing_input == (
        "input.git",
        "input.image",
        "input.image.host",
        "input.image.isCanonical",
        "input.image.ref",
        "input.local",
    )
    assert results["test_constant"].input is None
    assert results["test_constant"].decision is UNDEFINED
    assert [r.name for r in eng.run_tests("denied")] == ["test_tag_only_denied"]


def test_policy_tests_errors() -> None:
    with pytest.raises(PolicyConfigError, match="no policy tests found"):
        engine(GATEKEEPER).run_tests()
    eng = RegorusEngine({"Dockerfile.rego": GATEKEEPER, "Dockerfile_test.rego": GATEKEEPER_TESTS})
    with pytest.raises(PolicyConfigError, match="no tests found"):
        eng.run_tests("nothing-matches")
    two = """\
package docker

test_two if {
    decision.allow with input as {"local": {}}
    decision.allow with input as {"git": {}}
}

test_broken if {
    n := 1
    n / 0
}
"""
    res = {r.name: r for r in RegorusEngine({"a.rego": GATEKEEPER, "a_test.rego": two}).run_tests()}
    assert res["test_two"].passed
    assert res["test_two"].error == "multiple input overrides"
    assert not res["test_broken"].passed
    assert res["test_broken"].error is not None
    assert "divide by zero" in res["test_broken"].error


def test_policy_tests_in_their_own_package_with_a_builtin() -> None:
    tests = """\
package docker_test

import data.docker

test_signed_external_tag if {
    docker.decision.allow with input as {"git": {
        "remote": "https://github.com/other/lib.git",
        "tagName": "v1.0",
        "tag": {"tagger": {"email": "maintainer@company.com"}},
    }}
}

test_unsigned_external_tag if {
    not docker.decision.allow with input as {"git": {
        "remote": "https://github.com/other/lib.git",
        "tagName": "v1.0",
        "tag": {"tagger": {"email": "x@evil.example"}},
    }}
}
"""
    eng = RegorusEngine(
        {"Dockerfile.rego": LOCKDOWN, "tests/Dockerfile_test.rego": tests},
        builtins=LOCKDOWN_BUILTINS,
    )
    results = eng.run_tests()
    assert [(r.name, r.package, r.passed) for r in results] == [
        ("test_signed_external_tag", "data.docker_test", True),
        ("test_unsigned_external_tag", "data.docker_test", True),
    ]
    assert results[1].decision["deny_msg"] == [
        "External Git repo https://github.com/other/lib.git requires a signed tag from a "
        "trusted maintainer"
    ]


# --- limits --------------------------------------------------------------------------------


def test_module_size_caps() -> None:
    small = Limits(max_module_bytes=200, max_total_bytes=300, max_modules=2, max_lines=20)
    with pytest.raises(PolicyConfigError, match=r"a\.rego is \d+ bytes, over the 200 byte"):
        RegorusEngine({"a.rego": "package docker\n" + "# pad\n" * 40}, limits=small)
    with pytest.raises(PolicyConfigError, match="over the 20 line limit"):
        RegorusEngine({"a.rego": "package docker\n" + "\n" * 25}, limits=small)
    with pytest.raises(PolicyConfigError, match="total 348 bytes, over the 300 byte limit"):
        RegorusEngine(
            {"a.rego": "package a\n" + "#" * 164, "b.rego": "package b\n" + "#" * 164}, limits=small
        )
    with pytest.raises(PolicyConfigError, match="too many policy modules: 3 > 2"):
        RegorusEngine({f"{c}.rego": f"package {c}\n" for c in "abc"}, limits=small)
    with pytest.raises(PolicyConfigError, match=r"a\.rego:2: line is 51 characters"):
        RegorusEngine({"a.rego": "package a\n" + "#" * 51}, limits=Limits(max_line_chars=50))
    with pytest.raises(PolicyConfigError, match="no policy modules"):
        RegorusEngine({})
    assert RegorusEngine({"a.rego": "package docker\n\nallow := true\n"}, limits=small)


# --- isolation -----------------------------------------------------------------------------

RUNAWAY = """\
package docker

spin := count([1 |
    some i in numbers.range(1, 200000)
    some j in numbers.range(1, 200000)
    i == j + 1000000000
])

decision := {"allow": spin > 0}
"""


def test_isolated_evaluation_returns_results_and_prints() -> None:
    src = GATEKEEPER.replace(
        "allow if input.local",
        'allow if {\n    print("local", input.local.name)\n    input.local\n}',
    )
    bundle = PolicyBundle({"Dockerfile.rego": src}, builtins=[Builtin("up", 1, str.upper)])
    res = evaluate_isolated(bundle, LOCAL, timeout=60)
    assert res.value == {"allow": True, "deny_msg": []}
    line = src.splitlines().index('    print("local", input.local.name)') + 1
    assert res.prints == (f"Dockerfile.rego:{line}: local context",)
    assert evaluate_isolated(bundle, LOCAL, "data.docker.up", timeout=60).value is UNDEFINED
    q = "data.docker.approved_registries[0]"
    assert evaluate_isolated(bundle, None, q, timeout=60).value == "registry.company.com"


def test_isolated_errors_come_back_intact() -> None:
    with pytest.raises(RegoError) as ei:
        evaluate_isolated(PolicyBundle({"p.rego": "package docker\n\nallow if {\n"}), timeout=60)
    assert (ei.value.source, ei.value.line) == ("p.rego", 4)
    # a buildsig error raised by a builtin in the child keeps its class and attributes
    raising = functools.partial(_raise_not_found, "keys.asc")
    bundle = PolicyBundle(
        {"Dockerfile.rego": POLICY_CALLS}, builtins=[Builtin("verify_git_signature", 2, raising)]
    )
    with pytest.raises(NotFoundError) as nf:
        evaluate_isolated(bundle, git("https://github.com/a/b.git", commit={}), timeout=60)
    assert nf.value.source == "keys.asc"


def _raise_not_found(source: str, *args: Any) -> Any:
    raise NotFoundError("key file not found", source=source)


def test_isolated_policy_tests() -> None:
    bundle = PolicyBundle({"Dockerfile.rego": GATEKEEPER, "Dockerfile_test.rego": GATEKEEPER_TESTS})
    results = run_tests_isolated(bundle, "local", timeout=60)
    assert [(r.name, r.passed) for r in results] == [("test_local_allowed", True)]
    assert results[0].decision == {"allow": True, "deny_msg": []}


def test_runaway_policy_is_killed_at_the_timeout() -> None:
    bundle = PolicyBundle({"Dockerfile.rego": RUNAWAY}, limits=Limits(timeout=3))
    start = time.monotonic()
    with pytest.raises(RegoError, match=r"exceeded the 3 s time limit"):
        evaluate_isolated(bundle, LOCAL)
    assert time.monotonic() - start < 20


def test_child_crash_is_reported() -> None:
    src = 'package docker\n\ndecision := {"allow": crash(7)}\n'
    bundle = PolicyBundle({"Dockerfile.rego": src}, builtins=[Builtin("crash", 1, os._exit)])
    with pytest.raises(RegoError, match=r"policy engine process died \(exit code 7\)"):
        evaluate_isolated(bundle, LOCAL, timeout=60)
    src = 'package docker\n\ndecision := {"allow": abort}\n'
    bundle = PolicyBundle({"Dockerfile.rego": src}, builtins=[Builtin("abort", 0, os.abort)])
    with pytest.raises(RegoError, match=rf"died \(signal {int(signal.SIGABRT)}\b"):
        evaluate_isolated(bundle, LOCAL, timeout=60)


# --- Buildx compatibility ------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        'http.send({"url": "https://x", "method": "GET"})',
        'net.cidr_contains("10.0.0.0/8", "10.1.1.1")',
        'crypto.sha256("a")',
        "opa.runtime()",
        'trace("x")',
        'io.jwt.decode("a")',
    ],
)
def test_builtins_buildx_does_not_provide_are_refused(call: str) -> None:
    with pytest.raises(RegoError, match=r"a\.rego:4:\d+: function .* is not available") as ei:
        RegorusEngine({"a.rego": f"package docker\n\nallow if {{\n    {call}\n}}\n"})
    assert ei.value.line == 4


def test_allowed_standard_builtins_work() -> None:
    src = """\
package docker

decision := {
    "allow": regex.match(`^v[0-9]+$`, "v1"),
    "semver": semver.compare("1.2.3", "1.10.0"),
    "glob": glob.match("docker.io/*/node", ["/"], "docker.io/library/node"),
    "units": units.parse_bytes("4KiB"),
    "json": json.marshal({"a": [1]}),
    "b64": base64.encode("x"),
    "upper": upper(trim_space(" a ")),
    "t": time.now_ns() > 0,
}
"""
    assert engine(src).evaluate({}).value == {
        "allow": True,
        "semver": -1,
        "glob": True,
        "units": 4096,
        "json": '{"a":[1]}',
        "b64": "eA==",
        "upper": "A",
        "t": True,
    }


def test_test_input_override_may_use_package_rules_and_imports() -> None:
    tests = """\
package docker_test

import data.docker

fixture := {"image": {"host": "docker.io", "ref": "docker.io/library/node:20"}}

test_fixture_denied if {
    not docker.decision.allow with input as fixture
}

test_imported if {
    docker.decision.allow with input as {"image": {
        "host": docker.approved_registries[0],
        "isCanonical": true,
        "ref": "r",
    }}
}
"""
    eng = RegorusEngine({"Dockerfile.rego": GATEKEEPER, "Dockerfile_test.rego": tests})
    res = {r.name: r for r in eng.run_tests()}
    assert res["test_fixture_denied"].passed
    assert res["test_fixture_denied"].input == {
        "image": {"host": "docker.io", "ref": "docker.io/library/node:20"}
    }
    assert res["test_fixture_denied"].decision["deny_msg"] == [
        "Image docker.io/library/node:20 must use a digest reference (e.g., @sha256:...). "
        "Tags alone are not allowed."
    ]
    assert res["test_imported"].input["image"]["host"] == "registry.company.com"
    assert res["test_imported"].decision == {"allow": True, "deny_msg": []}


HELPERS_POLICY = """\
package docker

builder_signature(sig, repo) if {
    sig.kind == "docker-github-builder"
    sig.signer.sourceRepositoryURI == concat("", ["https://github.com/", repo])
    count(sig.timestamps) > 0
}

signed_by_builder(image, repo) if {
    image.hasProvenance
    some sig in image.signatures
    builder_signature(sig, repo)
}

guarded := {"docker.io/moby/buildkit", "docker.io/docker/dockerfile"}

deny_msg contains msg if {
    input.image.fullRepo in guarded
    input.image.tag != ""
    not signed_by_builder(input.image, "moby/buildkit")
    msg := sprintf("image %s is not signed", [input.image.ref])
}

decision := {"allow": count(deny_msg) == 0, "deny_msg": deny_msg}
"""


def test_scan_through_helper_functions() -> None:
    # the helpers' parameters carry input.image, so their field uses are found
    assert scan_input_fields({"Dockerfile.rego": HELPERS_POLICY}) == {
        "image.fullRepo",
        "image.tag",
        "image.ref",
        "image.hasProvenance",
        "image.signatures",
    }
    eng = engine(HELPERS_POLICY)
    unsigned = image("docker.io/moby/buildkit:v0.27.0", "docker.io", "moby/buildkit", tag="v0.27.0")
    assert decide(eng, unsigned) == {
        "allow": False,
        "deny_msg": ["image docker.io/moby/buildkit:v0.27.0 is not signed"],
    }
    sig = {
        "kind": "docker-github-builder",
        "signer": {"sourceRepositoryURI": "https://github.com/moby/buildkit"},
        "timestamps": [{"type": "tlog"}],
    }
    signed = {
        "env": ENV,
        "image": {**unsigned["image"], "hasProvenance": True, "signatures": [sig]},
    }
    assert decide(eng, signed) == {"allow": True, "deny_msg": []}


def test_isolation_works_from_a_script_without_main_guard(tmp_path: Any) -> None:
    # multiprocessing's spawn would re-import (here: re-run) the caller's __main__
    script = tmp_path / "script.py"
    script.write_text(
        "from buildsig.policy import PolicyBundle, evaluate_isolated\n"
        "src = 'package docker\\n\\ndecision := {\"allow\": input.x}\\n'\n"
        "print(evaluate_isolated(PolicyBundle({'D.rego': src}), {'x': True}, timeout=60).value)\n"
    )
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=120
    )
    assert (out.returncode, out.stdout) == (0, "{'allow': True}\n"), out.stderr


def test_memory_limit_of_the_child_and_its_stderr_in_the_report() -> None:
    src = 'package docker\n\ndecision := {"allow": count(numbers.range(1, 400000000)) > 0}\n'
    limits = Limits(max_memory_bytes=1 << 30, timeout=60)
    with pytest.raises(
        RegoError,
        match=r"died \(signal 6; .* memory limit\): memory allocation of \d+ bytes failed",
    ) as ei:
        evaluate_isolated(PolicyBundle({"Dockerfile.rego": src}, limits=limits), LOCAL)
    assert ei.value.detail


def test_scan_object_get_reads_the_named_field() -> None:
    src = """\
package docker

img := input.image

ref := object.get(input, ["git", "ref"], "")

labels := object.get(input.image, "labels", {})

materials := object.get(img, ["provenance", "materials"], [])

computed := object.get(input.http, input.env.target, "")
"""
    assert scan_input_fields({"a.rego": src}) == {
        "image",  # img := input.image
        "git.ref",
        "image.labels",
        "image.provenance.materials",
        "http",  # a computed key: the parent
        "env.target",
    }

"""Evaluating Buildx policies end to end: resolve what the policy reads, run it on the
real engine with the real builtins, resolve runtime needs, validate the decision, pin.

Images come from an OCI layout, downloads from a real local HTTP server, signatures from
gpg; nothing is mocked.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from buildsig.errors import PolicyConfigError
from buildsig.policy.evaluate import Decision, PolicyEvaluator, validate_decision
from buildsig.policy.fs import PolicyFS
from buildsig.resolver import ResolveOptions, Resolver
from buildsig.source import Source, source_to_input
from tests.git.gpgkit import GpgHome
from tests.http import LocalServer, body
from tests.oci.imagekit import ImageKit

CONTENT = b"tool binary\n" * 300

LABEL_POLICY = """package docker

import rego.v1

default allow := false

allow if input.image.labels["org.opencontainers.image.vendor"] == "Example Corp"

deny_msg contains msg if {
	not allow
	msg := sprintf("%s: vendor label missing", [input.image.ref])
}

decision := {"allow": allow, "deny_msg": deny_msg}
"""

PGP_POLICY = """package docker

import rego.v1

default allow := false

allow if verify_http_pgp_signature(input.http, "tool.asc", "maintainer.asc")

decision := {"allow": allow}
"""

PIN_POLICY = """package docker

import rego.v1

allow if pin_image(input.image, "sha256:%s")

decision := {"allow": allow}
"""


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    kit = ImageKit()
    kit.tag("app:1", kit.index([kit.image("linux", "amd64")]))
    kit.tag("plain:1", kit.index([kit.image("linux", "amd64", labels={"other": "x"})]))
    return kit.write_layout(tmp_path / "layout")


def image_source(ref: str) -> tuple[Source, Any]:
    source = Source.parse(ref)
    return source, source_to_input(source, platform="linux/amd64")


def test_only_what_the_policy_reads_is_resolved(layout: Path) -> None:
    with Resolver(ResolveOptions(oci_layouts=(layout,))) as resolver:
        evaluator = PolicyEvaluator({"Dockerfile.rego": LABEL_POLICY}, resolver=resolver)
        ok = evaluator.evaluate(*image_source("app:1"))
        assert ok.decision == Decision(allow=True)
        assert ok.resolved == ("image.labels",)
        assert "image.signatures" in ok.input.unknowns  # never fetched: the policy does not ask
        denied = evaluator.evaluate(*image_source("plain:1"))
        assert denied.decision.allow is False
        assert denied.decision.deny_msg == ("docker.io/library/plain:1: vendor label missing",)


def test_without_a_resolver_unknowns_stay_unknown(layout: Path) -> None:
    evaluator = PolicyEvaluator({"Dockerfile.rego": LABEL_POLICY})
    result = evaluator.evaluate(*image_source("app:1"))
    assert result.decision.allow is False
    assert result.resolved == ()


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer() as s:
        s.routes["/tool"] = body(CONTENT)
        yield s


def test_runtime_unknowns_are_resolved_and_the_policy_runs_again(
    server: LocalServer, tmp_path: Path
) -> None:
    home = GpgHome(tmp_path / "gpg")
    key = home.gen_key("Maintainer <m@example.com>", "ed25519")
    policy_dir = tmp_path / "policy"
    policy_dir.mkdir()
    (policy_dir / "tool.asc").write_bytes(home.sign(key, CONTENT, digest="SHA512"))
    (policy_dir / "maintainer.asc").write_bytes(home.export(key))
    source = Source(server.url("/tool"))
    with Resolver(ResolveOptions(timeout=10.0)) as resolver:
        evaluator = PolicyEvaluator(
            {"Dockerfile.rego": PGP_POLICY}, fs=PolicyFS(policy_dir), resolver=resolver
        )
        result = evaluator.evaluate(source, source_to_input(source))
    assert result.decision.allow is True
    assert result.resolved == ("http.checksum",)
    http = result.input.http
    assert http is not None and http.checksum == "sha256:" + hashlib.sha256(CONTENT).hexdigest()
    assert http.checksum_response is not None
    assert http.checksum_response.digest.startswith("sha512:")
    assert len(server.hits("/tool")) == 1  # one download answered both digests

    server.routes["/tool"] = body(CONTENT + b"!")
    with Resolver(ResolveOptions(timeout=10.0)) as resolver:
        evaluator = PolicyEvaluator(
            {"Dockerfile.rego": PGP_POLICY}, fs=PolicyFS(policy_dir), resolver=resolver
        )
        assert evaluator.evaluate(source, source_to_input(source)).decision.allow is False


def test_a_pin_converts_the_source(layout: Path) -> None:
    pin = hashlib.sha256(b"another build").hexdigest()
    with Resolver(ResolveOptions(oci_layouts=(layout,))) as resolver:
        evaluator = PolicyEvaluator({"Dockerfile.rego": PIN_POLICY % pin}, resolver=resolver)
        result = evaluator.evaluate(*image_source("app:1"))
    assert result.decision.allow is True
    assert result.converted == f"docker-image://docker.io/library/app:1@sha256:{pin}"


def test_two_pins_are_an_error(layout: Path) -> None:
    policy = (
        PIN_POLICY % ("a" * 64) + '\nallow if pin_image(input.image, "sha256:' + "b" * 64 + '")\n'
    )
    evaluator = PolicyEvaluator({"Dockerfile.rego": policy})
    with pytest.raises(PolicyConfigError, match="multiple image pins"):
        evaluator.evaluate(*image_source("app:1"))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"allow": True}, Decision(allow=True)),
        ({}, Decision(allow=False)),
        ({"allow": False, "deny_msg": ["a", 3, "b"]}, Decision(allow=False, deny_msg=("a", "b"))),
        ({"allow": False, "deny_msg": "not a list"}, Decision(allow=False)),
        (
            {"allow": True, "caps": {"exec.proxy": True}},
            Decision(allow=True, caps={"exec.proxy": True}),
        ),
    ],
)
def test_decisions(value: Any, expected: Decision) -> None:
    assert validate_decision(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "policy returned zero result"),
        ([], "must be an object"),
        ({"allow": "yes"}, "invalid allow property type"),
        ({"allow": True, "caps": {"net": True}}, 'unknown policy cap "net"'),
        ({"allow": True, "caps": {"exec.proxy": 1}}, "invalid caps.exec.proxy property type"),
        ({"allow": True, "caps": []}, "invalid caps property type"),
    ],
)
def test_bad_decisions(value: Any, message: str) -> None:
    with pytest.raises(PolicyConfigError, match=message):
        validate_decision(value)


def test_an_undefined_decision_is_zero_result(layout: Path) -> None:
    evaluator = PolicyEvaluator({"Dockerfile.rego": "package docker\n\nimport rego.v1\n\nx := 1\n"})
    with pytest.raises(PolicyConfigError, match="zero result"):
        evaluator.evaluate(*image_source("app:1"))


def test_a_failing_builtin_leaves_no_engine_for_another_thread_to_free() -> None:
    """A builtin's exception must not keep the native engine alive in a reference cycle:
    the cycle collector could then run on a resolver thread, where pyo3 refuses to drop
    the engine ("unsendable"). Regression test: the engine is freed where it was used."""
    import gc
    import sys
    import threading

    from buildsig.errors import BuildsigError

    seen: list[str] = []
    previous = sys.unraisablehook
    sys.unraisablehook = lambda u: seen.append(str(u.exc_value))
    try:
        evaluator = PolicyEvaluator(
            {
                "p.rego": 'package docker\n\nimport rego.v1\n\nx := load_json("missing.json")\n'
                '\ndecision := {"allow": x == 1}\n'
            }
        )
        source, inp = image_source("app:1")
        for _ in range(10):
            with pytest.raises(BuildsigError):
                evaluator.evaluate(source, inp)
        collector = threading.Thread(target=gc.collect)
        collector.start()
        collector.join()
    finally:
        sys.unraisablehook = previous
    assert seen == []


def test_existence_checks_fetch_nothing() -> None:
    """The blog's gatekeeper reads only identifier fields (``input.image`` alone is an
    existence check): judging an image on an unreachable registry needs no network."""
    gatekeeper = (
        Path(__file__).resolve().parents[2] / "examples" / "policies" / "registry-gatekeeper.rego"
    ).read_text()
    with Resolver(ResolveOptions(timeout=2.0)) as resolver:
        evaluator = PolicyEvaluator({"Dockerfile.rego": gatekeeper}, resolver=resolver)
        result = evaluator.evaluate(*image_source("docker-image://127.0.0.1:9/x/y:1"))
    assert result.resolved == ()
    assert result.decision.allow is False
    assert result.decision.deny_msg == (
        "Image 127.0.0.1:9/x/y:1 must use a digest reference (e.g., @sha256:...). Tags alone "
        "are not allowed.",
    )

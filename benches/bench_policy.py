"""Policy evaluation: what a Rego decision costs buildsig per source.

A policy is compiled once and then evaluated per source with Buildx's builtins bound to
that source's input (what `buildsig check` does for every source of a Dockerfile). The
policy is a registry gatekeeper in the style of Docker's blog examples, with the helper
modules buildsig always loads.
"""

from __future__ import annotations

import sys
import time

from _harness import Benchmark, Row, ops_per_second

POLICY = """package docker

import rego.v1

approved := {"docker.io", "ghcr.io"}

default allow := false

allow if {
	input.image.host in approved
	input.image.isCanonical
}

allow if input.local

deny_msg contains msg if {
	input.image
	not input.image.host in approved
	msg := sprintf("registry %s is not approved", [input.image.host])
}

deny_msg contains msg if {
	input.image
	not input.image.isCanonical
	msg := sprintf("%s must be pinned by digest", [input.image.ref])
}

decision := {"allow": allow, "deny_msg": deny_msg}
"""


def decisions(quick: bool) -> list[Row]:
    from buildsig.policy.evaluate import PolicyEvaluator
    from buildsig.source import Source, source_to_input

    t0 = time.perf_counter()
    evaluator = PolicyEvaluator({"Dockerfile.rego": POLICY})
    build_ms = (time.perf_counter() - t0) * 1000
    sources = [
        Source.parse(f"docker-image://ghcr.io/org/app{i}:1@sha256:" + f"{i:02x}" * 32)
        for i in range(20)
    ] + [Source.parse(f"docker-image://quay.io/org/app{i}:1") for i in range(20)]
    items = [(s, source_to_input(s, platform="linux/amd64")) for s in sources]
    results = [evaluator.evaluate(s, i) for s, i in items]
    assert sum(r.decision.allow for r in results) == 20
    state = {"n": 0}

    def one() -> None:
        s, i = items[state["n"] % len(items)]
        state["n"] += 1
        evaluator.evaluate(s, i)

    rate = ops_per_second(one, min_time=0.2 if quick else 0.5)
    return [
        Row(
            "policy compile (gatekeeper + buildsig's helper modules)",
            build_ms,
            "ms",
            higher_is_better=False,
        ),
        Row(
            "policy decisions, builtins bound per source, inputs resolved already",
            rate,
            "decisions/s",
            note="no peer: OPA is not installed on this machine",
        ),
    ]


BENCHMARKS = [Benchmark("policy-eval", decisions)]

if __name__ == "__main__":  # pragma: no cover
    sys.exit("run through benches/run.py")

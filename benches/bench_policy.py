"""Policy evaluation: what a Rego decision costs buildsig per source.

A policy is compiled once and then evaluated per source with Buildx's builtins bound to
that source's input (what `buildsig check` does for every source of a Dockerfile). The
policy is the blog's registry gatekeeper, with the helper modules buildsig always loads;
a second benchmark times `buildsig check` on the bundled example end to end.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from _harness import Benchmark, Row, ops_per_second

#: The registry gatekeeper policy of Docker's blog post on Buildx policies.
POLICY = (
    Path(__file__).resolve().parent.parent / "examples" / "policies" / "registry-gatekeeper.rego"
).read_text()


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
            "policy compile (the blog's gatekeeper + buildsig's helper modules)",
            build_ms,
            "ms",
            higher_is_better=False,
        ),
        Row(
            "the blog's gatekeeper: decisions with builtins bound per source, prepared inputs",
            rate,
            "decisions/s",
            note="no peer: OPA is not installed on this machine",
        ),
    ]


def check_example(quick: bool) -> list[Row]:
    """``buildsig check`` on examples/ (7 sources): cold (new resolver and policy) and warm
    (the same resolver and policy again: cached image content, compiled policy)."""
    import os
    import runpy
    import shutil
    import socket
    import subprocess

    root = Path(__file__).resolve().parent.parent
    examples = root / "examples"
    if shutil.which("git") is None or shutil.which("ssh-keygen") is None:
        return [Row("check the example", 0, "ms", note="skipped: git or ssh-keygen missing")]
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", 9418)) == 0:
            return [Row("check the example", 0, "ms", note="skipped: port 9418 is in use")]
    cwd = os.getcwd()
    os.chdir(root)
    try:
        runpy.run_path(str(examples / "make_example.py"), run_name="not_main")["main"]()
    finally:
        os.chdir(cwd)
    build = examples / "build"
    daemon = subprocess.Popen(
        [
            "git",
            "daemon",
            f"--base-path={build / 'git'}",
            "--export-all",
            "--reuseaddr",
            "--listen=127.0.0.1",
            "--port=9418",
            str(build / "git"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            probe_cmd = ["git", "ls-remote", "git://127.0.0.1:9418/acme/tools.git", "v1.0"]
            if subprocess.run(probe_cmd, capture_output=True, timeout=10).returncode == 0:
                break
            time.sleep(0.05)
        from buildsig.policy.check import check_dockerfile
        from buildsig.policy.evaluate import PolicyEvaluator
        from buildsig.policy.files import load_policy
        from buildsig.policy.fs import PolicyFS
        from buildsig.resolver import ResolveOptions, Resolver

        options = ResolveOptions(
            oci_layouts=(str(build / "oci-layout"),),
            trust_root=str(build / "trusted_root.json"),
        )
        fs = PolicyFS(examples)

        def run(resolver: Resolver, evaluator: PolicyEvaluator) -> float:
            t0 = time.perf_counter()
            report = check_dockerfile(
                str(examples / "Dockerfile"),
                [("Dockerfile.rego", evaluator)],
                platform="linux/amd64",
            )
            assert len(report.verdicts) == 7
            assert not report.allowed
            return (time.perf_counter() - t0) * 1000

        colds, warms = [], []
        for _ in range(2 if quick else 5):
            t0 = time.perf_counter()
            with Resolver(options) as resolver:
                evaluator = PolicyEvaluator(
                    load_policy(fs, "Dockerfile.rego"), fs=fs, resolver=resolver
                )
                evaluated = run(resolver, evaluator)
                colds.append((time.perf_counter() - t0) * 1000)  # policy compile included
                del evaluated
                warms.append(run(resolver, evaluator))
    finally:
        daemon.terminate()
        daemon.wait()
    return [
        Row(
            "check the example, cold (new resolver and policy)",
            min(colds),
            "ms",
            higher_is_better=False,
            note="7 sources: 2 images (OCI layout, signatures verified), 2 git tags over "
            "git://, 2 URLs, the context",
        ),
        Row(
            "check the example, warm (same resolver and policy)",
            min(warms),
            "ms",
            higher_is_better=False,
        ),
    ]


def source_policy(quick: bool) -> list[Row]:
    """BuildKit's static engine over a large policy: what each source costs before a build.

    The policy has 300 rules: 100 EXACT pins, 100 WILDCARD allow/deny rules with an
    attribute constraint, 100 REGEX conversions to a mirror (their patterns compiled once
    per engine), after a deny-all. Sources are a mix that converts, is denied or passes.
    """
    from buildsig.policy.source import SourcePolicyEngine, parse_source_policy

    digest = "sha256:" + "ab" * 32
    rules: list[dict[str, object]] = [
        {"action": "DENY", "selector": {"identifier": "docker-image://*"}}
    ]
    for i in range(100):
        image = f"docker-image://docker.io/library/img{i}:1"
        rules.append(
            {
                "action": "CONVERT",
                "selector": {"identifier": image, "match_type": "EXACT"},
                "updates": {"identifier": f"{image}@{digest}", "attrs": {"image.checksum": digest}},
            }
        )
        rules.append(
            {
                "action": "ALLOW" if i % 2 else "DENY",
                "selector": {
                    "identifier": f"docker-image://docker.io/library/img{i}:*",
                    "constraints": [{"key": "image.recordtype", "value": "internal",
                                     "condition": "NOTEQUAL"}],
                },
            }
        )  # fmt: skip
        rules.append(
            {
                "action": "CONVERT",
                "selector": {"identifier": f"^docker-image://quay\\.io/org{i}/(.*)$",
                             "match_type": "REGEX"},
                "updates": {"identifier": f"docker-image://mirror.example/org{i}/$1"},
            }
        )  # fmt: skip
    import json

    policy = parse_source_policy(json.dumps({"rules": rules}))
    sources = (
        [(f"docker-image://docker.io/library/img{i}:1", {}) for i in range(0, 100, 7)]
        + [(f"docker-image://quay.io/org{i}/app:2", {}) for i in range(0, 100, 9)]
        + [
            (f"docker-image://docker.io/library/img{i}:2", {"image.recordtype": "x"})
            for i in range(0, 100, 11)
        ]
    )
    engine = SourcePolicyEngine([policy])
    outcomes = [engine.evaluate(i, a).action for i, a in sources]
    assert "DENY" in outcomes
    assert "ALLOW" in outcomes
    state = {"n": 0}

    def one() -> None:
        identifier, attrs = sources[state["n"] % len(sources)]
        state["n"] += 1
        engine.evaluate(identifier, attrs)

    rate = ops_per_second(one, min_time=0.2 if quick else 0.5)
    return [
        Row(
            "source policy, 300 rules (exact, wildcard + constraint, regex): sources judged",
            rate,
            "sources/s",
            note="no peer: BuildKit's engine runs only inside the daemon",
        )
    ]


BENCHMARKS = [
    Benchmark("policy-eval", decisions),
    Benchmark("policy-check-example", check_example),
    Benchmark("source-policy", source_policy),
]

if __name__ == "__main__":  # pragma: no cover
    sys.exit("run through benches/run.py")

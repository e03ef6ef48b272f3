"""Buildx build policies (``Dockerfile.rego``) evaluated on an embedded Rego engine."""

from buildsig.policy._rego_scan import WHOLE_INPUT
from buildsig.policy.rego import (
    DEFAULT_QUERY,
    UNDEFINED,
    Builtin,
    EvalResult,
    Limits,
    PolicyBundle,
    PolicyEngine,
    RegoError,
    RegorusEngine,
    TestResult,
    evaluate_isolated,
    run_tests_isolated,
    scan_input_fields,
)

__all__ = [
    "DEFAULT_QUERY",
    "UNDEFINED",
    "WHOLE_INPUT",
    "Builtin",
    "EvalResult",
    "Limits",
    "PolicyBundle",
    "PolicyEngine",
    "RegoError",
    "RegorusEngine",
    "TestResult",
    "evaluate_isolated",
    "run_tests_isolated",
    "scan_input_fields",
]

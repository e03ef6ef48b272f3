"""Build policies: Buildx ``Dockerfile.rego``, BuildKit source policies, and pins.

Rego runs on an embedded engine; source policies are BuildKit's static rules
(:mod:`buildsig.policy.source`); pins are source policies fixing a Dockerfile's sources
(:mod:`buildsig.policy.pin`).
"""

from buildsig.policy._rego_scan import WHOLE_INPUT
from buildsig.policy.pin import (
    PinCheck,
    PinCheckReport,
    PinEntry,
    PinReport,
    check_pins,
    pin_dockerfile,
    write_source_policy,
)
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
from buildsig.policy.source import (
    SourcePolicy,
    SourcePolicyEngine,
    SourcePolicyError,
    SourcePolicyResult,
    load_source_policy,
    parse_source_policy,
)

__all__ = [
    "DEFAULT_QUERY",
    "UNDEFINED",
    "WHOLE_INPUT",
    "Builtin",
    "EvalResult",
    "Limits",
    "PinCheck",
    "PinCheckReport",
    "PinEntry",
    "PinReport",
    "PolicyBundle",
    "PolicyEngine",
    "RegoError",
    "RegorusEngine",
    "SourcePolicy",
    "SourcePolicyEngine",
    "SourcePolicyError",
    "SourcePolicyResult",
    "TestResult",
    "check_pins",
    "evaluate_isolated",
    "load_source_policy",
    "parse_source_policy",
    "pin_dockerfile",
    "run_tests_isolated",
    "scan_input_fields",
    "write_source_policy",
]

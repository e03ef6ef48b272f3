"""Build policies: Buildx ``Dockerfile.rego`` on an embedded Rego engine, and pins.

Pins are BuildKit source policies fixing a Dockerfile's sources (:mod:`buildsig.policy.pin`).
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
    "TestResult",
    "check_pins",
    "evaluate_isolated",
    "pin_dockerfile",
    "run_tests_isolated",
    "scan_input_fields",
    "write_source_policy",
]

"""Shared test helpers: the real BuildKit statements and compact JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

DATA_DIR = Path("/work/shared/data/provenance")

#: The four real BuildKit statements (moby/buildkit docs/attestations/slsa-provenance.md).
REAL_STATEMENTS = (
    "buildkit-statement-slsa-v0.2-example1.json",
    "buildkit-statement-slsa-v0.2-example2.json",
    "buildkit-statement-slsa-v1-example1.json",
    "buildkit-statement-slsa-v1-example2.json",
)


def real_statement(name: str) -> bytes:
    """The bytes of one real statement, or skip the test when the data set is absent."""
    path = DATA_DIR / name
    if not path.is_file():
        pytest.skip(f"real BuildKit statement {path} is not available on this machine")
    return path.read_bytes()


def dumps(value: Any) -> bytes:
    """Compact JSON bytes, as BuildKit writes attestations."""
    return json.dumps(value, separators=(",", ":")).encode()


# The predicates of Buildx policy/validate_test.go (newTestAttestationChainWithProvenance*).
BUILDX_V02_PREDICATE: dict[str, Any] = {
    "builder": {"id": "https://example.com/builder-id"},
    "buildType": "https://example.com/build-type",
    "invocation": {
        "configSource": {
            "digest": {"sha1": "52b004d2afe20c5c80967cc1784e718b52d69dae"},
            "entryPoint": "Dockerfile",
            "uri": "https://github.com/moby/buildkit.git#refs/tags/v0.21.0",
        },
        "parameters": {
            "frontend": "gateway.v0",
            "args": {
                "build-arg:BUILDKIT_CONTEXT_KEEP_GIT_DIR": "1",
                "cmdline": "docker/dockerfile-upstream:master",
            },
        },
        "environment": {"platform": "linux/amd64"},
    },
    "metadata": {
        "buildInvocationID": "inv-v02",
        "buildStartedOn": "2024-01-02T03:04:05Z",
        "buildFinishedOn": "2024-01-02T03:05:05Z",
        "completeness": {"parameters": True, "environment": True, "materials": False},
        "reproducible": True,
        "https://mobyproject.org/buildkit@v1#hermetic": True,
    },
}

BUILDX_V1_PREDICATE: dict[str, Any] = {
    "buildDefinition": {
        "buildType": "https://example.com/build-type-v1",
        "externalParameters": {
            "configSource": {
                "digest": {"sha1": "9836771d0c5b21cbc7f0c38b81be39c42fc46b7b"},
                "path": "Dockerfile",
                "uri": "https://github.com/moby/buildkit.git#refs/heads/master",
            },
            "request": {
                "frontend": "gateway.v0",
                "args": {
                    "build-arg:BUILDKIT_CONTEXT_KEEP_GIT_DIR": "1",
                    "source": "docker/dockerfile-upstream:master",
                },
            },
        },
        "internalParameters": {},
    },
    "runDetails": {
        "builder": {"id": "https://example.com/builder-id-v1"},
        "metadata": {
            "invocationID": "inv-v1",  # Go's case-insensitive match on invocationId
            "startedOn": "2024-02-03T04:05:06Z",
            "finishedOn": "2024-02-03T04:06:06Z",
            "buildkit_completeness": {"request": True, "resolvedDependencies": False},
            "buildkit_reproducible": True,
            "buildkit_hermetic": True,
        },
    },
}

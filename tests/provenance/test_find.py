"""Choosing provenance among attestation blobs (reference §5.1, Buildx parseProvenance)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import pytest

from buildsig.errors import InvalidInputError
from buildsig.provenance import (
    PREDICATE_SLSA_V02,
    PREDICATE_SLSA_V1,
    PREDICATE_TYPE_ANNOTATION,
    select_provenance,
    select_provenance_result,
)
from tests.provenance.helpers import (
    BUILDX_V02_PREDICATE,
    BUILDX_V1_PREDICATE,
    REAL_STATEMENTS,
    dumps,
    real_statement,
)

Blob = tuple[Mapping[str, str], bytes]


def blob(predicate_type: str, statement: Any) -> Blob:
    data = statement if isinstance(statement, bytes) else dumps(statement)
    return {PREDICATE_TYPE_ANNOTATION: predicate_type}, data


def buildx_statement(predicate_type: str, predicate: Any) -> dict[str, Any]:
    """As Buildx's validate_test builds them: Statement v0.1 and no subject at all."""
    return {
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": predicate_type,
        "predicate": predicate,
    }


V1 = blob(PREDICATE_SLSA_V1, buildx_statement(PREDICATE_SLSA_V1, BUILDX_V1_PREDICATE))
V02 = blob(PREDICATE_SLSA_V02, buildx_statement(PREDICATE_SLSA_V02, BUILDX_V02_PREDICATE))
SBOM = blob("https://spdx.dev/Document", {"predicateType": "https://spdx.dev/Document"})


def test_buildx_attestation_chain_v02() -> None:
    prov = select_provenance([SBOM, V02], platform="linux/amd64")
    assert prov is not None
    assert prov.predicate_type == PREDICATE_SLSA_V02
    assert prov.invocation_id == "inv-v02"
    assert prov.completeness is not None and prov.completeness.environment is True


def test_buildx_attestation_chain_v1() -> None:
    prov = select_provenance([V1], platform="linux/amd64")
    assert prov is not None
    assert prov.predicate_type == PREDICATE_SLSA_V1
    assert prov.invocation_id == "inv-v1"
    assert prov.completeness is not None and prov.completeness.environment is None


@pytest.mark.parametrize("blobs", [[V1, V02], [V02, V1], [SBOM, V02, SBOM, V1]])
def test_v1_is_preferred_whatever_the_order(blobs: list[Blob]) -> None:
    prov = select_provenance(blobs)
    assert prov is not None and prov.predicate_type == PREDICATE_SLSA_V1


def test_first_of_the_same_version_wins() -> None:
    second = copy.deepcopy(BUILDX_V1_PREDICATE)
    second["runDetails"]["metadata"]["invocationID"] = "other"
    other = blob(PREDICATE_SLSA_V1, buildx_statement(PREDICATE_SLSA_V1, second))
    assert select_provenance([other, V1]).invocation_id == "other"  # type: ignore[union-attr]
    assert select_provenance([V1, other]).invocation_id == "inv-v1"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "bad_v1",
    [
        blob(PREDICATE_SLSA_V1, b""),  # no data
        blob(PREDICATE_SLSA_V1, b"not json"),
        blob(PREDICATE_SLSA_V1, b"[]"),
        blob(PREDICATE_SLSA_V1, b"null"),
        blob(PREDICATE_SLSA_V1, b'"statement"'),
        blob(PREDICATE_SLSA_V1, {"predicateType": PREDICATE_SLSA_V1}),  # no predicate
        blob(PREDICATE_SLSA_V1, {"predicateType": PREDICATE_SLSA_V1, "predicate": None}),
        blob(PREDICATE_SLSA_V1, {"predicateType": PREDICATE_SLSA_V1, "predicate": {}}),
        blob(PREDICATE_SLSA_V1, {"predicateType": PREDICATE_SLSA_V1, "predicate": []}),
        blob(PREDICATE_SLSA_V1, {"predicateType": 1, "predicate": BUILDX_V1_PREDICATE}),
        blob(PREDICATE_SLSA_V1, {"predicateType": "https://spdx.dev/Document", "predicate": {}}),
        blob(
            PREDICATE_SLSA_V1,
            buildx_statement(
                PREDICATE_SLSA_V1,
                {**BUILDX_V1_PREDICATE, "runDetails": {"metadata": {"startedOn": "yesterday"}}},
            ),
        ),
    ],
)
def test_unusable_blobs_are_skipped(bad_v1: Blob) -> None:
    assert select_provenance([bad_v1]) is None
    prov = select_provenance([bad_v1, V02])
    assert prov is not None and prov.predicate_type == PREDICATE_SLSA_V02


@pytest.mark.parametrize(
    "annotations",
    [{}, {PREDICATE_TYPE_ANNOTATION: ""}, {PREDICATE_TYPE_ANNOTATION: "https://spdx.dev/Document"}],
)
def test_only_provenance_annotated_blobs_are_read(annotations: dict[str, str]) -> None:
    assert select_provenance([(annotations, V1[1])]) is None


def test_statement_type_decides_over_the_annotation() -> None:
    """A v0.2 statement in a blob annotated v1 is parsed as v0.2, as in Buildx."""
    mislabelled = blob(
        PREDICATE_SLSA_V1, buildx_statement(PREDICATE_SLSA_V02, BUILDX_V02_PREDICATE)
    )
    prov = select_provenance([mislabelled])
    assert prov is not None and prov.predicate_type == PREDICATE_SLSA_V02


@pytest.mark.parametrize("predicate_type", [None, ""])
def test_annotation_is_the_fallback_predicate_type(predicate_type: str | None) -> None:
    statement = {"predicateType": predicate_type, "predicate": BUILDX_V1_PREDICATE}
    prov = select_provenance([blob(PREDICATE_SLSA_V1, statement)])
    assert prov is not None and prov.predicate_type == PREDICATE_SLSA_V1
    prov = select_provenance([blob(PREDICATE_SLSA_V1, {"predicate": BUILDX_V1_PREDICATE})])
    assert prov is not None and prov.predicate_type == PREDICATE_SLSA_V1


def test_statement_keys_are_matched_case_insensitively() -> None:
    statement = {"PREDICATETYPE": PREDICATE_SLSA_V1, "Predicate": BUILDX_V1_PREDICATE}
    prov = select_provenance([blob(PREDICATE_SLSA_V02, statement)])
    assert prov is not None and prov.predicate_type == PREDICATE_SLSA_V1


def test_invalid_utf8_is_replaced_as_go_does() -> None:
    data = dumps(buildx_statement(PREDICATE_SLSA_V1, BUILDX_V1_PREDICATE)).replace(
        b"inv-v1", b"inv-\xff"
    )
    prov = select_provenance([blob(PREDICATE_SLSA_V1, data)])
    assert prov is not None and prov.invocation_id == "inv-\ufffd"


def test_oversized_blobs_are_skipped() -> None:
    assert select_provenance([V1], max_size=len(V1[1]) - 1) is None
    assert select_provenance([V1], max_size=len(V1[1])) is not None


def test_nothing_usable_is_none() -> None:
    assert select_provenance([]) is None
    assert select_provenance([SBOM]) is None


@pytest.mark.parametrize("name", REAL_STATEMENTS)
def test_real_statements_through_the_finder(name: str) -> None:
    data = real_statement(name)
    annotated = PREDICATE_SLSA_V1 if "slsa-v1" in name else PREDICATE_SLSA_V02
    result = select_provenance_result([SBOM, ({PREDICATE_TYPE_ANNOTATION: annotated}, data)])
    assert result is not None
    assert result.provenance.predicate_type == annotated
    assert [m.uri for m in result.raw_materials] == [
        "pkg:docker/alpine@latest?platform=linux%2Famd64"
    ]


def test_depth_limit_is_the_only_error() -> None:
    pred = {**BUILDX_V1_PREDICATE}
    pred["buildDefinition"] = {
        **BUILDX_V1_PREDICATE["buildDefinition"],
        "resolvedDependencies": [{"uri": "https://example.com/a"}],
    }
    blobs = [blob(PREDICATE_SLSA_V1, buildx_statement(PREDICATE_SLSA_V1, pred))]
    assert select_provenance(blobs, depth=23) is not None
    with pytest.raises(InvalidInputError, match="depth exceeds limit 24"):
        select_provenance(blobs, depth=24)

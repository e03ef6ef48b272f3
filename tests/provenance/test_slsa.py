"""SLSA v0.2 / v1 predicates → ImageProvenance, field by field (reference §5.2)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from buildsig.model import (
    Env,
    Image,
    ImageProvenance,
    Input,
    ProvenanceCompleteness,
    ProvenanceConfigSource,
)
from buildsig.provenance import (
    PREDICATE_SLSA_V02,
    PREDICATE_SLSA_V1,
    RawMaterial,
    parse_provenance,
    parse_provenance_result,
    parse_statement,
)
from buildsig.unknowns import IMAGE_UNKNOWNS
from tests.provenance.helpers import (
    BUILDX_V02_PREDICATE,
    BUILDX_V1_PREDICATE,
    dumps,
    real_statement,
)

ALPINE_DIGEST = "sha256:8914eb54f968791faf6a8638949e480fef81e697984fba772b3976835194c6d4"
ALPINE_PURL = "pkg:docker/alpine@latest?platform=linux%2Famd64"
BUILDKIT_V1_BUILD_TYPE = (
    "https://github.com/moby/buildkit/blob/master/docs/attestations/slsa-definitions.md"
)

# The one material of every real example, as Buildx builds it (unresolved, canonical ref).
ALPINE_MATERIAL = Input(
    env=Env(depth=1),
    image=Image(
        ref=f"docker.io/library/alpine:latest@{ALPINE_DIGEST}",
        host="docker.io",
        repo="alpine",
        full_repo="docker.io/library/alpine",
        tag="latest",
        platform="linux/amd64",
        os="linux",
        arch="amd64",
        is_canonical=True,
        checksum=ALPINE_DIGEST,
    ),
)


# --- the four real BuildKit statements ----------------------------------------------------------

# Values written down from the JSON files; the mapping per reference §5.2.
REAL_EXPECTED = {
    "buildkit-statement-slsa-v0.2-example1.json": ImageProvenance(
        predicate_type=PREDICATE_SLSA_V02,
        build_type="https://mobyproject.org/buildkit@v1",
        builder_id="",
        invocation_id="yirbp1aosi1vqjmi3z6bc75nb",
        started_on="2022-12-08T11:48:59Z",  # 11:48:59.466513707Z, truncated
        finished_on="2022-12-08T11:49:01Z",
        config_source=ProvenanceConfigSource(path="Dockerfile"),  # invocation…entryPoint
        frontend="dockerfile.v0",
        reproducible=False,
        hermetic=False,  # no buildkit@v1#hermetic key, but metadata exists
        completeness=ProvenanceCompleteness(parameters=True, environment=True, materials=False),
        materials=(ALPINE_MATERIAL,),
    ),
    "buildkit-statement-slsa-v0.2-example2.json": ImageProvenance(
        predicate_type=PREDICATE_SLSA_V02,
        build_type="https://mobyproject.org/buildkit@v1",
        invocation_id="46ue2x93k3xj5l463dektwldw",
        started_on="2022-12-08T11:50:54Z",
        finished_on="2022-12-08T11:50:55Z",
        config_source=ProvenanceConfigSource(path="Dockerfile"),
        frontend="dockerfile.v0",
        reproducible=False,
        hermetic=False,
        completeness=ProvenanceCompleteness(parameters=True, environment=True, materials=False),
        materials=(ALPINE_MATERIAL,),
    ),
    "buildkit-statement-slsa-v1-example1.json": ImageProvenance(
        predicate_type=PREDICATE_SLSA_V1,
        build_type=BUILDKIT_V1_BUILD_TYPE,
        invocation_id="yirbp1aosi1vqjmi3z6bc75nb",
        started_on="2022-12-08T11:48:59Z",
        finished_on="2022-12-08T11:49:01Z",
        config_source=ProvenanceConfigSource(path="Dockerfile"),
        frontend="dockerfile.v0",
        reproducible=False,
        hermetic=False,
        completeness=ProvenanceCompleteness(parameters=False, materials=False),
        materials=(ALPINE_MATERIAL,),
    ),
    "buildkit-statement-slsa-v1-example2.json": ImageProvenance(
        predicate_type=PREDICATE_SLSA_V1,
        build_type=BUILDKIT_V1_BUILD_TYPE,
        invocation_id="46ue2x93k3xj5l463dektwldw",
        started_on="2022-12-08T11:50:54Z",
        finished_on="2022-12-08T11:50:55Z",
        config_source=ProvenanceConfigSource(path="Dockerfile"),
        frontend="dockerfile.v0",
        reproducible=False,
        hermetic=False,
        completeness=ProvenanceCompleteness(parameters=True, materials=False),
        materials=(ALPINE_MATERIAL,),
    ),
}


@pytest.mark.parametrize("name", sorted(REAL_EXPECTED))
def test_real_statements_exact_fields(name: str) -> None:
    stmt = parse_statement(real_statement(name))
    result = parse_provenance_result(stmt.predicate_type, stmt.predicate, platform="linux/amd64")
    assert result is not None
    assert result.provenance == REAL_EXPECTED[name]
    assert result.raw_materials == (
        RawMaterial(uri=ALPINE_PURL, digest={"sha256": ALPINE_DIGEST.removeprefix("sha256:")}),
    )
    assert result.warnings == ()
    # The material is unresolved: everything but the (pinned) checksum is unknown.
    assert result.provenance.materials[0].unknowns == IMAGE_UNKNOWNS[1:]


@pytest.mark.parametrize("name", sorted(REAL_EXPECTED))
def test_real_statements_serialise_with_buildx_names(name: str) -> None:
    stmt = parse_statement(real_statement(name))
    prov = parse_provenance(stmt.predicate_type, stmt.predicate, platform="linux/amd64")
    assert prov is not None
    data = prov.to_dict()
    is_v1 = stmt.predicate_type == PREDICATE_SLSA_V1
    assert list(data) == [
        "predicateType",
        "buildType",
        "invocationID",
        "startedOn",
        "finishedOn",
        "configSource",
        "frontend",
        "reproducible",
        "hermetic",
        "completeness",
        "materials",
    ]  # builderID is "" and args {} in these examples: omitted, as in Go
    assert data["configSource"] == {"path": "Dockerfile"}
    assert data["reproducible"] is False
    assert data["hermetic"] is False
    assert ("environment" in data["completeness"]) is not is_v1
    assert data["materials"] == [
        {
            "env": {"depth": 1},
            "image": {
                "ref": f"docker.io/library/alpine:latest@{ALPINE_DIGEST}",
                "host": "docker.io",
                "repo": "alpine",
                "fullRepo": "docker.io/library/alpine",
                "tag": "latest",
                "platform": "linux/amd64",
                "os": "linux",
                "arch": "amd64",
                "isCanonical": True,
                "checksum": ALPINE_DIGEST,
            },
        }
    ]


def test_real_v1_and_converted_v02_agree_except_version_specifics() -> None:
    """Example 2 exists in both versions: only type, build type and the v0.2-only claim differ."""
    v02 = parse_statement(real_statement("buildkit-statement-slsa-v0.2-example2.json"))
    v1 = parse_statement(real_statement("buildkit-statement-slsa-v1-example2.json"))
    a = parse_provenance(v02.predicate_type, v02.predicate, platform="linux/amd64")
    b = parse_provenance(v1.predicate_type, v1.predicate, platform="linux/amd64")
    assert a is not None and b is not None
    da, db = a.to_dict(), b.to_dict()
    for key in ("predicateType", "buildType", "completeness"):
        da.pop(key)
        db.pop(key)
    assert da == db


# --- Buildx policy/validate_test.go -----------------------------------------------------------


def test_buildx_loads_provenance_fields_v02() -> None:
    prov = parse_provenance(PREDICATE_SLSA_V02, BUILDX_V02_PREDICATE)
    assert prov is not None
    assert prov.predicate_type == "https://slsa.dev/provenance/v0.2"
    assert prov.build_type == "https://example.com/build-type"
    assert prov.builder_id == "https://example.com/builder-id"
    assert prov.invocation_id == "inv-v02"
    assert prov.started_on == "2024-01-02T03:04:05Z"
    assert prov.finished_on == "2024-01-02T03:05:05Z"
    assert prov.frontend == "gateway.v0"
    assert prov.build_args == {"BUILDKIT_CONTEXT_KEEP_GIT_DIR": "1"}
    assert prov.raw_args == {
        "build-arg:BUILDKIT_CONTEXT_KEEP_GIT_DIR": "1",
        "cmdline": "docker/dockerfile-upstream:master",
    }
    assert prov.config_source is not None
    assert prov.config_source.uri == "https://github.com/moby/buildkit.git#refs/tags/v0.21.0"
    assert prov.config_source.path == "Dockerfile"
    assert prov.config_source.digest == {"sha1": "52b004d2afe20c5c80967cc1784e718b52d69dae"}
    assert prov.completeness is not None
    assert prov.completeness.parameters is True
    assert prov.completeness.environment is True
    assert prov.completeness.materials is False
    assert prov.reproducible is True
    assert prov.hermetic is True
    assert prov.materials == ()


def test_buildx_loads_provenance_fields_v1() -> None:
    prov = parse_provenance(PREDICATE_SLSA_V1, BUILDX_V1_PREDICATE)
    assert prov is not None
    assert prov.predicate_type == "https://slsa.dev/provenance/v1"
    assert prov.build_type == "https://example.com/build-type-v1"
    assert prov.builder_id == "https://example.com/builder-id-v1"
    assert prov.invocation_id == "inv-v1"
    assert prov.started_on == "2024-02-03T04:05:06Z"
    assert prov.finished_on == "2024-02-03T04:06:06Z"
    assert prov.frontend == "gateway.v0"
    assert prov.build_args == {"BUILDKIT_CONTEXT_KEEP_GIT_DIR": "1"}
    assert prov.raw_args == {
        "build-arg:BUILDKIT_CONTEXT_KEEP_GIT_DIR": "1",
        "source": "docker/dockerfile-upstream:master",
    }
    assert prov.config_source is not None
    assert prov.config_source.uri == "https://github.com/moby/buildkit.git#refs/heads/master"
    assert prov.config_source.path == "Dockerfile"
    assert prov.config_source.digest == {"sha1": "9836771d0c5b21cbc7f0c38b81be39c42fc46b7b"}
    assert prov.completeness is not None
    assert prov.completeness.parameters is True
    assert prov.completeness.environment is None  # v1 has no environment claim
    assert prov.completeness.materials is False
    assert prov.reproducible is True
    assert prov.hermetic is True


def test_buildx_v1_serialises_without_environment() -> None:
    prov = parse_provenance(PREDICATE_SLSA_V1, BUILDX_V1_PREDICATE)
    assert prov is not None
    assert prov.to_dict() == {
        "predicateType": "https://slsa.dev/provenance/v1",
        "buildType": "https://example.com/build-type-v1",
        "builderID": "https://example.com/builder-id-v1",
        "invocationID": "inv-v1",
        "startedOn": "2024-02-03T04:05:06Z",
        "finishedOn": "2024-02-03T04:06:06Z",
        "configSource": {
            "uri": "https://github.com/moby/buildkit.git#refs/heads/master",
            "digest": {"sha1": "9836771d0c5b21cbc7f0c38b81be39c42fc46b7b"},
            "path": "Dockerfile",
        },
        "frontend": "gateway.v0",
        "buildArgs": {"BUILDKIT_CONTEXT_KEEP_GIT_DIR": "1"},
        "rawArgs": {
            "build-arg:BUILDKIT_CONTEXT_KEEP_GIT_DIR": "1",
            "source": "docker/dockerfile-upstream:master",
        },
        "reproducible": True,
        "hermetic": True,
        "completeness": {"parameters": True, "materials": False},
    }


# --- Go's decoding rules ----------------------------------------------------------------------


def test_keys_match_case_insensitively_at_every_level() -> None:
    pred = {
        "BuildDefinition": {
            "BUILDTYPE": "bt",
            "externalparameters": {
                "ConfigSource": {"URI": "u", "Digest": {"sha256": "ab"}, "PATH": "p"},
                "Request": {"FrontEnd": "fe", "ARGS": {"build-arg:X": "1"}},
            },
            "ResolvedDependencies": [{"URI": "https://example.com/f.tgz"}],
        },
        "rundetails": {
            "Builder": {"ID": "b"},
            "METADATA": {
                "INVOCATIONID": "i",
                "StartedOn": "2024-01-01T00:00:00Z",
                "BuildKit_Hermetic": True,
                "BUILDKIT_COMPLETENESS": {"Request": True, "RESOLVEDDEPENDENCIES": True},
                # KELVIN SIGN folds to K in Go, so this is buildkit_reproducible
                "build\u212ait_reproducible": True,
            },
        },
    }
    prov = parse_provenance(PREDICATE_SLSA_V1, pred)
    assert prov is not None
    assert (prov.build_type, prov.builder_id, prov.invocation_id) == ("bt", "b", "i")
    assert prov.config_source == ProvenanceConfigSource(uri="u", digest={"sha256": "ab"}, path="p")
    assert (prov.frontend, dict(prov.build_args)) == ("fe", {"X": "1"})
    assert prov.started_on == "2024-01-01T00:00:00Z"
    assert (prov.hermetic, prov.reproducible) == (True, True)
    assert prov.completeness == ProvenanceCompleteness(parameters=True, materials=True)
    assert [m.http.url for m in prov.materials if m.http] == ["https://example.com/f.tgz"]


def test_v02_hermetic_key_is_matched_case_insensitively() -> None:
    pred = copy.deepcopy(BUILDX_V02_PREDICATE)
    del pred["metadata"]["https://mobyproject.org/buildkit@v1#hermetic"]
    pred["metadata"]["HTTPS://MOBYPROJECT.ORG/BUILDKIT@V1#HERMETIC"] = True
    prov = parse_provenance(PREDICATE_SLSA_V02, pred)
    assert prov is not None and prov.hermetic is True


def test_later_case_variant_wins() -> None:
    pred = copy.deepcopy(BUILDX_V1_PREDICATE)
    pred["runDetails"]["metadata"] = {"invocationId": "first", "INVOCATIONID": "second"}
    prov = parse_provenance(PREDICATE_SLSA_V1, pred)
    assert prov is not None and prov.invocation_id == "second"


def test_non_ascii_keys_fold_as_in_go() -> None:
    # DOTLESS I folds to I in Go, so this key is "reproducible"
    pred = {"buildType": "bt", "metadata": {"reproduc\u0131ble": True}}
    prov = parse_provenance(PREDICATE_SLSA_V02, pred)
    assert prov is not None and prov.reproducible is True
    pred = {"buildType": "bt", "metadata": {"reprodücible": True}}  # ü folds to Ü: no match
    prov = parse_provenance(PREDICATE_SLSA_V02, pred)
    assert prov is not None and prov.reproducible is False


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-01-02T03:04:05Z", "2024-01-02T03:04:05Z"),
        ("2024-01-02T03:04:05.999999999Z", "2024-01-02T03:04:05Z"),  # truncated, not rounded
        ("2024-01-02T03:04:05.1234567891234Z", "2024-01-02T03:04:05Z"),  # any fraction length
        ("2024-01-01T00:30:00+01:00", "2023-12-31T23:30:00Z"),
        ("2024-02-29T23:00:00-02:00", "2024-03-01T01:00:00Z"),
        ("0000-01-01T00:00:00+00:01", "-0001-12-31T23:59:00Z"),  # Go's year formatting
        ("9999-12-31T23:59:59-23:59", "10000-01-01T23:58:59Z"),
    ],
)
def test_times_are_reemitted_in_utc_whole_seconds(value: str, expected: str) -> None:
    pred = {"buildType": "bt", "metadata": {"buildStartedOn": value}}
    prov = parse_provenance(PREDICATE_SLSA_V02, pred)
    assert prov is not None and prov.started_on == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        "2024-01-02",
        "2024-01-02t03:04:05Z",
        "2024-01-02T03:04:05z",
        "2024-01-02T03:04:05",
        "2024-01-02 03:04:05Z",
        "2024-01-02T3:04:05Z",
        "2024-01-02T03:04:05,5Z",
        "2024-01-02T03:04:05.Z",
        "2024-02-30T03:04:05Z",
        "2023-02-29T03:04:05Z",
        "2024-13-01T03:04:05Z",
        "2024-01-02T24:00:00Z",
        "2024-01-02T23:59:60Z",
        "2024-01-02T03:04:05+24:00",
        "2024-01-02T03:04:05+01:60",
        "2024-01-02T03:04:05+0100",
        "٢٠٢٤-01-02T03:04:05Z",  # non-ASCII digits
        1704164645,
        True,
        {"time": "2024-01-02T03:04:05Z"},
    ],
)
def test_bad_timestamps_mean_no_provenance(value: object) -> None:
    for version, pred in (
        (PREDICATE_SLSA_V02, {"buildType": "bt", "metadata": {"buildFinishedOn": value}}),
        (
            PREDICATE_SLSA_V1,
            {"runDetails": {"builder": {"id": "b"}, "metadata": {"startedOn": value}}},
        ),
    ):
        assert parse_provenance(version, pred) is None


def test_null_timestamps_are_absent() -> None:
    pred = {"buildType": "bt", "metadata": {"buildStartedOn": None, "buildFinishedOn": None}}
    prov = parse_provenance(PREDICATE_SLSA_V02, pred)
    assert prov is not None
    assert "startedOn" not in prov.to_dict() and "finishedOn" not in prov.to_dict()


@pytest.mark.parametrize(
    ("version", "pred"),
    [
        (PREDICATE_SLSA_V02, {"buildType": 1}),
        (PREDICATE_SLSA_V02, {"buildType": "bt", "builder": {"id": True}}),
        (PREDICATE_SLSA_V02, {"buildType": "bt", "builder": "someone"}),
        (PREDICATE_SLSA_V02, {"buildType": "bt", "metadata": "yes"}),
        (PREDICATE_SLSA_V02, {"buildType": "bt", "metadata": {"reproducible": "true"}}),
        (PREDICATE_SLSA_V02, {"buildType": "bt", "metadata": {"completeness": []}}),
        (PREDICATE_SLSA_V02, {"buildType": "bt", "materials": {"uri": "x"}}),
        (PREDICATE_SLSA_V02, {"buildType": "bt", "materials": [{"digest": {"sha256": 1}}]}),
        (PREDICATE_SLSA_V02, {"buildType": "bt", "invocation": {"parameters": {"args": []}}}),
        (
            PREDICATE_SLSA_V02,
            {"buildType": "bt", "invocation": {"parameters": {"args": {"a": 1}}}},
        ),
        (
            PREDICATE_SLSA_V02,
            {"buildType": "bt", "invocation": {"parameters": {"compatibilityVersion": 1.5}}},
        ),
        (
            PREDICATE_SLSA_V02,
            {"buildType": "bt", "invocation": {"parameters": {"compatibilityVersion": 2**63}}},
        ),
        (PREDICATE_SLSA_V02, {"buildType": "bt", "invocation": {"environment": []}}),
        (PREDICATE_SLSA_V02, {"buildType": "bt", "buildConfig": {"llbDefinition": {}}}),
        (
            PREDICATE_SLSA_V1,
            {"buildDefinition": {"buildType": "bt", "resolvedDependencies": [{"content": "!!"}]}},
        ),
        (
            PREDICATE_SLSA_V1,
            {"buildDefinition": {"buildType": "bt", "internalParameters": "x"}},
        ),
        (
            PREDICATE_SLSA_V1,
            {"buildDefinition": {"buildType": "bt"}, "runDetails": {"byproducts": [1]}},
        ),
        (
            PREDICATE_SLSA_V1,
            {"buildDefinition": {"buildType": "bt"}, "runDetails": {"builder": {"version": []}}},
        ),
        (
            PREDICATE_SLSA_V1,
            {
                "buildDefinition": {
                    "buildType": "bt",
                    "externalParameters": {"request": {"secrets": [{"id": 7}]}},
                }
            },
        ),
        (PREDICATE_SLSA_V1, {"buildDefinition": [], "runDetails": {"builder": {"id": "b"}}}),
    ],
)
def test_type_errors_in_declared_fields_mean_no_provenance(version: str, pred: object) -> None:
    assert parse_provenance(version, pred) is None  # type: ignore[arg-type]


def test_unknown_fields_of_any_type_are_ignored() -> None:
    pred = copy.deepcopy(BUILDX_V1_PREDICATE)
    pred["somethingElse"] = [1, {"x": None}]
    pred["runDetails"]["metadata"]["extra"] = 12
    pred["buildDefinition"]["externalParameters"]["request"]["whatever"] = {"a": [True]}
    assert parse_provenance(PREDICATE_SLSA_V1, pred) == parse_provenance(
        PREDICATE_SLSA_V1, BUILDX_V1_PREDICATE
    )


def test_null_values_follow_go() -> None:
    pred = {
        "buildType": "bt",
        "builder": None,  # struct: untouched
        "invocation": {"parameters": {"args": {"build-arg:A": None, "x": "1"}}},
        "metadata": {"completeness": None, "reproducible": None},
    }
    prov = parse_provenance(PREDICATE_SLSA_V02, pred)
    assert prov is not None
    assert prov.raw_args == {"build-arg:A": "", "x": "1"}  # null map value stores ""
    assert prov.build_args == {"A": ""}
    assert prov.completeness == ProvenanceCompleteness(
        parameters=False, environment=False, materials=False
    )
    assert prov.reproducible is False


# --- presence rules ---------------------------------------------------------------------------


@pytest.mark.parametrize("metadata", ["absent", None])
def test_missing_metadata_leaves_claims_absent(metadata: object) -> None:
    v02: dict[str, Any] = {"buildType": "bt"}
    v1_run: dict[str, Any] = {}
    v1: dict[str, Any] = {"buildDefinition": {"buildType": "bt"}, "runDetails": v1_run}
    if metadata is None:
        v02["metadata"] = v1_run["metadata"] = None
    for version, pred in ((PREDICATE_SLSA_V02, v02), (PREDICATE_SLSA_V1, v1)):
        prov = parse_provenance(version, pred)
        assert prov is not None
        assert prov.reproducible is None
        assert prov.hermetic is None
        assert prov.completeness is None
        assert prov.invocation_id == prov.started_on == prov.finished_on == ""
        assert prov.to_dict() == {
            "predicateType": version,
            "buildType": "bt",
            "configSource": {},
        }


def test_empty_metadata_sets_every_claim_false() -> None:
    prov = parse_provenance(PREDICATE_SLSA_V02, {"buildType": "bt", "metadata": {}})
    assert prov is not None
    assert prov.to_dict() == {
        "predicateType": PREDICATE_SLSA_V02,
        "buildType": "bt",
        "configSource": {},
        "reproducible": False,
        "hermetic": False,
        "completeness": {"parameters": False, "environment": False, "materials": False},
    }
    prov = parse_provenance(
        PREDICATE_SLSA_V1, {"runDetails": {"builder": {"id": "b"}, "metadata": {}}}
    )
    assert prov is not None
    assert prov.to_dict() == {
        "predicateType": PREDICATE_SLSA_V1,
        "builderID": "b",
        "configSource": {},
        "reproducible": False,
        "hermetic": False,
        "completeness": {"parameters": False, "materials": False},
    }


@pytest.mark.parametrize(
    ("version", "pred"),
    [
        (PREDICATE_SLSA_V02, {}),
        (PREDICATE_SLSA_V02, {"buildType": "", "builder": {"id": ""}, "metadata": {}}),
        (PREDICATE_SLSA_V1, {}),
        (PREDICATE_SLSA_V1, {"buildType": "top-level is v0.2's place", "builder": {"id": "b"}}),
        (PREDICATE_SLSA_V02, BUILDX_V1_PREDICATE),  # wrong version's layout
        (PREDICATE_SLSA_V1, BUILDX_V02_PREDICATE),
    ],
)
def test_no_build_type_and_no_builder_means_no_provenance(version: str, pred: object) -> None:
    assert parse_provenance(version, pred) is None  # type: ignore[arg-type]


def test_builder_id_alone_is_enough() -> None:
    prov = parse_provenance(PREDICATE_SLSA_V02, {"builder": {"id": "b"}})
    assert prov is not None and prov.builder_id == "b" and prov.build_type == ""


@pytest.mark.parametrize(
    "predicate_type",
    [
        "https://slsa.dev/provenance/v0.1",
        "https://spdx.dev/Document",
        "",
        "HTTPS://SLSA.DEV/PROVENANCE/V1",
    ],
)
def test_other_predicate_types_are_not_provenance(predicate_type: str) -> None:
    assert parse_provenance(predicate_type, BUILDX_V1_PREDICATE) is None


@pytest.mark.parametrize("predicate", [[], "x", 1, True])
def test_non_object_predicates_are_not_provenance(predicate: object) -> None:
    assert parse_provenance(PREDICATE_SLSA_V1, predicate) is None  # type: ignore[arg-type]


def test_build_args_extraction() -> None:
    args = {
        "build-arg:FOO": "1",
        "build-arg:BAR": "",
        "build-arg:": "dropped: empty name",
        "build-arg:with:colon": "kept",
        "BUILD-ARG:UPPER": "prefix is case-sensitive",
        "label:x": "y",
        "cmdline": "docker/dockerfile:1",
    }
    pred = {"buildType": "bt", "invocation": {"parameters": {"args": args}}}
    prov = parse_provenance(PREDICATE_SLSA_V02, pred)
    assert prov is not None
    assert prov.build_args == {"FOO": "1", "BAR": "", "with:colon": "kept"}
    assert prov.raw_args == args
    data = prov.to_dict()
    assert list(data["buildArgs"]) == ["BAR", "FOO", "with:colon"]  # sorted, as Go writes maps


@pytest.mark.parametrize("args", [None, {}, {"cmdline": "x"}, {"build-arg:": "x"}])
def test_build_args_absent_when_none(args: object) -> None:
    pred = {"buildType": "bt", "invocation": {"parameters": {"args": args}}}
    prov = parse_provenance(PREDICATE_SLSA_V02, pred)
    assert prov is not None
    assert "buildArgs" not in prov.to_dict()
    assert ("rawArgs" in prov.to_dict()) is bool(args)


def test_config_source_is_always_an_object() -> None:
    prov = parse_provenance(PREDICATE_SLSA_V1, {"runDetails": {"builder": {"id": "b"}}})
    assert prov is not None
    assert prov.config_source == ProvenanceConfigSource()
    assert prov.to_dict()["configSource"] == {}


def test_statement_predicate_mappings_are_accepted() -> None:
    """A Statement's frozen predicate (mappings and tuples) parses like plain JSON data."""
    stmt_bytes = dumps(
        {
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": "x", "digest": {"sha256": "ab"}}],
            "predicateType": PREDICATE_SLSA_V1,
            "predicate": BUILDX_V1_PREDICATE,
        }
    )
    stmt = parse_statement(stmt_bytes)
    assert parse_provenance(stmt.predicate_type, stmt.predicate) == parse_provenance(
        PREDICATE_SLSA_V1, BUILDX_V1_PREDICATE
    )


# --- materials inside provenance --------------------------------------------------------------


def test_materials_become_nested_inputs_in_order_with_warnings() -> None:
    pred = copy.deepcopy(BUILDX_V02_PREDICATE)
    pred["materials"] = [
        {"uri": "pkg:docker/alpine@3.20?platform=linux%2Famd64"},
        {"uri": "local://context"},
        {"uri": "https://github.com/moby/buildkit.git#v0.12.0", "digest": {"sha1": "ab"}},
        {"uri": "https://example.com/file.tgz", "digest": {"sha256": "cd"}},
        None,  # Go decodes it as an empty material: unsupported
    ]
    result = parse_provenance_result(PREDICATE_SLSA_V02, pred, platform="linux/arm64")
    assert result is not None
    kinds = [
        next(k for k in ("image", "git", "http") if getattr(m, k))
        for m in result.provenance.materials
    ]
    assert kinds == ["image", "git", "http"]
    assert [m.uri for m in result.raw_materials] == [
        "pkg:docker/alpine@3.20?platform=linux%2Famd64",
        "https://github.com/moby/buildkit.git#v0.12.0",
        "https://example.com/file.tgz",
    ]
    assert len(result.warnings) == 2
    assert all(w.startswith("skipping unsupported provenance material") for w in result.warnings)
    assert '"local://context"' in result.warnings[0]


def test_material_example_from_the_brief_serialises_as_buildx() -> None:
    pred = {
        "buildType": "bt",
        "materials": [{"uri": "pkg:docker/alpine@3.20?platform=linux%2Famd64"}],
    }
    prov = parse_provenance(PREDICATE_SLSA_V02, pred, platform="linux/arm64")
    assert prov is not None
    assert prov.to_dict()["materials"] == [
        {
            "env": {"depth": 1},
            "image": {
                "ref": "docker.io/library/alpine:3.20",
                "host": "docker.io",
                "repo": "alpine",
                "fullRepo": "docker.io/library/alpine",
                "tag": "3.20",
                "platform": "linux/amd64",  # the purl's, not the parent's
                "os": "linux",
                "arch": "amd64",
            },
        }
    ]
    root = Input(image=Image(ref="docker.io/library/busybox:latest", provenance=prov))
    assert root.unknown_refs() == [
        f"input.image.provenance.materials[0].{u}" for u in IMAGE_UNKNOWNS
    ]

"""in-toto Statement parsing: the real BuildKit statements, shape checks and their paths."""

from __future__ import annotations

import json
from typing import Any

import pytest
from google.protobuf import json_format  # type: ignore[import-untyped]
from in_toto_attestation.v1 import statement as ita_statement  # type: ignore[import-untyped]
from in_toto_attestation.v1 import statement_pb2

from buildsig._internal.serde import FrozenMap
from buildsig.errors import InvalidDocumentError, InvalidInputError
from buildsig.provenance import (
    DEFAULT_MAX_STATEMENT_SIZE,
    PREDICATE_SLSA_V02,
    PREDICATE_SLSA_V1,
    STATEMENT_TYPE_V01,
    STATEMENT_TYPE_V1,
    Statement,
    Subject,
    parse_statement,
)
from tests.provenance.helpers import REAL_STATEMENTS, dumps, real_statement

SUBJECT_DIGEST = "e8275b2b76280af67e26f068e5d585eb905f8dfd2f1918b3229db98133cb4862"


def minimal(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "_type": STATEMENT_TYPE_V1,
        "subject": [{"name": "img", "digest": {"sha256": "ab" * 32}}],
        "predicateType": PREDICATE_SLSA_V1,
        "predicate": {"k": 1},
    }
    doc.update(overrides)
    return {k: v for k, v in doc.items() if v is not ...}


def thawed_predicate(stmt: Statement) -> Any:
    def thaw(v: Any) -> Any:
        if isinstance(v, FrozenMap):
            return {k: thaw(x) for k, x in v.items()}
        if isinstance(v, tuple):
            return [thaw(x) for x in v]
        return v

    return thaw(stmt.predicate)


@pytest.mark.parametrize("name", REAL_STATEMENTS)
def test_real_statements(name: str) -> None:
    raw = real_statement(name)
    stmt = parse_statement(raw)
    is_v1 = "slsa-v1" in name
    assert stmt.type == (STATEMENT_TYPE_V1 if is_v1 else STATEMENT_TYPE_V01)
    assert stmt.predicate_type == (PREDICATE_SLSA_V1 if is_v1 else PREDICATE_SLSA_V02)
    assert stmt.subjects == (
        Subject(
            name="pkg:docker/<registry>/<image>@<tag/digest>?platform=<platform>",
            digest={"sha256": SUBJECT_DIGEST},
        ),
    )
    assert stmt.raw == raw
    assert thawed_predicate(stmt) == json.loads(raw)["predicate"]
    top = ["buildDefinition", "runDetails"] if is_v1 else ["builder", "buildType", "materials"]
    assert list(stmt.predicate)[: len(top)] == top


@pytest.mark.parametrize("name", [n for n in REAL_STATEMENTS if "slsa-v1" in n])
def test_v1_cross_checked_with_in_toto_attestation(name: str) -> None:
    raw = real_statement(name)
    pb = json_format.Parse(raw, statement_pb2.Statement())
    ita_statement.Statement.copy_from_pb(pb).validate()  # raises on an invalid statement
    stmt = parse_statement(raw)
    assert stmt.type == pb.type
    assert stmt.predicate_type == pb.predicate_type
    assert [s.name for s in stmt.subjects] == [s.name for s in pb.subject]
    assert [dict(s.digest) for s in stmt.subjects] == [dict(s.digest) for s in pb.subject]


def test_v01_is_beyond_in_toto_attestation() -> None:
    """The library only knows v1, which is why buildsig parses statements itself."""
    raw = real_statement("buildkit-statement-slsa-v0.2-example1.json")
    pb = json_format.Parse(raw, statement_pb2.Statement())
    with pytest.raises(ValueError, match="Wrong statement type"):
        ita_statement.Statement.copy_from_pb(pb).validate()
    assert parse_statement(raw).type == STATEMENT_TYPE_V01


def test_predicate_is_frozen_and_exact() -> None:
    stmt = parse_statement(
        dumps(minimal(predicate={"big": 2**60 + 1, "list": [1, {"a": None}], "f": 1.5}))
    )
    assert isinstance(stmt.predicate, FrozenMap)
    assert stmt.predicate["big"] == 2**60 + 1 and isinstance(stmt.predicate["big"], int)
    assert stmt.predicate["list"] == (1, {"a": None})
    assert isinstance(stmt.predicate["list"][1], FrozenMap)
    assert stmt.predicate["f"] == 1.5
    hash(stmt)  # usable as a cache key
    assert stmt == parse_statement(dumps(minimal(predicate=thawed_predicate(stmt))))


def test_subject_name_is_optional_and_digests_may_be_many() -> None:
    stmt = parse_statement(
        dumps(minimal(subject=[{"digest": {"sha256": "AB" * 32, "sha512": "cd" * 64}}]))
    )
    assert stmt.subjects == (Subject(name="", digest={"sha256": "AB" * 32, "sha512": "cd" * 64}),)


def test_duplicate_keys_keep_the_last_value() -> None:
    raw = (
        b'{"_type":"https://in-toto.io/Statement/v1","predicateType":"a",'
        b'"subject":[{"digest":{"sha256":"ab"}}],"predicate":{},"predicateType":"b"}'
    )
    assert parse_statement(raw).predicate_type == "b"


def test_keys_are_case_sensitive() -> None:
    doc = minimal()
    doc["PredicateType"] = doc.pop("predicateType")
    with pytest.raises(InvalidDocumentError) as info:
        parse_statement(dumps(doc))
    assert info.value.path == "predicateType"


@pytest.mark.parametrize(
    ("doc", "path", "message"),
    [
        ([], "(root)", "expected an object"),
        (minimal(_type=...), "_type", "required field is missing"),
        (minimal(_type=1), "_type", "expected a string"),
        (minimal(_type="https://in-toto.io/Statement/v2"), "_type", "unsupported statement type"),
        (minimal(subject=...), "subject", "required field is missing"),
        (minimal(subject={}), "subject", "expected an array"),
        (minimal(subject=[]), "subject", "at least one subject"),
        (minimal(subject=["x"]), "subject[0]", "expected an object"),
        (minimal(subject=[{"name": 1, "digest": {"a": "b"}}]), "subject[0].name", "a string"),
        (minimal(subject=[{"name": "x"}]), "subject[0].digest", "required field is missing"),
        (minimal(subject=[{"digest": []}]), "subject[0].digest", "expected an object"),
        (minimal(subject=[{"digest": {}}]), "subject[0].digest", "at least one digest"),
        (
            minimal(subject=[{"digest": {"sha256": "ab"}}, {"digest": {"sha256": "xyz"}}]),
            "subject[1].digest.sha256",
            "not a hex string",
        ),
        (minimal(subject=[{"digest": {"sha256": ""}}]), "subject[0].digest.sha256", "hex"),
        (minimal(subject=[{"digest": {"sha256": 12}}]), "subject[0].digest.sha256", "hex"),
        (minimal(subject=[{"digest": {"": "ab"}}]), "subject[0].digest.", "empty digest"),
        (minimal(predicateType=...), "predicateType", "required field is missing"),
        (minimal(predicateType=None), "predicateType", "expected a string"),
        (minimal(predicateType=""), "predicateType", "must not be empty"),
        (minimal(predicate=...), "predicate", "required field is missing"),
        (minimal(predicate=None), "predicate", "expected an object, got null"),
        (minimal(predicate=[1]), "predicate", "expected an object, got an array"),
    ],
)
def test_shape_errors_name_their_path(doc: Any, path: str, message: str) -> None:
    with pytest.raises(InvalidDocumentError, match=message) as info:
        parse_statement(dumps(doc))
    assert info.value.path == path
    assert isinstance(info.value, InvalidInputError)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "not valid JSON"),
        (b"{", "not valid JSON"),
        (b"{} {}", "not valid JSON"),
        (b'{"a": NaN}', "not valid JSON"),
        (b'{"a": Infinity}', "not valid JSON"),
        (b"\xef\xbb\xbf{}", "not valid JSON"),  # a BOM: Go rejects it too
        (b'{"a": "\xff"}', "not UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply|not valid JSON"),
    ],
)
def test_malformed_json(raw: bytes, message: str) -> None:
    with pytest.raises(InvalidDocumentError, match=message) as info:
        parse_statement(raw)
    assert info.value.path == ""


def test_lone_surrogate_escapes_become_replacement_characters() -> None:
    raw = dumps(minimal(predicate={"k": "x"})).replace(b'"x"', b'"a\\ud800b"')
    assert parse_statement(raw).predicate["k"] == "a\ufffdb"


def test_size_cap() -> None:
    raw = dumps(minimal())
    assert parse_statement(raw, max_size=len(raw)).predicate_type == PREDICATE_SLSA_V1
    with pytest.raises(InvalidDocumentError, match="more than the limit"):
        parse_statement(raw, max_size=len(raw) - 1)
    assert DEFAULT_MAX_STATEMENT_SIZE == 40 * 1024 * 1024


def test_accepts_bytes_like() -> None:
    raw = dumps(minimal())
    assert parse_statement(bytearray(raw)) == parse_statement(memoryview(raw))
    assert parse_statement(bytearray(raw)).raw == raw

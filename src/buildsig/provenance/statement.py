"""in-toto Statements (v0.1 and v1), parsed from JSON into frozen values.

Every BuildKit attestation layer is an in-toto Statement: a subject list (the image
manifest it describes, by digest) wrapped around a typed predicate (SLSA provenance, an
SBOM …). BuildKit wrote ``https://in-toto.io/Statement/v0.1`` until mid-2026 and
``https://in-toto.io/Statement/v1`` since, so both occur in registries today.

The ``in-toto-attestation`` package cannot serve here: it only knows v1, and its protobuf
``Struct`` turns every number into a float (``1`` becomes ``1.0``, large integers lose
precision), which would corrupt predicates. So the JSON is parsed directly and checked
against the in-toto shape: ``_type`` one of the two versions, a non-empty ``subject``
list of ``{name, digest}`` objects whose digests are non-empty maps of hex strings, a
non-empty ``predicateType`` string and an object ``predicate``. The predicate is kept
as read-only JSON data (objects as mappings, arrays as tuples, integers exact).

Attestations are untrusted input: the size is capped before parsing (BuildKit itself
refuses attestations over 40 MiB), and every problem raises
:class:`~buildsig.errors.InvalidDocumentError` with the JSON path at fault.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any, Final

from buildsig._internal.serde import FrozenMap, describe_json, freeze
from buildsig.errors import InvalidDocumentError
from buildsig.provenance._gojson import load_json

__all__ = [
    "DEFAULT_MAX_STATEMENT_SIZE",
    "STATEMENT_TYPES",
    "STATEMENT_TYPE_V01",
    "STATEMENT_TYPE_V1",
    "Statement",
    "Subject",
    "parse_statement",
]

#: ``_type`` of in-toto Statement v0.1 (BuildKit's SLSA v0.2 attestations).
STATEMENT_TYPE_V01: Final = "https://in-toto.io/Statement/v0.1"
#: ``_type`` of in-toto Statement v1.
STATEMENT_TYPE_V1: Final = "https://in-toto.io/Statement/v1"
#: The statement types :func:`parse_statement` accepts.
STATEMENT_TYPES: Final = (STATEMENT_TYPE_V01, STATEMENT_TYPE_V1)
#: BuildKit's own cap on one attestation blob (40 MiB): nothing larger is legitimate.
DEFAULT_MAX_STATEMENT_SIZE: Final = 40 * 1024 * 1024

_HEX: Final = re.compile(r"[0-9a-fA-F]+")


@dataclasses.dataclass(frozen=True, slots=True)
class Subject:
    """One artefact a statement is about: a name (often a purl) and its digests.

    For BuildKit attestations the digest is the platform image manifest's; matching it
    against the manifest an attestation manifest points at is how a verifier ties the
    statement to the image.
    """

    name: str
    digest: Mapping[str, str]


@dataclasses.dataclass(frozen=True, slots=True)
class Statement:
    """A parsed in-toto Statement; ``raw`` keeps the exact bytes for digesting or re-parsing.

    ``predicate`` is read-only JSON data (mappings, tuples, exact integers), so a
    statement can be hashed, cached and shared between threads like the policy input.
    """

    type: str
    subjects: tuple[Subject, ...]
    predicate_type: str
    predicate: Mapping[str, Any]
    raw: bytes = dataclasses.field(default=b"", repr=False, compare=False)


def _expect(value: Any, typ: type, what: str, path: str) -> None:
    if not isinstance(value, typ):
        raise InvalidDocumentError(f"expected {what}, got {describe_json(value)}", path=path)


def _subject(value: Any, path: str) -> Subject:
    _expect(value, dict, "an object", path)
    name = value.get("name", "")
    _expect(name, str, "a string", f"{path}.name")
    if "digest" not in value:
        raise InvalidDocumentError("required field is missing", path=f"{path}.digest")
    digest = value["digest"]
    _expect(digest, dict, "an object", f"{path}.digest")
    if not digest:
        raise InvalidDocumentError("at least one digest is required", path=f"{path}.digest")
    for algorithm, hexdigest in digest.items():
        where = f"{path}.digest.{algorithm}"
        if not algorithm:
            raise InvalidDocumentError("empty digest algorithm", path=where)
        _expect(hexdigest, str, "a hex string", where)
        if _HEX.fullmatch(hexdigest) is None:
            raise InvalidDocumentError("digest is not a hex string", path=where)
    return Subject(name=name, digest=FrozenMap(digest))


def parse_statement(
    data: bytes | bytearray | memoryview, *, max_size: int = DEFAULT_MAX_STATEMENT_SIZE
) -> Statement:
    """Parse and validate an in-toto Statement (v0.1 or v1) from its JSON bytes.

    Keys are case-sensitive, as the in-toto specification says (only Buildx's *predicate*
    decoding folds case; see :mod:`buildsig.provenance.slsa`). Duplicate keys keep the
    last value, as Go does. Raises :class:`~buildsig.errors.InvalidDocumentError` for
    oversized input (``max_size`` bytes), malformed JSON or UTF-8, and every shape
    violation, with ``path`` naming the offending value (``subject[0].digest.sha256``).
    """
    raw = bytes(data)
    doc = load_json(raw, max_size=max_size, lenient_utf8=False, what="statement")
    _expect(doc, dict, "an object", "(root)")

    if "_type" not in doc:
        raise InvalidDocumentError("required field is missing", path="_type")
    stmt_type = doc["_type"]
    _expect(stmt_type, str, "a string", "_type")
    if stmt_type not in STATEMENT_TYPES:
        raise InvalidDocumentError(
            f"unsupported statement type {stmt_type!r} (expected one of: "
            f"{', '.join(STATEMENT_TYPES)})",
            path="_type",
        )

    if "subject" not in doc:
        raise InvalidDocumentError("required field is missing", path="subject")
    subjects = doc["subject"]
    _expect(subjects, list, "an array", "subject")
    if not subjects:
        raise InvalidDocumentError("at least one subject is required", path="subject")
    parsed_subjects = tuple(_subject(s, f"subject[{i}]") for i, s in enumerate(subjects))

    if "predicateType" not in doc:
        raise InvalidDocumentError("required field is missing", path="predicateType")
    predicate_type = doc["predicateType"]
    _expect(predicate_type, str, "a string", "predicateType")
    if not predicate_type:
        raise InvalidDocumentError("predicate type must not be empty", path="predicateType")

    if "predicate" not in doc:
        raise InvalidDocumentError("required field is missing", path="predicate")
    predicate = doc["predicate"]
    _expect(predicate, dict, "an object", "predicate")

    return Statement(
        type=stmt_type,
        subjects=parsed_subjects,
        predicate_type=predicate_type,
        predicate=freeze(predicate),
        raw=raw,
    )

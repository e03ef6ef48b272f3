"""Property tests: hostile attestations and purls fail only with buildsig's errors, quickly."""

from __future__ import annotations

import contextlib
import json
import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from buildsig.errors import BuildsigError
from buildsig.model import ImageProvenance
from buildsig.provenance import (
    PREDICATE_SLSA_V02,
    PREDICATE_SLSA_V1,
    PREDICATE_TYPE_ANNOTATION,
    PackageURL,
    RawMaterial,
    Statement,
    materials_to_inputs,
    parse_provenance,
    parse_purl,
    parse_statement,
    purl_to_image_ref,
    select_provenance,
)
from buildsig.provenance._gojson import format_go_rfc3339_utc
from tests.provenance.helpers import BUILDX_V02_PREDICATE, BUILDX_V1_PREDICATE, dumps

pytestmark = pytest.mark.timeout(120)

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Keys the decoders look for, in assorted cases, so generated documents reach deep paths.
KEYS = [
    "_type",
    "subject",
    "name",
    "digest",
    "sha256",
    "predicateType",
    "predicate",
    "buildDefinition",
    "BuildType",
    "buildType",
    "externalParameters",
    "configSource",
    "request",
    "args",
    "build-arg:X",
    "resolvedDependencies",
    "uri",
    "runDetails",
    "builder",
    "id",
    "metadata",
    "startedOn",
    "buildStartedOn",
    "invocationId",
    "buildkit_completeness",
    "completeness",
    "materials",
    "invocation",
    "parameters",
    "content",
    "https://mobyproject.org/buildkit@v1#hermetic",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(
        [
            "",
            "2024-01-02T03:04:05Z",
            "2024-01-02T03:04:05.5+01:00",
            "pkg:docker/alpine@3.20?platform=linux%2Famd64",
            "https://github.com/o/r.git#v1",
            "https://example.com/f",
            "ab" * 32,
            PREDICATE_SLSA_V1,
            PREDICATE_SLSA_V02,
            "https://in-toto.io/Statement/v1",
        ]
    ),
    st.text(max_size=20),
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), children, max_size=6
        ),
    ),
    max_leaves=40,
)


def mutate(doc: Any, path: list[str | int], value: Any) -> Any:
    """``doc`` with the value at ``path`` replaced (paths that do not exist are created)."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(doc, dict) and isinstance(head, str):
        out = dict(doc)
        out[head] = mutate(doc.get(head), rest, value)
        return out
    if isinstance(doc, list) and isinstance(head, int) and doc:
        out_list = list(doc)
        out_list[head % len(doc)] = mutate(doc[head % len(doc)], rest, value)
        return out_list
    return doc


def paths_of(doc: Any, prefix: list[str | int] | None = None) -> list[list[str | int]]:
    prefix = prefix or []
    found = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            found += paths_of(v, [*prefix, k])
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            found += paths_of(v, [*prefix, i])
    return found


@st.composite
def mutated_predicates(draw: st.DrawFn) -> tuple[str, Any]:
    predicate_type = draw(st.sampled_from([PREDICATE_SLSA_V1, PREDICATE_SLSA_V02]))
    base = BUILDX_V1_PREDICATE if predicate_type == PREDICATE_SLSA_V1 else BUILDX_V02_PREDICATE
    doc: Any = json.loads(json.dumps(base))
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        path = draw(st.sampled_from(paths_of(doc)))
        doc = mutate(doc, path, draw(json_values))
    return predicate_type, doc


@FUZZ
@given(st.binary(max_size=400))
def test_statement_parser_on_random_bytes(data: bytes) -> None:
    try:
        stmt = parse_statement(data)
    except BuildsigError:
        return
    assert isinstance(stmt, Statement)


@FUZZ
@given(json_values, st.booleans())
def test_statement_parser_on_random_json(doc: Any, wrap: bool) -> None:
    if wrap:  # keep most of the statement valid so the deeper checks run
        doc = {
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"digest": {"sha256": "ab"}}],
            "predicateType": PREDICATE_SLSA_V1,
            "predicate": doc,
        }
    try:
        stmt = parse_statement(dumps(doc))
    except BuildsigError:
        return
    assert stmt.predicate_type == doc["predicateType"]


@FUZZ
@given(json_values, st.sampled_from([PREDICATE_SLSA_V1, PREDICATE_SLSA_V02, "x"]))
def test_provenance_parser_never_raises_on_random_predicates(doc: Any, predicate_type: str) -> None:
    prov = parse_provenance(predicate_type, doc, platform="linux/amd64")
    assert prov is None or isinstance(prov, ImageProvenance)
    if prov is not None:
        json.dumps(prov.to_dict())


@FUZZ
@given(mutated_predicates())
def test_provenance_parser_never_raises_on_mutated_predicates(case: tuple[str, Any]) -> None:
    predicate_type, doc = case
    prov = parse_provenance(predicate_type, doc, platform="linux/amd64")
    if prov is not None:
        assert prov.predicate_type == predicate_type
        json.dumps(prov.to_dict())


@FUZZ
@given(
    st.lists(
        st.tuples(
            st.sampled_from([PREDICATE_SLSA_V1, PREDICATE_SLSA_V02, "", "x"]),
            st.one_of(st.binary(max_size=60), json_values.map(dumps)),
        ),
        max_size=4,
    )
)
def test_finder_never_raises(blobs: list[tuple[str, bytes]]) -> None:
    annotated = [({PREDICATE_TYPE_ANNOTATION: t}, data) for t, data in blobs]
    prov = select_provenance(annotated, platform="linux/amd64")
    assert prov is None or isinstance(prov, ImageProvenance)


purl_text = st.one_of(
    st.text(max_size=60),
    st.text(alphabet="pkg:docker/@?#&=%2Fa0.-_AZ", max_size=60),
    st.builds(
        lambda ns, name, version, quals, sub: f"pkg:docker/{ns}{name}{version}{quals}{sub}",
        st.sampled_from(["", "library/", "ghcr.io/o/", "%zz/", "a//b/"]),
        st.text(alphabet="abcxyzABC019._-%", min_size=0, max_size=12),
        st.one_of(
            st.just(""), st.text(alphabet="@:sha256abcdef0123.%", max_size=20).map("@{}".format)
        ),
        st.lists(
            st.tuples(
                st.sampled_from(["platform", "digest", "Platform", "x", "", "1a"]),
                st.sampled_from(
                    [
                        "linux/amd64",
                        "linux%2Farm64",
                        "windows(10.0)/amd64",
                        "sha256:" + "a" * 64,
                        "",
                        "%",
                        "a=b",
                    ]
                ),
            ),
            max_size=3,
        ).map(lambda qs: ("?" + "&".join(f"{k}={v}" for k, v in qs)) if qs else ""),
        st.sampled_from(["", "#", "#a/./b", "#%2E%2e/x"]),
    ),
)


@FUZZ
@given(purl_text)
def test_purl_parser_only_raises_buildsig_errors(text: str) -> None:
    try:
        purl = parse_purl(text)
    except BuildsigError:
        pass
    else:
        assert isinstance(purl, PackageURL)
        assert purl.name
    try:
        ref, platform = purl_to_image_ref(text)
    except BuildsigError:
        return
    assert ref.tag or ref.digest  # never a bare repository
    assert platform is None or platform.os_version == ""


@FUZZ
@given(
    st.one_of(purl_text, st.text(max_size=40)),
    st.dictionaries(st.sampled_from(["sha256", "sha1"]), st.text(max_size=70), max_size=2),
)
def test_materials_only_warn(uri: str, digest: dict[str, str]) -> None:
    inputs, warnings = materials_to_inputs([RawMaterial(uri=uri, digest=digest)], "linux/amd64")
    assert len(inputs) + len(warnings) == 1


@settings(max_examples=400, deadline=None)
@given(
    st.datetimes(
        min_value=datetime(2, 1, 1),
        max_value=datetime(9998, 12, 31),
    ),
    st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59),
    st.sampled_from(["", ".0", ".5", ".123456789", ".9999999999"]),
)
def test_time_reformatting_agrees_with_datetime(
    moment: datetime, offset_minutes: int, fraction: str
) -> None:
    zone = timezone(timedelta(minutes=offset_minutes))
    local = moment.replace(microsecond=0, tzinfo=zone)
    text = local.isoformat().replace("+00:00", "Z")
    text = text[:19] + fraction + text[19:]
    utc = local.astimezone(UTC)
    expected = f"{utc.year:04d}-" + utc.strftime("%m-%dT%H:%M:%SZ")
    assert format_go_rfc3339_utc(text) == expected


def test_pathological_inputs_are_fast() -> None:
    cases = [
        b"[" * 200_000,
        b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        b'"' + b"\\ud800" * 100_000 + b'"',
        dumps({"predicateType": PREDICATE_SLSA_V1, "predicate": {"k": ["x"] * 200_000}}),
    ]
    for data in cases:
        start = time.perf_counter()
        with contextlib.suppress(BuildsigError):
            parse_statement(data)
        select_provenance([({PREDICATE_TYPE_ANNOTATION: PREDICATE_SLSA_V1}, data)])
        assert time.perf_counter() - start < 5
    start = time.perf_counter()
    for text in ("pkg:docker/" + "a/" * 20_000 + "b", "pkg:docker/a?" + "k=v&" * 20_000 + "k=v"):
        with contextlib.suppress(BuildsigError):
            purl_to_image_ref(text)
    assert time.perf_counter() - start < 5

"""The input model: Buildx's JSON names, order and omit rules; strict loading; the schema."""

from __future__ import annotations

import dataclasses
import json
import pickle
import typing
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from buildsig import (
    HTTP,
    Actor,
    AttestationSignature,
    ChecksumResponse,
    Commit,
    Decision,
    Env,
    Git,
    Image,
    ImageProvenance,
    Input,
    InvalidDocumentError,
    Local,
    PGPSignature,
    ProvenanceCompleteness,
    ProvenanceConfigSource,
    SignerInfo,
    SSHSignature,
    Tag,
    Timestamp,
    input_json_schema,
)
from buildsig._internal import serde

# --- exact JSON shapes -----------------------------------------------------------------------


def test_empty_input_serialises_to_empty_object() -> None:
    # Env is omitzero in Buildx: an all-zero env disappears entirely, depth included.
    assert Input().to_dict() == {}


def test_env_depth_is_never_omitted_once_env_is_set() -> None:
    assert Input(env=Env(filename="Dockerfile")).to_dict() == {
        "env": {"filename": "Dockerfile", "depth": 0}
    }
    assert Env(depth=3).to_dict() == {"depth": 3}


def test_env_field_order_and_names_follow_buildx() -> None:
    env = Env(
        args={"B": "2", "A": None},
        labels={"l": "v"},
        filename="app.Dockerfile",
        target="release",
        caps_request=True,
        depth=1,
    )
    text = env.to_json(indent=None)
    assert text == (
        '{"args":{"A":null,"B":"2"},"labels":{"l":"v"},"filename":"app.Dockerfile",'
        '"target":"release","capsRequest":true,"depth":1}'
    )


def test_image_omits_zero_fields_and_keeps_buildx_order() -> None:
    image = Image(
        ref="docker.io/library/alpine:latest",
        host="docker.io",
        repo="alpine",
        full_repo="docker.io/library/alpine",
        tag="latest",
        platform="linux/amd64",
        os="linux",
        arch="amd64",
    )
    assert list(image.to_dict()) == [
        "ref",
        "host",
        "repo",
        "fullRepo",
        "tag",
        "platform",
        "os",
        "arch",
    ]
    assert "isCanonical" not in image.to_dict()
    assert "checksum" not in image.to_dict()


def test_all_image_keys_when_populated() -> None:
    image = Image(
        ref="r",
        host="h",
        repo="p",
        full_repo="f",
        tag="t",
        platform="linux/arm/v7",
        os="linux",
        arch="arm",
        variant="v7",
        is_canonical=True,
        checksum="sha256:" + "a" * 64,
        created_time="2024-01-02T03:04:05Z",
        env=("PATH=/bin",),
        labels={"z": "1", "a": "2"},
        user="nobody",
        volumes=("/data",),
        working_dir="/w",
        has_provenance=True,
        provenance=ImageProvenance(predicate_type="https://slsa.dev/provenance/v1"),
        signatures=(AttestationSignature(kind="self-signed", type="bundle-v0.3"),),
    )
    data = image.to_dict()
    assert list(data) == [
        "ref",
        "host",
        "repo",
        "fullRepo",
        "tag",
        "platform",
        "os",
        "arch",
        "variant",
        "isCanonical",
        "checksum",
        "createdTime",
        "env",
        "labels",
        "user",
        "volumes",
        "workingDir",
        "hasProvenance",
        "provenance",
        "signatures",
    ]
    # Go sorts map keys when it marshals.
    assert list(data["labels"]) == ["a", "z"]


def test_git_keys_and_order() -> None:
    git = Git(
        schema="https",
        host="github.com",
        remote="https://github.com/o/r.git",
        full_url="https://github.com/o/r.git",
        tag_name="v1",
        branch="b",
        ref="refs/tags/v1",
        sub_dir="docs",
        is_commit_ref=True,
        is_sha256=True,
        checksum="c",
        commit_checksum="d",
        is_annotated_tag=True,
        tag=Tag(object="o"),
        commit=Commit(tree="t"),
    )
    assert list(git.to_dict()) == [
        "schema",
        "host",
        "remote",
        "fullURL",
        "tagName",
        "branch",
        "ref",
        "subDir",
        "isCommitRef",
        "isSHA256",
        "checksum",
        "commitChecksum",
        "isAnnotatedTag",
        "tag",
        "commit",
    ]


def test_commit_and_tag_shapes() -> None:
    when = datetime(2023, 11, 14, 22, 13, 20, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    commit = Commit(
        tree="t" * 40,
        parents=("p1", "p2"),
        author=Actor(name="Alice", email="alice@example.com", when=when),
        message="hello",
        pgp_signature=PGPSignature(version=4, key_id="0123456789abcdef"),
    )
    assert commit.to_dict() == {
        "tree": "t" * 40,
        "parents": ["p1", "p2"],
        "author": {
            "name": "Alice",
            "email": "alice@example.com",
            "when": "2023-11-14T22:13:20+05:30",
        },
        "message": "hello",
        "pgpSignature": {"version": 4, "keyID": "0123456789abcdef"},
    }
    tag = Tag(
        object="o",
        type="commit",
        tag="v1",
        tagger=Actor(name="C", when=datetime(2023, 1, 1, tzinfo=UTC)),
        ssh_signature=SSHSignature(version=1, pub_key="SHA256:abc"),
    )
    assert tag.to_dict() == {
        "object": "o",
        "type": "commit",
        "tag": "v1",
        "tagger": {"name": "C", "when": "2023-01-01T00:00:00Z"},
        "sshSignature": {"version": 1, "pubKey": "SHA256:abc"},
    }


def test_actor_without_time_or_zero_actor() -> None:
    assert Commit(tree="t").to_dict() == {"tree": "t"}  # author/committer are omitzero
    assert Actor(name="n").to_dict() == {"name": "n"}


def test_signer_always_has_issuer_and_san() -> None:
    assert SignerInfo().to_dict() == {"certificateIssuer": "", "subjectAlternativeName": ""}
    signer = SignerInfo(
        certificate_issuer="CN=sigstore-intermediate,O=sigstore.dev",
        subject_alternative_name="https://github.com/o/r/.github/workflows/w.yml@refs/heads/main",
        issuer="https://token.actions.githubusercontent.com",
        build_signer_uri="b",
        source_repository_visibility_at_signing="public",
    )
    assert list(signer.to_dict()) == [
        "certificateIssuer",
        "subjectAlternativeName",
        "issuer",
        "buildSignerURI",
        "sourceRepositoryVisibilityAtSigning",
    ]


def test_timestamps_have_no_omitempty_inside() -> None:
    ts = Timestamp(type="Tlog", uri="", timestamp=datetime(2024, 2, 3, 4, 5, 6, tzinfo=UTC))
    assert ts.to_dict() == {"type": "Tlog", "uri": "", "timestamp": "2024-02-03T04:05:06Z"}


def test_provenance_pointer_bools_keep_false() -> None:
    prov = ImageProvenance(
        predicate_type="https://slsa.dev/provenance/v0.2",
        config_source=ProvenanceConfigSource(),
        reproducible=False,
        hermetic=False,
        completeness=ProvenanceCompleteness(parameters=False, materials=True),
    )
    assert prov.to_dict() == {
        "predicateType": "https://slsa.dev/provenance/v0.2",
        "configSource": {},
        "reproducible": False,
        "hermetic": False,
        "completeness": {"parameters": False, "materials": True},
    }


def test_materials_are_nested_inputs() -> None:
    material = Input(image=Image(ref="docker.io/library/alpine:3.20"), unknowns=("image.labels",))
    root = Input(
        image=Image(ref="x", provenance=ImageProvenance(materials=(material,))),
        unknowns=("image.signatures",),
    )
    assert root.to_dict()["image"]["provenance"]["materials"] == [
        {"image": {"ref": "docker.io/library/alpine:3.20"}}
    ]
    assert root.unknown_refs() == [
        "input.image.signatures",
        "input.image.provenance.materials[0].image.labels",
    ]


def test_with_env_sets_depth_on_materials() -> None:
    material = Input(local=Local(name="m"))
    root = Input(image=Image(provenance=ImageProvenance(materials=(material,))))
    out = root.with_env(Env(filename="Dockerfile"))
    assert out.env.depth == 0
    assert out.image is not None and out.image.provenance is not None
    assert out.image.provenance.materials[0].env == Env(filename="Dockerfile", depth=1)


def test_decision_shape() -> None:
    assert Decision(allow=False, deny_msg=("no",)).to_dict() == {"allow": False, "deny_msg": ["no"]}
    assert Decision().to_dict() == {}


def test_hidden_fields_are_not_serialised_nor_compared() -> None:
    http = HTTP(url="u", checksum_response=ChecksumResponse(digest="sha256:x", suffix=b"\x04\xff"))
    assert http.to_dict() == {"url": "u"}
    assert http == HTTP(url="u")
    commit = Commit(tree="t", raw=b"tree t\n")
    assert commit == Commit(tree="t")
    assert "raw" not in repr(commit)


def test_go_compatible_text() -> None:
    # Go's encoder escapes <, > and & (HTML-safe) and writes other non-ASCII as UTF-8.
    actor = Actor(name="Zoë <&>", email="z@e")
    assert actor.to_json(indent=None) == '{"name":"Zoë \\u003c\\u0026\\u003e","email":"z@e"}'
    assert json.loads(actor.to_json()) == {"name": "Zoë <&>", "email": "z@e"}
    assert Local(name="c").to_json() == '{\n  "name": "c"\n}'


def test_fractional_seconds_are_trimmed_like_go() -> None:
    when = datetime(2024, 1, 1, 0, 0, 0, 120000, tzinfo=timezone(-timedelta(hours=8)))
    assert Actor(when=when).to_dict() == {"when": "2024-01-01T00:00:00.12-08:00"}


def test_collections_are_immutable_and_inputs_hashable() -> None:
    image = Image(labels={"a": "b"}, env=["A=1"])  # type: ignore[arg-type]
    assert image.env == ("A=1",)
    with pytest.raises(TypeError):
        image.labels["a"] = "c"  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        image.ref = "x"  # type: ignore[misc]
    assert hash(Input(image=image)) == hash(Input(image=Image(labels={"a": "b"}, env=("A=1",))))


def test_models_pickle() -> None:
    inp = Input(git=Git(commit=Commit(tree="t", parents=("a",))), unknowns=("git.tag",))
    back = pickle.loads(pickle.dumps(inp))
    assert back == inp
    assert back.unknowns == ("git.tag",)


# --- strict loading --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("doc", "path", "fragment"),
    [
        ({"imgae": {}}, "imgae", "unknown field"),
        ({"image": {"ref": 1}}, "image.ref", "expected a string, got a number"),
        ({"image": {"isCanonical": "yes"}}, "image.isCanonical", "expected a boolean"),
        ({"image": {"labels": {"a": 1}}}, "image.labels.a", "expected a string"),
        ({"image": {"labels": []}}, "image.labels", "expected an object"),
        ({"image": {"env": "A=1"}}, "image.env", "expected an array"),
        ({"env": {"depth": True}}, "env.depth", "expected an integer"),
        ({"env": {"depth": 1.5}}, "env.depth", "expected an integer"),
        (
            {"git": {"commit": {"author": {"when": "yesterday"}}}},
            "git.commit.author.when",
            "RFC 3339",
        ),
        (
            {"git": {"commit": {"author": {"when": "2024-01-01T00:00:00"}}}},
            "git.commit.author.when",
            "RFC 3339",
        ),
        (
            {"image": {"signatures": [{"timestamps": [{"type": "Tlog", "uri": ""}]}]}},
            "image.signatures[0].timestamps[0].timestamp",
            "required",
        ),
        (
            {"image": {"provenance": {"materials": [{"image": {"bogus": 1}}]}}},
            "image.provenance.materials[0].image.bogus",
            "unknown field",
        ),
        ([], "(root)", "expected an object"),
    ],
)
def test_from_dict_rejects_with_a_path(doc: Any, path: str, fragment: str) -> None:
    with pytest.raises(InvalidDocumentError) as info:
        Input.from_dict(doc)
    assert info.value.path == path
    assert fragment in str(info.value)
    assert isinstance(info.value, ValueError)


def test_from_json_rejects_bad_json() -> None:
    with pytest.raises(InvalidDocumentError, match="not valid JSON"):
        Input.from_json("{")
    with pytest.raises(InvalidDocumentError, match="not valid JSON"):
        Input.from_json("[" * 100_000)


def test_from_dict_reads_null_as_zero_like_go() -> None:
    assert Input.from_dict(
        {"image": {"ref": None, "labels": None}, "env": {"args": {"A": None}}}
    ) == (Input(image=Image(), env=Env(args={"A": None})))


def test_from_dict_accepts_integral_floats_for_ints() -> None:
    assert Env.from_dict({"depth": 2.0}).depth == 2


# --- properties over generated models --------------------------------------------------------

_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
_times = st.datetimes(
    min_value=datetime(1970, 1, 1),
    max_value=datetime(2200, 1, 1),
    timezones=st.sampled_from(
        [UTC, timezone(timedelta(hours=-7)), timezone(timedelta(minutes=330))]
    ),
)


def _strategy(tp: Any, depth: int) -> st.SearchStrategy[Any]:
    inner, optional = serde._unwrap_optional(tp)
    if optional:
        return st.none() | _strategy(inner, depth)
    origin = typing.get_origin(tp)
    if tp is str:
        return _text
    if tp is bool:
        return st.booleans()
    if tp is int:
        return st.integers(min_value=0, max_value=2**31)
    if tp is datetime:
        return _times
    if origin is tuple:
        return st.lists(_strategy(typing.get_args(tp)[0], depth), max_size=3).map(tuple)
    if origin is Mapping:
        return st.dictionaries(_text, _strategy(typing.get_args(tp)[1], depth), max_size=3)
    if tp is Input and depth <= 0:
        return st.just(Input())
    if dataclasses.is_dataclass(tp):
        kwargs = {f.name: _strategy(f.type, depth - 1) for f in serde.fields_of(tp) if not f.hidden}
        return st.builds(tp, **kwargs)
    raise TypeError(tp)


inputs = _strategy(Input, 4)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inputs)
def test_round_trip(inp: Input) -> None:
    assert Input.from_dict(inp.to_dict()) == inp
    assert Input.from_json(inp.to_json()) == inp
    assert Input.from_json(inp.to_json(indent=None)) == inp


_validator = jsonschema.Draft202012Validator(
    input_json_schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inputs)
def test_every_serialised_input_validates_against_the_schema(inp: Input) -> None:
    _validator.validate(json.loads(inp.to_json()))


def test_schema_is_valid_and_describes_fields() -> None:
    schema = input_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    image = schema["$defs"]["Image"]
    assert image["additionalProperties"] is False
    assert "fullRepo" in image["properties"]
    assert image["properties"]["fullRepo"]["description"]
    assert schema["$defs"]["Env"]["required"] == ["depth"]
    assert schema["$defs"]["SignerInfo"]["required"] == [
        "certificateIssuer",
        "subjectAlternativeName",
    ]
    # materials recurse into Input
    materials = schema["$defs"]["ImageProvenance"]["properties"]["materials"]
    assert materials == {
        "type": "array",
        "items": {"$ref": "#/$defs/Input"},
        "description": materials["description"],
    }


def test_schema_rejects_what_buildx_would_never_send() -> None:
    with pytest.raises(jsonschema.ValidationError):
        _validator.validate({"image": {"ref": 1}})
    with pytest.raises(jsonschema.ValidationError):
        _validator.validate({"env": {"filename": "Dockerfile"}})  # depth missing
    with pytest.raises(jsonschema.ValidationError):
        _validator.validate({"git": {"unknown": True}})

"""Hostile input to the parsers this project wrote: only BuildsigError may come out, quickly."""

from __future__ import annotations

import json
import time
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from buildsig import BuildsigError, Commit, Tag
from buildsig.git.objects import parse_git_object, to_model
from buildsig.oci.manifest import parse_config, parse_index, parse_manifest
from buildsig.oci.store import Manifest


def outcome(call: Any) -> Any:
    """The call's result, or None when it raised a BuildsigError (anything else fails)."""
    try:
        return call()
    except BuildsigError as exc:
        message = str(exc)
    if not message:  # an error must say what was wrong
        raise AssertionError("BuildsigError without a message")
    return None


FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_header_lines = st.lists(
    st.sampled_from(
        [
            b"tree " + b"a" * 40,
            b"parent " + b"b" * 40,
            b"author A <a@b> 1 +0000",
            b"committer C <c@d> 99999999999999999999 -9999",
            b"object " + b"c" * 40,
            b"type commit",
            b"tag v1",
            b"tagger T <t@t> x y",
            b"gpgsig -----BEGIN SSH SIGNATURE-----",
            b" AAAA",
            b"-----BEGIN PGP SIGNATURE-----",
            b"",
            b"\xff\xfe garbage",
        ]
    ),
    max_size=12,
)


@FAST
@given(_header_lines, st.binary(max_size=200))
def test_git_objects(lines: list[bytes], tail: bytes) -> None:
    raw = b"\n".join(lines) + b"\n" + tail
    started = time.monotonic()
    model = outcome(lambda: to_model(parse_git_object(raw)))
    assert model is None or isinstance(model, (Commit, Tag))
    assert time.monotonic() - started < 2


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=25,
)
_keys = st.sampled_from(
    [
        "mediaType",
        "manifests",
        "config",
        "layers",
        "subject",
        "annotations",
        "artifactType",
        "digest",
        "size",
        "platform",
    ]
)
_shaped = st.dictionaries(_keys, _json, max_size=6)


def _manifest(doc: Any) -> Manifest:
    return Manifest(raw=json.dumps(doc).encode(), media_type="", digest="sha256:" + "0" * 64)


@FAST
@given(_shaped | _json)
def test_indexes_and_manifests(doc: Any) -> None:
    index = outcome(lambda: parse_index(_manifest(doc)))
    assert index is None or all(d.digest.startswith("sha") for d in index.manifests)
    manifest = outcome(lambda: parse_manifest(_manifest(doc)))
    assert manifest is None or manifest.config.digest.startswith("sha")


@FAST
@given(
    st.dictionaries(
        st.sampled_from(["created", "config", "os", "architecture"]), _json | _shaped, max_size=4
    )
)
def test_configs(doc: Any) -> None:
    config = outcome(lambda: parse_config(json.dumps(doc).encode()))
    assert config is None or all(isinstance(v, str) for v in config.labels.values())


@FAST
@given(st.binary(max_size=300))
def test_raw_bytes_everywhere(data: bytes) -> None:
    model = outcome(lambda: to_model(parse_git_object(data)))
    assert model is None or isinstance(model, (Commit, Tag))
    index = outcome(
        lambda: parse_index(Manifest(raw=data, media_type="", digest="sha256:" + "0" * 64))
    )
    assert index is None or isinstance(index.manifests, tuple)
    config = outcome(lambda: parse_config(data))
    assert config is None or isinstance(config.env, tuple)
    from buildsig.policy.source import SourcePolicy, parse_source_policy

    policy = outcome(lambda: parse_source_policy(data))
    assert policy is None or isinstance(policy, SourcePolicy)


_policy_keys = st.sampled_from(
    ["rules", "version", "action", "selector", "updates", "identifier", "match_type",
     "constraints", "key", "value", "condition", "attrs", "sources", "type", "ref", "pin"]
)  # fmt: skip
_policy_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.sampled_from(["ALLOW", "CONVERT", "EXACT",
    "REGEX", "MATCHES", "*", "(", "a**", "$1", "docker-image://*"]) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_policy_keys, inner, max_size=4),
    max_leaves=30,
)  # fmt: skip


@FAST
@given(_policy_json, st.sampled_from(["docker-image://x", "*", "(", "", "a**"]))
def test_source_policies(doc: Any, identifier: str) -> None:
    from buildsig.policy.source import SourcePolicyEngine, parse_source_policy

    started = time.monotonic()
    policy = outcome(lambda: parse_source_policy(json.dumps(doc)))
    if policy is not None:
        result = outcome(lambda: SourcePolicyEngine([policy]).evaluate(identifier, {"k": "v"}))
        assert result is None or result.action in ("ALLOW", "DENY")
    assert time.monotonic() - started < 2

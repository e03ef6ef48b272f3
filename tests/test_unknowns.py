"""Unknown fields to metadata requests (Buildx's AddUnknowns / trimKey / collectUnknowns)."""

from __future__ import annotations

import pytest

from buildsig import InvalidInputError, metadata_request, needed_unknowns, source_to_input
from buildsig.unknowns import (
    PROVENANCE_PREDICATE_TYPES,
    GitRequest,
    ImageRequest,
    MetadataRequest,
    trim_key,
)


@pytest.mark.parametrize(
    ("ref", "key"),
    [
        ("input.image.labels", "image.labels"),
        ('input.image.labels["org.opencontainers.image.vendor"]', "image.labels"),
        ("input.git.tag.author.email", "git.tag"),
        ("input.image", "image"),
        (
            "input.image.provenance.materials[0].image.labels",
            "image.provenance.materials[0].image.labels",
        ),
        ("image.signatures[0].signer", "image.signatures"),
        ("input.", ""),
    ],
)
def test_trim_key(ref: str, key: str) -> None:
    assert trim_key(ref) == key


def test_empty_and_parent_keys_need_nothing() -> None:
    assert not metadata_request([])
    assert not metadata_request(["image", "git", "http", "local"])


def test_config_field_requests_config() -> None:
    assert metadata_request(["image.labels"]) == MetadataRequest(image=ImageRequest(config=True))
    assert metadata_request(["image.checksum"]).image == ImageRequest(config=True)


def test_signatures_request_chain_without_config() -> None:
    assert metadata_request(["image.signatures"]).image == ImageRequest(
        attestation_chain=True, signatures=True
    )
    assert metadata_request(["image.hasProvenance"]).image == ImageRequest(attestation_chain=True)


@pytest.mark.parametrize("key", ["image.provenance", "image.provenance.materials[0].image.labels"])
def test_provenance_requests_attestation_blobs(key: str) -> None:
    assert metadata_request([key]).image == ImageRequest(
        attestation_chain=True, attestation_predicates=PROVENANCE_PREDICATE_TYPES
    )


def test_requests_merge() -> None:
    req = metadata_request(["image.provenance", "image.user", "image.provenance"])
    assert req.image == ImageRequest(
        config=True, attestation_chain=True, attestation_predicates=PROVENANCE_PREDICATE_TYPES
    )


def test_git_requests() -> None:
    assert metadata_request(["git.ref"]) == MetadataRequest(git=GitRequest(objects=False))
    assert metadata_request(["git.ref", "git.commit"]).git == GitRequest(objects=True)
    assert metadata_request(["git.tag", "git.checksum"]).git == GitRequest(objects=True)


def test_http_checksum() -> None:
    req = metadata_request(["http.checksum"])
    assert req.http_checksum and req.image is None and req.git is None
    assert req


@pytest.mark.parametrize("key", ["input.image.labels", "image.bogus", "local.name"])
def test_unhandled_keys_are_errors(key: str) -> None:
    with pytest.raises(InvalidInputError, match=f"unhandled unknown property {key}"):
        metadata_request([key])


def test_needed_unknowns_matches_on_component_boundaries() -> None:
    unknowns = ["image.labels", "foo.bar", "image.provenance.materials[1]"]
    refs = [
        'input.image.labels["k"]',
        "input.foo.b",
        "input.image.provenance.materials[10].image.ref",
        "input.image.provenance.materials[1].image.ref",
        "input.image.labels",
    ]
    assert needed_unknowns(refs, unknowns) == ["image.labels", "image.provenance.materials[1]"]


def test_end_to_end_from_a_source() -> None:
    inp = source_to_input("docker-image://alpine:3", platform="linux/amd64")
    needed = needed_unknowns(["input.image.labels.maintainer", "input.image.repo"], inp.unknowns)
    assert needed == ["image.labels"]
    assert metadata_request(needed) == MetadataRequest(image=ImageRequest(config=True))

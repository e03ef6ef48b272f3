"""Signature discovery in every layout, from a real registry (referrers-tag fallback) and layouts.

Each scenario is one tagged image in one SignedKit, pushed to Debian's docker-registry
2.8 and written as an OCI layout, so both stores answer the same questions.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from buildsig._internal.platform import parse_platform
from buildsig._internal.reference import parse_image_reference
from buildsig.errors import DigestMismatchError, NetworkError, NotFoundError
from buildsig.oci.layout import OCILayout
from buildsig.oci.manifest import parse_index
from buildsig.oci.registry import RegistryClient
from buildsig.oci.resolve import ImageResolution, resolve_image
from buildsig.oci.signatures import (
    LAYOUT_COSIGN_BUNDLE,
    LAYOUT_COSIGN_LEGACY,
    LAYOUT_DHI,
    LAYOUT_DOCKER,
    MAX_SIGNATURE_BYTES,
    SignatureDiscovery,
    find_signatures,
    is_dhi_index,
)
from buildsig.oci.store import Descriptor, ImageStore, Manifest, Repository
from buildsig.unknowns import ImageRequest
from tests.oci.imagekit import (
    DOCKER_MANIFEST,
    IN_TOTO,
    OCI_EMPTY,
    OCI_MANIFEST,
    SLSA_V02,
    SLSA_V1,
    ImageKit,
    canonical,
    digest_of,
    statement,
)
from tests.oci.registryd import RunningRegistry
from tests.oci.signedkit import (
    ANN_BUNDLE,
    ANN_CERTIFICATE,
    ANN_SIGNATURE,
    COSIGN_SIG,
    SIGSTORE_BUNDLE,
    SIMPLE_SIGNING,
    SigLayer,
    SignedKit,
    bundle_layer,
    read_dir_signature,
    sample_bundle,
    sample_simple_signing,
    simple_signing_layer,
    simple_signing_payload,
)

CHAIN = ImageRequest(attestation_chain=True)
AMD64 = "linux/amd64"
SPDX = "https://spdx.dev/Document"

#: Real bytes when shared/data is there; generated stand-ins keep every path tested without.
BUNDLE = sample_bundle() or canonical(
    {"mediaType": SIGSTORE_BUNDLE, "verificationMaterial": {}, "dsseEnvelope": {}}
)


def simple_layer(digest: str, *, certificate: bool = True) -> SigLayer:
    """A simple-signing layer: the real sample's annotations, a payload naming ``digest``."""
    sample = sample_simple_signing()
    annotations = (
        dict(sample.annotations)
        if sample is not None
        else {ANN_SIGNATURE: "MEUCIQ==", ANN_CERTIFICATE: "-----BEGIN CERTIFICATE-----\n"}
    )
    if not certificate:
        annotations.pop(ANN_CERTIFICATE, None)
        annotations.pop("dev.sigstore.cosign/chain", None)
    return simple_signing_layer(simple_signing_payload(digest), annotations)


# --- the scenarios -----------------------------------------------------------------------


@dataclass
class Fixtures:
    kit: SignedKit
    d: dict[str, Any] = field(default_factory=dict)  # named descriptors


def build() -> Fixtures:
    sk = SignedKit()
    fx = Fixtures(sk)
    d = fx.d

    # Buildx's layout: a cosign signature pushed first, then a bundle (preferred anyway)
    img = sk.buildkit_image("docker")
    att = img.attestations[AMD64]
    d["docker.att"] = att
    d["docker.sig"] = sk.docker_signature(att, simple_layer(att["digest"]))
    d["docker.bundle"] = sk.docker_signature(att, bundle_layer(BUNDLE))
    d["docker.arm64.bundle"] = sk.docker_signature(
        img.attestations["linux/arm64/v8"], bundle_layer(BUNDLE + b" ")
    )

    # legacy attestation form (no subject): Buildx cannot use its signatures
    img = sk.buildkit_image("legacy-att", form="legacy")
    d["legacy-att.att"] = img.attestations[AMD64]
    d["legacy-att.bundle"] = sk.docker_signature(img.attestations[AMD64], bundle_layer(BUNDLE))

    # an attestation without SLSA provenance
    img = sk.buildkit_image("no-slsa", predicate_type=SPDX)
    d["no-slsa.att"] = img.attestations[AMD64]
    sk.docker_signature(img.attestations[AMD64], bundle_layer(BUNDLE))

    # an attestation whose subject has the wrong size
    amd64 = sk.kit.image("linux", "amd64", labels={"tag": "att-size"})
    att = sk.kit.attestation(
        {**amd64, "size": amd64["size"] + 1}, [(SLSA_V1, statement(SLSA_V1, amd64["digest"], {}))]
    )
    sk.kit.tag("att-size", sk.kit.index([amd64, att]))
    d["att-size.att"] = att
    sk.docker_signature(att, bundle_layer(BUNDLE))

    # structural mismatches on signature manifests, and one good signature among them
    img = sk.buildkit_image("mismatch")
    att, other = img.attestations[AMD64], img.attestations["linux/arm64/v8"]
    d["mismatch.att"] = att
    layer = bundle_layer(BUNDLE)
    d["mismatch.digest"] = sk.docker_signature(
        att,
        layer,
        subject_field={
            "mediaType": att["mediaType"],
            "digest": other["digest"],
            "size": att["size"],
        },
    )
    d["mismatch.size"] = sk.docker_signature(
        att,
        layer,
        subject_field={"mediaType": att["mediaType"], "digest": att["digest"], "size": 7},
    )
    d["mismatch.type"] = sk.docker_signature(
        att,
        layer,
        subject_field={"mediaType": DOCKER_MANIFEST, "digest": att["digest"], "size": att["size"]},
    )
    d["mismatch.nolayers"] = sk.signature(att, [], artifact_type=SIGSTORE_BUNDLE)
    d["mismatch.nosubject"] = sk.docker_signature(
        att, layer, annotations={"n": "1"}, edit=lambda obj: obj.pop("subject")
    )
    d["mismatch.badtype"] = sk.docker_signature(att, layer, artifact_type=COSIGN_SIG)
    d["mismatch.layer0"] = sk.signature(
        att, [SigLayer("application/json", b"{}")], artifact_type=SIGSTORE_BUNDLE
    )
    d["mismatch.good"] = sk.docker_signature(att, bundle_layer(BUNDLE + b"\n"))
    # listed as something else: not a signature for Buildx, ignored without a word
    sk.signature(att, [SigLayer(IN_TOTO, b"{}")], artifact_type="application/spdx+json")

    # cosign, every way: bundle, v3 (empty type, with and without artifactType),
    # experimental simple-signing referrer, .sig tags; and another tool's empty artifact
    img = sk.buildkit_image("cosign")
    index, amd64 = img.index, img.platforms[AMD64]
    d["cosign.index"], d["cosign.amd64"] = index, amd64
    d["cosign.bundle"] = sk.cosign_bundle(index, BUNDLE)
    d["cosign.v3-noat"] = sk.cosign_bundle(index, BUNDLE + b"  ", v3=True, artifact_type=None)
    d["cosign.other"] = sk.signature(
        index, [SigLayer("application/vnd.example.sbom+json", b"[]")], artifact_type=OCI_EMPTY
    )
    d["cosign.v3"] = sk.cosign_bundle(amd64, BUNDLE + b"   ", v3=True)
    d["cosign.sigref"] = sk.cosign_sig_referrer(index, [simple_layer(index["digest"])])
    d["cosign.sig-index"] = sk.legacy_sig(
        index["digest"], [simple_layer(index["digest"]), simple_layer(index["digest"] + " ")]
    )
    d["cosign.sig-amd64"] = sk.legacy_sig(amd64["digest"], [simple_layer(amd64["digest"])])
    # a v3 referrer whose subject is another image: listed, but a lie
    d["cosign.v3-wrong"] = sk.cosign_bundle(
        amd64, BUNDLE + b"    ", v3=True, subject_field={**index}
    )
    # a bundle referrer with two layers
    d["cosign.twolayers"] = sk.signature(
        index, [bundle_layer(BUNDLE), bundle_layer(BUNDLE + b"!")], artifact_type=SIGSTORE_BUNDLE
    )

    # Docker Hardened Images: attestation as a referrer, key-based simple signing
    img = sk.buildkit_image("dhi", dhi=True)
    att = img.attestations[AMD64]
    d["dhi.att"] = att
    d["dhi.sig"] = sk.docker_signature(att, simple_layer(att["digest"], certificate=False))
    # a DHI without its attestation referrer
    amd64 = sk.kit.image("linux", "amd64", labels={"tag": "dhi-noatt"})
    d["dhi-noatt.amd64"] = amd64
    sk.kit.tag(
        "dhi-noatt",
        sk.kit.index(
            [{**amd64, "annotations": {"com.docker.dhi.build.id": "b1"}}],
            annotations={"org.opencontainers.image.title": "dhi/noatt"},
        ),
    )
    # an index titled dhi/ with one entry lacking the build id: not DHI
    amd64 = sk.kit.image("linux", "amd64", labels={"tag": "almost-dhi"})
    sk.kit.tag(
        "almost-dhi",
        sk.kit.index(
            [{**amd64, "annotations": {"com.docker.dhi.build.id": ""}}],
            annotations={"org.opencontainers.image.title": "dhi/almost"},
        ),
    )

    # unsigned, BuildKit-style; and a single manifest signed by cosign only
    sk.buildkit_image("unsigned")
    single = sk.kit.image("linux", "amd64", labels={"tag": "single"})
    sk.kit.tag("single", single)
    d["single"] = single
    d["single.bundle"] = sk.cosign_bundle(single, BUNDLE)
    sk.refer(single["digest"], d["single.bundle"])  # listed twice (racy pushers): found once
    d["single.sig"] = sk.legacy_sig(single["digest"], [simple_layer(single["digest"])])
    unsigned_single = sk.kit.image("linux", "amd64", labels={"tag": "unsigned-single"})
    sk.kit.tag("unsigned-single", unsigned_single)

    # oversized layers: honest size over the cap, a lying small size, a lying large size
    img = sk.buildkit_image("oversize")
    att = img.attestations[AMD64]
    big = b"x" * (MAX_SIGNATURE_BYTES + 1)
    d["oversize.honest"] = sk.docker_signature(att, bundle_layer(big))
    d["oversize.liar"] = sk.docker_signature(
        att,
        bundle_layer(big),
        edit=lambda obj: obj["layers"][0].update(size=100),
    )
    d["oversize.short"] = sk.docker_signature(
        att,
        bundle_layer(BUNDLE),
        edit=lambda obj: obj["layers"][0].update(size=len(BUNDLE) + 10),
    )

    # malformed: a negative layer size (a registry stores it), an index listed as a
    # signature, a missing one, a .sig tag without simple-signing layers
    img = sk.buildkit_image("malformed")
    att, amd64 = img.attestations[AMD64], img.platforms[AMD64]
    d["malformed.att"] = att
    d["malformed.negative"] = sk.docker_signature(
        att, bundle_layer(BUNDLE), edit=lambda obj: obj["layers"][0].update(size=-1)
    )
    idx = sk.kit.index([amd64])
    d["malformed.index"] = {**idx, "artifactType": SIGSTORE_BUNDLE}
    sk.refer(att["digest"], d["malformed.index"])
    d["malformed.missing"] = sk.docker_signature(att, bundle_layer(BUNDLE + b"\t"))
    d["malformed.good"] = sk.docker_signature(att, bundle_layer(BUNDLE + b"\r"))
    d["malformed.sig"] = sk.legacy_sig(
        amd64["digest"], [SigLayer("application/octet-stream", b"not a payload")]
    )

    # a referrers tag that holds an image manifest, not an index
    single = sk.kit.image("linux", "amd64", labels={"tag": "bad-tag"})
    sk.kit.tag("bad-tag", single)
    d["bad-tag"] = single
    sk.kit.tags[single["digest"].replace(":", "-")] = sk.kit.image(
        "linux", "amd64", labels={"tag": "bad-tag-filler"}
    )["digest"]
    return fx


@pytest.fixture(scope="module")
def fixtures() -> Fixtures:
    fx = build()
    fx.kit.seal()
    return fx


@pytest.fixture(scope="module")
def layout_dir(fixtures: Fixtures, tmp_path_factory: pytest.TempPathFactory) -> Path:
    kit = fixtures.kit.kit
    layout = ImageKit(dict(kit.blobs), dict(kit.manifests), dict(kit.tags))
    # a layout can carry truly malformed JSON (a registry refuses it): listed as bundles
    att = fixtures.d["malformed.att"]["digest"]
    entries = list(fixtures.kit.referrers[att])
    for raw in (b"{not json", b"[1, 2]"):
        digest = digest_of(raw)
        layout.manifests[digest] = (OCI_MANIFEST, raw)
        entries.append(
            {"mediaType": OCI_MANIFEST, "digest": digest, "size": len(raw)}
            | {"artifactType": SIGSTORE_BUNDLE}
        )
    layout.referrers_tag(att, entries)
    # the referrer deleted from the registry is missing here too
    del layout.manifests[fixtures.d["malformed.missing"]["digest"]]
    return layout.write_layout(tmp_path_factory.mktemp("signed-layout"))


@pytest.fixture(scope="module")
def registry_repo(anon_registry: RunningRegistry, fixtures: Fixtures) -> Repository:
    repo = anon_registry.repo("sig/app")
    with RegistryClient() as client:
        fixtures.kit.push(client, repo)
    # a referrer listed in the referrers tag but deleted from the registry since
    missing = fixtures.d["malformed.missing"]["digest"]
    req = urllib.request.Request(
        f"http://{anon_registry.host}/v2/sig/app/manifests/{missing}", method="DELETE"
    )
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - the test registry
        assert resp.status == 202
    return repo


@dataclass
class Where:
    """One store and how references name images in it."""

    name: str
    store: ImageStore
    prefix: str

    def resolve(
        self, tag: str, request: ImageRequest = CHAIN, platform: str = AMD64
    ) -> ImageResolution:
        ref = parse_image_reference(f"{self.prefix}:{tag}")
        return resolve_image(self.store, ref, parse_platform(platform), request=request)

    def find(self, tag: str, **kwargs: Any) -> SignatureDiscovery:
        return find_signatures(self.store, self.resolve(tag), **kwargs)


@pytest.fixture(params=["registry", "layout"])
def where(request: pytest.FixtureRequest) -> Iterator[Where]:
    if request.param == "layout":
        yield Where("layout", OCILayout(request.getfixturevalue("layout_dir")), "sig/app")
        return
    repo: Repository = request.getfixturevalue("registry_repo")
    with RegistryClient(timeout=10.0) as client:
        yield Where("registry", client, str(repo))


def reasons(found: SignatureDiscovery) -> dict[str, str]:
    return {s.digest: s.reason for s in found.skipped}


# --- each layout found -------------------------------------------------------------------


def test_docker_layout_prefers_the_bundle(where: Where, fixtures: Fixtures) -> None:
    d = fixtures.d
    found = where.find("docker")
    assert not found.is_dhi
    assert found.attestation_manifest is not None
    assert found.attestation_manifest.digest == d["docker.att"]["digest"]
    assert [(c.layout, c.digest) for c in found.candidates] == [
        (LAYOUT_DOCKER, d["docker.bundle"]["digest"]),
        (LAYOUT_DOCKER, d["docker.sig"]["digest"]),
    ]
    assert found.buildx_choice == d["docker.bundle"]["digest"]
    bundle, sig = found.candidates
    assert bundle.subject == found.attestation_manifest
    assert bundle.artifact_type == SIGSTORE_BUNDLE
    assert [layer.blob for layer in bundle.layers] == [BUNDLE]
    assert bundle.layers[0].descriptor.media_type == SIGSTORE_BUNDLE
    assert sig.artifact_type == COSIGN_SIG
    (layer,) = sig.layers
    assert layer.descriptor.media_type == SIMPLE_SIGNING
    assert layer.descriptor.annotations == simple_layer(d["docker.att"]["digest"]).annotations
    assert ANN_SIGNATURE in layer.descriptor.annotations
    assert d["docker.att"]["digest"].encode() in layer.blob
    assert found.skipped == () and not found.truncated


def test_other_platform_has_its_own_chain(where: Where, fixtures: Fixtures) -> None:
    resolution = where.resolve("docker", platform="linux/arm64")
    found = find_signatures(where.store, resolution)
    assert [c.digest for c in found.candidates] == [fixtures.d["docker.arm64.bundle"]["digest"]]


def test_cosign_layouts(where: Where, fixtures: Fixtures) -> None:
    d = fixtures.d
    found = where.find("cosign")
    assert [(c.layout, c.digest) for c in found.candidates] == [
        (LAYOUT_COSIGN_BUNDLE, d["cosign.bundle"]["digest"]),
        (LAYOUT_COSIGN_BUNDLE, d["cosign.v3-noat"]["digest"]),
        (LAYOUT_COSIGN_BUNDLE, d["cosign.v3"]["digest"]),
        (LAYOUT_COSIGN_LEGACY, d["cosign.sigref"]["digest"]),
        (LAYOUT_COSIGN_LEGACY, d["cosign.sig-index"]["digest"]),
        (LAYOUT_COSIGN_LEGACY, d["cosign.sig-amd64"]["digest"]),
    ]
    by_digest = {c.digest: c for c in found.candidates}
    index, amd64 = d["cosign.index"]["digest"], d["cosign.amd64"]["digest"]
    assert by_digest[d["cosign.bundle"]["digest"]].subject.digest == index
    v3 = by_digest[d["cosign.v3"]["digest"]]
    assert (v3.subject.digest, v3.artifact_type) == (amd64, OCI_EMPTY)
    assert by_digest[d["cosign.v3-noat"]["digest"]].artifact_type == ""
    assert by_digest[d["cosign.sigref"]["digest"]].artifact_type == COSIGN_SIG
    legacy = by_digest[d["cosign.sig-index"]["digest"]]
    assert (legacy.subject.digest, legacy.artifact_type) == (index, "")
    assert len(legacy.layers) == 2  # one per signature
    assert all(layer.descriptor.media_type == SIMPLE_SIGNING for layer in legacy.layers)
    assert by_digest[d["cosign.sig-amd64"]["digest"]].subject.digest == amd64
    # no docker chain signatures; the unrelated empty-typed artifact is not mentioned
    assert found.buildx_choice == ""
    assert reasons(found).keys() == {
        d["cosign.v3-wrong"]["digest"],
        d["cosign.twolayers"]["digest"],
    }
    assert "does not match image digest" in reasons(found)[d["cosign.v3-wrong"]["digest"]]
    assert "exactly one layer" in reasons(found)[d["cosign.twolayers"]["digest"]]


def test_single_manifest_has_cosign_signatures_only(where: Where, fixtures: Fixtures) -> None:
    d = fixtures.d
    found = where.find("single")
    assert found.attestation_manifest is None and not found.is_dhi
    assert [(c.layout, c.digest) for c in found.candidates] == [
        (LAYOUT_COSIGN_BUNDLE, d["single.bundle"]["digest"]),
        (LAYOUT_COSIGN_LEGACY, d["single.sig"]["digest"]),
    ]
    assert {c.subject.digest for c in found.candidates} == {d["single"]["digest"]}


def test_dhi(where: Where, fixtures: Fixtures) -> None:
    d = fixtures.d
    found = where.find("dhi")
    assert found.is_dhi
    assert found.attestation_manifest is not None
    assert found.attestation_manifest.digest == d["dhi.att"]["digest"]
    (candidate,) = found.candidates
    assert (candidate.layout, candidate.digest) == (LAYOUT_DHI, d["dhi.sig"]["digest"])
    assert candidate.subject.digest == d["dhi.att"]["digest"]
    assert ANN_CERTIFICATE not in candidate.layers[0].descriptor.annotations  # key-based
    assert found.buildx_choice == d["dhi.sig"]["digest"]
    assert found.skipped == ()


def test_dhi_detection(where: Where, fixtures: Fixtures) -> None:
    assert where.find("almost-dhi").is_dhi is False
    found = where.find("dhi-noatt")
    assert found.is_dhi and found.attestation_manifest is None and found.candidates == ()
    amd64 = fixtures.d["dhi-noatt.amd64"]["digest"]
    assert reasons(found) == {amd64: f"DHI image manifest {amd64} has no SLSA attestation referrer"}
    root = where.resolve("dhi").root
    assert is_dhi_index(parse_index(root))


def test_unsigned(where: Where) -> None:
    for tag in ("unsigned", "unsigned-single"):
        found = where.find(tag)
        assert found.candidates == () and found.skipped == () and not found.truncated
    assert where.find("unsigned").attestation_manifest is not None


# --- what is skipped, and why ------------------------------------------------------------


def test_structural_mismatches_are_reported(where: Where, fixtures: Fixtures) -> None:
    d = fixtures.d
    found = where.find("mismatch")
    assert [c.digest for c in found.candidates] == [d["mismatch.good"]["digest"]]
    why = reasons(found)
    expected = {
        "mismatch.digest": "subject digest",
        "mismatch.size": "subject size 7 does not match attestation manifest size",
        "mismatch.type": "subject media type",
        "mismatch.nolayers": "has no layers",
        "mismatch.nosubject": "has no subject",
        "mismatch.badtype": "has a bundle layer but artifact type",
        "mismatch.layer0": "neither a bundle nor simple signing",
    }
    assert set(why) == {d[name]["digest"] for name in expected}
    for name, fragment in expected.items():
        assert fragment in why[d[name]["digest"]], (name, why[d[name]["digest"]])
    # Buildx would pick the first bundle-typed referrer, whatever its fate
    assert found.buildx_choice == d["mismatch.digest"]["digest"]
    assert all(s.layout == LAYOUT_DOCKER for s in found.skipped)


@pytest.mark.parametrize(
    ("tag", "fragment"),
    [
        ("legacy-att", "has no subject (Buildx verifies only OCI-artifact attestations"),
        ("no-slsa", "has no SLSA provenance layer"),
        ("att-size", "subject size"),
    ],
)
def test_attestation_checks(where: Where, fixtures: Fixtures, tag: str, fragment: str) -> None:
    found = where.find(tag)
    assert found.candidates == ()
    att = fixtures.d[f"{tag}.att"]["digest"]
    assert found.attestation_manifest is not None and found.attestation_manifest.digest == att
    why = reasons(found)
    assert fragment in why[att]
    (signature,) = set(why) - {att}
    assert why[signature].startswith("its attestation manifest fails: ")
    assert found.buildx_choice == signature


def test_oversized_layers(where: Where, fixtures: Fixtures) -> None:
    d = fixtures.d
    found = where.find("oversize")
    assert found.candidates == ()
    why = reasons(found)
    assert f"over the {MAX_SIGNATURE_BYTES}-byte cap" in why[d["oversize.honest"]["digest"]]
    assert "larger than 100 bytes" in why[d["oversize.liar"]["digest"]]
    assert "but its descriptor says" in why[d["oversize.short"]["digest"]]


def test_malformed_and_missing(where: Where, fixtures: Fixtures) -> None:
    d = fixtures.d
    found = where.find("malformed")
    assert [c.digest for c in found.candidates] == [d["malformed.good"]["digest"]]
    why = reasons(found)
    assert "malformed" in why[d["malformed.negative"]["digest"]]
    assert "size is not a count" in why[d["malformed.negative"]["digest"]]
    assert "is an index" in why[d["malformed.index"]["digest"]]
    assert "no simple-signing layer" in why[d["malformed.sig"]["digest"]]
    assert "listed but not found" in why[d["malformed.missing"]["digest"]]
    if where.name == "layout":
        for raw in (b"{not json", b"[1, 2]"):
            assert "is malformed" in why[digest_of(raw)]
            assert "not a JSON object" in why[digest_of(raw)]


def test_unreadable_referrers_list(where: Where, fixtures: Fixtures) -> None:
    # (resolving the attestation chain would fail on it already: resolve only the image)
    found = find_signatures(where.store, where.resolve("bad-tag", request=ImageRequest()))
    assert found.candidates == ()
    (skipped,) = found.skipped
    assert skipped.digest == fixtures.d["bad-tag"]["digest"]
    assert skipped.reason.startswith(f"the referrers of {skipped.digest} cannot be read")


# --- limits, dedup, cost ---------------------------------------------------------------


def test_candidate_and_examination_limits(where: Where) -> None:
    resolution = where.resolve("cosign")
    first = find_signatures(where.store, resolution, max_candidates=1)
    assert len(first.candidates) == 1 and first.truncated
    few = find_signatures(where.store, resolution, max_examined=2)
    assert len(few.candidates) == 2 and few.truncated
    everything = find_signatures(where.store, resolution)
    assert [c.digest for c in everything.candidates][:2] == [c.digest for c in few.candidates]
    assert not everything.truncated
    with pytest.raises(ValueError, match="at least 1"):
        find_signatures(where.store, resolution, max_candidates=0)


class Recorder:
    """A store wrapper that records every call (and can fail on demand)."""

    def __init__(self, store: ImageStore, fail: Callable[[str, str], None] | None = None) -> None:
        self.store = store
        self.calls: list[tuple[str, str]] = []
        self.fail = fail

    def _record(self, kind: str, arg: str) -> None:
        self.calls.append((kind, arg))
        if self.fail is not None:
            self.fail(kind, arg)

    def get_manifest(self, repo: Repository, reference: str) -> Manifest:
        self._record("manifest", reference)
        return self.store.get_manifest(repo, reference)

    def get_blob(self, repo: Repository, digest: str, *, max_bytes: int) -> bytes:
        self._record("blob", digest)
        return self.store.get_blob(repo, digest, max_bytes=max_bytes)

    def referrers(
        self, repo: Repository, digest: str, *, artifact_type: str | None = None
    ) -> Sequence[Descriptor]:
        self._record("referrers", digest)
        return self.store.referrers(repo, digest, artifact_type=artifact_type)


@pytest.mark.parametrize("tag", ["docker", "cosign", "dhi", "mismatch", "malformed"])
def test_nothing_is_fetched_twice(where: Where, tag: str) -> None:
    resolution = where.resolve(tag)
    recorder = Recorder(where.store)
    find_signatures(recorder, resolution)
    assert len(recorder.calls) == len(set(recorder.calls)), recorder.calls
    fetched = {arg for kind, arg in recorder.calls if kind == "manifest"}
    # what the resolution already holds is reused
    assert resolution.manifest.digest not in fetched
    assert resolution.attestation_manifest is None or (
        resolution.attestation_manifest.digest not in fetched
    )


def test_without_a_resolved_chain(where: Where, fixtures: Fixtures) -> None:
    resolution = where.resolve("docker", request=ImageRequest())
    assert not resolution.chain_resolved
    recorder = Recorder(where.store)
    found = find_signatures(recorder, resolution)
    assert found.candidates[0].digest == fixtures.d["docker.bundle"]["digest"]
    assert ("manifest", fixtures.d["docker.att"]["digest"]) in recorder.calls


def test_unsigned_image_costs_only_the_lookups(
    registry_repo: Repository, fixtures: Fixtures
) -> None:
    with RegistryClient(timeout=10.0) as client:
        where = Where("registry", client, str(registry_repo))
        resolution = where.resolve("unsigned")
        client.stats.reset()
        find_signatures(client, resolution)
        # referrers of the attestation manifest (the API's 404 once, then the fallback
        # tag), of the index and of the platform manifest; the two .sig tags
        assert client.stats.snapshot() == {"referrers": 1, "manifest": 5, "total": 6}
        resolution = where.resolve("unsigned-single")
        client.stats.reset()
        find_signatures(client, resolution)
        assert client.stats.snapshot() == {"manifest": 2, "total": 2}  # referrers tag, .sig


def test_store_errors_propagate(where: Where) -> None:
    resolution = where.resolve("docker")

    def network(kind: str, arg: str) -> None:
        if kind == "referrers":
            raise NetworkError("connection reset")

    with pytest.raises(NetworkError):
        find_signatures(Recorder(where.store, network), resolution)

    def tampered(kind: str, arg: str) -> None:
        if kind == "blob":
            raise DigestMismatchError("tampered", expected=arg, actual="sha256:" + "0" * 64)

    with pytest.raises(DigestMismatchError):
        find_signatures(Recorder(where.store, tampered), resolution)

    def gone(kind: str, arg: str) -> None:
        if kind == "referrers":
            raise NotFoundError("no such repository")

    assert find_signatures(Recorder(where.store, gone), resolution).candidates == ()


# --- the fixture data itself ---------------------------------------------------------------


def test_real_sample_signature_round_trip(where: Where) -> None:
    sample = sample_simple_signing()
    bundle = sample_bundle()
    if sample is None or bundle is None:
        pytest.skip("shared/data/sigstore is absent: the real cosign samples cannot be read")
    found = where.find("docker")
    assert found.candidates[0].layers[0].blob == bundle
    layer = found.candidates[1].layers[0]
    assert layer.descriptor.annotations == sample.annotations
    assert {ANN_SIGNATURE, ANN_CERTIFICATE, ANN_BUNDLE} <= set(layer.descriptor.annotations)


def test_read_dir_signature(tmp_path: Path) -> None:
    path = tmp_path / "signature-1"
    path.write_bytes(
        b"\x00sigstore-json\n"
        + canonical({"mimeType": SIMPLE_SIGNING, "payload": "e30=", "annotations": {"a": "b"}})
    )
    assert read_dir_signature(path) == SigLayer(SIMPLE_SIGNING, b"{}", {"a": "b"})
    path.write_bytes(b"{}")
    with pytest.raises(ValueError, match="not a containers/image"):
        read_dir_signature(path)


def test_v02_predicate_is_slsa_too(tmp_path: Path) -> None:
    sk = SignedKit()
    img = sk.buildkit_image("v02", predicate_type=SLSA_V02, platforms=(AMD64,))
    sig = sk.docker_signature(img.attestations[AMD64], bundle_layer(BUNDLE))
    store = OCILayout(sk.write_layout(tmp_path))
    found = Where("layout", store, "x/y").find("v02")
    assert [c.digest for c in found.candidates] == [sig["digest"]]


def test_byte_budget(where: Where, monkeypatch: pytest.MonkeyPatch) -> None:
    import buildsig.oci.signatures as signatures

    resolution = where.resolve("docker")
    monkeypatch.setattr(signatures, "MAX_DISCOVERY_BYTES", len(BUNDLE))
    found = find_signatures(where.store, resolution)
    assert [c.artifact_type for c in found.candidates] == [SIGSTORE_BUNDLE]  # the rest: no budget
    assert found.truncated
    assert "byte budget of this search is spent" in found.skipped[0].reason

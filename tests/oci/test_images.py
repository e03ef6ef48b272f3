"""Image resolution from OCI layouts (offline): platforms, config, attestation layouts."""

from __future__ import annotations

from pathlib import Path

import pytest

from buildsig import (
    DigestMismatchError,
    InvalidDocumentError,
    InvalidInputError,
    NotFoundError,
    Source,
    source_to_input,
)
from buildsig._internal.platform import parse_platform
from buildsig._internal.reference import parse_image_reference
from buildsig.oci.images import ImageResolver
from buildsig.oci.layout import OCILayout
from buildsig.oci.resolve import platform_candidates, resolve_image
from buildsig.unknowns import PROVENANCE_PREDICATE_TYPES, ImageRequest
from tests.oci.imagekit import SLSA_V02, SLSA_V1, ImageKit, statement

EVERYTHING = ImageRequest(
    config=True, attestation_chain=True, attestation_predicates=PROVENANCE_PREDICATE_TYPES
)


@pytest.fixture(scope="module")
def kit() -> ImageKit:
    k = ImageKit()
    amd64 = k.image("linux", "amd64")
    arm64 = k.image("linux", "arm64", "v8")
    armv7 = k.image("linux", "arm", "v7")
    att_amd64 = k.attestation(
        amd64,
        [
            (
                SLSA_V1,
                statement(
                    SLSA_V1,
                    amd64["digest"],
                    {"buildDefinition": {"buildType": "https://mobyproject.org/buildkit@v1"}},
                ),
            )
        ],
        form="artifact",
    )
    att_arm64 = k.attestation(
        arm64,
        [
            (
                SLSA_V02,
                statement(
                    SLSA_V02, arm64["digest"], {"buildType": "https://mobyproject.org/buildkit@v1"}
                ),
            )
        ],
        form="legacy",
    )
    k.tag("app:1", k.index([amd64, arm64, armv7, att_amd64, att_arm64]))
    # a Docker manifest list: no attestations possible in the index
    k.tag(
        "list:1",
        k.index(
            [k.image("linux", "amd64", docker=True), k.image("linux", "arm64", "v8", docker=True)],
            docker=True,
        ),
    )
    # a single manifest with a referrer attestation, found through the referrers tag
    single = k.image("linux", "amd64", labels={"kind": "single"})
    ref = k.referrer(
        single,
        "application/vnd.docker.attestation.manifest.v1+json",
        [
            (
                "application/vnd.in-toto+json",
                statement(SLSA_V1, single["digest"], {}),
                {"in-toto.io/predicate-type": SLSA_V1},
            )
        ],
    )
    k.referrers_tag(single["digest"], [ref])
    k.tag("single:1", single)
    # a cosign .att attestation on another single manifest
    cosigned = k.image("linux", "amd64", labels={"kind": "cosigned"})
    k.cosign_att(
        cosigned["digest"], SLSA_V02, statement(SLSA_V02, cosigned["digest"], {"buildType": "x"})
    )
    k.tag("cosigned:1", cosigned)
    # nested index, and a platform-less entry
    nested = k.index([k.image("linux", "s390x")])
    k.tag("nested:1", k.index([nested]))
    plain = k.image("linux", "ppc64le")
    k.tag("noplatform:1", k.index([{key: plain[key] for key in ("mediaType", "digest", "size")}]))
    return k


@pytest.fixture(scope="module")
def layout(kit: ImageKit, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return kit.write_layout(tmp_path_factory.mktemp("layout"))


def resolve(
    layout: Path, ref: str, platform: str = "linux/amd64", request: ImageRequest = EVERYTHING
):  # type: ignore[no-untyped-def]
    return resolve_image(
        OCILayout(layout), parse_image_reference(ref), parse_platform(platform), request=request
    )


def test_index_platform_config_and_artifact_attestation(layout: Path, kit: ImageKit) -> None:
    with ImageResolver(layouts=[layout]) as resolver:
        inp = source_to_input(Source.parse("app:1"), platform="linux/amd64")
        out = resolver.resolve_input(inp, EVERYTHING)
    image = out.image
    assert image is not None
    assert image.checksum == kit.tags["app:1"]  # the index digest, as skopeo reports
    assert image.labels == {"org.opencontainers.image.vendor": "Example Corp", "arch": "amd64"}
    assert image.env == ("PATH=/usr/local/bin:/usr/bin", "ARCH=amd64")
    assert (image.user, image.working_dir) == ("65532:65532", "/app")
    assert image.volumes == ("/data", "/var/lib/b")  # sorted
    assert image.created_time == "2024-05-06T07:08:09Z"
    assert image.has_provenance is True
    assert out.unknowns == ("image.signatures",)  # signatures are verified by another module


def test_legacy_attestation_form_and_arm64(layout: Path) -> None:
    res = resolve(layout, "app:1", "linux/arm64")
    assert res.attestation_via == "index"
    assert res.attestation_manifest is not None
    assert len(res.statements) == 1
    assert res.config is not None and res.config.architecture == "arm64"


@pytest.mark.parametrize(
    ("platform", "arch", "variant"),
    [
        ("linux/arm/v7", "arm", "v7"),
        ("linux/arm64/v8", "arm64", "v8"),
        ("linux/aarch64", "arm64", "v8"),
    ],
)
def test_platform_selection(layout: Path, platform: str, arch: str, variant: str) -> None:
    res = resolve(layout, "app:1", platform, ImageRequest(config=True))
    assert res.config is not None
    assert (res.config.architecture, res.config.variant) == (arch, variant)


def test_compatible_platform_is_used_when_exact_is_missing() -> None:
    # arm64 hosts run arm/v7 images; amd64/v3 runs v1 and 386
    arm64 = [str(p) for p in platform_candidates(parse_platform("linux/arm64"))]
    assert (
        arm64[:1] == ["linux/arm64/v8"] and "linux/arm/v7" in arm64 and arm64[-1] == "linux/arm/v5"
    )
    amd64 = [str(p) for p in platform_candidates(parse_platform("linux/amd64/v3"))]
    assert amd64 == ["linux/amd64/v3", "linux/amd64/v2", "linux/amd64/v1", "linux/386"]


def test_no_manifest_for_platform(layout: Path) -> None:
    with pytest.raises(NotFoundError, match="no manifest for platform linux/riscv64"):
        resolve(layout, "app:1", "linux/riscv64")


def test_docker_manifest_list_has_no_attestations_and_resolves_to_absent(layout: Path) -> None:
    with ImageResolver(layouts=[layout]) as resolver:
        out = resolver.resolve_input(
            source_to_input(Source.parse("list:1"), platform="linux/arm64"), EVERYTHING
        )
    assert out.image is not None
    assert out.image.has_provenance is False
    assert out.image.provenance is None
    assert out.image.labels["arch"] == "arm64"
    assert "image.hasProvenance" not in out.unknowns and "image.provenance" not in out.unknowns


def test_referrers_tag_fallback(layout: Path) -> None:
    res = resolve(layout, "single:1")
    assert res.attestation_via == "referrers"
    assert len(res.statements) == 1


def test_cosign_att_tag(layout: Path) -> None:
    res = resolve(layout, "cosigned:1")
    assert res.attestation_via == "cosign-att"
    assert len(res.statements) == 1
    assert res.statements[0][1].startswith(b'{"_type":"https://in-toto.io/Statement/v1"')


def test_nested_index_and_platformless_entries(layout: Path) -> None:
    assert (
        resolve(layout, "nested:1", "linux/s390x", ImageRequest(config=True)).config.architecture
        == "s390x"
    )  # type: ignore[union-attr]
    res = resolve(layout, "noplatform:1", "linux/amd64", ImageRequest(config=True))
    assert (
        res.config is not None and res.config.architecture == "ppc64le"
    )  # platform-less: taken last


def test_fetch_only_what_is_asked(layout: Path) -> None:
    res = resolve(layout, "app:1", request=ImageRequest())
    assert res.config is None and not res.chain_resolved
    with ImageResolver(layouts=[layout]) as resolver:
        out = resolver.resolve_input(
            source_to_input("docker-image://app:1", platform="linux/amd64"),
            ImageRequest(attestation_chain=True),
        )
    assert out.image is not None and out.image.has_provenance
    assert "image.labels" in out.unknowns and "image.provenance" in out.unknowns
    assert "image.checksum" not in out.unknowns


def test_digest_pinned_reference(layout: Path, kit: ImageKit) -> None:
    digest = kit.tags["app:1"]
    res = resolve(layout, f"app@{digest}", request=ImageRequest(config=True))
    assert res.root.digest == digest


def test_deeply_nested_indexes_are_refused(tmp_path: Path) -> None:
    # A cycle cannot exist when every fetch is digest-checked (a digest would have to
    # contain itself); what a hostile registry can serve is unbounded nesting.
    k = ImageKit()
    desc = k.index([k.image()])
    for _ in range(12):
        desc = k.index([desc])
    k.tag("deep:1", desc)
    path = k.write_layout(tmp_path)
    with pytest.raises(InvalidInputError, match="nesting deeper than 8"):
        resolve(path, "deep:1", request=ImageRequest(config=True))
    shallow = ImageKit()
    d = shallow.index([shallow.image()])
    for _ in range(3):
        d = shallow.index([d])
    shallow.tag("ok:1", d)
    assert (
        resolve(
            shallow.write_layout(tmp_path / "ok"), "ok:1", request=ImageRequest(config=True)
        ).config
        is not None
    )


def test_tampered_blob_is_refused(kit: ImageKit, tmp_path: Path) -> None:
    path = kit.write_layout(tmp_path)
    cfg_digest = next(d for d, data in kit.blobs.items() if b'"Labels":{"arch":"amd64"' in data)
    (path / "blobs" / "sha256" / cfg_digest.split(":")[1]).write_bytes(
        b'{"config":{"Labels":{"evil":"1"}}}'
    )
    with pytest.raises(DigestMismatchError) as info:
        resolve(path, "app:1", request=ImageRequest(config=True))
    assert info.value.expected == cfg_digest


def test_malformed_config_fails_like_buildx(tmp_path: Path) -> None:
    k = ImageKit()
    cfg = k.blob(b'{"config": {"Env": "not a list"}}', "application/vnd.oci.image.config.v1+json")
    k.tag(
        "bad:1",
        k.manifest(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": cfg,
                "layers": [],
            }
        ),
    )
    path = k.write_layout(tmp_path)
    with pytest.raises(InvalidDocumentError, match="failed to unmarshal image config"):
        resolve(path, "bad:1", request=ImageRequest(config=True))


@pytest.mark.parametrize(
    ("doc", "fragment"),
    [
        (b"not json", "not valid JSON"),
        (b"[]", "not a JSON object"),
        (
            b'{"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"digest":"sha256:zz","size":1}]}',
            "digest",
        ),
        (
            b'{"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"digest":"sha256:'
            + b"a" * 64
            + b'","size":-1}]}',
            "size",
        ),
        (
            b'{"mediaType":"application/vnd.oci.image.index.v1+json","manifests":"x"}',
            "no manifests list",
        ),
    ],
)
def test_malformed_indexes(tmp_path: Path, doc: bytes, fragment: str) -> None:
    import hashlib
    import json

    (tmp_path / "blobs" / "sha256").mkdir(parents=True)
    (tmp_path / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    digest = "sha256:" + hashlib.sha256(doc).hexdigest()
    (tmp_path / "blobs" / "sha256" / digest.split(":")[1]).write_bytes(doc)
    entry = {
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "digest": digest,
        "size": len(doc),
        "annotations": {"org.opencontainers.image.ref.name": "x"},
    }
    (tmp_path / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [entry]}))
    with pytest.raises(InvalidInputError, match=fragment):
        resolve(tmp_path, "x:x", request=ImageRequest(config=True))


def test_not_a_layout(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="not an OCI image layout"):
        OCILayout(tmp_path)


def test_unknown_name_in_layout(layout: Path) -> None:
    with pytest.raises(NotFoundError, match="not in layout"):
        resolve(layout, "nope:1")


DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "provenance"


@pytest.mark.skipif(not DATA.is_dir(), reason=f"real BuildKit statements not found at {DATA}")
def test_real_buildkit_provenance_offline_through_the_cli(tmp_path: Path) -> None:
    import json
    import os
    import subprocess
    import sys

    k = ImageKit()
    amd64 = k.image("linux", "amd64")
    arm64 = k.image("linux", "arm64", "v8")
    v1 = (DATA / "buildkit-statement-slsa-v1-example1.json").read_bytes()
    v02 = (DATA / "buildkit-statement-slsa-v0.2-example1.json").read_bytes()
    k.tag(
        "app:1",
        k.index(
            [
                amd64,
                arm64,
                k.attestation(amd64, [(SLSA_V1, v1)]),
                k.attestation(arm64, [(SLSA_V02, v02)], form="legacy"),
            ]
        ),
    )
    layout = k.write_layout(tmp_path / "layout")
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=str(root / "src"))
    for platform, predicate in (("linux/amd64", SLSA_V1), ("linux/arm64", SLSA_V02)):
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "buildsig",
                "inspect",
                "--oci-layout",
                str(layout),
                "--platform",
                platform,
                "--fields",
                "image.labels,image.provenance",
                "docker-image://app:1",
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        image = json.loads(proc.stdout)["image"]
        assert image["checksum"] == k.tags["app:1"]
        assert image["labels"]["arch"] == platform.split("/")[1]
        assert image["hasProvenance"] is True
        prov = image["provenance"]
        assert prov["predicateType"] == predicate
        assert prov["buildType"]
        material = prov["materials"][0]["image"]
        # the purl's tag plus the material's attested digest (Buildx attaches digest.sha256)
        assert material["ref"].startswith("docker.io/library/alpine:latest@sha256:")
        assert material["isCanonical"] is True
        assert material["platform"] == "linux/amd64"
        # signatures were not asked for; the material's own fields are listed as unresolved
        assert "input.image.provenance.materials[0].image.labels" in proc.stderr


def test_material_fields_resolve_on_demand(tmp_path: Path) -> None:
    """Asking for image.provenance.materials[0].image.labels resolves that material."""
    import json

    from buildsig.resolver import ResolveOptions, Resolver
    from tests.oci.imagekit import canonical

    k = ImageKit()
    base = k.index([k.image("linux", "amd64", labels={"role": "base"})])
    k.tag("base-1", base)
    app = k.image("linux", "amd64", labels={"role": "app"})
    predicate = {
        "buildDefinition": {
            "buildType": "https://mobyproject.org/buildkit@v1",
            "externalParameters": {"request": {"frontend": "dockerfile.v0"}},
            "resolvedDependencies": [
                {
                    "uri": "pkg:docker/team/base@1?platform=linux%2Famd64",
                    "digest": {"sha256": base["digest"].split(":")[1]},
                }
            ],
        },
        "runDetails": {"builder": {"id": ""}, "metadata": {}},
    }
    stmt = canonical(
        {
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": "_", "digest": {"sha256": app["digest"].split(":")[1]}}],
            "predicateType": SLSA_V1,
            "predicate": predicate,
        }
    )
    k.tag("app-1", k.index([app, k.attestation(app, [(SLSA_V1, stmt)])]))
    layout = k.write_layout(tmp_path)
    src = Source.parse("docker-image://team/app:app-1")
    inp = source_to_input(src, platform="linux/amd64")
    field = "image.provenance.materials[0].image.labels"
    with Resolver(ResolveOptions(oci_layouts=(layout,))) as resolver:
        [out] = resolver.resolve_many([(src, inp)], [field])
    assert out.image is not None and out.image.provenance is not None
    material = out.image.provenance.materials[0]
    assert material.image is not None
    assert material.image.ref == f"docker.io/team/base:1@{base['digest']}"
    assert material.image.labels == {"role": "base"}
    assert "image.labels" not in material.unknowns
    assert f"input.{field}" not in out.unknown_refs()
    # the root itself was only resolved as far as needed
    assert "input.image.labels" in out.unknown_refs()
    assert json.loads(out.to_json())["image"]["provenance"]["materials"][0]["image"]["labels"] == {
        "role": "base"
    }

"""End to end against Debian's docker-registry: the same images as from a layout, skopeo agrees."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from buildsig.oci.registry import RegistryClient
from tests.oci.imagekit import SLSA_V02, SLSA_V1, ImageKit, push_kit, statement
from tests.oci.registryd import RunningRegistry, skopeo

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data" / "provenance"


def build_kit() -> ImageKit:
    k = ImageKit()
    amd64 = k.image("linux", "amd64")
    arm64 = k.image("linux", "arm64", "v8")
    if DATA.is_dir():
        v1 = (DATA / "buildkit-statement-slsa-v1-example2.json").read_bytes()
        v02 = (DATA / "buildkit-statement-slsa-v0.2-example2.json").read_bytes()
    else:  # generated stand-ins keep the registry path tested without the shared data
        v1 = statement(SLSA_V1, amd64["digest"], {"buildDefinition": {"buildType": "b"}})
        v02 = statement(SLSA_V02, arm64["digest"], {"buildType": "b"})
    k.tag(
        "1",
        k.index(
            [
                amd64,
                arm64,
                k.attestation(amd64, [(SLSA_V1, v1)]),
                k.attestation(arm64, [(SLSA_V02, v02)], form="legacy"),
            ]
        ),
    )
    k.tag("list", k.index([k.image("linux", "amd64", docker=True)], docker=True))
    single = k.image("linux", "amd64", labels={"kind": "single"})
    ref = k.referrer(
        single,
        "application/vnd.docker.attestation.manifest.v1+json",
        [("application/vnd.in-toto+json", v1, {"in-toto.io/predicate-type": SLSA_V1})],
    )
    k.referrers_tag(single["digest"], [ref])
    k.tag("single", single)
    cosigned = k.image("linux", "amd64", labels={"kind": "cosigned"})
    k.cosign_att(cosigned["digest"], SLSA_V02, v02)
    k.tag("cosigned", cosigned)
    return k


@pytest.fixture(scope="module")
def served(
    anon_registry: RunningRegistry, tmp_path_factory: pytest.TempPathFactory
) -> tuple[RunningRegistry, ImageKit, Path]:
    kit = build_kit()
    with RegistryClient() as client:
        push_kit(kit, client, anon_registry.repo("team/app"))
    return anon_registry, kit, kit.write_layout(tmp_path_factory.mktemp("same-as-layout"))


def inspect(*args: str) -> tuple[dict[str, Any], str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    proc = subprocess.run(
        [sys.executable, "-m", "buildsig", "inspect", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout), proc.stderr


@pytest.mark.parametrize("tag", ["1", "list", "single", "cosigned"])
def test_registry_and_layout_give_the_same_input(
    served: tuple[RunningRegistry, ImageKit, Path], tag: str
) -> None:
    registry, _, layout = served
    fields = "image.labels,image.provenance"
    online, _ = inspect(
        "--platform",
        "linux/amd64",
        "--fields",
        fields,
        f"docker-image://{registry.host}/team/app:{tag}",
    )
    offline, _ = inspect(
        "--platform",
        "linux/amd64",
        "--fields",
        fields,
        "--oci-layout",
        str(layout),
        f"docker-image://{registry.host}/team/app:{tag}",
    )
    assert online == offline
    assert online["image"].get("hasProvenance", False) is (tag != "list")  # false is omitted


def test_done_when_inspect_agrees_with_skopeo(
    served: tuple[RunningRegistry, ImageKit, Path],
) -> None:
    registry, kit, _ = served
    data, stderr = inspect(
        "--platform",
        "linux/amd64",
        "--fields",
        "image.labels,image.provenance",
        f"docker-image://{registry.host}/team/app:1",
    )
    image = data["image"]
    oracle = json.loads(
        skopeo(registry, "team/app:1", "--override-os", "linux", "--override-arch", "amd64")
    )
    assert image["checksum"] == oracle["Digest"] == kit.tags["1"]
    assert (image["os"], image["arch"]) == (oracle["Os"], oracle["Architecture"])
    assert image["labels"] == oracle["Labels"]
    assert image["ref"] == f"{registry.host}/team/app:1"
    prov = image["provenance"]
    assert prov["predicateType"] == SLSA_V1
    if DATA.is_dir():
        assert prov["materials"], "the real statement lists materials"
        first = prov["materials"][0]
        assert "image" in first or "git" in first or "http" in first
    assert "input.image.signatures" in stderr  # not verified by this module: listed, not dropped


def test_arm64_gets_the_legacy_form_and_v02(served: tuple[RunningRegistry, ImageKit, Path]) -> None:
    registry, _, _ = served
    data, _ = inspect(
        "--platform",
        "linux/arm64",
        "--fields",
        "image.provenance",
        f"docker-image://{registry.host}/team/app:1",
    )
    assert data["image"]["provenance"]["predicateType"] == SLSA_V02
    oracle = json.loads(
        skopeo(registry, "team/app:1", "--override-os", "linux", "--override-arch", "arm64")
    )
    assert data["image"]["checksum"] == oracle["Digest"]


def test_pinned_cached_resolution_makes_no_requests(
    served: tuple[RunningRegistry, ImageKit, Path],
) -> None:
    from buildsig._internal.platform import parse_platform
    from buildsig._internal.reference import parse_image_reference
    from buildsig.oci.cache import ContentCache
    from buildsig.oci.resolve import resolve_image

    registry, kit, _ = served
    ref = parse_image_reference(f"{registry.host}/team/app@{kit.tags['1']}")
    with RegistryClient(cache=ContentCache()) as client:
        first = resolve_image(client, ref, parse_platform("linux/amd64"))
        cold = client.stats.total
        client.stats.reset()
        second = resolve_image(client, ref, parse_platform("linux/amd64"))
        assert client.stats.total == 0
    assert first == second
    assert cold >= 4  # index, platform manifest, config, attestation manifest + its blob

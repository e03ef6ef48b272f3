"""Image benchmarks against Debian's docker-registry on loopback, with skopeo as the peer.

50 multi-platform images are pushed once; then buildsig resolves all of them cold
(index → platform manifest → config, concurrently, one client) and `skopeo inspect`
resolves the same 50 in a sequential loop, as a CI script would. Warm, digest-pinned
resolution must make zero requests. Requests per image are counted on the wire.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _harness import Benchmark, Row, have

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

N_IMAGES = 50


def _push_images(client: object, registry: object, n: int) -> list[str]:
    from tests.oci.imagekit import ImageKit, push_kit

    names = []
    for i in range(n):
        kit = ImageKit()
        kit.tag(
            "1",
            kit.index(
                [
                    kit.image("linux", "amd64", labels={"n": str(i)}),
                    kit.image("linux", "arm64", "v8"),
                ]
            ),
        )
        repo = registry.repo(f"bench/app{i}")  # type: ignore[attr-defined]
        push_kit(kit, client, repo)
        names.append(f"{registry.host}/bench/app{i}:1")  # type: ignore[attr-defined]
    return names


def resolution(quick: bool) -> list[Row]:
    from tests.oci.registryd import docker_registry

    from buildsig import source_to_input
    from buildsig.oci.cache import ContentCache
    from buildsig.oci.images import ImageResolver
    from buildsig.oci.registry import RegistryClient
    from buildsig.unknowns import ImageRequest

    n = 10 if quick else N_IMAGES
    request = ImageRequest(config=True)
    with tempfile.TemporaryDirectory() as d, docker_registry(Path(d) / "registry") as registry:
        with RegistryClient() as pusher:
            names = _push_images(pusher, registry, n)
        inputs = [
            source_to_input(f"docker-image://{name}", platform="linux/amd64") for name in names
        ]

        cache = ContentCache()
        client = RegistryClient(cache=cache, max_workers=16)
        with ImageResolver(registry=client, max_workers=16) as resolver:
            t0 = time.perf_counter()
            cold = resolver.resolve_inputs([(i, request) for i in inputs])
            ours = time.perf_counter() - t0
            cold_requests = client.stats.total
            assert all(x.image is not None and x.image.labels for x in cold)
            # warm: the same images pinned by digest, from the cache
            pinned = [
                source_to_input(
                    f"docker-image://{x.image.full_repo}@{x.image.checksum}", platform="linux/amd64"
                )  # type: ignore[union-attr]
                for x in cold
            ]
            client.stats.reset()
            t0 = time.perf_counter()
            resolver.resolve_inputs([(i, request) for i in pinned])
            warm = time.perf_counter() - t0
            warm_requests = client.stats.total
        client.close()

        rows = []
        if have("skopeo"):
            env_home = Path(d) / "home"
            env_home.mkdir()
            t0 = time.perf_counter()
            for name in names:
                subprocess.run(
                    [
                        "skopeo",
                        "inspect",
                        "--tls-verify=false",
                        "--override-os",
                        "linux",
                        "--override-arch",
                        "amd64",
                        f"docker://{name}",
                    ],
                    check=True,
                    capture_output=True,
                    env={"HOME": str(env_home), "PATH": "/usr/bin:/bin"},
                )
            theirs = time.perf_counter() - t0
            rows.append(
                Row(
                    f"cold resolution of {n} images (index, platform manifest, config)",
                    ours * 1000,
                    "ms",
                    peer="sequential skopeo inspect loop",
                    peer_value=theirs * 1000,
                    higher_is_better=False,
                    target=">= 5x faster",
                    target_met=theirs >= 5 * ours,
                )
            )
        else:
            rows.append(
                Row(
                    f"cold resolution of {n} images",
                    ours * 1000,
                    "ms",
                    note="skopeo not installed: no peer",
                )
            )
        rows.append(
            Row(
                "requests per image, cold (minimum for index→manifest→config: 3)",
                cold_requests / n,
                "requests",
                higher_is_better=False,
                target="3",
                target_met=cold_requests == 3 * n,
            )
        )
        rows.append(
            Row(
                f"warm digest-pinned resolution of {n} images",
                warm * 1000,
                "ms",
                higher_is_better=False,
                target="0 requests",
                target_met=warm_requests == 0,
                note=f"{warm_requests} requests",
            )
        )
    return rows


BENCHMARKS = [Benchmark("oci-resolve", resolution)]

if not have("docker-registry"):  # pragma: no cover - the tests install it
    BENCHMARKS = []

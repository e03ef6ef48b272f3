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


def _proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used, from /proc (Linux)."""
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def client_cpu(quick: bool) -> list[Row]:
    """CPU per manifest GET: buildsig's client vs bare urllib3 vs requests, same registry."""
    import resource

    import requests
    import urllib3
    from tests.oci.registryd import docker_registry

    from buildsig.oci.registry import RegistryClient

    accept = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json"

    def cpu() -> float:
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    rounds = 4 if quick else 8
    with tempfile.TemporaryDirectory() as d, docker_registry(Path(d) / "registry") as registry:
        with RegistryClient() as pusher:
            _push_images(pusher, registry, 20)
        paths = [f"bench/app{i}" for i in range(20)] * rounds
        urls = [f"http://{registry.host}/v2/{p}/manifests/1" for p in paths]
        session = requests.Session()
        session.trust_env = False
        pool = urllib3.PoolManager()
        client = RegistryClient()
        peers = {
            "buildsig RegistryClient": lambda i: client.get_manifest(registry.repo(paths[i]), "1"),
            "bare urllib3 (no checks)": lambda i: (
                pool.request("GET", urls[i], headers={"Accept": accept}).data
            ),
            "requests.Session (no checks)": lambda i: (
                session.get(urls[i], headers={"Accept": accept}).content
            ),
        }
        per_get: dict[str, float] = {}
        registry_per_150 = 0.0
        for name, fetch in peers.items():
            fetch(0)  # warm the connection
            c0, r0 = cpu(), _proc_cpu(registry.pid)
            for i in range(len(urls)):
                fetch(i)
            per_get[name] = (cpu() - c0) / len(urls) * 1000
            if name.startswith("buildsig"):
                registry_per_150 = (_proc_cpu(registry.pid) - r0) / len(urls) * 150 * 1000
        client.close()
    ours = per_get["buildsig RegistryClient"]
    return [
        Row(
            "client CPU per manifest GET",
            ours,
            "ms",
            peer=name,
            peer_value=value,
            higher_is_better=False,
        )
        for name, value in per_get.items()
        if name != "buildsig RegistryClient"
    ] + [
        Row(
            "registry process CPU per 150 GETs (same cores)",
            registry_per_150,
            "ms",
            higher_is_better=False,
        )
    ]


BENCHMARKS = [Benchmark("oci-resolve", resolution), Benchmark("oci-client-cpu", client_cpu)]

if not have("docker-registry"):  # pragma: no cover - the tests install it
    BENCHMARKS = []

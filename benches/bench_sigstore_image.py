"""Whole-image signature resolution against Debian's docker-registry on loopback.

One call does what ``buildsig verify image`` and ``input.image.signatures`` need: resolve
the tag (index → platform manifest → attestation manifest), discover signatures in every
layout (referrers of the attestation manifest, of the index and of the platform manifest,
through distribution 2.8's referrers-tag fallback; the ``.sig`` tags) and verify each one
offline. The signed image is BuildKit-style with three platforms, signed the way Docker's
GitHub builder does (a Sigstore bundle on each attestation manifest) and once more by cosign
(a bundle referrer of the index), all with the test Sigstore; the unsigned image has the
same shape. Each is timed with a cold client (new connections, nothing cached), a warm
client (connections reused) and a warm client with a content cache (manifests and blobs by
digest never fetched twice; tags and referrers lists always asked again, since they move).
The warm figure is judged against its floor: the very GETs it made, in the same order,
replayed with bare urllib3 (no digest checks, no parsing, no crypto), so the gap is
buildsig's own work; the signed image's figures are also set against the unsigned one's.
Figures are medians of N runs; requests are counted on the wire per run.
"""

from __future__ import annotations

import logging
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _harness import Benchmark, Row, have

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PLATFORMS = ("linux/amd64", "linux/arm64/v8", "linux/arm/v7")
COSIGN_SIGN = "https://sigstore.dev/cosign/sign/v1"
BUILDER = "https://github.com/docker/github-builder/.github/workflows/build.yml@refs/heads/main"
BUILDER_EXTENSIONS = {
    ".9": BUILDER,
    ".11": "github-hosted",
    ".12": "https://github.com/acme/app",
}


def _publish(registry: Any) -> bytes:
    """Push the signed and the unsigned image; the trusted root that verifies them."""
    from tests.oci.signedkit import SignedKit, bundle_layer

    from buildsig.oci.auth import CredentialStore
    from buildsig.oci.registry import RegistryClient
    from buildsig.testing import TestSigstore

    sig = TestSigstore(seed=5)
    kit = SignedKit()
    img = kit.buildkit_image("signed", PLATFORMS)
    for att in img.attestations.values():
        raw = kit.kit.manifests[att["digest"]][1]
        bundle = sig.sign_artifact(raw, identity=BUILDER, extensions=BUILDER_EXTENSIONS)
        kit.docker_signature(att, bundle_layer(bundle))
    statement = sig.statement(
        subject_digest=img.index["digest"], predicate_type=COSIGN_SIGN, predicate={}
    )
    kit.cosign_bundle(img.index, sig.sign_dsse(statement, rekor="v2"))
    kit.buildkit_image("unsigned", PLATFORMS)
    with RegistryClient(credentials=CredentialStore.anonymous()) as client:
        kit.push(client, registry.repo("bench/signed"))
    return sig.trusted_root_json()


class _Wire(logging.Handler):
    """Records the requests a client sends, from urllib3's own debug log (method, path)."""

    LINE = re.compile(r'"(GET|HEAD) (/v2/\S+) HTTP/[\d.]+"')

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.requests: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        m = self.LINE.search(record.getMessage())
        if m is not None:
            self.requests.append((m.group(1), m.group(2)))

    def __enter__(self) -> _Wire:
        log = logging.getLogger("urllib3.connectionpool")
        self._level = log.level
        log.setLevel(logging.DEBUG)
        log.addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        log = logging.getLogger("urllib3.connectionpool")
        log.removeHandler(self)
        log.setLevel(self._level)


def _floor_ms(host: str, requests: list[tuple[str, str]], runs: int) -> float:
    """The same requests replayed in order with bare urllib3 (no checks, no parsing)."""
    import urllib3

    from buildsig.oci.store import MEDIA_TYPES_MANIFEST

    headers = {"Accept": ", ".join(MEDIA_TYPES_MANIFEST)}
    with urllib3.PoolManager() as pool:

        def replay() -> int:
            for method, path in requests:
                pool.request(method, f"http://{host}{path}", headers=headers, retries=False)
            return len(requests)

        replay()  # connect
        return _median_ms(runs, replay)[0]


def _median_ms(runs: int, once: Callable[[], int]) -> tuple[float, int]:
    """Median wall time of ``once`` in ms, and the requests of its last run."""
    times, requests = [], 0
    for _ in range(runs):
        t0 = time.perf_counter()
        requests = once()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000, requests


def _measure(registry: Any, verifier: Any, tag: str, runs: int) -> dict[str, tuple[float, int]]:
    """Median ms and requests per run of one image, for each client state."""
    from buildsig._internal.platform import parse_platform
    from buildsig._internal.reference import parse_image_reference
    from buildsig.oci.auth import CredentialStore
    from buildsig.oci.cache import ContentCache
    from buildsig.oci.registry import RegistryClient
    from buildsig.oci.resolve import resolve_image
    from buildsig.unknowns import ImageRequest

    request = ImageRequest(attestation_chain=True, signatures=True)
    platform = parse_platform("linux/amd64")
    ref = parse_image_reference(f"{registry.host}/bench/signed:{tag}")
    expected = 2 if tag == "signed" else 0  # Docker's and cosign's

    def client(cache: ContentCache | None = None) -> RegistryClient:
        return RegistryClient(credentials=CredentialStore.anonymous(), cache=cache)

    def resolve(store: RegistryClient) -> Any:
        store.stats.reset()
        found = resolve_image(store, ref, platform, request=request, signature_verifier=verifier)
        assert found.signatures is not None
        assert len(found.signatures.signatures) == expected, found.signatures.verdicts
        return found.signatures

    def cold() -> int:
        with client() as fresh:
            resolve(fresh)
            return fresh.stats.total

    out = {"cold": _median_ms(runs, cold)}
    for name, cache in (("warm", None), ("cached", ContentCache())):
        with client(cache) as warm:
            discovery = resolve(warm).discovery  # the first run fills connections and cache
            if name == "warm":
                with _Wire() as wire:
                    resolve(warm)
                assert len(wire.requests) == warm.stats.total, wire.requests
                out["floor"] = (_floor_ms(registry.host, wire.requests, runs), warm.stats.total)

            def again(store: RegistryClient = warm) -> int:
                resolve(store)
                return store.stats.total

            out[name] = _median_ms(runs, again)

    # the crypto share: deciding what discovery found, without the network
    def verify() -> int:
        verifier.verify(discovery)
        return 0  # requests

    out["verify"] = _median_ms(runs, verify)
    out["candidates"] = (0.0, len(discovery.candidates))
    return out


def image_signatures(quick: bool) -> list[Row]:
    from tests.oci.registryd import docker_registry

    from buildsig.sigstore import ImageSignatureVerifier, TrustRoot

    runs = 5 if quick else 30
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as d, docker_registry(Path(d) / "registry") as registry:
        verifier = ImageSignatureVerifier(TrustRoot.from_json(_publish(registry)))
        unsigned = _measure(registry, verifier, "unsigned", runs)
        signed = _measure(registry, verifier, "signed", runs)
    states = (
        ("cold", "cold client", ""),
        ("warm", "warm client (connections reused)", ""),
        ("cached", "warm client + content cache", "; tags and referrers lists only"),
    )
    for m, what in (
        (signed, f"signed {len(PLATFORMS)}-platform image (Docker + cosign bundles)"),
        (unsigned, f"unsigned {len(PLATFORMS)}-platform image"),
    ):
        for key, label, extra in states:
            if key == "warm":  # judged against the same requests with no work on them
                peer, peer_value = "same GETs replayed, bare urllib3", m["floor"][0]
            elif m is signed:
                peer, peer_value = "unsigned image, same client", unsigned[key][0]
            else:
                peer, peer_value = None, None
            rows.append(
                Row(
                    f"{what}: resolve + discover + verify, {label}",
                    m[key][0],
                    "ms",
                    peer=peer,
                    peer_value=peer_value,
                    higher_is_better=False,
                    note=f"median of {runs}; {m[key][1]} requests{extra}",
                )
            )
        rows.append(
            Row(
                f"{what}: of which verification (no network)",
                m["verify"][0],
                "ms",
                higher_is_better=False,
                note=f"{m['candidates'][1]} candidates",
            )
        )
    return rows


BENCHMARKS = [Benchmark("sigstore-image", image_signatures)]

if not have("docker-registry"):  # pragma: no cover - the tests install it
    BENCHMARKS = []

if __name__ == "__main__":  # pragma: no cover
    sys.exit("run through benches/run.py")

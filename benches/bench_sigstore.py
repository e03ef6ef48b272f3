"""Sigstore benchmarks: bundle and simple-signing verification against sigstore-python.

The peer is what a Python user writes today: one reused ``sigstore.verify.Verifier``
and, per bundle, ``Bundle.from_json`` + ``verify_artifact`` (or ``verify_dsse``) with an
``Identity`` policy. buildsig does the same work per bundle (parse, verify, identity), so
the ratio is what reusing trust-root work and skipping pydantic buys. Bundles are the
sigstore-conformance cases from ../shared/data (rows are skipped, with the reason, when
absent).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import sys
import time
from pathlib import Path

from _harness import Benchmark, Row, ops_per_second

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "sigstore"
CASES = DATA / "conformance" / "bundle-verify"
IDENTITY = (
    "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/"
    ".github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main"
)
ISSUER = "https://token.actions.githubusercontent.com"
BUNDLES = (
    ("happy-path-v0.3", "Rekor v1 message signature"),
    ("happy-path-intoto-in-dsse-v3", "Rekor v1 DSSE"),
    ("rekor2-happy-path", "Rekor v2 + RFC 3161 TSA"),
)


def _root_path(case: Path) -> Path:
    own = case / "trusted_root.json"
    return own if own.exists() else DATA / "trusted-roots" / "production.trusted_root.json"


def _ours(case: Path, artifact: bytes, quick: bool) -> float:
    from buildsig.sigstore import Identity, TrustRoot, Verifier

    verifier = Verifier(TrustRoot.from_file(_root_path(case)))
    raw = (case / "bundle.sigstore.json").read_bytes()
    identity = Identity(subject=IDENTITY, issuer=ISSUER)
    verifier.verify_artifact(raw, artifact, identity=identity)
    return ops_per_second(
        lambda: verifier.verify_artifact(raw, artifact, identity=identity),
        min_time=0.3 if quick else 1.0,
    )


def _sigstore_python(case: Path, artifact: bytes, quick: bool) -> float:
    from sigstore.models import Bundle, TrustedRoot
    from sigstore.verify import Verifier
    from sigstore.verify.policy import Identity

    logging.getLogger("sigstore").setLevel(logging.ERROR)
    verifier = Verifier(trusted_root=TrustedRoot.from_file(str(_root_path(case))))
    raw = (case / "bundle.sigstore.json").read_bytes()
    policy = Identity(identity=IDENTITY, issuer=ISSUER)

    def once() -> None:
        bundle = Bundle.from_json(raw)
        if bundle._dsse_envelope is not None:
            verifier.verify_dsse(bundle, policy)
        else:
            verifier.verify_artifact(artifact, bundle, policy)

    once()
    return ops_per_second(once, min_time=0.3 if quick else 1.0)


def bundle_verify(quick: bool) -> list[Row]:
    if not CASES.is_dir():
        return [Row("Sigstore bundle verify", 0, "bundles/s", note=f"skipped: {CASES} not found")]
    artifact = (CASES / "a.txt").read_bytes()
    rows = []
    for name, label in BUNDLES:
        case = CASES / name
        ours = _ours(case, artifact, quick)
        peer = _sigstore_python(case, artifact, quick)
        rows.append(
            Row(
                f"bundle verify, {label} ({name}), 1 core",
                ours,
                "bundles/s",
                peer="sigstore-python 4.5 (reused Verifier)",
                peer_value=peer,
                target=">= 1.5x sigstore-python",
                target_met=ours >= 1.5 * peer,
            )
        )
    return rows


def batch_scaling(quick: bool) -> list[Row]:
    if not CASES.is_dir():
        return [Row("batch verify", 0, "bundles/s", note=f"skipped: {CASES} not found")]
    from buildsig.sigstore.batch import BatchItem, verify_batch

    case = CASES / "happy-path-v0.3"
    raw = (case / "bundle.sigstore.json").read_bytes()
    digest = "sha256:" + hashlib.sha256((CASES / "a.txt").read_bytes()).hexdigest()
    items = [BatchItem(raw, digest)] * (400 if quick else 2000)
    root = (DATA / "trusted-roots" / "production.trusted_root.json").read_bytes()
    cores = os.cpu_count() or 1

    def rate(jobs: int) -> float:
        best = 0.0
        for _ in range(2 if quick else 3):
            t0 = time.perf_counter()
            results = verify_batch(items, trust_root=root, jobs=jobs)
            best = max(best, len(items) / (time.perf_counter() - t0))
            assert all(r.verified for r in results)
        return best

    one, many = rate(1), rate(cores)
    return [
        Row(
            f"batch verify, {len(items)} bundles on {cores} cores",
            many,
            "bundles/s",
            peer="the same batch on 1 core",
            peer_value=one,
            target=f">= {0.8 * cores:.1f}x 1 core (near-linear)",
            target_met=many >= 0.8 * cores * one,
            note="worker start-up included",
        )
    ]


def simple_signing(quick: bool) -> list[Row]:
    folder = DATA / "cosign-legacy" / "dir-img-cosign-fulcio-rekor-valid"
    if not folder.is_dir():
        return [Row("simple-signing verify", 0, "verifies/s", note=f"skipped: {folder} not found")]
    from buildsig.sigstore import TrustRoot, Verifier
    from buildsig.sigstore.simplesigning import verify_simple_signing

    doc = json.loads((folder / "signature-1").read_bytes().split(b"\n", 1)[1])
    payload = base64.b64decode(doc["payload"])
    digest = "sha256:" + hashlib.sha256((folder / "manifest.json").read_bytes()).hexdigest()
    verifier = Verifier(TrustRoot.production())
    ann = doc["annotations"]
    verify_simple_signing(verifier, payload, ann, manifest_digest=digest)
    ours = ops_per_second(
        lambda: verify_simple_signing(verifier, payload, ann, manifest_digest=digest),
        min_time=0.3 if quick else 1.0,
    )
    return [
        Row(
            "simple-signing verify (legacy cosign keyless: chain, SCT, SET, payload)",
            ours,
            "verifies/s",
            note="sigstore-python cannot verify these (no inclusion proof)",
        )
    ]


BENCHMARKS = [
    Benchmark("sigstore-bundle", bundle_verify),
    Benchmark("sigstore-batch", batch_scaling),
    Benchmark("sigstore-simple", simple_signing),
]

if __name__ == "__main__":  # pragma: no cover
    sys.exit("run through benches/run.py")

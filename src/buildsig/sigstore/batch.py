"""Verify many bundles on every core.

Bundle verification is CPU-bound (a P-384 chain signature and four P-256 signatures per
bundle) and the GIL serialises it, so a batch is spread over worker processes. Each worker
parses the trust root once, in its initializer, and then only verifies: the per-bundle
cost in a worker is the same as in a reused :class:`~buildsig.sigstore.Verifier`, so
throughput grows with cores. Results are small picklable records, in input order; one bad
bundle is one failed record, never a failed batch.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

from buildsig.errors import BuildsigError
from buildsig.model import SignerInfo
from buildsig.sigstore.trust import TrustRoot
from buildsig.sigstore.verify import Identity, VerifiedTime, Verifier

__all__ = ["BatchItem", "BatchResult", "verify_batch"]


@dataclasses.dataclass(frozen=True, slots=True)
class BatchItem:
    """One bundle to verify: over an artifact digest (``sha256:<hex>``) or bytes."""

    bundle: bytes
    artifact: str | bytes
    identity: Identity | None = None
    key: bytes | None = None  # PEM, for key-signed bundles


@dataclasses.dataclass(frozen=True, slots=True)
class BatchResult:
    """The verdict on one item."""

    verified: bool
    reason: str = ""
    signer: SignerInfo | None = None
    timestamps: tuple[VerifiedTime, ...] = ()
    predicate_type: str = ""


_worker: Verifier | None = None


def _init(trust_json: bytes | None, name: str) -> None:
    global _worker  # one verifier per worker process, by design
    root = TrustRoot.from_json(trust_json, name=name) if trust_json else TrustRoot.production()
    _worker = Verifier(root)


def _one(verifier: Verifier, item: BatchItem) -> BatchResult:
    try:
        result = verifier.verify_artifact(
            item.bundle, item.artifact, identity=item.identity, key=item.key
        )
    except BuildsigError as exc:
        return BatchResult(verified=False, reason=f"{type(exc).__name__}: {exc}")
    return BatchResult(
        verified=True,
        signer=result.signer,
        timestamps=result.timestamps,
        predicate_type=result.predicate_type if result.payload_type else "",
    )


def _chunk(items: Sequence[BatchItem]) -> list[BatchResult]:
    if _worker is None:  # pragma: no cover - the initializer always runs first
        raise RuntimeError("worker not initialised")
    return [_one(_worker, item) for item in items]


def verify_batch(
    items: Sequence[BatchItem],
    *,
    trust_root: bytes | str | os.PathLike[str] | None = None,
    jobs: int | None = None,
) -> list[BatchResult]:
    """Verify every item; results in input order.

    ``trust_root`` is a ``trusted_root.json`` (bytes, or a path), None for public good.
    ``jobs`` worker processes (default: every core); 1 verifies in this process.
    """
    if trust_root is None or isinstance(trust_root, bytes):
        trust_json, name = trust_root, "custom" if trust_root else "production"
    else:
        with open(trust_root, "rb") as fh:
            trust_json, name = fh.read(4 * 1024 * 1024 + 1), str(trust_root)
    jobs = max(1, jobs or os.cpu_count() or 1)
    if jobs == 1 or len(items) < 2 * jobs:
        root = TrustRoot.from_json(trust_json, name=name) if trust_json else TrustRoot.production()
        verifier = Verifier(root)
        return [_one(verifier, item) for item in items]
    if trust_json:
        TrustRoot.from_json(trust_json, name=name)  # a bad root fails here, not in each worker
    size = max(1, min(256, len(items) // (jobs * 4)))
    chunks = [items[i : i + size] for i in range(0, len(items), size)]
    with ProcessPoolExecutor(
        max_workers=jobs, initializer=_init, initargs=(trust_json, name)
    ) as pool:
        return [r for chunk in pool.map(_chunk, chunks) for r in chunk]

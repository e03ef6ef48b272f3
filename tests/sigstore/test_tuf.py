"""``TrustRoot.from_tuf``: a real TUF refresh against a local TUF repository.

The repository is built with python-tuf's metadata API and served over HTTP on
127.0.0.1; its one target is a test Sigstore's ``trusted_root.json``. The refresh must
load exactly that root, write only under the cache directory it was given, and refuse a
repository whose target does not match its signed metadata.
"""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import Metadata, Root, Snapshot, TargetFile, Targets, Timestamp

from buildsig.errors import PolicyConfigError
from buildsig.sigstore import TrustRoot
from buildsig.testing import TestSigstore


def _publish(repo: Path, target: bytes) -> bytes:
    """Write a signed TUF repository serving ``target`` as trusted_root.json; its root."""
    signer = CryptoSigner.generate_ed25519()
    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(days=7)
    root = Metadata(Root(expires=expires, consistent_snapshot=False))
    for role in ("root", "targets", "snapshot", "timestamp"):
        root.signed.add_key(signer.public_key, role)
    targets = Metadata(Targets(expires=expires))
    (repo / "targets").mkdir(parents=True)
    (repo / "targets" / "trusted_root.json").write_bytes(target)
    targets.signed.targets["trusted_root.json"] = TargetFile.from_data("trusted_root.json", target)
    snapshot = Metadata(Snapshot(expires=expires))
    timestamp = Metadata(Timestamp(expires=expires))
    for md in (root, targets):
        md.sign(signer)
    snapshot.signed.meta["targets.json"].version = targets.signed.version
    snapshot.sign(signer)
    timestamp.signed.snapshot_meta.version = snapshot.signed.version
    timestamp.sign(signer)
    root.to_file(str(repo / "1.root.json"))
    targets.to_file(str(repo / "targets.json"))
    snapshot.to_file(str(repo / "snapshot.json"))
    timestamp.to_file(str(repo / "timestamp.json"))
    return (repo / "1.root.json").read_bytes()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    repo = tmp_path / "repo"
    repo.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(repo))
    handler.log_message = lambda *a, **k: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", repo
    finally:
        server.shutdown()
        server.server_close()


def test_refresh_loads_the_published_root(served: tuple[str, Path], tmp_path: Path) -> None:
    url, repo = served
    sigstore = TestSigstore(seed=3)
    root_json = _publish(repo, sigstore.trusted_root_json())
    cache = tmp_path / "cache"
    trust = TrustRoot.from_tuf(url, cache_dir=cache, bootstrap_root=root_json)
    expected = TrustRoot.from_json(sigstore.trusted_root_json())
    assert [t.log_id for t in trust.tlogs] == [t.log_id for t in expected.tlogs]
    assert [c.chain for c in trust.certificate_authorities] == [
        c.chain for c in expected.certificate_authorities
    ]
    written = {p.relative_to(cache).as_posix() for p in cache.rglob("*") if p.is_file()}
    assert "targets/trusted_root.json" in written
    assert all(p.startswith(("metadata/", "targets/")) for p in written)
    # a second refresh starts from the cached, verified root (no bootstrap needed)
    again = TrustRoot.from_tuf(url, cache_dir=cache)
    assert [t.log_id for t in again.tlogs] == [t.log_id for t in expected.tlogs]


def test_a_target_that_does_not_match_its_metadata_is_refused(
    served: tuple[str, Path], tmp_path: Path
) -> None:
    url, repo = served
    root_json = _publish(repo, TestSigstore(seed=3).trusted_root_json())
    (repo / "targets" / "trusted_root.json").write_bytes(TestSigstore(seed=4).trusted_root_json())
    with pytest.raises(PolicyConfigError, match="TUF refresh"):
        TrustRoot.from_tuf(url, cache_dir=tmp_path / "cache", bootstrap_root=root_json)


def test_an_unknown_repository_needs_a_bootstrap_root(tmp_path: Path) -> None:
    with pytest.raises(PolicyConfigError, match="bootstrap"):
        TrustRoot.from_tuf("http://127.0.0.1:9/tuf", cache_dir=tmp_path)


def test_an_unreachable_repository_is_a_policy_config_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyConfigError, match="TUF refresh"):
        TrustRoot.from_tuf("http://127.0.0.1:9", cache_dir=tmp_path, bootstrap_root=b"{}")

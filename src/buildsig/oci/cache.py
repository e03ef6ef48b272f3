"""A content-addressed cache for registry content: memory (LRU, bounded) and disk.

Everything a digest names is immutable, so a manifest or blob fetched once never has to
cross the network again: resolving ``repo@sha256:…`` a second time costs no request at
all. The cache is *outside* the trust boundary (see sigstore-rust#165): bytes are checked
against their digest when they go in, and every read from disk is hashed again, so a
corrupted or tampered cache file is dropped, never served.

Tags are different: they move. The cache never answers a tag on its own unless the
caller opted into a time-to-live (``tag_ttl``); by default the registry client asks the
registry which digest a tag names (one ``HEAD``) and only then uses the cache.
"""

from __future__ import annotations

import collections
import hashlib
import logging
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Final

from buildsig.errors import DigestMismatchError, InvalidInputError
from buildsig.oci.store import Descriptor

__all__ = ["DEFAULT_MEMORY_BYTES", "ContentCache", "split_digest"]

#: Memory budget of a cache made without one: enough for thousands of manifests and
#: configs, small enough to be harmless in a long-lived process.
DEFAULT_MEMORY_BYTES: Final = 64 * 1024 * 1024

_HEX_LENGTHS: Final = {"sha256": 64, "sha384": 96, "sha512": 128}
_HEX_CHARS: Final = frozenset("0123456789abcdef")

_log = logging.getLogger("buildsig.oci.cache")


def split_digest(digest: str) -> tuple[str, str]:
    """``(algorithm, hex)`` of a digest buildsig can check, else InvalidInputError.

    Only sha256, sha384 and sha512 with lowercase hex of the right length are accepted:
    a digest that cannot be recomputed pins nothing, and a malformed one must never be
    turned into a file name or a URL.
    """
    algorithm, sep, encoded = digest.partition(":")
    length = _HEX_LENGTHS.get(algorithm)
    if not sep or length is None:
        raise InvalidInputError(
            f"unsupported digest {digest[:80]!r}: only sha256, sha384 and sha512 can be checked",
            source=digest[:200],
        )
    if len(encoded) != length or not set(encoded) <= _HEX_CHARS:
        raise InvalidInputError(f"malformed digest {digest[:200]!r}", source=digest[:200])
    return algorithm, encoded


def _digest_of(algorithm: str, data: bytes) -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


class ContentCache:
    """Verified bytes by digest, in memory (LRU, bounded by bytes) and optionally on disk.

    ``max_memory_bytes`` bounds the in-memory part; entries larger than a quarter of it
    stay on disk only (one big layer must not evict every manifest). ``directory`` adds a
    persistent layer laid out as ``<directory>/<algorithm>/<hex>``; files are written to a
    temporary name and renamed, so readers never see half a file, and are re-hashed on
    every read. The disk part is not size-bounded: prune it with ordinary tools.

    ``tag_ttl`` (seconds, default 0 = never) lets :class:`~buildsig.oci.registry.
    RegistryClient` reuse a tag → digest answer without asking the registry; only turn it
    on when a slightly stale tag is acceptable.

    All methods are thread-safe; one cache may be shared by several clients.
    """

    def __init__(
        self,
        *,
        max_memory_bytes: int = DEFAULT_MEMORY_BYTES,
        directory: str | os.PathLike[str] | None = None,
        tag_ttl: float = 0.0,
    ) -> None:
        if max_memory_bytes < 0:
            raise InvalidInputError("max_memory_bytes must not be negative")
        if tag_ttl < 0:
            raise InvalidInputError("tag_ttl must not be negative")
        self.max_memory_bytes = max_memory_bytes
        self.directory = Path(directory) if directory is not None else None
        self.tag_ttl = float(tag_ttl)
        self._lock = threading.Lock()
        self._memory: collections.OrderedDict[str, bytes] = collections.OrderedDict()
        self._memory_bytes = 0
        self._tags: dict[str, tuple[float, Descriptor]] = {}
        #: Reads answered from memory or disk, and reads that found nothing.
        self.hits = 0
        self.misses = 0

    # --- content ---------------------------------------------------------------------

    @property
    def memory_bytes(self) -> int:
        """Bytes currently held in memory (what ``max_memory_bytes`` bounds)."""
        with self._lock:
            return self._memory_bytes

    def __contains__(self, digest: object) -> bool:
        if not isinstance(digest, str):
            return False
        with self._lock:
            if digest in self._memory:
                return True
        path = self._path(digest)
        return path is not None and path.is_file()

    def get(self, digest: str) -> bytes | None:
        """The bytes named by ``digest``, or None; disk entries are re-verified first."""
        split_digest(digest)
        with self._lock:
            data = self._memory.get(digest)
            if data is not None:
                self._memory.move_to_end(digest)
                self.hits += 1
                return data
        data = self._read_disk(digest)
        with self._lock:
            if data is None:
                self.misses += 1
                return None
            self.hits += 1
            self._remember(digest, data)
        return data

    def put(self, digest: str, data: bytes) -> None:
        """Store ``data`` under ``digest`` after checking that it hashes to it.

        A mismatch raises DigestMismatchError: a content-addressed store that accepted
        wrong bytes would serve them forever.
        """
        algorithm, _ = split_digest(digest)
        actual = _digest_of(algorithm, data)
        if actual != digest:
            raise DigestMismatchError(
                f"refusing to cache content under {digest}: it hashes to {actual}",
                expected=digest,
                actual=actual,
            )
        with self._lock:
            self._remember(digest, data)
        self._write_disk(digest, data)

    def discard(self, digest: str) -> None:
        """Forget ``digest`` in memory and on disk (missing entries are fine)."""
        with self._lock:
            data = self._memory.pop(digest, None)
            if data is not None:
                self._memory_bytes -= len(data)
        path = self._path(digest)
        if path is not None:
            try:
                path.unlink()
            except FileNotFoundError:
                pass
            except OSError as exc:  # pragma: no cover - permissions, read-only media
                _log.debug("cannot remove cache file %s: %s", path, exc)

    def clear(self) -> None:
        """Empty the memory part and the tag memory (disk files are left in place)."""
        with self._lock:
            self._memory.clear()
            self._memory_bytes = 0
            self._tags.clear()

    # --- tags ------------------------------------------------------------------------

    def lookup_tag(self, key: str) -> Descriptor | None:
        """The descriptor remembered for a tag key, if ``tag_ttl`` allows and it is fresh."""
        if self.tag_ttl <= 0:
            return None
        with self._lock:
            entry = self._tags.get(key)
            if entry is None:
                return None
            stored_at, descriptor = entry
            if time.monotonic() - stored_at > self.tag_ttl:
                del self._tags[key]
                return None
            return descriptor

    def remember_tag(self, key: str, descriptor: Descriptor) -> None:
        """Remember what a tag named just now (a no-op unless ``tag_ttl`` is set)."""
        if self.tag_ttl <= 0:
            return
        with self._lock:
            self._tags[key] = (time.monotonic(), descriptor)

    # --- internals -------------------------------------------------------------------

    def _remember(self, digest: str, data: bytes) -> None:
        """Insert into the LRU (lock held); entries too big for memory are skipped."""
        size = len(data)
        if size > self.max_memory_bytes // 4:
            return
        old = self._memory.pop(digest, None)
        if old is not None:
            self._memory_bytes -= len(old)
        self._memory[digest] = data
        self._memory_bytes += size
        while self._memory_bytes > self.max_memory_bytes and self._memory:
            _, evicted = self._memory.popitem(last=False)
            self._memory_bytes -= len(evicted)

    def _path(self, digest: str) -> Path | None:
        if self.directory is None:
            return None
        try:
            algorithm, encoded = split_digest(digest)
        except InvalidInputError:
            return None
        return self.directory / algorithm / encoded

    def _read_disk(self, digest: str) -> bytes | None:
        path = self._path(digest)
        if path is None:
            return None
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            _log.debug("cannot read cache file %s: %s", path, exc)
            return None
        algorithm, _ = split_digest(digest)
        actual = _digest_of(algorithm, data)
        if actual != digest:
            _log.warning("dropping corrupted cache file %s (hashes to %s)", path, actual)
            self.discard(digest)
            return None
        return data

    def _write_disk(self, digest: str, data: bytes) -> None:
        path = self._path(digest)
        if path is None or path.is_file():
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
            try:
                with os.fdopen(fd, "wb") as tmp:
                    tmp.write(data)
                os.replace(tmp_name, path)
            except BaseException:
                Path(tmp_name).unlink(missing_ok=True)
                raise
        except OSError as exc:
            # A cache that cannot write is still a working (memory) cache.
            _log.debug("cannot write cache file %s: %s", path, exc)

"""Audit a repository's history: who signed which commits and tags, and what failed.

``git log --show-signature`` spawns a verifier per commit (≈100/s); this reads objects
with dulwich in one process and verifies them in-process across every core, so a
history of thousands of signed commits is checked in seconds. The report counts
outcomes and groups verified objects by signer (SSH principal, or OpenPGP user id and
key), which is what a maintainer needs to spot an unexpected key or a gap.
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
import os
import re
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from buildsig.errors import InvalidInputError, NotFoundError
from buildsig.git.result import Reason, SignatureCheck
from buildsig.git.verify import TrustedKeys, verify_git_object

__all__ = ["AuditItem", "AuditReport", "audit_repository"]

#: Below this many objects a process pool costs more than it saves.
_PARALLEL_THRESHOLD = 256
_CHUNK = 128


@dataclasses.dataclass(frozen=True, slots=True)
class AuditItem:
    """One audited object."""

    type: str
    id: str
    check: SignatureCheck


@dataclasses.dataclass(frozen=True, slots=True)
class AuditReport:
    """Every audited object, with summaries by outcome and by signer."""

    items: tuple[AuditItem, ...]

    @property
    def by_outcome(self) -> dict[str, int]:
        """Count per outcome: ``verified`` or a reason code."""
        counts = collections.Counter(
            "verified" if i.check.verified else str(i.check.reason) for i in self.items
        )
        return dict(counts.most_common())

    @property
    def by_signer(self) -> dict[str, dict[str, int]]:
        """Per signer (as far as known), the count per outcome."""
        out: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
        for item in self.items:
            if item.check.reason == Reason.UNSIGNED:
                continue
            outcome = "verified" if item.check.verified else str(item.check.reason)
            out[_signer_label(item.check)][outcome] += 1
        return {k: dict(v) for k, v in sorted(out.items(), key=lambda kv: -sum(kv[1].values()))}

    @property
    def failed(self) -> list[AuditItem]:
        """Signed objects whose signature did not verify (unsigned ones are not failures)."""
        return [i for i in self.items if not i.check.verified and i.check.reason != Reason.UNSIGNED]

    def to_dict(self) -> dict[str, Any]:
        """Totals, summaries, and the failures in full."""
        return {
            "total": len(self.items),
            "by_outcome": self.by_outcome,
            "by_signer": self.by_signer,
            "failures": [{"type": i.type, "id": i.id, **i.check.to_dict()} for i in self.failed],
        }


def _signer_label(check: SignatureCheck) -> str:
    s = check.signer
    if s is None:
        return "(unknown signer)"
    if s.format == "ssh":
        who = s.principal or "(no principal)"
        return f"{who} [{s.algorithm} {s.signing_fingerprint}]".strip()
    who = s.user_id or "(no user id)"
    return f"{who} [{s.algorithm} {s.key_id or s.signing_fingerprint}]".strip()


def _parents(raw: bytes) -> list[bytes]:
    """Parent ids from a commit's headers (a cheap scan; no full parse needed to walk)."""
    out = []
    for line in raw.split(b"\n", 64):
        if not line:
            break
        if line.startswith(b"parent "):
            out.append(line[7:].strip())
    return out


def iter_objects(
    path: str | Path, rev_range: str | None = None
) -> Iterator[tuple[str, str, bytes, str]]:
    """Yield (type, id, raw, object_format) for every object to audit.

    That is every commit in ``rev_range`` (``REV`` or ``A..B``; default ``HEAD``) and every
    annotated tag that points into it. Objects are read raw, each once; a shallow
    repository's missing parents simply end the walk there.
    """
    from dulwich.errors import NotGitRepository
    from dulwich.objects import Tag
    from dulwich.repo import Repo

    try:
        repo = Repo(str(path))
    except (NotGitRepository, FileNotFoundError, NotADirectoryError):
        raise NotFoundError(f"not a git repository: {path}", source=str(path)) from None
    try:
        fmt = str(getattr(getattr(repo, "object_format", None), "name", "sha1"))
        store: Any = repo.object_store
        include, exclude = _parse_range(repo, rev_range or "HEAD")
        seen = _ancestors(store, exclude)
        stack = list(include)
        walked: set[bytes] = set()
        while stack:
            oid = stack.pop()
            if oid in seen:
                continue
            seen.add(oid)
            try:
                type_num, raw = store.get_raw(oid)
            except KeyError:
                continue  # beyond a shallow boundary
            if type_num != 1:
                continue
            walked.add(oid)
            yield "commit", oid.decode(), raw, fmt
            stack.extend(_parents(raw))
        refs: Any = repo.refs
        tags: dict[bytes, bytes] = refs.as_dict(b"refs/tags")
        for _name, oid in sorted(tags.items()):
            obj = store[oid]
            if isinstance(obj, Tag) and obj.object[1] in walked:
                yield "tag", oid.decode(), obj.as_raw_string(), fmt
    finally:
        repo.close()


def _ancestors(store: Any, tips: list[bytes]) -> set[bytes]:
    """Every commit reachable from ``tips`` (the excluded side of ``A..B``)."""
    out: set[bytes] = set()
    stack = list(tips)
    while stack:
        oid = stack.pop()
        if oid in out:
            continue
        out.add(oid)
        try:
            type_num, raw = store.get_raw(oid)
        except KeyError:
            continue
        if type_num == 1:
            stack.extend(_parents(raw))
    return out


_REV_SUFFIXES = re.compile(r"(.*?)((?:[~^]\d*)*)")


def _parse_range(repo: Any, text: str) -> tuple[list[bytes], list[bytes]]:
    from dulwich.objectspec import parse_commit

    def one(rev: str) -> bytes:
        # dulwich resolves names and ids; git's ~N and ^N suffixes are applied here.
        m = _REV_SUFFIXES.fullmatch(rev)
        base, suffixes = (m.group(1), m.group(2)) if m else (rev, "")
        try:
            commit = parse_commit(repo, (base or "HEAD").encode())
            for op, count in re.findall(r"([~^])(\d*)", suffixes):
                n = int(count) if count else 1
                if op == "~":
                    for _ in range(n):
                        commit = repo[commit.parents[0]]
                elif n:
                    commit = repo[commit.parents[n - 1]]
            return bytes(commit.id)
        except (KeyError, ValueError, IndexError):
            raise InvalidInputError(f"unknown revision {rev!r}", source=rev) from None

    if ".." in text:
        old, _, new = text.partition("..")
        return [one(new or "HEAD")], [one(old)] if old else []
    return [one(text)], []


# --- parallel verification -------------------------------------------------------------------

_worker_keys: TrustedKeys | None = None
_worker_opts: dict[str, Any] = {}


def _init_worker(key_spec: dict[str, Any], opts: dict[str, Any]) -> None:
    global _worker_keys, _worker_opts
    _worker_keys = TrustedKeys.from_files(**key_spec)
    _worker_opts = opts


def _verify_chunk(chunk: Sequence[tuple[str, str, bytes, str]]) -> list[AuditItem]:
    if _worker_keys is None:  # pragma: no cover - the initializer always runs first
        raise RuntimeError("audit worker used before initialisation")
    return [_verify_one(item, _worker_keys, _worker_opts) for item in chunk]


def _verify_one(
    item: tuple[str, str, bytes, str], keys: TrustedKeys, opts: dict[str, Any]
) -> AuditItem:
    from buildsig.git.objects import parse_git_object

    kind, oid, raw, fmt = item
    obj = parse_git_object(raw, kind, object_format=fmt)  # type: ignore[arg-type]
    return AuditItem(
        kind, oid, verify_git_object(obj, keys, allow_sha1=opts.get("allow_sha1", False))
    )


def audit_repository(
    path: str | Path,
    rev_range: str | None = None,
    *,
    keys: str | Path | None = None,
    allowed_signers: str | Path | None = None,
    revocation_file: str | Path | None = None,
    allow_sha1: bool = False,
    jobs: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> AuditReport:
    """Verify every commit in ``rev_range`` and every annotated tag pointing into it.

    Keys are given as files (so worker processes can load them once each). ``jobs``
    defaults to the number of cores; small histories are verified in-process.
    """
    key_spec = {
        "keys": keys,
        "allowed_signers": allowed_signers,
        "revocation_file": revocation_file,
    }
    # Load once here too: bad files fail early, in this process, with a clear error.
    trusted = TrustedKeys.from_files(
        keys=keys, allowed_signers=allowed_signers, revocation_file=revocation_file
    )
    opts = {"allow_sha1": allow_sha1}
    workers = jobs or os.cpu_count() or 1
    stream = iter_objects(path, rev_range)
    first = list(itertools.islice(stream, _PARALLEL_THRESHOLD))
    items: list[AuditItem] = []
    if workers <= 1 or len(first) < _PARALLEL_THRESHOLD:
        # Small history (or one core): no pool; the rest of the stream is read lazily.
        for n, obj in enumerate(itertools.chain(first, stream), 1):
            items.append(_verify_one(obj, trusted, opts))
            if progress is not None and n % 64 == 0:
                progress(n, 0)
        if progress is not None:
            progress(len(items), len(items))
        return AuditReport(tuple(items))
    # Verify on every core while this process keeps reading: reads and checks overlap.
    with ProcessPoolExecutor(
        max_workers=workers, initializer=_init_worker, initargs=(key_spec, opts)
    ) as pool:
        futures = []
        chunk, total = first, len(first)
        for obj in stream:
            chunk.append(obj)
            total += 1
            if len(chunk) >= _CHUNK:
                futures.append(pool.submit(_verify_chunk, chunk))
                chunk = []
        if chunk:
            futures.append(pool.submit(_verify_chunk, chunk))
        for future in futures:
            items.extend(future.result())
            if progress is not None:
                progress(len(items), total)
    return AuditReport(tuple(items))

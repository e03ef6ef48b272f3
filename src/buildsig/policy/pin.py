"""Pin every source of a Dockerfile with a BuildKit source policy, and check the pins.

A Dockerfile names its inputs by moving references: an image tag, a git branch or tag, a
URL whose content can change. :func:`pin_dockerfile` resolves each of them now and
writes a source policy (``buildctl --source-policy-file``, Buildx's
``EXPERIMENTAL_BUILDKIT_SOURCE_POLICY``) whose CONVERT rules make BuildKit build exactly
what was resolved, or fail when the content no longer matches. The Dockerfile itself is
left alone. :func:`check_pins` re-resolves everything later (a scheduled CI job) and says
which pins still hold.

The sources are the ones ``buildsig check`` judges (:func:`dockerfile_sources`), named
exactly as BuildKit's frontend names them, so an ``EXACT`` selector on the identifier
matches the source operation the daemon sees. One rule per distinct identifier, in
Dockerfile order:

* ``docker-image://REPO:TAG`` converts to ``docker-image://REPO:TAG@sha256:D`` with
  ``image.checksum=sha256:D``. ``D`` is what the tag points to (the index digest for a
  multi-platform image, the digest the registry reports for the tag), so every platform
  stays buildable and the tag stays readable in the pinned reference.
* ``https://…`` (``ADD <url>``) sets ``http.checksum`` to the sha256 of the content:
  BuildKit downloads as before and refuses different bytes.
* ``git://HOST/PATH#REF[:SUBDIR]`` converts to ``git://HOST/PATH#COMMIT[:SUBDIR]`` with
  ``git.checksum=COMMIT``. BuildKit reads the ref and subdirectory from the identifier's
  fragment and the remote from ``git.fullurl`` (the URL without fragment, left as it is),
  so the converted source fetches that commit; for a commit ref BuildKit requires
  ``git.checksum`` to be a prefix of it, hence the peeled commit even for annotated tags.

Already pinned sources (an image with a digest, ``ADD --checksum``, a git ref that is a
full commit id or has a checksum) get no rule; the local context and anything else cannot
be pinned. Resolution failures are reported per source: a policy with a missing pin is
worse than none, so the CLI writes nothing unless every source resolved.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import TYPE_CHECKING, Any

from buildsig._internal.giturl import is_commit_sha
from buildsig._internal.reference import parse_image_reference
from buildsig._internal.serde import FrozenMap
from buildsig.errors import BuildsigError, InvalidInputError
from buildsig.policy.dockerfile import MAX_DOCKERFILE_SIZE, DockerfileSource, dockerfile_sources
from buildsig.policy.source import (
    MatchType,
    PolicyAction,
    Rule,
    Selector,
    SourcePolicy,
    SourcePolicyEngine,
    Update,
    load_source_policy,
)
from buildsig.resolver import ResolveOptions
from buildsig.source import ATTR_GIT_FULL_URL, ATTR_IMAGE_CHECKSUM, Source, source_to_input

if TYPE_CHECKING:
    from buildsig.http.client import HTTPClient
    from buildsig.oci.images import ImageResolver

__all__ = [
    "ATTR_GIT_CHECKSUM",
    "PinCheck",
    "PinCheckReport",
    "PinEntry",
    "PinReport",
    "check_pins",
    "pin_dockerfile",
    "write_source_policy",
]

#: BuildKit's ``AttrGitChecksum``: the commit a git source must resolve to.
ATTR_GIT_CHECKSUM = "git.checksum"
_ATTR_HTTP_CHECKSUM = "http.checksum"

# PinEntry.status values
PINNED = "pinned"
ALREADY_PINNED = "already pinned"
NOT_PINNABLE = "not pinnable"
ERROR = "error"

# PinCheck.status values
OK = "ok"
CHANGED = "changed"
UNPINNED = "unpinned"
STALE = "stale"

#: Sources resolved at once (registries, git servers and download hosts in parallel).
MAX_CONCURRENT_LOOKUPS = 8

_PIN_ATTR = {"image": ATTR_IMAGE_CHECKSUM, "http": _ATTR_HTTP_CHECKSUM, "git": ATTR_GIT_CHECKSUM}


@dataclasses.dataclass(frozen=True, slots=True)
class PinEntry:
    """One Dockerfile source and how it is pinned.

    ``status`` is ``pinned`` (``rule`` converts it), ``already pinned`` (the Dockerfile
    pins it itself), ``not pinnable`` (the build context) or ``error`` (``error`` says
    why). For pinned sources ``identifier`` and ``attrs`` are the source after conversion
    (the attributes the rule sets) and ``value`` the digest, checksum or commit.
    """

    source: DockerfileSource
    status: str
    identifier: str = ""
    attrs: Mapping[str, str] = dataclasses.field(default_factory=FrozenMap)
    value: str = ""
    error: str = ""
    rule: Rule | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.attrs, FrozenMap):
            object.__setattr__(self, "attrs", FrozenMap(self.attrs))

    def to_json(self) -> dict[str, Any]:
        """The entry as a JSON object (empty fields omitted)."""
        out = _source_json(self.source)
        out["status"] = self.status
        if self.identifier:
            out["pinned"] = self.identifier
        if self.attrs:
            out["attrs"] = dict(sorted(self.attrs.items()))
        if self.value:
            out["value"] = self.value
        if self.error:
            out["error"] = self.error
        return out


@dataclasses.dataclass(frozen=True, slots=True)
class PinReport:
    """Every source of the Dockerfile, in order, and the policy pinning them.

    ``policy`` holds the rules of the sources that resolved; it is complete only when
    :attr:`ok` (no source failed to resolve).
    """

    dockerfile: str
    entries: tuple[PinEntry, ...]
    policy: SourcePolicy

    @property
    def ok(self) -> bool:
        """Whether every source resolved (the policy pins everything pinnable)."""
        return all(e.status != ERROR for e in self.entries)

    @property
    def errors(self) -> tuple[PinEntry, ...]:
        """The sources that could not be resolved."""
        return tuple(e for e in self.entries if e.status == ERROR)

    def to_json(self) -> dict[str, Any]:
        """The report as a JSON object, with the policy in BuildKit's form."""
        return {
            "dockerfile": self.dockerfile,
            "ok": self.ok,
            "sources": [e.to_json() for e in self.entries],
            "policy": self.policy.to_json(),
        }


@dataclasses.dataclass(frozen=True, slots=True)
class PinCheck:
    """What an existing policy does to one source, compared with pinning it now.

    ``status``: ``ok`` (the policy converts it exactly as pinning now would), ``changed``
    (upstream moved: ``pinned`` is what the policy holds, ``current`` what pinning now
    gives), ``unpinned`` (the policy leaves it alone), ``error`` (it could not be
    resolved, or the policy refuses it), ``already pinned`` / ``not pinnable`` (nothing
    to check), or ``stale`` for a rule that matches no source (``rule`` set, ``source``
    None).
    """

    status: str
    source: DockerfileSource | None = None
    pinned: str = ""
    current: str = ""
    pinned_identifier: str = ""
    current_identifier: str = ""
    error: str = ""
    rule: Rule | None = None
    rule_index: int = 0  # 1-based, for stale rules

    @property
    def failed(self) -> bool:
        """Whether this entry makes the check fail."""
        return self.status in (CHANGED, UNPINNED, ERROR)

    def to_json(self) -> dict[str, Any]:
        """The entry as a JSON object (empty fields omitted)."""
        out: dict[str, Any] = _source_json(self.source) if self.source is not None else {}
        out["status"] = self.status
        for key, value in (
            ("pinned", self.pinned),
            ("current", self.current),
            ("pinnedIdentifier", self.pinned_identifier),
            ("currentIdentifier", self.current_identifier),
            ("error", self.error),
        ):
            if value:
                out[key] = value
        if self.rule is not None:
            out["rule"] = self.rule_index
            out["selector"] = self.rule.selector.identifier
        return out


@dataclasses.dataclass(frozen=True, slots=True)
class PinCheckReport:
    """Every source checked against the policy, then the policy's stale rules."""

    dockerfile: str
    policy_file: str
    checks: tuple[PinCheck, ...]

    @property
    def ok(self) -> bool:
        """True when every pin holds (stale rules do not count)."""
        return not any(c.failed for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        """The report as a JSON object."""
        return {
            "dockerfile": self.dockerfile,
            "policy": self.policy_file,
            "ok": self.ok,
            "sources": [c.to_json() for c in self.checks if c.source is not None],
            "stale": [c.to_json() for c in self.checks if c.source is None],
        }


def _source_json(source: DockerfileSource) -> dict[str, Any]:
    out: dict[str, Any] = {
        "source": source.identifier,
        "kind": source.kind,
        "instruction": source.instruction,
        "line": source.line,
        "stage": source.stage,
    }
    if source.attrs:
        out["sourceAttrs"] = dict(sorted(source.attrs.items()))
    return out


# --- resolving one source --------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class _Pin:
    identifier: str  # after conversion
    attr: str  # the checksum attribute the rule sets
    value: str


class _Pinner:
    """The clients resolution needs, created on first use and closed together."""

    def __init__(self, options: ResolveOptions) -> None:
        self.options = options
        self._images: ImageResolver | None = None
        self._http: HTTPClient | None = None
        self._lock = threading.Lock()  # sources are resolved on several threads

    def images(self) -> ImageResolver:
        with self._lock:
            return self._images_locked()

    def _images_locked(self) -> ImageResolver:
        if self._images is None:
            from buildsig.oci.images import ImageResolver

            self._images = ImageResolver(
                layouts=self.options.oci_layouts,
                registry_options={
                    "timeout": self.options.timeout,
                    "insecure_registries": self.options.insecure_registries,
                },
            )
        return self._images

    def http(self) -> HTTPClient:
        with self._lock:
            return self._http_locked()

    def _http_locked(self) -> HTTPClient:
        if self._http is None:
            from buildsig.http.client import HTTPClient

            self._http = HTTPClient(
                connect_timeout=self.options.timeout, read_timeout=self.options.timeout
            )
        return self._http

    def close(self) -> None:
        if self._images is not None:
            self._images.close()
        if self._http is not None:
            self._http.close()

    def pin(self, found: DockerfileSource) -> PinEntry:
        """Resolve one source; failures become ``error`` entries, never exceptions."""
        try:
            if found.kind == "image":
                pin = self._image(found)
            elif found.kind == "http":
                pin = self._url(found)
            elif found.kind == "git":
                pin = self._git(found)
            else:
                return PinEntry(found, NOT_PINNABLE)
        except BuildsigError as exc:
            return PinEntry(found, ERROR, error=f"{type(exc).__name__}: {exc}")
        if pin is None:
            return PinEntry(found, ALREADY_PINNED)
        converted = pin.identifier if pin.identifier != found.identifier else ""
        rule = Rule(
            PolicyAction.CONVERT,
            Selector(found.identifier, MatchType.EXACT),
            Update(converted, {pin.attr: pin.value}),
        )
        return PinEntry(found, PINNED, pin.identifier, {pin.attr: pin.value}, pin.value, rule=rule)

    def _image(self, found: DockerfileSource) -> _Pin | None:
        text = found.identifier.removeprefix("docker-image://")
        ref = parse_image_reference(text)
        if ref.digest is not None or ATTR_IMAGE_CHECKSUM in found.attrs:
            return None
        from buildsig.oci.store import Repository

        store = self.images().store_for(text)
        manifest = store.get_manifest(Repository(ref.domain, ref.path), ref.tag or "latest")
        digest = manifest.digest
        return _Pin(f"{found.identifier}@{digest}", ATTR_IMAGE_CHECKSUM, digest)

    def _url(self, found: DockerfileSource) -> _Pin | None:
        if found.attrs.get(_ATTR_HTTP_CHECKSUM):
            return None
        from buildsig.http.resolve import resolve_http_checksum

        source = Source(found.identifier, dict(found.attrs))
        resolved = resolve_http_checksum(
            source,
            source_to_input(source),
            client=self.http(),
            max_bytes=self.options.max_download_bytes,
            deadline=self.options.download_deadline,
        )
        checksum = resolved.http.checksum if resolved.http is not None else ""
        if not checksum:  # pragma: no cover - resolve_http_checksum always sets it
            raise InvalidInputError(f"no checksum for {found.identifier}")
        return _Pin(found.identifier, _ATTR_HTTP_CHECKSUM, checksum)

    def _git(self, found: DockerfileSource) -> _Pin | None:
        base, ref, subdir = _split_git_identifier(found.identifier)
        if is_commit_sha(ref) or found.attrs.get(ATTR_GIT_CHECKSUM):
            return None
        from buildsig.git.remote import open_remote
        from buildsig.git.resolve import resolve_ref

        # BuildKit fetches from git.fullurl; without it the identifier's host/path over
        # https (GitIdentifier: a non-transport remote gets https://).
        url = found.attrs.get(ATTR_GIT_FULL_URL) or "https://" + base.removeprefix("git://")
        remote = open_remote(
            url.split("#", 1)[0], timeout=self.options.timeout, ssh_command=self.options.ssh_command
        )
        try:
            resolved = resolve_ref(remote, ref)
            # an annotated tag is pinned to the commit it peels to: for a commit ref
            # BuildKit requires git.checksum to be a prefix of it
            commit = resolved.commit_checksum or resolved.checksum
        finally:
            remote.close()
        pinned = f"{base}#{commit}" + (f":{subdir}" if subdir else "")
        return _Pin(pinned, ATTR_GIT_CHECKSUM, commit)


def _split_git_identifier(identifier: str) -> tuple[str, str, str]:
    """Split ``git://host/path#ref:subdir`` into its base, ref and subdir.

    The fragment is cut as BuildKit's ``gitutil.ParseURL`` cuts it: first ``#``, then
    first ``:``.
    """
    base, _, fragment = identifier.partition("#")
    ref, _, subdir = fragment.partition(":")
    return base, ref, subdir


# --- the Dockerfile ----------------------------------------------------------------------


def _read_dockerfile(dockerfile: str | os.PathLike[str]) -> str:
    try:
        with open(dockerfile, "rb") as fh:
            raw = fh.read(MAX_DOCKERFILE_SIZE + 1)
    except FileNotFoundError:
        raise InvalidInputError(
            f"{dockerfile}: no such Dockerfile", source=str(dockerfile)
        ) from None
    except OSError as exc:
        raise InvalidInputError(
            f"cannot read {dockerfile}: {exc.strerror or exc}", source=str(dockerfile)
        ) from None
    return raw.decode("utf-8", errors="replace")


def _distinct_sources(
    dockerfile: str | os.PathLike[str],
    text: str | None,
    build_args: Mapping[str, str] | None,
    target: str | None,
    platform: str | None,
) -> list[DockerfileSource]:
    """The Dockerfile's sources, one per identifier and attributes.

    A source policy sees nothing else: the same image for two platforms is one source.
    """
    if text is None:
        text = _read_dockerfile(dockerfile)
    found = dockerfile_sources(
        text, build_args=dict(build_args or {}), target=target, platform=platform
    )
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    out = []
    for source in found:
        key = (source.identifier, tuple(sorted(source.attrs.items())))
        if key not in seen:
            seen.add(key)
            out.append(source)
    return out


def _pin_all(
    sources: Sequence[DockerfileSource],
    options: ResolveOptions | None,
    progress: Callable[[int, int, str], None] | None,
) -> list[PinEntry]:
    pinner = _Pinner(options or ResolveOptions())
    entries: list[PinEntry | None] = [None] * len(sources)
    try:
        # independent lookups at once: a Dockerfile costs about one round trip per host,
        # not one per source (the clients are thread-safe; results keep Dockerfile order)
        workers = max(1, min(MAX_CONCURRENT_LOOKUPS, len(sources)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pin") as pool:
            futures = {pool.submit(pinner.pin, found): i for i, found in enumerate(sources)}
            for done, future in enumerate(as_completed(futures)):
                index = futures[future]
                entries[index] = future.result()
                if progress is not None:
                    progress(done, len(sources), sources[index].identifier)
    finally:
        pinner.close()
    if progress is not None:
        progress(len(sources), len(sources), "")
    return [e for e in entries if e is not None]


def pin_dockerfile(
    dockerfile: str | os.PathLike[str],
    *,
    build_args: Mapping[str, str] | None = None,
    target: str | None = None,
    platform: str | None = None,
    text: str | None = None,
    options: ResolveOptions | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> PinReport:
    """Resolve every source of ``dockerfile`` now and build the policy pinning them.

    ``build_args``, ``target`` and ``platform`` select the sources as for a build;
    ``options`` says how to reach them (timeouts, OCI layouts, insecure registries).
    ``text`` is the Dockerfile's content when it is not to be read from ``dockerfile``.
    A source that cannot be resolved is an ``error`` entry (see :attr:`PinReport.ok`);
    a Dockerfile BuildKit would refuse raises :class:`DockerfileError`.
    """
    sources = _distinct_sources(dockerfile, text, build_args, target, platform)
    entries = _pin_all(sources, options, progress)
    rules: list[Rule] = []
    for entry in entries:
        if entry.rule is not None and entry.rule not in rules:
            rules.append(entry.rule)
    return PinReport(str(dockerfile), tuple(entries), SourcePolicy(tuple(rules)))


def write_source_policy(path: str | os.PathLike[str], policy: SourcePolicy) -> None:
    """Write ``policy`` to ``path`` atomically.

    A temporary file in the same directory is flushed to disk, then renamed over
    ``path``: a reader (or a crash) sees the old file or the new one, never a partial
    one. An existing file's permissions are kept.
    """
    target = Path(path)
    directory = target.parent
    try:
        mode = target.stat().st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    except OSError as exc:
        raise InvalidInputError(f"cannot write {target}: {exc.strerror or exc}") from None
    data = policy.dumps().encode("utf-8")
    try:
        fd, temporary = tempfile.mkstemp(dir=directory, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise InvalidInputError(f"cannot write {target}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise InvalidInputError(f"cannot write {target}: {exc.strerror or exc}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


# --- checking an existing policy ---------------------------------------------------------


def _pinned_value(kind: str, identifier: str, attrs: Mapping[str, str]) -> str:
    """What a converted source is pinned to.

    Its checksum attribute, else what the identifier says (an image digest, a commit).
    """
    value = attrs.get(_PIN_ATTR.get(kind, ""), "")
    if value:
        return value
    if kind == "image" and "@" in identifier:
        return identifier.rpartition("@")[2]
    if kind == "git":
        ref = _split_git_identifier(identifier)[1]
        return ref if is_commit_sha(ref) else ""
    return ""


def _matches(engine_rule: Rule, identifier: str, attrs: Mapping[str, str]) -> bool:
    """Whether the rule's selector matches the source, as the engine decides it.

    A one-rule policy denying what the selector matches is evaluated, so constraints,
    wildcards and regexes mean exactly what they mean to BuildKit.
    """
    probe = SourcePolicy((Rule(PolicyAction.DENY, engine_rule.selector),))
    return not SourcePolicyEngine([probe]).evaluate(identifier, attrs).allowed


def _check_one(
    engine: SourcePolicyEngine, entry: PinEntry
) -> tuple[PinCheck, tuple[str, Mapping[str, str]]]:
    found = entry.source
    result = engine.evaluate(found.identifier, dict(found.attrs))
    final = (result.identifier, result.attrs)
    if entry.status == ERROR:
        return PinCheck(ERROR, found, error=entry.error), final
    if not result.allowed:
        message = "; ".join(result.messages[-1:]) or "denied"
        return PinCheck(ERROR, found, error=f"the policy denies this source: {message}"), final
    if entry.status in (ALREADY_PINNED, NOT_PINNABLE):
        return PinCheck(entry.status, found), final
    if not result.mutated:
        return (
            PinCheck(UNPINNED, found, current=entry.value, current_identifier=entry.identifier),
            final,
        )
    pinned = _pinned_value(found.kind, result.identifier, result.attrs)
    holds = result.identifier == entry.identifier and all(
        result.attrs.get(k) == v for k, v in entry.attrs.items()
    )
    return (
        PinCheck(
            OK if holds else CHANGED,
            found,
            pinned=pinned,
            current=entry.value,
            pinned_identifier=result.identifier,
            current_identifier=entry.identifier,
        ),
        final,
    )


def check_pins(
    dockerfile: str | os.PathLike[str],
    policy: SourcePolicy | str | os.PathLike[str],
    *,
    build_args: Mapping[str, str] | None = None,
    target: str | None = None,
    platform: str | None = None,
    text: str | None = None,
    options: ResolveOptions | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> PinCheckReport:
    """Re-resolve every source of ``dockerfile`` and compare with what ``policy`` does.

    ``policy`` is a policy or its file; what it does to each source is what BuildKit's
    engine would do.

    Each source is evaluated with :class:`SourcePolicyEngine`; it is ``ok`` when the
    result is exactly what :func:`pin_dockerfile` would produce now. Rules whose
    selector matches no source (neither as the Dockerfile names it nor as converted) are
    reported ``stale``: harmless, but a sign the policy was pinned for another version
    of the Dockerfile.
    """
    if isinstance(policy, SourcePolicy):
        loaded, name = policy, policy.name or "<policy>"
    else:
        loaded, name = load_source_policy(Path(policy)), str(policy)
    sources = _distinct_sources(dockerfile, text, build_args, target, platform)
    entries = _pin_all(sources, options, progress)
    engine = SourcePolicyEngine([loaded])
    checks: list[PinCheck] = []
    seen: list[tuple[str, Mapping[str, str]]] = []
    for entry in entries:
        check, final = _check_one(engine, entry)
        checks.append(check)
        seen.append((entry.source.identifier, entry.source.attrs))
        seen.append(final)
    for index, rule in enumerate(loaded.rules):
        if not any(_matches(rule, identifier, attrs) for identifier, attrs in seen):
            checks.append(PinCheck(STALE, rule=rule, rule_index=index + 1))
    return PinCheckReport(str(dockerfile), name, tuple(checks))

"""Talking to git repositories: list refs, fetch exactly the tag and commit objects.

Two clients share one small interface (:class:`GitRemote`), so the resolver above them
runs the same code against a server or a directory:

- :class:`NetworkRemote` speaks the smart protocol through dulwich over ``git://``,
  ``http(s)://`` and ``ssh://``/scp-like URLs (the system ``ssh``). It asks for protocol
  v2 with server-side ref prefixes, fetches at depth 1 with the ``tree:0`` filter so only
  the tag and commit cross the wire (servers without filter support send the root tree
  too: slower, still correct), and enforces a timeout on every step — dulwich has none for
  ``git://`` and ``ssh://``, so buildsig adds them (socket timeouts; a watchdog that ends a
  hung ``ssh``).
- :class:`LocalRemote` opens a repository on disk (a path or ``file://``) with dulwich and
  reads refs and objects directly: nothing is copied.

Every object handed back is re-hashed against the id it was asked for. Credentials in a
URL are never put into an error message.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from buildsig.errors import (
    BuildsigError,
    DigestMismatchError,
    InvalidInputError,
    NetworkError,
    NetworkTimeoutError,
    NotFoundError,
    VerificationError,
)
from buildsig.git.objects import check_object_id

if TYPE_CHECKING:
    from dulwich.client import GitClient
    from dulwich.repo import Repo

__all__ = [
    "DEFAULT_TIMEOUT",
    "GitRemote",
    "LocalRemote",
    "NetworkRemote",
    "RawObject",
    "RefListing",
    "open_remote",
]

#: Seconds any single network step may take (connect, a read, the ssh process).
DEFAULT_TIMEOUT = 30.0
#: Largest tag or commit accepted from a remote.
MAX_OBJECT_BYTES = 16 * 1024 * 1024
_PEELED = "^{}"


@dataclasses.dataclass(frozen=True, slots=True)
class RefListing:
    """What a remote advertises: refs (peeled ``^{}`` entries included), symrefs, hash."""

    refs: dict[str, str]
    symrefs: dict[str, str]
    object_format: str  # "sha1" or "sha256"


@dataclasses.dataclass(frozen=True, slots=True)
class RawObject:
    """One git object as ``git cat-file`` prints it, already checked against its id."""

    id: str
    type: str
    raw: bytes


class GitRemote(Protocol):
    """The two operations resolution needs; network and local clients implement them."""

    def list_refs(self, prefixes: Sequence[str]) -> RefListing:
        """Refs under ``prefixes`` (servers may return more), with peeled tag entries."""
        ...

    def fetch_objects(self, ids: Sequence[str], *, peel: bool) -> dict[str, RawObject]:
        """The objects ``ids`` (and, with ``peel``, the commits tags point to), by id."""
        ...

    def close(self) -> None:
        """Release connections, processes and temporary files."""
        ...


# --- local repositories ------------------------------------------------------------------


class LocalRemote:
    """A repository on this machine, read in place (working tree or bare, SHA-1 or SHA-256)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        from dulwich.errors import NotGitRepository
        from dulwich.repo import Repo

        self.path = str(path)
        try:
            self._repo: Repo = Repo(self.path)
        except (NotGitRepository, FileNotFoundError, NotADirectoryError):
            raise NotFoundError(f"not a git repository: {self.path}", source=self.path) from None

    def list_refs(self, prefixes: Sequence[str]) -> RefListing:
        """Refs of the repository; tags are peeled locally (file:// advertises no ``^{}``)."""
        refs: dict[str, str] = {}
        symrefs: dict[str, str] = {}
        container = self._repo.refs
        for name_b in container.allkeys():
            name = name_b.decode("utf-8", "replace")
            if prefixes and name != "HEAD" and not any(name.startswith(p) for p in prefixes):
                continue
            try:
                target = container.get_symrefs().get(name_b)
                value = container[name_b]
            except KeyError:
                continue  # dangling symref
            if target is not None:
                symrefs[name] = target.decode("utf-8", "replace")
            refs[name] = value.decode()
            if name.startswith("refs/tags/"):
                peeled = self._peel(value)
                if peeled is not None and peeled != value:
                    refs[name + _PEELED] = peeled.decode()
        fmt = getattr(getattr(self._repo, "object_format", None), "name", "sha1")
        return RefListing(refs=refs, symrefs=symrefs, object_format=str(fmt))

    def _peel(self, oid: bytes) -> bytes | None:
        """Where a tag chain ends (normally a commit); None if an object is missing.

        Reads go through the same checked path as fetches, so a corrupt object raises.
        """
        from dulwich.objects import Tag

        current = oid.decode()
        for _ in range(16):
            try:
                obj = _read_objects(self._repo, [current], peel=False, source=self.path)[current]
            except NotFoundError:
                return None
            if obj.type != "tag":
                break
            current = Tag.from_string(obj.raw).object[1].decode()
        return current.encode()

    def fetch_objects(self, ids: Sequence[str], *, peel: bool) -> dict[str, RawObject]:
        """Read the objects straight from the object store."""
        return _read_objects(self._repo, ids, peel=peel, source=self.path)

    def close(self) -> None:
        """Close the repository's open pack files."""
        self._repo.close()


def _read_objects(
    repo: Repo, ids: Sequence[str], *, peel: bool, source: str
) -> dict[str, RawObject]:
    from dulwich.errors import ChecksumMismatch, ObjectFormatException
    from dulwich.objects import Tag

    out: dict[str, RawObject] = {}
    store: Any = repo.object_store
    todo = list(ids)
    while todo:
        oid = todo.pop(0)
        if oid in out:
            continue
        try:
            obj = store[oid.encode()]
        except KeyError:
            raise NotFoundError(f"object {oid} not found in {source}", source=source) from None
        except ChecksumMismatch as exc:
            raise DigestMismatchError(
                f"object {oid} in {source} does not hash to its id",
                expected=oid,
                actual=str(getattr(exc, "got", "") or ""),
                source=source,
            ) from None
        except (ObjectFormatException, ValueError) as exc:
            raise VerificationError(
                f"object {oid} in {source} is corrupt: {_clean(exc)}", source=source
            ) from None
        raw = obj.as_raw_string()
        kind = obj.type_name.decode()
        if len(raw) > MAX_OBJECT_BYTES:
            raise InvalidInputError(f"object {oid} is too large ({len(raw)} bytes)", source=source)
        check_object_id(kind, raw, oid)
        out[oid] = RawObject(oid, kind, raw)
        if peel and isinstance(obj, Tag):
            todo.append(obj.object[1].decode())
    return out


# --- network ---------------------------------------------------------------------------------

_socket_default_lock = threading.Lock()


@contextlib.contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    """Give sockets created in this block a timeout (dulwich's git:// client sets none).

    The process-wide default is changed only for the duration of one connect, under a
    lock, and restored; the socket keeps its timeout for every later read and write.
    """
    with _socket_default_lock:
        previous = socket.getdefaulttimeout()
        socket.setdefaulttimeout(seconds)
        try:
            yield
        finally:
            socket.setdefaulttimeout(previous)


def _tcp_client_class() -> Any:
    from dulwich.client import TCPGitClient

    class TimeoutTCPGitClient(TCPGitClient):
        """dulwich's git:// client with a timeout on connect and on every read."""

        timeout: float = DEFAULT_TIMEOUT

        def _connect(
            self, cmd: bytes, path: str | bytes, protocol_version: int | None = None
        ) -> Any:
            with _socket_timeout(self.timeout):
                return super()._connect(cmd, path, protocol_version)

    return TimeoutTCPGitClient


def _ssh_vendor(timeout: float, ssh_command: str | None) -> Any:
    from dulwich.client import SubprocessSSHVendor

    class WatchdogSSHVendor(SubprocessSSHVendor):
        """Runs the system ssh, and ends it if a step takes longer than ``timeout``."""

        def __init__(self) -> None:
            self.timers: list[threading.Timer] = []
            self.wrappers: list[Any] = []
            self.expired = threading.Event()  # set when the watchdog had to kill ssh

        def run_command(self, *args: Any, **kwargs: Any) -> Any:
            if ssh_command and not kwargs.get("ssh_command"):
                kwargs["ssh_command"] = ssh_command
            wrapper = super().run_command(*args, **kwargs)
            self.wrappers.append(wrapper)
            proc = getattr(wrapper, "proc", None)
            if proc is not None:
                timer = threading.Timer(timeout, _kill, args=(proc, self.expired))
                timer.daemon = True
                timer.start()
                self.timers.append(timer)
            return wrapper

    return WatchdogSSHVendor()


def _kill(proc: Any, expired: threading.Event | None = None) -> None:
    if proc.poll() is None and expired is not None:
        expired.set()
    with contextlib.suppress(OSError):
        proc.kill()


class NetworkRemote:
    """A remote reached over git://, http(s):// or ssh, through dulwich, with timeouts."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        ssh_command: str | None = None,
        protocol_version: int = 2,
    ) -> None:
        from buildsig._internal.giturl import redact_url

        self.url = url
        self.display = redact_url(url)
        self.timeout = timeout
        self.protocol_version = protocol_version
        self._vendor: Any = None
        self._protocols: list[Any] = []
        self._client, self._path = self._make_client(url, ssh_command)
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    def _make_client(self, url: str, ssh_command: str | None) -> tuple[GitClient, str]:
        from dulwich import client as dc

        try:
            client, path = dc.get_transport_and_path(url, ssh_command=ssh_command)
        except (ValueError, KeyError) as exc:
            raise InvalidInputError(f"cannot use git URL {self.display}: {exc}") from None
        if isinstance(client, dc.TCPGitClient):
            tcp: Any = _tcp_client_class()(client._host, port=client._port)
            tcp.timeout = self.timeout
            return self._track(tcp), path
        if isinstance(client, dc.Urllib3HttpGitClient):
            # Rebuilt only to add a timeout (get_transport_and_path cannot pass one).
            http = dc.Urllib3HttpGitClient(
                client._base_url,
                timeout=self.timeout,
                username=client._username,
                password=client._password,
            )
            return http, path
        if isinstance(client, dc.SSHGitClient):
            self._vendor = _ssh_vendor(self.timeout, ssh_command)
            client.ssh_vendor = self._vendor
            return self._track(client), path
        if isinstance(client, dc.LocalGitClient):
            raise InvalidInputError(f"{self.display} is local: use LocalRemote")
        raise InvalidInputError(f"unsupported git transport for {self.display}")

    def _track(self, client: Any) -> Any:
        """Record every protocol connection the client opens, so all can be closed.

        dulwich leaves a connection open when a read fails (a timeout, a killed ssh).
        """
        connect = client._connect

        def tracking_connect(*args: Any, **kwargs: Any) -> Any:
            result = connect(*args, **kwargs)
            self._protocols.append(result[0])
            return result

        client._connect = tracking_connect
        return client

    def _close_connections(self) -> None:
        for proto in self._protocols:
            with contextlib.suppress(Exception):
                proto.close()
        self._protocols.clear()
        if self._vendor is not None:  # ssh: end the process and close its pipes
            for wrapper in self._vendor.wrappers:
                proc = getattr(wrapper, "proc", None)
                if proc is not None and proc.poll() is None:
                    _kill(proc)
                with contextlib.suppress(Exception):
                    wrapper.close()
            self._vendor.wrappers.clear()

    @contextlib.contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """Map transport failures to buildsig errors; close connections a failure left open."""
        try:
            with self._mapped_errors(what):
                yield
        except BaseException:
            self._close_connections()
            raise

    def _timeout(self, what: str) -> NetworkTimeoutError:
        return NetworkTimeoutError(
            f"{what} {self.display}: no answer within {self.timeout:g} s", source=self.display
        )

    @contextlib.contextmanager
    def _mapped_errors(self, what: str) -> Iterator[None]:
        from dulwich.errors import GitProtocolError, HangupException

        try:
            yield
        except BuildsigError:
            raise
        except TimeoutError:
            raise self._timeout(what) from None
        except HangupException as exc:
            if self._vendor is not None and self._vendor.expired.is_set():
                raise self._timeout(what) from None  # our watchdog ended a hung ssh
            raise NetworkError(
                f"{what} {self.display}: the remote hung up ({_clean(exc)})", source=self.display
            ) from None
        # dulwich reports malformed protocol data with asserts and ValueError/KeyError too.
        except (GitProtocolError, OSError, ValueError, KeyError, AssertionError) as exc:
            if "timed out" in str(exc).lower():
                raise self._timeout(what) from None
            raise NetworkError(
                f"{what} {self.display}: {_clean(exc)}", source=self.display
            ) from None

    def list_refs(self, prefixes: Sequence[str]) -> RefListing:
        """ls-remote with protocol v2 ``ref-prefix`` filters (v0 servers send everything)."""
        with self._errors("cannot list refs of"):
            result = self._client.get_refs(
                self._path.encode(),
                protocol_version=self.protocol_version,
                ref_prefix=[p.encode() for p in prefixes] or None,
            )
        refs = {k.decode("utf-8", "replace"): v.decode() for k, v in result.refs.items() if v}
        symrefs = {
            k.decode("utf-8", "replace"): v.decode("utf-8", "replace")
            for k, v in (result.symrefs or {}).items()
        }
        fmt = getattr(result, "object_format", None) or "sha1"
        return RefListing(refs=refs, symrefs=symrefs, object_format=str(getattr(fmt, "name", fmt)))

    def fetch_objects(self, ids: Sequence[str], *, peel: bool) -> dict[str, RawObject]:
        """Fetch ``ids`` at depth 1 with the ``tree:0`` filter into a private bare repository."""
        from dulwich.repo import Repo

        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="buildsig-git-")
        object_format = "sha256" if any(len(i) == 64 for i in ids) else "sha1"
        target = Path(self._tmp.name) / object_format
        repo = (
            Repo(str(target))
            if target.exists()
            else Repo.init_bare(str(target), mkdir=True, object_format=object_format)
        )
        wanted = [i.encode() for i in ids]

        def determine_wants(refs: Any, depth: int | None = None) -> list[bytes]:
            return wanted

        client: Any = self._client
        try:
            with self._errors("cannot fetch from"):
                client.fetch(
                    self._path,
                    repo,
                    determine_wants=determine_wants,
                    depth=1,
                    filter_spec=b"tree:0",
                    protocol_version=self.protocol_version,
                )
            return _read_objects(repo, ids, peel=peel, source=self.display)
        finally:
            repo.close()

    def close(self) -> None:
        """Stop watchdogs, drop connections and the temporary object store."""
        if self._vendor is not None:
            for timer in self._vendor.timers:
                timer.cancel()
        self._close_connections()
        close = getattr(self._client, "close", None)
        if callable(close):
            with contextlib.suppress(Exception):
                close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> NetworkRemote:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _clean(exc: BaseException) -> str:
    from buildsig._internal.giturl import redact_url

    text = " ".join(str(exc).split()) or type(exc).__name__
    return redact_url(text)[:300]


def open_remote(
    url_or_path: str, *, timeout: float = DEFAULT_TIMEOUT, ssh_command: str | None = None
) -> GitRemote:
    """The right client for a remote URL, a ``file://`` URL or a local path."""
    if url_or_path.startswith("file://"):
        from urllib.parse import unquote, urlsplit

        return LocalRemote(unquote(urlsplit(url_or_path).path))
    if "://" not in url_or_path and os.path.isdir(url_or_path):
        return LocalRemote(url_or_path)
    return NetworkRemote(url_or_path, timeout=timeout, ssh_command=ssh_command)

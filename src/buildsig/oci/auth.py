"""Registry credentials, found where ``docker login`` put them.

Users expect a tool that reads images to use the credentials they already gave Docker;
asking for an anonymous token and failing with 401 when ``docker login`` worked is a
known complaint about Buildx (docker/buildx#3984). :class:`CredentialStore` therefore
reads Docker's client configuration the way the Docker CLI does:

- the file is ``$DOCKER_CONFIG/config.json``, else ``~/.docker/config.json``; a missing
  file means "no credentials", a file that is not valid JSON is a configuration error
  (:class:`~buildsig.errors.PolicyConfigError`), as in the Docker CLI;
- ``credHelpers[<registry>]`` names a helper for one registry, ``credsStore`` the helper
  for all others; a helper is the executable ``docker-credential-<name>``, run as
  ``docker-credential-<name> get`` with the server address on stdin, answering
  ``{"Username": …, "Secret": …}`` (a Username of ``<token>`` marks an identity token);
- ``auths[<server>]`` holds ``auth`` (base64 ``user:password``), or ``username`` and
  ``password``, and optionally ``identitytoken`` (an OAuth2 refresh token that the
  registry client exchanges at the token endpoint).

Docker Hub's entries live under ``https://index.docker.io/v1/``; other registries under
their host name, possibly written with a scheme or path (``https://ghcr.io``), which is
ignored when matching, as Docker does.

A helper that is missing, fails, hangs past its timeout or prints something unreadable
yields no credentials and a debug log line: the registry may well allow anonymous pulls,
and a broken keychain must not turn every public image into a crash. Secrets never appear
in messages, logs or ``repr``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import json
import logging
import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from buildsig.errors import PolicyConfigError

__all__ = [
    "DOCKER_HUB_CONFIG_KEY",
    "CredentialStore",
    "Credentials",
    "default_docker_config_path",
]

#: The key Docker uses for Docker Hub in ``auths`` and when asking helpers.
DOCKER_HUB_CONFIG_KEY: Final = "https://index.docker.io/v1/"
_HUB_NAMES: Final = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
#: Seconds a credential helper may take; keychains can prompt, tests must not hang.
DEFAULT_HELPER_TIMEOUT: Final = 10.0
_MAX_HELPER_OUTPUT: Final = 64 * 1024
_MAX_CONFIG_BYTES: Final = 4 * 1024 * 1024

_log = logging.getLogger("buildsig.oci.auth")


@dataclasses.dataclass(frozen=True, slots=True)
class Credentials:
    """What one registry accepts from us: a user name and password, or an identity token.

    ``identity_token`` is an OAuth2 refresh token (``docker login`` stores one for some
    registries); token endpoints exchange it for an access token. The ``repr`` never
    shows secrets, so credentials can be logged or put in an assertion message safely.
    """

    username: str = ""
    password: str = dataclasses.field(default="", repr=False)
    identity_token: str = dataclasses.field(default="", repr=False)

    def __repr__(self) -> str:
        parts = [f"username={self.username!r}"]
        if self.password:
            parts.append("password=<redacted>")
        if self.identity_token:
            parts.append("identity_token=<redacted>")
        return f"Credentials({', '.join(parts)})"

    @property
    def has_password(self) -> bool:
        """True when there is something to send as HTTP Basic authentication."""
        return bool(self.username or self.password)


def default_docker_config_path() -> Path:
    """``$DOCKER_CONFIG/config.json``, else ``~/.docker/config.json`` (Docker's rule)."""
    directory = os.environ.get("DOCKER_CONFIG")
    if directory:
        return Path(directory) / "config.json"
    return Path.home() / ".docker" / "config.json"


def _host_of(server: str) -> str:
    """The host part of a config key: ``https://ghcr.io/v1/`` → ``ghcr.io``."""
    text = server.strip()
    for prefix in ("https://", "http://"):
        if text.lower().startswith(prefix):
            text = text[len(prefix) :]
            break
    return text.split("/", 1)[0].lower()


def _is_hub(registry: str) -> bool:
    return _host_of(registry) in _HUB_NAMES


def _key(registry: str) -> str:
    """How answers are keyed: Docker Hub's names fold into ``docker.io``."""
    return "docker.io" if _is_hub(registry) else _host_of(registry)


def _server_address(registry: str) -> str:
    """What Docker passes to a helper for ``registry``: Hub's URL, else the host."""
    return DOCKER_HUB_CONFIG_KEY if _is_hub(registry) else _host_of(registry)


class CredentialStore:
    """Credentials per registry, from a Docker config file and explicit entries.

    ``config_path`` overrides where the Docker config is read from; ``read_docker_config
    =False`` ignores it altogether (then only ``static`` entries count). ``static`` maps a
    registry name (``ghcr.io``, ``127.0.0.1:5000``, ``docker.io``) to credentials and wins
    over the file: it is how a program passes a CI secret without writing a file.

    The file is read on first use and answers are remembered for the life of the store,
    so a helper runs at most once per registry. Call :meth:`load` to read the file
    eagerly (and see configuration errors at start-up rather than on first pull).
    Thread-safe.
    """

    def __init__(
        self,
        *,
        config_path: str | os.PathLike[str] | None = None,
        static: Mapping[str, Credentials] | None = None,
        read_docker_config: bool = True,
        helper_timeout: float = DEFAULT_HELPER_TIMEOUT,
    ) -> None:
        self._config_path = Path(config_path) if config_path is not None else None
        self._static = {_key(k): v for k, v in (static or {}).items()}
        self._read_docker_config = read_docker_config
        self.helper_timeout = helper_timeout
        self._lock = threading.Lock()
        self._config: dict[str, Any] | None = None
        self._answers: dict[str, Credentials | None] = {}
        self._key_locks: dict[str, threading.Lock] = {}

    @classmethod
    def anonymous(cls) -> CredentialStore:
        """A store that never has credentials (public images, reproducible tests)."""
        return cls(read_docker_config=False)

    @property
    def config_path(self) -> Path:
        """The Docker config file this store reads (it need not exist)."""
        return self._config_path if self._config_path is not None else default_docker_config_path()

    def load(self) -> None:
        """Read the Docker config now; PolicyConfigError if it exists but is unusable."""
        with self._lock:
            self._load_locked()

    def get(self, registry: str) -> Credentials | None:
        """Credentials for ``registry`` (a name as in image references), or None."""
        key = _key(registry)
        if key in self._static:
            return self._static[key]
        if not self._read_docker_config:
            return None
        with self._lock:
            if key in self._answers:
                return self._answers[key]
            config = self._load_locked()
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        # A helper may take seconds: run it outside the store lock, once per registry.
        with key_lock:
            with self._lock:
                if key in self._answers:
                    return self._answers[key]
            answer = self._lookup(config, registry)
            with self._lock:
                self._answers[key] = answer
            return answer

    # --- the Docker config -----------------------------------------------------------

    def _load_locked(self) -> dict[str, Any]:
        if self._config is not None:
            return self._config
        if not self._read_docker_config:
            self._config = {}
            return self._config
        path = self.config_path
        try:
            with path.open("rb") as fh:
                raw = fh.read(_MAX_CONFIG_BYTES + 1)
        except FileNotFoundError:
            _log.debug("no Docker config at %s: no stored registry credentials", path)
            self._config = {}
            return self._config
        except OSError as exc:
            raise PolicyConfigError(
                f"cannot read Docker config {path}: {exc.strerror or exc}", source=str(path)
            ) from None
        if len(raw) > _MAX_CONFIG_BYTES:
            raise PolicyConfigError(f"Docker config {path} is too large", source=str(path))
        try:
            data = json.loads(raw) if raw.strip() else {}
        except (ValueError, UnicodeDecodeError) as exc:
            # The message names the file and position only: the content holds secrets.
            where = f" (line {exc.lineno})" if isinstance(exc, json.JSONDecodeError) else ""
            raise PolicyConfigError(
                f"Docker config {path} is not valid JSON{where}", source=str(path)
            ) from None
        if not isinstance(data, dict):
            raise PolicyConfigError(f"Docker config {path} is not a JSON object", source=str(path))
        for field in ("auths", "credHelpers"):
            if field in data and not isinstance(data[field], dict):
                raise PolicyConfigError(
                    f"Docker config {path}: {field!r} must be an object", source=str(path)
                )
        if "credsStore" in data and not isinstance(data["credsStore"], str):
            raise PolicyConfigError(
                f"Docker config {path}: 'credsStore' must be a string", source=str(path)
            )
        self._config = data
        return data

    def _lookup(self, config: Mapping[str, Any], registry: str) -> Credentials | None:
        """Docker's order: a per-registry helper, the default store, then ``auths``."""
        hub = _is_hub(registry)
        host = _host_of(registry)
        helpers: Mapping[str, Any] = config.get("credHelpers") or {}
        helper = None
        for server, name in helpers.items():
            if (hub and _is_hub(server)) or (not hub and _host_of(server) == host):
                helper = name
                break
        if helper is None:
            helper = config.get("credsStore") or None
        if isinstance(helper, str) and helper:
            found = self._run_helper(helper, _server_address(registry))
            if found is not None:
                return found
        return self._from_auths(config, registry)

    def _from_auths(self, config: Mapping[str, Any], registry: str) -> Credentials | None:
        auths: Mapping[str, Any] = config.get("auths") or {}
        hub = _is_hub(registry)
        host = _host_of(registry)
        # An exact key first ("https://index.docker.io/v1/", "ghcr.io"), then any spelling.
        ordered = sorted(auths.items(), key=lambda kv: kv[0] not in (host, DOCKER_HUB_CONFIG_KEY))
        for server, entry in ordered:
            if not ((hub and _is_hub(server)) or (not hub and _host_of(server) == host)):
                continue
            return self._parse_auth_entry(server, entry)
        return None

    def _parse_auth_entry(self, server: str, entry: Any) -> Credentials | None:
        path = self.config_path
        if not isinstance(entry, dict):
            raise PolicyConfigError(
                f"Docker config {path}: auths entry {server!r} must be an object",
                source=str(path),
            )
        username = entry.get("username") or ""
        password = entry.get("password") or ""
        token = entry.get("identitytoken") or ""
        encoded = entry.get("auth") or ""
        if not all(isinstance(v, str) for v in (username, password, token, encoded)):
            raise PolicyConfigError(
                f"Docker config {path}: auths entry {server!r} has a non-string field",
                source=str(path),
            )
        if encoded:
            try:
                decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
            except (binascii.Error, ValueError):
                raise PolicyConfigError(
                    f"Docker config {path}: the 'auth' of {server!r} is not base64 'user:password'",
                    source=str(path),
                ) from None
            user, sep, secret = decoded.partition(":")
            if not sep:
                raise PolicyConfigError(
                    f"Docker config {path}: the 'auth' of {server!r} has no ':' separator",
                    source=str(path),
                )
            username, password = user, secret.strip("\x00")
        if not (username or password or token):
            return None  # an empty entry: docker login used a credential store
        return Credentials(username=username, password=password, identity_token=token)

    # --- credential helpers ----------------------------------------------------------

    def _run_helper(self, name: str, server: str) -> Credentials | None:
        """``docker-credential-<name> get``; None (and a debug note) on any failure."""
        if not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
            _log.debug("ignoring credential helper with an odd name %r", name)
            return None
        exe = shutil.which(f"docker-credential-{name}")
        if exe is None:
            _log.debug("credential helper docker-credential-%s is not on PATH", name)
            return None
        try:
            returncode, stdout = _run_with_timeout([exe, "get"], server, self.helper_timeout)
        except subprocess.TimeoutExpired:
            _log.debug(
                "credential helper docker-credential-%s timed out after %.1f s",
                name,
                self.helper_timeout,
            )
            return None
        except OSError as exc:
            _log.debug("cannot run docker-credential-%s: %s", name, exc.strerror or exc)
            return None
        if returncode != 0:
            # "credentials not found in native keychain" is the normal miss; the output
            # is not logged in full in case a helper echoes something sensitive.
            first = stdout.decode("utf-8", "replace").strip().splitlines()[:1]
            _log.debug(
                "docker-credential-%s get %s exited %d (%s)",
                name,
                server,
                returncode,
                first[0][:120] if first else "no output",
            )
            return None
        try:
            data = json.loads(stdout[:_MAX_HELPER_OUTPUT])
        except ValueError:
            _log.debug("docker-credential-%s printed something that is not JSON", name)
            return None
        if not isinstance(data, dict):
            _log.debug("docker-credential-%s printed JSON that is not an object", name)
            return None
        username = data.get("Username")
        secret = data.get("Secret")
        if not isinstance(username, str) or not isinstance(secret, str) or not secret:
            _log.debug("docker-credential-%s gave no usable Username/Secret", name)
            return None
        if username == "<token>":
            return Credentials(identity_token=secret)
        return Credentials(username=username, password=secret)


def _run_with_timeout(argv: list[str], stdin: str, timeout: float) -> tuple[int, bytes]:
    """Run a helper in its own process group; on timeout the whole group is killed.

    ``subprocess.run(timeout=…)`` kills only the direct child, and then waits for its
    pipes, which a grandchild (a shell script's ``sleep``) may hold open for as long as it
    likes; killing the group makes the timeout real.
    """
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        stdout, _ = proc.communicate(stdin.encode("utf-8"), timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):  # it may have ended just now
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    except BaseException:
        proc.kill()
        proc.communicate()
        raise
    return proc.returncode, stdout

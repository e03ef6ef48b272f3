"""Git provenance of a local build context, as OCI image labels.

:func:`git_info` reads the repository that contains a directory (searching upwards, as
git does) and reports what Buildx records when it builds from a git working tree: the
checked-out commit, whether the working tree differs from it, where the repository came
from, and where the Dockerfile sits inside it. :meth:`GitInfo.labels` turns that into the
``org.opencontainers.image.*`` labels and ``com.docker.image.source.entrypoint``.

Everything is read with dulwich, without running ``git``. dulwich reads linked worktrees
(where ``.git`` is a file), shallow clones and SHA-256 repositories
(``git init --object-format=sha256``) directly, so no fallback to parsing ref files is
needed.

The remote URL never carries credentials: passwords, user names of ``http(s)`` URLs (which
may be tokens), queries and fragments are removed, and any address of a well-known forge
becomes the forge's canonical ``https://host/org/repo``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Final

from buildsig.errors import InvalidInputError, NotFoundError

if TYPE_CHECKING:
    from dulwich.repo import Repo

__all__ = [
    "LABEL_DOCKERFILE",
    "LABEL_REVISION",
    "LABEL_SOURCE",
    "GitInfo",
    "git_info",
    "normalize_remote_url",
]

LABEL_REVISION: Final = "org.opencontainers.image.revision"
LABEL_SOURCE: Final = "org.opencontainers.image.source"
LABEL_DOCKERFILE: Final = "com.docker.image.source.entrypoint"

# Forges that serve every repository at https://<host>/<path>, whatever the clone URL.
KNOWN_FORGES: Final = frozenset({"github.com", "gitlab.com", "bitbucket.org", "codeberg.org"})

_MAX_SUBMODULE_DEPTH: Final = 8

_SCHEME_RE: Final = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*)://([^/?#]*)(.*)", re.DOTALL)
# A ``user:password@`` whose password holds ``/``, ``?`` or ``#`` (which would end the
# authority early): the password runs to the last ``@``.
_LOOSE_PASSWORD_RE: Final = re.compile(
    r"([a-zA-Z][a-zA-Z0-9+.-]*://[^@/?#:]*):(.*)@(.*)", re.DOTALL
)
_PORT_LIKE_RE: Final = re.compile(r"[0-9]*(?:[/?#].*)?", re.DOTALL)
_SCP_RE: Final = re.compile(r"(?:([^@/]+)@)?([a-zA-Z0-9.-]+):(?!//)(.*)", re.DOTALL)


@dataclass(frozen=True, slots=True)
class GitInfo:
    """What a build records about the git working tree it was built from.

    ``commit`` is the full id of ``HEAD`` (40 hex digits, or 64 in a SHA-256
    repository). ``dirty`` is true when a tracked file differs from ``HEAD``, in the
    index (a staged change) or in the working tree (an unstaged one); files git does not
    track — untracked files, ignored or not — never make the tree dirty. A submodule
    counts as changed, as in ``git status``, when its checked-out commit is not the
    recorded one or its own tracked files changed. ``revision`` is
    ``commit`` with ``-dirty`` appended when ``dirty``. ``source`` is the remote URL with
    credentials removed (see :func:`normalize_remote_url`), empty when the repository has
    no remote. ``dockerfile_path`` is the Dockerfile's path relative to the top of the
    working tree, with ``/`` separators, or empty when none was given.
    """

    revision: str
    commit: str
    dirty: bool
    source: str
    dockerfile_path: str

    def labels(self) -> dict[str, str]:
        """The image labels, leaving out any whose value is empty."""
        values = {
            LABEL_REVISION: self.revision,
            LABEL_SOURCE: self.source,
            LABEL_DOCKERFILE: self.dockerfile_path,
        }
        return {key: value for key, value in values.items() if value}

    def to_dict(self) -> dict[str, str | bool]:
        """The fields as a plain mapping."""
        return asdict(self)

    def to_json(self) -> str:
        """The fields as a compact JSON object with sorted keys."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))


def _strip_dot_git(path: str) -> str:
    path = path.rstrip("/")
    return path[: -len(".git")] if path.endswith(".git") else path


def _forge_url(host: str, path: str) -> str:
    return f"https://{host}/{_strip_dot_git(path.lstrip('/'))}"


def normalize_remote_url(url: str) -> str:
    """A remote URL fit to publish: no credentials, forge addresses in ``https`` form.

    * On a known forge (github.com, gitlab.com, bitbucket.org, codeberg.org), any form —
      ``https://``, ``http://``, ``ssh://git@host[:port]/org/repo``, ``git://`` or scp-like
      ``git@host:org/repo.git`` — becomes ``https://host/org/repo``: the user
      information, port, query and fragment are dropped and so is a trailing ``.git``,
      which gives one canonical address per repository (the forges serve it either way).
    * Any other ``scheme://`` URL keeps its host and path exactly as written (the
      ``.git`` suffix included) but loses its query and fragment (where access tokens
      are sometimes passed). ``http(s)`` URLs lose the whole user information, since a
      user name alone may be an access token (``https://<token>@host/…``); other schemes
      (``ssh://git@host/…``) keep the user name, which ssh needs, and lose any password.
    * An scp-like address on another host (``git@host:org/repo.git``) is kept as
      written; a ``user:password@`` in front of it loses the password.
    * Anything else (a local path) is returned unchanged.
    """
    url = url.strip()
    loose = _LOOSE_PASSWORD_RE.fullmatch(url)
    if loose is not None and not _PORT_LIKE_RE.fullmatch(loose.group(2)):
        url = f"{loose.group(1)}@{loose.group(3)}"
    match = _SCHEME_RE.fullmatch(url)
    if match is not None:
        scheme, authority, rest = match.groups()
        userinfo, at, host_port = authority.rpartition("@")
        host = host_port.lower()
        bare_host = host if host.startswith("[") else host.partition(":")[0]
        path = re.split(r"[?#]", rest, maxsplit=1)[0]
        if bare_host in KNOWN_FORGES and scheme.lower() in ("https", "http", "ssh", "git"):
            return _forge_url(bare_host, path)
        user = userinfo.partition(":")[0]
        if scheme.lower() in ("http", "https") or not (at and user):
            return f"{scheme}://{host_port}{path}"
        return f"{scheme}://{user}@{host_port}{path}"
    scp = _SCP_RE.fullmatch(url)
    if scp is not None and not os.path.isabs(url):
        userinfo, host, path = scp.groups()
        if host.lower() in KNOWN_FORGES:
            return _forge_url(host.lower(), path)
        if userinfo is not None and ":" in userinfo:
            return f"{userinfo.partition(':')[0]}@{host}:{path}"
    return url


def _open_repo(directory: str) -> Repo:
    from dulwich.errors import NotGitRepository
    from dulwich.repo import Repo

    start = os.path.abspath(directory)
    if not os.path.isdir(start):
        raise NotFoundError(f"{directory} is not a directory", source=str(directory))
    try:
        return Repo.discover(start)
    except (NotGitRepository, FileNotFoundError, NotADirectoryError):
        raise NotFoundError(
            f"{directory} is not inside a git repository", source=str(directory)
        ) from None


def _remote_url(repo: Repo) -> str:
    config = repo.get_config()
    urls: dict[bytes, bytes] = {}
    for section in config.sections():
        if len(section) == 2 and section[0] == b"remote" and section[1] not in urls:
            try:
                urls[section[1]] = config.get(section, b"url")
            except KeyError:
                continue
    url = urls.get(b"origin") or next(iter(urls.values()), b"")
    return normalize_remote_url(url.decode("utf-8", "replace"))


def _is_dirty(repo: Repo, *, depth: int = 0) -> bool:
    from dulwich import porcelain
    from dulwich.errors import NoIndexPresent

    try:
        # optional_locks=False: like GIT_OPTIONAL_LOCKS=0, never rewrite the index.
        status = porcelain.status(repo, untracked_files="no", optional_locks=False)
    except NoIndexPresent:
        raise NotFoundError(
            f"the git repository at {repo.path} has no working tree", source=repo.path
        ) from None
    staged: Mapping[str, list[bytes]] = status.staged
    if any(staged.values()):
        return True
    if not status.unstaged:
        return False
    return any(_unstaged_is_real(repo, path, depth) for path in status.unstaged)


def _unstaged_is_real(repo: Repo, path: bytes, depth: int) -> bool:
    """Confirm an unstaged path; dulwich misjudges submodules unless run from the top.

    A submodule (a gitlink in the index) is dirty, as ``git status`` has it, when its
    ``HEAD`` is not the recorded commit or its own working tree is dirty; a submodule
    that was never checked out (an empty directory) is clean.
    """
    from dulwich.errors import NotGitRepository
    from dulwich.index import ConflictedIndexEntry
    from dulwich.objects import S_ISGITLINK
    from dulwich.repo import Repo

    index = repo.open_index()
    tree_path = path.replace(os.sep.encode(), b"/")
    try:
        entry = index[tree_path]
    except KeyError:
        return True
    if isinstance(entry, ConflictedIndexEntry) or not S_ISGITLINK(entry.mode):
        return True
    full = os.path.join(repo.path, os.fsdecode(path))
    if not os.path.exists(os.path.join(full, ".git")):
        return False  # not initialised: git reports nothing either
    try:
        with Repo(full) as sub:
            try:
                head = sub.head()
            except KeyError:
                return True
            if head != entry.sha:
                return True
            return depth < _MAX_SUBMODULE_DEPTH and _is_dirty(sub, depth=depth + 1)
    except NotGitRepository:
        return True


def _relative_dockerfile(root: str, directory: str, dockerfile: str) -> str:
    path = dockerfile if os.path.isabs(dockerfile) else os.path.join(directory, dockerfile)
    real_root = os.path.realpath(root)
    real_path = os.path.realpath(path)
    rel = os.path.relpath(real_path, real_root)
    if rel == os.pardir or rel.startswith(os.pardir + os.sep) or os.path.isabs(rel):
        raise InvalidInputError(
            f"Dockerfile {dockerfile} is outside the repository at {root}", source=dockerfile
        )
    return rel.replace(os.sep, "/")


def git_info(directory: str | os.PathLike[str] = ".", *, dockerfile: str | None = None) -> GitInfo:
    """Read the git provenance of ``directory``, which may be anywhere inside a working tree.

    ``dockerfile``, when given, is the Dockerfile's path; a relative path is taken
    relative to ``directory``. It need not exist but must lie inside the working tree.

    Untracked files (and ignored ones) do not make the result dirty; a staged or
    unstaged change to a tracked file (including deleting it) does.

    Raises :class:`~buildsig.errors.NotFoundError` when ``directory`` is not inside a git
    repository, the repository has no commit yet (``HEAD`` names an unborn branch) or
    it has no working tree (``directory`` is a bare repository or a ``.git`` directory),
    and :class:`~buildsig.errors.InvalidInputError` when ``dockerfile`` lies outside it.
    """
    dir_str = os.fspath(directory)
    repo = _open_repo(dir_str)
    with repo:
        root = repo.path
        try:
            head = repo.head()
        except KeyError:
            raise NotFoundError(
                f"the git repository at {root} has no commits yet", source=root
            ) from None
        commit = head.decode("ascii")
        dirty = _is_dirty(repo)
        source = _remote_url(repo)
    dockerfile_path = (
        _relative_dockerfile(root, dir_str, dockerfile) if dockerfile is not None else ""
    )
    return GitInfo(
        revision=f"{commit}-dirty" if dirty else commit,
        commit=commit,
        dirty=dirty,
        source=source,
        dockerfile_path=dockerfile_path,
    )

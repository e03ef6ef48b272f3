"""Fixtures for git tests: repositories made by real git, served by real servers."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.git.servers import git_daemon, git_http_backend

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Ada Author",
    "GIT_AUTHOR_EMAIL": "ada@example.com",
    "GIT_COMMITTER_NAME": "Cy Committer",
    "GIT_COMMITTER_EMAIL": "cy@example.com",
    "GIT_AUTHOR_DATE": "1700000000 +0100",
    "GIT_COMMITTER_DATE": "1700000000 +0100",
    "GIT_CONFIG_NOSYSTEM": "1",
    "HOME": "/nonexistent",
}


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV}
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True, env=env, timeout=120
    ).stdout.strip()


@dataclass(frozen=True)
class ServedRepo:
    """A bare repository under ``root`` with known refs, and what they resolve to."""

    root: Path
    name: str
    object_format: str
    ids: dict[str, str]

    @property
    def path(self) -> Path:
        return self.root / self.name


def build_repo(root: Path, object_format: str) -> ServedRepo:
    name = f"project-{object_format}.git"
    work = root / f"work-{object_format}"
    git(root, "init", "-q", f"--object-format={object_format}", "-b", "main", str(work))
    (work / "README").write_text("one\n")
    git(work, "add", "README")
    git(work, "commit", "-q", "-m", "first commit")
    c1 = git(work, "rev-parse", "HEAD")
    (work / "README").write_text("two\n")
    git(work, "commit", "-q", "-am", "second commit\n\nwith a body")
    c2 = git(work, "rev-parse", "HEAD")
    git(work, "branch", "feature/x", c1)
    git(work, "tag", "light", c1)
    git(work, "tag", "-a", "-m", "release 1.0", "v1.0", c2)
    git(work, "branch", "dup", c1)
    git(work, "tag", "-a", "-m", "the tag named dup", "dup", c2)
    git(work, "tag", "-a", "-m", "inner", "inner", c1)
    git(work, "tag", "-a", "-m", "outer", "outer", "inner")
    # A tag object named v8 served under refs/tags/v9: resolution must refuse it.
    git(work, "tag", "-a", "-m", "eight", "v8", c1)
    git(work, "update-ref", "refs/tags/v9", git(work, "rev-parse", "v8"))
    bare = root / name
    git(root, "clone", "-q", "--bare", "--mirror", str(work), str(bare))
    git(bare, "config", "uploadpack.allowFilter", "true")
    git(bare, "config", "uploadpack.allowAnySHA1InWant", "true")
    ids = {
        "c1": c1,
        "c2": c2,
        "v1.0": git(bare, "rev-parse", "v1.0"),
        "dup-tag": git(bare, "rev-parse", "refs/tags/dup"),
        "inner": git(bare, "rev-parse", "inner"),
        "outer": git(bare, "rev-parse", "outer"),
        "v9": git(bare, "rev-parse", "refs/tags/v9"),
    }
    return ServedRepo(root=root, name=name, object_format=object_format, ids=ids)


@pytest.fixture(scope="session", params=["sha1", "sha256"])
def served_repo(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> ServedRepo:
    return build_repo(tmp_path_factory.mktemp("served"), request.param)


@pytest.fixture(scope="session")
def daemon_port(served_repo: ServedRepo) -> Iterator[int]:
    with git_daemon(served_repo.root) as port:
        yield port


@pytest.fixture(scope="session")
def http_port(served_repo: ServedRepo) -> Iterator[int]:
    with git_http_backend(served_repo.root) as port:
        yield port


@pytest.fixture(params=["path", "file", "git", "http"])
def remote_url(request: pytest.FixtureRequest, served_repo: ServedRepo) -> str:
    if request.param == "path":
        return str(served_repo.path)
    if request.param == "file":
        return served_repo.path.as_uri()
    if request.param == "git":
        port = request.getfixturevalue("daemon_port")
        return f"git://127.0.0.1:{port}/{served_repo.name}"
    port = request.getfixturevalue("http_port")
    return f"http://127.0.0.1:{port}/{served_repo.name}"

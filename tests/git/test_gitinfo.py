"""git_info against repositories made by the git CLI, which also serves as the oracle."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from buildsig.errors import InvalidInputError, NotFoundError
from buildsig.git.info import GitInfo, git_info, normalize_remote_url
from tests.git.conftest import git

SECRET = "ghp_secret"


def make_repo(path: Path, *, object_format: str = "sha1", commits: int = 1) -> Path:
    git(path.parent, "init", "-q", f"--object-format={object_format}", "-b", "main", str(path))
    (path / "sub").mkdir()
    (path / "sub" / "Dockerfile").write_text("FROM scratch\n")
    for i in range(commits):
        (path / "README").write_text(f"version {i}\n")
        git(path, "add", "-A")
        git(path, "commit", "-q", "-m", f"commit {i}")
    return path


def assert_matches_git(info: GitInfo, work: Path) -> None:
    head = git(work, "rev-parse", "HEAD")
    dirty = bool(git(work, "status", "--porcelain", "--untracked-files=no"))
    assert info.commit == head
    assert info.dirty is dirty
    assert info.revision == (f"{head}-dirty" if dirty else head)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo", commits=2)


def test_clean_repo(repo: Path) -> None:
    info = git_info(repo)
    assert_matches_git(info, repo)
    assert not info.dirty
    assert info.source == ""
    assert info.dockerfile_path == ""
    assert info.labels() == {"org.opencontainers.image.revision": info.commit}


def test_modified_tracked_file_is_dirty(repo: Path) -> None:
    (repo / "README").write_text("changed\n")
    info = git_info(repo)
    assert_matches_git(info, repo)
    assert info.dirty
    assert info.revision == info.commit + "-dirty"
    assert info.labels()["org.opencontainers.image.revision"].endswith("-dirty")


def test_staged_change_is_dirty(repo: Path) -> None:
    (repo / "new.txt").write_text("staged\n")
    git(repo, "add", "new.txt")
    info = git_info(repo)
    assert_matches_git(info, repo)
    assert info.dirty


def test_deleted_tracked_file_is_dirty(repo: Path) -> None:
    (repo / "README").unlink()
    info = git_info(repo)
    assert_matches_git(info, repo)
    assert info.dirty


def test_staged_then_reverted_in_worktree_is_dirty(repo: Path) -> None:
    (repo / "README").write_text("staged\n")
    git(repo, "add", "README")
    (repo / "README").write_text("version 1\n")
    info = git_info(repo)
    assert_matches_git(info, repo)
    assert info.dirty


def test_untracked_only_is_clean(repo: Path) -> None:
    (repo / "untracked.txt").write_text("not tracked\n")
    (repo / "newdir").mkdir()
    (repo / "newdir" / "file").write_text("x\n")
    assert git(repo, "status", "--porcelain")  # git sees the untracked files ...
    info = git_info(repo)
    assert_matches_git(info, repo)
    assert not info.dirty  # ... but they do not make the tree dirty


def test_ignored_file_is_clean(repo: Path) -> None:
    (repo / ".gitignore").write_text("*.log\n")
    git(repo, "add", ".gitignore")
    git(repo, "commit", "-q", "-m", "ignore logs")
    (repo / "build.log").write_text("noise\n")
    info = git_info(repo)
    assert_matches_git(info, repo)
    assert not info.dirty


def test_detached_head(repo: Path) -> None:
    first = git(repo, "rev-parse", "HEAD~1")
    git(repo, "checkout", "-q", "--detach", first)
    info = git_info(repo)
    assert_matches_git(info, repo)
    assert info.commit == first
    assert not info.dirty


def test_searches_upwards_from_subdirectory(repo: Path) -> None:
    info = git_info(repo / "sub", dockerfile="Dockerfile")
    assert_matches_git(info, repo)
    assert info.dockerfile_path == "sub/Dockerfile"


def test_dockerfile_path_relative_to_root(repo: Path) -> None:
    assert git_info(repo, dockerfile="sub/Dockerfile").dockerfile_path == "sub/Dockerfile"
    absolute = str(repo / "sub" / "Dockerfile")
    assert git_info(repo, dockerfile=absolute).dockerfile_path == "sub/Dockerfile"
    assert git_info(repo / "sub", dockerfile="../Dockerfile").dockerfile_path == "Dockerfile"
    info = git_info(repo, dockerfile="sub/Dockerfile")
    assert info.labels()["com.docker.image.source.entrypoint"] == "sub/Dockerfile"


def test_dockerfile_outside_repository(repo: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="outside the repository"):
        git_info(repo, dockerfile=str(tmp_path / "Dockerfile"))


def test_linked_worktree(repo: Path, tmp_path: Path) -> None:
    linked = tmp_path / "linked"
    git(repo, "worktree", "add", "-q", "--detach", str(linked), "HEAD~1")
    assert (linked / ".git").is_file()
    git(repo, "remote", "add", "origin", "git@github.com:org/repo.git")
    info = git_info(linked, dockerfile="sub/Dockerfile")
    assert_matches_git(info, linked)
    assert info.commit == git(repo, "rev-parse", "HEAD~1")
    assert not info.dirty
    assert info.source == "https://github.com/org/repo"  # config shared with the main tree
    assert info.dockerfile_path == "sub/Dockerfile"
    (linked / "README").write_text("dirty in the linked tree\n")
    assert_matches_git(git_info(linked), linked)
    assert git_info(linked).dirty
    assert not git_info(repo).dirty  # the main working tree is unaffected


def test_shallow_clone(repo: Path, tmp_path: Path) -> None:
    clone = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", repo.as_uri(), str(clone))
    assert (clone / ".git" / "shallow").is_file()
    info = git_info(clone)
    assert_matches_git(info, clone)
    assert info.commit == git(repo, "rev-parse", "HEAD")
    assert not info.dirty
    assert info.source == repo.as_uri()
    (clone / "README").write_text("edited\n")
    assert git_info(clone).dirty


def test_sha256_repository(tmp_path: Path) -> None:
    work = make_repo(tmp_path / "sha256", object_format="sha256")
    info = git_info(work)
    assert_matches_git(info, work)
    assert len(info.commit) == 64
    assert not info.dirty
    (work / "README").write_text("edited\n")
    dirty = git_info(work)
    assert_matches_git(dirty, work)
    assert dirty.dirty


def test_no_commits_yet(tmp_path: Path) -> None:
    work = tmp_path / "empty"
    git(tmp_path, "init", "-q", str(work))
    with pytest.raises(NotFoundError, match="no commits yet"):
        git_info(work)


def test_outside_any_repository(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(NotFoundError, match="is not inside a git repository"):
        git_info(plain)


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        git_info(tmp_path / "absent")


def test_bare_repository_has_no_working_tree(repo: Path, tmp_path: Path) -> None:
    bare = tmp_path / "bare.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(bare))
    with pytest.raises(NotFoundError, match="no working tree"):
        git_info(bare)


def test_token_never_leaks(repo: Path) -> None:
    url = f"https://user:{SECRET}@github.com/org/repo.git"
    git(repo, "remote", "add", "origin", url)
    assert git(repo, "remote", "get-url", "origin") == url
    info = git_info(repo, dockerfile="sub/Dockerfile")
    assert info.source == "https://github.com/org/repo"
    for text in (repr(info), str(info), info.to_json(), json.dumps(info.labels())):
        assert SECRET not in text
        assert "user" not in text
    assert info.labels() == {
        "org.opencontainers.image.revision": info.commit,
        "org.opencontainers.image.source": "https://github.com/org/repo",
        "com.docker.image.source.entrypoint": "sub/Dockerfile",
    }


def test_token_as_user_name_on_other_host(repo: Path) -> None:
    git(repo, "remote", "add", "origin", f"https://{SECRET}@git.example.com/org/repo.git")
    info = git_info(repo)
    assert info.source == "https://git.example.com/org/repo.git"
    assert SECRET not in info.to_json()


def test_scp_remote_normalised(repo: Path) -> None:
    git(repo, "remote", "add", "origin", "git@github.com:org/repo.git")
    assert git_info(repo).source == "https://github.com/org/repo"


def test_origin_preferred_over_other_remotes(repo: Path) -> None:
    git(repo, "remote", "add", "aaa", "https://gitlab.com/first/one.git")
    git(repo, "remote", "add", "origin", "https://codeberg.org/second/two.git")
    assert git_info(repo).source == "https://codeberg.org/second/two"


def test_first_remote_without_origin(repo: Path) -> None:
    git(repo, "remote", "add", "upstream", "https://gitlab.com/first/one.git")
    git(repo, "remote", "add", "fork", "https://codeberg.org/second/two.git")
    assert git_info(repo).source == "https://gitlab.com/first/one"


def test_to_json(repo: Path) -> None:
    info = git_info(repo, dockerfile="sub/Dockerfile")
    assert json.loads(info.to_json()) == {
        "revision": info.revision,
        "commit": info.commit,
        "dirty": False,
        "source": "",
        "dockerfile_path": "sub/Dockerfile",
    }


def test_frozen(repo: Path) -> None:
    info = git_info(repo)
    with pytest.raises(AttributeError):
        info.commit = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("git@github.com:org/repo.git", "https://github.com/org/repo"),
        ("git@github.com:org/repo", "https://github.com/org/repo"),
        ("ssh://git@github.com/org/repo", "https://github.com/org/repo"),
        ("ssh://git@github.com:22/org/repo.git", "https://github.com/org/repo"),
        ("git@gitlab.com:group/sub/project.git", "https://gitlab.com/group/sub/project"),
        ("git@bitbucket.org:team/repo.git", "https://bitbucket.org/team/repo"),
        ("ssh://git@codeberg.org/org/repo.git", "https://codeberg.org/org/repo"),
        ("https://user:ghp_secret@github.com/org/repo.git", "https://github.com/org/repo"),
        ("https://x-access-token:tok@GitHub.com/org/repo", "https://github.com/org/repo"),
        ("http://github.com/org/repo.git/", "https://github.com/org/repo"),
        ("https://github.com/org/repo.git?foo=bar#frag", "https://github.com/org/repo"),
        ("https://user:pw@git.example.com/a/b.git", "https://git.example.com/a/b.git"),
        ("https://tok@git.example.com:8443/a/b", "https://git.example.com:8443/a/b"),
        ("ssh://git@git.example.com/a/b.git", "ssh://git@git.example.com/a/b.git"),
        ("ssh://me:pw@git.example.com:2222/a/b", "ssh://me@git.example.com:2222/a/b"),
        ("ssh://:pw@git.example.com/a/b", "ssh://git.example.com/a/b"),
        ("https://git.example.com/a/b.git?private_token=t#x", "https://git.example.com/a/b.git"),
        ("git://git.example.com/a/b.git", "git://git.example.com/a/b.git"),
        ("me:pw@git.example.com:a/b.git", "me@git.example.com:a/b.git"),
        ("https://u:se/cr?e#t@git.example.com/a/b", "https://git.example.com/a/b"),
        ("ssh://u:se/cret@git.example.com/a/b", "ssh://u@git.example.com/a/b"),
        ("https://u:p@ss@github.com/org/repo.git", "https://github.com/org/repo"),
        ("ssh://git.example.com:2222/a/b@c", "ssh://git.example.com:2222/a/b@c"),
        ("https://git.example.com/a/b@v1", "https://git.example.com/a/b@v1"),
        ("https://gitlab.com/group/sub/project.git", "https://gitlab.com/group/sub/project"),
        ("git@git.example.com:a/b.git", "git@git.example.com:a/b.git"),
        ("https://git.example.com/a/b.git", "https://git.example.com/a/b.git"),
        ("/srv/git/repo.git", "/srv/git/repo.git"),
        ("file:///srv/git/repo.git", "file:///srv/git/repo.git"),
        ("../relative/repo", "../relative/repo"),
    ],
)
def test_normalize_remote_url(url: str, expected: str) -> None:
    assert normalize_remote_url(url) == expected


def test_same_size_edit_is_dirty(repo: Path) -> None:
    (repo / "README").write_text("version 9\n")  # same length as the committed text
    info = git_info(repo)
    assert_matches_git(info, repo)
    assert info.dirty


def test_reading_does_not_rewrite_the_index(repo: Path) -> None:
    (repo / "README").write_text("version 1\n")  # same content, newer stat data
    index = repo / ".git" / "index"
    before = index.read_bytes(), index.stat().st_mtime_ns
    info = git_info(repo)
    assert not info.dirty
    assert (index.read_bytes(), index.stat().st_mtime_ns) == before


@pytest.fixture
def with_submodule(tmp_path: Path) -> Path:
    lib = make_repo(tmp_path / "lib")
    app = make_repo(tmp_path / "app")
    git(app, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(lib), "lib")
    git(app, "commit", "-q", "-m", "add lib")
    return app


def test_submodule_clean(with_submodule: Path) -> None:
    info = git_info(with_submodule)
    assert_matches_git(info, with_submodule)
    assert not info.dirty


def test_submodule_at_other_commit_is_dirty(with_submodule: Path) -> None:
    sub = with_submodule / "lib"
    (sub / "README").write_text("moved on\n")
    git(sub, "commit", "-q", "-am", "new lib commit")
    info = git_info(with_submodule)
    assert_matches_git(info, with_submodule)
    assert info.dirty


def test_submodule_with_modified_content_is_dirty(with_submodule: Path) -> None:
    (with_submodule / "lib" / "README").write_text("edited in place\n")
    info = git_info(with_submodule)
    assert_matches_git(info, with_submodule)
    assert info.dirty


def test_submodule_with_untracked_content(with_submodule: Path) -> None:
    (with_submodule / "lib" / "scratch.txt").write_text("untracked\n")
    info = git_info(with_submodule)
    assert_matches_git(info, with_submodule)
    assert not info.dirty


def test_uninitialised_submodule_is_clean(with_submodule: Path, tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(with_submodule), str(clone))
    assert not any((clone / "lib").iterdir())
    info = git_info(clone)
    assert_matches_git(info, clone)
    assert not info.dirty


def test_merge_conflict_is_dirty(repo: Path) -> None:
    git(repo, "checkout", "-q", "-b", "other", "HEAD~1")
    (repo / "README").write_text("other side\n")
    git(repo, "commit", "-q", "-am", "other side")
    git(repo, "checkout", "-q", "main")
    with pytest.raises(subprocess.CalledProcessError):
        git(repo, "merge", "-q", "other")
    info = git_info(repo)
    assert_matches_git(info, repo)
    assert info.dirty


def test_through_a_symlink(repo: Path, tmp_path: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(repo)
    info = git_info(link / "sub", dockerfile="Dockerfile")
    assert info.commit == git(repo, "rev-parse", "HEAD")
    assert info.dockerfile_path == "sub/Dockerfile"
    assert git_info(link, dockerfile=str(repo / "Dockerfile")).dockerfile_path == "Dockerfile"


def test_pathlike_and_default_directory(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(repo / "sub")
    assert git_info() == git_info(repo) == git_info(str(repo))


def test_the_git_info_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from buildsig.cli import main

    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True, timeout=60)
    (repo / "docker").mkdir()
    (repo / "docker" / "Dockerfile").write_text("FROM scratch\n")
    subprocess.run(["git", "-C", str(repo), "add", "."], check=True, timeout=60)
    subprocess.run(
        [
            "git",
            "-C",
            str(repo),
            "-c",
            "user.name=a",
            "-c",
            "user.email=a@example.com",
            "commit",
            "-q",
            "-m",
            "x",
        ],
        check=True,
        timeout=60,
    )
    subprocess.run(
        [
            "git",
            "-C",
            str(repo),
            "remote",
            "add",
            "origin",
            "https://user:ghp_secret@github.com/org/repo.git",
        ],
        check=True,
        timeout=60,
    )
    head = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()
    assert (
        main(
            [
                "git-info",
                str(repo),
                "--dockerfile",
                str(repo / "docker" / "Dockerfile"),
                "--format",
                "labels",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert out.split() == [
        "--label",
        f"org.opencontainers.image.revision={head}",
        "--label",
        "org.opencontainers.image.source=https://github.com/org/repo",
        "--label",
        "com.docker.image.source.entrypoint=docker/Dockerfile",
    ]
    assert main(["git-info", str(repo), "--format", "build-args"]) == 0
    assert capsys.readouterr().out.split() == [
        "--build-arg",
        f"GIT_COMMIT={head}",
        "--build-arg",
        "GIT_DIRTY=false",
        "--build-arg",
        "GIT_SOURCE=https://github.com/org/repo",
    ]
    (repo / "docker" / "Dockerfile").write_text("FROM alpine\n")
    assert main(["git-info", str(repo)]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["revision"] == f"{head}-dirty" and record["dirty"] is True
    assert "ghp_secret" not in json.dumps(record)
    assert main(["git-info", str(tmp_path)]) == 1
    assert "is not inside a git repository" in capsys.readouterr().err

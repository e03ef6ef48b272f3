"""Resolution of git sources over real transports, against git's own answers."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from buildsig import (
    Commit,
    NetworkError,
    NetworkTimeoutError,
    NotFoundError,
    Source,
    Tag,
    VerificationError,
)
from buildsig.git.remote import NetworkRemote, open_remote
from buildsig.git.resolve import resolve_git_source, resolve_ref
from tests.git.conftest import ServedRepo
from tests.git.servers import hanging_server


def source_for(url: str, ref: str) -> Source:
    text = f"{url}#{ref}" if ref else url
    return Source(f"git://{text}", {"git.fullurl": text})


@pytest.mark.parametrize(
    ("ref", "used", "checksum_key", "commit_key"),
    [
        ("main", "refs/heads/main", "c2", "c2"),
        ("refs/heads/main", "refs/heads/main", "c2", "c2"),
        ("feature/x", "refs/heads/feature/x", "c1", "c1"),
        ("v1.0", "refs/tags/v1.0", "v1.0", "c2"),
        ("refs/tags/v1.0", "refs/tags/v1.0", "v1.0", "c2"),
        ("light", "refs/tags/light", "c1", "c1"),
        ("dup", "refs/heads/dup", "c1", "c1"),  # a branch wins over a tag of the same name
        ("tags/dup", "refs/tags/dup", "dup-tag", "c2"),  # exact refs/<ref> wins first
        ("", "refs/heads/main", "c2", "c2"),  # default branch
    ],
)
def test_resolves_like_buildkit(
    remote_url: str,
    served_repo: ServedRepo,
    ref: str,
    used: str,
    checksum_key: str,
    commit_key: str,
) -> None:
    inp = resolve_git_source(source_for(remote_url, ref), objects=True, timeout=20)
    git = inp.git
    assert git is not None
    ids = served_repo.ids
    assert git.ref == used
    assert git.checksum == ids[checksum_key]
    assert git.commit_checksum == ids[commit_key]
    assert git.is_annotated_tag is (ids[checksum_key] != ids[commit_key])
    assert git.is_sha256 is (served_repo.object_format == "sha256")
    assert git.tag_name == (
        used.removeprefix("refs/tags/") if used.startswith("refs/tags/") else ""
    )
    assert git.branch == (
        used.removeprefix("refs/heads/") if used.startswith("refs/heads/") else ""
    )
    assert isinstance(git.commit, Commit)
    assert git.commit.author.name == "Ada Author"
    assert git.commit.committer.email == "cy@example.com"
    if git.is_annotated_tag:
        assert isinstance(git.tag, Tag)
        assert git.tag.object == ids[commit_key]
        assert git.tag.tag == used.removeprefix("refs/tags/")
    else:
        assert git.tag is None
    assert inp.unknowns == ()


@pytest.mark.parametrize(
    ("ref", "checksum_key", "commit_key"),
    [
        ("v1.0", "v1.0", "c2"),
        ("refs/tags/v1.0", "v1.0", "c2"),  # spelled in full: still peeled
        ("tags/dup", "dup-tag", "c2"),
        ("light", "c1", ""),
        ("main", "c2", ""),
    ],
)
def test_ref_listing_alone_peels_annotated_tags(
    remote_url: str, served_repo: ServedRepo, ref: str, checksum_key: str, commit_key: str
) -> None:
    remote = open_remote(remote_url, timeout=20)
    try:
        resolved = resolve_ref(remote, ref)  # ls-remote only, no objects
    finally:
        remote.close()
    ids = served_repo.ids
    assert resolved.checksum == ids[checksum_key]
    assert resolved.commit_checksum == (ids[commit_key] if commit_key else "")


def test_commit_message_and_parents(remote_url: str, served_repo: ServedRepo) -> None:
    inp = resolve_git_source(source_for(remote_url, "main"), timeout=20)
    assert inp.git is not None and inp.git.commit is not None
    assert inp.git.commit.message == "second commit\n\nwith a body"
    assert inp.git.commit.parents == (served_repo.ids["c1"],)


def test_ref_only_leaves_objects_unknown(remote_url: str, served_repo: ServedRepo) -> None:
    inp = resolve_git_source(source_for(remote_url, "v1.0"), objects=False, timeout=20)
    assert inp.git is not None
    assert inp.git.checksum == served_repo.ids["v1.0"]
    assert inp.git.commit is None
    assert inp.unknowns == ("git.tag", "git.commit")


def test_commit_id_refs(remote_url: str, served_repo: ServedRepo) -> None:
    c1 = served_repo.ids["c1"]
    inp = resolve_git_source(source_for(remote_url, c1), timeout=20)
    assert inp.git is not None
    assert (inp.git.ref, inp.git.checksum, inp.git.commit_checksum) == (c1, c1, c1)
    assert inp.git.is_commit_ref
    assert inp.git.commit is not None and inp.git.commit.message == "first commit"


def test_nested_tags_peel_to_the_commit(remote_url: str, served_repo: ServedRepo) -> None:
    inp = resolve_git_source(source_for(remote_url, "outer"), timeout=20)
    assert inp.git is not None and inp.git.tag is not None
    assert inp.git.checksum == served_repo.ids["outer"]
    assert inp.git.commit_checksum == served_repo.ids["c1"]
    assert inp.git.tag.type == "tag"


def test_swapped_tag_is_refused(remote_url: str) -> None:
    with pytest.raises(VerificationError, match="named 'v8' but was served for refs/tags/v9"):
        resolve_git_source(source_for(remote_url, "v9"), timeout=20)


def test_missing_ref(remote_url: str) -> None:
    with pytest.raises(NotFoundError, match="does not contain ref nope"):
        resolve_git_source(source_for(remote_url, "nope"), timeout=20)


def test_missing_commit(remote_url: str, served_repo: ServedRepo) -> None:
    missing = "0" * (64 if served_repo.object_format == "sha256" else 40)
    with pytest.raises((NotFoundError, NetworkError)):
        resolve_git_source(source_for(remote_url, missing), timeout=20)


def test_source_parse_of_a_local_repository(served_repo: ServedRepo) -> None:
    inp = resolve_git_source(Source.parse(f"{served_repo.path}#v1.0"), timeout=20)
    assert inp.git is not None
    assert inp.git.schema == "file"
    assert inp.git.tag_name == "v1.0"


@pytest.mark.parametrize("scheme", ["git", "http"])
def test_hung_server_times_out(scheme: str) -> None:
    with hanging_server() as port:
        remote = NetworkRemote(f"{scheme}://127.0.0.1:{port}/x.git", timeout=1.0)
        started = time.monotonic()
        with pytest.raises(NetworkTimeoutError, match="no answer within 1 s"):
            resolve_ref(remote, "main")
        assert time.monotonic() - started < 10
        remote.close()


def test_refused_connection_is_a_network_error() -> None:
    from tests.git.servers import free_port

    remote = NetworkRemote(f"git://127.0.0.1:{free_port()}/x.git", timeout=2)
    with pytest.raises(NetworkError):
        resolve_ref(remote, "main")
    remote.close()


def test_credentials_never_appear_in_errors() -> None:
    from tests.git.servers import free_port

    url = f"http://user:s3cret@127.0.0.1:{free_port()}/x.git"
    with pytest.raises(NetworkError) as info:
        resolve_git_source(source_for(url, "main"), timeout=2)
    assert "s3cret" not in str(info.value)
    assert "s3cret" not in info.value.diagnostics()


def test_not_a_repository(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NotFoundError, match="not a git repository"):
        open_remote(str(tmp_path))


def test_an_object_that_is_not_what_its_id_says_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A repository (or server) handing over different bytes under a tag's id."""
    import shutil
    import subprocess
    import zlib

    from buildsig import DigestMismatchError
    from tests.git.conftest import build_repo, git

    served = build_repo(tmp_path, "sha1")
    repo = served.path
    # Explode the pack into loose objects, then forge the tag's loose object.
    packdir = repo / "objects" / "pack"
    for pack in sorted(packdir.glob("*.pack")):
        moved = tmp_path / pack.name
        pack.rename(moved)
        (packdir / pack.name.replace(".pack", ".idx")).unlink()
        subprocess.run(
            ["git", "-C", str(repo), "unpack-objects", "-q"], stdin=moved.open("rb"), check=True
        )
    tag_id = served.ids["v1.0"]
    raw = git(repo, "cat-file", "tag", tag_id).encode() + b"\n"
    forged = raw.replace(b"release 1.0", b"release 6.6")
    loose = repo / "objects" / tag_id[:2] / tag_id[2:]
    loose.chmod(0o644)
    loose.write_bytes(zlib.compress(b"tag %d\0" % len(forged) + forged))
    with pytest.raises(DigestMismatchError) as info:
        resolve_git_source(
            Source(f"git://{repo.as_uri()}#v1.0", {"git.fullurl": f"{repo.as_uri()}#v1.0"})
        )
    assert info.value.expected == tag_id
    shutil.rmtree(repo)


# --- ssh, through a real OpenSSH server --------------------------------------------------


@pytest.fixture(scope="module")
def ssh_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, str]]:
    from tests.git.servers import sshd

    with sshd(tmp_path_factory.mktemp("sshd")) as server:
        yield server


def test_resolves_over_ssh_url(served_repo: ServedRepo, ssh_server: tuple[int, str]) -> None:
    port, ssh = ssh_server
    url = f"ssh://root@127.0.0.1:{port}{served_repo.path}"
    inp = resolve_git_source(source_for(url, "v1.0"), ssh_command=ssh, timeout=30)
    assert inp.git is not None and inp.git.tag is not None
    assert inp.git.schema == "ssh"
    assert inp.git.checksum == served_repo.ids["v1.0"]
    assert inp.git.commit_checksum == served_repo.ids["c2"]


def test_resolves_over_scp_like_url(served_repo: ServedRepo, ssh_server: tuple[int, str]) -> None:
    port, ssh = ssh_server
    url = f"root@127.0.0.1:{served_repo.path}"
    inp = resolve_git_source(source_for(url, "main"), ssh_command=f"{ssh} -p {port}", timeout=30)
    assert inp.git is not None
    assert inp.git.remote == url
    assert inp.git.commit_checksum == served_repo.ids["c2"]
    assert inp.git.commit is not None


def test_ssh_that_hangs_is_ended(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """An ssh that never answers is killed by the watchdog, not waited on forever."""
    fake = tmp_path / "slow-ssh"
    fake.write_text("#!/bin/sh\nexec sleep 60\n")
    fake.chmod(0o755)
    remote = NetworkRemote("ssh://nobody@127.0.0.1/x.git", timeout=1.0, ssh_command=str(fake))
    started = time.monotonic()
    with pytest.raises(NetworkTimeoutError, match="no answer within 1 s"):
        resolve_ref(remote, "main")
    assert time.monotonic() - started < 10
    remote.close()

"""Git object parsing: git's signed-payload rules, Buildx's fields, object ids."""

from __future__ import annotations

import hashlib
import os
import subprocess
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from buildsig import Actor, Commit, DigestMismatchError, InvalidInputError, Tag
from buildsig.git.objects import (
    check_object_id,
    object_id,
    parse_actor,
    parse_git_object,
    to_model,
)

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "git"

COMMIT_RAW = (
    b"tree 0123456789abcdef0123456789abcdef01234567\n"
    b"author Alice <alice@example.com> 1700000000 +0000\n"
    b"committer Bob <bob@example.com> 1700003600 -0700\n"
    b"\n"
    b"hello from commit\n"
)


def sha1_of(kind: str, raw: bytes) -> str:
    return hashlib.sha1(
        b"%s %d\0" % (kind.encode(), len(raw)) + raw, usedforsecurity=False
    ).hexdigest()


def test_buildx_commit_and_tag_fixture() -> None:
    commit_id = sha1_of("commit", COMMIT_RAW)
    tag_raw = (
        f"object {commit_id}\ntype commit\ntag v1.2.3\n".encode()
        + b"tagger Carol <carol@example.com> 1700007200 +0000\n\nrelease v1.2.3\n"
    )
    commit = to_model(parse_git_object(COMMIT_RAW))
    assert commit == Commit(
        tree="0123456789abcdef0123456789abcdef01234567",
        author=Actor(
            name="Alice",
            email="alice@example.com",
            when=datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC),
        ),
        committer=Actor(
            name="Bob",
            email="bob@example.com",
            when=datetime(2023, 11, 14, 16, 13, 20, tzinfo=timezone(-timedelta(hours=7))),
        ),
        message="hello from commit",
    )
    assert commit.to_dict()["committer"]["when"] == "2023-11-14T16:13:20-07:00"
    assert commit.to_dict()["author"]["when"] == "2023-11-14T22:13:20Z"
    tag = to_model(parse_git_object(tag_raw))
    assert isinstance(tag, Tag)
    assert (tag.object, tag.type, tag.tag, tag.message) == (
        commit_id,
        "commit",
        "v1.2.3",
        "release v1.2.3",
    )
    assert tag.raw == tag_raw
    assert parse_git_object(tag_raw).signature is None
    check_object_id("commit", COMMIT_RAW, commit_id)


def test_object_id_mismatch_and_lengths() -> None:
    with pytest.raises(DigestMismatchError, match="checksum mismatch") as info:
        check_object_id("commit", COMMIT_RAW, "0" * 40)
    assert info.value.actual == sha1_of("commit", COMMIT_RAW)
    check_object_id("commit", COMMIT_RAW, object_id("commit", COMMIT_RAW, "sha256"))
    with pytest.raises(InvalidInputError, match="unsupported sha length"):
        check_object_id("commit", COMMIT_RAW, "abc")


@pytest.mark.parametrize(
    ("line", "actor"),
    [
        (
            b"A B <a@b> 0 +0000",
            Actor(name="A B", email="a@b", when=datetime(1970, 1, 1, tzinfo=UTC)),
        ),
        (b"Name <a@b>", Actor(name="Name", email="a@b")),
        (b"Name <a@b> notatime +0100", Actor(name="Name", email="a@b")),
        (b"Name <a@b> 1 +01", Actor(name="Name", email="a@b")),
        (b"Name <a@b> 99999999999999999999 +0000", Actor(name="Name", email="a@b")),
        (b"no email at all", Actor(name="no email at all")),
        (
            b"Odd <x> <real@e> 5 +0530",
            Actor(name="Odd <x>", email="real@e", when=datetime(1970, 1, 1, 0, 0, 5, tzinfo=UTC)),
        ),
    ],
)
def test_actor_parsing(line: bytes, actor: Actor) -> None:
    assert parse_actor(line) == actor


def test_actor_keeps_its_offset() -> None:
    when = parse_actor(b"A <a@b> 1700000000 +0530").when
    assert when is not None
    assert when.utcoffset() == timedelta(hours=5, minutes=30)


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b"tree abc", "header without newline"),
        (b" continuation\n\n", "continuation before header"),
        (b"nospace\n\n", "malformed header"),
        (b"tree t\n\nmsg\n", "missing author header"),
        (b"object o\ntype commit\ntag v\n\nmsg\n", "missing tagger header"),
    ],
)
def test_malformed_objects(raw: bytes, fragment: str) -> None:
    with pytest.raises(InvalidInputError, match=fragment):
        to_model(parse_git_object(raw))


def test_commit_signature_headers_and_mergetag() -> None:
    raw = (
        b"tree " + b"1" * 40 + b"\n"
        b"parent " + b"2" * 40 + b"\n"
        b"parent " + b"3" * 40 + b"\n"
        b"author A <a@b> 1 +0000\ncommitter A <a@b> 1 +0000\n"
        b"mergetag object x\n type commit\n tag v1\n \n"
        b" -----BEGIN PGP SIGNATURE-----\n sig\n -----END PGP SIGNATURE-----\n"
        b"gpgsig -----BEGIN SSH SIGNATURE-----\n AAAA\n -----END SSH SIGNATURE-----\n"
        b"gpgsig-sha256 bogus\n"
        b"\nmerge\n"
    )
    obj = parse_git_object(raw)
    assert obj.signature == b"-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----\n"
    assert obj.signature_format == "ssh"
    # every gpgsig* header goes, mergetag (with its own signature) stays
    assert b"gpgsig" not in obj.payload
    assert b"mergetag object x\n type commit" in obj.payload
    assert obj.payload.endswith(b"\nmerge\n")
    model = to_model(obj)
    assert isinstance(model, Commit)
    assert model.parents == ("2" * 40, "3" * 40)
    # sha256 repositories sign with gpgsig-sha256
    assert parse_git_object(raw, object_format="sha256").signature == b"bogus\n"


def test_tag_signature_is_the_last_armor_line() -> None:
    raw = (
        b"object " + b"a" * 40 + b"\ntype commit\ntag v1\ntagger T <t@t> 1 +0000\n\n"
        b"quoting an old block:\n-----BEGIN PGP SIGNATURE-----\nold\n-----END PGP SIGNATURE-----\n"
        b"-----BEGIN SSH SIGNATURE-----\nnew\n-----END SSH SIGNATURE-----\n"
    )
    obj = parse_git_object(raw)
    assert obj.signature == b"-----BEGIN SSH SIGNATURE-----\nnew\n-----END SSH SIGNATURE-----\n"
    assert obj.payload.endswith(b"-----END PGP SIGNATURE-----\n")
    assert obj.message.startswith(b"quoting an old block:")


def test_x509_signatures_are_recognised() -> None:
    raw = (
        b"object o\ntype commit\ntag v\ntagger T <t@t> 1 +0000\n\n"
        b"m\n-----BEGIN SIGNED MESSAGE-----\nx\n"
    )
    assert parse_git_object(raw).signature_format == "x509"


def test_oversized_object() -> None:
    with pytest.raises(InvalidInputError, match="too large"):
        parse_git_object(b"x" * (16 * 1024 * 1024 + 1))


# --- real git as the oracle ------------------------------------------------------------


def git(repo: Path, *args: str, env: dict[str, str] | None = None) -> bytes:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, env=env, timeout=60
    ).stdout


@pytest.fixture(scope="module", params=["sha1", "sha256"])
def ssh_signed_repo(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path, str]:
    base = tmp_path_factory.mktemp(f"objects-{request.param}")
    key = base / "key"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True, timeout=60
    )
    repo = base / "repo"
    subprocess.run(
        ["git", "init", "-q", f"--object-format={request.param}", str(repo)], check=True, timeout=60
    )
    env = dict(
        os.environ, GIT_AUTHOR_DATE="1700000000 +0200", GIT_COMMITTER_DATE="1700000000 +0200"
    )
    for k, v in {
        "user.name": "Tess Ter",
        "user.email": "t@example.com",
        "gpg.format": "ssh",
        "user.signingkey": str(key),
        "commit.gpgsign": "true",
    }.items():
        git(repo, "config", k, v)
    (repo / "f").write_text("x\n")
    git(repo, "add", "f")
    git(repo, "commit", "-q", "-m", "first\n\nbody line", env=env)
    (repo / "f").write_text("y\n")
    git(repo, "commit", "-q", "-am", "second", env=env)
    git(repo, "tag", "-s", "-m", "release one", "v1", env=env)
    return repo, key, request.param


def test_payloads_are_what_git_signed(ssh_signed_repo: tuple[Path, Path, str]) -> None:
    repo, key, fmt = ssh_signed_repo
    allowed = repo.parent / "allowed"
    pub = (key.parent / "key.pub").read_text().split()
    allowed.write_text(f"t@example.com {pub[0]} {pub[1]}\n")
    for kind, rev in (("commit", "HEAD"), ("commit", "HEAD~1"), ("tag", "v1")):
        oid = git(repo, "rev-parse", rev).decode().strip()
        raw = git(repo, "cat-file", kind, oid)
        obj = parse_git_object(raw, object_format=fmt)
        assert obj.type == kind
        assert obj.object_id(fmt) == oid  # type: ignore[arg-type]
        check_object_id(kind, raw, oid)
        assert obj.signature is not None
        assert obj.signature_format == "ssh"
        sig = repo.parent / "sig"
        sig.write_bytes(obj.signature)
        # ssh-keygen, given our payload and our signature, must agree that git signed it
        proc = subprocess.run(
            [
                "ssh-keygen",
                "-Y",
                "verify",
                "-n",
                "git",
                "-f",
                str(allowed),
                "-I",
                "t@example.com",
                "-s",
                str(sig),
            ],
            input=obj.payload,
            capture_output=True,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
        assert obj.signer_time == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)


def test_model_fields_match_git_cat_file(ssh_signed_repo: tuple[Path, Path, str]) -> None:
    repo, _, fmt = ssh_signed_repo
    oid = git(repo, "rev-parse", "HEAD~1").decode().strip()
    commit = to_model(parse_git_object(git(repo, "cat-file", "commit", oid), object_format=fmt))
    assert isinstance(commit, Commit)
    assert commit.tree == git(repo, "rev-parse", "HEAD~1^{tree}").decode().strip()
    assert commit.parents == ()
    assert commit.message == "first\n\nbody line"
    assert commit.author.to_dict() == {
        "name": "Tess Ter",
        "email": "t@example.com",
        "when": "2023-11-15T00:13:20+02:00",
    }
    tag_id = git(repo, "rev-parse", "v1").decode().strip()
    tag = to_model(parse_git_object(git(repo, "cat-file", "tag", tag_id), object_format=fmt))
    assert isinstance(tag, Tag)
    assert tag.object == git(repo, "rev-parse", "v1^{commit}").decode().strip()
    assert (tag.type, tag.tag, tag.message) == ("commit", "v1", "release one")


# --- real-world objects ----------------------------------------------------------------


def real_objects() -> list[Path]:
    if not DATA.is_dir():
        return []
    return sorted(DATA.glob("*/*.obj"))


@pytest.mark.skipif(not DATA.is_dir(), reason=f"real-world data not found at {DATA}")
@pytest.mark.parametrize("path", real_objects(), ids=lambda p: f"{p.parent.name}/{p.name[:24]}")
def test_real_objects_hash_to_their_ids_and_split_like_dulwich(path: Path) -> None:
    from dulwich.objects import Commit as DCommit
    from dulwich.objects import Tag as DTag

    kind, _, rest = path.name.partition("-")
    oid = rest.removesuffix(".obj").rsplit(".", 1)[-1]
    raw = path.read_bytes()
    obj = parse_git_object(raw)
    assert obj.type == kind
    check_object_id(kind, raw, oid)
    theirs = (DTag if kind == "tag" else DCommit).from_string(raw)
    if obj.signature is None:
        assert obj.payload == raw
    else:
        payload, signature, _ = theirs.extract_signature()
        assert obj.payload == payload
        assert obj.signature.rstrip(b"\n") == signature.rstrip(b"\n")
    model = to_model(obj)
    assert model.raw == raw

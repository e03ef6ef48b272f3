"""``buildsig pin``: a Dockerfile's sources resolved against real servers (a
``docker-registry``, ``git daemon``, a local HTTP server, the example's OCI layout) and
pinned by a BuildKit source policy; the policy fed back through the engine; ``--check``
after the upstream moved.

The expected values come from the servers' side, never from buildsig: digests from
``skopeo inspect --raw`` (hashed here), commits from ``git rev-parse`` in the served
repository, checksums from ``hashlib`` over the served bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from buildsig.cli import main
from buildsig.oci.auth import CredentialStore
from buildsig.oci.registry import RegistryClient
from buildsig.policy.pin import PinReport, check_pins, pin_dockerfile
from buildsig.policy.source import MatchType, PolicyAction, load_source_policy
from tests.git.servers import git_daemon
from tests.http import LocalServer, body
from tests.oci.registryd import RunningRegistry, docker_registry, push_image, skopeo

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOL = b"#!/bin/sh\necho tool v1\n"
PINNED_FILE = b"already pinned by ADD --checksum\n"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Pin Test",
    "GIT_AUTHOR_EMAIL": "pin@example.com",
    "GIT_COMMITTER_NAME": "Pin Test",
    "GIT_COMMITTER_EMAIL": "pin@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
    "HOME": "/nonexistent",
}


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **GIT_ENV},
        timeout=120,
    ).stdout.strip()


def make_repo(root: Path, name: str) -> Path:
    """A bare repository ``root/name`` with branch main (two commits, ``sub/`` in the
    second), the annotated tag v1.0 on the first and the lightweight tag v2 on the second;
    its work tree is ``root/name.work`` (pushes move the served refs)."""
    work = root / f"{name}.work"
    git(root, "init", "-q", "-b", "main", str(work))
    (work / "README").write_text("one\n")
    git(work, "add", "README")
    git(work, "commit", "-q", "-m", "first")
    git(work, "tag", "-a", "-m", "release 1.0", "v1.0")
    (work / "sub").mkdir()
    (work / "sub" / "file").write_text("two\n")
    git(work, "add", "sub")
    git(work, "commit", "-q", "-m", "second")
    git(work, "tag", "v2")
    git(root, "clone", "-q", "--bare", str(work), str(root / name))
    git(work, "remote", "add", "origin", str(root / name))
    return root / name


def run(*argv: str) -> tuple[int, str, str]:
    """``buildsig`` in-process: exit status, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def evaluate(policy: Path, identifier: str, attrs: dict[str, str]) -> dict[str, Any]:
    """``buildsig source-policy eval`` of one source; its JSON result."""
    argv = ["source-policy", "eval", "--policy", str(policy), identifier]
    for key, value in sorted(attrs.items()):
        argv += ["--attr", f"{key}={value}"]
    code, out, err = run(*argv)
    assert code == 0, err
    result: dict[str, Any] = json.loads(out)
    return result


def assert_round_trip(policy: Path, sources: list[dict[str, Any]]) -> None:
    """Every pinned source converts to its pinned form with its pin attributes; the
    converted source is left alone; other sources are not touched at all."""
    for entry in sources:
        attrs = entry.get("sourceAttrs", {})
        result = evaluate(policy, entry["source"], attrs)
        assert result["action"] == "ALLOW"
        if entry["status"] != "pinned":
            assert result["mutated"] is False, entry
            assert result["identifier"] == entry["source"]
            continue
        assert result["mutated"] is True
        assert result["identifier"] == entry["pinned"]
        assert result["attrs"] == {**attrs, **entry["attrs"]}
        again = evaluate(policy, result["identifier"], result["attrs"])
        assert again["mutated"] is False
        assert again["identifier"] == result["identifier"]
        assert again["attrs"] == result["attrs"]


@dataclass
class World:
    registry: RunningRegistry
    http: LocalServer
    git_root: Path
    git_port: int
    tmp: Path

    def image(self, path: str, tag: str, **kwargs: Any) -> str:
        """Push an image; the digest the registry reports for the tag (via skopeo)."""
        client = RegistryClient(credentials=CredentialStore.anonymous())
        with client:
            push_image(client, self.registry.repo(path), tag, **kwargs)
        return sha256(skopeo(self.registry, f"{path}:{tag}", "--raw"))

    def git_url(self, name: str) -> str:
        return f"git://127.0.0.1:{self.git_port}/{name}"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("pin")
    git_root = tmp / "git"
    git_root.mkdir()
    with (
        docker_registry(tmp / "registry") as registry,
        LocalServer() as http,
        git_daemon(git_root) as port,
    ):
        yield World(registry, http, git_root, port, tmp)


@dataclass
class Project:
    dockerfile: Path
    policy: Path
    report: dict[str, Any]
    expected: dict[str, tuple[str, dict[str, str]]]  # source -> (pinned, attrs)
    multi: str
    single: str
    pinned_image: str


@pytest.fixture(scope="module")
def project(world: World) -> Project:
    reg = world.registry.host
    multi = world.image("app/multi", "v1", platforms=("linux/amd64", "linux/arm64/v8"), seed="m")
    single = world.image("app/single", "v1", seed="s")
    pinned_image = world.image("app/pinned", "v1", seed="p")
    repo = make_repo(world.git_root, "project.git")
    tag_commit = git(repo, "rev-parse", "v1.0^{commit}")
    assert git(repo, "rev-parse", "v1.0") != tag_commit  # annotated: the pin is the commit
    main_commit = git(repo, "rev-parse", "refs/heads/main")
    world.http.routes["/tool"] = body(TOOL)
    world.http.routes["/pinned"] = body(PINNED_FILE)
    directory = world.tmp / "project"
    directory.mkdir()
    dockerfile = directory / "Dockerfile"
    url = world.git_url("project.git")
    dockerfile.write_text(
        f"FROM {reg}/app/multi:v1 AS base\n"
        f"ADD {world.http.url('/tool')} /tool\n"
        f"ADD --checksum={sha256(PINNED_FILE)} {world.http.url('/pinned')} /pinned\n"
        f"ADD {url}#v1.0 /src-tag\n"
        f"ADD {url}#main:sub /src-branch\n"
        f"ADD {url}#refs/tags/v1.0 /src-full-ref\n"
        f"FROM {reg}/app/pinned:v1@{pinned_image} AS pinned\n"
        f"FROM {reg}/app/single:v1\n"
        "COPY --from=base /tool /tool\n"
        "COPY --from=pinned /etc /etc\n"
        "COPY . /ctx\n"
    )
    policy = directory / "pins.json"
    code, out, err = run("pin", str(dockerfile), "-o", str(policy), "--json")
    assert code == 0, err
    expected = {
        f"docker-image://{reg}/app/multi:v1": (
            f"docker-image://{reg}/app/multi:v1@{multi}",
            {"image.checksum": multi},
        ),
        world.http.url("/tool"): (world.http.url("/tool"), {"http.checksum": sha256(TOOL)}),
        f"{url}#v1.0": (f"{url}#{tag_commit}", {"git.checksum": tag_commit}),
        f"{url}#main:sub": (f"{url}#{main_commit}:sub", {"git.checksum": main_commit}),
        f"{url}#refs/tags/v1.0": (f"{url}#{tag_commit}", {"git.checksum": tag_commit}),
        f"docker-image://{reg}/app/single:v1": (
            f"docker-image://{reg}/app/single:v1@{single}",
            {"image.checksum": single},
        ),
    }
    return Project(dockerfile, policy, json.loads(out), expected, multi, single, pinned_image)


def test_pin_writes_exact_rules(project: Project, world: World) -> None:
    reg = world.registry.host
    assert project.multi != project.single
    rules = json.loads(project.policy.read_text())
    assert rules["version"] == 1
    want = []
    for source, (pinned, attrs) in project.expected.items():
        updates: dict[str, Any] = {"attrs": attrs}
        if pinned != source:
            updates = {"identifier": pinned, **updates}
        want.append(
            {
                "action": "CONVERT",
                "selector": {"identifier": source, "match_type": "EXACT"},
                "updates": updates,
            }
        )
    assert rules["rules"] == want
    assert project.report["policy"] == rules
    statuses = {e["source"]: e["status"] for e in project.report["sources"]}
    assert statuses == {
        **dict.fromkeys(project.expected, "pinned"),
        world.http.url("/pinned"): "already pinned",
        f"docker-image://{reg}/app/pinned:v1@{project.pinned_image}": "already pinned",
        "local://context": "not pinnable",
    }
    # Dockerfile order, one entry per source
    assert [e["line"] for e in project.report["sources"]] == [1, 2, 3, 4, 5, 6, 7, 8, 11]


def test_pinned_policy_round_trips_through_source_policy_eval(project: Project) -> None:
    assert_round_trip(project.policy, project.report["sources"])


def test_stdout_policy_and_stderr_table(project: Project) -> None:
    code, out, err = run("pin", str(project.dockerfile))
    assert code == 0
    assert out == project.policy.read_text()
    lines = err.splitlines()
    assert lines[0].split() == ["SOURCE", "LINE", "STATUS", "PIN"]
    tool = next(line for line in lines if line.startswith("http") and "/tool" in line)
    assert tool.split()[-2:] == ["pinned", project.expected[tool.split()[0]][1]["http.checksum"]]
    assert any("already pinned" in line for line in lines)
    assert any(line.startswith("local://context") and "not pinnable" in line for line in lines)


def test_library_api(project: Project) -> None:
    report = pin_dockerfile(project.dockerfile)
    assert isinstance(report, PinReport)
    assert report.ok
    assert report.policy.rules == load_source_policy(project.policy).rules
    assert all(r.action == PolicyAction.CONVERT for r in report.policy.rules)
    assert all(r.selector.match_type == MatchType.EXACT for r in report.policy.rules)
    checked = check_pins(project.dockerfile, project.policy)
    assert checked.ok
    assert checked.to_json()["stale"] == []


def test_check_right_after_pinning_is_ok(project: Project, world: World) -> None:
    code, out, err = run("pin", str(project.dockerfile), "--check", str(project.policy), "--json")
    assert code == 0, out + err
    report = json.loads(out)
    assert report["ok"] is True
    by_source = {s["source"]: s for s in report["sources"]}
    for source, (pinned, attrs) in project.expected.items():
        [value] = attrs.values()
        assert by_source[source]["status"] == "ok"
        assert by_source[source]["pinned"] == by_source[source]["current"] == value
        assert by_source[source]["pinnedIdentifier"] == pinned
    assert by_source["local://context"]["status"] == "not pinnable"
    assert by_source[world.http.url("/pinned")]["status"] == "already pinned"
    assert report["stale"] == []
    code, out, _ = run("pin", str(project.dockerfile), "--check", str(project.policy))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["SOURCE", "LINE", "STATUS"]
    assert lines[-1] == f"ok: every pin in {project.policy} holds"


def test_stale_rules_do_not_fail_the_check(project: Project, tmp_path: Path) -> None:
    document = json.loads(project.policy.read_text())
    document["rules"].append(
        {
            "action": "CONVERT",
            "selector": {"identifier": "docker-image://example.com/gone:1", "match_type": "EXACT"},
            "updates": {"attrs": {"image.checksum": "sha256:" + "0" * 64}},
        }
    )
    policy = tmp_path / "with-stale.json"
    policy.write_text(json.dumps(document))
    code, out, _ = run("pin", str(project.dockerfile), "--check", str(policy), "--json")
    assert code == 0
    report = json.loads(out)
    assert report["ok"] is True
    assert [(s["status"], s["rule"], s["selector"]) for s in report["stale"]] == [
        ("stale", len(document["rules"]), "docker-image://example.com/gone:1")
    ]
    code, out, _ = run("pin", str(project.dockerfile), "--check", str(policy))
    assert code == 0
    assert "stale rule(s)" in out.splitlines()[-1]


def test_check_after_upstream_moved(world: World) -> None:
    """Tag pushed again, git tag and branch moved, file changed: each is ``changed``;
    a source added after pinning is ``unpinned``, the rule of a removed one ``stale``."""
    reg = world.registry.host
    old_image = world.image("app/moving", "v1", seed="old")
    repo = make_repo(world.git_root, "moving.git")
    work = world.git_root / "moving.git.work"
    old_tag, old_branch = git(repo, "rev-parse", "v2"), git(repo, "rev-parse", "main")
    world.http.routes["/moving"] = body(b"first version\n")
    world.http.routes["/gone"] = body(b"removed later\n")
    world.http.routes["/new"] = body(b"added later\n")
    url = world.git_url("moving.git")
    directory = world.tmp / "moving"
    directory.mkdir()
    dockerfile, policy = directory / "Dockerfile", directory / "pins.json"
    common = (
        f"FROM {reg}/app/moving:v1\n"
        f"ADD {world.http.url('/moving')} /m\n"
        f"ADD {url}#v2 /tag\n"
        f"ADD {url}#main /branch\n"
    )
    dockerfile.write_text(common + f"ADD {world.http.url('/gone')} /g\n")
    assert run("pin", str(dockerfile), "-o", str(policy))[0] == 0
    assert run("pin", str(dockerfile), "--check", str(policy))[0] == 0

    new_image = world.image("app/moving", "v1", seed="new")
    (work / "README").write_text("three\n")
    git(work, "commit", "-q", "-am", "third")
    git(work, "tag", "-f", "v2")
    git(work, "push", "-q", "--force", "origin", "main", "refs/tags/v2")
    new_commit = git(repo, "rev-parse", "main")
    assert git(repo, "rev-parse", "v2") == new_commit != old_tag
    world.http.routes["/moving"] = body(b"second version\n")
    dockerfile.write_text(common + f"ADD {world.http.url('/new')} /n\n")

    code, out, err = run("pin", str(dockerfile), "--check", str(policy), "--json")
    assert code == 1
    report = json.loads(out)
    assert report["ok"] is False
    got = {s["source"]: (s["status"], s.get("pinned"), s.get("current")) for s in report["sources"]}
    assert got == {
        f"docker-image://{reg}/app/moving:v1": ("changed", old_image, new_image),
        world.http.url("/moving"): (
            "changed",
            sha256(b"first version\n"),
            sha256(b"second version\n"),
        ),
        f"{url}#v2": ("changed", old_tag, new_commit),
        f"{url}#main": ("changed", old_branch, new_commit),
        world.http.url("/new"): ("unpinned", None, sha256(b"added later\n")),
    }
    [stale] = report["stale"]
    assert stale["status"] == "stale" and stale["selector"] == world.http.url("/gone")
    assert stale["rule"] == 5
    assert err.startswith("FAILED (4 changed, 1 unpinned): ")
    assert err.rstrip().endswith(f"re-run: buildsig pin {dockerfile} -o {policy}")

    code, out, _ = run("pin", str(dockerfile), "--check", str(policy))
    assert code == 1
    assert f"{old_image} -> {new_image}" in out
    assert f"{old_tag} -> {new_commit}" in out
    assert any(
        line.startswith(world.http.url("/gone")) and "stale" in line for line in out.split("\n")
    )
    assert out.rstrip().endswith(f"buildsig pin {dockerfile} -o {policy}")

    # re-pinning as told makes the check pass again
    assert run("pin", str(dockerfile), "-o", str(policy))[0] == 0
    assert run("pin", str(dockerfile), "--check", str(policy))[0] == 0


def test_output_is_atomic_when_a_source_fails(world: World, tmp_path: Path) -> None:
    world.http.routes["/ok"] = body(b"fine\n")
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(
        f"FROM {world.registry.host}/app/missing:v1\n"
        f"ADD {world.http.url('/ok')} /ok\n"
        f"ADD {world.http.url('/absent')} /absent\n"
    )
    policy = tmp_path / "pins.json"
    original = b'{"rules": [], "note": "hand-written \\u00e9"}\n'
    policy.write_bytes(original)
    code, out, err = run("pin", str(dockerfile), "-o", str(policy))
    assert code == 1
    assert out == ""
    assert "MANIFEST_UNKNOWN" in err and "(HTTP 404)" in err
    assert f"{policy} was not written" in err
    assert policy.read_bytes() == original
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Dockerfile", "pins.json"]
    code, out, _ = run("pin", str(dockerfile), "--json")
    report = json.loads(out)
    assert code == 1 and report["ok"] is False
    assert [s["status"] for s in report["sources"]] == ["error", "pinned", "error"]
    # --check of the untouched file: errors and the unpinned source, and what to do
    code, out, _ = run("pin", str(dockerfile), "--check", str(policy))
    assert code == 1
    rows = [line.split()[2] for line in out.splitlines()[1:-1]]
    assert rows == ["error", "unpinned", "error"]
    assert out.splitlines()[-1].startswith("FAILED (1 unpinned, 2 error): ")
    assert "fix or retry the sources in error, then re-run: buildsig pin" in out


def test_bad_input_is_a_clear_error(tmp_path: Path) -> None:
    code, _, err = run("pin", str(tmp_path / "nope"))
    assert code == 1 and "no such Dockerfile" in err
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM scratch\nCOPY . /\n")
    (tmp_path / "bad.json").write_text("{not json")
    code, _, err = run("pin", str(dockerfile), "--check", str(tmp_path / "bad.json"))
    assert code == 1 and "not valid JSON" in err


# --- the bundled example -------------------------------------------------------------


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory, world: World) -> Iterator[dict[str, Any]]:
    """examples/ copied and built with make_example.py, served as ``nox -s example``
    serves it (git daemon over build/git), on free ports. The one download without a
    checksum (``nox -s example`` serves it on 127.0.0.1:8419) is served by the local HTTP
    server instead."""
    root = tmp_path_factory.mktemp("example") / "examples"
    shutil.copytree(REPO_ROOT / "examples", root, ignore=shutil.ignore_patterns("build"))
    subprocess.run(
        [sys.executable, str(root / "make_example.py")],
        check=True,
        capture_output=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT / "src")},
    )
    script = b"#!/bin/sh\necho get acme\n"
    world.http.routes["/get-acme.sh"] = body(script)
    with git_daemon(root / "build" / "git") as port:
        text = (root / "Dockerfile").read_text()
        assert "127.0.0.1:9418" in text and "http://127.0.0.1:8419/get-acme.sh" in text
        text = text.replace("127.0.0.1:9418", f"127.0.0.1:{port}")
        text = text.replace("http://127.0.0.1:8419/get-acme.sh", world.http.url("/get-acme.sh"))
        (root / "Dockerfile").write_text(text)
        yield {"root": root, "port": port, "script": script}


def test_pin_the_bundled_example(example: dict[str, Any], world: World) -> None:
    root: Path = example["root"]
    layout = root / "build" / "oci-layout"
    policy = root / "pins.json"
    argv = [str(root / "Dockerfile"), "--platform", "linux/amd64", "--oci-layout", str(layout)]
    code, out, err = run("pin", *argv, "-o", str(policy), "--json")
    assert code == 0, err
    report = json.loads(out)
    index = json.loads((layout / "index.json").read_text())
    digests: dict[str, str] = {
        m["annotations"]["org.opencontainers.image.ref.name"]: m["digest"]
        for m in index["manifests"]
        if "org.opencontainers.image.ref.name" in m.get("annotations", {})
    }
    bare = root / "build" / "git" / "acme" / "tools.git"
    url = f"git://127.0.0.1:{example['port']}/acme/tools.git"
    v10, rc = (git(bare, "rev-parse", f"{t}^{{commit}}") for t in ("v1.0", "v1.1-rc1"))
    got = {s["source"]: (s["status"], s.get("value")) for s in report["sources"]}

    assert got == {
        "docker-image://ghcr.io/acme/builder:1.4": (
            "pinned",
            digests["ghcr.io/acme/builder:1.4"],
        ),
        "https://github.com/acme/cli/releases/download/v2.3.0/acme-cli-linux-amd64.tar.gz": (
            "already pinned",
            None,
        ),
        f"{url}#v1.0": ("pinned", v10),
        f"{url}#v1.1-rc1": ("pinned", rc),
        world.http.url("/get-acme.sh"): ("pinned", sha256(example["script"])),
        "docker-image://ghcr.io/acme/runtime:2.0": (
            "pinned",
            digests["ghcr.io/acme/runtime:2.0"],
        ),
        "local://context": ("not pinnable", None),
    }
    assert_round_trip(policy, report["sources"])
    code, out, err = run("pin", *argv, "--check", str(policy))
    assert code == 0, out + err

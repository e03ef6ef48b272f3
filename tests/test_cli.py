"""The ``buildsig`` command, run as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

import buildsig

ROOT = Path(__file__).resolve().parent.parent


def run(
    *args: str, check_exit: int | None = 0, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, "-m", "buildsig", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=60,
        check=False,
    )
    if check_exit is not None:
        assert proc.returncode == check_exit, proc.stderr
    return proc


def test_version() -> None:
    assert run("--version").stdout.strip() == f"buildsig {buildsig.__version__}"


def test_inspect_bare_alpine() -> None:
    proc = run("inspect", "--no-resolve", "--platform", "linux/amd64", "alpine")
    data = json.loads(proc.stdout)
    assert data == {
        "env": {"filename": "Dockerfile", "depth": 0},
        "image": {
            "ref": "docker.io/library/alpine:latest",
            "host": "docker.io",
            "repo": "alpine",
            "fullRepo": "docker.io/library/alpine",
            "tag": "latest",
            "platform": "linux/amd64",
            "os": "linux",
            "arch": "amd64",
        },
    }
    # 2-space indent, like buildx policy eval --print
    assert proc.stdout.startswith('{\n  "env": {\n    "filename": "Dockerfile",')
    assert "unresolved for alpine: input.image.checksum, input.image.labels" in proc.stderr


def test_inspect_canonical_ref_gets_checksum() -> None:
    digest = "sha256:" + "0123456789abcdef" * 4
    data = json.loads(run("inspect", "--no-resolve", f"alpine@{digest}").stdout)
    assert data["image"]["isCanonical"] is True
    assert data["image"]["checksum"] == digest
    assert "tag" not in data["image"]


def test_inspect_bad_reference_is_one_line_error() -> None:
    proc = run("inspect", "--no-resolve", "ghcr.io/A/b", check_exit=1)
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: ")
    assert "lowercase" in lines[0]


def test_inspect_git_tag_with_subdir() -> None:
    proc = run("inspect", "--no-resolve", "git://github.com/moby/buildkit.git#v0.12.0:docs")
    assert json.loads(proc.stdout) == {
        "env": {"filename": "Dockerfile", "depth": 0},
        "git": {
            "schema": "https",
            "host": "github.com",
            "remote": "https://github.com/moby/buildkit.git",
            "subDir": "docs",
        },
    }
    assert "input.git.tagName, input.git.branch, input.git.ref" in proc.stderr


def test_inspect_https_with_query_and_fragment() -> None:
    proc = run("inspect", "--no-resolve", "https://example.com/a.tar.gz?x=1&x=2#frag")
    assert json.loads(proc.stdout)["http"] == {
        "url": "https://example.com/a.tar.gz?x=1&x=2#frag",
        "schema": "https",
        "host": "example.com",
        "path": "/a.tar.gz",
        "query": {"x": ["1", "2"]},
    }


def test_inspect_local_needs_no_resolution() -> None:
    proc = run("inspect", "local://context")
    assert json.loads(proc.stdout) == {
        "env": {"filename": "Dockerfile", "depth": 0},
        "local": {"name": "context"},
    }
    assert proc.stderr == ""


def test_inspect_env_flags() -> None:
    proc = run(
        "inspect",
        "--no-resolve",
        "-q",
        "--build-arg",
        "B=2",
        "--build-arg",
        "A=1",
        "--label",
        "team=core",
        "--target",
        "release",
        "-f",
        "sub/dir/app.Dockerfile",
        "local://context",
    )
    assert json.loads(proc.stdout)["env"] == {
        "args": {"A": "1", "B": "2"},
        "labels": {"team": "core"},
        "filename": "app.Dockerfile",
        "target": "release",
        "depth": 0,
    }
    assert proc.stderr == ""


def test_inspect_http_download_failure_is_one_clear_line() -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/a.tgz"
    proc = run("inspect", "--timeout", "2", url, check_exit=1)
    assert proc.stderr.startswith("error: GET " + url)
    assert len(proc.stderr.strip().splitlines()) == 1
    assert proc.stdout == ""


def test_inspect_several_sources_print_an_array(tmp_path: Path) -> None:
    listing = tmp_path / "sources.txt"
    listing.write_text(
        "# comment\nalpine:3\n\n  local://context  \ngit://github.com/o/r.git#main\n"
    )
    data = json.loads(run("inspect", "--no-resolve", "-q", "--from-file", str(listing)).stdout)
    assert [next(k for k in d if k != "env") for d in data] == ["image", "local", "git"]


def test_bundled_example_runs_and_validates() -> None:
    proc = run("inspect", "--no-resolve", "--from-file", str(ROOT / "examples" / "sources.txt"))
    data = json.loads(proc.stdout)
    assert len(data) == 7
    validator = jsonschema.Draft202012Validator(json.loads(run("schema").stdout))
    for doc in data:
        validator.validate(doc)


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (("inspect", "--no-resolve", "oci-layout://x"), 1, "unsupported source scheme: oci-layout"),
        (("inspect", "--no-resolve", "--platform", "linux/*", "alpine"), 1, "invalid platform"),
        (("inspect", "--no-resolve", "--from-file", "/nonexistent/list"), 1, "cannot read"),
        (("inspect", "--no-resolve"), 2, "no SOURCE"),
        (("inspect", "--bogus"), 2, "unrecognized arguments"),
        (("frobnicate",), 2, "invalid choice"),
        ((), 2, "required"),
        (("inspect", "--build-arg", "=x", "alpine"), 2, "expected KEY=VALUE"),
    ],
)
def test_error_exits(args: tuple[str, ...], code: int, fragment: str) -> None:
    proc = run(*args, check_exit=code)
    assert fragment in proc.stderr
    assert "Traceback" not in proc.stderr


def test_schema_command_prints_the_model_schema() -> None:
    schema = json.loads(run("schema").stdout)
    assert schema == buildsig.input_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)

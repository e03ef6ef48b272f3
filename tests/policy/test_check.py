"""``buildsig check``: a multi-stage Dockerfile with images from an OCI layout, a download
from a real local server, the build context; every source judged by its policy."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from buildsig.cli import main
from tests.http import LocalServer, body
from tests.oci.imagekit import ImageKit

TOOL = b"#!/bin/sh\necho tool\n"
TOOL_DIGEST = "sha256:" + hashlib.sha256(TOOL).hexdigest()

POLICY = """package docker

import rego.v1

default allow := false

allow if input.local

allow if input.image.labels["org.opencontainers.image.vendor"] == "Example Corp"

allow if input.http.checksum in data.approved_downloads

deny_msg contains msg if {
	not allow
	msg := sprintf("%s: unapproved vendor", [input.image.ref])
}

deny_msg contains msg if {
	not allow
	msg := sprintf("%s: unapproved download", [input.http.url])
}

decision := {"allow": allow, "deny_msg": deny_msg}
"""


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer() as s:
        s.routes["/tool"] = body(TOOL)
        yield s


@pytest.fixture
def project(tmp_path: Path, server: LocalServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    kit = ImageKit()
    kit.tag("app:1", kit.index([kit.image("linux", "amd64")]))
    kit.tag("other:1", kit.index([kit.image("linux", "amd64", labels={"x": "y"})]))
    kit.write_layout(tmp_path / "layout")
    (tmp_path / "Dockerfile").write_text(
        "FROM app:1 AS build\n"
        f"ADD --checksum={TOOL_DIGEST} {server.url('/tool')} /tool\n"
        "FROM other:1\n"
        "COPY --from=build /tool /tool\n"
        "COPY . /src\n"
    )
    (tmp_path / "Dockerfile.rego").write_text(
        POLICY.replace("data.approved_downloads", json.dumps([TOOL_DIGEST]))
    )
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_check_judges_every_source(
    project: Path, server: LocalServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys,
        "check",
        "--json",
        "--platform",
        "linux/amd64",
        "--oci-layout",
        str(project / "layout"),
    )
    assert code == 1
    report = json.loads(out)
    assert report["allowed"] is False
    decisions = {r["source"]: (r["decision"], r["reasons"], r["line"]) for r in report["sources"]}
    assert decisions == {
        "docker-image://docker.io/library/app:1": ("ALLOW", [], 1),
        server.url("/tool"): ("ALLOW", [], 2),
        "docker-image://docker.io/library/other:1": (
            "DENY",
            ["docker.io/library/other:1: unapproved vendor"],
            3,
        ),
        "local://context": ("ALLOW", [], 5),
    }
    assert len(server.hits("/tool")) == 1  # the download was hashed once, and the pin held


def test_check_table_and_success(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "Dockerfile").write_text("FROM app:1\nCOPY . /src\n")
    code, out, _ = run(
        capsys, "check", "--platform", "linux/amd64", "--oci-layout", str(project / "layout")
    )
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["SOURCE", "LINE", "DECISION", "REASONS"]
    assert lines[1].split() == ["docker-image://docker.io/library/app:1", "1", "ALLOW"]
    assert lines[2].split() == ["local://context", "2", "ALLOW"]


def test_a_source_that_cannot_be_judged_is_an_error_row(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "Dockerfile").write_text("FROM 127.0.0.1:9/missing:1\n")  # nothing listens
    code, out, _ = run(capsys, "check", "--json", "--platform", "linux/amd64", "--timeout", "2")
    assert code == 1
    [row] = json.loads(out)["sources"]
    assert row["decision"] == "ERROR"
    assert row["reasons"][0].startswith("NetworkError")


def test_check_needs_a_dockerfile_and_a_policy(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "check", "nope/Dockerfile")[0] == 1
    (project / "Dockerfile.rego").unlink()
    code, _, err = run(capsys, "check")
    assert code == 2 and "no policy" in err


def test_source_policies_run_first_as_in_buildkit(
    project: Path,
    server: LocalServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    other = "docker-image://docker.io/library/other:1"
    app = "docker-image://docker.io/library/app:1"
    (project / "sources.json").write_text(
        json.dumps(
            {
                "rules": [
                    {
                        "action": "CONVERT",
                        "selector": {"identifier": other},
                        "updates": {"identifier": app},
                    },
                    {"action": "DENY", "selector": {"identifier": "http://127.0.0.1:*"}},
                ]
            }
        )
    )
    argv = ["check", "--json", "--platform", "linux/amd64", "--oci-layout", str(project / "layout")]
    for extra, env in ((["--source-policy", "sources.json"], None), ([], "sources.json")):
        if env is None:
            monkeypatch.delenv("EXPERIMENTAL_BUILDKIT_SOURCE_POLICY", raising=False)
        else:
            monkeypatch.setenv("EXPERIMENTAL_BUILDKIT_SOURCE_POLICY", env)
        code, out, _ = run(capsys, *argv, *extra)
        assert code == 1
        rows = {r["source"]: r for r in json.loads(out)["sources"]}
        assert {s: (r["decision"], r["reasons"]) for s, r in rows.items()} == {
            app: ("ALLOW", []),
            # denied by the static rule, before the Rego policy or a download
            server.url("/tool"): ("DENY", [f'source "{server.url("/tool")}" denied by policy']),
            # converted to app:1 first, then judged (and allowed) by Dockerfile.rego
            other: ("CONVERT", []),
            "local://context": ("ALLOW", []),
        }
        assert rows[other]["convert"] == app
    assert server.hits("/tool") == []

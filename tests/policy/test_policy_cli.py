"""``buildsig policy eval`` as a user runs it: policy files next to a Dockerfile, images
from an OCI layout, recorded inputs, imports, and Buildx's exit codes and messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from buildsig.cli import main
from tests.oci.imagekit import ImageKit

POLICY = """package docker

import rego.v1
import data.lib.vendors

default allow := false

allow if input.image.labels["org.opencontainers.image.vendor"] in vendors.allowed

deny_msg contains msg if {
	not allow
	msg := sprintf("%s is not from an approved vendor", [input.image.ref])
}

decision := {"allow": allow, "deny_msg": deny_msg}
"""

VENDORS = """package lib.vendors

import rego.v1

allowed := {"Example Corp"}
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    kit = ImageKit()
    kit.tag("app:1", kit.index([kit.image("linux", "amd64")]))
    kit.tag(
        "other:1",
        kit.index(
            [kit.image("linux", "amd64", labels={"org.opencontainers.image.vendor": "Evil"})]
        ),
    )
    kit.write_layout(tmp_path / "layout")
    (tmp_path / "Dockerfile").write_text("FROM app:1\n")
    (tmp_path / "Dockerfile.rego").write_text(POLICY)
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "vendors.rego").write_text(VENDORS)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_allow_and_deny(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    layout = str(project / "layout")
    code, out, err = run(
        capsys, "policy", "eval", "--oci-layout", layout, "--platform", "linux/amd64", "app:1"
    )
    assert (code, out, err) == (0, "", "")
    code, _, err = run(
        capsys, "policy", "eval", "--oci-layout", layout, "--platform", "linux/amd64", "other:1"
    )
    assert code == 1
    assert err == "error: policy denied: docker.io/library/other:1 is not from an approved vendor\n"


def test_json_report(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "policy",
        "eval",
        "--json",
        "--oci-layout",
        str(project / "layout"),
        "--platform",
        "linux/amd64",
        "app:1",
    )
    assert code == 0
    record = json.loads(out)
    assert record["allow"] is True
    assert record["resolved"] == ["image.labels"]
    assert record["policy"].endswith("Dockerfile.rego")


def test_recorded_input_is_evaluated_as_is(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys,
        "policy",
        "eval",
        "--print",
        "--fields",
        "image.labels",
        "--oci-layout",
        str(project / "layout"),
        "--platform",
        "linux/amd64",
        "app:1",
    )
    assert code == 0
    recorded = json.loads(out)
    assert recorded["image"]["labels"]["org.opencontainers.image.vendor"] == "Example Corp"
    (project / "app.json").write_text(out)
    assert run(capsys, "policy", "eval", "--input", "app.json")[0] == 0
    recorded["image"]["labels"] = {}
    (project / "changed.json").write_text(json.dumps(recorded))
    code, _, err = run(capsys, "policy", "eval", "--input", "changed.json")
    assert code == 1 and "not from an approved vendor" in err


def test_default_policy(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recorded = {
        "env": {"filename": "Dockerfile"},
        "image": {
            "ref": "docker.io/moby/buildkit:v0.27.0",
            "host": "docker.io",
            "repo": "moby/buildkit",
            "fullRepo": "docker.io/moby/buildkit",
            "tag": "v0.27.0",
            "platform": "linux/amd64",
            "os": "linux",
            "arch": "amd64",
            "hasProvenance": False,
        },
    }
    (project / "buildkit.json").write_text(json.dumps(recorded))
    code, _, err = run(
        capsys, "policy", "eval", "--default-policy", "-f", "none", "--input", "buildkit.json"
    )
    assert code == 1
    assert "a verified docker-github-builder signature is required for v0.27.0 tag" in err


def test_no_policy_is_a_usage_error(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "policy", "eval", "-f", "missing/Dockerfile", "app:1")
    assert code == 2 and "no policy" in err
    code, _, err = run(capsys, "policy", "eval")
    assert code == 2


def test_a_policy_outside_the_directory_is_refused(
    project: Path, tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "p.rego"
    elsewhere.write_text(POLICY)
    code, _, err = run(capsys, "policy", "eval", "-f", "none", "--policy", str(elsewhere), "app:1")
    assert code == 1 and "outside the policy directory" in err


TESTS = """package docker

import rego.v1

approved := {
	"ref": "docker.io/library/app:1",
	"labels": {"org.opencontainers.image.vendor": "Example Corp"},
}

other := {"ref": "docker.io/library/x:1", "labels": {"org.opencontainers.image.vendor": "Evil"}}

test_approved_vendor if {
	decision.allow with input as {"image": approved}
}

test_unknown_vendor_is_allowed if {
	decision.allow with input as {"image": other}
}
"""


def test_policy_test(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "policy_tests").mkdir()
    (project / "policy_tests" / "vendors_test.rego").write_text(TESTS)
    code, out, _ = run(capsys, "policy", "test", "policy_tests")
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == "test_approved_vendor: PASS (allow=true)"
    assert lines[1].startswith(
        "test_unknown_vendor_is_allowed: FAIL (allow=false, deny_msg=docker.io/library/x:1 is not"
    )
    assert "input:" in out and "decision:" in out
    code, out, _ = run(capsys, "policy", "test", "--run", "approved", "policy_tests")
    assert code == 0 and out == "test_approved_vendor: PASS (allow=true)\n"

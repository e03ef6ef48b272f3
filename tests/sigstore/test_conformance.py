"""The sigstore-conformance bundle-verify suite, through ``buildsig verify bundle``.

Every one of the 70 cases in ``../shared/data/sigstore/conformance/bundle-verify`` runs
twice, as the suite does: with the artifact as a file and as a ``sha256:`` digest. The
command is driven exactly as the conformance runner drives its entry point (argument order
of ``docs/cli_protocol.md``), in-process for speed; one case also runs as a real
subprocess. A case passes when the exit status matches the directory name (``_fail`` →
non-zero), and a failing case must fail with a buildsig error, never a crash.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from buildsig.cli import main

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "sigstore"
CASES = DATA / "conformance" / "bundle-verify"
DEFAULT_IDENTITY = (
    "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/"
    ".github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main"
)
DEFAULT_ISSUER = "https://token.actions.githubusercontent.com"
REPO = Path(__file__).resolve().parents[2]


def _cases() -> list[str]:
    if not CASES.is_dir():
        return []
    return sorted(p.name for p in CASES.iterdir() if p.is_dir())


def _argv(case: Path, mode: str) -> list[str]:
    artifact = case / "artifact" if (case / "artifact").exists() else CASES / "a.txt"
    argv = ["verify", "bundle", "--bundle", str(case / "bundle.sigstore.json")]
    if (case / "key.pub").exists():
        argv += ["--key", str(case / "key.pub")]
    else:
        identity = (
            (case / "identity").read_text().strip()
            if (case / "identity").exists()
            else DEFAULT_IDENTITY
        )
        issuer = (
            (case / "issuer").read_text().strip() if (case / "issuer").exists() else DEFAULT_ISSUER
        )
        argv += ["--certificate-identity", identity, "--certificate-oidc-issuer", issuer]
    if (case / "trusted_root.json").exists():
        argv += ["--trusted-root", str(case / "trusted_root.json")]
    if mode == "digest":
        argv.append("sha256:" + hashlib.sha256(artifact.read_bytes()).hexdigest())
    else:
        argv.append(str(artifact))
    return argv


def test_the_suite_is_complete() -> None:
    if not CASES.is_dir():
        pytest.skip(f"the conformance data set {CASES} is not on this machine")
    names = _cases()
    assert len(names) == 70
    assert sum(n.endswith("_fail") for n in names) == 49


@pytest.mark.parametrize("mode", ["file", "digest"])
@pytest.mark.parametrize("name", _cases() or ["(data set absent)"])
def test_case(name: str, mode: str, capsys: pytest.CaptureFixture[str]) -> None:
    if not CASES.is_dir():
        pytest.skip(f"the conformance data set {CASES} is not on this machine")
    case = CASES / name
    status = main(_argv(case, mode))
    out, err = capsys.readouterr()
    if name.endswith("_fail"):
        assert status == 1, out
        assert err.startswith("error: "), err  # a buildsig error, not a traceback
    else:
        assert status == 0, err
        result = json.loads(out)
        assert result["verified"] is True
        assert result["timestamps"], "a verified bundle has at least one verified time"
        if not (case / "key.pub").exists():
            assert result["signer"]["subjectAlternativeName"]
            assert result["signer"]["certificateIssuer"]


def test_happy_path_reports_the_signer(capsys: pytest.CaptureFixture[str]) -> None:
    case = CASES / "happy-path-v0.3"
    if not case.is_dir():
        pytest.skip(f"{case} is not on this machine")
    assert main(_argv(case, "file")) == 0
    result = json.loads(capsys.readouterr().out)
    signer = result["signer"]
    assert signer["subjectAlternativeName"] == DEFAULT_IDENTITY
    assert signer["issuer"] == DEFAULT_ISSUER
    assert signer["certificateIssuer"] == "CN=sigstore-intermediate,O=sigstore.dev"
    assert signer["runnerEnvironment"] == "github-hosted"
    assert signer["sourceRepositoryURI"] == (
        "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon"
    )
    assert result["timestamps"] == [
        {
            "type": "Tlog",
            "uri": "https://rekor.sigstore.dev",
            "timestamp": "2024-03-19T17:26:26+00:00",
        }
    ]


def test_wrong_identity_fails(capsys: pytest.CaptureFixture[str]) -> None:
    case = CASES / "happy-path-v0.3"
    if not case.is_dir():
        pytest.skip(f"{case} is not on this machine")
    argv = _argv(case, "file")
    argv[argv.index("--certificate-identity") + 1] = (
        "https://github.com/evil/repo/.github/workflows/x.yml@refs/heads/main"
    )
    assert main(argv) == 1
    assert "certificate subject" in capsys.readouterr().err


def test_identity_regexp_must_match_the_whole_identity(capsys: pytest.CaptureFixture[str]) -> None:
    case = CASES / "happy-path-v0.3"
    if not case.is_dir():
        pytest.skip(f"{case} is not on this machine")
    argv = _argv(case, "file")
    i = argv.index("--certificate-identity")
    argv[i : i + 2] = ["--certificate-identity-regexp", "https://github.com/sigstore-conformance/"]
    assert main(argv) == 1  # a prefix is not a match
    argv[i + 1] = "https://github.com/sigstore-conformance/.*@refs/heads/main"
    assert main(argv) == 0
    capsys.readouterr()


def test_keyless_needs_an_identity(capsys: pytest.CaptureFixture[str]) -> None:
    case = CASES / "happy-path-v0.3"
    if not case.is_dir():
        pytest.skip(f"{case} is not on this machine")
    assert (
        main(
            [
                "verify",
                "bundle",
                "--bundle",
                str(case / "bundle.sigstore.json"),
                str(CASES / "a.txt"),
            ]
        )
        == 2
    )
    assert "--certificate-identity" in capsys.readouterr().err


def test_the_conformance_entry_point_as_a_real_process() -> None:
    """``buildsig verify-bundle …`` is the entry point the conformance action calls."""
    case = CASES / "rekor2-happy-path"
    if not case.is_dir():
        pytest.skip(f"{case} is not on this machine")
    argv = _argv(case, "digest")
    argv[:2] = ["verify-bundle"]
    good = subprocess.run(
        [sys.executable, "-m", "buildsig", *argv],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout)["timestamps"][0]["type"] == "TimestampAuthority"
    bad_case = CASES / "rekor2-no-timestamp_fail"
    argv = _argv(bad_case, "digest")
    argv[:2] = ["verify-bundle"]
    bad = subprocess.run(
        [sys.executable, "-m", "buildsig", *argv],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert bad.returncode == 1
    assert bad.stderr.startswith("error: ") and "timestamp" in bad.stderr

"""Developer tasks: ``python3 -m nox -s tests`` (the suite), lint, typecheck, bench, docs, example.

Every session installs what it needs into its own virtualenv, so a fresh machine with
Python >= 3.11 needs nothing but ``pip install nox``.
"""

from __future__ import annotations

import sys

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.error_on_external_run = True


def _http_ok(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
            return bool(response.status == 200)
    except OSError:
        return False


@nox.session
def tests(session: nox.Session) -> None:
    """Run the whole test suite (real registries, git servers and gpg where a test needs them)."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Ruff lint rules and formatting."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", "src", "tests", "benches", "docs", "noxfile.py")
    session.run("ruff", "format", "--check", "src", "tests", "benches", "docs", "noxfile.py")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the library."""
    session.install("-e", ".", "mypy>=1.10")
    session.run("mypy")


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks against the peer tools, in one run; results in benches/results/."""
    session.install("-e", ".")
    session.run("python", "benches/run.py", *session.posargs)


@nox.session
def docs(session: nox.Session) -> None:
    """Regenerate docs/input-schema.md and the JSON Schema from the model (--check: verify only)."""
    session.install("-e", ".")
    session.run("python", "docs/generate.py", *session.posargs)


@nox.session
def example(session: nox.Session) -> None:
    """The main job, offline: ``buildsig check`` judges examples/Dockerfile's every input.

    examples/make_example.py makes the inputs (a signed and an unsigned image in an OCI
    layout, the test Sigstore's trusted root, a git repository with an SSH-signed tag); a
    ``git daemon`` on 127.0.0.1:9418 serves the repository for the ``git://`` sources.
    The table is printed (exit 1: something is denied, as intended), then the JSON report
    is checked so the session fails if the example stops showing what it should.
    """
    import json
    import shutil
    import subprocess
    import time

    tools = {"git": "git", "ssh-keygen": "openssh-client"}
    missing = sorted({pkg for exe, pkg in tools.items() if shutil.which(exe) is None})
    if missing:
        env = {"DEBIAN_FRONTEND": "noninteractive"}
        session.run("apt-get", "update", "-q", external=True, env=env)
        session.run("apt-get", "install", "-y", "-q", *missing, external=True, env=env)
    session.install(".")
    session.run("python", "examples/make_example.py")

    daemon = subprocess.Popen(
        [
            "git",
            "daemon",
            "--base-path=examples/build/git",
            "--export-all",
            "--reuseaddr",
            "--listen=127.0.0.1",
            "--port=9418",
            "examples/build/git",
        ]
    )
    downloads = subprocess.Popen(
        [sys.executable, "-m", "http.server", "8419", "--bind", "127.0.0.1"],
        cwd="examples/build/downloads",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            if daemon.poll() is not None:
                session.error("git daemon could not start (is port 9418 in use?)")
            if downloads.poll() is not None:
                session.error("the download server could not start (is port 8419 in use?)")
            probe = ["git", "ls-remote", "git://127.0.0.1:9418/acme/tools.git", "v1.0"]
            served = subprocess.run(probe, capture_output=True, timeout=10).returncode == 0
            if served and _http_ok("http://127.0.0.1:8419/get-acme.sh"):
                break
            time.sleep(0.1)
        check = [
            "buildsig",
            "check",
            "examples/Dockerfile",
            "--platform",
            "linux/amd64",
            "--oci-layout",
            "examples/build/oci-layout",
            "--trusted-root",
            "examples/build/trusted_root.json",
        ]
        session.run(*check, success_codes=[0, 1])
        report = json.loads(session.run(*check, "--json", success_codes=[0, 1], silent=True))
        # Pin every input with a BuildKit source policy, use it, and check it still holds.
        pins = "examples/build/Dockerfile.pins.json"
        inputs = [
            "examples/Dockerfile",
            "--platform",
            "linux/amd64",
            "--oci-layout",
            "examples/build/oci-layout",
        ]
        session.run("buildsig", "pin", *inputs, "-o", pins)
        evaluated = session.run(
            "buildsig", "source-policy", "eval", "--policy", pins,
            "docker-image://ghcr.io/acme/builder:1.4", silent=True,
        )  # fmt: skip
        session.log(f"source-policy eval: {evaluated}")
        session.run("buildsig", "pin", *inputs, "--check", pins)
    finally:
        daemon.terminate()
        daemon.wait()
        downloads.terminate()
        downloads.wait()
    converted = json.loads(evaluated)
    if not converted["mutated"] or "@sha256:" not in converted["identifier"]:
        session.error(f"the pinned policy does not pin the builder image: {evaluated}")
    got = {row["source"]: row["decision"] for row in report["sources"]}
    expected = {
        "docker-image://ghcr.io/acme/builder:1.4": "ALLOW",
        "https://github.com/acme/cli/releases/download/v2.3.0/acme-cli-linux-amd64.tar.gz": "ALLOW",
        "git://127.0.0.1:9418/acme/tools.git#v1.0": "ALLOW",
        "git://127.0.0.1:9418/acme/tools.git#v1.1-rc1": "DENY",
        "http://127.0.0.1:8419/get-acme.sh": "DENY",
        "docker-image://ghcr.io/acme/runtime:2.0": "DENY",
        "local://context": "ALLOW",
    }
    if got != expected or any(
        not row["reasons"] for row in report["sources"] if row["decision"] == "DENY"
    ):
        session.error(f"the example no longer shows what it should: {json.dumps(report)}")

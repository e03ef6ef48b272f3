"""Developer tasks: ``python3 -m nox -s tests`` (the suite), lint, typecheck, bench, docs, example.

Every session installs what it needs into its own virtualenv, so a fresh machine with
Python >= 3.11 needs nothing but ``pip install nox``.
"""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.error_on_external_run = True

EXAMPLE_SOURCES = "examples/sources.txt"


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
    """The main job on the bundled offline example."""
    session.install(".")
    session.run("buildsig", "inspect", "--no-resolve", "--from-file", EXAMPLE_SOURCES)

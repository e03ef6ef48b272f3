"""Finding and loading policy files, as Buildx does.

- The automatic policy sits next to the Dockerfile: ``Dockerfile`` → ``Dockerfile.rego``,
  ``app.Dockerfile`` → ``app.Dockerfile.rego`` (and ``dockerfile.rego`` when only a
  lower-case ``dockerfile`` exists).
- ``import data.a.b`` loads ``a/b.rego`` from the policy directory, transitively; nothing
  outside that directory can be named (:class:`~buildsig.policy.fs.PolicyFS`).
- Sources are size-capped.
"""

from __future__ import annotations

import re
from pathlib import Path

from buildsig.errors import NotFoundError, PolicyConfigError
from buildsig.policy.fs import PolicyFS

__all__ = ["MAX_POLICY_BYTES", "automatic_policy", "load_policy"]

MAX_POLICY_BYTES = 1024 * 1024
MAX_POLICY_MODULES = 256
_IMPORT = re.compile(r"^\s*import\s+data((?:\.[A-Za-z_][A-Za-z0-9_]*)+)", re.MULTILINE)


def automatic_policy(dockerfile: str | Path) -> Path | None:
    """The policy file Buildx would pick up for ``dockerfile``, if it exists."""
    path = Path(dockerfile)
    candidate = path.with_name(path.name + ".rego")
    if candidate.is_file():
        return candidate
    if path.name == "Dockerfile" and not path.exists() and (path.parent / "dockerfile").exists():
        lower = path.parent / "dockerfile.rego"
        if lower.is_file():
            return lower
    return None


def load_policy(fs: PolicyFS, name: str) -> dict[str, str]:
    """The modules of the policy ``name`` (a path under ``fs``) and of what it imports.

    Returns file name → source; ``import data.a.b`` adds ``a/b.rego`` when it exists
    (an import of a data document, not a module, is left to the engine).
    """
    modules: dict[str, str] = {}
    queue = [name]
    while queue:
        current = queue.pop(0)
        if current in modules:
            continue
        if len(modules) >= MAX_POLICY_MODULES:
            raise PolicyConfigError(f"policy {name} imports more than {MAX_POLICY_MODULES} modules")
        try:
            text = fs.read(current, max_bytes=MAX_POLICY_BYTES).decode("utf-8")
        except UnicodeDecodeError:
            raise PolicyConfigError(f"policy file {current} is not UTF-8") from None
        modules[current] = text
        for match in _IMPORT.finditer(text):
            module = match.group(1).lstrip(".").replace(".", "/") + ".rego"
            try:
                fs.path(module)
            except NotFoundError:
                continue
            queue.append(module)
    return modules

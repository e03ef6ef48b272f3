"""The public surface: what ``__all__`` lists is exactly what is public, and import is cheap."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import buildsig

ROOT = Path(__file__).resolve().parent.parent


def test_all_is_sorted_unique_and_complete() -> None:
    names = buildsig.__all__
    assert len(names) == len(set(names))
    public = {n for n in vars(buildsig) if not n.startswith("_")} - {
        "errors",
        "model",
        "source",
        "unknowns",
        "cli",
    }
    assert public == set(names) - {"__version__"}
    for name in names:
        assert getattr(buildsig, name) is not None


def test_every_public_name_is_documented() -> None:
    for name in buildsig.__all__:
        obj = getattr(buildsig, name)
        if callable(obj):
            assert obj.__doc__, name


def test_py_typed_marker_ships() -> None:
    assert (ROOT / "src" / "buildsig" / "py.typed").exists()


def test_import_stays_light() -> None:
    # Heavy dependencies must not be imported by `import buildsig`.
    code = (
        "import sys, buildsig\n"
        "heavy = [m for m in ('sigstore', 'dulwich', 'gnupg', 'oras', 'cryptography', "
        "'requests', 'in_toto_attestation') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=60,
    )
    assert out.stdout.strip() == ""

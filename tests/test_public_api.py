"""The public surface: what ``__all__`` lists is exactly what is public, and import is cheap."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import buildsig

ROOT = Path(__file__).resolve().parent.parent


def test_all_is_unique_and_every_name_resolves() -> None:
    names = buildsig.__all__
    assert len(names) == len(set(names))
    for name in names:
        assert getattr(buildsig, name) is not None
    # the lazy map and __all__ describe the same surface
    assert set(buildsig._LAZY) == set(names) - {"__version__"}
    assert set(names) <= set(dir(buildsig))


def test_lazy_names_are_the_real_objects() -> None:
    from buildsig import model, source

    assert buildsig.Input is model.Input
    assert buildsig.source_to_input is source.source_to_input


def test_unknown_attribute_is_an_attribute_error() -> None:
    import pytest

    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = buildsig.Nope  # type: ignore[attr-defined]


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
        "heavy = [m for m in ('sigstore', 'dulwich', 'gnupg', 'urllib3', 'cryptography', "
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

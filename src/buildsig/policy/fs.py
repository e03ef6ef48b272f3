"""The policy's file system: the one directory a policy and its builtins may read.

Buildx opens policy files, ``import data.x`` documents and builtin file arguments
(``load_json``, key files, signature files, bundles) through an ``os.Root`` on the
policy's directory, so nothing outside it can be named. The same holds here, checked on
the resolved path: absolute paths, ``..`` that climbs out, and symlinks that lead out are
refused, as are special files. Every read is capped; unlike Buildx, which silently
truncates at the cap, a file over it is an error, since a truncated key or bundle would
fail later for a reason nobody can see.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path, PurePosixPath

from buildsig.errors import NotFoundError, PolicyConfigError

__all__ = ["PolicyFS"]


class PolicyFS:
    """Read-only access to files under ``root``."""

    __slots__ = ("_real", "root")

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        try:
            self._real = self.root.resolve(strict=True)
        except OSError as exc:
            raise PolicyConfigError(f"policy directory {self.root}: {exc.strerror}") from None
        if not self._real.is_dir():
            raise PolicyConfigError(f"policy directory {self.root} is not a directory")

    def __repr__(self) -> str:
        return f"PolicyFS({str(self.root)!r})"

    def path(self, name: object) -> Path:
        """The real path of ``name`` inside the root (PolicyConfigError if it leads out)."""
        if not isinstance(name, str) or not name or "\x00" in name:
            raise PolicyConfigError(f"invalid policy file name {name!r}")
        rel = PurePosixPath(name.replace("\\", "/"))
        if rel.is_absolute() or name.startswith(("/", "\\")):
            raise PolicyConfigError(f"policy file {name!r}: absolute paths are not allowed")
        normal = os.path.normpath(rel.as_posix())
        if normal == ".." or normal.startswith("../"):
            raise PolicyConfigError(
                f"policy file {name!r} is outside the policy directory {self.root}"
            )
        candidate = self._real.joinpath(*rel.parts)
        try:
            real = candidate.resolve(strict=True)
        except FileNotFoundError:
            raise NotFoundError(f"policy file {name!r} does not exist", source=name) from None
        except OSError as exc:
            raise PolicyConfigError(f"policy file {name!r}: {exc.strerror}") from None
        if real != self._real and self._real not in real.parents:
            raise PolicyConfigError(
                f"policy file {name!r} is outside the policy directory {self.root}"
            )
        return real

    def read(self, name: object, *, max_bytes: int) -> bytes:
        """The bytes of ``name``; PolicyConfigError when it is larger than ``max_bytes``."""
        real = self.path(name)
        try:
            with real.open("rb") as fh:
                info = os.fstat(fh.fileno())
                if not stat.S_ISREG(info.st_mode):
                    raise PolicyConfigError(f"policy file {name!r} is not a regular file")
                data = fh.read(max_bytes + 1)
        except OSError as exc:
            raise PolicyConfigError(f"cannot read policy file {name!r}: {exc.strerror}") from None
        if len(data) > max_bytes:
            raise PolicyConfigError(f"policy file {name!r} is larger than {max_bytes} bytes")
        return data

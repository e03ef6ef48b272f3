"""Session-wide setup: the system tools the tests use as real components and oracles.

On a fresh Debian machine some may be missing; they are installed here (the test
machines run as root), never skipped: a test that silently skips its real component
proves nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

#: executable -> Debian package that provides it
REQUIRED_TOOLS = {
    "git": "git",
    "gpg": "gnupg",
    "gpgconf": "gnupg",
    "ssh-keygen": "openssh-client",
    "/usr/sbin/sshd": "openssh-server",  # a real ssh server for the ssh:// transport tests
}


def ensure_tools(tools: dict[str, str]) -> None:
    """Install the Debian packages of any missing tools, or fail with what to do."""
    missing = sorted(
        {pkg for exe, pkg in tools.items() if shutil.which(exe) is None and not os.path.exists(exe)}
    )
    if not missing:
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.fail(
            f"missing system packages {missing}: install them (apt-get install {' '.join(missing)})"
        )
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env, timeout=900)
    subprocess.run(["apt-get", "install", "-y", "-q", *missing], check=True, env=env, timeout=1800)


@pytest.fixture(scope="session", autouse=True)
def system_tools() -> None:
    ensure_tools(REQUIRED_TOOLS)

"""Real SSH keys, certificates, signatures and signed git objects for tests.

Everything that ssh-keygen or git can make is made by them (they are the oracle the tests
compare buildsig against). What they cannot make is built here by hand with
``cryptography``, byte for byte per PROTOCOL.sshsig / PROTOCOL.u2f: FIDO (``sk-*``)
signatures, since there is no security key on a test machine; sha256 SSHSIGs and
``rsa-sha2-256`` / SHA-1 ``ssh-rsa`` signatures, since ``ssh-keygen -Y sign`` only makes
sha512 with rsa-sha2-512. ssh-keygen still verifies all of them.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import os
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_ssh_private_key,
)

SSH_KEYGEN = shutil.which("ssh-keygen")
GIT = shutil.which("git")

Signer = Callable[[bytes], bytes]
"""Signs the SSHSIG preamble and returns the SSH signature blob."""


def tool_env(home: Path) -> dict[str, str]:
    """An environment that keeps the user's git/ssh configuration out and times in UTC."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "TZ": "UTC",
        "LC_ALL": "C",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Ada Author",
        "GIT_AUTHOR_EMAIL": "ada@example.com",
        "GIT_COMMITTER_NAME": "Cy Committer",
        "GIT_COMMITTER_EMAIL": "cy@example.com",
    }


# --- SSH wire format --------------------------------------------------------------------


def ssh_string(data: bytes | str) -> bytes:
    raw = data.encode() if isinstance(data, str) else data
    return len(raw).to_bytes(4, "big") + raw


def ssh_mpint(value: int) -> bytes:
    return ssh_string(value.to_bytes(value.bit_length() // 8 + 1, "big") if value else b"")


def armor(blob: bytes, width: int = 70) -> bytes:
    text = base64.b64encode(blob)
    lines = [text[i : i + width] for i in range(0, len(text), width)]
    return (
        b"-----BEGIN SSH SIGNATURE-----\n" + b"\n".join(lines) + b"\n-----END SSH SIGNATURE-----\n"
    )


def dearmor(sig: bytes) -> bytes:
    body = sig.strip().split(b"\n")[1:-1]
    return base64.b64decode(b"".join(body))


def sshsig_blob(
    key_blob: bytes,
    signature: bytes,
    *,
    namespace: str | bytes = "git",
    hash_alg: str = "sha512",
    reserved: bytes = b"",
    version: int = 1,
    magic: bytes = b"SSHSIG",
) -> bytes:
    return (
        magic
        + version.to_bytes(4, "big")
        + ssh_string(key_blob)
        + ssh_string(namespace)
        + ssh_string(reserved)
        + ssh_string(hash_alg)
        + ssh_string(signature)
    )


def sshsig_preamble(
    payload: bytes, *, namespace: str = "git", hash_alg: str = "sha512", reserved: bytes = b""
) -> bytes:
    digest = hashlib.new(hash_alg, payload).digest()
    return (
        b"SSHSIG"
        + ssh_string(namespace)
        + ssh_string(reserved)
        + ssh_string(hash_alg)
        + ssh_string(digest)
    )


def hand_sshsig(
    key_blob: bytes,
    signer: Signer,
    payload: bytes,
    *,
    namespace: str = "git",
    hash_alg: str = "sha512",
    reserved: bytes = b"",
    sign_reserved: bool = False,
) -> bytes:
    """An armored SSHSIG made without ssh-keygen (the signature is still a real one).

    ``reserved`` is put in the blob; like ssh-keygen the signature covers an empty one
    unless ``sign_reserved`` says otherwise.
    """
    data = sshsig_preamble(
        payload, namespace=namespace, hash_alg=hash_alg, reserved=reserved if sign_reserved else b""
    )
    blob = sshsig_blob(
        key_blob, signer(data), namespace=namespace, hash_alg=hash_alg, reserved=reserved
    )
    return armor(blob)


def public_blob(
    key: ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey,
) -> bytes:
    return base64.b64decode(key.public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).split()[1])


# --- hand-made signers ------------------------------------------------------------------


def ed25519_signer(priv: ed25519.Ed25519PrivateKey) -> Signer:
    return lambda data: ssh_string("ssh-ed25519") + ssh_string(priv.sign(data))


_EC_HASH = {256: hashes.SHA256, 384: hashes.SHA384, 521: hashes.SHA512}


def _ecdsa_inner(
    priv: ec.EllipticCurvePrivateKey, data: bytes, hash_cls: type[hashes.HashAlgorithm]
) -> bytes:
    r, s = decode_dss_signature(priv.sign(data, ec.ECDSA(hash_cls())))
    return ssh_mpint(r) + ssh_mpint(s)


def ecdsa_signer(priv: ec.EllipticCurvePrivateKey) -> Signer:
    size = priv.curve.key_size
    algo = f"ecdsa-sha2-nistp{size}"
    return lambda data: ssh_string(algo) + ssh_string(_ecdsa_inner(priv, data, _EC_HASH[size]))


def rsa_signer(priv: rsa.RSAPrivateKey, algo: str) -> Signer:
    hash_cls = {
        "ssh-rsa": hashes.SHA1,
        "rsa-sha2-256": hashes.SHA256,
        "rsa-sha2-512": hashes.SHA512,
    }[algo]
    return lambda data: (
        ssh_string(algo) + ssh_string(priv.sign(data, padding.PKCS1v15(), hash_cls()))
    )


@dataclass(frozen=True)
class SKKey:
    """A FIDO key stand-in: the private half lives here instead of on a token."""

    kind: str  # "sk-ssh-ed25519@openssh.com" or "sk-ecdsa-sha2-nistp256@openssh.com"
    private: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
    application: str = "ssh:"

    @property
    def blob(self) -> bytes:
        if isinstance(self.private, ed25519.Ed25519PrivateKey):
            raw = self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
            return ssh_string(self.kind) + ssh_string(raw) + ssh_string(self.application)
        point = self.private.public_key().public_bytes(
            Encoding.X962, PublicFormat.UncompressedPoint
        )
        return (
            ssh_string(self.kind)
            + ssh_string("nistp256")
            + ssh_string(point)
            + ssh_string(self.application)
        )

    @property
    def line(self) -> str:
        return f"{self.kind} {base64.b64encode(self.blob).decode()}"

    def signer(self, flags: int = 0x01, counter: int = 1) -> Signer:
        def sign(data: bytes) -> bytes:
            message = (
                hashlib.sha256(self.application.encode()).digest()
                + bytes((flags,))
                + counter.to_bytes(4, "big")
                + hashlib.sha256(data).digest()
            )
            if isinstance(self.private, ed25519.Ed25519PrivateKey):
                inner = ssh_string(self.private.sign(message))
            else:
                inner = ssh_string(_ecdsa_inner(self.private, message, hashes.SHA256))
            return ssh_string(self.kind) + inner + bytes((flags,)) + counter.to_bytes(4, "big")

        return sign

    @classmethod
    def ed25519(cls, application: str = "ssh:") -> SKKey:
        return cls("sk-ssh-ed25519@openssh.com", ed25519.Ed25519PrivateKey.generate(), application)

    @classmethod
    def ecdsa(cls, application: str = "ssh:") -> SKKey:
        return cls(
            "sk-ecdsa-sha2-nistp256@openssh.com",
            ec.generate_private_key(ec.SECP256R1()),
            application,
        )


# --- ssh-keygen -------------------------------------------------------------------------


@dataclass(frozen=True)
class Key:
    """A key pair made by ssh-keygen (``private`` is the file, ``pub`` its ``.pub``)."""

    name: str
    private: Path
    cert: Path | None = None

    @property
    def pub(self) -> Path:
        return self.private.with_name(self.private.name + ".pub")

    @property
    def line(self) -> str:
        """``<type> <base64>`` of the public key (no comment)."""
        return " ".join(self.pub.read_text().split()[:2])

    @property
    def blob(self) -> bytes:
        return base64.b64decode(self.line.split()[1])

    @property
    def cert_line(self) -> str:
        assert self.cert is not None
        return " ".join(self.cert.read_text().split()[:2])

    @property
    def cert_blob(self) -> bytes:
        return base64.b64decode(self.cert_line.split()[1])

    def crypto(self) -> ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey:
        key = load_ssh_private_key(self.private.read_bytes(), None)
        assert isinstance(
            key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
        )
        return key


@dataclass
class Kit:
    """Runs ssh-keygen and git in a private directory; every file it makes lives there."""

    root: Path
    _counter: itertools.count[int] = field(default_factory=itertools.count)

    def __post_init__(self) -> None:
        (self.root / "home").mkdir(parents=True, exist_ok=True)

    @property
    def env(self) -> dict[str, str]:
        return tool_env(self.root / "home")

    def fresh(self, stem: str) -> Path:
        return self.root / f"{stem}-{next(self._counter)}"

    def write(self, stem: str, content: str | bytes) -> Path:
        path = self.fresh(stem)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        return path

    def run(
        self, *args: str | Path, stdin: bytes | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [str(a) for a in args],
            input=stdin,
            capture_output=True,
            check=check,
            env=self.env,
            cwd=self.root,
            timeout=120,
        )

    def keygen(self, name: str, kind: str, bits: int | None = None) -> Key:
        assert SSH_KEYGEN is not None
        path = self.root / name
        args: list[str | Path] = [SSH_KEYGEN, "-q", "-t", kind, "-N", "", "-C", name, "-f", path]
        if bits is not None:
            args[4:4] = ["-b", str(bits)]
        self.run(*args)
        return Key(name, path)

    def certify(
        self,
        key: Key | SKKey,
        ca: Key,
        *,
        name: str,
        principals: Sequence[str] = ("alice@example.com", "bob@example.com"),
        validity: str | None = "+52w",
        key_id: str = "test-id",
        serial: int | None = None,
        host: bool = False,
        ca_algorithm: str | None = None,
    ) -> Key:
        """A certificate for ``key`` signed by ``ca`` (``ssh-keygen -s``), as a new Key.

        For ssh-keygen keys the private key is copied next to the certificate so that
        ``ssh-keygen -Y sign -f <cert>`` and git can sign with it.
        """
        assert SSH_KEYGEN is not None
        target = self.root / name
        if isinstance(key, Key):
            shutil.copy(key.private, target)
            shutil.copy(key.pub, target.with_name(name + ".pub"))
        else:
            target.with_name(name + ".pub").write_text(key.line + "\n")
        args: list[str | Path] = [SSH_KEYGEN, "-q", "-s", ca.private, "-I", key_id]
        if principals:
            args += ["-n", ",".join(principals)]
        if validity:
            args += ["-V", validity]
        if serial is not None:
            args += ["-z", str(serial)]
        if host:
            args.append("-h")
        if ca_algorithm:
            args += ["-t", ca_algorithm]
        self.run(*args, target.with_name(name + ".pub"))
        return Key(name, target, cert=target.with_name(name + "-cert.pub"))

    def sign(self, key: Key, payload: bytes, namespace: str = "git") -> bytes:
        """``ssh-keygen -Y sign`` (with the certificate when the key has one)."""
        assert SSH_KEYGEN is not None
        path = key.cert if key.cert is not None else key.private
        return self.run(
            SSH_KEYGEN, "-Y", "sign", "-q", "-n", namespace, "-f", path, stdin=payload
        ).stdout

    def verify(
        self,
        payload: bytes,
        signature: bytes,
        *,
        allowed: str,
        principal: str,
        namespace: str = "git",
        when: datetime | None = None,
        revoked: Path | None = None,
    ) -> tuple[bool, str]:
        """The oracle: ``ssh-keygen -Y verify`` exit status and messages."""
        assert SSH_KEYGEN is not None
        sig = self.write("sig", signature)
        allowed_path = self.write("allowed", allowed)
        args: list[str | Path] = [SSH_KEYGEN, "-Y", "verify", "-n", namespace, "-f", allowed_path]
        args += ["-I", principal, "-s", sig]
        if when is not None:
            args.append("-Overify-time=" + when.astimezone(UTC).strftime("%Y%m%d%H%M%SZ"))
        if revoked is not None:
            args += ["-r", revoked]
        proc = self.run(*args, stdin=payload, check=False)
        return proc.returncode == 0, (proc.stdout + proc.stderr).decode(errors="replace")

    def find_principals(
        self, signature: bytes, *, allowed: str, when: datetime | None = None
    ) -> list[str]:
        assert SSH_KEYGEN is not None
        sig = self.write("sig", signature)
        allowed_path = self.write("allowed", allowed)
        args: list[str | Path] = [
            SSH_KEYGEN,
            "-Y",
            "find-principals",
            "-f",
            allowed_path,
            "-s",
            sig,
        ]
        if when is not None:
            args.append("-Overify-time=" + when.astimezone(UTC).strftime("%Y%m%d%H%M%SZ"))
        proc = self.run(*args, check=False)
        return proc.stdout.decode().split() if proc.returncode == 0 else []

    def krl(
        self, *, spec: Sequence[str] = (), keys: Sequence[Path] = (), ca: Key | None = None
    ) -> Path:
        """A binary KRL from ``ssh-keygen -k`` (spec lines and/or key files)."""
        assert SSH_KEYGEN is not None
        out = self.fresh("krl")
        args: list[str | Path] = [SSH_KEYGEN, "-q", "-k", "-f", out]
        if ca is not None:
            args += ["-s", ca.pub]
        if spec:
            args.append(self.write("krlspec", "\n".join(spec) + "\n"))
        args += list(keys)
        self.run(*args)
        return out

    def krl_revokes(self, krl: Path, key_file: Path) -> bool:
        """The oracle for KRLs: ``ssh-keygen -Q -f krl key`` fails iff the key is revoked."""
        assert SSH_KEYGEN is not None
        proc = self.run(SSH_KEYGEN, "-Q", "-f", krl, key_file, check=False)
        if b"Invalid KRL" in proc.stderr:
            raise ValueError(proc.stderr.decode(errors="replace"))
        return proc.returncode != 0


# --- git --------------------------------------------------------------------------------


@dataclass
class GitRepo:
    """A work repository made by real git, signing with ``gpg.format=ssh``."""

    kit: Kit
    path: Path
    object_format: str

    @classmethod
    def create(cls, kit: Kit, object_format: str = "sha1") -> GitRepo:
        path = kit.fresh(f"repo-{object_format}")
        kit.run("git", "init", "-q", f"--object-format={object_format}", path)
        return cls(kit, path, object_format)

    def git(
        self, *args: str | Path, when: int = 1_700_000_000, check: bool = True
    ) -> subprocess.CompletedProcess[bytes]:
        env = {
            **self.kit.env,
            "GIT_AUTHOR_DATE": f"@{when} +0000",
            "GIT_COMMITTER_DATE": f"@{when} +0000",
        }
        return subprocess.run(
            ["git", "-C", str(self.path), *map(str, args)],
            capture_output=True,
            check=check,
            env=env,
            timeout=120,
        )

    def _signing(self, key: Key) -> list[str]:
        path = key.cert if key.cert is not None else key.private
        return ["-c", "gpg.format=ssh", "-c", f"user.signingkey={path}"]

    def signed_commit(
        self, key: Key, message: str, *, when: int = 1_700_000_000
    ) -> tuple[str, bytes]:
        self.git(
            *self._signing(key), "commit", "-q", "--allow-empty", "-S", "-m", message, when=when
        )
        oid = self.git("rev-parse", "HEAD").stdout.decode().strip()
        return oid, self.git("cat-file", "commit", oid).stdout

    def signed_tag(
        self, key: Key, name: str, message: str, *, when: int = 1_700_000_000
    ) -> tuple[str, bytes]:
        if not self.git("rev-parse", "-q", "--verify", "HEAD", check=False).stdout:
            self.git("commit", "-q", "--allow-empty", "-m", "base", when=when)
        self.git(*self._signing(key), "tag", "-s", "-m", message, name, when=when)
        oid = self.git("rev-parse", f"refs/tags/{name}").stdout.decode().strip()
        return oid, self.git("cat-file", "tag", oid).stdout

    def write_object(self, kind: str, raw: bytes) -> str:
        """Store ``raw`` as an object of ``kind`` (even a tampered one) and return its id."""
        proc = subprocess.run(
            [
                "git",
                "-C",
                str(self.path),
                "hash-object",
                "-w",
                "--literally",
                "-t",
                kind,
                "--stdin",
            ],
            input=raw,
            capture_output=True,
            check=True,
            env=self.kit.env,
            timeout=120,
        )
        return proc.stdout.decode().strip()

    def verify(
        self, kind: str, oid: str, allowed: Path, revoked: Path | None = None
    ) -> tuple[bool, str]:
        """``git verify-tag`` / ``verify-commit`` with ``gpg.ssh.allowedSignersFile``."""
        args = ["-c", f"gpg.ssh.allowedSignersFile={allowed}"]
        if revoked is not None:
            args += ["-c", f"gpg.ssh.revocationFile={revoked}"]
        proc = self.git(*args, f"verify-{kind}", oid, check=False)
        return proc.returncode == 0, (proc.stdout + proc.stderr).decode(errors="replace")

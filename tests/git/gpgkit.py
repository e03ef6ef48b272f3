"""Real GnuPG keys, detached signatures and signed git objects for the OpenPGP tests.

Everything is made by ``gpg`` and ``git`` themselves in throwaway GnuPG homes, and the
same tools are the oracles the tests compare buildsig against: ``gpg --verify`` (status
lines) and ``git verify-tag``/``verify-commit``. Keys are generated once per test session
(:func:`corpus`); each key lives in its own home so generation runs in parallel.

Cases made "in the past" use ``--faked-system-time``. A signature made *after* a key
expired cannot be made by gpg directly (it refuses to use an expired key), so the key is
generated without expiry, its home copied, the expiry set in the original, and the copy
signs later: the expiry lives only in the self-signature that the original exports.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import os
import shutil
import stat
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

from dulwich.objects import Commit, Tag

from buildsig.git.result import Reason

GPG = shutil.which("gpg")
GPGCONF = shutil.which("gpgconf")
GIT = shutil.which("git")

# Times for the expiry cases: created, expiry set (later self-signature), valid, expired.
T_CREATED = "20200101T000000"
T_SET_EXPIRE = "20200102T000000"
T_BEFORE = "20200601T000000"
T_AFTER = "20220601T000000"
T_BEFORE_EPOCH = 1590969600
T_AFTER_EPOCH = 1654041600

PAYLOAD = (
    b"object 4b825dc642cb6eb9a060e54bf8d69288fbee4904\ntype tree\ntag v1.0\n"
    b"tagger Ada <ada@example.com> 1700000000 +0000\n\nrelease 1.0\n"
)
TEXT_PAYLOAD = b"line one\nline two  \n\nlast line without newline"

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Ada Author",
    "GIT_AUTHOR_EMAIL": "ada@example.com",
    "GIT_COMMITTER_NAME": "Ada Author",
    "GIT_COMMITTER_EMAIL": "ada@example.com",
    "GIT_AUTHOR_DATE": "1700000000 +0000",
    "GIT_COMMITTER_DATE": "1700000000 +0000",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}


def _run(
    cmd: list[str],
    *,
    input: bytes | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[bytes]:
    proc = subprocess.run(
        cmd, input=input, capture_output=True, env=env, cwd=cwd, timeout=300, check=False
    )
    if check and proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.decode(errors='replace')}"
        )
    return proc


def kill_agent(home: Path) -> None:
    """``gpgconf --homedir H --kill all``: no agent outlives the tests."""
    if GPGCONF and home.exists():
        _run([GPGCONF, "--homedir", str(home), "--kill", "all"], check=False)


class GpgHome:
    """A throwaway GnuPG home (mode 0700) with helpers for the few operations tests need."""

    def __init__(self, path: Path, *, create: bool = True) -> None:
        if create:
            path.mkdir(mode=0o700, parents=True)
        self.path = path

    def gpg(
        self,
        *args: str,
        input: bytes | None = None,
        faked_time: str | None = None,
        check: bool = True,
    ) -> subprocess.CompletedProcess[bytes]:
        assert GPG is not None
        cmd = [
            GPG,
            "--homedir",
            str(self.path),
            "--batch",
            "--no-tty",
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "",
        ]
        if faked_time:
            cmd += ["--faked-system-time", faked_time]
        return _run([*cmd, *args], input=input, check=check)

    def fingerprints(self, key: str) -> list[str]:
        """Primary fingerprint first, then the subkeys', in listing order."""
        out = self.gpg("--with-colons", "--list-keys", key).stdout.decode()
        return [line.split(":")[9] for line in out.splitlines() if line.startswith("fpr:")]

    def gen_key(
        self,
        uid: str,
        algo: str,
        usage: str = "sign",
        expire: str = "0",
        *,
        faked_time: str | None = None,
    ) -> str:
        self.gpg("--quick-gen-key", uid, algo, usage, expire, faked_time=faked_time)
        return self.fingerprints(uid)[0]

    def add_subkey(
        self,
        fpr: str,
        algo: str,
        usage: str = "sign",
        expire: str = "0",
        *,
        faked_time: str | None = None,
    ) -> str:
        self.gpg("--quick-add-key", fpr, algo, usage, expire, faked_time=faked_time)
        return self.fingerprints(fpr)[-1]

    def set_expire(
        self, fpr: str, expire: str, *subkeys: str, faked_time: str | None = None
    ) -> None:
        self.gpg("--quick-set-expire", fpr, expire, *subkeys, faked_time=faked_time)

    def revoke(self, fpr: str) -> None:
        """Import the revocation certificate gpg stored when it made the key."""
        cert = (self.path / "openpgp-revocs.d" / f"{fpr}.rev").read_bytes()
        # gpg prefixes the BEGIN line with ':' so the file cannot be imported by accident
        cert = cert.replace(
            b":-----BEGIN PGP PUBLIC KEY BLOCK-----", b"-----BEGIN PGP PUBLIC KEY BLOCK-----"
        )
        self.gpg("--import", input=cert)

    def revoke_subkey(self, fpr: str, index: int = 1) -> None:
        commands = f"key {index}\nrevkey\ny\n0\n\ny\nsave\n".encode()
        self.gpg("--command-fd", "0", "--status-fd", "2", "--edit-key", fpr, input=commands)

    def export(self, fpr: str) -> bytes:
        return self.gpg("--armor", "--export", fpr).stdout

    def export_secret(self, fpr: str) -> bytes:
        return self.gpg("--armor", "--export-secret-keys", fpr).stdout

    def sign(
        self,
        key: str,
        payload: bytes,
        *,
        digest: str | None = None,
        faked_time: str | None = None,
        textmode: bool = False,
        expire: str | None = None,
        notation: str | None = None,
    ) -> bytes:
        """A detached armored signature made by exactly ``key`` (``!``: no subkey choice)."""
        args = ["--local-user", f"{key}!", "--armor", "--detach-sign"]
        if notation:
            args += ["--sig-notation", notation]
        if expire:
            args += ["--default-sig-expire", expire]
        if digest:
            args += ["--digest-algo", digest]
        if textmode:
            args.append("--textmode")
        return self.gpg(*args, input=payload, faked_time=faked_time).stdout

    def copy_to(self, path: Path) -> GpgHome:
        kill_agent(self.path)
        shutil.copytree(self.path, path, ignore=shutil.ignore_patterns("S.*", "*.lock", ".#*"))
        os.chmod(path, 0o700)
        return GpgHome(path, create=False)

    def gpg_program(self, *extra: str) -> str:
        """A wrapper script for ``gpg.program`` that adds ``extra`` options (faked time …)."""
        digest = hashlib.sha256(" ".join(extra).encode()).hexdigest()[:10]
        script = self.path.parent / f"gpg-{self.path.name}-{digest}"
        quoted = " ".join(f"'{e}'" for e in extra)
        script.write_text(f'#!/bin/sh\nexec {GPG} {quoted} "$@"\n')
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
        return str(script)


class GitRepo:
    """A work tree with one commit, for making signed tags and commits with real git."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True)
        self.git("init", "-q", "-b", "main")
        self.git("commit", "-q", "--allow-empty", "-m", "base")

    def git(self, *args: str, home: GpgHome | None = None, date: int | None = None) -> bytes:
        assert GIT is not None
        env = {**os.environ, **GIT_ENV}
        if home is not None:
            env["GNUPGHOME"] = str(home.path)
        if date is not None:
            env["GIT_COMMITTER_DATE"] = env["GIT_AUTHOR_DATE"] = f"{date} +0000"
        return _run([GIT, *args], env=env, cwd=self.path).stdout

    def signed_tag(
        self,
        name: str,
        home: GpgHome,
        key: str,
        *,
        program: str | None = None,
        date: int | None = None,
    ) -> bytes:
        self.git(
            "-c",
            f"user.signingkey={key}!",
            "-c",
            f"gpg.program={program or GPG}",
            "tag",
            "-s",
            "-m",
            f"release {name}",
            name,
            "HEAD",
            home=home,
            date=date,
        )
        return self.git("cat-file", "tag", name)

    def signed_commit(
        self,
        message: str,
        home: GpgHome,
        key: str,
        *,
        program: str | None = None,
        date: int | None = None,
    ) -> bytes:
        self.git(
            "-c",
            f"user.signingkey={key}!",
            "-c",
            f"gpg.program={program or GPG}",
            "commit",
            "-q",
            "--allow-empty",
            f"-S{key}!",
            "-m",
            message,
            home=home,
            date=date,
        )
        return self.git("cat-file", "commit", "HEAD")


def split_git_object(kind: str, raw: bytes) -> tuple[bytes, bytes]:
    """(payload, signature) of a signed tag or commit, split by dulwich (tests only)."""
    obj = Tag.from_string(raw) if kind == "tag" else Commit.from_string(raw)
    payload, signature, _ = obj.extract_signature()
    assert signature is not None
    return payload, signature


@dataclasses.dataclass(frozen=True)
class Case:
    """One signature to verify, what buildsig must say, and where gpg/git differ."""

    name: str
    keyring: bytes
    payload: bytes
    signature: bytes
    expected: Reason | None  # None: verified
    allow_sha1: bool = False
    gpg_verdict: str | None = None  # documented difference: what gpg says instead
    git_object: tuple[str, bytes] | None = None  # ("tag" | "commit", raw object)
    git_accepts: bool | None = None  # documented difference: git 2.39's verdict
    gnupg_backend: bool = True  # False where gpg 2.2 cannot take part (v6 keys)


#: gpg's verdict that corresponds to each buildsig outcome when the two agree.
GPG_VERDICTS: dict[Reason | None, str] = {
    None: "good",
    Reason.BAD_SIGNATURE: "bad",
    Reason.UNKNOWN_KEY: "no-key",
    Reason.EXPIRED_KEY: "expired-key",
    Reason.REVOKED_KEY: "revoked-key",
}

CASE_NAMES = (
    "rsa2048",
    "rsa3072",
    "rsa4096",
    "rsa4096-sha512",
    "rsa3072-sha224",
    "ed25519",
    "p256",
    "p384",
    "subkey",
    "ed25519-textmode",
    "rsa3072-tampered",
    "ed25519-tampered",
    "p256-tampered",
    "subkey-tampered",
    "unknown-key",
    "two-keys",
    "secret-keyring",
    "expired-before",
    "expired-after",
    "expired-subkey-before",
    "expired-subkey-after",
    "sig-expired",
    "critical-notation",
    "revoked",
    "revoked-subkey",
    "dsa2048",
    "rsa1024",
    "sha1",
    "sha1-allowed",
    "git-tag-rsa3072",
    "git-commit-ed25519",
    "git-tag-subkey",
    "git-commit-p256",
    "git-tag-tampered",
    "git-tag-unknown-key",
    "git-tag-expired-before",
    "git-tag-expired-after",
    "git-tag-revoked",
    "git-tag-sha1",
    "git-tag-sha1-allowed",
    "git-tag-dsa",
)


@dataclasses.dataclass
class Corpus:
    """Every case by name, the homes to clean up, and the oracles."""

    root: Path
    cases: dict[str, Case]
    homes: list[GpgHome]
    oracle: Oracle
    keys: dict[str, bytes]  # public key exports by key name
    signer_homes: dict[str, tuple[GpgHome, str]]  # key name -> (home, primary fingerprint)

    def close(self) -> None:
        for home in self.homes:
            kill_agent(home.path)
        self.oracle.close()


class Oracle:
    """``gpg --verify`` and ``git verify-*`` in homes holding only the case's public keys."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True)
        self._homes: dict[str, Path] = {}
        self._lock = threading.Lock()
        self._repo: GitRepo | None = None

    def home(self, keyring: bytes) -> Path:
        key = hashlib.sha256(keyring).hexdigest()[:16]
        with self._lock:
            home = self._homes.get(key)
            if home is None:
                home = self.root / f"home-{key}"
                home.mkdir(mode=0o700)
                assert GPG is not None
                _run(
                    [GPG, "--homedir", str(home), "--batch", "--no-autostart", "--import"],
                    input=keyring,
                    check=False,
                )
                self._homes[key] = home
            return home

    def gpg_status(
        self, keyring: bytes, payload: bytes, signature: bytes
    ) -> list[tuple[str, list[str]]]:
        assert GPG is not None
        home = self.home(keyring)
        sig = home / f"sig-{hashlib.sha256(signature).hexdigest()[:16]}.asc"
        sig.write_bytes(signature)
        proc = _run(
            [
                GPG,
                "--homedir",
                str(home),
                "--batch",
                "--no-autostart",
                "--status-fd",
                "1",
                "--verify",
                str(sig),
                "-",
            ],
            input=payload,
            check=False,
        )
        out = []
        for line in proc.stdout.decode(errors="replace").splitlines():
            if line.startswith("[GNUPG:] "):
                parts = line[9:].split(" ")
                out.append((parts[0], parts[1:]))
        return out

    def gpg_verdict(self, keyring: bytes, payload: bytes, signature: bytes) -> str:
        """good, bad, no-key, expired-key, revoked-key, expired-sig, multiple or error."""
        status = self.gpg_status(keyring, payload, signature)
        words = [k for k, _ in status]
        if words.count("NEWSIG") > 1:
            return "multiple"
        for keyword, verdict in (
            ("GOODSIG", "good"),
            ("EXPKEYSIG", "expired-key"),
            ("REVKEYSIG", "revoked-key"),
            ("EXPSIG", "expired-sig"),
            ("BADSIG", "bad"),
            ("NO_PUBKEY", "no-key"),
        ):
            if keyword in words:
                return verdict
        return "error"

    def git_accepts(
        self,
        keyring: bytes,
        kind: str,
        raw: bytes,
        *config: str,
        home: Path | None = None,
    ) -> bool:
        """Exit status of ``git [-c config]… verify-tag``/``verify-commit`` on a raw object.

        ``home`` replaces the oracle's own GnuPG home (e.g. the signer's, with ownertrust).
        """
        with self._lock:
            if self._repo is None:
                self._repo = GitRepo(self.root / "repo")
            repo = self._repo
        assert GIT is not None
        env = {**os.environ, **GIT_ENV, "GNUPGHOME": str(home or self.home(keyring))}
        oid = (
            _run(
                [GIT, "hash-object", "-t", kind, "-w", "--stdin"], input=raw, env=env, cwd=repo.path
            )
            .stdout.decode()
            .strip()
        )
        options = [arg for item in config for arg in ("-c", item)]
        proc = _run([GIT, *options, f"verify-{kind}", oid], env=env, cwd=repo.path, check=False)
        return proc.returncode == 0

    def close(self) -> None:
        for home in self._homes.values():
            kill_agent(home)


# --- building the corpus -----------------------------------------------------------------


@dataclasses.dataclass
class _Built:
    name: str
    home: GpgHome
    fpr: str
    public: bytes
    sigs: dict[str, bytes]  # label -> signature over PAYLOAD (or TEXT_PAYLOAD)
    objects: dict[str, tuple[str, bytes]]  # label -> (kind, raw git object)
    extra_homes: list[GpgHome]


def _simple(algo: str, *, git: str = "") -> Callable[[Path, str], _Built]:
    def build(root: Path, name: str) -> _Built:
        home = GpgHome(root / name)
        fpr = home.gen_key(f"{name} <{name}@example.com>", algo, "sign")
        sigs = {"good": home.sign(fpr, PAYLOAD)}
        objects: dict[str, tuple[str, bytes]] = {}
        if name == "rsa4096":
            sigs["sha512"] = home.sign(fpr, PAYLOAD, digest="SHA512")
        if name == "rsa3072":
            sigs["sha224"] = home.sign(fpr, PAYLOAD, digest="SHA224")
            sigs["sha1"] = home.sign(fpr, PAYLOAD, digest="SHA1")
        if name == "ed25519":
            sigs["text"] = home.sign(fpr, TEXT_PAYLOAD, textmode=True)
        if name == "rsa2048":
            # "!" makes the notation critical; no verifier knows this name
            sigs["critical"] = home.sign(fpr, PAYLOAD, notation="!crit@example.com=1")
        if git:
            repo = GitRepo(root / f"{name}-repo")
            if "tag" in git:
                objects["tag"] = ("tag", repo.signed_tag(f"v-{name}", home, fpr))
            if "commit" in git:
                objects["commit"] = ("commit", repo.signed_commit(f"signed by {name}", home, fpr))
            if "sha1" in git:
                program = home.gpg_program("--digest-algo", "SHA1")
                objects["sha1"] = (
                    "tag",
                    repo.signed_tag(f"v-{name}-sha1", home, fpr, program=program),
                )
        return _Built(name, home, fpr, home.export(fpr), sigs, objects, [])

    return build


def _subkey(root: Path, name: str) -> _Built:
    home = GpgHome(root / name)
    fpr = home.gen_key(f"{name} <{name}@example.com>", "rsa3072", "cert")
    sub = home.add_subkey(fpr, "ed25519", "sign")
    repo = GitRepo(root / f"{name}-repo")
    tag = repo.signed_tag("v-subkey", home, sub)
    return _Built(
        name,
        home,
        fpr,
        home.export(fpr),
        {"good": home.sign(sub, PAYLOAD)},
        {"tag": ("tag", tag)},
        [],
    )


def _expired(root: Path, name: str) -> _Built:
    """Primary key that expired a year after 2020-01-01; signatures before and after."""
    home = GpgHome(root / name)
    fpr = home.gen_key(f"{name} <{name}@example.com>", "ed25519", "sign", faked_time=T_CREATED)
    later = home.copy_to(root / f"{name}-noexpiry")
    home.set_expire(fpr, "1y", faked_time=T_SET_EXPIRE)
    repo = GitRepo(root / f"{name}-repo")
    before = home.gpg_program("--faked-system-time", T_BEFORE)
    after = later.gpg_program("--faked-system-time", T_AFTER)
    objects = {
        "before": (
            "tag",
            repo.signed_tag("v-before", home, fpr, program=before, date=T_BEFORE_EPOCH),
        ),
        "after": ("tag", repo.signed_tag("v-after", later, fpr, program=after, date=T_AFTER_EPOCH)),
    }
    sigs = {
        "before": home.sign(fpr, PAYLOAD, faked_time=T_BEFORE),
        "after": later.sign(fpr, PAYLOAD, faked_time=T_AFTER),
        # made while the key was valid, but the signature itself expired a day later
        "sig-expired": home.sign(fpr, PAYLOAD, faked_time=T_BEFORE, expire="1d"),
    }
    return _Built(name, home, fpr, home.export(fpr), sigs, objects, [later])


def _expired_subkey(root: Path, name: str) -> _Built:
    """Signing subkey that expired a year after 2020-01-01 (the primary never expires)."""
    home = GpgHome(root / name)
    fpr = home.gen_key(f"{name} <{name}@example.com>", "nistp256", "cert", faked_time=T_CREATED)
    sub = home.add_subkey(fpr, "ed25519", "sign", faked_time=T_CREATED)
    later = home.copy_to(root / f"{name}-noexpiry")
    home.set_expire(fpr, "1y", sub, faked_time=T_SET_EXPIRE)
    sigs = {
        "before": home.sign(sub, PAYLOAD, faked_time=T_BEFORE),
        "after": later.sign(sub, PAYLOAD, faked_time=T_AFTER),
    }
    return _Built(name, home, fpr, home.export(fpr), sigs, {}, [later])


def _revoked(root: Path, name: str) -> _Built:
    home = GpgHome(root / name)
    fpr = home.gen_key(f"{name} <{name}@example.com>", "ed25519", "sign")
    sig = home.sign(fpr, PAYLOAD)
    repo = GitRepo(root / f"{name}-repo")
    tag = repo.signed_tag("v-revoked", home, fpr)
    home.revoke(fpr)  # after signing: revoked is revoked, whenever the signature was made
    return _Built(name, home, fpr, home.export(fpr), {"good": sig}, {"tag": ("tag", tag)}, [])


def _revoked_subkey(root: Path, name: str) -> _Built:
    home = GpgHome(root / name)
    fpr = home.gen_key(f"{name} <{name}@example.com>", "ed25519", "cert")
    sub = home.add_subkey(fpr, "ed25519", "sign")
    sig = home.sign(sub, PAYLOAD)
    home.revoke_subkey(fpr, 1)
    return _Built(name, home, fpr, home.export(fpr), {"good": sig}, {}, [])


_BUILDERS: dict[str, Callable[[Path, str], _Built]] = {
    "rsa4096": _simple("rsa4096"),  # slowest first
    "dsa2048": _simple("dsa2048", git="tag"),
    "rsa3072": _simple("rsa3072", git="tag,sha1"),
    "rsa2048": _simple("rsa2048"),
    "rsa1024": _simple("rsa1024"),
    "subkey": _subkey,
    "ed25519": _simple("ed25519", git="commit"),
    "p256": _simple("nistp256", git="commit"),
    "p384": _simple("nistp384"),
    "expired": _expired,
    "expired-subkey": _expired_subkey,
    "revoked": _revoked,
    "revoked-subkey": _revoked_subkey,
}


def _tamper(kind: str, raw: bytes) -> bytes:
    return raw.replace(b"release ", b"Release ", 1) if kind == "tag" else raw


def build_corpus(root: Path) -> Corpus:
    """Generate every key and signature (in parallel, one home per key) and the cases."""
    root.mkdir(parents=True, exist_ok=True)
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        futures = {name: pool.submit(fn, root, name) for name, fn in _BUILDERS.items()}
        built = {name: f.result() for name, f in futures.items()}
    homes = [b.home for b in built.values()] + [h for b in built.values() for h in b.extra_homes]
    k = {name: b.public for name, b in built.items()}
    s = {name: b.sigs for name, b in built.items()}
    o = {name: b.objects for name, b in built.items()}

    def git_case(
        name: str,
        key: str,
        label: str,
        expected: Reason | None,
        *,
        keyring: bytes | None = None,
        allow_sha1: bool = False,
        gpg_verdict: str | None = None,
        git_accepts: bool | None = None,
    ) -> Case:
        kind, raw = o[key][label]
        payload, signature = split_git_object(kind, raw)
        return Case(
            name,
            keyring or k[key],
            payload,
            signature,
            expected,
            allow_sha1=allow_sha1,
            gpg_verdict=gpg_verdict,
            git_object=(kind, raw),
            git_accepts=git_accepts,
        )

    tampered_kind, tampered_raw = o["rsa3072"]["tag"]
    tampered = _tamper(tampered_kind, tampered_raw)
    tp, ts = split_git_object("tag", tampered)
    cases = [
        Case("rsa2048", k["rsa2048"], PAYLOAD, s["rsa2048"]["good"], None),
        Case("rsa3072", k["rsa3072"], PAYLOAD, s["rsa3072"]["good"], None),
        Case("rsa4096", k["rsa4096"], PAYLOAD, s["rsa4096"]["good"], None),
        Case("rsa4096-sha512", k["rsa4096"], PAYLOAD, s["rsa4096"]["sha512"], None),
        Case("rsa3072-sha224", k["rsa3072"], PAYLOAD, s["rsa3072"]["sha224"], None),
        Case("ed25519", k["ed25519"], PAYLOAD, s["ed25519"]["good"], None),
        Case("p256", k["p256"], PAYLOAD, s["p256"]["good"], None),
        Case("p384", k["p384"], PAYLOAD, s["p384"]["good"], None),
        Case("subkey", k["subkey"], PAYLOAD, s["subkey"]["good"], None),
        Case("ed25519-textmode", k["ed25519"], TEXT_PAYLOAD, s["ed25519"]["text"], None),
        Case(
            "rsa3072-tampered",
            k["rsa3072"],
            PAYLOAD + b"x",
            s["rsa3072"]["good"],
            Reason.BAD_SIGNATURE,
        ),
        Case(
            "ed25519-tampered",
            k["ed25519"],
            PAYLOAD[:-1],
            s["ed25519"]["good"],
            Reason.BAD_SIGNATURE,
        ),
        Case("p256-tampered", k["p256"], PAYLOAD.upper(), s["p256"]["good"], Reason.BAD_SIGNATURE),
        Case("subkey-tampered", k["subkey"], b"", s["subkey"]["good"], Reason.BAD_SIGNATURE),
        Case("unknown-key", k["rsa2048"], PAYLOAD, s["ed25519"]["good"], Reason.UNKNOWN_KEY),
        Case("two-keys", k["rsa2048"] + k["ed25519"], PAYLOAD, s["ed25519"]["good"], None),
        Case(
            "secret-keyring",
            built["ed25519"].home.export_secret(built["ed25519"].fpr),
            PAYLOAD,
            s["ed25519"]["good"],
            None,
        ),
        # git 2.39 and gpg report every signature by a now-expired key as EXPKEYSIG; we
        # accept those made while the key was valid (git >= 2.54 does too).
        Case(
            "expired-before",
            k["expired"],
            PAYLOAD,
            s["expired"]["before"],
            None,
            gpg_verdict="expired-key",
        ),
        Case("expired-after", k["expired"], PAYLOAD, s["expired"]["after"], Reason.EXPIRED_KEY),
        Case(
            "expired-subkey-before",
            k["expired-subkey"],
            PAYLOAD,
            s["expired-subkey"]["before"],
            None,
            gpg_verdict="expired-key",
        ),
        Case(
            "expired-subkey-after",
            k["expired-subkey"],
            PAYLOAD,
            s["expired-subkey"]["after"],
            Reason.EXPIRED_KEY,
        ),
        # gpg says EXPSIG; ours is BAD_SIGNATURE with the detail "signature expired"
        Case(
            "sig-expired",
            k["expired"],
            PAYLOAD,
            s["expired"]["sig-expired"],
            Reason.BAD_SIGNATURE,
            gpg_verdict="expired-sig",
        ),
        # an unknown critical notation: gpg "assumes bad signature", so do we
        Case(
            "critical-notation",
            k["rsa2048"],
            PAYLOAD,
            s["rsa2048"]["critical"],
            Reason.BAD_SIGNATURE,
        ),
        Case("revoked", k["revoked"], PAYLOAD, s["revoked"]["good"], Reason.REVOKED_KEY),
        Case(
            "revoked-subkey",
            k["revoked-subkey"],
            PAYLOAD,
            s["revoked-subkey"]["good"],
            Reason.REVOKED_KEY,
        ),
        # Policy differences: gpg accepts DSA, short RSA and SHA-1 data signatures.
        Case(
            "dsa2048",
            k["dsa2048"],
            PAYLOAD,
            s["dsa2048"]["good"],
            Reason.WEAK_KEY,
            gpg_verdict="good",
        ),
        Case(
            "rsa1024",
            k["rsa1024"],
            PAYLOAD,
            s["rsa1024"]["good"],
            Reason.WEAK_KEY,
            gpg_verdict="good",
        ),
        Case(
            "sha1",
            k["rsa3072"],
            PAYLOAD,
            s["rsa3072"]["sha1"],
            Reason.WEAK_HASH,
            gpg_verdict="good",
        ),
        Case("sha1-allowed", k["rsa3072"], PAYLOAD, s["rsa3072"]["sha1"], None, allow_sha1=True),
        git_case("git-tag-rsa3072", "rsa3072", "tag", None),
        git_case("git-commit-ed25519", "ed25519", "commit", None),
        git_case("git-tag-subkey", "subkey", "tag", None),
        git_case("git-commit-p256", "p256", "commit", None),
        Case(
            "git-tag-tampered",
            k["rsa3072"],
            tp,
            ts,
            Reason.BAD_SIGNATURE,
            git_object=("tag", tampered),
        ),
        git_case("git-tag-unknown-key", "rsa3072", "tag", Reason.UNKNOWN_KEY, keyring=k["p256"]),
        git_case(
            "git-tag-expired-before",
            "expired",
            "before",
            None,
            gpg_verdict="expired-key",
            git_accepts=False,
        ),
        git_case("git-tag-expired-after", "expired", "after", Reason.EXPIRED_KEY),
        git_case("git-tag-revoked", "revoked", "tag", Reason.REVOKED_KEY),
        git_case(
            "git-tag-sha1",
            "rsa3072",
            "sha1",
            Reason.WEAK_HASH,
            gpg_verdict="good",
            git_accepts=True,
        ),
        git_case("git-tag-sha1-allowed", "rsa3072", "sha1", None, allow_sha1=True),
        git_case(
            "git-tag-dsa", "dsa2048", "tag", Reason.WEAK_KEY, gpg_verdict="good", git_accepts=True
        ),
    ]
    by_name = {c.name: c for c in cases}
    assert tuple(by_name) == CASE_NAMES, set(by_name) ^ set(CASE_NAMES)
    return Corpus(
        root=root,
        cases=by_name,
        homes=homes,
        oracle=Oracle(root / "oracle"),
        keys=k,
        signer_homes={name: (b.home, b.fpr) for name, b in built.items()},
    )


_CORPUS: Corpus | None = None
_CORPUS_LOCK = threading.Lock()


def corpus(root: Path) -> Corpus:
    """The session's corpus, built on first use under ``root`` (shared by test modules)."""
    global _CORPUS
    with _CORPUS_LOCK:
        if _CORPUS is None:
            _CORPUS = build_corpus(root)
        return _CORPUS


def close_corpus() -> None:
    """Kill every agent the corpus started (idempotent; called at session teardown)."""
    global _CORPUS
    with _CORPUS_LOCK:
        if _CORPUS is not None:
            _CORPUS.close()
            _CORPUS = None

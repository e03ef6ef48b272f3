"""Git benchmarks: signature verification, history audit and resolution, against git's tools.

Every peer runs in the same process tree on the same data: `git verify-tag`,
`ssh-keygen -Y verify`, python-gnupg, a `git verify-commit` loop, `git ls-remote` +
`git fetch`. Real-world objects come from ../shared/data/git (reported as skipped, with
the reason, when absent).
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _harness import Benchmark, Row, have, ops_per_second

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "git"
sys.path.insert(0, str(ROOT))

SSH_TAG = "tag-V_10_5_P1.f11c902f8b6026d68f980b8b14b7fd75f6f95d5f.obj"
PGP_TAG = "tag-v2.55.0.5ce91c059e41090e7d2cffad39c04af8acf98dc1.obj"


def _repo_with(objects: list[tuple[str, bytes]], tmp: Path) -> Path:
    """A repository holding these raw objects (for git verify-tag/verify-commit)."""
    repo = tmp / "repo"
    subprocess.run(["git", "init", "-q", "--bare", str(repo)], check=True)
    for kind, raw in objects:
        subprocess.run(
            ["git", "-C", str(repo), "hash-object", "-t", kind, "-w", "--stdin", "--literally"],
            input=raw,
            check=True,
            capture_output=True,
        )
    return repo


def _cmd_rate(
    argv: list[str], *, n: int, env: dict[str, str] | None = None, stdin: bytes | None = None
) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        proc = subprocess.run(argv, input=stdin, capture_output=True, env=env)
        if proc.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed: {proc.stderr.decode(errors='replace')[:300]}")
    return n / (time.perf_counter() - t0)


def _ours(raw: bytes, keys: object, quick: bool) -> float:
    """In-process verifies/s of one raw object, parsing included (what a caller pays)."""
    from buildsig.git.objects import parse_git_object
    from buildsig.git.verify import verify_git_object

    assert verify_git_object(parse_git_object(raw), keys).verified  # type: ignore[arg-type]
    return ops_per_second(
        lambda: verify_git_object(parse_git_object(raw), keys),  # type: ignore[arg-type]
        min_time=0.2 if quick else 0.5,
    )


def ssh_verify(quick: bool) -> list[Row]:
    tag = DATA / "openssh" / SSH_TAG
    allowed = DATA / "openssh" / "allowed_signers"
    if not tag.exists():
        return [Row("SSH tag verify", 0, "verifies/s", note=f"skipped: {tag} not found")]
    from buildsig.git.objects import parse_git_object
    from buildsig.git.verify import TrustedKeys

    raw = tag.read_bytes()
    keys = TrustedKeys.from_files(allowed_signers=allowed)
    obj = parse_git_object(raw)
    ours = _ours(raw, keys, quick)
    rows = []
    n = 10 if quick else 40
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        repo = _repo_with([("tag", raw)], tmp)
        oid = tag.name.removesuffix(".obj").rsplit(".", 1)[1]
        git_rate = _cmd_rate(
            [
                "git",
                "-C",
                str(repo),
                "-c",
                f"gpg.ssh.allowedSignersFile={allowed}",
                "verify-tag",
                oid,
            ],
            n=n,
        )
        rows.append(
            Row(
                "SSH-signed tag verify (sk-ecdsa, openssh V_10_5_P1)",
                ours,
                "verifies/s",
                peer="git verify-tag",
                peer_value=git_rate,
                target=">= 50x git",
                target_met=ours >= 50 * git_rate,
            )
        )
        sig = tmp / "sig"
        sig.write_bytes(obj.signature or b"")
        keygen = _cmd_rate(
            [
                "ssh-keygen",
                "-Y",
                "verify",
                "-n",
                "git",
                "-f",
                str(allowed),
                "-I",
                "djm@mindrot.org",
                "-s",
                str(sig),
            ],
            n=n,
            stdin=obj.payload,
        )
        rows.append(
            Row(
                "SSH-signed tag verify",
                ours,
                "verifies/s",
                peer="ssh-keygen -Y verify",
                peer_value=keygen,
            )
        )
    return rows


def pgp_verify(quick: bool) -> list[Row]:
    tag = DATA / "git-git" / PGP_TAG
    key = DATA / "git-git" / "junio-gpg-pub.asc"
    if not tag.exists():
        return [Row("PGP tag verify", 0, "verifies/s", note=f"skipped: {tag} not found")]
    from buildsig.git.objects import parse_git_object
    from buildsig.git.verify import TrustedKeys

    raw = tag.read_bytes()
    keys = TrustedKeys.from_files(keys=key)
    obj = parse_git_object(raw)
    ours = _ours(raw, keys, quick)
    rows = []
    n = 10 if quick else 40
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        home = tmp / "gnupg"
        home.mkdir(mode=0o700)
        env = dict(os.environ, GNUPGHOME=str(home))
        subprocess.run(
            ["gpg", "--batch", "--quiet", "--import", str(key)],
            env=env,
            check=True,
            capture_output=True,
        )
        repo = _repo_with([("tag", raw)], tmp)
        oid = tag.name.removesuffix(".obj").rsplit(".", 1)[1]
        git_rate = _cmd_rate(["git", "-C", str(repo), "verify-tag", oid], n=n, env=env)
        rows.append(
            Row(
                "PGP-signed tag verify (RSA-4096, git v2.55.0)",
                ours,
                "verifies/s",
                peer="git verify-tag",
                peer_value=git_rate,
                target=">= 15x git",
                target_met=ours >= 15 * git_rate,
            )
        )
        try:
            from buildsig.git.gnupg_backend import GnuPGVerifier
        except ImportError:
            rows.append(
                Row(
                    "PGP tag verify (GnuPG backend)",
                    0,
                    "verifies/s",
                    note="skipped: backend missing",
                )
            )
        else:
            with GnuPGVerifier.from_armored(key.read_bytes()) as gv:
                assert gv.verify(obj.payload, obj.signature or b"").verified
                rate = ops_per_second(
                    lambda: gv.verify(obj.payload, obj.signature or b""),
                    min_time=0.2 if quick else 0.5,
                    repeat=3,
                )
            rows.append(
                Row(
                    "PGP-signed tag verify",
                    ours,
                    "verifies/s",
                    peer="python-gnupg (buildsig GnuPG backend)",
                    peer_value=rate,
                )
            )
        subprocess.run(
            ["gpgconf", "--homedir", str(home), "--kill", "all"], env=env, capture_output=True
        )
    return rows


# --- a generated signed history ----------------------------------------------------------------


def _string(b: bytes) -> bytes:
    return struct.pack(">I", len(b)) + b


def _sshsig(private: object, public_blob: bytes, payload: bytes) -> bytes:
    """An SSHSIG signature over ``payload`` in namespace git (ed25519, sha512)."""
    signed = (
        b"SSHSIG"
        + _string(b"git")
        + _string(b"")
        + _string(b"sha512")
        + _string(hashlib.sha512(payload).digest())
    )
    sig = private.sign(signed)  # type: ignore[attr-defined]
    blob = (
        b"SSHSIG"
        + struct.pack(">I", 1)
        + _string(public_blob)
        + _string(b"git")
        + _string(b"")
        + _string(b"sha512")
        + _string(_string(b"ssh-ed25519") + _string(sig))
    )
    text = base64.b64encode(blob).decode()
    lines = [text[i : i + 70] for i in range(0, len(text), 70)]
    return (
        "-----BEGIN SSH SIGNATURE-----\n" + "\n".join(lines) + "\n-----END SSH SIGNATURE-----"
    ).encode()


def make_signed_history(repo: Path, n: int) -> tuple[Path, str]:
    """A bare repository with ``n`` SSH-signed commits on main; returns it and allowed-signers."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    from dulwich.objects import ShaFile
    from dulwich.repo import Repo

    key = Ed25519PrivateKey.generate()
    raw_pub = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    pub_blob = _string(b"ssh-ed25519") + _string(raw_pub)
    allowed = f"bench@example.com ssh-ed25519 {base64.b64encode(pub_blob).decode()}\n"
    r = Repo.init_bare(str(repo), mkdir=True)
    empty_tree = ShaFile.from_raw_string(2, b"")
    r.object_store.add_object(empty_tree)
    parent = None
    for i in range(n):
        when = 1700000000 + i * 60
        head = f"tree {empty_tree.id.decode()}\n" + (f"parent {parent}\n" if parent else "")
        actor = f"Bench Signer <bench@example.com> {when} +0000"
        payload = f"{head}author {actor}\ncommitter {actor}\n\ncommit {i}\n".encode()
        sig = _sshsig(key, pub_blob, payload)
        gpgsig = b"gpgsig " + sig.replace(b"\n", b"\n ") + b"\n"
        raw = payload.replace(b"\n\ncommit", b"\n" + gpgsig + b"\ncommit", 1)
        obj = ShaFile.from_raw_string(1, raw)
        r.object_store.add_object(obj)
        parent = obj.id.decode()
    r.refs[b"refs/heads/main"] = parent.encode()  # type: ignore[union-attr]
    r.refs.set_symbolic_ref(b"HEAD", b"refs/heads/main")
    r.close()
    # Real histories live in packs, not loose files: pack it as git gc would.
    subprocess.run(["git", "-C", str(repo), "repack", "-adq"], check=True)
    path = repo.parent / "allowed_signers"
    path.write_text(allowed)
    return path, parent or ""


def audit_history(quick: bool) -> list[Row]:
    from buildsig.git.audit import audit_repository

    n = 1000 if quick else 5000
    with tempfile.TemporaryDirectory() as d:
        repo = Path(d) / "history.git"
        allowed, _head = make_signed_history(repo, n)
        t0 = time.perf_counter()
        report = audit_repository(repo, allowed_signers=allowed)
        ours = time.perf_counter() - t0
        assert report.by_outcome == {"verified": n}, report.by_outcome
        t0 = time.perf_counter()
        single = audit_repository(repo, allowed_signers=allowed, jobs=1)
        ours_single = time.perf_counter() - t0
        assert len(single.items) == n
        sample = 50 if quick else 200
        ids = subprocess.run(
            ["git", "-C", str(repo), "rev-list", "-n", str(sample), "HEAD"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
        t0 = time.perf_counter()
        for oid in ids:
            subprocess.run(
                [
                    "git",
                    "-C",
                    str(repo),
                    "-c",
                    f"gpg.ssh.allowedSignersFile={allowed}",
                    "verify-commit",
                    oid,
                ],
                check=True,
                capture_output=True,
            )
        git_per_commit = (time.perf_counter() - t0) / len(ids)
    git_total = git_per_commit * n
    return [
        Row(
            f"audit {n} SSH-signed commits (all cores)",
            n / ours,
            "commits/s",
            peer=f"git verify-commit loop ({sample}-commit sample)",
            peer_value=1 / git_per_commit,
            note=f"{ours:.2f} s vs ~{git_total:.0f} s for git",
        ),
        Row(
            f"audit {n} SSH-signed commits (one core)",
            n / ours_single,
            "commits/s",
            peer="git verify-commit loop",
            peer_value=1 / git_per_commit,
        ),
    ]


def resolution(quick: bool) -> list[Row]:
    from tests.git.conftest import build_repo
    from tests.git.servers import git_daemon

    from buildsig.git.remote import NetworkRemote
    from buildsig.git.resolve import resolve_ref

    n = 5 if quick else 20
    with tempfile.TemporaryDirectory() as d:
        served = build_repo(Path(d), "sha1")
        with git_daemon(served.root) as port:
            url = f"git://127.0.0.1:{port}/{served.name}"
            t0 = time.perf_counter()
            for _ in range(n):
                remote = NetworkRemote(url)
                try:
                    resolved = resolve_ref(remote, "v1.0", objects=True)
                finally:
                    remote.close()
                assert resolved.commit_object is not None
            ours = (time.perf_counter() - t0) / n
            t0 = time.perf_counter()
            for i in range(n):
                target = Path(d) / f"clone{i}"
                subprocess.run(
                    ["git", "ls-remote", url, "v1.0", "v1.0^{}"], check=True, capture_output=True
                )
                subprocess.run(["git", "init", "-q", "--bare", str(target)], check=True)
                subprocess.run(
                    [
                        "git",
                        "-C",
                        str(target),
                        "fetch",
                        "-q",
                        "--depth=1",
                        "--filter=tree:0",
                        url,
                        "refs/tags/v1.0",
                    ],
                    check=True,
                    capture_output=True,
                )
                shutil.rmtree(target)
            theirs = (time.perf_counter() - t0) / n
    return [
        Row(
            "resolve tag + fetch tag/commit over git:// (loopback)",
            ours * 1000,
            "ms",
            peer="git ls-remote + git fetch --depth=1 --filter=tree:0",
            peer_value=theirs * 1000,
            higher_is_better=False,
        )
    ]


def crypto_floor(quick: bool) -> list[Row]:
    """The raw signature checks underneath, and loading Junio's keyring: the floor we sit on."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

    data = b"x" * 200
    ed = ed25519.Ed25519PrivateKey.generate()
    ed_sig = ed.sign(data)
    p256 = ec.generate_private_key(ec.SECP256R1())
    p256_sig = p256.sign(data, ec.ECDSA(hashes.SHA256()))
    rsa4096 = rsa.generate_private_key(public_exponent=65537, key_size=4096)
    rsa_sig = rsa4096.sign(data, padding.PKCS1v15(), hashes.SHA512())
    t = 0.1 if quick else 0.4
    rows = [
        Row(
            "crypto floor: Ed25519 verify",
            1e6 / ops_per_second(lambda: ed.public_key().verify(ed_sig, data), min_time=t),
            "µs",
            higher_is_better=False,
        ),
        Row(
            "crypto floor: ECDSA P-256 verify",
            1e6
            / ops_per_second(
                lambda: p256.public_key().verify(p256_sig, data, ec.ECDSA(hashes.SHA256())),
                min_time=t,
            ),
            "µs",
            higher_is_better=False,
        ),
        Row(
            "crypto floor: RSA-4096 verify",
            1e6
            / ops_per_second(
                lambda: rsa4096.public_key().verify(
                    rsa_sig, data, padding.PKCS1v15(), hashes.SHA512()
                ),
                min_time=t,
            ),
            "µs",
            higher_is_better=False,
        ),
    ]
    key = DATA / "git-git" / "junio-gpg-pub.asc"
    if key.exists():
        from buildsig.git.openpgp import OpenPGPKeyring

        blob = key.read_bytes()
        rows.append(
            Row(
                "load Junio's OpenPGP keyring",
                1000 / ops_per_second(lambda: OpenPGPKeyring.from_armored(blob), min_time=t),
                "ms",
                higher_is_better=False,
            )
        )
    return rows


BENCHMARKS = [
    Benchmark("git-crypto-floor", crypto_floor),
    Benchmark("git-ssh", ssh_verify),
    Benchmark("git-pgp", pgp_verify),
    Benchmark("git-audit", audit_history),
    Benchmark("git-resolve", resolution),
]

if not have("git"):  # pragma: no cover
    BENCHMARKS = []

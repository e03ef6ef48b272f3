"""The GnuPG backend: same verdicts as the in-process verifier, decided from status lines.

Every case of the shared corpus (real keys and signatures made by gpg and git, see
``gpgkit``) is verified by both backends, which must agree on the verdict and on the
signer. The real git.git release tags are checked the same way. Lifecycle tests cover the
private home (mode 0700), clean-up, agent killing and lazy import.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from buildsig.errors import PolicyConfigError
from buildsig.git import _pgp_packets as pp
from buildsig.git.gnupg_backend import TRUST_LEVELS, GnuPGVerifier
from buildsig.git.openpgp import OpenPGPKeyring, verify_openpgp
from buildsig.git.result import Reason, SignatureCheck

from .gpgkit import CASE_NAMES, GIT, GPG, Corpus, close_corpus, corpus
from .test_openpgp import (
    GIT_GIT,
    GIT_GIT_TAGS,
    JUNIO_PRIMARY,
    armor,
    bad_keyring_inputs,
    git_git_tag,
    unarmor,
)

pytestmark = pytest.mark.skipif(GPG is None, reason="gpg is required")

SIGNER_FIELDS = (
    "format",
    "primary_fingerprint",
    "signing_fingerprint",
    "key_id",
    "user_id",
    "algorithm",
    "hash_algorithm",
    "signed_at",
)


@pytest.fixture(scope="session")
def gpg_corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Corpus]:
    if GPG is None or GIT is None:
        pytest.skip("gpg and git are required to make the signatures")
    yield corpus(tmp_path_factory.mktemp("gpg-corpus"))
    close_corpus()


@pytest.fixture(scope="session")
def verifiers() -> Iterator[dict[bytes, GnuPGVerifier]]:
    """One GnuPG verifier per keyring, reused across cases (import once, verify many)."""
    made: dict[bytes, GnuPGVerifier] = {}
    yield made
    for verifier in made.values():
        verifier.close()


def gnupg_for(verifiers: dict[bytes, GnuPGVerifier], keyring: bytes) -> GnuPGVerifier:
    if keyring not in verifiers:
        verifiers[keyring] = GnuPGVerifier.from_armored(keyring)
    return verifiers[keyring]


def assert_same(ours: SignatureCheck, theirs: SignatureCheck) -> None:
    """Both backends reached the same verdict about the same signer."""
    assert (theirs.verified, theirs.reason) == (ours.verified, ours.reason), (
        ours.detail,
        theirs.detail,
    )
    if ours.signer is None or theirs.signer is None:
        assert ours.signer is theirs.signer is None
        return
    assert theirs.signer.key_id == ours.signer.key_id
    if ours.reason is not Reason.BAD_SIGNATURE:  # gpg says nothing more about a bad one
        for name in SIGNER_FIELDS:
            assert getattr(theirs.signer, name) == getattr(ours.signer, name), name


@pytest.mark.parametrize("name", CASE_NAMES)
def test_backends_agree(
    gpg_corpus: Corpus, verifiers: dict[bytes, GnuPGVerifier], name: str
) -> None:
    case = gpg_corpus.cases[name]
    ours = verify_openpgp(
        case.payload,
        case.signature,
        OpenPGPKeyring.from_armored(case.keyring),
        allow_sha1=case.allow_sha1,
    )
    theirs = gnupg_for(verifiers, case.keyring).verify(
        case.payload, case.signature, allow_sha1=case.allow_sha1
    )
    assert theirs.verified == (case.expected is None)
    assert theirs.reason == case.expected
    assert_same(ours, theirs)


@pytest.mark.skipif(not GIT_GIT.is_dir(), reason=f"real git.git data not present at {GIT_GIT}")
def test_git_git_release_tags() -> None:
    key = (GIT_GIT / "junio-gpg-pub.asc").read_bytes()
    keyring = OpenPGPKeyring.from_armored(key)
    with GnuPGVerifier.from_armored(key) as verifier:
        assert verifier.fingerprints == (JUNIO_PRIMARY,)
        for version, plain, with_sha1, _ in GIT_GIT_TAGS:
            _, payload, signature = git_git_tag(version)
            theirs = verifier.verify(payload, signature)
            assert theirs.reason == plain, (version, theirs.detail)
            assert_same(verify_openpgp(payload, signature, keyring), theirs)
            allowed = verifier.verify(payload, signature, allow_sha1=True)
            assert allowed.reason == with_sha1, version
            assert_same(verify_openpgp(payload, signature, keyring, allow_sha1=True), allowed)


@pytest.mark.skipif(
    not (GIT_GIT.is_dir() and (GIT_GIT.parent / "openssh").is_dir()),
    reason=f"real git.git and openssh data not present under {GIT_GIT.parent}",
)
def test_openssh_tag_by_unknown_key() -> None:
    (path,) = (GIT_GIT.parent / "openssh").glob("tag-V_9_0_P1.*.obj")
    from dulwich.objects import Tag

    payload, signature, _ = Tag.from_string(path.read_bytes()).extract_signature()
    assert signature is not None
    with GnuPGVerifier.from_armored((GIT_GIT / "junio-gpg-pub.asc").read_bytes()) as verifier:
        check = verifier.verify(payload, signature)
    assert (check.verified, check.reason) == (False, Reason.UNKNOWN_KEY)
    assert check.signer is not None and check.signer.key_id == "2A3F414E736060BA"


def test_armor_variants_agree(gpg_corpus: Corpus, verifiers: dict[bytes, GnuPGVerifier]) -> None:
    case = gpg_corpus.cases["rsa4096"]
    keyring = OpenPGPKeyring.from_armored(case.keyring)
    (pkt,) = pp.iter_packets(unarmor(case.signature), max_packets=4)
    new_format = pp.encode_packet(pkt.tag, pkt.body)
    variants = {
        "new-format header": armor("PGP SIGNATURE", new_format),
        "no CRC line": armor("PGP SIGNATURE", new_format, checksum=False),
        "PGP MESSAGE armor": armor("PGP MESSAGE", new_format),
        "CRLF": case.signature.replace(b"\n", b"\r\n"),
        "armor header": case.signature.replace(b"-----\n\n", b"-----\nComment: hi\n\n", 1),
        "marker packet first": armor("PGP SIGNATURE", pp.encode_packet(10, b"PGP") + new_format),
    }
    verifier = gnupg_for(verifiers, case.keyring)
    for what, signature in variants.items():
        ours = verify_openpgp(case.payload, signature, keyring)
        assert ours.verified, what
        assert_same(ours, verifier.verify(case.payload, signature))


# --- trust model -------------------------------------------------------------------------


def test_min_trust_follows_gnupg_validity_like_git(gpg_corpus: Corpus) -> None:
    case = gpg_corpus.cases["git-tag-rsa3072"]
    assert case.git_object is not None
    home, _ = gpg_corpus.signer_homes["rsa3072"]
    oracle = gpg_corpus.oracle
    # An imported key has undefined validity: fine by default, not "marginal".
    with GnuPGVerifier.from_armored(case.keyring, min_trust="marginal") as strict:
        check = strict.verify(case.payload, case.signature)
    assert (check.verified, check.reason) == (False, Reason.NOT_ALLOWED)
    assert "undefined" in check.detail
    assert not oracle.git_accepts(case.keyring, *case.git_object, "gpg.minTrustLevel=marginal")
    assert oracle.git_accepts(case.keyring, *case.git_object)
    # The signer's own home trusts its key ultimately.
    with GnuPGVerifier.from_home(home.path, min_trust="ultimate") as own:
        assert own.verify(case.payload, case.signature).verified
        assert own.home == home.path
    assert oracle.git_accepts(
        case.keyring, *case.git_object, "gpg.minTrustLevel=ultimate", home=home.path
    )
    assert home.path.is_dir()  # an existing home is never removed
    with pytest.raises(PolicyConfigError, match="unknown trust level"):
        GnuPGVerifier.from_armored(case.keyring, min_trust="total")
    assert TRUST_LEVELS[0] == "undefined" and TRUST_LEVELS[-1] == "ultimate"


# --- lifecycle ---------------------------------------------------------------------------


def test_private_home_is_0700_and_removed_on_close(gpg_corpus: Corpus) -> None:
    case = gpg_corpus.cases["ed25519"]
    verifier = GnuPGVerifier.from_armored(case.keyring)
    home = verifier.home
    workdir = home.parent
    assert stat.S_IMODE(workdir.stat().st_mode) == 0o700
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    for _ in range(3):
        assert verifier.verify(case.payload, case.signature).verified
    assert sorted(p.name for p in workdir.iterdir()) == ["home"]  # signature files cleaned up
    assert not list(home.glob("S.gpg-agent*"))  # --no-autostart: no agent was spawned
    verifier.close()
    assert verifier.closed and not workdir.exists()
    verifier.close()  # idempotent
    with pytest.raises(PolicyConfigError, match="closed"):
        verifier.verify(case.payload, case.signature)


def test_context_manager_kills_an_agent_started_in_the_home(gpg_corpus: Corpus) -> None:
    case = gpg_corpus.cases["ed25519"]
    with GnuPGVerifier.from_armored(case.keyring) as verifier:
        home = verifier.home
        # something (not buildsig) starts an agent in our home
        out = subprocess.run(
            ["gpg-connect-agent", "--homedir", str(home), "getinfo pid", "/bye"],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
        pid = int(next(line[2:] for line in out.splitlines() if line.startswith("D ")))
        assert _alive(pid)
    assert not home.exists()
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purposes
    try:
        status = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return False
    return status != "Z"


def test_secret_material_never_reaches_gpg(gpg_corpus: Corpus) -> None:
    case = gpg_corpus.cases["secret-keyring"]
    assert b"PRIVATE KEY BLOCK" in case.keyring
    with GnuPGVerifier.from_armored(case.keyring) as verifier:
        assert verifier.verify(case.payload, case.signature).verified
        listing = subprocess.run(
            [
                "gpg",
                "--homedir",
                str(verifier.home),
                "--batch",
                "--no-autostart",
                "--list-secret-keys",
            ],
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert listing.stdout == b""


def test_import_is_lazy() -> None:
    code = (
        "import sys, buildsig.git.gnupg_backend, buildsig.git.openpgp\n"
        "print(','.join(m for m in ('gnupg', 'cryptography') if m in sys.modules))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2] / "src"))
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    assert out.stdout.strip() == ""


# --- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("what", "data"), bad_keyring_inputs(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_bad_keyrings_raise_policy_config_error(what: str, data: bytes) -> None:
    with pytest.raises(PolicyConfigError):
        GnuPGVerifier.from_armored(data)


def test_missing_gpg_is_a_configuration_error(gpg_corpus: Corpus, tmp_path: Path) -> None:
    with pytest.raises(PolicyConfigError, match="cannot run gpg"):
        GnuPGVerifier.from_armored(gpg_corpus.keys["ed25519"], gpg_binary=str(tmp_path / "nope"))
    with pytest.raises(PolicyConfigError, match="not a directory"):
        GnuPGVerifier.from_home(tmp_path / "missing")
    with pytest.raises(ValueError, match="exactly one"):
        GnuPGVerifier()
    assert not list(Path(os.environ.get("TMPDIR", "/tmp")).glob("buildsig-gpg-*/home/x"))


def test_bad_signatures_are_malformed(gpg_corpus: Corpus) -> None:
    case = gpg_corpus.cases["rsa2048"]
    keyring = OpenPGPKeyring.from_armored(case.keyring)
    raw = unarmor(case.signature)
    good_crc = armor("PGP SIGNATURE", raw)
    inputs = {
        "empty": b"",
        "garbage": b"not a signature at all",
        "binary": raw,
        "truncated armor": case.signature[: len(case.signature) // 2],
        "bad crc": good_crc.replace(good_crc.splitlines()[-2], b"=AAAA"),
        "bogus base64": case.signature.replace(case.signature.splitlines()[3][:4], b"!!!!"),
        "truncated packet": armor("PGP SIGNATURE", raw[:-20]),
        "absurd length": armor("PGP SIGNATURE", b"\xc2\xff\xff\xff\xff\xff" + raw[2:]),
        "two signatures": armor("PGP SIGNATURE", raw + raw),
        "key block": case.keyring,
    }
    with GnuPGVerifier.from_armored(case.keyring) as verifier:
        for what, signature in inputs.items():
            ours = verify_openpgp(case.payload, signature, keyring)
            theirs = verifier.verify(case.payload, signature)
            assert (ours.verified, ours.reason) == (False, Reason.MALFORMED), (what, ours.detail)
            assert (theirs.verified, theirs.reason) == (False, Reason.MALFORMED), (
                what,
                theirs.detail,
            )

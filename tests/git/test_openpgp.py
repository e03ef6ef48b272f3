"""In-process OpenPGP verification: real gpg/git signatures, real git.git tags, bad input.

The oracles are ``gpg --verify`` and ``git verify-tag``/``verify-commit`` (git 2.39 here)
on the very same bytes. Documented differences (asserted explicitly, per case):

* SHA-1 data signatures: gpg/git accept, buildsig says WEAK_HASH (unless allow_sha1);
* DSA and RSA < 2048 signing keys: gpg/git accept, buildsig says WEAK_KEY;
* signatures by a key that has expired *since*: gpg says EXPKEYSIG and git 2.39 rejects
  them, buildsig accepts them (the Buildx/BuildKit rule; git >= 2.54 accepts them too);
* a signature past its own expiration: gpg says EXPSIG, buildsig BAD_SIGNATURE with the
  detail "signature expired".
"""

from __future__ import annotations

import base64
import glob
import statistics
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest
from dulwich.objects import Tag
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from buildsig.errors import PolicyConfigError
from buildsig.git import _pgp_packets as pp
from buildsig.git.openpgp import (
    MAX_SIGNATURE_BYTES,
    OpenPGPKeyring,
    signature_packet_info,
    verify_openpgp,
)
from buildsig.git.result import Reason, SignatureCheck

from .gpgkit import CASE_NAMES, GIT, GPG, GPG_VERDICTS, Corpus, Oracle, close_corpus, corpus

T = TypeVar("T")
DATA = Path("/work/shared/data/git")
GIT_GIT = DATA / "git-git"
JUNIO_PRIMARY = "96E07AF25771955980DAD10020D04E5A713660A7"
JUNIO_SUBKEY = "E1F036B1FEE7221FC778ECEFB0B5E88696AFE6CB"

needs_gpg = pytest.mark.skipif(GPG is None or GIT is None, reason="gpg and git are required")
needs_git_git = pytest.mark.skipif(
    not GIT_GIT.is_dir(), reason=f"real git.git data not present at {GIT_GIT}"
)

# RFC 9580 Appendix A.3 (sample v6 certificate) and A.6 (its cleartext-signed message):
# a v6 Ed25519 key with an X25519 subkey, and a v6 text signature (type 0x01, SHA-512).
RFC9580_CERT = b"""-----BEGIN PGP PUBLIC KEY BLOCK-----

xioGY4d/4xsAAAAg+U2nu0jWCmHlZ3BqZYfQMxmZu52JGggkLq2EVD34laPCsQYf
GwoAAABCBYJjh3/jAwsJBwUVCg4IDAIWAAKbAwIeCSIhBssYbE8GCaaX5NUt+mxy
KwwfHifBilZwj2Ul7Ce62azJBScJAgcCAAAAAK0oIBA+LX0ifsDm185Ecds2v8lw
gyU2kCcUmKfvBXbAf6rhRYWzuQOwEn7E/aLwIwRaLsdry0+VcallHhSu4RN6HWaE
QsiPlR4zxP/TP7mhfVEe7XWPxtnMUMtf15OyA51YBM4qBmOHf+MZAAAAIIaTJINn
+eUBXbki+PSAld2nhJh/LVmFsS+60WyvXkQ1wpsGGBsKAAAALAWCY4d/4wKbDCIh
BssYbE8GCaaX5NUt+mxyKwwfHifBilZwj2Ul7Ce62azJAAAAAAQBIKbpGG2dWTX8
j+VjFM21J0hqWlEg+bdiojWnKfA5AQpWUWtnNwDEM0g12vYxoWM8Y81W+bHBw805
I8kWVkXU6vFOi+HWvv/ira7ofJu16NnoUkhclkUrk0mXubZvyl4GBg==
-----END PGP PUBLIC KEY BLOCK-----
"""
RFC9580_SIG = b"""-----BEGIN PGP SIGNATURE-----

wpgGARsKAAAAKQWCY5ijYyIhBssYbE8GCaaX5NUt+mxyKwwfHifBilZwj2Ul7Ce6
2azJAAAAAGk2IHZJX1AhiJD39eLuPBgiUU9wUA9VHYblySHkBONKU/usJ9BvuAqo
/FvLFuGWMbKAdA+epq7V4HOtAPlBWmU8QOd6aud+aSunHQaaEJ+iTFjP2OMW0KBr
NK2ay45cX1IVAQ==
-----END PGP SIGNATURE-----
"""
# The cleartext framework signs the text without dash-escapes, up to (not including) the
# line ending before the armor; the blank line before it makes the text end in a newline.
RFC9580_TEXT = b"What we need from the grocery store:\n\n- tofu\n- vegetables\n- noodles\n"
RFC9580_FPR = "CB186C4F0609A697E4D52DFA6C722B0C1F1E27C18A56708F6525EC27BAD9ACC9"

ALGORITHMS = {
    "rsa2048": "rsa2048",
    "rsa3072": "rsa3072",
    "rsa4096": "rsa4096",
    "ed25519": "ed25519",
    "p256": "ecdsa-p256",
    "p384": "ecdsa-p384",
    "subkey": "ed25519",
    "expired": "ed25519",
    "expired-subkey": "ed25519",
}


def armor(kind: str, data: bytes, *, checksum: bool = True) -> bytes:
    """ASCII armor as gpg writes it (64-column base64, optional CRC-24 line)."""
    b64 = base64.b64encode(data)
    lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
    out = [f"-----BEGIN {kind}-----".encode(), b"", *lines]
    if checksum:
        out.append(b"=" + base64.b64encode(pp.crc24(data).to_bytes(3, "big")))
    out.append(f"-----END {kind}-----".encode())
    return b"\n".join(out) + b"\n"


def unarmor(data: bytes) -> bytes:
    (block,) = pp.dearmor(data, allow_text_outside=True)
    return block.data


def verdict(check: SignatureCheck) -> tuple[bool, Reason | None]:
    assert isinstance(check, SignatureCheck)
    return check.verified, check.reason


@pytest.fixture(scope="session")
def gpg_corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Corpus]:
    if GPG is None or GIT is None:
        pytest.skip("gpg and git are required to make the signatures")
    yield corpus(tmp_path_factory.mktemp("gpg-corpus"))
    close_corpus()


@pytest.fixture(scope="session")
def junio() -> OpenPGPKeyring:
    if not GIT_GIT.is_dir():
        pytest.skip(f"real git.git data not present at {GIT_GIT}")
    return OpenPGPKeyring.from_armored((GIT_GIT / "junio-gpg-pub.asc").read_bytes())


def git_git_tag(version: str) -> tuple[bytes, bytes, bytes]:
    (path,) = glob.glob(str(GIT_GIT / f"tag-{version}.*.obj"))
    raw = Path(path).read_bytes()
    payload, signature, _ = Tag.from_string(raw).extract_signature()
    assert signature is not None
    return raw, payload, signature


# --- real gpg signatures: verdicts and oracles -------------------------------------------


@needs_gpg
@pytest.mark.parametrize("name", CASE_NAMES)
def test_verdict(gpg_corpus: Corpus, name: str) -> None:
    case = gpg_corpus.cases[name]
    check = verify_openpgp(
        case.payload,
        case.signature,
        OpenPGPKeyring.from_armored(case.keyring),
        allow_sha1=case.allow_sha1,
    )
    assert verdict(check) == (case.expected is None, case.expected), check.detail


@needs_gpg
@pytest.mark.parametrize("name", CASE_NAMES)
def test_gpg_oracle(gpg_corpus: Corpus, name: str) -> None:
    case = gpg_corpus.cases[name]
    said = gpg_corpus.oracle.gpg_verdict(case.keyring, case.payload, case.signature)
    # Either gpg agrees with us, or the case documents exactly what gpg says instead.
    assert said == (case.gpg_verdict or GPG_VERDICTS[case.expected])


@needs_gpg
@pytest.mark.parametrize("name", [n for n in CASE_NAMES if n.startswith("git-")])
def test_git_oracle(gpg_corpus: Corpus, name: str) -> None:
    case = gpg_corpus.cases[name]
    assert case.git_object is not None
    accepts = gpg_corpus.oracle.git_accepts(case.keyring, *case.git_object)
    expected = case.expected is None if case.git_accepts is None else case.git_accepts
    assert accepts == expected


@needs_gpg
@pytest.mark.parametrize("name", CASE_NAMES)
def test_signer_identity(gpg_corpus: Corpus, name: str) -> None:
    case = gpg_corpus.cases[name]
    keyring = OpenPGPKeyring.from_armored(case.keyring)
    check = verify_openpgp(case.payload, case.signature, keyring, allow_sha1=case.allow_sha1)
    info = signature_packet_info(case.signature)
    assert info is not None and info[0] == 4
    signer = check.signer
    assert signer is not None
    assert signer.key_id == info[1].upper()  # the issuer named in the packet
    if check.reason is Reason.UNKNOWN_KEY:
        assert not signer.primary_fingerprint
        return
    assert signer.format == "openpgp"
    assert signer.primary_fingerprint in keyring.fingerprints
    assert signer.signing_fingerprint.endswith(signer.key_id)
    assert signer.signed_at is not None and signer.signed_at.tzinfo is not None
    key_name = next((k for k in sorted(ALGORITHMS, key=len, reverse=True) if k in name), None)
    if key_name and check.verified:
        assert signer.algorithm == ALGORITHMS[key_name]
        assert signer.user_id.endswith("@example.com>")
    if "subkey" in name:
        assert signer.signing_fingerprint != signer.primary_fingerprint
    if check.verified:
        assert check.detail.startswith("good signature")


@needs_gpg
def test_text_signature_over_crlf_payload(gpg_corpus: Corpus) -> None:
    case = gpg_corpus.cases["ed25519-textmode"]
    keyring = OpenPGPKeyring.from_armored(case.keyring)
    crlf = case.payload.replace(b"\n", b"\r\n")
    assert verify_openpgp(crlf, case.signature, keyring).verified
    assert not verify_openpgp(case.payload + b"\n", case.signature, keyring).verified


@needs_gpg
def test_now_bounds_future_and_expired_signatures(gpg_corpus: Corpus) -> None:
    case = gpg_corpus.cases["rsa2048"]
    keyring = OpenPGPKeyring.from_armored(case.keyring)
    made = verify_openpgp(case.payload, case.signature, keyring).signer
    assert made is not None and made.signed_at is not None
    early = verify_openpgp(
        case.payload, case.signature, keyring, now=made.signed_at - timedelta(hours=1)
    )
    assert verdict(early) == (False, Reason.BAD_SIGNATURE)
    assert early.detail.startswith("signature made in the future")
    skew = made.signed_at - timedelta(minutes=4)
    assert verify_openpgp(case.payload, case.signature, keyring, now=skew).verified
    naive = (made.signed_at - timedelta(hours=1)).replace(tzinfo=None)  # taken as UTC
    assert not verify_openpgp(case.payload, case.signature, keyring, now=naive).verified

    expiring = gpg_corpus.cases["sig-expired"]
    keyring = OpenPGPKeyring.from_armored(expiring.keyring)
    check = verify_openpgp(expiring.payload, expiring.signature, keyring)
    assert check.detail.startswith("signature expired")
    then = datetime(2020, 6, 1, 12, tzinfo=UTC)  # within the signature's one-day lifetime
    assert verify_openpgp(expiring.payload, expiring.signature, keyring, now=then).verified


@needs_gpg
def test_revocation_detail_and_expiry_detail(gpg_corpus: Corpus) -> None:
    for name, words in (
        ("revoked", "primary key revoked on"),
        ("revoked-subkey", "signing subkey"),
        ("expired-after", "after the primary key expired"),
        ("expired-subkey-after", "after the key"),
    ):
        case = gpg_corpus.cases[name]
        check = verify_openpgp(
            case.payload, case.signature, OpenPGPKeyring.from_armored(case.keyring)
        )
        assert words in check.detail, (name, check.detail)


@needs_gpg
def test_keyring_shapes(gpg_corpus: Corpus) -> None:
    keys = gpg_corpus.keys
    both = OpenPGPKeyring.from_armored(keys["rsa2048"] + b"\n" + keys["ed25519"])
    assert len(both) == 2 and len(set(both.fingerprints)) == 2
    # the same key twice is merged; text around blocks is allowed, as gpg allows it
    twice = OpenPGPKeyring.from_armored(b"my key:\n" + keys["ed25519"] + keys["ed25519"] + b"bye\n")
    assert twice.fingerprints == OpenPGPKeyring.from_armored(keys["ed25519"]).fingerprints
    case = gpg_corpus.cases["ed25519"]
    assert verify_openpgp(case.payload, case.signature, twice).verified
    # public_packets() round-trips, secret material dropped
    home, fpr = gpg_corpus.signer_homes["subkey"]
    secret = OpenPGPKeyring.from_armored(home.export_secret(fpr))
    again = OpenPGPKeyring.from_armored(armor("PGP PUBLIC KEY BLOCK", secret.public_packets()))
    assert again.fingerprints == secret.fingerprints == (fpr,)
    sub = gpg_corpus.cases["subkey"]
    assert verify_openpgp(sub.payload, sub.signature, again).verified
    assert all(
        pkt.tag not in (5, 7) for pkt in pp.iter_packets(secret.public_packets(), max_packets=99)
    )


@needs_gpg
def test_armor_and_header_variants_still_verify(gpg_corpus: Corpus) -> None:
    case = gpg_corpus.cases["rsa3072"]
    keyring = OpenPGPKeyring.from_armored(case.keyring)
    (pkt,) = pp.iter_packets(unarmor(case.signature), max_packets=4)
    new_format = pp.encode_packet(pkt.tag, pkt.body)
    for sig in (
        armor("PGP SIGNATURE", new_format),  # new-format packet header
        armor("PGP SIGNATURE", new_format, checksum=False),  # no CRC line (RFC 9580)
        armor("PGP MESSAGE", new_format),  # git accepts PGP MESSAGE armor too
        case.signature.replace(b"\n", b"\r\n"),  # CRLF line endings
        case.signature.replace(b"-----\n\n", b"-----\nComment: made by gpg\n\n", 1),
    ):
        assert verify_openpgp(case.payload, sig, keyring).verified
    # Buildx reads pgpSignature only from PGP SIGNATURE armor
    assert signature_packet_info(armor("PGP MESSAGE", new_format)) is None


def _encode_subpacket(sp: pp.Subpacket) -> bytes:
    data = bytes([sp.type | (0x80 if sp.critical else 0)]) + sp.data
    n = len(data)
    if n < 192:
        return bytes([n]) + data
    if n < 8384:
        return bytes([((n - 192) >> 8) + 192, (n - 192) & 0xFF]) + data
    return b"\xff" + n.to_bytes(4, "big") + data


def _rebuild_v4(body: bytes, drop: set[int], *, hashed: bool = True) -> bytes:
    """A v4 signature packet body without subpackets of the ``drop`` types."""
    sig = pp.parse_signature_packet(body)
    hashed_end = 6 + int.from_bytes(body[4:6], "big")
    unhashed_len = int.from_bytes(body[hashed_end : hashed_end + 2], "big")
    tail = body[hashed_end + 2 + unhashed_len :]
    h = b"".join(_encode_subpacket(sp) for sp in sig.hashed if not (hashed and sp.type in drop))
    u = b"".join(_encode_subpacket(sp) for sp in sig.unhashed if sp.type not in drop)
    return body[:4] + len(h).to_bytes(2, "big") + h + len(u).to_bytes(2, "big") + u + tail


@needs_gpg
def test_missing_back_signature_makes_the_subkey_unusable(gpg_corpus: Corpus) -> None:
    case = gpg_corpus.cases["subkey"]
    rebuilt = []
    stripped = 0
    for pkt in pp.iter_packets(unarmor(case.keyring), max_packets=99):
        body = pkt.body
        if (
            pkt.tag == pp.TAG_SIGNATURE
            and body[1] == 0x18
            and pp.parse_signature_packet(body).embedded
        ):
            body = _rebuild_v4(body, {32}, hashed=False)
            stripped += 1
        rebuilt.append(pp.encode_packet(pkt.tag, body))
    assert stripped == 1
    keyring = OpenPGPKeyring.from_armored(armor("PGP PUBLIC KEY BLOCK", b"".join(rebuilt)))
    check = verify_openpgp(case.payload, case.signature, keyring)
    assert verdict(check) == (False, Reason.UNKNOWN_KEY)
    assert "is not usable" in check.detail


@needs_gpg
def test_issuer_selection(gpg_corpus: Corpus) -> None:
    case = gpg_corpus.cases["ed25519"]
    keyring = OpenPGPKeyring.from_armored(case.keyring)
    (pkt,) = pp.iter_packets(unarmor(case.signature), max_packets=4)
    # the hashed issuer fingerprint is enough without the unhashed key id …
    no_key_id = pp.encode_packet(2, _rebuild_v4(pkt.body, {16}))
    assert verify_openpgp(case.payload, armor("PGP SIGNATURE", no_key_id), keyring).verified
    # … and the unhashed key id without the fingerprint (the math then fails, since the
    # hashed area changed, but the key was found: bad-signature, not unknown-key)
    no_fpr = pp.encode_packet(2, _rebuild_v4(pkt.body, {33}))
    check = verify_openpgp(case.payload, armor("PGP SIGNATURE", no_fpr), keyring)
    assert verdict(check) == (False, Reason.BAD_SIGNATURE)
    no_issuer = pp.encode_packet(2, _rebuild_v4(pkt.body, {16, 33}))
    check = verify_openpgp(case.payload, armor("PGP SIGNATURE", no_issuer), keyring)
    assert verdict(check) == (False, Reason.UNKNOWN_KEY)
    assert "does not name its issuer" in check.detail
    assert signature_packet_info(armor("PGP SIGNATURE", no_issuer)) == (4, "")


# --- real git.git release tags -----------------------------------------------------------

GIT_GIT_TAGS = [
    # version, verdict without allow_sha1, verdict with it, data-signature hash
    ("v2.55.0", None, None, "sha256"),
    ("v2.50.0", None, None, "sha256"),
    ("v2.40.0", None, None, "sha256"),
    ("v2.30.0", None, None, "sha256"),
    ("v2.20.0", None, None, "sha256"),
    ("v2.10.0", Reason.WEAK_HASH, None, "sha1"),
    ("v2.0.0", Reason.WEAK_HASH, None, "sha1"),
    ("v1.8.0", Reason.WEAK_HASH, None, "sha1"),
    ("v1.0.0", Reason.UNKNOWN_KEY, Reason.UNKNOWN_KEY, ""),  # 2005 v3 DSA signature
]


@needs_git_git
@pytest.mark.parametrize(("version", "plain", "with_sha1", "hash_name"), GIT_GIT_TAGS)
def test_git_git_release_tags(
    junio: OpenPGPKeyring,
    version: str,
    plain: Reason | None,
    with_sha1: Reason | None,
    hash_name: str,
) -> None:
    _, payload, signature = git_git_tag(version)
    check = verify_openpgp(payload, signature, junio)
    assert verdict(check) == (plain is None, plain), check.detail
    allowed = verify_openpgp(payload, signature, junio, allow_sha1=True)
    assert verdict(allowed) == (with_sha1 is None, with_sha1), allowed.detail
    info = signature_packet_info(signature)
    if version == "v1.0.0":
        assert info is None  # v3 signature: Buildx leaves pgpSignature out
        assert check.signer is not None and check.signer.key_id == "C0C6D9A4F3119B9A"
        return
    assert info == (4, "b0b5e88696afe6cb")
    signer = allowed.signer
    assert signer is not None
    assert signer.primary_fingerprint == JUNIO_PRIMARY
    assert signer.signing_fingerprint == JUNIO_SUBKEY
    assert signer.key_id == "B0B5E88696AFE6CB"
    assert signer.user_id == "Junio C Hamano <gitster@pobox.com>"
    assert signer.algorithm == "rsa4096"
    assert signer.hash_algorithm == hash_name
    tagger_time = int(Tag.from_string(git_git_tag(version)[0]).tag_time)
    assert signer.signed_at is not None
    assert abs(signer.signed_at.timestamp() - tagger_time) < 3600


@needs_git_git
def test_git_git_keyring(junio: OpenPGPKeyring) -> None:
    assert junio.fingerprints == (JUNIO_PRIMARY,)
    assert junio.skipped == ()
    _, payload, signature = git_git_tag("v2.55.0")
    tampered = verify_openpgp(payload.replace(b"Git 2.55", b"Git 2.56"), signature, junio)
    assert verdict(tampered) == (False, Reason.BAD_SIGNATURE)


@needs_git_git
@pytest.mark.skipif(GPG is None or GIT is None, reason="gpg and git are required")
def test_git_git_oracles(junio: OpenPGPKeyring, tmp_path: Path) -> None:
    oracle = Oracle(tmp_path / "oracle")
    key = (GIT_GIT / "junio-gpg-pub.asc").read_bytes()
    try:
        for version, _, with_sha1, _ in GIT_GIT_TAGS:
            raw, payload, signature = git_git_tag(version)
            # gpg and git accept SHA-1 signatures: they agree with allow_sha1=True
            assert oracle.gpg_verdict(key, payload, signature) == GPG_VERDICTS[with_sha1]
            assert oracle.git_accepts(key, "tag", raw) == (with_sha1 is None)
    finally:
        oracle.close()


@pytest.mark.skipif(not (DATA / "openssh").is_dir(), reason=f"openssh data not present at {DATA}")
def test_openssh_pgp_tag_by_unknown_key(tmp_path: Path) -> None:
    (path,) = glob.glob(str(DATA / "openssh" / "tag-V_9_0_P1.*.obj"))
    payload, signature, _ = Tag.from_string(Path(path).read_bytes()).extract_signature()
    assert signature is not None
    keyring = OpenPGPKeyring.from_armored(RFC9580_CERT)
    check = verify_openpgp(payload, signature, keyring)
    assert verdict(check) == (False, Reason.UNKNOWN_KEY)
    assert check.signer is not None and check.signer.key_id == "2A3F414E736060BA"
    assert signature_packet_info(signature) == (4, "2a3f414e736060ba")
    if GIT_GIT.is_dir():
        junio = OpenPGPKeyring.from_armored((GIT_GIT / "junio-gpg-pub.asc").read_bytes())
        assert verify_openpgp(payload, signature, junio).reason is Reason.UNKNOWN_KEY


# --- RFC 9580 v6 test vectors ------------------------------------------------------------


def test_rfc9580_v6_certificate_and_text_signature() -> None:
    keyring = OpenPGPKeyring.from_armored(RFC9580_CERT)
    assert keyring.fingerprints == (RFC9580_FPR,)
    check = verify_openpgp(RFC9580_TEXT, RFC9580_SIG, keyring)
    assert check.verified, check.detail
    signer = check.signer
    assert signer is not None
    assert signer.primary_fingerprint == signer.signing_fingerprint == RFC9580_FPR
    assert signer.key_id == RFC9580_FPR[:16]
    assert (signer.algorithm, signer.hash_algorithm, signer.user_id) == ("ed25519", "sha512", "")
    assert signer.signed_at == datetime(2022, 12, 13, 16, 8, 3, tzinfo=UTC)
    # a text signature: CRLF line endings hash the same, other text does not
    assert verify_openpgp(RFC9580_TEXT.replace(b"\n", b"\r\n"), RFC9580_SIG, keyring).verified
    tampered = verify_openpgp(RFC9580_TEXT.replace(b"tofu", b"tofU"), RFC9580_SIG, keyring)
    assert verdict(tampered) == (False, Reason.BAD_SIGNATURE)
    assert signature_packet_info(RFC9580_SIG) == (6, RFC9580_FPR[:16].lower())
    # an unknown critical subpacket (type 100) makes it bad once the key is known
    body = _rfc_sig_packet()
    critical = body[:4] + (0x29 + 3).to_bytes(4, "big") + b"\x02\xe4\x00" + body[8:]
    check = verify_openpgp(
        RFC9580_TEXT, armor("PGP SIGNATURE", pp.encode_packet(2, critical)), keyring
    )
    assert verdict(check) == (False, Reason.BAD_SIGNATURE)
    assert "unknown critical subpacket 100" in check.detail


# --- bad input: signatures are MALFORMED, keyrings raise PolicyConfigError ---------------


def _rfc_sig_packet() -> bytes:
    (pkt,) = pp.iter_packets(unarmor(RFC9580_SIG), max_packets=4)
    return pkt.body


def bad_signature_inputs() -> list[tuple[str, bytes]]:
    good = RFC9580_SIG
    body = _rfc_sig_packet()
    lines = good.split(b"\n")
    v3 = bytes([3, 5, 0x00]) + (1_600_000_000).to_bytes(4, "big") + bytes.fromhex(RFC9580_FPR[:16])
    return [
        ("empty", b""),
        ("garbage", b"this is not a signature"),
        ("binary", unarmor(good)),
        ("truncated armor", good[: len(good) // 2]),
        ("no end line", good.replace(b"-----END PGP SIGNATURE-----\n", b"")),
        ("mismatched end", good.replace(b"END PGP SIGNATURE", b"END PGP MESSAGE")),
        ("bogus base64", good.replace(lines[3][:8], b"!!!!****")),
        ("bad padding", good.replace(b"NK2ay45cX1IVAQ==", b"NK2ay45cX1IVAQ=")),
        ("bad crc", _with_bad_crc(good)),
        ("text before armor", b"hello\n" + good),
        ("two blocks", good + good),
        ("key block", RFC9580_CERT),
        ("absurd packet length", armor("PGP SIGNATURE", b"\xc2\xff\xff\xff\xff\xff" + body)),
        ("old-format absurd length", armor("PGP SIGNATURE", b"\x8a\x7f\xff\xff\xff" + body)),
        (
            "partial length on a signature",
            armor("PGP SIGNATURE", b"\xc2\xe9" + body + b"\x00" * 600),
        ),
        ("truncated packet", armor("PGP SIGNATURE", pp.encode_packet(2, body)[:-10])),
        (
            "absurd subpacket length",
            armor(
                "PGP SIGNATURE",
                pp.encode_packet(
                    2,
                    body[:4]
                    + b"\x00\x00\x00\x06"
                    + b"\xff\xff\xff\xff\xf0\x02"
                    + body[4 + 4 + 0x29 :],
                ),
            ),
        ),
        ("trailing bytes", armor("PGP SIGNATURE", pp.encode_packet(2, body + b"\0"))),
        ("two signatures", armor("PGP SIGNATURE", pp.encode_packet(2, body) * 2)),
        ("literal data packet", armor("PGP MESSAGE", pp.encode_packet(11, b"b\0\0\0\0\0hi"))),
        ("key packet", armor("PGP SIGNATURE", pp.encode_packet(6, body))),
        ("reserved tag", armor("PGP SIGNATURE", b"\xc0\x01\x00")),
        ("v5 signature", armor("PGP SIGNATURE", pp.encode_packet(2, b"\x05" + body[1:]))),
        ("no signature packet", armor("PGP SIGNATURE", pp.encode_packet(10, b"PGP"))),
        (
            "certification type",
            armor("PGP SIGNATURE", pp.encode_packet(2, body[:1] + b"\x13" + body[2:])),
        ),
        (
            "v3 with sha256",
            armor(
                "PGP SIGNATURE",
                pp.encode_packet(2, v3 + bytes([1, 8]) + b"\x12\x34" + b"\x00\x09\x01\x02"),
            ),
        ),
        ("too large", b"-----BEGIN PGP SIGNATURE-----\n\n" + b"A" * MAX_SIGNATURE_BYTES),
    ]


def _with_bad_crc(good: bytes) -> bytes:
    data = unarmor(good)
    wrong = (pp.crc24(data) ^ 1).to_bytes(3, "big")
    return armor("PGP SIGNATURE", data).replace(
        b"=" + base64.b64encode(pp.crc24(data).to_bytes(3, "big")), b"=" + base64.b64encode(wrong)
    )


@pytest.mark.parametrize(
    ("what", "signature"), bad_signature_inputs(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_malformed_signatures(what: str, signature: bytes) -> None:
    keyring = OpenPGPKeyring.from_armored(RFC9580_CERT)
    check = verify_openpgp(RFC9580_TEXT, signature, keyring)
    assert verdict(check) == (False, Reason.MALFORMED), (what, check.detail)
    assert check.detail
    info = signature_packet_info(signature)
    if what == "certification type":
        assert info == (6, RFC9580_FPR[:16].lower())  # parsable; Buildx would show it
    elif what == "v5 signature":
        assert info is not None and info[0] == 5
    elif what in ("two signatures", "two blocks"):
        assert info == (6, RFC9580_FPR[:16].lower())  # Buildx takes the first
    elif what == "text before armor":
        assert info == (6, RFC9580_FPR[:16].lower())  # Buildx's armor decoder skips it
    else:
        assert info is None, what


def test_v3_signature_verdicts() -> None:
    # v3 is not supported: MD5/SHA-1 ones are WEAK_HASH, others MALFORMED, but only once
    # the key is known (git's own v1.0.0 tag by an absent key is UNKNOWN_KEY).
    keyring = OpenPGPKeyring.from_armored(RFC9580_CERT)
    key_id = bytes.fromhex(RFC9580_FPR[:16])

    def v3(hash_id: int, kid: bytes = key_id) -> bytes:
        body = bytes([3, 5, 0]) + (1_600_000_000).to_bytes(4, "big") + kid + bytes([27, hash_id])
        return armor("PGP SIGNATURE", pp.encode_packet(2, body + b"\x12\x34" + b"\x01" * 64))

    assert verdict(verify_openpgp(b"x", v3(2), keyring)) == (False, Reason.WEAK_HASH)
    assert verdict(verify_openpgp(b"x", v3(1), keyring, allow_sha1=True)) == (
        False,
        Reason.WEAK_HASH,
    )
    assert verdict(verify_openpgp(b"x", v3(8), keyring)) == (False, Reason.MALFORMED)
    assert verdict(verify_openpgp(b"x", v3(2, b"\1" * 8), keyring)) == (False, Reason.UNKNOWN_KEY)
    assert signature_packet_info(v3(8)) is None


def bad_keyring_inputs() -> list[tuple[str, bytes]]:
    data = unarmor(RFC9580_CERT)
    return [
        ("empty", b""),
        ("blank", b"  \n\n"),
        ("garbage", b"this is not a key"),
        ("binary keyring", data),
        ("pgp message", armor("PGP MESSAGE", data)),
        ("signature block", RFC9580_SIG),
        ("truncated armor", RFC9580_CERT[: len(RFC9580_CERT) // 2]),
        ("bad crc", _bad_crc_key(data)),
        ("bogus base64", RFC9580_CERT.replace(b"xioGY4d", b"x!oGY4d")),
        ("truncated packet", armor("PGP PUBLIC KEY BLOCK", data[:-5])),
        ("absurd packet length", armor("PGP PUBLIC KEY BLOCK", b"\xc6\xff\x7f\xff\xff\xff" + data)),
        (
            "signature before key",
            armor("PGP PUBLIC KEY BLOCK", pp.encode_packet(2, _rfc_sig_packet()) + data),
        ),
        (
            "literal data in a key block",
            armor("PGP PUBLIC KEY BLOCK", data + pp.encode_packet(11, b"b\0\0\0\0\0x")),
        ),
        (
            "truncated key packet",
            armor("PGP PUBLIC KEY BLOCK", pp.encode_packet(6, b"\x04\x00\x00\x00\x00\x01\x00\x10")),
        ),
        (
            "only a v3 key",
            armor("PGP PUBLIC KEY BLOCK", pp.encode_packet(6, b"\x03" + b"\x00" * 10)),
        ),
    ]


def _bad_crc_key(data: bytes) -> bytes:
    right = base64.b64encode(pp.crc24(data).to_bytes(3, "big"))
    wrong = base64.b64encode((pp.crc24(data) ^ 0x800000).to_bytes(3, "big"))
    return armor("PGP PUBLIC KEY BLOCK", data).replace(b"=" + right, b"=" + wrong)


@pytest.mark.parametrize(
    ("what", "data"), bad_keyring_inputs(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_malformed_keyrings(what: str, data: bytes) -> None:
    with pytest.raises(PolicyConfigError) as info:
        OpenPGPKeyring.from_armored(data)
    assert str(info.value), what


def test_keyring_error_messages_say_what_to_do() -> None:
    with pytest.raises(PolicyConfigError, match=r"binary.*--armor"):
        OpenPGPKeyring.from_armored(unarmor(RFC9580_CERT))
    with pytest.raises(PolicyConfigError, match="'PGP MESSAGE', not a PGP PUBLIC KEY BLOCK"):
        OpenPGPKeyring.from_armored(armor("PGP MESSAGE", b"\xc6\x00"))
    with pytest.raises(PolicyConfigError, match="more than the limit of 100"):
        OpenPGPKeyring.from_armored(RFC9580_CERT, max_bytes=100)
    with pytest.raises(PolicyConfigError, match="limit of 524288"):
        OpenPGPKeyring.from_armored(RFC9580_CERT + b"\n" * (512 * 1024))
    with pytest.raises(PolicyConfigError, match="CRC-24"):
        OpenPGPKeyring.from_armored(_bad_crc_key(unarmor(RFC9580_CERT)))
    with pytest.raises(PolicyConfigError, match=r"no usable keys.*version 3"):
        OpenPGPKeyring.from_armored(
            armor("PGP PUBLIC KEY BLOCK", pp.encode_packet(6, b"\x03" + b"\x00" * 10))
        )


def test_unsupported_key_versions_are_skipped_not_fatal() -> None:
    v3_key = pp.encode_packet(6, b"\x03" + b"\x00" * 10) + pp.encode_packet(13, b"old")
    keyring = OpenPGPKeyring.from_armored(
        armor("PGP PUBLIC KEY BLOCK", v3_key + unarmor(RFC9580_CERT))
    )
    assert keyring.fingerprints == (RFC9580_FPR,)
    assert len(keyring.skipped) == 1 and "version 3" in keyring.skipped[0]
    assert verify_openpgp(RFC9580_TEXT, RFC9580_SIG, keyring).verified


# --- fuzzing: only SignatureCheck / None / PolicyConfigError, and quickly ----------------

FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _fuzz_targets() -> list[tuple[bytes, bytes, OpenPGPKeyring]]:
    targets = [(RFC9580_TEXT, RFC9580_SIG, OpenPGPKeyring.from_armored(RFC9580_CERT))]
    if GIT_GIT.is_dir():
        _, payload, signature = git_git_tag("v2.55.0")
        key = OpenPGPKeyring.from_armored((GIT_GIT / "junio-gpg-pub.asc").read_bytes())
        targets.append((payload, signature, key))
    return targets


TARGETS = _fuzz_targets()


def _timed(fn: Callable[..., T], *args: object, **kwargs: object) -> T:
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    assert time.perf_counter() - start < 1.0, "one call must never take a second"
    return result


@FUZZ
@given(st.binary(max_size=4096), st.integers(0, len(TARGETS) - 1))
def test_fuzz_random_bytes(data: bytes, which: int) -> None:
    payload, _, keyring = TARGETS[which]
    assert isinstance(_timed(verify_openpgp, payload, data, keyring), SignatureCheck)
    assert isinstance(
        _timed(verify_openpgp, payload, armor("PGP SIGNATURE", data), keyring), SignatureCheck
    )
    info = _timed(signature_packet_info, armor("PGP SIGNATURE", data))
    assert info is None or (isinstance(info[0], int) and len(info[1]) in (0, 16))


@FUZZ
@given(st.data(), st.integers(0, len(TARGETS) - 1))
def test_fuzz_mutated_real_signatures(data: st.DataObject, which: int) -> None:
    payload, signature, keyring = TARGETS[which]
    raw = bytearray(unarmor(signature))
    for _ in range(data.draw(st.integers(1, 8))):
        op = data.draw(st.sampled_from(["flip", "insert", "delete", "set"]))
        pos = data.draw(st.integers(0, max(len(raw) - 1, 0)))
        if op == "flip" and raw:
            raw[pos] ^= 1 << data.draw(st.integers(0, 7))
        elif op == "insert":
            raw[pos:pos] = data.draw(st.binary(min_size=1, max_size=8))
        elif op == "delete" and raw:
            del raw[pos : pos + data.draw(st.integers(1, 8))]
        elif raw:
            raw[pos] = data.draw(st.sampled_from([0, 0xFF, 0xC0, 0x80, 0x7F, 0xE0]))
    mutated = armor("PGP SIGNATURE", bytes(raw))
    check = _timed(verify_openpgp, payload, mutated, keyring, allow_sha1=True)
    assert isinstance(check, SignatureCheck)
    if check.verified:  # e.g. a mutated unhashed key id: the real key still verifies
        assert check.signer is not None
        assert check.signer.primary_fingerprint in keyring.fingerprints
    info = _timed(signature_packet_info, mutated)
    assert info is None or isinstance(info, tuple)


@FUZZ
@given(st.data())
def test_fuzz_mutated_keyrings(data: st.DataObject) -> None:
    sources = [RFC9580_CERT]
    if GIT_GIT.is_dir():
        sources.append((GIT_GIT / "junio-gpg-pub.asc").read_bytes())
    raw = bytearray(unarmor(data.draw(st.sampled_from(sources))))
    for _ in range(data.draw(st.integers(1, 6))):
        pos = data.draw(st.integers(0, len(raw) - 1))
        raw[pos] = data.draw(st.integers(0, 255))
    try:
        keyring = _timed(OpenPGPKeyring.from_armored, armor("PGP PUBLIC KEY BLOCK", bytes(raw)))
    except PolicyConfigError:
        return
    for payload, signature, _ in TARGETS:
        assert isinstance(_timed(verify_openpgp, payload, signature, keyring), SignatureCheck)


# --- performance -------------------------------------------------------------------------


@needs_git_git
def test_verify_is_fast(junio: OpenPGPKeyring) -> None:
    _, payload, signature = git_git_tag("v2.55.0")
    assert verify_openpgp(payload, signature, junio).verified  # validates the key once
    times = []
    for _ in range(200):
        start = time.perf_counter()
        verify_openpgp(payload, signature, junio)
        times.append(time.perf_counter() - start)
    assert statistics.median(times) < 0.001


def test_large_keyring_parses_quickly() -> None:
    # ~512 KiB of armored keys: many distinct v6 certificates plus git.git's key
    blocks: list[bytes] = []
    size = 0
    base = unarmor(RFC9580_CERT)
    while size < 500 * 1024:
        # a distinct fingerprint per copy: change the creation time of the primary key
        variant = bytearray(base)
        variant[3:7] = (0x63877FE3 + len(blocks)).to_bytes(4, "big")
        blocks.append(armor("PGP PUBLIC KEY BLOCK", bytes(variant)))
        size += len(blocks[-1])
    data = b"".join(blocks)
    assert len(data) <= 512 * 1024
    best = min(_parse_time(data) for _ in range(3))
    keyring = OpenPGPKeyring.from_armored(data)
    assert len(keyring) > 500
    assert best < 0.1, f"parsing {len(data)} bytes took {best * 1000:.1f} ms"


def _parse_time(data: bytes) -> float:
    start = time.perf_counter()
    OpenPGPKeyring.from_armored(data)
    return time.perf_counter() - start


def test_crc24_matches_the_bitwise_definition() -> None:
    def reference(data: bytes) -> int:
        crc = 0xB704CE
        for b in data:
            crc ^= b << 16
            for _ in range(8):
                crc <<= 1
                if crc & 0x1000000:
                    crc ^= 0x1864CFB
        return crc & 0xFFFFFF

    for size in (0, 1, 2, 63, 64, 65, 2047, 2048, 2049, 5000, 20001):
        data = bytes((i * 131 + size) % 256 for i in range(size))
        assert pp.crc24(data) == reference(data), size

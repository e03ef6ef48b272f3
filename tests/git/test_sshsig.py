"""SSHSIG verification, checked against real ssh-keygen and git as oracles.

Every oracle case runs buildsig and ``ssh-keygen -Y verify`` on the same bytes and asserts
the same verdict, except where buildsig is deliberately stricter (documented in
:mod:`buildsig.git.sshsig`; those cases say what ssh-keygen answers instead).
"""

from __future__ import annotations

import base64
import glob
import re
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.serialization import SSHCertificate as CryptoCertificate
from cryptography.hazmat.primitives.serialization import load_ssh_public_identity
from dulwich.object_format import SHA1, SHA256
from dulwich.objects import Commit, Tag
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from buildsig.errors import InvalidInputError, PolicyConfigError
from buildsig.git.allowed_signers import AllowedSigners, RevocationList
from buildsig.git.result import Reason, SignatureCheck
from buildsig.git.sshsig import (
    SSHPublicKey,
    SSHSignatureBlob,
    load_authorized_key,
    parse_sshsig,
    ssh_fingerprint,
    sshsig_info,
    verify_sshsig,
)

from .sshkit import (
    GIT,
    SSH_KEYGEN,
    GitRepo,
    Key,
    Kit,
    Signer,
    SKKey,
    armor,
    dearmor,
    ecdsa_signer,
    ed25519_signer,
    hand_sshsig,
    rsa_signer,
    ssh_mpint,
    ssh_string,
    sshsig_blob,
)

pytestmark = pytest.mark.skipif(
    SSH_KEYGEN is None, reason="ssh-keygen is not installed (apt-get install -y openssh-client)"
)

OPENSSH = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "git" / "openssh"
needs_openssh_data = pytest.mark.skipif(
    not (OPENSSH / "allowed_signers").is_file(),
    reason=f"real openssh-portable objects not found at {OPENSSH} (../shared/data is absent)",
)

PAYLOAD = b"object 0123456789abcdef0123456789abcdef01234567\ntype commit\ntag v1\n\nrelease\n"
ALICE = "alice@example.com"
BOB = "bob@example.com"
FIXED = datetime(2024, 6, 1, tzinfo=UTC)


# --- shared material --------------------------------------------------------------------


@dataclass
class Material:
    """Keys and certificates made once per session."""

    kit: Kit
    keys: dict[str, Key]
    sk: dict[str, SKKey]
    certs: dict[str, Key]


@pytest.fixture(scope="session")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Kit:
    return Kit(tmp_path_factory.mktemp("sshkit"))


@pytest.fixture(scope="session")
def material(kit: Kit) -> Material:
    keys = {
        "ed25519": kit.keygen("ed25519", "ed25519"),
        "ecdsa256": kit.keygen("ecdsa256", "ecdsa", 256),
        "ecdsa384": kit.keygen("ecdsa384", "ecdsa", 384),
        "ecdsa521": kit.keygen("ecdsa521", "ecdsa", 521),
        "rsa2048": kit.keygen("rsa2048", "rsa", 2048),
        "rsa3072": kit.keygen("rsa3072", "rsa", 3072),
        "rsa1024": kit.keygen("rsa1024", "rsa", 1024),
        "dsa": kit.keygen("dsa", "dsa"),
        "ca": kit.keygen("ca", "ed25519"),
        "ca_rsa": kit.keygen("ca_rsa", "rsa", 3072),
        "stranger": kit.keygen("stranger", "ed25519"),
    }
    sk = {
        "sk_ed25519": SKKey.ed25519(),
        "sk_ecdsa": SKKey.ecdsa(),
        "sk_ecdsa_git": SKKey.ecdsa("ssh:git-signing"),
    }
    ca = keys["ca"]
    certs = {
        "cert": kit.certify(keys["ed25519"], ca, name="cert", serial=7),
        "cert_ecdsa": kit.certify(keys["ecdsa256"], ca, name="cert_ecdsa"),
        "cert_expired": kit.certify(
            keys["ed25519"], ca, name="cert_expired", validity="20200101:20200201"
        ),
        "cert_future": kit.certify(
            keys["ed25519"], ca, name="cert_future", validity="20990101:20990201"
        ),
        "cert_host": kit.certify(keys["ed25519"], ca, name="cert_host", host=True),
        "cert_noprincipals": kit.certify(keys["ed25519"], ca, name="cert_noprinc", principals=()),
        "cert_rsa_ca": kit.certify(keys["ed25519"], keys["ca_rsa"], name="cert_rsa_ca"),
        "cert_rsa_ca_sha1": kit.certify(
            keys["ed25519"], keys["ca_rsa"], name="cert_rsa_ca_sha1", ca_algorithm="ssh-rsa"
        ),
        "cert_sk": kit.certify(sk["sk_ecdsa"], ca, name="cert_sk"),
        "cert_sk_ed25519": kit.certify(sk["sk_ed25519"], ca, name="cert_sk_ed25519"),
    }
    return Material(kit, keys, sk, certs)


# --- oracle cases -----------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    signature: bytes
    allowed: str
    expect: Reason | None  # buildsig's verdict (None = verified)
    principal: str = ALICE
    payload: bytes = PAYLOAD
    signed: bytes = PAYLOAD  # what the signature was made over
    when: datetime | None = None
    revoked: Path | None = None
    oracle: bool | None = None  # ssh-keygen's verdict when it differs from buildsig's


CASES: dict[str, Callable[[Material], Case]] = {}


def case(name: str) -> Callable[[Callable[[Material], Case]], Callable[[Material], Case]]:
    def register(fn: Callable[[Material], Case]) -> Callable[[Material], Case]:
        CASES[name] = fn
        return fn

    return register


def _ed25519(key: Key) -> Signer:
    priv = key.crypto()
    assert isinstance(priv, ed25519.Ed25519PrivateKey)
    return ed25519_signer(priv)


def line(principals: str, key: Key | SKKey, options: str = "", *, cert: bool = False) -> str:
    text = key.cert_line if cert and isinstance(key, Key) else key.line
    return " ".join(p for p in (principals, options, text) if p) + "\n"


def _keygen_case(name: str) -> None:
    @case(name)
    def build(m: Material) -> Case:
        key = m.keys[name]
        return Case(m.kit.sign(key, PAYLOAD), line(ALICE, key), None)


for _name in ("ed25519", "ecdsa256", "ecdsa384", "ecdsa521", "rsa2048", "rsa3072"):
    _keygen_case(_name)


@case("rsa1024-weak")
def _(m: Material) -> Case:
    key = m.keys["rsa1024"]
    return Case(m.kit.sign(key, PAYLOAD), line(ALICE, key), Reason.WEAK_KEY, oracle=True)


@case("dsa-weak")
def _(m: Material) -> Case:
    key = m.keys["dsa"]
    return Case(m.kit.sign(key, PAYLOAD), line(ALICE, key), Reason.WEAK_KEY, oracle=True)


def _hand(m: Material, name: str, algorithm: str, hash_alg: str = "sha512") -> Case:
    key = m.keys[name]
    priv = key.crypto()
    if isinstance(priv, ed25519.Ed25519PrivateKey):
        signer = ed25519_signer(priv)
    elif isinstance(priv, ec.EllipticCurvePrivateKey):
        signer = ecdsa_signer(priv)
    else:
        signer = rsa_signer(priv, algorithm)
    sig = hand_sshsig(key.blob, signer, PAYLOAD, hash_alg=hash_alg)
    return Case(sig, line(ALICE, key), None)


case("ed25519-sha256")(lambda m: _hand(m, "ed25519", "ed25519", "sha256"))
case("ecdsa256-sha256")(lambda m: _hand(m, "ecdsa256", "ecdsa", "sha256"))
case("ecdsa521-sha256")(lambda m: _hand(m, "ecdsa521", "ecdsa", "sha256"))
case("rsa-sha2-256")(lambda m: _hand(m, "rsa3072", "rsa-sha2-256"))
case("rsa-sha2-256-sha256")(lambda m: _hand(m, "rsa3072", "rsa-sha2-256", "sha256"))
case("rsa-sha2-512-hand")(lambda m: _hand(m, "rsa2048", "rsa-sha2-512"))


@case("rsa-ssh-rsa-sha1")
def _(m: Material) -> Case:
    return replace(_hand(m, "rsa3072", "ssh-rsa"), expect=Reason.WEAK_HASH)


def _sk_case(name: str, which: str, flags: int) -> None:
    @case(name)
    def build(m: Material) -> Case:
        key = m.sk[which]
        sig = hand_sshsig(key.blob, key.signer(flags=flags, counter=4373), PAYLOAD)
        return Case(sig, line(ALICE, key), None)


for _which in ("sk_ed25519", "sk_ecdsa"):
    for _flags in (0x00, 0x01, 0x05):
        _sk_case(f"{_which}-flags{_flags:02x}", _which, _flags)
_sk_case("sk_ecdsa-other-application", "sk_ecdsa_git", 0x01)


@case("sk_ecdsa-wrong-application")
def _(m: Material) -> Case:
    key = m.sk["sk_ecdsa"]
    liar = SKKey(key.kind, key.private, "ssh:other")
    sig = hand_sshsig(key.blob, liar.signer(), PAYLOAD)
    return Case(sig, line(ALICE, key), Reason.BAD_SIGNATURE)


@case("reserved-field-set")
def _(m: Material) -> Case:
    key = m.keys["ed25519"]
    sig = hand_sshsig(key.blob, _ed25519(key), PAYLOAD, reserved=b"future")
    return Case(sig, line(ALICE, key), None)


@case("reserved-field-signed")
def _(m: Material) -> Case:
    key = m.keys["ed25519"]
    sig = hand_sshsig(key.blob, _ed25519(key), PAYLOAD, reserved=b"x", sign_reserved=True)
    return Case(sig, line(ALICE, key), Reason.BAD_SIGNATURE)


@case("tampered-payload")
def _(m: Material) -> Case:
    key = m.keys["ed25519"]
    return Case(
        m.kit.sign(key, PAYLOAD), line(ALICE, key), Reason.BAD_SIGNATURE, payload=PAYLOAD + b" "
    )


@case("tampered-payload-ecdsa")
def _(m: Material) -> Case:
    key = m.keys["ecdsa384"]
    return Case(
        m.kit.sign(key, PAYLOAD),
        line(ALICE, key),
        Reason.BAD_SIGNATURE,
        payload=PAYLOAD.replace(b"v1", b"v2"),
    )


@case("tampered-payload-sk")
def _(m: Material) -> Case:
    key = m.sk["sk_ecdsa"]
    sig = hand_sshsig(key.blob, key.signer(), PAYLOAD)
    return Case(sig, line(ALICE, key), Reason.BAD_SIGNATURE, payload=PAYLOAD[:-1])


@case("namespace-file")
def _(m: Material) -> Case:
    key = m.keys["ed25519"]
    return Case(m.kit.sign(key, PAYLOAD, namespace="file"), line(ALICE, key), Reason.NOT_ALLOWED)


def _option_case(name: str, options: str, expect: Reason | None) -> None:
    @case(name)
    def build(m: Material) -> Case:
        key = m.keys["ed25519"]
        return Case(m.kit.sign(key, PAYLOAD), line(ALICE, key, options), expect)


_option_case("namespaces-file-only", 'namespaces="file"', Reason.NOT_ALLOWED)
_option_case("namespaces-git-file", 'namespaces="git,file"', None)
_option_case("namespaces-pattern", 'namespaces="g?t"', None)
_option_case("namespaces-negated", 'namespaces="*,!git"', Reason.NOT_ALLOWED)
_option_case("namespaces-upper-option-name", 'NAMESPACES="git"', None)


@case("unknown-key")
def _(m: Material) -> Case:
    return Case(
        m.kit.sign(m.keys["ed25519"], PAYLOAD), line(ALICE, m.keys["stranger"]), Reason.UNKNOWN_KEY
    )


@case("empty-allowed-signers")
def _(m: Material) -> Case:
    return Case(m.kit.sign(m.keys["ed25519"], PAYLOAD), "# nobody\n\n", Reason.UNKNOWN_KEY)


def _window_case(name: str, options: str, when: datetime, expect: Reason | None) -> None:
    @case(name)
    def build(m: Material) -> Case:
        key = m.keys["ed25519"]
        return Case(m.kit.sign(key, PAYLOAD), line(ALICE, key, options), expect, when=when)


_window_case("valid-before-past", 'valid-before="20240101"', FIXED, Reason.NOT_ALLOWED)
_window_case("valid-after-future", 'valid-after="20250101"', FIXED, Reason.NOT_ALLOWED)
_window_case("window-inside", 'valid-after="20240101",valid-before="20250101Z"', FIXED, None)
_window_case("valid-before-boundary", 'valid-before="20240601000000Z"', FIXED, None)
_window_case(
    "valid-before-boundary+1s",
    'valid-before="20240601000000Z"',
    FIXED + timedelta(seconds=1),
    Reason.NOT_ALLOWED,
)
_window_case("valid-after-boundary", 'valid-after="202406010000Z"', FIXED, None)
_window_case(
    "valid-after-boundary-1s",
    'valid-after="202406010000Z"',
    FIXED - timedelta(seconds=1),
    Reason.NOT_ALLOWED,
)


@case("unrelated-expired-line")
def _(m: Material) -> Case:
    key = m.keys["ed25519"]
    allowed = line(ALICE, m.keys["stranger"], 'valid-before="20200101"') + line(ALICE, key)
    return Case(m.kit.sign(key, PAYLOAD), allowed, None, when=FIXED)


@case("same-key-expired-then-valid")
def _(m: Material) -> Case:
    key = m.keys["ed25519"]
    allowed = line(ALICE, key, 'valid-before="20200101"') + line(ALICE, key)
    return Case(m.kit.sign(key, PAYLOAD), allowed, None, when=FIXED)


@case("same-key-expired-only")
def _(m: Material) -> Case:
    key = m.keys["ed25519"]
    allowed = line(ALICE, key, 'valid-before="20200101"') + line(BOB, m.keys["stranger"])
    return Case(m.kit.sign(key, PAYLOAD), allowed, Reason.NOT_ALLOWED, when=FIXED)


def _principal_case(name: str, principals: str, principal: str, expect: Reason | None) -> None:
    @case(name)
    def build(m: Material) -> Case:
        key = m.keys["ed25519"]
        return Case(m.kit.sign(key, PAYLOAD), line(principals, key), expect, principal=principal)


_principal_case("principal-wildcard", "*@example.com", ALICE, None)
_principal_case("principal-negated", "*@example.com,!alice@example.com", ALICE, Reason.NOT_ALLOWED)
_principal_case("principal-negation-other", "*@example.com,!alice@example.com", BOB, None)
_principal_case("principal-question-mark", "a?ice@example.com", ALICE, None)
_principal_case("principal-case-sensitive", "ALICE@example.com", ALICE, Reason.NOT_ALLOWED)
_principal_case(
    "principal-not-listed", "bob@example.com,carol@example.com", ALICE, Reason.NOT_ALLOWED
)
_principal_case("principal-list", "bob@example.com,alice@example.com", ALICE, None)
_principal_case("principal-quoted", '"alice smith"', "alice smith", None)


def _revocation_case(name: str, revoke: Callable[[Material], Path], expect: Reason | None) -> None:
    @case(name)
    def build(m: Material) -> Case:
        key = m.keys["ed25519"]
        return Case(m.kit.sign(key, PAYLOAD), line(ALICE, key), expect, revoked=revoke(m))


_revocation_case(
    "revoked-key", lambda m: m.kit.write("rev", m.keys["ed25519"].line + "\n"), Reason.REVOKED_KEY
)
_revocation_case(
    "revoked-key-with-principal-prefix",
    lambda m: m.kit.write("rev", "# revoked\n\nalice " + m.keys["ed25519"].line + "\n"),
    Reason.REVOKED_KEY,
)
_revocation_case(
    "revoked-other-key", lambda m: m.kit.write("rev", m.keys["stranger"].line + "\n"), None
)
_revocation_case("revoked-empty-list", lambda m: m.kit.write("rev", ""), None)
_revocation_case(
    "revoked-by-cert-line",
    lambda m: m.kit.write("rev", m.certs["cert"].cert_line + "\n"),
    Reason.REVOKED_KEY,
)
_revocation_case("krl-key", lambda m: m.kit.krl(keys=[m.keys["ed25519"].pub]), Reason.REVOKED_KEY)
_revocation_case(
    "krl-sha1",
    lambda m: m.kit.krl(spec=["sha1: " + m.keys["ed25519"].line]),
    Reason.REVOKED_KEY,
)
_revocation_case(
    "krl-sha256",
    lambda m: m.kit.krl(spec=["sha256: " + m.keys["ed25519"].line]),
    Reason.REVOKED_KEY,
)
_revocation_case(
    "krl-hash",
    lambda m: m.kit.krl(
        spec=["hash: " + SSHPublicKey.from_blob(m.keys["ed25519"].blob).fingerprint]
    ),
    Reason.REVOKED_KEY,
)
_revocation_case("krl-other", lambda m: m.kit.krl(keys=[m.keys["stranger"].pub]), None)


def _cert_case(
    name: str,
    cert: str,
    expect: Reason | None,
    *,
    principals: str = "*@example.com",
    principal: str = ALICE,
    options: str = "",
    when: datetime | None = None,
    revoke: Callable[[Material], Path] | None = None,
    oracle: bool | None = None,
    ca: str = "ca",
) -> None:
    @case(name)
    def build(m: Material) -> Case:
        c = m.certs[cert]
        allowed = line(principals, m.keys[ca], ("cert-authority," + options).rstrip(","))
        return Case(
            m.kit.sign(c, PAYLOAD),
            allowed,
            expect,
            principal=principal,
            when=when,
            revoked=None if revoke is None else revoke(m),
            oracle=oracle,
        )


_cert_case("cert", "cert", None)
_cert_case("cert-bob", "cert", None, principal=BOB)
_cert_case("cert-ecdsa", "cert_ecdsa", None)
_cert_case("cert-namespaces", "cert", None, options='namespaces="git"')
_cert_case("cert-namespaces-file", "cert", Reason.NOT_ALLOWED, options='namespaces="file"')
_cert_case("cert-principal-not-in-cert", "cert", Reason.NOT_ALLOWED, principal="carol@example.com")
_cert_case(
    "cert-ca-line-negation",
    "cert",
    Reason.NOT_ALLOWED,
    principals="*@example.com,!alice@example.com",
)
_cert_case(
    "cert-ca-line-negation-other", "cert", None, principals="*,!alice@example.com", principal=BOB
)
_cert_case("cert-expired", "cert_expired", Reason.EXPIRED_KEY)
_cert_case(
    "cert-expired-valid-at-signer-time",
    "cert_expired",
    None,
    when=datetime(2020, 1, 15, tzinfo=UTC),
)
_cert_case("cert-not-yet-valid", "cert_future", Reason.NOT_ALLOWED)
_cert_case("cert-host", "cert_host", Reason.NOT_ALLOWED)
_cert_case("cert-without-principals", "cert_noprincipals", Reason.NOT_ALLOWED)
_cert_case("cert-rsa-ca", "cert_rsa_ca", None, ca="ca_rsa")
_cert_case("cert-rsa-ca-sha1", "cert_rsa_ca_sha1", Reason.WEAK_HASH, ca="ca_rsa", oracle=True)
_cert_case(
    "cert-window-excludes",
    "cert",
    Reason.NOT_ALLOWED,
    options='valid-before="20200101"',
)
_cert_case(
    "cert-revoked-ca",
    "cert",
    Reason.REVOKED_KEY,
    revoke=lambda m: m.kit.write("rev", m.keys["ca"].line + "\n"),
)
_cert_case(
    "cert-revoked-key",
    "cert",
    Reason.REVOKED_KEY,
    revoke=lambda m: m.kit.write("rev", m.keys["ed25519"].line + "\n"),
)
_cert_case(
    "cert-krl-serial-range",
    "cert",
    Reason.REVOKED_KEY,
    revoke=lambda m: m.kit.krl(spec=["serial: 5-9"], ca=m.keys["ca"]),
)
_cert_case(
    "cert-krl-serial-other",
    "cert",
    None,
    revoke=lambda m: m.kit.krl(spec=["serial: 8", "serial: 100-200"], ca=m.keys["ca"]),
)
_cert_case(
    "cert-krl-key-id",
    "cert",
    Reason.REVOKED_KEY,
    revoke=lambda m: m.kit.krl(spec=["id: test-id"], ca=m.keys["ca"]),
)
_cert_case(
    "cert-krl-other-ca",
    "cert",
    None,
    revoke=lambda m: m.kit.krl(spec=["serial: 7", "id: test-id"], ca=m.keys["ca_rsa"]),
)
_cert_case(
    "cert-krl-by-cert-file",
    "cert",
    Reason.REVOKED_KEY,
    revoke=lambda m: m.kit.krl(keys=[m.certs["cert"].cert or Path()], ca=m.keys["ca"]),
)


@case("cert-plain-line-for-its-key")
def _(m: Material) -> Case:
    c = m.certs["cert"]
    return Case(m.kit.sign(c, PAYLOAD), line(ALICE, m.keys["ed25519"]), Reason.UNKNOWN_KEY)


@case("cert-ca-key-without-cert-authority")
def _(m: Material) -> Case:
    c = m.certs["cert"]
    return Case(m.kit.sign(c, PAYLOAD), line(ALICE, m.keys["ca"]), Reason.UNKNOWN_KEY)


@case("cert-exact-certificate-line")
def _(m: Material) -> Case:
    c = m.certs["cert"]
    return Case(m.kit.sign(c, PAYLOAD), line(ALICE, c, cert=True), None)


@case("cert-authority-line-plain-signature")
def _(m: Material) -> Case:
    key = m.keys["ed25519"]
    return Case(m.kit.sign(key, PAYLOAD), line(ALICE, key, "cert-authority"), Reason.UNKNOWN_KEY)


def _sk_cert_case(name: str, which: str, cert: str) -> None:
    @case(name)
    def build(m: Material) -> Case:
        sk = m.sk[which]
        c = m.certs[cert]
        sig = hand_sshsig(c.cert_blob, sk.signer(flags=0), PAYLOAD)
        return Case(sig, line("*@example.com", m.keys["ca"], "cert-authority"), None)


_sk_cert_case("cert-sk-ecdsa", "sk_ecdsa", "cert_sk")
_sk_cert_case("cert-sk-ed25519", "sk_ed25519", "cert_sk_ed25519")


@pytest.mark.parametrize("name", sorted(CASES))
def test_agrees_with_ssh_keygen(name: str, material: Material) -> None:
    c = CASES[name](material)
    revoked = None if c.revoked is None else RevocationList.from_file(c.revoked)
    result = verify_sshsig(
        c.payload,
        c.signature,
        allowed_signers=AllowedSigners.parse(c.allowed),
        principal=c.principal,
        signer_time=c.when,
        revoked=revoked,
    )
    assert isinstance(result, SignatureCheck)
    assert result.reason == c.expect, result.detail
    ok, output = material.kit.verify(
        c.payload,
        c.signature,
        allowed=c.allowed,
        principal=c.principal,
        when=c.when,
        revoked=c.revoked,
    )
    expected_oracle = (c.expect is None) if c.oracle is None else c.oracle
    assert ok == expected_oracle, output
    if result.verified:
        assert result.signer is not None
        assert result.signer.principal == c.principal
        assert result.signer.format == "ssh"
        # The fingerprint and key type we report are the ones ssh-keygen prints.
        fp = re.search(r"with (\S+) key (SHA256:\S+)", output)
        assert fp is not None, output
        assert result.signer.signing_fingerprint == fp.group(2)
        assert result.detail.endswith(f"with {fp.group(1)} key {fp.group(2)}")


def test_every_case_is_registered() -> None:
    assert len(CASES) >= 90


# --- identity details -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "algorithm"),
    [
        ("ed25519", "ed25519"),
        ("ecdsa256", "ecdsa-p256"),
        ("ecdsa384", "ecdsa-p384"),
        ("ecdsa521", "ecdsa-p521"),
        ("rsa2048", "rsa2048"),
        ("rsa3072", "rsa3072"),
        ("sk_ecdsa-flags00", "sk-ecdsa-p256"),
        ("sk_ed25519-flags01", "sk-ed25519"),
        ("cert", "ed25519-cert"),
        ("cert-sk-ecdsa", "sk-ecdsa-p256-cert"),
        ("ed25519-sha256", "ed25519"),
    ],
)
def test_signer_identity(name: str, algorithm: str, material: Material) -> None:
    c = CASES[name](material)
    when = datetime.now(UTC)
    result = verify_sshsig(
        c.payload, c.signature, allowed_signers=AllowedSigners.parse(c.allowed), signer_time=when
    )
    assert result.verified, result.detail
    signer = result.signer
    assert signer is not None
    assert signer.algorithm == algorithm
    assert signer.signed_at == when
    assert signer.hash_algorithm == parse_sshsig(c.signature).hash_algorithm
    assert signer.primary_fingerprint == signer.signing_fingerprint
    assert signer.principal == ALICE  # the first principal git would report
    if "cert" in name:
        ca = SSHPublicKey.from_blob(material.keys["ca"].blob)
        assert signer.ca_fingerprint == ca.fingerprint
        # For certificates: the certified key's fingerprint, as ssh-keygen prints it.
        embedded = SSHPublicKey.from_blob(parse_sshsig(c.signature).public_key)
        assert embedded.certificate is not None
        assert signer.signing_fingerprint == embedded.certificate.certified_key.fingerprint
    else:
        assert signer.ca_fingerprint == ""
    assert result.to_dict()["signer"]["format"] == "ssh"


def test_failed_check_still_names_the_key(material: Material) -> None:
    key = material.keys["ed25519"]
    sig = material.kit.sign(key, PAYLOAD)
    result = verify_sshsig(PAYLOAD + b"x", sig, keys=[SSHPublicKey.from_blob(key.blob)])
    assert result.reason is Reason.BAD_SIGNATURE
    assert result.signer is not None
    assert result.signer.signing_fingerprint == ssh_fingerprint(key.blob)
    assert result.signer.principal == ""


@pytest.mark.parametrize("name", ["ed25519", "ecdsa256", "rsa3072", "dsa", "rsa1024"])
def test_fingerprint_matches_ssh_keygen(name: str, material: Material) -> None:
    key = material.keys[name]
    out = material.kit.run("ssh-keygen", "-l", "-E", "sha256", "-f", key.pub).stdout.decode()
    assert ssh_fingerprint(key.blob) == out.split()[1]
    assert SSHPublicKey.from_authorized_line(key.pub.read_text()).fingerprint == out.split()[1]


def test_certificate_fields_agree_with_cryptography(material: Material) -> None:
    for name in ("cert", "cert_ecdsa", "cert_rsa_ca", "cert_host", "cert_expired"):
        c = material.certs[name]
        ours = SSHPublicKey.from_blob(c.cert_blob)
        cert = ours.certificate
        assert cert is not None
        theirs = load_ssh_public_identity(c.cert_line.encode())
        assert isinstance(theirs, CryptoCertificate)
        assert cert.principals == tuple(p.decode() for p in theirs.valid_principals)
        assert cert.valid_after == theirs.valid_after
        assert cert.valid_before == theirs.valid_before
        assert cert.serial == theirs.serial
        assert cert.key_id == theirs.key_id.decode()
        assert cert.cert_type == theirs.type.value
        assert ours.public_key == theirs.public_key()
        assert cert.signature_key.public_key == theirs.signature_key()
        theirs.verify_cert_signature()


# --- Buildx single-key mode -------------------------------------------------------------


def test_keys_mode_accepts_the_pinned_key(material: Material) -> None:
    key = material.keys["ecdsa256"]
    sig = material.kit.sign(key, PAYLOAD)
    pinned = load_authorized_key(key.pub.read_bytes())
    result = verify_sshsig(PAYLOAD, sig, keys=[pinned])
    assert result.verified, result.detail
    assert result.signer is not None
    assert result.signer.principal == ""
    other = load_authorized_key(material.keys["stranger"].pub.read_text())
    refused = verify_sshsig(PAYLOAD, sig, keys=[other])
    assert refused.reason is Reason.UNKNOWN_KEY
    assert verify_sshsig(PAYLOAD, sig).reason is Reason.UNKNOWN_KEY
    # Namespace and payload are still checked.
    assert verify_sshsig(PAYLOAD + b"!", sig, keys=[pinned]).reason is Reason.BAD_SIGNATURE
    file_sig = material.kit.sign(key, PAYLOAD, namespace="file")
    assert verify_sshsig(PAYLOAD, file_sig, keys=[pinned]).reason is Reason.NOT_ALLOWED


def test_keys_mode_accepts_an_allowed_signers_line(material: Material) -> None:
    key = material.keys["ed25519"]
    sig = material.kit.sign(key, PAYLOAD)
    text = f"# trusted\n\nalice@example.com {key.line} alice\n"
    assert verify_sshsig(PAYLOAD, sig, keys=[load_authorized_key(text)]).verified
    # A second option field is more than one token: Buildx cannot parse that line.
    with pytest.raises(PolicyConfigError):
        load_authorized_key(f'alice@example.com namespaces="git" {key.line}\n')


def test_keys_mode_pins_certificates_exactly(material: Material) -> None:
    c = material.certs["cert"]
    sig = material.kit.sign(c, PAYLOAD)
    assert verify_sshsig(PAYLOAD, sig, keys=[load_authorized_key(c.cert_line)]).verified
    # The plain key is not the certificate (Buildx compares the embedded blob).
    plain = load_authorized_key(material.keys["ed25519"].line)
    assert verify_sshsig(PAYLOAD, sig, keys=[plain]).reason is Reason.UNKNOWN_KEY
    # Certificate validity is checked even when the certificate itself is pinned.
    old = material.certs["cert_expired"]
    old_sig = material.kit.sign(old, PAYLOAD)
    result = verify_sshsig(PAYLOAD, old_sig, keys=[load_authorized_key(old.cert_line)])
    assert result.reason is Reason.EXPIRED_KEY


def test_keys_and_allowed_signers_together(material: Material) -> None:
    key = material.keys["ed25519"]
    sig = material.kit.sign(key, PAYLOAD)
    nobody = AllowedSigners.parse(line(ALICE, material.keys["stranger"]))
    pinned = SSHPublicKey.from_blob(key.blob)
    assert verify_sshsig(PAYLOAD, sig, keys=[pinned], allowed_signers=nobody).verified
    stranger = SSHPublicKey.from_blob(material.keys["stranger"].blob)
    result = verify_sshsig(PAYLOAD, sig, keys=[stranger], allowed_signers=nobody)
    assert result.reason is Reason.UNKNOWN_KEY


def test_revocation_beats_trust(material: Material) -> None:
    key = material.keys["ed25519"]
    sig = material.kit.sign(key, PAYLOAD)
    revoked = RevocationList.from_keys([SSHPublicKey.from_blob(key.blob)])
    result = verify_sshsig(PAYLOAD, sig, keys=[SSHPublicKey.from_blob(key.blob)], revoked=revoked)
    assert result.reason is Reason.REVOKED_KEY


def test_custom_namespace(material: Material) -> None:
    key = material.keys["ed25519"]
    sig = material.kit.sign(key, PAYLOAD, namespace="file")
    result = verify_sshsig(
        PAYLOAD, sig, namespace="file", allowed_signers=AllowedSigners.parse(line(ALICE, key))
    )
    assert result.verified
    assert result.detail.startswith('Good "file" signature for alice@example.com')


def test_naive_signer_time_is_utc(material: Material) -> None:
    key = material.keys["ed25519"]
    sig = material.kit.sign(key, PAYLOAD)
    signers = AllowedSigners.parse(line(ALICE, key, 'valid-before="20240601000000Z"'))
    ok = verify_sshsig(PAYLOAD, sig, allowed_signers=signers, signer_time=datetime(2024, 6, 1))
    late = verify_sshsig(
        PAYLOAD, sig, allowed_signers=signers, signer_time=datetime(2024, 6, 1, 0, 0, 1)
    )
    assert ok.verified
    assert late.reason is Reason.NOT_ALLOWED


# --- real git objects -------------------------------------------------------------------


@pytest.fixture(scope="session", params=["sha1", "sha256"])
def repo(request: pytest.FixtureRequest, kit: Kit) -> GitRepo:
    if GIT is None:
        pytest.skip("git is not installed")
    return GitRepo.create(kit, request.param)


def split(kind: str, raw: bytes, object_format: str = "sha1") -> tuple[bytes, bytes, int]:
    """(payload, signature, signer time) with dulwich, as git splits them."""
    if kind == "tag":
        tag = Tag.from_string(raw)
        assert tag.signature is not None
        return tag.raw_without_sig(), tag.signature, tag.tag_time
    fmt = SHA256 if object_format == "sha256" else SHA1
    commit = Commit.from_raw_string(Commit.type_num, raw, object_format=fmt)
    assert commit.gpgsig is not None
    return commit.raw_without_sig(), commit.gpgsig, commit.commit_time


GIT_KEYS = ["ed25519", "ecdsa256", "ecdsa521", "rsa3072", "cert"]


@pytest.mark.parametrize("kind", ["tag", "commit"])
@pytest.mark.parametrize("name", GIT_KEYS)
def test_git_objects_agree_with_git(
    kind: str, name: str, repo: GitRepo, material: Material
) -> None:
    key = material.certs.get(name) or material.keys[name]
    if key.cert is not None:
        allowed = line("*@example.com", material.keys["ca"], 'cert-authority,namespaces="git"')
    else:
        allowed = line(f"{name}@example.com,other@example.com", key)
    allowed_path = material.kit.write("allowed", allowed)
    signers = AllowedSigners.from_file(allowed_path)
    when = int(datetime.now(UTC).timestamp())
    if kind == "tag":
        oid, raw = repo.signed_tag(
            key, f"{name}-{repo.object_format}", f"release {name}", when=when
        )
    else:
        oid, raw = repo.signed_commit(key, f"commit by {name}", when=when)
    assert len(oid) == (40 if repo.object_format == "sha1" else 64)
    payload, signature, signer_time = split(kind, raw, repo.object_format)
    ours = verify_sshsig(
        payload,
        signature,
        allowed_signers=signers,
        signer_time=datetime.fromtimestamp(signer_time, UTC),
    )
    ok, output = repo.verify(kind, oid, allowed_path)
    assert ok, output
    assert ours.verified, ours.detail
    # git reports the same principal and key.
    assert ours.signer is not None
    assert f"for {ours.signer.principal} with" in output
    assert ours.signer.signing_fingerprint in output

    # The same object with one byte of the message changed: both refuse it.
    tampered = raw.replace(
        b"release" if kind == "tag" else b"commit by", b"RELEASE" if kind == "tag" else b"COMMIT BY"
    )
    assert tampered != raw
    bad_oid = repo.write_object(kind, tampered)
    bad_payload, bad_sig, bad_time = split(kind, tampered, repo.object_format)
    bad = verify_sshsig(
        bad_payload,
        bad_sig,
        allowed_signers=signers,
        signer_time=datetime.fromtimestamp(bad_time, UTC),
    )
    assert bad.reason is Reason.BAD_SIGNATURE
    ok, output = repo.verify(kind, bad_oid, allowed_path)
    assert not ok, output


@pytest.mark.parametrize(
    ("committed", "verified"),
    [("2024-03-31", True), ("2024-12-05", True), ("2024-12-07", False), ("2020-01-01", False)],
)
def test_git_checks_windows_at_committer_time(
    committed: str, verified: bool, repo: GitRepo, material: Material
) -> None:
    key = material.keys["ed25519"]
    allowed = line(ALICE, key, 'valid-after="20220101",valid-before="20241206"')
    allowed_path = material.kit.write("allowed", allowed)
    when = int(datetime.fromisoformat(committed).replace(tzinfo=UTC).timestamp())
    oid, raw = repo.signed_commit(key, f"at {committed}", when=when)
    payload, signature, signer_time = split("commit", raw, repo.object_format)
    assert signer_time == when
    ours = verify_sshsig(
        payload,
        signature,
        allowed_signers=AllowedSigners.from_file(allowed_path),
        signer_time=datetime.fromtimestamp(signer_time, UTC),
    )
    ok, output = repo.verify("commit", oid, allowed_path)
    assert ok is verified, output
    assert ours.verified is verified, ours.detail
    if not verified:
        assert ours.reason is Reason.NOT_ALLOWED


def test_git_revocation_file(repo: GitRepo, material: Material) -> None:
    key = material.keys["ecdsa256"]
    allowed_path = material.kit.write("allowed", line(ALICE, key))
    revoked_path = material.kit.write("revoked", key.line + "\n")
    oid, raw = repo.signed_tag(key, f"revoked-{repo.object_format}", "revoked")
    payload, signature, _ = split("tag", raw)
    ok, output = repo.verify("tag", oid, allowed_path, revoked=revoked_path)
    assert not ok, output
    ours = verify_sshsig(
        payload,
        signature,
        allowed_signers=AllowedSigners.from_file(allowed_path),
        revoked=RevocationList.from_file(revoked_path),
        signer_time=datetime.now(UTC),
    )
    assert ours.reason is Reason.REVOKED_KEY


def test_documented_difference_namespace_restricted_first_line(
    repo: GitRepo, material: Material
) -> None:
    """git verifies only the principals of the first line ``find-principals`` returns."""
    key = material.keys["ed25519"]
    allowed = line("one@example.com", key, 'namespaces="file"') + line("two@example.com", key)
    allowed_path = material.kit.write("allowed", allowed)
    oid, raw = repo.signed_tag(key, f"quirk-{repo.object_format}", "quirk")
    payload, signature, when = split("tag", raw)
    git_ok, output = repo.verify("tag", oid, allowed_path)
    assert not git_ok, output  # git gives up after "one@example.com"
    keygen_ok, output = material.kit.verify(
        payload, signature, allowed=allowed, principal="two@example.com"
    )
    assert keygen_ok, output  # but the file does allow the key, for two@example.com
    ours = verify_sshsig(
        payload,
        signature,
        allowed_signers=AllowedSigners.parse(allowed),
        signer_time=datetime.fromtimestamp(when, UTC),
    )
    assert ours.verified
    assert ours.signer is not None
    assert ours.signer.principal == "two@example.com"


# --- real data: openssh-portable ---------------------------------------------------------


@pytest.fixture(scope="module")
def openssh_signers() -> AllowedSigners:
    return AllowedSigners.from_file(OPENSSH / "allowed_signers")


@needs_openssh_data
def test_openssh_allowed_signers_parse(openssh_signers: AllowedSigners) -> None:
    entries = openssh_signers.entries
    assert len(entries) == 8
    assert [e.principals for e in entries].count("djm@mindrot.org") == 4
    dtucker = entries[0]
    assert dtucker.principals == "dtucker@dtucker.net"
    assert dtucker.key.key_type == "ssh-ed25519"
    assert dtucker.valid_before == datetime(2024, 12, 6, tzinfo=UTC)
    sk = [e for e in entries if e.key.key_type.startswith("sk-")]
    assert len(sk) == 6
    assert {e.key.application for e in sk} == {"ssh:"}
    assert {e.line for e in entries} == {1, 2, 3, 5, 6, 7, 8, 10}


@needs_openssh_data
def test_openssh_release_tags(openssh_signers: AllowedSigners) -> None:
    ssh_tags = 0
    for path in sorted(glob.glob(str(OPENSSH / "tag-V_*.obj"))):
        payload, signature, when = _split_file("tag", Path(path))
        info = sshsig_info(signature)
        result = verify_sshsig(
            payload,
            signature,
            allowed_signers=openssh_signers,
            signer_time=datetime.fromtimestamp(when, UTC),
        )
        if not signature.startswith(b"-----BEGIN SSH SIGNATURE-----"):
            assert info is None
            assert result.reason is Reason.MALFORMED  # a PGP signature is not an SSHSIG
            continue
        ssh_tags += 1
        assert result.verified, (path, result.detail)
        assert result.signer is not None
        assert result.signer.principal == "djm@mindrot.org"
        assert result.signer.algorithm == "sk-ecdsa-p256"
        assert info is not None
        assert info[0] == 1
        assert info[1] == result.signer.signing_fingerprint
        if "V_10_5_P1" in path:
            assert info == (1, "SHA256:JDubEpIXO0CfnM+iagFQce4MiJJDqTvgbBR80SuRwTQ")
            raw = dearmor(signature)
            assert raw[-5:] == b"\x00\x00\x00\x11\x15"  # flags 0, counter 4373
    assert ssh_tags == 18


def _split_file(kind: str, path: Path) -> tuple[bytes, bytes, int]:
    raw = path.read_bytes()
    if kind == "tag":
        tag = Tag.from_string(raw)
        return tag.raw_without_sig(), tag.signature or b"", tag.tag_time
    commit = Commit.from_string(raw)
    return commit.raw_without_sig(), commit.gpgsig or b"", commit.commit_time


@needs_openssh_data
def test_openssh_listed_commits(openssh_signers: AllowedSigners) -> None:
    signed = 0
    for path in sorted(OPENSSH.glob("commit-*.obj")):
        payload, signature, when = _split_file("commit", path)
        if not signature:
            assert path.name.startswith("commit-94eb6858")  # the unsigned release commit
            continue
        signed += 1
        result = verify_sshsig(
            payload,
            signature,
            allowed_signers=openssh_signers,
            signer_time=datetime.fromtimestamp(when, UTC),
        )
        assert result.verified, (path.name, result.detail)
    assert signed == 20


@needs_openssh_data
def test_openssh_all_2052_commits(openssh_signers: AllowedSigners) -> None:
    seen: dict[str, int] = {}
    with tarfile.open(OPENSSH / "commits.tar.gz") as archive:
        for member in archive:
            if not member.isfile():
                continue
            assert re.fullmatch(r"commits/commit-[0-9a-f]{40}\.obj", member.name)
            fh = archive.extractfile(member)
            assert fh is not None
            commit = Commit.from_string(fh.read())
            assert commit.gpgsig is not None
            result = verify_sshsig(
                commit.raw_without_sig(),
                commit.gpgsig,
                allowed_signers=openssh_signers,
                signer_time=datetime.fromtimestamp(commit.commit_time, UTC),
            )
            assert result.verified, (member.name, result.detail)
            assert result.signer is not None
            label = f"{result.signer.principal}/{result.signer.algorithm}"
            seen[label] = seen.get(label, 0) + 1
    assert sum(seen.values()) == 2052
    assert seen["djm@mindrot.org/sk-ecdsa-p256"] == 1133
    assert seen["dtucker@dtucker.net/sk-ecdsa-p256"] == 568
    assert seen["dtucker@dtucker.net/ed25519"] == 349
    assert seen["tim@multitalents.net/ed25519"] == 2


@needs_openssh_data
def test_openssh_valid_before_window(openssh_signers: AllowedSigners) -> None:
    payload, signature, when = _split_file(
        "commit", OPENSSH / "commit-85e1a69243f12be8520438ad6a3cfdc0b7fcbb2d.obj"
    )
    committed = datetime.fromtimestamp(when, UTC)
    assert committed < datetime(2024, 12, 6, tzinfo=UTC)

    def at(t: datetime) -> SignatureCheck:
        return verify_sshsig(payload, signature, allowed_signers=openssh_signers, signer_time=t)

    good = at(committed)
    assert good.verified
    assert good.signer is not None
    assert good.signer.principal == "dtucker@dtucker.net"
    assert good.signer.algorithm == "ed25519"
    assert at(datetime(2024, 12, 6, tzinfo=UTC)).verified  # "at or before" valid-before
    late = at(datetime(2024, 12, 6, 0, 0, 1, tzinfo=UTC))
    assert late.reason is Reason.NOT_ALLOWED
    assert "allowed_signers:1" in late.detail
    assert at(datetime(2025, 6, 1, tzinfo=UTC)).reason is Reason.NOT_ALLOWED


@needs_openssh_data
def test_openssh_buildx_single_key_mode(openssh_signers: AllowedSigners) -> None:
    # Line 1 has principal *and* options before the key: more than Buildx's one token, so
    # the first key Buildx finds in this file is line 2, dtucker's sk-ecdsa key.
    first = load_authorized_key((OPENSSH / "allowed_signers").read_bytes())
    assert first == openssh_signers.entries[1].key
    verified = refused = 0
    with tarfile.open(OPENSSH / "commits.tar.gz") as archive:
        for member in archive:
            fh = archive.extractfile(member) if member.isfile() else None
            if fh is None:
                continue
            commit = Commit.from_string(fh.read())
            assert commit.gpgsig is not None
            signed_by = SSHPublicKey.from_blob(parse_sshsig(commit.gpgsig).public_key)
            result = verify_sshsig(commit.raw_without_sig(), commit.gpgsig, keys=[first])
            if signed_by == first:
                assert result.verified, result.detail
                verified += 1
            else:
                assert result.reason is Reason.UNKNOWN_KEY
                refused += 1
    assert (verified, refused) == (568, 2052 - 568)
    # Pinning dtucker's ed25519 key directly ignores its valid-before (Buildx has no windows).
    ed25519 = load_authorized_key(openssh_signers.entries[0].key.authorized_line())
    payload, signature, _ = _split_file(
        "commit", OPENSSH / "commit-85e1a69243f12be8520438ad6a3cfdc0b7fcbb2d.obj"
    )
    assert verify_sshsig(
        payload, signature, keys=[ed25519], signer_time=datetime(2030, 1, 1, tzinfo=UTC)
    ).verified


@needs_openssh_data
def test_openssh_revoked_djm_key(openssh_signers: AllowedSigners) -> None:
    tag_path = next(OPENSSH.glob("tag-V_10_5_P1.*.obj"))
    payload, signature, when = _split_file("tag", tag_path)
    key = SSHPublicKey.from_blob(parse_sshsig(signature).public_key)
    revoked = RevocationList.parse(f"djm@mindrot.org {key.authorized_line()}\n")
    result = verify_sshsig(
        payload,
        signature,
        allowed_signers=openssh_signers,
        revoked=revoked,
        signer_time=datetime.fromtimestamp(when, UTC),
    )
    assert result.reason is Reason.REVOKED_KEY


# --- bad input --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def good(material: Material) -> tuple[bytes, Key]:
    key = material.keys["ed25519"]
    return material.kit.sign(key, PAYLOAD), key


def _resign(key: Key, **fields: str | bytes) -> bytes:
    return armor(sshsig_blob(key.blob, b"\0" * 10, **fields))


BAD_ARMOR: dict[str, Callable[[bytes, Key], bytes]] = {
    "empty": lambda s, k: b"",
    "garbage": lambda s, k: b"hello world",
    "pgp": lambda s, k: b"-----BEGIN PGP SIGNATURE-----\n\nAAAA\n-----END PGP SIGNATURE-----\n",
    "no-end": lambda s, k: s.replace(b"-----END SSH SIGNATURE-----", b""),
    "no-begin": lambda s, k: s.replace(b"-----BEGIN SSH SIGNATURE-----", b""),
    "truncated": lambda s, k: s[: len(s) // 2],
    "truncated-base64": lambda s, k: s.replace(b"\n-----END", b"A\n-----END"),
    "bad-base64-char": lambda s, k: s.replace(b"\n", b"\n*", 1),
    "empty-body": lambda s, k: b"-----BEGIN SSH SIGNATURE-----\n-----END SSH SIGNATURE-----\n",
    "same-line": lambda s, k: b"-----BEGIN SSH SIGNATURE-----AAAA-----END SSH SIGNATURE-----",
    "trailing-text": lambda s, k: s + b"trailing\n",
    "huge": lambda s, k: s.replace(b"\n-----END", b"\n" + b"A" * 70_000 + b"\n-----END"),
    "wrong-magic": lambda s, k: armor(b"SSHSIH" + dearmor(s)[6:]),
    "version-2": lambda s, k: armor(b"SSHSIG\0\0\0\x02" + dearmor(s)[10:]),
    "version-0": lambda s, k: armor(b"SSHSIG\0\0\0\0" + dearmor(s)[10:]),
    "huge-length": lambda s, k: armor(b"SSHSIG\0\0\0\x01\xff\xff\xff\xff" + dearmor(s)[14:]),
    "short-blob": lambda s, k: armor(dearmor(s)[:30]),
    "trailing-bytes": lambda s, k: armor(dearmor(s) + b"\0"),
    "only-magic": lambda s, k: armor(b"SSHSIG"),
    "sha384": lambda s, k: _resign(k, hash_alg="sha384"),
    "sha1": lambda s, k: _resign(k, hash_alg="sha1"),
    "non-utf8-namespace": lambda s, k: _resign(k, namespace=b"\xff\xfe"),
    "unknown-key-type": lambda s, k: armor(
        sshsig_blob(ssh_string("ssh-foo") + ssh_string(b"x" * 32), b"")
    ),
    "empty-key": lambda s, k: armor(sshsig_blob(b"", b"")),
    "short-ed25519-key": lambda s, k: armor(
        sshsig_blob(ssh_string("ssh-ed25519") + ssh_string(b"x" * 31), b"")
    ),
    "ed25519-key-trailing": lambda s, k: armor(sshsig_blob(k.blob + b"\0", b"")),
    "ecdsa-curve-mismatch": lambda s, k: armor(
        sshsig_blob(
            ssh_string("ecdsa-sha2-nistp256")
            + ssh_string("nistp384")
            + ssh_string(b"\x04" + b"\1" * 64),
            b"",
        )
    ),
    "ecdsa-bad-point": lambda s, k: armor(
        sshsig_blob(
            ssh_string("ecdsa-sha2-nistp256")
            + ssh_string("nistp256")
            + ssh_string(b"\x04" + b"\1" * 64),
            b"",
        )
    ),
    "ecdsa-compressed-point": lambda s, k: armor(
        sshsig_blob(
            ssh_string("ecdsa-sha2-nistp256")
            + ssh_string("nistp256")
            + ssh_string(b"\x02" + b"\1" * 32),
            b"",
        )
    ),
    "rsa-even-exponent": lambda s, k: armor(
        sshsig_blob(ssh_string("ssh-rsa") + ssh_mpint(4) + ssh_mpint((1 << 2047) + 1), b"")
    ),
    "rsa-nonminimal-mpint": lambda s, k: armor(
        sshsig_blob(
            ssh_string("ssh-rsa") + ssh_string(b"\0\x01\x00\x01") + ssh_mpint((1 << 2047) + 1), b""
        )
    ),
    "rsa-huge-exponent": lambda s, k: armor(
        sshsig_blob(ssh_string("ssh-rsa") + ssh_mpint(2**4000 + 1) + ssh_mpint(2**2047 + 1), b"")
    ),
    "rsa-huge-modulus": lambda s, k: armor(
        sshsig_blob(ssh_string("ssh-rsa") + ssh_mpint(65537) + ssh_mpint(2**20000 + 1), b"")
    ),
    "rsa-negative-mpint": lambda s, k: armor(
        sshsig_blob(ssh_string("ssh-rsa") + ssh_string(b"\x81") + ssh_mpint((1 << 2047) + 1), b"")
    ),
    "cert-type-unknown": lambda s, k: armor(
        sshsig_blob(ssh_string("ssh-foo-cert-v01@openssh.com") + ssh_string(b"n"), b"")
    ),
    "truncated-cert": lambda s, k: armor(
        sshsig_blob(ssh_string("ssh-ed25519-cert-v01@openssh.com") + ssh_string(b"nonce"), b"")
    ),
    "signature-empty": lambda s, k: armor(sshsig_blob(k.blob, b"")),
    "signature-truncated": lambda s, k: armor(
        sshsig_blob(k.blob, ssh_string("ssh-ed25519") + ssh_string(b"\0" * 63))
    ),
    "signature-trailing": lambda s, k: armor(
        sshsig_blob(k.blob, ssh_string("ssh-ed25519") + ssh_string(b"\0" * 64) + b"\0")
    ),
    "signature-bad-length": lambda s, k: armor(
        sshsig_blob(k.blob, ssh_string("ssh-ed25519") + ssh_string(b"\0" * 65 + b"\0\0\0"))
    ),
}


@pytest.mark.parametrize("name", sorted(BAD_ARMOR))
def test_bad_signatures_are_malformed(name: str, good: tuple[bytes, Key]) -> None:
    sig, key = good
    bad = BAD_ARMOR[name](sig, key)
    result = verify_sshsig(PAYLOAD, bad, allowed_signers=AllowedSigners.parse(line(ALICE, key)))
    assert result.reason is Reason.MALFORMED, result.detail
    assert result.detail
    assert sshsig_info(bad) is None or name in {
        "unknown-key-type",
        "empty-key",
        "short-ed25519-key",
        "ed25519-key-trailing",
        "ecdsa-curve-mismatch",
        "ecdsa-bad-point",
        "ecdsa-compressed-point",
        "rsa-even-exponent",
        "rsa-huge-exponent",
        "rsa-huge-modulus",
        "rsa-nonminimal-mpint",
        "rsa-negative-mpint",
        "cert-type-unknown",
        "truncated-cert",
        "signature-empty",
        "signature-truncated",
        "signature-trailing",
        "signature-bad-length",
    }


@pytest.mark.parametrize("name", ["version-2", "wrong-magic", "sha384", "huge-length", "no-end"])
def test_parse_sshsig_says_what_is_wrong(name: str, good: tuple[bytes, Key]) -> None:
    sig, key = good
    with pytest.raises(InvalidInputError) as info:
        parse_sshsig(BAD_ARMOR[name](sig, key))
    message = str(info.value)
    expected = {
        "version-2": "unsupported sshsig version 2",
        "wrong-magic": "bad magic",
        "sha384": "unsupported sshsig hash algorithm 'sha384'",
        "huge-length": "exceeds the remaining data",
        "no-end": "END SSH SIGNATURE",
    }[name]
    assert expected in message


def test_parse_sshsig_fields(good: tuple[bytes, Key]) -> None:
    sig, key = good
    blob = parse_sshsig(sig)
    assert isinstance(blob, SSHSignatureBlob)
    assert blob.version == 1
    assert blob.public_key == key.blob
    assert blob.namespace == "git"
    assert blob.reserved == b""
    assert blob.hash_algorithm == "sha512"
    assert blob.key_type == "ssh-ed25519"
    assert sshsig_info(sig) == (1, ssh_fingerprint(key.blob))
    # Any line width and CRLF line ends are fine.
    text = base64.b64encode(dearmor(sig))
    for width in (1, 17, 76, len(text)):
        body = b"\r\n".join(text[i : i + width] for i in range(0, len(text), width))
        wrapped = (
            b"-----BEGIN SSH SIGNATURE-----\r\n" + body + b"\r\n-----END SSH SIGNATURE-----\r\n"
        )
        assert parse_sshsig(wrapped) == blob
        assert verify_sshsig(PAYLOAD, wrapped, keys=[SSHPublicKey.from_blob(key.blob)]).verified


def test_webauthn_signatures_are_unsupported(material: Material) -> None:
    key = material.sk["sk_ecdsa"]

    def webauthn(data: bytes) -> bytes:
        inner = key.signer()(data)
        return (
            ssh_string("webauthn-sk-ecdsa-sha2-nistp256@openssh.com") + inner[4 + len(key.kind) :]
        )

    sig = hand_sshsig(key.blob, webauthn, PAYLOAD)
    result = verify_sshsig(PAYLOAD, sig, allowed_signers=AllowedSigners.parse(line(ALICE, key)))
    assert result.reason is Reason.UNSUPPORTED_FORMAT


def test_signature_algorithm_must_match_key(material: Material) -> None:
    key = material.keys["ed25519"]
    ecdsa = material.keys["ecdsa256"]
    priv = ecdsa.crypto()
    assert isinstance(priv, ec.EllipticCurvePrivateKey)
    sig = hand_sshsig(key.blob, ecdsa_signer(priv), PAYLOAD)
    result = verify_sshsig(PAYLOAD, sig, keys=[SSHPublicKey.from_blob(key.blob)])
    assert result.reason is Reason.BAD_SIGNATURE
    rsa_key = material.keys["rsa3072"]
    odd = hand_sshsig(
        rsa_key.blob,
        lambda d: ssh_string("rsa-sha2-384") + ssh_string(b"\0" * 384),
        PAYLOAD,
    )
    assert verify_sshsig(PAYLOAD, odd, keys=[SSHPublicKey.from_blob(rsa_key.blob)]).reason is (
        Reason.BAD_SIGNATURE
    )


def test_certificate_with_bad_ca_signature(material: Material) -> None:
    c = material.certs["cert"]
    blob = bytearray(c.cert_blob)
    blob[-5] ^= 0x01  # inside the CA's ed25519 signature
    key = material.keys["ed25519"]
    sig = hand_sshsig(bytes(blob), _ed25519(key), PAYLOAD)
    signers = AllowedSigners.parse(line("*@example.com", material.keys["ca"], "cert-authority"))
    result = verify_sshsig(PAYLOAD, sig, allowed_signers=signers)
    assert result.reason is Reason.BAD_SIGNATURE
    assert "certificate" in result.detail
    ok, _ = material.kit.verify(
        PAYLOAD,
        sig,
        allowed=line("*@example.com", material.keys["ca"], "cert-authority"),
        principal=ALICE,
    )
    assert not ok


# --- fuzzing ----------------------------------------------------------------------------


def _assert_sane(result: SignatureCheck) -> None:
    assert isinstance(result, SignatureCheck)
    assert result.verified == (result.reason is None)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_fuzz_random_bytes(data: bytes) -> None:
    for candidate in (data, armor(data), armor(b"SSHSIG\0\0\0\x01" + data)):
        _assert_sane(verify_sshsig(PAYLOAD, candidate))
        info = sshsig_info(candidate)
        assert info is None or info[0] == 1


@pytest.fixture(scope="module")
def fuzz_seeds(material: Material) -> list[tuple[bytes, SSHPublicKey]]:
    """Valid signatures of several kinds, to mutate."""
    out = []
    for name in ("ed25519", "ecdsa256", "rsa2048"):
        key = material.keys[name]
        out.append((material.kit.sign(key, PAYLOAD), SSHPublicKey.from_blob(key.blob)))
    sk = material.sk["sk_ecdsa"]
    out.append((hand_sshsig(sk.blob, sk.signer(), PAYLOAD), SSHPublicKey.from_blob(sk.blob)))
    c = material.certs["cert"]
    out.append((material.kit.sign(c, PAYLOAD), SSHPublicKey.from_blob(c.cert_blob)))
    return out


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    which=st.integers(min_value=0, max_value=4),
    edits=st.lists(
        st.tuples(
            st.sampled_from(["flip", "cut", "insert", "delete"]),
            st.integers(0, 10_000),
            st.integers(0, 255),
        ),
        min_size=1,
        max_size=4,
    ),
    on_blob=st.booleans(),
)
def test_fuzz_mutated_signatures(
    which: int,
    edits: list[tuple[str, int, int]],
    on_blob: bool,
    fuzz_seeds: list[tuple[bytes, SSHPublicKey]],
) -> None:
    sig, key = fuzz_seeds[which]
    data = bytearray(dearmor(sig) if on_blob else sig)
    for op, pos, value in edits:
        if not data:
            break
        at = pos % len(data)
        if op == "flip":
            data[at] ^= value or 1
        elif op == "cut":
            del data[at:]
        elif op == "insert":
            data.insert(at, value)
        else:
            del data[at]
    candidate = armor(bytes(data)) if on_blob else bytes(data)
    result = verify_sshsig(PAYLOAD, candidate, keys=[key])
    _assert_sane(result)
    if result.verified:
        # Only changes that leave the signed content alone may still verify.
        parsed = parse_sshsig(candidate)
        assert parsed.public_key == key.blob
        assert parsed.namespace == "git"

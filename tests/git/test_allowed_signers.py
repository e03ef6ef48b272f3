"""Allowed-signers files, revocation lists (text and KRL) and Buildx key files.

Parsing rules are checked against ssh-keygen wherever it has an opinion: a line buildsig
refuses must also be one ssh-keygen cannot use, except for the documented cases where
buildsig is stricter; KRL contents are checked with ``ssh-keygen -Q``; principal patterns
with ``ssh-keygen -Y match-principals``.
"""

from __future__ import annotations

import base64
import contextlib
import fnmatch
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import SSHCertificateBuilder, SSHCertificateType
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from buildsig.errors import InvalidInputError, PolicyConfigError
from buildsig.git.allowed_signers import (
    AllowedSignerEntry,
    AllowedSigners,
    RevocationList,
    match_pattern,
    match_pattern_list,
    parse_ssh_time,
)
from buildsig.git.result import Reason
from buildsig.git.sshsig import SSHPublicKey, load_authorized_key

from .sshkit import SSH_KEYGEN, Key, Kit, public_blob, ssh_mpint, ssh_string

needs_ssh_keygen = pytest.mark.skipif(
    SSH_KEYGEN is None, reason="ssh-keygen is not installed (apt-get install -y openssh-client)"
)

PAYLOAD = b"signed payload\n"


def new_key() -> tuple[ed25519.Ed25519PrivateKey, SSHPublicKey]:
    priv = ed25519.Ed25519PrivateKey.generate()
    return priv, SSHPublicKey.from_blob(public_blob(priv.public_key()))


def new_cert(
    ca: ed25519.Ed25519PrivateKey,
    principals: list[str],
    *,
    serial: int = 1,
    key_id: str = "id",
) -> SSHPublicKey:
    user = ed25519.Ed25519PrivateKey.generate().public_key()
    cert = (
        SSHCertificateBuilder()
        .public_key(user)
        .serial(serial)
        .type(SSHCertificateType.USER)
        .key_id(key_id.encode())
        .valid_principals([p.encode() for p in principals])
        .valid_after(0)
        .valid_before(2**64 - 1)
        .sign(ca)
    )
    return SSHPublicKey.from_blob(base64.b64decode(cert.public_bytes().split()[1]))


KEY = new_key()[1]
K = KEY.authorized_line()


# --- parsing ----------------------------------------------------------------------------


def test_parse_a_realistic_file() -> None:
    ca = new_key()[1]
    text = (
        "# comment\n"
        "\n"
        f"   alice@example.com,bob@example.com {K} alice's laptop\r\n"
        f'\t"carol c"\t NAMESPACES="git,file",Valid-After="20240101",valid-before="20250101Z" {K}\n'
        f"*@example.com cert-authority {ca.authorized_line()}\n"
        "    # indented comment\n"
        f'dave@example.com namespaces="g\\"it" {K}\n'
    )
    signers = AllowedSigners.parse(text, source="team.allowed")
    assert len(signers) == 4
    a, c, ca_entry, d = signers.entries
    assert (a.line, a.principals, a.options, a.key) == (
        3,
        "alice@example.com,bob@example.com",
        "",
        KEY,
    )
    assert a.key.comment == "alice's laptop"
    assert (c.line, c.principals, c.namespaces) == (4, "carol c", "git,file")
    assert c.options == 'NAMESPACES="git,file",Valid-After="20240101",valid-before="20250101Z"'
    assert c.valid_after == datetime(2024, 1, 1, tzinfo=UTC)
    assert c.valid_before == datetime(2025, 1, 1, tzinfo=UTC)
    assert not c.cert_authority
    assert ca_entry.cert_authority
    assert ca_entry.key == ca
    assert d.namespaces == 'g"it'
    assert list(signers) == list(signers.entries)
    assert "team.allowed" in repr(signers)


def test_quoted_values_keep_commas_and_spaces() -> None:
    entry = AllowedSigners.parse(f'a@x namespaces="my ns,git",cert-authority {K}\n').entries[0]
    assert entry.namespaces == "my ns,git"
    assert entry.cert_authority
    assert entry.options == 'namespaces="my ns,git",cert-authority'


def test_times_without_z_use_the_given_zone() -> None:
    plus10 = timezone(timedelta(hours=10))
    text = f'a@x valid-before="20241206",valid-after="202001011230z" {K}\n'
    local = AllowedSigners.parse(text, tz=plus10).entries[0]
    assert local.valid_before == datetime(2024, 12, 6, tzinfo=plus10)
    assert local.valid_after == datetime(2020, 1, 1, 12, 30, tzinfo=UTC)
    utc = AllowedSigners.parse(text).entries[0]
    assert utc.valid_before == datetime(2024, 12, 6, tzinfo=UTC)
    at = int(datetime(2024, 12, 5, 20, tzinfo=UTC).timestamp())  # 06:00 on the 6th in +10
    assert AllowedSigners.parse(text, tz=plus10).find(KEY, when=at).reason is Reason.NOT_ALLOWED
    assert AllowedSigners.parse(text).find(KEY, when=at).reason is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20240102", datetime(2024, 1, 2, tzinfo=UTC)),
        ("20240102Z", datetime(2024, 1, 2, tzinfo=UTC)),
        ("202401021304", datetime(2024, 1, 2, 13, 4, tzinfo=UTC)),
        ("20240102130405z", datetime(2024, 1, 2, 13, 4, 5, tzinfo=UTC)),
    ],
)
def test_parse_ssh_time(text: str, expected: datetime) -> None:
    assert parse_ssh_time(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2024",
        "2024010",
        "2024-01-02",
        "20240102 ",
        "2024010213",
        "20241301",
        "20240230",
        "20240102126000",
        "20240102240000",
        "20240102Q",
        "٢٠٢٤٠١٠٢",
    ],
)
def test_parse_ssh_time_rejects(text: str) -> None:
    with pytest.raises(InvalidInputError):
        parse_ssh_time(text)


# Lines buildsig refuses and so does ssh-keygen (it skips them with a warning): the line
# cannot make a signature valid either way.
BAD_LINES = {
    "missing-key": ("a@x", "missing key"),
    "missing-base64": ("a@x ssh-ed25519", "invalid key"),
    "bad-base64": ("a@x ssh-ed25519 !!!!", "invalid key"),
    "type-mismatch": ("a@x ssh-rsa {b64}", "does not match"),
    "trailing-key-bytes": ("a@x ssh-ed25519 {b64}AAAA", "invalid key"),
    "truncated-key": ("a@x ssh-ed25519 AAAAC3NzaC1lZDI1NTE5", "invalid key"),
    "unknown-key-type": ("a@x ssh-foo {b64}", "unknown option"),
    "unknown-option": ("a@x bogus-opt {key}", "unknown option 'bogus-opt'"),
    "unquoted-value": ("a@x valid-before=20991231 {key}", "double-quoted"),
    "empty-time": ('a@x valid-before="" {key}', "invalid time"),
    "short-time": ('a@x valid-before="2099123" {key}', "invalid time"),
    "bad-month": ('a@x valid-before="20991301" {key}', "month must be in 1..12"),
    "dashed-date": ('a@x valid-after="2099-12-31" {key}', "invalid time"),
    "time-with-space": ('a@x valid-after="20991231 " {key}', "invalid time"),
    "two-option-fields": (
        'a@x valid-after="20200101" valid-before="20990101" {key}',
        "invalid key",
    ),
    "duplicate-option": ('a@x namespaces="git",NAMESPACES="git" {key}', "multiple 'namespaces'"),
    "duplicate-time": ('a@x valid-before="20990101",valid-before="20990101" {key}', "multiple"),
    "trailing-comma": ('a@x namespaces="git", {key}', "empty option"),
    "missing-value": ("a@x namespaces {key}", "needs a value"),
    "flag-with-value": ('a@x cert-authority="yes" {key}', "takes no value"),
    "unterminated-option-quote": ('a@x namespaces="git {key}', "unterminated"),
    "unterminated-principals": ('"a@x {key}', "unterminated"),
    "ca-is-certificate": ("a@x cert-authority {cert}", "must be a plain key"),
}

# Lines ssh-keygen accepts but buildsig refuses (documented in allowed_signers.py).
STRICTER_LINES = {
    "leading-comma": ('a@x ,namespaces="git" {key}', "empty option"),
    "impossible-date": ('a@x valid-after="20200230" {key}', "day is out of range"),
    "second-sixty": ('a@x valid-after="20200101000060" {key}', "second must be in"),
}


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Kit:
    return Kit(tmp_path_factory.mktemp("allowed"))


@pytest.fixture(scope="module")
def signed(kit: Kit) -> tuple[Key, Key, bytes]:
    key = kit.keygen("user", "ed25519")
    ca = kit.keygen("ca", "ed25519")
    cert = kit.certify(key, ca, name="user_cert", principals=["a@x"])
    return key, cert, kit.sign(key, PAYLOAD)


def _fill(template: str, key: Key, cert: Key) -> str:
    return template.format(key=key.line, b64=key.line.split()[1], cert=cert.cert_line)


@needs_ssh_keygen
@pytest.mark.parametrize("name", sorted(BAD_LINES))
def test_malformed_lines(name: str, kit: Kit, signed: tuple[Key, Key, bytes]) -> None:
    key, cert, sig = signed
    template, message = BAD_LINES[name]
    bad = _fill(template, key, cert)
    text = f"# header\n\nok@x {key.line}\n{bad}\n"
    with pytest.raises(PolicyConfigError) as info:
        AllowedSigners.parse(text, source="signers.txt")
    assert str(info.value).startswith("signers.txt:4: "), info.value
    assert message in str(info.value)
    assert info.value.source == "signers.txt"
    # ssh-keygen cannot use the line either.
    ok, output = kit.verify(PAYLOAD, sig, allowed=bad + "\n", principal="a@x")
    assert not ok, output


@needs_ssh_keygen
@pytest.mark.parametrize("name", sorted(STRICTER_LINES))
def test_lines_buildsig_is_stricter_about(
    name: str, kit: Kit, signed: tuple[Key, Key, bytes]
) -> None:
    key, cert, sig = signed
    template, message = STRICTER_LINES[name]
    bad = _fill(template, key, cert)
    with pytest.raises(PolicyConfigError, match=message):
        AllowedSigners.parse(bad)
    ok, output = kit.verify(PAYLOAD, sig, allowed=bad + "\n", principal="a@x")
    assert ok, output  # ssh-keygen takes it (and rolls impossible dates over)


def test_line_and_file_caps(tmp_path: Path) -> None:
    with pytest.raises(PolicyConfigError, match=":2: line longer than"):
        AllowedSigners.parse(f"a@x {K}\n" + "a" * 70_000 + "\n")
    big = tmp_path / "big"
    big.write_text(f"a@x {K}\n" * 20_000)
    with pytest.raises(PolicyConfigError, match="larger than 1048576 bytes"):
        AllowedSigners.from_file(big)
    assert len(AllowedSigners.from_file(big, max_bytes=4 * 1024 * 1024)) == 20_000
    with pytest.raises(PolicyConfigError, match="cannot read allowed signers file"):
        AllowedSigners.from_file(tmp_path / "missing")
    binary = tmp_path / "binary"
    binary.write_bytes(b"a@x \xff\xfe\n")
    with pytest.raises(PolicyConfigError, match="not UTF-8"):
        AllowedSigners.from_file(binary)
    with pytest.raises(PolicyConfigError, match="cannot read"):
        AllowedSigners.from_file(tmp_path)  # a directory


def test_from_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "allowed_signers"
    path.write_text(f"a@x {K}\nb@x bogus {K}\n")
    with pytest.raises(PolicyConfigError) as info:
        AllowedSigners.from_file(path)
    assert str(info.value).startswith(f"{path}:2: bad options")


def test_certificate_line_matches_exactly() -> None:
    ca_priv, _ = new_key()
    cert = new_cert(ca_priv, ["a@x"])
    signers = AllowedSigners.parse(f"a@x {cert.authorized_line()}\n")
    assert signers.find(cert, when=0).principal == "a@x"
    assert cert.certificate is not None
    assert signers.find(cert.certificate.certified_key, when=0).reason is Reason.UNKNOWN_KEY


# --- patterns ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "pattern", "expected"),
    [
        ("alice@example.com", "alice@example.com", True),
        ("alice@example.com", "*@example.com", True),
        ("alice@example.com", "*", True),
        ("", "*", True),
        ("", "", True),
        ("a", "", False),
        ("alice@example.com", "a?ice@*.com", True),
        ("alice@example.com", "?", False),
        ("Alice@example.com", "alice@example.com", False),
        ("a*b", "a*b", True),
        ("aXXb", "a*b", True),
        ("aXXbc", "a*b", False),
        ("abcabcabd", "*abd", True),
        ("a" * 50, "*a*a*a*a*a*a*a*a*b", False),  # no exponential blow-up
    ],
)
def test_match_pattern(text: str, pattern: str, expected: bool) -> None:
    assert match_pattern(text, pattern) is expected


def test_match_pattern_list() -> None:
    assert match_pattern_list("alice@x", "bob@x,alice@x") == 1
    assert match_pattern_list("alice@x", "bob@x") == 0
    assert match_pattern_list("alice@x", "*@x,!alice@x") == -1
    assert match_pattern_list("alice@x", "!alice@x,*@x") == -1
    assert match_pattern_list("bob@x", "*@x,!alice@x") == 1
    assert match_pattern_list("bob@x", "!alice@x") == 0  # negations alone never match


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="ab.", max_size=8), st.text(alphabet="ab.*?", max_size=8))
def test_match_pattern_agrees_with_fnmatch(text: str, pattern: str) -> None:
    # fnmatch has the same * and ? (and [], which these alphabets avoid).
    assert match_pattern(text, pattern) == fnmatch.fnmatchcase(text, pattern)


@needs_ssh_keygen
def test_principal_patterns_agree_with_ssh_keygen(kit: Kit, signed: tuple[Key, Key, bytes]) -> None:
    key = signed[0]
    lines = ["a@x,b@y", "*@z,!bad@z", "?@q", "x*y@w,!x?y@w"]
    path = kit.write("allowed", "".join(f"{p} {key.line}\n" for p in lines))
    names = ["a@x", "b@y", "q@z", "bad@z", "c@q", "cc@q", "xy@w", "xay@w", "xaay@w", "nobody"]
    assert SSH_KEYGEN is not None
    for name in names:
        out = kit.run(SSH_KEYGEN, "-Y", "match-principals", "-I", name, "-f", path, check=False)
        theirs = [p for p in out.stdout.decode().splitlines() if p in lines]
        ours = [p for p in lines if match_pattern_list(name, p) == 1]
        assert ours == theirs, name


# --- lookups ----------------------------------------------------------------------------


def test_find_unknown_and_not_allowed() -> None:
    other = new_key()[1]
    signers = AllowedSigners.parse(
        f'a@x namespaces="file" {K}\nb@x valid-before="20200101" {K}\n', source="f"
    )
    unknown = signers.find(other, when=0)
    assert unknown.reason is Reason.UNKNOWN_KEY
    assert other.fingerprint in unknown.detail
    refused = signers.find(KEY, when=datetime(2024, 1, 1, tzinfo=UTC))
    assert refused.reason is Reason.NOT_ALLOWED
    assert refused.detail == "f:1: key is not permitted for use in signature namespace 'git'"
    assert refused.entry is None
    ok = signers.find(KEY, when=datetime(2019, 1, 1, tzinfo=UTC))
    assert (ok.reason, ok.principal, ok.entry) == (None, "b@x", signers.entries[1])
    as_file = signers.find(KEY, namespace="file", when=0)
    assert as_file.principal == "a@x"


def test_find_reports_the_principal_git_would() -> None:
    signers = AllowedSigners.parse(f"!x@y,*@z,a@z {K}\n")
    assert signers.find(KEY, when=0).principal == "*@z"
    assert signers.find(KEY, when=0, principal="a@z").principal == "a@z"
    assert signers.find(KEY, when=0, principal="x@y").reason is Reason.NOT_ALLOWED
    only_negated = AllowedSigners.parse(f"!x@y {K}\n")
    assert only_negated.find(KEY, when=0).reason is Reason.NOT_ALLOWED


def test_find_with_certificate_authorities() -> None:
    ca_priv, ca = new_key()
    other_ca_priv, _ = new_key()
    cert = new_cert(ca_priv, ["alice@x", "bob@y", "carol@x"])
    text = (
        f"*@y,!bob@y cert-authority {ca.authorized_line()}\n"
        f'*@x cert-authority,namespaces="git" {ca.authorized_line()}\n'
    )
    signers = AllowedSigners.parse(text)
    found = signers.find(cert, when=0)
    assert (found.principal, found.entry) == ("alice@x", signers.entries[1])
    assert signers.find(cert, when=0, principal="carol@x").principal == "carol@x"
    assert signers.find(cert, when=0, principal="bob@y").reason is Reason.NOT_ALLOWED
    assert signers.find(cert, when=0, principal="dave@x").reason is Reason.NOT_ALLOWED
    assert signers.find(cert, namespace="file", when=0).reason is Reason.NOT_ALLOWED
    stranger = new_cert(other_ca_priv, ["alice@x"])
    assert signers.find(stranger, when=0).reason is Reason.UNKNOWN_KEY
    # A CA line never vouches for the CA key signing directly.
    assert signers.find(ca, when=0).reason is Reason.UNKNOWN_KEY
    # Exact lines and CA lines are considered in file order.
    mixed = AllowedSigners.parse(
        f"late@x cert-authority {ca.authorized_line()}\nearly@x {cert.authorized_line()}\n"
    )
    cert2 = new_cert(ca_priv, ["late@x"])
    assert mixed.find(cert, when=0).principal == "early@x"
    assert mixed.find(cert2, when=0).principal == "late@x"


def test_many_entries_are_indexed() -> None:
    keys = [new_key()[1] for _ in range(300)]
    text = "".join(f"user{i}@x {k.authorized_line()}\n" for i, k in enumerate(keys))
    signers = AllowedSigners.parse(text * 10)
    assert len(signers) == 3000
    for i in (0, 150, 299):
        assert signers.find(keys[i], when=0).principal == f"user{i}@x"


def test_entry_construction() -> None:
    entry = AllowedSignerEntry(
        principals="a@x", key=KEY, line=1, valid_before=datetime(2024, 1, 1, tzinfo=UTC)
    )
    signers = AllowedSigners([entry], source="built")
    assert signers.find(KEY, when=datetime(2023, 1, 1, tzinfo=UTC)).principal == "a@x"
    assert signers.find(KEY, when=datetime(2025, 1, 1)).reason is Reason.NOT_ALLOWED


# --- revocation lists -------------------------------------------------------------------


def test_text_revocation_list() -> None:
    other = new_key()[1]
    ca_priv, ca = new_key()
    cert = new_cert(ca_priv, ["a@x"])
    assert cert.certificate is not None
    text = (
        "# revoked keys\n\n"
        f'from="10.0.0.0/8",command="echo hi there" {KEY.authorized_line()}\n'
        f"someone@x {ca.authorized_line()}\n"
        f"   {cert.authorized_line()} a revoked certificate revokes its key\n"
    )
    revoked = RevocationList.parse(text)
    assert revoked.why_revoked(KEY) == f"key {KEY.fingerprint} is revoked"
    assert revoked.why_revoked(other) is None
    assert revoked.why_revoked(cert.certificate.certified_key) is not None
    other_cert = new_cert(ca_priv, ["b@x"])
    assert revoked.why_revoked(other_cert) == f"certificate authority {ca.fingerprint} is revoked"
    assert RevocationList.parse(b"").why_revoked(KEY) is None


@pytest.mark.parametrize(
    "text",
    ["garbage", "ssh-ed25519 !!!", "a b c d", '"unterminated ssh-ed25519 AAAA', "x" * 70_000],
)
def test_revocation_list_refuses_garbage(text: str) -> None:
    with pytest.raises(PolicyConfigError, match=r"revoked\.txt:3: not a public key"):
        RevocationList.parse(f"# ok\n{K}\n{text}\n", source="revoked.txt")


def test_revocation_file_errors(tmp_path: Path) -> None:
    with pytest.raises(PolicyConfigError, match="cannot read revocation list"):
        RevocationList.from_file(tmp_path / "missing")
    big = tmp_path / "big"
    big.write_text(K + "\n" * 2000)
    with pytest.raises(PolicyConfigError, match="larger than 100 bytes"):
        RevocationList.from_file(big, max_bytes=100)
    binary = tmp_path / "bin"
    binary.write_bytes(b"\x00\xff\xfe")
    with pytest.raises(PolicyConfigError, match="neither a KRL nor UTF-8"):
        RevocationList.from_file(binary)


@pytest.fixture(scope="module")
def krl_material(kit: Kit) -> dict[str, Key]:
    ca = kit.keygen("krl_ca", "ed25519")
    other_ca = kit.keygen("krl_other_ca", "ecdsa", 256)
    out = {"ca": ca, "other_ca": other_ca}
    for name in ("k1", "k2", "k3"):
        out[name] = kit.keygen(name, "ed25519")
    out["rsa"] = kit.keygen("krl_rsa", "rsa", 2048)
    for serial in (0, 1, 5, 7, 64, 65, 1000, 2**40):
        out[f"cert{serial}"] = kit.certify(
            out["k1"], ca, name=f"krl_cert{serial}", serial=serial, key_id=f"id-{serial}"
        )
    out["cert_other_ca"] = kit.certify(
        out["k2"], other_ca, name="krl_cert_oca", serial=5, key_id="id-5"
    )
    return out


KRL_SPECS: dict[str, tuple[list[str], str | None, list[str]]] = {
    # name: (spec lines, CA for -s, key files given on the command line)
    "keys": ([], None, ["k1", "rsa"]),
    "sha1": (["sha1: {k2}"], None, []),
    "sha256": (["sha256: {k3}"], None, []),
    "hash": (["hash: {fp_k2}"], None, []),
    "serial-list": (["serial: 1", "serial: 1000"], "ca", []),
    "serial-range": (["serial: 5-64"], "ca", []),
    "serial-bitmap": ([f"serial: {n}" for n in range(1, 130, 2)], "ca", []),
    "serial-huge": (["serial: 1099511627776"], "ca", []),
    "key-id": (["id: id-7", "id: id-0"], "ca", []),
    "certificate-file": ([], "ca", ["cert65"]),
    "other-ca-serials": (["serial: 1-2000", "id: id-5"], "other_ca", []),
    "mixed": (["serial: 7", "sha256: {rsa}", "id: id-1000"], "ca", ["k3"]),
}
KRL_PROBES = ["k1", "k2", "k3", "rsa", "ca", "other_ca", "cert_other_ca"] + [
    f"cert{s}" for s in (0, 1, 5, 7, 64, 65, 1000, 2**40)
]


def _probe_file(m: dict[str, Key], name: str) -> Path:
    key = m[name]
    return key.cert if key.cert is not None else key.pub


@needs_ssh_keygen
@pytest.mark.parametrize("spec_name", sorted(KRL_SPECS))
def test_krl_agrees_with_ssh_keygen(spec_name: str, kit: Kit, krl_material: dict[str, Key]) -> None:
    spec, ca, files = KRL_SPECS[spec_name]
    m = krl_material
    values = {name: key.line for name, key in m.items()}
    values["fp_k2"] = SSHPublicKey.from_blob(m["k2"].blob).fingerprint
    krl = kit.krl(
        spec=[line.format(**values) for line in spec],
        keys=[_probe_file(m, f) for f in files],
        ca=None if ca is None else m[ca],
    )
    revoked = RevocationList.from_file(krl)
    assert krl.read_bytes().startswith(b"SSHKRL\n\0")
    mismatches = []
    for probe in KRL_PROBES:
        path = _probe_file(m, probe)
        key = SSHPublicKey.from_authorized_line(path.read_text())
        theirs = kit.krl_revokes(krl, path)
        ours = revoked.why_revoked(key) is not None
        if ours != theirs:
            mismatches.append((probe, ours, theirs))
    assert not mismatches


def krl(*sections: bytes) -> bytes:
    header = (
        b"SSHKRL\n\0" + (1).to_bytes(4, "big") + b"\0" * 24 + ssh_string(b"") + ssh_string(b"c")
    )
    return header + b"".join(sections)


def section(kind: int, body: bytes) -> bytes:
    return bytes((kind,)) + ssh_string(body)


def _cert_section(ca: bytes, *subsections: bytes) -> bytes:
    return section(1, ssh_string(ca) + ssh_string(b"") + b"".join(subsections))


def _u64(n: int) -> bytes:
    return n.to_bytes(8, "big")


HAND_KRLS: dict[str, Callable[[bytes, bytes], bytes]] = {
    # name: builder(CA blob, a certificate blob) -> KRL sections
    "range": lambda ca, c: _cert_section(ca, section(0x21, _u64(1) + _u64(10))),
    "list": lambda ca, c: _cert_section(ca, section(0x20, _u64(65) + _u64(5))),
    "bitmap": lambda ca, c: _cert_section(ca, section(0x22, _u64(1) + ssh_mpint(0b1000011))),
    "bitmap-nonminimal": lambda ca, c: _cert_section(
        ca, section(0x22, _u64(64) + ssh_string(b"\0\3"))
    ),
    "two-sections-same-ca": lambda ca, c: (
        _cert_section(ca, section(0x20, _u64(5))) + _cert_section(ca, section(0x20, _u64(7)))
    ),
    "any-ca-serial": lambda ca, c: _cert_section(b"", section(0x20, _u64(7))),
    "any-ca-key-id": lambda ca, c: _cert_section(b"", section(0x23, ssh_string(b"id-1000"))),
    "explicit-certificate": lambda ca, c: section(2, ssh_string(c)),
    "unsorted-hashes": lambda ca, c: section(3, ssh_string(b"\2" * 20) + ssh_string(b"\1" * 20)),
    "empty": lambda ca, c: b"",
}
INVALID_HAND_KRLS: dict[str, Callable[[bytes, bytes], bytes]] = {
    "serial-zero": lambda ca, c: _cert_section(ca, section(0x20, _u64(1) + _u64(0))),
    "range-from-zero": lambda ca, c: _cert_section(ca, section(0x21, _u64(0) + _u64(10))),
    "bitmap-serial-zero": lambda ca, c: _cert_section(ca, section(0x22, _u64(0) + ssh_mpint(3))),
    "reversed-range": lambda ca, c: _cert_section(ca, section(0x21, _u64(10) + _u64(1))),
    "signature": lambda ca, c: bytes((4,)) + ssh_string(ca) + ssh_string(b"sig"),
    "unknown-section": lambda ca, c: section(6, b""),
    "hash-size": lambda ca, c: section(5, ssh_string(b"short")),
}


@needs_ssh_keygen
@pytest.mark.parametrize("name", sorted(HAND_KRLS) + sorted(INVALID_HAND_KRLS))
def test_hand_made_krls_agree_with_ssh_keygen(
    name: str, kit: Kit, krl_material: dict[str, Key]
) -> None:
    m = krl_material
    build = HAND_KRLS.get(name) or INVALID_HAND_KRLS[name]
    path = kit.write("handkrl", krl(build(m["ca"].blob, m["cert7"].cert_blob)))
    if name in INVALID_HAND_KRLS:
        with pytest.raises(PolicyConfigError, match="malformed KRL"):
            RevocationList.from_file(path)
        with pytest.raises(ValueError, match="Invalid KRL"):
            kit.krl_revokes(path, m["k1"].pub)
        return
    revoked = RevocationList.from_file(path)
    for probe in KRL_PROBES:
        file = _probe_file(m, probe)
        key = SSHPublicKey.from_authorized_line(file.read_text())
        assert (revoked.why_revoked(key) is not None) == kit.krl_revokes(path, file), probe


def test_krl_structure_errors() -> None:
    good = krl(section(2, ssh_string(KEY.blob)))
    assert RevocationList.parse(good).why_revoked(KEY) is not None
    non_critical = section(255, ssh_string(b"x@example.com") + b"\0" + ssh_string(b""))
    assert RevocationList.parse(krl(non_critical)).why_revoked(KEY) is None
    bad = {
        "truncated": good[:-3],
        "version": good[:8] + (2).to_bytes(4, "big") + good[12:],
        "section": krl(section(9, b"")),
        "critical": krl(section(255, ssh_string(b"x@example.com") + b"\1" + ssh_string(b""))),
        "cert-section": krl(section(1, ssh_string(b"") + ssh_string(b"") + section(0x77, b""))),
        "range": krl(
            section(
                1,
                ssh_string(b"")
                + ssh_string(b"")
                + section(0x21, (5).to_bytes(8, "big") + (1).to_bytes(8, "big")),
            )
        ),
        "hash-size": krl(section(5, ssh_string(b"short"))),
        "huge-length": krl(b"\x02\xff\xff\xff\xff"),
        "header-only-magic": b"SSHKRL\n\0",
        "signed": good + bytes((4,)) + ssh_string(KEY.blob) + ssh_string(b"sig"),
    }
    for name, data in bad.items():
        with pytest.raises(PolicyConfigError, match="malformed KRL"):
            RevocationList.parse(data, source=name)


# --- Buildx key files -------------------------------------------------------------------


def test_load_authorized_key_semantics() -> None:
    second = new_key()[1]
    text = (
        "# my keys\n"
        "\n"
        "not a key at all\n"
        'command="echo hi there",no-pty '
        + KEY.authorized_line()
        + " laptop\n"
        + second.authorized_line()
        + "\n"
    )
    key = load_authorized_key(text)
    assert key == KEY
    assert key.comment == "laptop"
    assert load_authorized_key(text.encode()) == KEY
    assert load_authorized_key(f"principal@x {second.authorized_line()}") == second
    assert load_authorized_key(f"{second.authorized_line()}\r\n") == second
    with pytest.raises(PolicyConfigError, match="no SSH public key"):
        load_authorized_key("# nothing here\n\nssh-ed25519 AAAA\n")
    with pytest.raises(PolicyConfigError):
        load_authorized_key(b"\xff\xfe\x00")
    padded = "#" * 200 + "\n" + KEY.authorized_line()
    assert load_authorized_key(padded) == KEY
    with pytest.raises(PolicyConfigError):  # the key lies beyond what Buildx reads
        load_authorized_key(padded, max_bytes=200)


# --- fuzzing ----------------------------------------------------------------------------

_PIECES = [
    K,
    "a@x",
    "*",
    "!",
    ",",
    " ",
    "\t",
    "\n",
    '"',
    "\\",
    "=",
    "#",
    "cert-authority",
    "namespaces",
    "valid-after",
    "valid-before",
    '"20240101"',
    "ssh-ed25519",
    "AAAA",
    "Z",
]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_PIECES) | st.text(max_size=5), max_size=25))
def test_fuzz_allowed_signers(pieces: list[str]) -> None:
    text = "".join(pieces)
    try:
        signers = AllowedSigners.parse(text)
    except PolicyConfigError as exc:
        message = str(exc)
        assert message.startswith("<allowed signers>:")
        return
    for entry in signers:
        assert entry.key == KEY
        signers.find(KEY, when=0)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300), st.booleans())
def test_fuzz_revocation_lists(data: bytes, as_krl: bool) -> None:
    blob = krl() + data if as_krl else data
    try:
        revoked = RevocationList.parse(blob)
    except PolicyConfigError:
        return
    revoked.why_revoked(KEY)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_fuzz_load_authorized_key(text: str) -> None:
    with contextlib.suppress(PolicyConfigError):
        load_authorized_key(text)

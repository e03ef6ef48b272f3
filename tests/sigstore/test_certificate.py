"""Certificate facts as Buildx reports them: Go's rendering of the issuer DN.

Buildx compares ``certificateIssuer`` with ``CN=sigstore-intermediate,O=sigstore.dev``,
the string Go's ``pkix.Name.String()`` makes; Go orders standard attributes by type, not
as the certificate stores them. The expected strings below follow Go's documented rules
(crypto/x509/pkix: ToRDNSequence order, reversed; ``+`` within an RDN; RFC 4514 escapes;
unknown types as ``oid=#hex``).
"""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from buildsig.sigstore.certificate import go_name_string, signer_info
from buildsig.testing import TestSigstore


def name(*pairs: tuple[x509.ObjectIdentifier, str]) -> x509.Name:
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in pairs])


@pytest.mark.parametrize(
    ("dn", "expected"),
    [
        # stored O then CN (the real Sigstore intermediate) and CN then O: same string
        (
            name(
                (NameOID.ORGANIZATION_NAME, "sigstore.dev"),
                (NameOID.COMMON_NAME, "sigstore-intermediate"),
            ),
            "CN=sigstore-intermediate,O=sigstore.dev",
        ),
        (
            name(
                (NameOID.COMMON_NAME, "sigstore-intermediate"),
                (NameOID.ORGANIZATION_NAME, "sigstore.dev"),
            ),
            "CN=sigstore-intermediate,O=sigstore.dev",
        ),
        (
            name(
                (NameOID.COUNTRY_NAME, "US"),
                (NameOID.ORGANIZATIONAL_UNIT_NAME, "a"),
                (NameOID.ORGANIZATIONAL_UNIT_NAME, "b"),
                (NameOID.SERIAL_NUMBER, "7"),
                (NameOID.LOCALITY_NAME, "Paris"),
            ),
            "SERIALNUMBER=7,OU=a+OU=b,L=Paris,C=US",
        ),
        (name((NameOID.COMMON_NAME, " a,b+c#")), "CN=\\ a\\,b\\+c#"),
        (name((NameOID.COMMON_NAME, "#x ")), "CN=\\#x\\ "),
        (
            name((NameOID.COMMON_NAME, "c"), (NameOID.EMAIL_ADDRESS, "e@x")),
            "CN=c,1.2.840.113549.1.9.1=#0c03654078",
        ),
        (
            name((NameOID.COMMON_NAME, "c"), (NameOID.DOMAIN_COMPONENT, "dev")),
            "CN=c,0.9.2342.19200300.100.1.25=#1303646576",
        ),
    ],
)
def test_go_name_string(dn: x509.Name, expected: str) -> None:
    assert go_name_string(dn) == expected


def test_signer_info_of_a_test_certificate_has_every_claim() -> None:
    ts = TestSigstore(seed=31)
    signer = ts.new_signer(
        identity="https://github.com/o/r/.github/workflows/w.yml@refs/heads/main",
        extensions={
            ".9": "https://github.com/o/r/.github/workflows/w.yml@refs/heads/main",
            ".11": "github-hosted",
            ".12": "https://github.com/o/r",
            ".22": "private",
        },
    )
    info = signer_info(signer.certificate)
    assert info.certificate_issuer == "CN=sigstore-intermediate,O=sigstore.dev"
    assert info.issuer == "https://token.actions.githubusercontent.com"
    assert info.build_signer_uri.endswith("w.yml@refs/heads/main")
    assert info.runner_environment == "github-hosted"
    assert info.source_repository_uri == "https://github.com/o/r"
    assert info.source_repository_visibility_at_signing == "private"
    assert info.build_trigger == ""  # absent claims stay empty (omitted in JSON)
    assert "buildTrigger" not in info.to_dict()

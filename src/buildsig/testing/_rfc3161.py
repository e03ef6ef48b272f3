"""RFC 3161 time-stamp responses, written by hand with the small DER encoder.

A TimeStampResp wraps a CMS ``SignedData`` (RFC 5652) whose encapsulated content is a
TSTInfo. The signer signs the DER ``SET OF`` its signed attributes (content type, signing
time, message digest of the TSTInfo, and the ESS ``signingCertificateV2`` binding the
signer certificate), exactly the layout Sigstore's timestamp authority emits.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from buildsig.testing import _der as der
from buildsig.testing import _keys as keys

OID_SIGNED_DATA = "1.2.840.113549.1.7.2"
OID_TST_INFO = "1.2.840.113549.1.9.16.1.4"
OID_CONTENT_TYPE = "1.2.840.113549.1.9.3"
OID_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
OID_SIGNING_TIME = "1.2.840.113549.1.9.5"
OID_SIGNING_CERTIFICATE_V2 = "1.2.840.113549.1.9.16.2.47"
OID_SHA256 = "2.16.840.1.101.3.4.2.1"
OID_ECDSA_WITH_SHA256 = "1.2.840.10045.4.3.2"
#: Sigstore's TSA policy arc, used by its public timestamp authority.
SIGSTORE_TSA_POLICY = "1.3.6.1.4.1.57264.2"


@dataclass(frozen=True)
class TSTInfoFields:
    """The fields of one TSTInfo; see RFC 3161 section 2.4.2."""

    message_digest: bytes
    gen_time: datetime
    serial: int
    policy: str = SIGSTORE_TSA_POLICY
    nonce: int | None = None
    accuracy_seconds: int | None = 1
    tsa_name: x509.Name | None = None


def _name(name: x509.Name) -> bytes:
    return name.public_bytes()


def encode_tst_info(fields: TSTInfoFields) -> bytes:
    """The DER TSTInfo for ``fields`` (message imprint algorithm: SHA-256)."""
    parts = [
        der.integer(1),
        der.oid(fields.policy),
        der.sequence(
            der.sequence(der.oid(OID_SHA256), der.null()),
            der.octet_string(fields.message_digest),
        ),
        der.integer(fields.serial),
        der.generalized_time(fields.gen_time),
    ]
    if fields.accuracy_seconds is not None:
        parts.append(der.sequence(der.integer(fields.accuracy_seconds)))
    if fields.nonce is not None:
        parts.append(der.integer(fields.nonce))
    if fields.tsa_name is not None:
        # tsa [0] GeneralName, and GeneralName's directoryName is [4] EXPLICIT Name.
        parts.append(der.explicit(0, der.explicit(4, _name(fields.tsa_name))))
    return der.sequence(*parts)


def _attribute(oid: str, value: bytes) -> bytes:
    return der.sequence(der.oid(oid), der.set_of(value))


def encode_timestamp_response(
    fields: TSTInfoFields,
    *,
    signer_certificate: x509.Certificate,
    signer_key: ec.EllipticCurvePrivateKey,
    embedded_certificates: Sequence[x509.Certificate],
    signing_time: datetime | None = None,
) -> bytes:
    """A granted TimeStampResp whose token is signed by ``signer_key``.

    ``signer_certificate`` names the signer (issuer and serial) and is bound by the
    ``signingCertificateV2`` attribute; ``embedded_certificates`` go into the SignedData
    ``certificates`` field (empty to leave the verifier to supply them).
    """
    tst_info = encode_tst_info(fields)
    cert_der = signer_certificate.public_bytes(serialization.Encoding.DER)
    issuer_and_serial = der.sequence(
        _name(signer_certificate.issuer), der.integer(signer_certificate.serial_number)
    )
    ess_cert_id_v2 = der.sequence(
        # hashAlgorithm defaults to SHA-256 and DER omits defaults.
        der.octet_string(hashlib.sha256(cert_der).digest()),
        der.sequence(
            der.sequence(der.explicit(4, _name(signer_certificate.issuer))),
            der.integer(signer_certificate.serial_number),
        ),
    )
    attributes = [
        _attribute(OID_CONTENT_TYPE, der.oid(OID_TST_INFO)),
        _attribute(OID_SIGNING_TIME, der.utc_time(signing_time or fields.gen_time)),
        _attribute(OID_MESSAGE_DIGEST, der.octet_string(hashlib.sha256(tst_info).digest())),
        _attribute(OID_SIGNING_CERTIFICATE_V2, der.sequence(der.sequence(ess_cert_id_v2))),
    ]
    signed_attrs = der.set_of(*attributes)
    signature = signer_key.sign(signed_attrs, keys.ecdsa(hashes.SHA256()))
    signer_info = der.sequence(
        der.integer(1),
        issuer_and_serial,
        der.sequence(der.oid(OID_SHA256)),
        der.implicit(0, signed_attrs),
        der.sequence(der.oid(OID_ECDSA_WITH_SHA256)),
        der.octet_string(signature),
    )
    signed_data_parts = [
        der.integer(3),
        der.set_of(der.sequence(der.oid(OID_SHA256))),
        der.sequence(der.oid(OID_TST_INFO), der.explicit(0, der.octet_string(tst_info))),
    ]
    if embedded_certificates:
        certs = b"".join(c.public_bytes(serialization.Encoding.DER) for c in embedded_certificates)
        signed_data_parts.append(der.tlv(0xA0, certs))
    signed_data_parts.append(der.set_of(signer_info))
    content_info = der.sequence(
        der.oid(OID_SIGNED_DATA), der.explicit(0, der.sequence(*signed_data_parts))
    )
    return der.sequence(der.sequence(der.integer(0)), content_info)

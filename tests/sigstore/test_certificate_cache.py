"""The verifier's per-certificate cache keeps only time-independent results.

One signing run puts one certificate on many bundles; the chain signatures and SCTs of
that certificate are checked once. Everything that depends on a bundle's own times
(validity of the certificate and its chain, the CA's trust window) is still checked for
every bundle, and a certificate that failed is never remembered as good.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from buildsig.errors import VerificationError
from buildsig.sigstore import TrustRoot, Verifier
from buildsig.testing import TestSigstore


def test_bundles_sharing_a_certificate_verify_it_once() -> None:
    ts = TestSigstore(seed=21)
    signer = ts.new_signer()
    verifier = Verifier(TrustRoot.from_json(ts.trusted_root_json()))
    for i in range(3):
        data = b"file %d" % i
        result = verifier.verify_artifact(ts.sign_artifact(data, signer=signer), data)
        assert result.certificate == signer.certificate
    assert list(verifier._certs) == [signer.certificate]


def test_a_cached_certificate_is_still_checked_at_each_bundles_time() -> None:
    ts = TestSigstore(seed=22)
    signer = ts.new_signer()  # valid for ten minutes from ts.now
    verifier = Verifier(TrustRoot.from_json(ts.trusted_root_json()))
    verifier.verify_artifact(ts.sign_artifact(b"a", signer=signer), b"a")
    late = ts.sign_artifact(b"b", signer=signer, when=ts.now + timedelta(hours=1))
    with pytest.raises(VerificationError, match="not valid at"):
        verifier.verify_artifact(late, b"b")


def test_a_certificate_that_failed_is_not_cached() -> None:
    ts, other = TestSigstore(seed=23), TestSigstore(seed=24)
    verifier = Verifier(TrustRoot.from_json(ts.trusted_root_json()))
    foreign = other.sign_artifact(b"x")
    for _ in range(2):
        with pytest.raises(VerificationError, match="chain"):
            verifier.verify_artifact(foreign, b"x")
    assert not verifier._certs


def test_the_cache_is_bounded_and_can_be_turned_off() -> None:
    ts = TestSigstore(seed=25)
    root = TrustRoot.from_json(ts.trusted_root_json())
    small, off = Verifier(root, certificate_cache=2), Verifier(root, certificate_cache=0)
    for i in range(4):
        data = b"%d" % i
        bundle = ts.sign_artifact(data)
        small.verify_artifact(bundle, data)
        off.verify_artifact(bundle, data)
    assert len(small._certs) == 2
    assert not off._certs

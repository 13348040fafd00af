"""eldwyn.pki: the CA, the certificates it issues, and when to issue again."""

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from eldwyn import pki

NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
NAMES = ["cslabs.clarkson.edu", "muc.comm.cslabs.clarkson.edu"]


@pytest.fixture(scope="module")
def ca():
    return pki.create_ca("Test CA", validity_days=3650, now=NOW)


@pytest.fixture(scope="module")
def leaf(ca):
    return pki.issue_certificate(NAMES, *ca, validity_days=365, now=NOW)


def test_ca_certificate(ca):
    cert = x509.load_pem_x509_certificate(ca[1])
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length == 0
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign and not usage.digital_signature
    cert.verify_directly_issued_by(cert)  # self-signed


def test_issued_certificate(ca, leaf):
    key_pem, cert_pem = leaf
    cert = x509.load_pem_x509_certificate(cert_pem)
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(ca[1]))
    assert pki.is_signed_by(cert_pem, ca[1])
    assert pki.certificate_names(cert_pem) == NAMES
    assert cert.subject.rfc4514_string() == f"CN={NAMES[0]}"
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(eku) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert cert.public_key().curve.name == "secp256r1"
    assert cert.not_valid_after_utc - NOW == datetime.timedelta(days=365)
    assert pki.key_matches_certificate(key_pem, cert_pem)
    assert key_pem.startswith(b"-----BEGIN " + b"PRIVATE KEY-----")  # split: the repo holds no key, only this header


def test_fresh_certificate_is_kept(ca, leaf):
    assert pki.needs_reissue(leaf[1], list(reversed(NAMES)), ca[1], now=NOW) is None


@pytest.mark.parametrize("days_left, reissue", [(31, False), (30, False), (29, True), (-1, True)])
def test_renewal_threshold(ca, leaf, days_left, reissue):
    now = NOW + datetime.timedelta(days=365 - days_left)
    reason = pki.needs_reissue(leaf[1], NAMES, ca[1], now=now, renew_before_days=30)
    assert (reason is not None) == reissue
    if reissue:
        assert reason.startswith(f"expires in {days_left} days")


def test_names_changed(ca, leaf):
    reason = pki.needs_reissue(leaf[1], NAMES + ["upload.comm.cslabs.clarkson.edu"], ca[1], now=NOW)
    assert reason.startswith("names changed")
    assert pki.needs_reissue(leaf[1], NAMES[:1], ca[1], now=NOW).startswith("names changed")


def test_foreign_ca(leaf):
    other_ca = pki.create_ca("Test CA", now=NOW)  # same name, different key
    assert not pki.is_signed_by(leaf[1], other_ca[1])
    assert pki.needs_reissue(leaf[1], NAMES, other_ca[1], now=NOW) == "not signed by this CA"


def test_missing_or_garbage(ca):
    assert pki.needs_reissue(None, NAMES, ca[1]) == "no certificate"
    assert pki.needs_reissue(b"garbage", NAMES, ca[1]) == "not a PEM certificate"


def test_key_of_another_certificate_does_not_match(ca, leaf):
    other_key, _ = pki.issue_certificate(NAMES, *ca, now=NOW)
    assert not pki.key_matches_certificate(other_key, leaf[1])


def test_fingerprint(leaf):
    fingerprint = pki.fingerprint(leaf[1])
    assert len(fingerprint.split(":")) == 32
    assert fingerprint == fingerprint.upper()
    assert fingerprint.replace(":", "").lower() == x509.load_pem_x509_certificate(leaf[1]).fingerprint(
        pki.hashes.SHA256()
    ).hex()

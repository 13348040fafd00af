"""The local certificate authority: make it, issue host certificates, decide when to re-issue.

All keys are ECDSA P-256: made in well under a millisecond (RSA 2048 takes ~50 ms, 4096 much
more), small, and supported by every TLS stack our clients and peers use (OpenSSL, GnuTLS,
NSS, Java, Apple) in TLS 1.2 and 1.3, and by Prosody's default "intermediate" TLS profile.

Functions return PEM bytes; writing them (and the modes of key files) is the caller's job.
"""

import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# Names of the CA's files in the operator's secrets store (eldwyn.secrets.SecretsStore).
CA_CERT_SECRET = "ca.crt"
CA_KEY_SECRET = "ca.key"

# Issued certificates start this much in the past, so a host whose clock lags a little
# still accepts a certificate issued a moment ago.
_BACKDATE = datetime.timedelta(hours=1)


def _now(now):
    return now if now is not None else datetime.datetime.now(datetime.timezone.utc)


def _new_key():
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key):
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def create_ca(common_name, validity_days=3650, now=None):
    """Make a CA: returns (key_pem, cert_pem). CA:TRUE, pathlen 0, keyCertSign + cRLSign."""
    now = _now(now)
    key = _new_key()
    public_key = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + datetime.timedelta(days=validity_days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .sign(key, hashes.SHA256())
    )
    return _key_pem(key), cert.public_bytes(serialization.Encoding.PEM)


def issue_certificate(names, ca_key_pem, ca_cert_pem, validity_days=365, now=None):
    """Issue a server certificate for ``names``: returns (key_pem, cert_pem).

    CN = names[0], SAN = every name; usable as TLS server and client (s2s connects out too).
    """
    names = list(names)
    if not names:
        raise ValueError("issue_certificate needs at least one name")
    now = _now(now)
    ca_key = serialization.load_pem_private_key(ca_key_pem, password=None)
    ca_cert = x509.load_pem_x509_certificate(ca_cert_pem)
    key = _new_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(names[0]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + datetime.timedelta(days=validity_days))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False,
                crl_sign=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return _key_pem(key), cert.public_bytes(serialization.Encoding.PEM)


def certificate_names(cert_pem):
    """The DNS names in the certificate's SAN, in order."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return san.get_values_for_type(x509.DNSName)


def is_signed_by(cert_pem, ca_cert_pem):
    """True if ``cert_pem`` was issued and signed by the CA of ``ca_cert_pem``."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    try:
        cert.verify_directly_issued_by(x509.load_pem_x509_certificate(ca_cert_pem))
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def validity_problem(cert, now=None, renew_before_days=30):
    """Why ``cert`` (an x509.Certificate) is not good for now, or None: not valid yet, or fewer
    than ``renew_before_days`` days left."""
    now = _now(now)
    if cert.not_valid_before_utc > now:
        return f"not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"
    left = cert.not_valid_after_utc - now
    if left < datetime.timedelta(days=renew_before_days):
        return f"expires in {left.days} days (renewal below {renew_before_days})"
    return None


def covers(cert_pem, name):
    """True if the certificate's SAN names ``name``, itself or by a wildcard for its parent."""
    parent = name.split(".", 1)[1] if "." in name else None
    return any(each.lower() == name.lower() or (parent and each.lower() == f"*.{parent}".lower())
               for each in certificate_names(cert_pem))


def usable_as_is(cert_pem, key_pem, name, now=None, renew_before_days=30):
    """Why a certificate not issued by us (an adopted one) cannot be served for ``name``, or None:
    unreadable, does not name it, its key does not match, not valid yet, or fewer than
    ``renew_before_days`` days left."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
        if not key_matches_certificate(key_pem, cert_pem):
            return "its key does not match"
    except (ValueError, TypeError):
        return "not a PEM certificate and key"
    if not covers(cert_pem, name):
        return f"does not name {name} (names {certificate_names(cert_pem)})"
    return validity_problem(cert, now, renew_before_days)


def needs_reissue(cert_pem, names, ca_cert_pem, now=None, renew_before_days=30):
    """Why the certificate must be issued again, or None if it is good as it is.

    Reasons: missing or unreadable, not signed by this CA, names differ from ``names``
    (order ignored), not valid yet, fewer than ``renew_before_days`` days left.
    """
    if not cert_pem:
        return "no certificate"
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError:
        return "not a PEM certificate"
    if not is_signed_by(cert_pem, ca_cert_pem):
        return "not signed by this CA"
    have, want = sorted(certificate_names(cert_pem)), sorted(names)
    if have != want:
        return f"names changed: has {have}, wants {want}"
    return validity_problem(cert, now, renew_before_days)


def key_matches_certificate(key_pem, cert_pem):
    """True if the private key belongs to the certificate (for operator-supplied pairs)."""
    key = serialization.load_pem_private_key(key_pem, password=None)
    cert = x509.load_pem_x509_certificate(cert_pem)
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    return key.public_key().public_bytes(serialization.Encoding.DER, spki) == (
        cert.public_key().public_bytes(serialization.Encoding.DER, spki)
    )


def fingerprint(cert_pem, algorithm=hashes.SHA256):
    """The certificate's fingerprint as colon-separated hex, e.g. 'AB:12:...'."""
    digest = x509.load_pem_x509_certificate(cert_pem).fingerprint(algorithm())
    return ":".join(f"{byte:02X}" for byte in digest)

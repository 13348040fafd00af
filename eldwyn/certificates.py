"""Which certificate and key each XMPP name gets, decided on the operator's side.

The local CA and every key it issued live in the operator's secrets store, never only on the
host: a rebuilt host gets the same certificates back, and the CA key never leaves the
operator's machine. A certificate is re-issued only when eldwyn.pki.needs_reissue says so
(fewer than tls_renew_before_days left, names changed, another CA). Operator-supplied files
(tls_certificate_files) are used as they are; so are an adopted host's certificates
(adopted_names) while they are good (tls_keep_adopted_certificates).
"""

import datetime
from dataclasses import dataclass
from pathlib import Path

from eldwyn import pki

CA_KEY, CA_CERT = pki.CA_KEY_SECRET, pki.CA_CERT_SECRET  # their names in the secrets store


@dataclass(frozen=True)
class Issued:
    name: str
    certificate_pem: bytes
    key_pem: bytes
    reason: str | None  # why it was (re-)issued in this run, None if kept


def ensure_ca(tls, store):
    """The CA's (key_pem, cert_pem), created in the store on first use."""
    if not store.exists(CA_KEY):
        key_pem, cert_pem = pki.create_ca(tls.ca_common_name, tls.ca_validity_days)
        store.put_bytes(CA_CERT, cert_pem, replace=True)
        store.put_bytes(CA_KEY, key_pem)
    return store.get_bytes(CA_KEY), store.get_bytes(CA_CERT)


def _names_in_store(name):
    return f"tls-{name}.crt", f"tls-{name}.key"


def adopted_names(name):
    """The names in the secrets store of the certificate and key that the old Eldwyn served for
    ``name``: written into an adopted backup (operator_tasks/adopt.py), copied into the store by
    the restore (eldwyn.backup.merge_secrets)."""
    return f"adopted-tls-{name}.crt", f"adopted-tls-{name}.key"


def _adopted(certificate, tls, store, now):
    """The adopted (cert_pem, key_pem) of this name if it is to be served, else None."""
    cert_secret, key_secret = adopted_names(certificate.name)
    if not (tls.keep_adopted_certificates and store.exists(cert_secret) and store.exists(key_secret)):
        return None
    cert_pem, key_pem = store.get_bytes(cert_secret), store.get_bytes(key_secret)
    if pki.usable_as_is(cert_pem, key_pem, certificate.name, now=now, renew_before_days=tls.renew_before_days):
        return None
    return cert_pem, key_pem


def certificate_for(certificate, tls, store, now=None):
    """The Issued certificate of one Certificate (of config.certificates, or config.site_certificate)."""
    if certificate.supplied_certificate:
        return Issued(certificate.name, Path(certificate.supplied_certificate).read_bytes(),
                      Path(certificate.supplied_key).read_bytes(), None)
    adopted = _adopted(certificate, tls, store, now)
    if adopted:
        return Issued(certificate.name, *adopted, None)
    ca_key, ca_cert = ensure_ca(tls, store)
    cert_secret, key_secret = _names_in_store(certificate.name)
    current = store.get_bytes(cert_secret) if store.exists(cert_secret) else None
    reason = pki.needs_reissue(current, [certificate.name], ca_cert, now=now,
                               renew_before_days=tls.renew_before_days)
    if reason:
        key_pem, cert_pem = pki.issue_certificate([certificate.name], ca_key, ca_cert,
                                                  tls.certificate_validity_days, now=now)
        store.put_bytes(key_secret, key_pem, replace=True)
        store.put_bytes(cert_secret, cert_pem, replace=True)
    return Issued(certificate.name, store.get_bytes(cert_secret), store.get_bytes(key_secret), reason)


def all_certificates(config, store, now=None):
    """The Issued certificate of every XMPP name of ``config``, the realm first."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return [certificate_for(certificate, config.tls, store, now) for certificate in config.certificates]

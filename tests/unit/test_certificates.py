"""Operator-side certificate decisions (eldwyn/certificates.py): issued once into the secrets
store, kept while valid, re-issued when fewer than tls_renew_before_days remain or the names
change; operator-supplied files used as they are."""

import dataclasses
import datetime

import pytest

from eldwyn import pki
from eldwyn.certificates import all_certificates, certificate_for
from eldwyn.config import load_config

NOW = datetime.datetime(2026, 11, 24, tzinfo=datetime.timezone.utc)


def test_every_name_gets_its_own_certificate_from_one_ca(config, store):
    issued = all_certificates(config, store, now=NOW)
    assert [each.name for each in issued] == list(config.hosts)
    ca_cert = store.get_bytes(pki.CA_CERT_SECRET)
    for each in issued:
        assert pki.certificate_names(each.certificate_pem) == [each.name]
        assert pki.is_signed_by(each.certificate_pem, ca_cert)
        assert pki.key_matches_certificate(each.key_pem, each.certificate_pem)
        assert each.reason == "no certificate"


def test_a_valid_certificate_is_kept(config, store):
    first = all_certificates(config, store, now=NOW)
    again = all_certificates(config, store, now=NOW + datetime.timedelta(days=300))
    assert [each.reason for each in again] == [None] * len(first)
    assert [each.certificate_pem for each in again] == [each.certificate_pem for each in first]


@pytest.mark.parametrize("days_later, reissued", [(334, False), (336, True)])
def test_renewed_only_within_the_last_30_days(config, store, days_later, reissued):
    realm = config.certificate(config.realm)
    first = certificate_for(realm, config.tls, store, now=NOW)
    later = certificate_for(realm, config.tls, store, now=NOW + datetime.timedelta(days=days_later))
    assert (later.reason is not None) == reissued, later.reason
    assert (later.certificate_pem != first.certificate_pem) == reissued


def test_a_renamed_component_gets_a_new_certificate(data, store):
    config = load_config(data, environ={})
    all_certificates(config, store, now=NOW)
    data["xmpp_components"][0]["name"] = "rooms.comm.cslabs.clarkson.edu"
    renamed = load_config(data, environ={})
    issued = {each.name: each for each in all_certificates(renamed, store, now=NOW)}
    assert issued["rooms.comm.cslabs.clarkson.edu"].reason == "no certificate"
    assert issued[renamed.realm].reason is None


def test_operator_supplied_files_are_used_as_they_are(config, store, tmp_path):
    ca_key, ca_cert = pki.create_ca("Someone else's CA")
    key_pem, cert_pem = pki.issue_certificate([config.realm], ca_key, ca_cert)
    (tmp_path / "fullchain.pem").write_bytes(cert_pem)
    (tmp_path / "privkey.pem").write_bytes(key_pem)
    supplied = dataclasses.replace(config.certificate(config.realm),
                                   supplied_certificate=str(tmp_path / "fullchain.pem"),
                                   supplied_key=str(tmp_path / "privkey.pem"))
    issued = certificate_for(supplied, config.tls, store, now=NOW)
    assert (issued.certificate_pem, issued.key_pem, issued.reason) == (cert_pem, key_pem, None)
    assert not store.exists(pki.CA_KEY_SECRET), "no local CA is needed for supplied certificates"

"""Real clients against the deployed test-bed VM: everything issue 3 says a user can do.

The VM's ports are forwarded to 127.0.0.1 (testbed/ports.json); names are never resolved: the
realm or component name goes into SNI, stream `to` and Host, and every certificate chain must
verify against the test bed's CA (secret `ca.crt`) for that name. Account passwords come from
the test bed's secrets store. Every check is bounded (tests/xmpp.py, 60 s each).

Set ELDWYN_XMPP_TARGET=<json> (see tests/xmpp.py, target_from_json) to run the same tests
against a development server instead, without deploying the VM.
"""

import pytest

from tests import xmpp

TESTERS = "Testers"  # the shared roster group the test bed defines (group_data/testbed.py)


@pytest.fixture(scope="module")
def alice(target):
    return f"alice@{target.realm}"


@pytest.fixture(scope="module")
def bob(target):
    return f"bob@{target.realm}"


@pytest.fixture(scope="module")
def admin(target):
    return target.admins[0]


def test_starttls_login_with_scram_for_every_seeded_account(target):
    expected = {f"alice@{target.realm}", f"bob@{target.realm}", *target.admins}
    assert expected <= set(target.passwords), "accounts without a password in the secrets store"
    seen = {jid: xmpp.check_login(target, jid) for jid in sorted(target.passwords)}
    for jid, login in seen.items():
        assert login["mechanism"].startswith("SCRAM-"), (jid, login)
        assert login["tls"] in ("TLSv1.2", "TLSv1.3"), (jid, login)


def test_a_bot_logs_in_with_legacy_auth_and_a_wrong_password_is_refused(target, alice):
    """mod_legacyauth stays for the bots the operators' page mentions (XEP-0078, over TLS only).
    Debian's security update 13.0.1-1+deb131u2 broke its loading (see
    files/usr/local/share/lua/5.4/prosody/encodings.lua): this fails if it does not load."""
    assert xmpp.check_legacy_auth(target, alice) == "result"
    assert xmpp.check_legacy_auth(target, alice, password=target.password(alice) + "x") == "not-authorized"


def test_message_between_two_users(target, alice, bob):
    xmpp.check_message(target, alice, bob)
    xmpp.check_message(target, bob, alice)


def test_carbons_copy_to_the_second_resource(target, alice, bob):
    xmpp.check_carbons(target, alice, bob)


def test_mam_returns_sent_messages(target, alice, bob):
    xmpp.check_mam(target, alice, bob)


def test_muc_room_message_and_history_after_rejoining(target, alice, bob):
    xmpp.check_muc(target, alice, bob)


def test_upload_of_1_mib_fetched_back_byte_identical(target, alice):
    url, _ = xmpp.check_upload(target, alice, size=xmpp.MIB)
    assert url.startswith(f"https://{target.components['http_file_share']}:"
                          f"{target.announced_ports['https']}/")


def test_upload_slot_over_the_size_limit_refused(target, alice):
    size_limit = target.options["http_file_share"]["http_file_share_size_limit"]  # from the data
    condition, limit = xmpp.check_upload_too_large(target, alice, size=size_limit + 1)
    assert condition == "not-acceptable"
    assert limit == str(size_limit)


@pytest.mark.parametrize("secure", [True, False], ids=["https", "http"])
def test_bosh_session_reaches_stream_features(target, secure):
    xmpp.check_bosh(target, secure=secure)


def test_websocket_session_reaches_stream_features(target):
    xmpp.check_websocket(target)


def test_proxy65_streamhost_announced_on_port_5000(target, alice):
    host = xmpp.check_proxy65(target, alice)
    assert int(host["port"]) == 5000


def test_pubsub_publish_and_fetch(target, admin, alice):
    xmpp.check_pubsub(target, admin, alice)


def test_vcard4_publish_and_fetch(target, alice, bob):
    xmpp.check_vcard4(target, alice, bob)


def test_shared_roster_group_in_members_rosters(target, alice, bob):
    xmpp.check_shared_roster(target, alice, TESTERS, [bob])
    xmpp.check_shared_roster(target, bob, TESTERS, [alice])


def test_contact_info_lists_the_admins(target, alice):
    xmpp.check_contact_info(target, alice)


def _for_each(names, check, target):
    failures = {}
    for name in names:
        try:
            check(target, name)
        except Exception as error:  # noqa: BLE001 - report every name, then fail
            failures[name] = repr(error)
    assert not failures, failures


def test_tls_c2s_starttls_for_the_realm(target):
    xmpp.check_tls_c2s(target, target.realm)


def test_c2s_refuses_components(target):
    _for_each(target.components.values(), xmpp.check_c2s_refuses_component, target)


def test_tls_s2s_starttls_for_every_name(target):
    _for_each(target.hosts, xmpp.check_tls_s2s, target)


def test_tls_https_with_sni_for_every_name(target):
    _for_each(target.hosts, xmpp.check_tls_https, target)


def test_quick_checks(target, alice, bob):
    """The subset an after-reboot test runs."""
    result = xmpp.quick_checks(target, alice, bob)
    assert set(result) == {"login", "message", "upload"}


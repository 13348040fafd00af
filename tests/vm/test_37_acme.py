"""tls_mode "acme" in the VM, as production runs it against Let's Encrypt: Debian's pebble and its
mock DNS (testbed/vm/acme-servers) answer ACME and DNS for every name, certbot on the VM gets
each name's certificate over HTTP-01 through nginx, and real clients trust pebble's root only.
Then federation with a second Prosody of the test bed's (testbed/vm/peer), in its own network
namespace: federated.example, with a pebble certificate, and untrusted.example, self-signed.

At the end the VM goes back to the test bed's own data (the local CA), for the tests after these.
"""

import dataclasses
import re
import socket
import subprocess

import pytest

from eldwyn.acme import LETSENCRYPT
from tests import federation, testbed, xmpp, xmpp_calls, xmpp_register

CONFIG = testbed.config_for_testbed()
NAMES = tuple(cert.name for cert in (*CONFIG.certificates, *CONFIG.service_certificates))  # realm ... site, coturn
UPLOAD = next(c.name for c in CONFIG.components if c.type == "http_file_share")
ACME_STATE = "/var/lib/eldwyn-testbed/acme"
PEER_STATE = "/var/lib/eldwyn-testbed/peer"
SCRIPTS = "/usr/local/lib/eldwyn-testbed"
LINK_HOST, LINK_PEER = "10.77.0.1", "10.77.0.2"
# What makes the VM an "acme" host against pebble: the only differences from the test bed's data.
ACME_DATA = ("--data", "tls_mode=acme",
             "--data", "tls_acme_directory=https://localhost:14000/dir",
             "--data", f"tls_acme_ca_bundle={ACME_STATE}/https-ca.crt",
             "--data", f'prosody_dns_servers=["{LINK_HOST}@8053"]')


def _scp(ssh_config, source, destination):
    subprocess.run(["scp", "-q", "-F", str(ssh_config), str(source), f"eldwyn-vm:{destination}"],
                   check=True, timeout=60)


def _point(vm, host, address):
    """The test DNS answers ``host`` with ``address`` only."""
    for endpoint, body in (("clear-a", f'{{"host": "{host}."}}'),
                           ("add-a", f'{{"host": "{host}.", "addresses": ["{address}"]}}')):
        vm.check_output(f"curl -sf -X POST -d '{body}' http://127.0.0.1:8055/{endpoint}")


def _forget_pebble(vm):
    """certbot's lineages and account from a pebble that is gone: a new pebble has a new root
    and knows no account. What `certbot delete --cert-name NAME` removes, in one command:
    certbot takes one name at a time and is slow to start under emulation."""
    lineages = " ".join(f"{LETSENCRYPT}/live/{name} {LETSENCRYPT}/archive/{name} {LETSENCRYPT}/renewal/{name}.conf"
                        for name in NAMES)
    vm.check_output(f"rm -rf {lineages} {LETSENCRYPT}/accounts/localhost:14000")


@pytest.fixture(scope="module")
def acme_servers(vm, ssh_config, first_deploy, tmp_path_factory):
    """pebble and the test DNS running in the VM; yields the path of pebble's root (here)."""
    for script in ("acme-servers", "peer"):
        _scp(ssh_config, testbed.REPO / "testbed" / "vm" / script, f"/tmp/{script}")
    vm.check_output(f"mkdir -p {SCRIPTS} && install -m 755 /tmp/acme-servers /tmp/peer {SCRIPTS}/")
    _forget_pebble(vm)  # left by a run that could not tear down
    try:
        vm.check_output(f"{SCRIPTS}/acme-servers start {' '.join(NAMES)}")
        root = tmp_path_factory.mktemp("pebble") / "root.crt"
        root.write_text(vm.file(f"{ACME_STATE}/root.crt").content_string)
        yield root
    finally:
        back = testbed.pyinfra_deploy()  # the test bed's own data: the local CA again
        _forget_pebble(vm)
        vm.run(f"{SCRIPTS}/peer stop")
        vm.run(f"{SCRIPTS}/acme-servers stop")
        assert back.returncode == 0, "the deploy back to the local CA failed"


@pytest.fixture(scope="module")
def acme_deploy(acme_servers):
    return testbed.pyinfra_deploy(*ACME_DATA)


@pytest.fixture(scope="module")
def acme_target(target, acme_servers, acme_deploy):
    """The deployed VM, trusted through pebble's root alone."""
    assert acme_deploy.returncode == 0, "the deploy in mode acme failed"
    return dataclasses.replace(target, ca_file=str(acme_servers))


def _served_sha256(target, name):
    if name == CONFIG.realm:
        return xmpp.check_tls_c2s(target, name)["sha256"]
    if name == CONFIG.signup.site_name:
        return xmpp.check_tls_https(target, name, port=testbed.host_port("web_https"))["sha256"]
    return xmpp.check_tls_https(target, name)["sha256"]


def test_the_deploy_gets_every_name_from_pebble(vm, acme_deploy):
    assert acme_deploy.returncode == 0 and acme_deploy.errors == 0
    for cert in CONFIG.acme_certificates or (*CONFIG.certificates, *CONFIG.service_certificates):
        issuer = vm.check_output(f"openssl x509 -noout -issuer -in {cert.certificate_path}")
        assert "Pebble Intermediate CA" in issuer, (cert.name, issuer)
        assert vm.file(f"/etc/letsencrypt/renewal/{cert.name}.conf").contains("^server = https://localhost:14000/dir")
    assert vm.service("certbot.timer").is_enabled and vm.service("certbot.timer").is_running


def test_clients_verify_every_certificate_against_pebbles_root_only(acme_target):
    user = f"alice@{CONFIG.realm}"
    assert CONFIG.realm in xmpp.check_login(acme_target, user)["names"]
    for name in CONFIG.hosts:
        assert name in xmpp.check_tls_s2s(acme_target, name)["names"]
        assert name in xmpp.check_tls_https(acme_target, name)["names"]
    xmpp.check_bosh(acme_target)
    xmpp.check_websocket(acme_target)
    xmpp.check_upload(acme_target, user)
    site = CONFIG.signup.site_name
    assert site in xmpp.check_tls_https(acme_target, site, port=testbed.host_port("web_https"))["names"]


def test_coturn_serves_its_certificate_from_pebble(vm, acme_target):
    name = CONFIG.turn.host
    run = vm.run(f"echo | timeout 20 openssl s_client -connect 127.0.0.1:5349 -servername {name}"
                 f" -verify_hostname {name} -CAfile {ACME_STATE}/root.crt -verify_return_error 2>&1")
    assert "Verify return code: 0 (ok)" in run.stdout, run.stdout


def test_the_site_verifies_against_pebbles_root(site, acme_target):
    response = site.get(f"{site.base}/", verify=acme_target.ca_file, timeout=30)
    assert response.status_code == 200


def test_sign_up_works_and_offers_no_ca_to_install(vm, site, acme_target):
    """The webservice's own client checks Prosody's certificate against the system's CAs (which
    trust pebble here, Let's Encrypt in production), and the success page offers no CA."""
    token = xmpp_register.create_invite(vm.check_output, CONFIG.realm)
    page = site.get(f"{site.base}/join/{token}", verify=acme_target.ca_file, timeout=30)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    username, password = xmpp_register.new_username("acme"), xmpp_register.new_password()
    joined = site.post(f"{site.base}/join/{token}", verify=acme_target.ca_file, timeout=30, allow_redirects=False,
                       data={"username": username, "password": password, "password_again": password,
                             "csrf_token": csrf})
    assert joined.status_code == 200 and f"{username}@{CONFIG.realm}" in joined.text, joined.text[:500]
    assert "Download the Eldwyn CA certificate" not in joined.text
    assert xmpp_register.can_login(acme_target, username, password)


def test_a_second_deploy_changes_nothing(acme_target):
    run = testbed.pyinfra_deploy(*ACME_DATA)
    assert run.returncode == 0 and run.changed == 0, "a re-run in mode acme changed something"


def test_certbots_timer_runs_against_the_private_acme_server(vm, acme_target):
    environment = vm.check_output("systemctl show -p Environment --value certbot.service")
    assert f"REQUESTS_CA_BUNDLE={ACME_STATE}/https-ca.crt" in environment
    vm.check_output("systemctl start certbot.service")  # nothing due: it must still succeed
    assert vm.check_output("systemctl show -p Result --value certbot.service") == "success"


def test_a_renewal_is_served_while_a_logged_in_client_keeps_talking(vm, acme_target):
    before = _served_sha256(acme_target, CONFIG.realm)

    def renew():
        vm.check_output(f"REQUESTS_CA_BUNDLE={ACME_STATE}/https-ca.crt certbot renew --force-renewal"
                        f" --no-random-sleep-on-renew --cert-name {CONFIG.realm} --quiet")
        return _served_sha256(acme_target, CONFIG.realm)

    after = xmpp.check_session_survives(acme_target, f"alice@{CONFIG.realm}", f"bob@{CONFIG.realm}", renew)
    assert after != before, "clients still see the old certificate after the renewal"
    serial = vm.check_output(f"openssl x509 -noout -serial -in /etc/letsencrypt/live/{CONFIG.realm}/cert.pem")
    assert serial == vm.check_output(f"openssl x509 -noout -serial -in {CONFIG.certificate(CONFIG.realm).certificate_path}")


def test_a_failing_challenge_keeps_the_old_certificate_and_fails_the_deploy(vm, acme_target):
    before = _served_sha256(acme_target, UPLOAD)
    vm.check_output(f"certbot delete --non-interactive --cert-name {UPLOAD}")  # the next deploy must ask
    _point(vm, UPLOAD, LINK_PEER)  # the name now points at a machine that is not Eldwyn
    try:
        run = testbed.pyinfra_deploy(*ACME_DATA)
        assert run.returncode != 0
        assert f"{UPLOAD}: NO certificate from ACME: the ACME server could not reach {UPLOAD} on port 80" in run.output
        assert _served_sha256(acme_target, UPLOAD) == before, "a failed issuance replaced the certificate"
    finally:
        _point(vm, UPLOAD, LINK_HOST)
    run = testbed.pyinfra_deploy(*ACME_DATA)
    assert run.returncode == 0, "with the name's DNS mended, the deploy gets its certificate"
    assert _served_sha256(acme_target, UPLOAD) != before


def test_status_shows_each_issuer_and_the_dns_check(acme_target):
    run = testbed.operator_task("status", **{"tls_mode": "acme"})
    said = "\n".join(run.said())
    assert run.returncode == 0
    for name in NAMES:
        assert f"  {name}: expires " in said and "issuer Pebble Intermediate CA" in said
    assert "Renewals (certbot.timer): last run succeeded" in said
    assert "DNS (prosodyctl check dns):" in said


# ---- Federation ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def peer(vm, ssh_config, acme_target, tmp_path_factory):
    """The peer server running; yields (federated.example's Target, untrusted.example's), both
    dialled through an SSH tunnel into the peer's namespace."""
    vm.check_output(f"{SCRIPTS}/peer start")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    forward = ["ssh", "-F", str(ssh_config), "-O", "forward", "-L", f"127.0.0.1:{port}:{LINK_PEER}:5222", "eldwyn-vm"]
    subprocess.run(forward, check=True, timeout=30)
    try:
        passwords = dict(line.split() for line in vm.file(f"{PEER_STATE}/passwords").content_string.splitlines())
        untrusted_ca = tmp_path_factory.mktemp("untrusted") / "ca.crt"
        untrusted_ca.write_text(vm.file(f"{PEER_STATE}/certs/untrusted.example.crt").content_string)

        def peer_target(realm, ca_file):
            return xmpp.Target(address="127.0.0.1", ports={"c2s": port}, announced_ports={}, ca_file=str(ca_file),
                               realm=realm, components={}, admins=(),
                               passwords={jid: pw for jid, pw in passwords.items() if jid.endswith(f"@{realm}")})

        yield peer_target("federated.example", acme_target.ca_file), peer_target("untrusted.example", untrusted_ca)
    finally:
        subprocess.run([*forward[:3], "-O", "cancel", *forward[5:]], timeout=30)


def test_messages_cross_to_the_other_server_and_back(acme_target, peer):
    federated, _ = peer
    federation.check_message_across(acme_target, f"alice@{CONFIG.realm}", federated, "alice@federated.example")
    federation.check_message_across(federated, "bob@federated.example", acme_target, f"bob@{CONFIG.realm}")


def test_presence_subscriptions_both_ways(acme_target, peer):
    federated, _ = peer
    assert federation.check_subscription_across(acme_target, f"alice@{CONFIG.realm}",
                                                federated, "bob@federated.example") == "both"


def test_a_user_of_the_other_server_joins_a_room_and_sees_its_history(acme_target, peer):
    federated, _ = peer
    federation.check_remote_member_in_room(acme_target, f"alice@{CONFIG.realm}", federated, "alice@federated.example")


def test_a_user_of_the_other_server_downloads_a_shared_file(acme_target, peer):
    federated, _ = peer
    url, digest = xmpp.check_upload(acme_target, f"bob@{CONFIG.realm}")
    federation.check_message_across(acme_target, f"bob@{CONFIG.realm}", federated, "bob@federated.example", text=url)
    xmpp.check_download(acme_target, url, digest, xmpp.MIB)  # what the link gives anyone who has it


def test_users_of_another_server_cannot_create_pubsub_nodes(peer):
    federated, _ = peer
    pubsub = next(c.name for c in CONFIG.components if c.type == "pubsub")
    assert xmpp.pubsub_create_refusal(federated, "alice@federated.example", pubsub) == "forbidden"


def test_users_of_another_server_get_no_turn_credentials(peer):
    federated, _ = peer
    assert xmpp_calls.external_services_refusal(federated, "alice@federated.example", CONFIG.realm) == "forbidden"


def _log_count(vm, text):
    return int(vm.run(f"grep -c -F {text!r} /var/log/prosody/prosody.log").stdout.strip() or 0)


def test_a_server_whose_certificate_does_not_verify_is_refused(vm, acme_target, peer):
    _, untrusted = peer
    out = f"Outgoing s2s stream {CONFIG.realm}->untrusted.example closed: Your server's certificate is self-signed"
    into = f"Incoming s2s stream untrusted.example->{CONFIG.realm} closed: Your server's certificate is self-signed"
    before = _log_count(vm, out), _log_count(vm, into)
    assert federation.check_refused_across(acme_target, f"alice@{CONFIG.realm}", "alice@untrusted.example")
    assert federation.check_refused_across(untrusted, "bob@untrusted.example", f"bob@{CONFIG.realm}")
    # Eldwyn's own verdict, both ways (not the peer's, nor a DNS failure).
    assert _log_count(vm, out) > before[0] and _log_count(vm, into) > before[1]

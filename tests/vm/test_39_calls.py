"""Audio and video calls on the deployed VM: a client of the realm finds coturn through Prosody
(XEP-0215, mod_turn_external) with short-lived credentials, and coturn's own test client
(turnutils_uclient, in the VM) allocates a relay with them and gets its data through it, over
UDP, TCP and TLS. Wrong and expired credentials are refused, and so is a relay to loopback or
to a private address.

The peer the relay sends to is coturn's turnutils_peer on 198.51.100.2 (TEST-NET-2, not in
turn_denied_peer_networks: a stand-in for a public address), on a dummy interface this module
adds to the VM and removes. The client dials coturn on the VM's own address, so that is the
relay's source. turnutils_uclient takes the credentials on its command line only: they are a
test account's, valid minutes, inside the test VM.
"""

import re
import time

import pytest

from eldwyn import turn
from eldwyn.secrets import SecretsStore
from tests import xmpp_calls
from tests.testbed import config_for_testbed

CONFIG = config_for_testbed()
TURN = CONFIG.turn
PEER, PEER_PORT = "198.51.100.2", 3480
PEER_UNIT = "eldwyn-testbed-turn-peer"  # a transient unit of this module's
CA_FILE = "/usr/local/share/ca-certificates/eldwyn-xmpp-ca.crt"  # the test bed's local CA


@pytest.fixture(scope="module", autouse=True)
def deployed(first_deploy):
    return first_deploy


@pytest.fixture(scope="module")
def server_address(vm):
    """The VM's own address, where coturn listens (and relays from)."""
    route = vm.check_output("ip -4 -o route get 192.0.2.1")
    return re.search(r" src (\S+)", route).group(1)


@pytest.fixture(scope="module")
def relay_peer(vm):
    """turnutils_peer, echoing UDP on PEER:PEER_PORT, for the module's tests; then removed."""
    with vm.sudo():
        vm.run(f"systemctl stop {PEER_UNIT}; ip link del eldwyn-turnpeer")  # a previous run's leftovers
        vm.check_output("ip link add eldwyn-turnpeer type dummy && "
                        f"ip addr add {PEER}/32 dev eldwyn-turnpeer && ip link set eldwyn-turnpeer up")
        vm.check_output(f"systemd-run --unit {PEER_UNIT} --property=DynamicUser=yes "
                        f"/usr/bin/turnutils_peer -L {PEER} -p {PEER_PORT}")
    try:
        for _ in range(20):
            if vm.socket(f"udp://{PEER}:{PEER_PORT}").is_listening:
                break
            time.sleep(0.5)
        else:
            raise AssertionError("turnutils_peer does not listen")
        yield PEER
    finally:
        with vm.sudo():
            vm.run(f"systemctl stop {PEER_UNIT}")
            vm.run("ip link del eldwyn-turnpeer")


@pytest.fixture(scope="module")
def announced(target):
    services, asked_at = xmpp_calls.external_services(target, f"alice@{target.realm}")
    return services, asked_at


def turn_credentials(announced):
    services, _ = announced
    found = [service for service in services if service["type"] == "turn" and service["transport"] == "udp"]
    assert found, services
    return found[0]["username"], found[0]["password"]


def relay(vm, server, username, password, peer=PEER, options="", messages=10):
    """turnutils_uclient: one client, ``messages`` of 100 bytes to ``peer`` through a relay.
    Returns (messages received back, its output)."""
    run = vm.run(f"timeout 60 turnutils_uclient {options} -u '{username}' -w '{password}' -e {peer} -r {PEER_PORT}"
                 f" -n {messages} -m 1 -l 100 -c {server} 2>&1; echo \"exit status $?\"")  # 255 is ssh's own failure for testinfra
    output = run.stdout
    received = re.findall(r"tot_recv_msgs=(\d+)", output)
    return (int(received[-1]) if received else 0), output


def test_the_realm_announces_stun_turn_and_turns_with_short_lived_credentials(announced):
    services, asked_at = announced
    kinds = sorted((s["type"], s["transport"], s["host"], s["port"]) for s in services)
    assert kinds == sorted([
        ("stun", "udp", TURN.host, "3478"), ("stun", "tcp", TURN.host, "3478"),
        ("turn", "udp", TURN.host, "3478"), ("turn", "tcp", TURN.host, "3478"),
        ("turns", "tcp", TURN.host, "5349"),
    ]), services
    for service in services:
        if service["type"] in ("turn", "turns"):
            expires = int(service["username"].split(":", 1)[0])
            assert abs(expires - (asked_at + TURN.credential_ttl)) < 120, service
            assert service["password"] and service["restricted"] == "1", service
        else:
            assert "password" not in service, service


@pytest.mark.parametrize("transport, options", [("udp", ""), ("tcp", "-t"),
                                                ("tls", f"-S -t -p 5349 -E {CA_FILE}")])
def test_coturn_relays_with_the_announced_credentials(vm, server_address, relay_peer, announced, transport, options):
    username, password = turn_credentials(announced)
    received, output = relay(vm, server_address, username, password, options=options)
    assert received == 10, output
    assert "Total lost packets 0 " in output, output


def test_turn_over_tls_serves_coturns_certificate_for_its_name(vm, server_address):
    run = vm.run(f"echo | timeout 20 openssl s_client -connect {server_address}:5349 -servername {TURN.host}"
                 f" -verify_hostname {TURN.host} -CAfile {CA_FILE} -verify_return_error 2>&1")
    assert "Verify return code: 0 (ok)" in run.stdout, run.stdout
    assert f"subject=CN={TURN.host}" in run.stdout, run.stdout


def test_wrong_and_expired_credentials_are_refused(vm, server_address, relay_peer, announced):
    username, password = turn_credentials(announced)
    received, output = relay(vm, server_address, username, "x" + password[1:], messages=3)
    assert received == 0 and "Cannot complete Allocation" in output, output
    secret = SecretsStore(CONFIG.secrets.dir).get(turn.SECRET)
    expired = turn.rest_credentials(secret, time.time() - 60)
    received, output = relay(vm, server_address, *expired, messages=3)
    assert received == 0 and "Cannot complete Allocation" in output, output
    # The same secret with an expiry ahead works: the refusal above was for the expiry alone.
    received, output = relay(vm, server_address, *turn.rest_credentials(secret, time.time() + 300), messages=3)
    assert received == 3, output


@pytest.mark.parametrize("peer", ["127.0.0.1", "server", "192.168.1.1", "169.254.1.1"])
def test_a_relay_to_loopback_or_a_private_address_is_refused(vm, server_address, relay_peer, announced, peer):
    username, password = turn_credentials(announced)
    received, output = relay(vm, server_address, username, password,
                             peer=server_address if peer == "server" else peer, messages=3)
    assert received == 0, output
    assert "403 (Forbidden IP)" in output, output


def test_the_firewall_opens_the_turn_ports(vm):
    with vm.sudo():
        rules = vm.check_output("iptables -S INPUT")
    low, high = TURN.relay_ports
    assert "-A INPUT -p udp -m udp --dport 3478 -j ACCEPT" in rules, rules
    assert "-A INPUT -p tcp -m multiport --dports 3478,5349 -j ACCEPT" in rules, rules
    assert f"-A INPUT -p udp -m udp --dport {low}:{high} -j ACCEPT" in rules, rules


def test_the_shared_secret_is_in_files_only_root_and_its_readers_see(vm):
    for path, group in ((TURN.config_file, "turnserver"), (TURN.prosody_secret_file, "prosody")):
        file = vm.file(path)
        assert (file.user, file.group, file.mode) == ("root", group, 0o640), path
    with vm.sudo():
        assert "turn-secret" not in vm.check_output("ps -eo args")
        assert "static-auth-secret" not in vm.check_output("cat /etc/prosody/prosody.cfg.lua")

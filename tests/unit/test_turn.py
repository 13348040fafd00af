"""coturn for calls (turn_* data): its config, its files and the secret it shares with Prosody,
the firewall's TURN rules, and the data's checks."""

import base64
import hashlib
import hmac

import pytest

from eldwyn import turn as turn_helpers
from eldwyn.config import ConfigError, load_config
from eldwyn.render import render
from eldwyn.schema.data import Turn
from tasks import turn


def by_path(found):
    return {file.path: file for file in found}


def test_the_config_authenticates_with_the_shared_secret_and_denies_internal_peers(config, store):
    files = by_path(turn.files(config, store))
    text = files[Turn.config_file].content.decode()
    lines = text.splitlines()
    secret = store.get(Turn.secret)
    assert len(secret) >= 40
    assert "use-auth-secret" in lines and f"static-auth-secret={secret}" in lines
    assert f"realm={config.realm}" in lines and f"server-name={config.turn.host}" in lines
    assert "listening-port=3478" in lines and "tls-listening-port=5349" in lines
    assert "min-port=49152" in lines and "max-port=49407" in lines
    assert f"cert=/etc/coturn/tls/{config.turn.host}.crt" in lines
    assert f"pkey=/etc/coturn/tls/{config.turn.host}.key" in lines
    denied = [line.split("=", 1)[1] for line in lines if line.startswith("denied-peer-ip=")]
    for expected in ("127.0.0.0-127.255.255.255", "10.0.0.0-10.255.255.255", "172.16.0.0-172.31.255.255",
                     "192.168.0.0-192.168.255.255", "169.254.0.0-169.254.255.255", "0.0.0.0-0.255.255.255",
                     "::1-::1", "fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"):
        assert expected in denied
    assert len(denied) == len(config.turn.denied_peer_networks)
    assert "no-cli" in lines and "no-multicast-peers" in lines
    # No option coturn 4.6 no longer knows, no allow-loopback-peers.
    assert not any(line.startswith(("allow-loopback-peers", "no-loopback-peers")) for line in lines)


def test_files_modes_and_the_same_secret_for_prosody(config, store):
    files = by_path(turn.files(config, store))
    conf, prosody_copy = files[Turn.config_file], files[Turn.prosody_secret_file]
    assert (conf.user, conf.group, conf.mode, conf.secret) == ("root", "turnserver", "640", True)
    assert (prosody_copy.user, prosody_copy.group, prosody_copy.mode) == ("root", "prosody", "640")
    assert prosody_copy.content.decode() == store.get(Turn.secret) + "\n"
    key = files[config.turn_certificate.key_path]
    assert (key.group, key.mode, key.secret) == ("turnserver", "640", True)
    assert b"PRIVATE KEY" in key.content and b"CERTIFICATE" in files[config.turn_certificate.certificate_path].content
    # A second run renders the very same files: nothing is re-generated.
    assert turn.files(config, store) == list(files.values())


def test_prosody_announces_coturn_and_reads_the_secret_from_its_file(config):
    text = render("etc/prosody/prosody.cfg.lua.j2", config=config)
    assert f'turn_external_host = "{config.turn.host}"' in text
    assert 'turn_external_secret = FileLine("/etc/prosody/turn-secret")' in text
    assert "\nturn_external_tls_port" not in text  # it would announce turns without credentials
    assert 'type = "turns"; transport = "tcp"; host = "turn.comm.cslabs.clarkson.edu"; port = 5349;' in text
    assert "turn_external" in config.modules_enabled


def test_the_firewall_opens_the_turn_ports(config):
    for template in ("etc/iptables/rules.v4.j2", "etc/iptables/rules.v6.j2"):
        lines = render(template, config=config).splitlines()
        assert "-A INPUT -p udp --dport 3478 -j ACCEPT" in lines
        assert "-A INPUT -p tcp -m multiport --dports 3478,5349 -j ACCEPT" in lines
        assert "-A INPUT -p udp --dport 49152:49407 -j ACCEPT" in lines


def test_without_a_turn_host_nothing_of_it(data, store):
    data = {**data, "turn_host": None,
            "xmpp_modules_enabled": [m for m in data["xmpp_modules_enabled"] if m != "turn_external"]}
    config = load_config(data, environ={})
    assert turn.files(config, store) == [] and not store.exists(Turn.secret)
    assert "coturn" not in config.packages and config.turn_certificate is None
    assert "3478" not in render("etc/iptables/rules.v4.j2", config=config)
    assert "turn_external" not in render("etc/prosody/prosody.cfg.lua.j2", config=config)
    assert config.turn.host not in [cert.name for cert in config.acme_certificates]


@pytest.mark.parametrize("change, key, words", [
    ({"turn_host": "comm.cslabs.clarkson.edu"}, "turn_host", "the site's name"),
    ({"turn_host": "muc.comm.cslabs.clarkson.edu"}, "turn_host", "is an XMPP name"),
    ({"turn_host": None}, "turn_host", "'turn_external' is in xmpp_modules_enabled"),
    ({"turn_host": "turn..example"}, "turn_host", ""),
    ({"turn_relay_ports": [50000, 49000]}, "turn_relay_ports", "first < last"),
    ({"turn_relay_ports": [80, 90]}, "turn_relay_ports", "1024"),
    ({"turn_credential_ttl": 60}, "turn_credential_ttl", "600"),
    ({"turn_credential_ttl": "1 day"}, "turn_credential_ttl", ""),
    ({"turn_denied_peer_networks": ["10.0.0.1/8"]}, "turn_denied_peer_networks", "host bits set"),
    ({"turn_denied_peer_networks": ["localhost"]}, "turn_denied_peer_networks", "is not a network"),
    ({"turn_denied_peer_networks": []}, "turn_denied_peer_networks", ""),
])
def test_bad_turn_data_is_refused_naming_the_key(data, change, key, words):
    with pytest.raises(ConfigError) as error:
        load_config({**data, **change}, environ={})
    assert error.value.path.startswith(key), error.value
    assert words in str(error.value)


def test_a_host_without_the_module_is_refused(data):
    data = {**data, "xmpp_modules_enabled": [m for m in data["xmpp_modules_enabled"] if m != "turn_external"]}
    with pytest.raises(ConfigError) as error:
        load_config(data, environ={})
    assert error.value.path == "turn_host" and "clients would never learn of coturn" in str(error.value)


def test_rest_credentials_are_prosodys():
    # mod_external_services: username "<expires>[:<user>]", password base64(HMAC-SHA1(secret, username)).
    username, password = turn_helpers.rest_credentials("s3cret", 1700000000)
    assert username == "1700000000"
    assert password == base64.b64encode(hmac.new(b"s3cret", b"1700000000", hashlib.sha1).digest()).decode()
    assert turn_helpers.rest_credentials("s3cret", 1700000000.7, "bob")[0] == "1700000000:bob"

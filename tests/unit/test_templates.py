"""Every template, rendered with the real data and with hostile values, read back as its consumer would."""

import re

import pytest

import luadump
from eldwyn.schema.data import RosterMember
from eldwyn.render import TEMPLATES_DIR, render
from test_lua import HOSTILE

PROSODY_CFG = "etc/prosody/prosody.cfg.lua.j2"
REALM_CFG = "etc/prosody/conf.avail/realm.cfg.lua.j2"
GROUPS = "var/lib/prosody/groups.txt.j2"
RULES = {"v4": "etc/iptables/rules.v4.j2", "v6": "etc/iptables/rules.v6.j2"}
IMPORT_CFG = "var/lib/eldwyn-xmpp/restore/import.cfg.lua.j2"
UPDATES = "etc/apt/apt.conf.d/52eldwyn-unattended-upgrades.j2"
TURN = "etc/turnserver.conf.j2"  # tests/unit/test_turn.py
SCHEDULED_BACKUPS = ("usr/local/sbin/eldwyn-backup.j2", "etc/eldwyn-xmpp/backup/restic.env.j2",
                     "etc/systemd/system/eldwyn-backup.service.j2",
                     "etc/systemd/system/eldwyn-backup.timer.j2")  # tests/unit/test_scheduled_backups.py
WEB_CLIENT = ("usr/local/share/eldwyn-xmpp/web-client/index.html.j2",
              "usr/local/share/eldwyn-xmpp/web-client/eldwyn-chat.js.j2")  # tests/unit/test_web_client.py
ACME = ("usr/local/sbin/eldwyn-certificate-deployed.j2", "usr/local/sbin/eldwyn-acme-issue.j2",
        "etc/systemd/system/certbot.service.d/eldwyn-ca-bundle.conf.j2")  # tests/unit/test_acme.py


def test_every_template_is_covered():
    from test_signup_templates import SIGNUP_TEMPLATES

    found = {str(path.relative_to(TEMPLATES_DIR)) for path in TEMPLATES_DIR.rglob("*.j2")}
    assert found == {PROSODY_CFG, REALM_CFG, GROUPS, IMPORT_CFG, UPDATES, TURN, *SCHEDULED_BACKUPS, *ACME, *WEB_CLIENT,
                     *RULES.values(), *SIGNUP_TEMPLATES}


def expected_prosody_config(config):
    """What Prosody must read from the two config files, host by host, built from ``config``."""
    global_options = {
        "admins": list(config.admins),
        "contact_info": {"admin": [f"xmpp:{jid}" for jid in config.admins]},
        "modules_enabled": list(config.modules_enabled),
        "plugin_paths": ["/usr/local/lib/prosody/modules"],
        "c2s_ports": list(config.ports.c2s),
        "s2s_ports": list(config.ports.s2s),
        "http_ports": list(config.ports.http),
        "https_ports": list(config.ports.https),
        "proxy65_ports": list(config.ports.proxy65),
        "http_interfaces": list(config.http_interfaces),
        "trusted_proxies": ["127.0.0.1", "::1"],
        "limits": {kind: {"rate": limit.rate, "burst": limit.burst_seconds} for kind, limit in config.limits},
        "statistics": "internal",
        "statistics_interval": "manual",
        "openmetrics_allow_ips": ["::1", "127.0.0.1"],
        "certificates": "/var/lib/prosody",
        "authentication": "internal_hashed",
        "storage": "sql",
        "sql": {"driver": "SQLite3", "database": "prosody.sqlite"},
        "sqlite_tune": "default",
        **({"unbound": {"resolvconf": False, "hoststxt": False, "forward": list(config.prosody.dns_servers)}}
           if config.prosody.dns_servers else {}),
        **({
            "turn_external_host": config.turn.host, "turn_external_port": 3478,
            "turn_external_tcp": True, "turn_external_ttl": config.turn.credential_ttl,
            "external_services": [{"type": "turns", "transport": "tcp", "host": config.turn.host,
                                   "port": 5349, "secret": "FileLine(/etc/prosody/turn-secret)",
                                   "ttl": config.turn.credential_ttl}],
            # lua_dump.lua reads FileLine(path) as this marker: the secret is not in the file.
            "turn_external_secret": "FileLine(/etc/prosody/turn-secret)",
        } if config.turn.host else {}),
        "s2s_secure_auth": True,
        "pidfile": "/run/prosody/prosody.pid",
        "log": {
            "info": "/var/log/prosody/prosody.log",
            "error": "/var/log/prosody/prosody.err",
            1: {"levels": ["error"], "to": "syslog"},
        },
    }

    def ssl(name):
        return {"certificate": f"/var/lib/prosody/{name}.crt", "key": f"/var/lib/prosody/{name}.key"}

    hosts = {
        config.realm: {
            "ssl": ssl(config.realm),
            "disco_items": [[c.name, c.description] for c in config.components],
            "groups_file": "/var/lib/prosody/groups.txt",
            "archive_expires_after": config.archive_expires_after,
            "http_external_url": f"https://{config.signup.site_name}/",
            "advertise_bosh": False,
            "allow_registration": True,
            "registration_invite_only": True,
            "registration_throttle_max": config.registration_throttle_max,
            "registration_throttle_period": config.registration_throttle_period,
            "invites_page": f"https://{config.signup.site_name}/join/{{invite.token}}",
            "invite_expiry": config.signup.invite_expiry_seconds,
        }
    }
    for component in config.components:
        options = {
            "component_module": component.type,
            "name": component.description,
            "parent_host": config.realm,
            "ssl": ssl(component.name),
            **dict(component.options),
        }
        if component.modules:
            options["modules_enabled"] = list(component.modules)
        hosts[component.name] = options
    return global_options, hosts


def hostile(config):
    """The real config with hostile text wherever the Lua files hold free text."""
    components = tuple(
        c.model_copy(update={"description": HOSTILE[i % len(HOSTILE)] + HOSTILE[(i + 3) % len(HOSTILE)]})
        for i, c in enumerate(config.components)
    )
    return config.model_copy(update={
        "admins": tuple(f"{text}@{config.realm}" for text in HOSTILE),
        "components": components,
        "archive_expires_after": HOSTILE[3],
    })


def with_dns_servers(config):
    """The test bed's federation set-up (tests/vm/test_37_acme.py): Prosody asks its test DNS."""
    return config.model_copy(update={"prosody": config.prosody.model_copy(
        update={"dns_servers": ("10.77.0.1@8053", "2001:db8::53")})})


@pytest.mark.skipif(luadump.LUA is None, reason=luadump.SKIP_REASON)
@pytest.mark.parametrize("make", [lambda c: c, hostile, with_dns_servers], ids=["real-data", "hostile-values",
                                                                                 "dns-servers"])
def test_prosody_reads_back_exactly_the_data(config, make, tmp_path):
    config = make(config)
    global_file = tmp_path / "prosody.cfg.lua"
    realm_file = tmp_path / "realm.cfg.lua"
    global_file.write_text(render(PROSODY_CFG, config=config), encoding="utf-8")
    realm_file.write_text(render(REALM_CFG, config=config), encoding="utf-8")
    expected_global, expected_hosts = expected_prosody_config(config)

    assert luadump.read_config(global_file) == {"*": luadump.canonical(expected_global)}
    read = luadump.read_config(realm_file)
    assert read.pop("*") == "{}", "nothing in the realm file may land in the global section"
    assert read == {name: luadump.canonical(options) for name, options in expected_hosts.items()}


def test_realm_file_has_the_page_structure(config):
    text = render(REALM_CFG, config=config)
    sections = re.findall(r'^(VirtualHost|Component) "([^"]+)"(?: "([^"]+)")?$', text, re.M)
    assert sections == [("VirtualHost", config.realm, "")] + [
        ("Component", c.name, c.type) for c in config.components
    ]
    assert text.count(f'parent_host = "{config.realm}"') == len(config.components)
    assert 'modules_enabled = { "muc_mam" }' in text.split('Component "muc.')[1].split("Component")[0]
    assert "registration_invite_only = true" in text


def test_global_file_includes_conf_d_last(config):
    text = render(PROSODY_CFG, config=config)
    assert text.rstrip().endswith('Include "conf.d/*.cfg.lua"')
    assert "VirtualHost" not in text  # Debian's default "localhost" host is gone


def parse_groups(text):
    """Read groups.txt the way mod_groups (Prosody 13) does."""
    groups, current = {}, None
    for line in text.splitlines():
        header = re.fullmatch(r"\s*\[(.*?)\]\s*", line)
        if header:
            current = groups.setdefault(header.group(1), {})
        elif line.strip():
            jid, _, name = line.partition("=")
            current[jid.strip()] = name
    return groups


def test_groups_file(config):
    remote = RosterMember(jid="bob@example.org", name="Bob = Robert ][")
    groups = {**config.shared_roster_groups, "Zoë's [lab] = crew": (remote,)}
    text = render(GROUPS, config=config.model_copy(update={"shared_roster_groups": groups}))
    assert parse_groups(text) == {
        "Admins": {"admin@cslabs.clarkson.edu": "Server admin"},
        "Zoë's [lab] = crew": {"bob@example.org": "Bob = Robert ]["},
    }


@pytest.mark.parametrize("family", ["v4", "v6"])
def test_firewall_rules(config, family):
    data_config = config.model_copy(update={"firewall": config.firewall.model_copy(update={"other_tcp_ports": (8443,)})})
    lines = [line for line in render(RULES[family], config=data_config).splitlines() if line and not line.startswith("#")]
    assert lines[0] == "*filter" and lines[-1] == "COMMIT"
    assert lines[1:4] == [":INPUT DROP [0:0]", ":FORWARD DROP [0:0]", ":OUTPUT ACCEPT [0:0]"]
    rules = lines[4:-1]
    assert rules[0] == "-A INPUT -p tcp --dport 22 -j ACCEPT", "SSH must be the first rule"
    assert "-A INPUT -i lo -j ACCEPT" in rules
    assert "-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT" in rules
    assert ("-A INPUT -p icmp -j ACCEPT" if family == "v4" else "-A INPUT -p ipv6-icmp -j ACCEPT") in rules
    assert rules.count("-A INPUT -p tcp -m multiport --dports 5000,5222,5269,5280,5281 -j ACCEPT") == 1
    assert "-A INPUT -p tcp -m multiport --dports 80,443 -j ACCEPT" in rules  # the site's
    assert "-A INPUT -p tcp -m multiport --dports 8443 -j ACCEPT" in rules  # firewall_other_tcp_ports
    assert all(rule.startswith("-A INPUT ") for rule in rules)


def test_firewall_without_other_ports_opens_xmpp_and_the_site_only(config):
    config = config.model_copy(update={"firewall": config.firewall.model_copy(update={"other_tcp_ports": ()})})
    text = render(RULES["v4"], config=config)
    assert text.count("multiport") == 3  # XMPP, the site, TURN


@pytest.mark.skipif(luadump.LUA is None, reason=luadump.SKIP_REASON)
def test_the_import_config_names_each_host_and_the_live_store(config, tmp_path):
    hosts = [component.name for component in config.components] + ['we"ird\\host']
    path = tmp_path / "import.cfg.lua"
    path.write_text(render(IMPORT_CFG, hosts=hosts, data_dir="/var/lib/prosody",
                           module_dir="/var/lib/eldwyn-xmpp/restore/modules", database="prosody.sqlite"))
    read = luadump.read_config(path)
    assert read["*"] == luadump.canonical({
        "data_path": "/var/lib/prosody", "certificates": "/var/lib/prosody",
        "plugin_paths": ["/var/lib/eldwyn-xmpp/restore/modules"], "storage": "sql",
        "sql": {"driver": "SQLite3", "database": "prosody.sqlite"},  # what the live config says
        "log": {1: {"levels": {"min": "warn"}, "to": "console"}}, "pidfile": "/run/prosody/prosody.pid"})
    assert sorted(name for name in read if name != "*") == sorted(hosts)


def test_limits_are_written_only_when_their_module_is_loaded(config):
    without = config.model_copy(update={"modules_enabled": tuple(m for m in config.modules_enabled if m != "limits")})
    assert "limits = {" in render("etc/prosody/prosody.cfg.lua.j2", config=config)
    assert "limits = {" not in render("etc/prosody/prosody.cfg.lua.j2", config=without)


def test_unattended_upgrades_take_only_the_datas_origins(config):
    text = render(UPDATES, config=config)
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("//")]
    assert lines[0] == "#clear Unattended-Upgrade::Origins-Pattern;", "Debian's own list must not be added to"
    assert lines[1:4] == ["Unattended-Upgrade::Origins-Pattern {",
                          '"origin=Debian,codename=${distro_codename}-security,label=Debian-Security";', "};"]
    assert 'Unattended-Upgrade::Automatic-Reboot "false";' in lines

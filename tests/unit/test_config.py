"""eldwyn.config: the real data loads, and each kind of bad data fails with its key path."""

import pytest

from pydantic import ValidationError

from eldwyn.config import ConfigError, load_config
from tests.unit.conftest import _GROUP_DATA

REALM = "cslabs.clarkson.edu"
# The path of a module appended twice to the shipped list, whatever its length.
APPENDED_MODULE = f"xmpp_modules_enabled[{len(_GROUP_DATA['xmpp_modules_enabled'])}]"
# Components are found by their type, never by their position in the data.
NAMES = {component["type"]: component["name"] for component in _GROUP_DATA["xmpp_components"]}
INDEX = {component["type"]: index for index, component in enumerate(_GROUP_DATA["xmpp_components"])}


def at(kind):
    """The path of the component of type ``kind``, as messages name it."""
    return f"xmpp_components[{NAMES[kind]!r}]"


def test_real_data_loads(config):
    assert config.realm == REALM
    assert config.hosts == (
        REALM,
        "muc.comm.cslabs.clarkson.edu",
        "pubsub.comm.cslabs.clarkson.edu",
        "proxy.comm.cslabs.clarkson.edu",
        "upload.comm.cslabs.clarkson.edu",
    )
    assert "bosh" in config.modules_enabled
    assert "muc_mam" not in config.modules_enabled
    by_type = {component.type: component for component in config.components}
    assert by_type["muc"].modules == ("muc_mam",)
    upload = by_type["http_file_share"].options
    assert upload["http_file_share_size_limit"] == 128 * 1024 * 1024
    assert upload["http_file_share_expires_after"] == "never"
    assert config.ports.all == (5000, 5222, 5269, 5280, 5281)
    assert config.open_tcp_ports == (80, 443, 5000, 5222, 5269, 5280, 5281)
    assert config.certificate("upload.comm.cslabs.clarkson.edu").key_path == (
        "/var/lib/prosody/upload.comm.cslabs.clarkson.edu.key"
    )


def test_config_is_immutable(config):
    with pytest.raises(ValidationError):
        config.realm = "example.org"


def test_pyinfra_keys_are_ignored(data):
    data.update({"ssh_user": "vagrant", "_sudo": True, "ssh_port": 2222})
    load_config(data, environ={})


def test_secrets_dir_comes_from_environment_first(data, tmp_path):
    assert load_config(data, environ={"ELDWYN_SECRETS_DIR": str(tmp_path)}).secrets.dir == tmp_path
    assert load_config(data, environ={}).secrets.dir.name == "secrets"


def test_environment_secrets_dir_is_checked(data):
    with pytest.raises(ConfigError) as error:
        load_config(data, environ={"ELDWYN_SECRETS_DIR": "relative/dir"})
    assert error.value.path == "ELDWYN_SECRETS_DIR (environment)"


@pytest.mark.parametrize("period", ["never", "1w", "30d", "30 days", "6 months", "1y", "12h", "90min", 3600])
def test_periods_prosody_understands(data, period):
    data["xmpp_archive_expires_after"] = period
    assert load_config(data, environ={}).archive_expires_after == period


def test_signup_data(config):
    signup = config.signup
    assert signup.site_name == "comm.cslabs.clarkson.edu"
    assert config.site_certificate.certificate_path == "/etc/nginx/tls/comm.cslabs.clarkson.edu.crt"
    assert config.site_certificate.supplied_certificate is None
    assert "admin" in signup.reserved_usernames and "postmaster" in signup.reserved_usernames
    assert signup.credentials == (("secret-key", "signup-secret-key"),)
    assert (signup.rate_limits.per_email.attempts, signup.rate_limits.per_email.window_seconds) == (3, 86400)


def test_signup_reserves_admins_and_seeded_accounts(data):
    data["xmpp_admins"] = ["chief@" + REALM]
    data["xmpp_accounts"] = ["alice@" + REALM]
    assert load_config(data, environ={}).signup_settings.reserved_usernames[-2:] == ("chief", "alice")


def test_signup_smtp_with_login_needs_a_password_secret(data):
    data["signup_smtp"].update(host="smtp.clarkson.edu", port=587, starttls=True, username="eldwyn")
    assert load_config(data, environ={}).signup.credentials[1] == ("smtp-password", "signup-smtp-password")


def test_signup_site_may_have_a_supplied_certificate(data, tmp_path):
    (tmp_path / "c.pem").write_text("x")
    (tmp_path / "k.pem").write_text("x")
    site = data["signup_site_name"]
    data["tls_certificate_files"] = {site: {"certificate": str(tmp_path / "c.pem"), "key": str(tmp_path / "k.pem")}}
    config = load_config(data, environ={})
    assert config.site_certificate.supplied_key == str(tmp_path / "k.pem")
    assert site not in config.hosts


def test_operator_supplied_certificate(data, tmp_path):
    (tmp_path / "c.pem").write_text("x")
    (tmp_path / "k.pem").write_text("x")
    data["tls_certificate_files"] = {REALM: {"certificate": str(tmp_path / "c.pem"), "key": str(tmp_path / "k.pem")}}
    cert = load_config(data, environ={}).certificate(REALM)
    assert (cert.supplied_certificate, cert.supplied_key) == (str(tmp_path / "c.pem"), str(tmp_path / "k.pem"))
    assert cert.certificate_path == f"/var/lib/prosody/{REALM}.crt"


def _set(key, value):
    def change(data):
        data[key] = value
    return change


def _component(kind, key, value):
    def change(data):
        data["xmpp_components"][INDEX[kind]][key] = value
    return change


def _option(kind, key, value):
    def change(data):
        data["xmpp_components"][INDEX[kind]].setdefault("options", {})[key] = value
    return change


def _append(key, value):
    def change(data):
        data[key].append(value)
    return change


def _port(service, value):
    def change(data):
        data.setdefault("xmpp_ports", {})[service] = value  # the other services keep their defaults
    return change


def _member(field, value):
    def change(data):
        data["xmpp_shared_roster_groups"]["Admins"][0][field] = value
    return change


def _item(key, value):
    """The path of a list item, named by its value."""
    return f"{key}[{value!r}]"


def _cert_files(files):
    return _set("tls_certificate_files", files)


def _delete(key):
    def change(data):
        del data[key]
    return change


# (id, change to the real data, expected key path, words the message must contain)
BAD_INPUTS = [
    ("realm-not-a-string", _set("xmpp_realm", 42), "xmpp_realm", "expected a string, got int 42"),
    ("realm-upper-case", _set("xmpp_realm", "CSLabs.clarkson.edu"), "xmpp_realm", "lower case"),
    ("realm-bad-label", _set("xmpp_realm", "cslabs..edu"), "xmpp_realm", "not a valid DNS name"),
    ("unknown-top-key", _set("xmpp_admin", []), "xmpp_admin", "unknown key (did you mean 'xmpp_admins'?)"),
    ("missing-key", _delete("xmpp_realm"), "xmpp_realm", "missing"),
    ("admins-not-a-list", _set("xmpp_admins", "admin@" + REALM), "xmpp_admins", "expected a list"),
    ("no-admins", _set("xmpp_admins", []), "xmpp_admins", "at least one admin"),
    ("admin-outside-realm", _set("xmpp_admins", ["root@example.org"]), "xmpp_admins['root@example.org']", "not in the realm"),
    ("admin-not-bare-jid", _set("xmpp_admins", [REALM]), f"xmpp_admins[{REALM!r}]", "not a bare JID"),
    ("admin-duplicate", _set("xmpp_admins", ["a@" + REALM, "a@" + REALM]), "xmpp_admins[1]", "twice (first at [0])"),
    ("account-also-admin", _set("xmpp_accounts", ["admin@" + REALM]), _item("xmpp_accounts", "admin@" + REALM), "already in xmpp_admins"),
    ("jid-with-space", _set("xmpp_accounts", ["bad user@" + REALM]), _item("xmpp_accounts", "bad user@" + REALM), "may not contain ' '"),
    ("jid-with-quote", _set("xmpp_accounts", ["o'brien@" + REALM]), _item("xmpp_accounts", "o'brien@" + REALM), "may not contain \"'\""),
    ("jid-with-colon", _set("xmpp_accounts", ["a:b@" + REALM]), _item("xmpp_accounts", "a:b@" + REALM), "may not contain ':'"),
    ("jid-with-slash", _set("xmpp_accounts", ["a/b@" + REALM]), _item("xmpp_accounts", "a/b@" + REALM), "may not contain '/'"),
    ("jid-too-long", _set("xmpp_accounts", ["x" * 1024 + "@" + REALM]), _item("xmpp_accounts", "x" * 1024 + "@" + REALM), "longer than 1023 bytes"),
    ("jid-not-normalised", _set("xmpp_accounts", ["Alice@" + REALM]), _item("xmpp_accounts", "Alice@" + REALM), "'alice@cslabs.clarkson.edu'"),
    ("unknown-module", _append("xmpp_modules_enabled", "carbon"), _item("xmpp_modules_enabled", "carbon"), "unknown module 'carbon' (did you mean 'carbons'?)"),
    ("module-with-mod-prefix", _append("xmpp_modules_enabled", "mod_ping"), _item("xmpp_modules_enabled", "mod_ping"), "without 'mod_'"),
    ("duplicate-module", _append("xmpp_modules_enabled", "ping"), APPENDED_MODULE, "'ping' is listed twice"),
    ("muc-mam-on-realm", _append("xmpp_modules_enabled", "muc_mam"), _item("xmpp_modules_enabled", "muc_mam"), "works only on a 'muc' component"),
    ("muc-mam-on-pubsub", _component("pubsub", "modules", ["muc_mam"]), at("pubsub") + ".modules['muc_mam']", "only on a 'muc' component"),
    ("open-registration", lambda d: d["xmpp_modules_enabled"].remove("invites_register"), "xmpp_modules_enabled", "open registration"),
    ("groups-without-module", lambda d: d["xmpp_modules_enabled"].remove("groups"), "xmpp_shared_roster_groups", "module 'groups' is not in xmpp_modules_enabled"),
    ("component-outside-realm", _component("pubsub", "name", "muc.example.org"), "xmpp_components['muc.example.org'].name", "'muc.example.org' is not inside the realm 'cslabs.clarkson.edu'"),
    ("component-is-realm", _component("muc", "name", REALM), f"xmpp_components[{REALM!r}].name", "is the realm itself"),
    ("component-duplicate", _component("pubsub", "name", NAMES["muc"]), f"xmpp_components[{INDEX['pubsub']}].name", f"already the name of the component at [{INDEX['muc']}]"),
    ("component-unknown-type", _component("proxy65", "type", "socks5"), at("proxy65") + ".type", "'socks5': expected 'muc'"),
    ("component-key-typo", _component("muc", "descripton", "x"), at("muc") + ".descripton", "did you mean 'description'?"),
    ("component-no-description", _component("muc", "description", "  "), at("muc") + ".description", "must not be empty"),
    ("component-newline-description", _component("muc", "description", "a\nb"), at("muc") + ".description", "control character"),
    ("option-unknown-for-type", _option("pubsub", "http_file_share_size_limit", 5), at("pubsub") + ".options.http_file_share_size_limit", "unknown key; expected one of: add_permissions, pubsub_max_items"),
    ("pubsub-permission-unknown-role", _option("pubsub", "add_permissions", {"prosody:members": ["pubsub:create-node"]}), at("pubsub") + ".options.add_permissions['prosody:members']", "expected 'prosody:guest', 'prosody:registered'"),
    ("pubsub-permission-module-prefix", _option("pubsub", "add_permissions", {"prosody:registered": ["mod_pubsub:create-node"]}), at("pubsub") + ".options.add_permissions['prosody:registered'][0]", "expected 'pubsub:create-node'"),
    ("pubsub-permission-unknown", _option("pubsub", "add_permissions", {"prosody:registered": ["mod_pubsub:delete-node"]}), at("pubsub") + ".options.add_permissions['prosody:registered'][0]", "expected 'pubsub:create-node'"),
    ("size-limit-string", _option("http_file_share", "http_file_share_size_limit", "128M"), at("http_file_share") + ".options.http_file_share_size_limit", "expected an integer"),
    ("size-limit-negative", _option("http_file_share", "http_file_share_size_limit", -1), at("http_file_share") + ".options.http_file_share_size_limit", "out of range"),
    ("size-limit-bool", _option("http_file_share", "http_file_share_size_limit", True), at("http_file_share") + ".options.http_file_share_size_limit", "expected an integer"),
    ("retention-bad-unit", _set("xmpp_archive_expires_after", "1 fortnight"), "xmpp_archive_expires_after", "not a period Prosody understands"),
    ("retention-ambiguous-m", _set("xmpp_archive_expires_after", "3m"), "xmpp_archive_expires_after", "not a period"),
    ("retention-zero", _set("xmpp_archive_expires_after", 0), "xmpp_archive_expires_after", "out of range"),
    ("muc-log-retention", _option("muc", "muc_log_expires_after", "forever"), at("muc") + ".options.muc_log_expires_after", "not a period"),
    ("muc-option-type", _option("muc", "muc_log_presences", "yes"), at("muc") + ".options.muc_log_presences", "a bool"),
    ("port-not-int", _port("c2s", ["5222"]), "xmpp_ports.c2s[0]", "expected an integer"),
    ("port-out-of-range", _port("s2s", [70000]), "xmpp_ports.s2s[0]", "out of range"),
    ("port-privileged", _port("https", [443]), "xmpp_ports.https[0]", "below 1024: Prosody runs as user prosody"),
    ("port-duplicate-across-services", _port("proxy65", [5280]), "xmpp_ports.proxy65[0]", "already used by xmpp_ports.http"),
    ("port-unknown-service", _port("bosh", [5280]), "xmpp_ports.bosh", "unknown key; expected one of: c2s, s2s, http, https, proxy65"),
    ("port-service-empty", _port("c2s", []), "xmpp_ports.c2s", "needs at least 1"),
    ("limits-bad-rate", _set("xmpp_limits", {"c2s": {"rate": "10 KB per second"}}), "xmpp_limits.c2s.rate", "not a rate mod_limits reads"),
    ("limits-burst-too-long", _set("xmpp_limits", {"s2sin": {"rate": "30kb/s", "burst_seconds": 600}}), "xmpp_limits.s2sin.burst_seconds", "out of range"),
    ("upload-global-quota-string", _option("http_file_share", "http_file_share_global_quota", "20G"), at("http_file_share") + ".options.http_file_share_global_quota", "expected an integer"),
    ("updates-no-origin", _set("updates_origins", []), "updates_origins", "needs at least 1"),
    ("updates-reboot-time", _set("updates_reboot_time", "4am"), "updates_reboot_time", "not a time of day"),
    ("updates-package-missing", _set("updates_packages", ["unattended-upgrades"]), "updates_packages", "'needrestart' is needed"),
    ("http-loopback-only", _set("xmpp_http_interfaces", ["127.0.0.1", "::1"]), "xmpp_http_interfaces", "beyond loopback"),
    ("http-interface-not-ip", _set("xmpp_http_interfaces", ["eth0"]), _item("xmpp_http_interfaces", "eth0"), "not an IP address"),
    ("firewall-other-is-xmpp", _set("firewall_other_tcp_ports", [5222]), "firewall_other_tcp_ports[0]", "is an XMPP port (xmpp_ports), opened anyway"),
    ("firewall-other-is-the-site", _set("firewall_other_tcp_ports", [8443, 443]), "firewall_other_tcp_ports[1]", "the sign-up site's, opened anyway"),
    ("firewall-lists-ssh", _set("firewall_other_tcp_ports", [22]), "firewall_other_tcp_ports[0]", "always open"),
    ("firewall-too-many", _set("firewall_other_tcp_ports", list(range(8000, 8016))), "firewall_other_tcp_ports", "at most 15 are possible"),
    ("group-member-bad-jid", _member("jid", "not a jid"), "xmpp_shared_roster_groups['Admins']['not a jid'].jid", "not a bare JID"),
    ("group-member-missing-name", lambda d: d["xmpp_shared_roster_groups"]["Admins"][0].pop("name"), "xmpp_shared_roster_groups['Admins']['admin@cslabs.clarkson.edu'].name", "missing"),
    ("group-member-duplicate", lambda d: d["xmpp_shared_roster_groups"]["Admins"].append({"jid": "admin@" + REALM, "name": "Again"}), "xmpp_shared_roster_groups['Admins'][1]", "twice"),
    ("group-public-marker", lambda d: d["xmpp_shared_roster_groups"].update({"+Everyone": []}), "xmpp_shared_roster_groups['+Everyone']", "leading '+'"),
    ("cert-without-key", _cert_files({REALM: {"certificate": "/etc/hostname"}}), "tls_certificate_files['cslabs.clarkson.edu'].key", "missing"),
    ("cert-for-unknown-host", _cert_files({"chat." + REALM: {"certificate": "/etc/hostname", "key": "/etc/hostname"}}), "tls_certificate_files['chat.cslabs.clarkson.edu']", "neither the realm nor a component"),
    ("cert-file-missing", _cert_files({REALM: {"certificate": "/nonexistent.crt", "key": "/etc/hostname"}}), "tls_certificate_files['cslabs.clarkson.edu'].certificate", "not a file"),
    ("validity-below-renewal", _set("tls_certificate_validity_days", 30), "tls_certificate_validity_days", "must exceed tls_renew_before_days"),
    ("validity-too-long-for-apple", _set("tls_certificate_validity_days", 3650), "tls_certificate_validity_days", "less than or equal to 825"),
    ("ca-shorter-than-leaf", _set("tls_ca_validity_days", 100), "tls_ca_validity_days", "must exceed"),
    ("secrets-dir-relative", _set("secrets_dir", "secrets"), "secrets_dir", "absolute path"),
    ("package-missing", _set("prosody_packages", ["prosody"]), "prosody_packages", "'prosody-modules' is needed"),
    ("signup-site-not-a-name", _set("signup_site_name", "https://comm.cslabs.clarkson.edu"), "signup_site_name", "not a valid DNS name"),
    ("signup-site-is-a-component", _set("signup_site_name", "upload.comm." + REALM), "signup_site_name", "component's name"),
    ("signup-port-is-prosodys", _set("signup_listen_port", 5280), "signup_listen_port", "already used by Prosody"),
    ("signup-port-privileged", _set("signup_listen_port", 80), "signup_listen_port", "out of range"),
    ("signup-no-email-domain", _set("signup_allowed_email_domains", []), "signup_allowed_email_domains", "at least one domain"),
    ("signup-email-domain-with-at", _set("signup_allowed_email_domains", ["@clarkson.edu"]), _item("signup_allowed_email_domains", "@clarkson.edu"), "not a valid DNS name"),
    ("signup-reserved-not-normalised", _set("signup_reserved_usernames", ["Admin"]), _item("signup_reserved_usernames", "Admin"), "write it as Prosody stores it"),
    ("signup-reserved-with-at", _set("signup_reserved_usernames", ["a@b"]), _item("signup_reserved_usernames", "a@b"), "may not contain '@'"),
    ("signup-weak-passwords", _set("signup_min_password_length", 8), "signup_min_password_length", "greater than or equal to 12"),
    ("signup-verification-too-short", _set("signup_verification_expiry_seconds", 10), "signup_verification_expiry_seconds", "out of range"),
    ("signup-rate-limit-typo", _set("signup_rate_limits", {"per_ip": {}}), "signup_rate_limits.per_ip", "unknown key"),
    ("signup-rate-limit-zero", _set("signup_rate_limits", {"per_email": {"attempts": 0, "window_seconds": 60}}), "signup_rate_limits.per_email.attempts", "out of range"),
    ("signup-smtp-password-in-clear", lambda d: d["signup_smtp"].update(host="smtp.clarkson.edu", username="eldwyn"), "signup_smtp.starttls", "in clear"),
    ("signup-smtp-bad-from", lambda d: d["signup_smtp"].update(from_address="noreply"), "signup_smtp.from_address", "not an e-mail address"),
    ("signup-smtp-missing-from", lambda d: d["signup_smtp"].pop("from_address"), "signup_smtp.from_address", "missing"),
    ("signup-package-missing", _set("signup_packages", ["python3-flask", "python3-pydantic", "nginx"]), "signup_packages", "'gunicorn' is needed"),
    ("signup-unknown-key", _set("signup_sitename", "x"), "signup_sitename", "unknown key (did you mean 'signup_site_name'?)"),
]


@pytest.mark.parametrize("change, path, words", [case[1:] for case in BAD_INPUTS], ids=[case[0] for case in BAD_INPUTS])
def test_bad_input_is_refused_with_its_key_path(data, change, path, words):
    change(data)
    with pytest.raises(ConfigError) as error:
        load_config(data, environ={})
    found = dict(error.value.problems)
    assert path in found, error.value
    assert words in found[path]
    assert f"{path}: {found[path]}" in str(error.value).splitlines()


def test_every_problem_is_reported_at_once(data):
    data["xmpp_realm"] = "Bad"
    data["xmpp_modules_enabled"].append("carbon")
    data["tls_renew_before_dayz"] = 3
    data["signup_smtp"]["port"] = "25"
    data["xmpp_components"][INDEX["http_file_share"]]["options"]["http_file_share_size_limt"] = 1
    with pytest.raises(ConfigError) as error:
        load_config(data, environ={})
    assert [path for path, _ in error.value.problems] == [
        "tls_renew_before_dayz",
        "xmpp_realm",
        "xmpp_modules_enabled['carbon']",
        at("http_file_share") + ".options.http_file_share_size_limt",
        "signup_smtp.port",
    ]
    assert "did you mean 'http_file_share_size_limit'?" in str(error.value)
    assert "did you mean 'tls_renew_before_days'?" in str(error.value)


def test_a_component_name_is_checked_against_the_realm_even_when_another_is_bad(data):
    data["xmpp_components"][INDEX["muc"]]["name"] = "muc.example.org"
    data["xmpp_components"][INDEX["pubsub"]]["description"] = ""
    with pytest.raises(ConfigError) as error:
        load_config(data, environ={})
    assert dict(error.value.problems) == {
        "xmpp_components['muc.example.org'].name": "'muc.example.org' is not inside the realm 'cslabs.clarkson.edu'",
        at("pubsub") + ".description": "must not be empty",
    }


def test_every_key_has_a_documented_declaration():
    from eldwyn.config import KNOWN_KEYS
    from eldwyn.schema.reference import declarations

    documented = {key: doc for key, _, _, _, doc in declarations()}
    assert sorted(documented) == sorted(KNOWN_KEYS)
    assert all(documented.values()), [key for key, doc in documented.items() if not doc]


def test_the_reference_of_the_keys_is_current():
    from eldwyn.schema.reference import OUTPUT, markdown

    assert OUTPUT.read_text() == markdown(), "run: python -m eldwyn.schema.reference"


def _private_dir_cases(tmp_path):
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    open_dir = tmp_path / "open"
    open_dir.mkdir(mode=0o755)
    open_dir.chmod(0o755)
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    return {
        "not a directory": (a_file, "not a directory"),
        "not creatable": (a_file / "secrets", "cannot be made"),
        "wrong mode": (open_dir, "mode 0755 lets others in"),
        "inside git": (repo / "secrets", "inside the git work tree"),
    }


@pytest.mark.parametrize("case", ["not a directory", "not creatable", "wrong mode", "inside git"])
@pytest.mark.parametrize("key", ["secrets_dir", "backup_dir", "ELDWYN_SECRETS_DIR"])
def test_private_directories_are_checked_before_anything_is_made(data, tmp_path, key, case):
    path, words = _private_dir_cases(tmp_path)[case]
    before = sorted(tmp_path.rglob("*"))
    environ = {}
    if key == "ELDWYN_SECRETS_DIR":
        environ[key] = str(path)
    else:
        data[key] = str(path)
    with pytest.raises(ConfigError) as error:
        load_config(data, environ=environ)
    found = dict(error.value.problems)
    path_key = "ELDWYN_SECRETS_DIR (environment)" if key == "ELDWYN_SECRETS_DIR" else key
    assert list(found) == [path_key], error.value
    assert words in found[path_key]
    assert sorted(tmp_path.rglob("*")) == before, "the check made something"


def test_a_missing_private_directory_is_not_made_by_the_check(data, tmp_path):
    data["secrets_dir"] = str(tmp_path / "new" / "secrets")
    config = load_config(data, environ={})
    assert config.secrets.dir == tmp_path / "new" / "secrets" and not (tmp_path / "new").exists()


@pytest.mark.parametrize("rate, expected", [("10kb/s", 10_000), ("500b/s", 500), ("2 mb/s", 2_000_000), ("1g/s", 10**9)])
def test_a_rate_is_read_as_mod_limits_reads_it(rate, expected):
    from eldwyn.schema.data import Limit
    assert Limit(rate=rate).bytes_per_second == expected

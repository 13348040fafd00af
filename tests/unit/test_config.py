"""eldwyn.config: the real data loads, and each kind of bad data fails with its key path."""

import pytest

from eldwyn.config import ConfigError, load_config
from tests.unit.conftest import _GROUP_DATA

REALM = "cslabs.clarkson.edu"
# The path of a module appended to the shipped list, whatever its length.
APPENDED_MODULE = f"xmpp_modules_enabled[{len(_GROUP_DATA['xmpp_modules_enabled'])}]"


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
    muc = config.components[0]
    assert (muc.type, muc.modules) == ("muc", ("muc_mam",))
    upload = dict(config.components[3].options)
    assert upload["http_file_share_size_limit"] == 128 * 1024 * 1024
    assert upload["http_file_share_expires_after"] == "never"
    assert config.ports.all == (5000, 5222, 5269, 5280, 5281)
    assert config.firewall.tcp_ports == (80, 443, 5000, 5222, 5269, 5280, 5281)
    assert config.certificate("upload.comm.cslabs.clarkson.edu").key_path == (
        "/var/lib/prosody/upload.comm.cslabs.clarkson.edu.key"
    )


def test_config_is_immutable(config):
    with pytest.raises(AttributeError):
        config.realm = "example.org"


def test_pyinfra_keys_are_ignored(data):
    data.update({"ssh_user": "vagrant", "_sudo": True, "ssh_port": 2222})
    load_config(data, environ={})


def test_secrets_dir_comes_from_environment_first(data, tmp_path):
    assert load_config(data, environ={"ELDWYN_SECRETS_DIR": str(tmp_path)}).secrets_dir == tmp_path
    assert load_config(data, environ={}).secrets_dir.name == "secrets"


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
    assert signup.certificate.certificate_path == "/etc/nginx/tls/comm.cslabs.clarkson.edu.crt"
    assert signup.certificate.supplied_certificate is None
    assert "admin" in signup.reserved_usernames and "postmaster" in signup.reserved_usernames
    assert signup.credentials == (("secret-key", "signup-secret-key"),)
    assert (signup.per_email.attempts, signup.per_email.window_seconds) == (3, 86400)


def test_signup_reserves_admins_and_seeded_accounts(data):
    data["xmpp_admins"] = ["chief@" + REALM]
    data["xmpp_accounts"] = ["alice@" + REALM]
    assert load_config(data, environ={}).signup.reserved_usernames[-2:] == ("chief", "alice")


def test_signup_smtp_with_login_needs_a_password_secret(data):
    data["signup_smtp"].update(host="smtp.clarkson.edu", port=587, starttls=True, username="eldwyn")
    assert load_config(data, environ={}).signup.credentials[1] == ("smtp-password", "signup-smtp-password")


def test_signup_site_may_have_a_supplied_certificate(data, tmp_path):
    (tmp_path / "c.pem").write_text("x")
    (tmp_path / "k.pem").write_text("x")
    site = data["signup_site_name"]
    data["tls_certificate_files"] = {site: {"certificate": str(tmp_path / "c.pem"), "key": str(tmp_path / "k.pem")}}
    config = load_config(data, environ={})
    assert config.signup.certificate.supplied_key == str(tmp_path / "k.pem")
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


def _component(index, key, value):
    def change(data):
        data["xmpp_components"][index][key] = value
    return change


def _option(index, key, value):
    def change(data):
        data["xmpp_components"][index].setdefault("options", {})[key] = value
    return change


def _append(key, value):
    def change(data):
        data[key].append(value)
    return change


def _port(service, value):
    def change(data):
        data["xmpp_ports"][service] = value
    return change


def _member(field, value):
    def change(data):
        data["xmpp_shared_roster_groups"]["Admins"][0][field] = value
    return change


def _cert_files(files):
    return _set("tls_certificate_files", files)


def _delete(key):
    def change(data):
        del data[key]
    return change


# (id, change to the real data, expected key path, words the message must contain)
BAD_INPUTS = [
    ("realm-not-a-string", _set("xmpp_realm", 42), "xmpp_realm", "expected a host name"),
    ("realm-upper-case", _set("xmpp_realm", "CSLabs.clarkson.edu"), "xmpp_realm", "lower case"),
    ("realm-bad-label", _set("xmpp_realm", "cslabs..edu"), "xmpp_realm", "not a valid DNS name"),
    ("unknown-top-key", _set("xmpp_admin", []), "xmpp_admin", "unknown key (did you mean 'xmpp_admins'?)"),
    ("missing-key", _delete("xmpp_ports"), "xmpp_ports", "missing"),
    ("admins-not-a-list", _set("xmpp_admins", "admin@" + REALM), "xmpp_admins", "expected a list"),
    ("no-admins", _set("xmpp_admins", []), "xmpp_admins", "at least one admin"),
    ("admin-outside-realm", _set("xmpp_admins", ["root@example.org"]), "xmpp_admins[0]", "not in the realm"),
    ("admin-not-bare-jid", _set("xmpp_admins", [REALM]), "xmpp_admins[0]", "not a bare JID"),
    ("admin-duplicate", _set("xmpp_admins", ["a@" + REALM, "a@" + REALM]), "xmpp_admins[1]", "twice (first at [0])"),
    ("account-also-admin", _set("xmpp_accounts", ["admin@" + REALM]), "xmpp_accounts[0]", "already in xmpp_admins"),
    ("jid-with-space", _set("xmpp_accounts", ["bad user@" + REALM]), "xmpp_accounts[0]", "may not contain ' '"),
    ("jid-with-quote", _set("xmpp_accounts", ["o'brien@" + REALM]), "xmpp_accounts[0]", "may not contain \"'\""),
    ("jid-with-colon", _set("xmpp_accounts", ["a:b@" + REALM]), "xmpp_accounts[0]", "may not contain ':'"),
    ("jid-with-slash", _set("xmpp_accounts", ["a/b@" + REALM]), "xmpp_accounts[0]", "may not contain '/'"),
    ("jid-too-long", _set("xmpp_accounts", ["x" * 1024 + "@" + REALM]), "xmpp_accounts[0]", "longer than 1023 bytes"),
    ("jid-not-normalised", _set("xmpp_accounts", ["Alice@" + REALM]), "xmpp_accounts[0]", "'alice@cslabs.clarkson.edu'"),
    ("unknown-module", _append("xmpp_modules_enabled", "carbon"), APPENDED_MODULE, "unknown module 'carbon' (did you mean 'carbons'?)"),
    ("module-with-mod-prefix", _append("xmpp_modules_enabled", "mod_ping"), APPENDED_MODULE, "without 'mod_'"),
    ("duplicate-module", _append("xmpp_modules_enabled", "ping"), APPENDED_MODULE, "'ping' is listed twice"),
    ("muc-mam-on-realm", _append("xmpp_modules_enabled", "muc_mam"), APPENDED_MODULE, "works only on a 'muc' component"),
    ("muc-mam-on-pubsub", _component(1, "modules", ["muc_mam"]), "xmpp_components[1].modules[0]", "only on a 'muc' component"),
    ("open-registration", lambda d: d["xmpp_modules_enabled"].remove("invites_register"), "xmpp_modules_enabled", "open registration"),
    ("groups-without-module", lambda d: d["xmpp_modules_enabled"].remove("groups"), "xmpp_modules_enabled", "module 'groups' is not enabled"),
    ("component-outside-realm", _component(1, "name", "muc.example.org"), "xmpp_components[1].name", "'muc.example.org' is not inside the realm 'cslabs.clarkson.edu'"),
    ("component-is-realm", _component(0, "name", REALM), "xmpp_components[0].name", "is the realm itself"),
    ("component-duplicate", _component(1, "name", "muc.comm." + REALM), "xmpp_components[1].name", "already used by xmpp_components[0]"),
    ("component-unknown-type", _component(2, "type", "socks5"), "xmpp_components[2].type", "unknown component type 'socks5'"),
    ("component-key-typo", _component(0, "descripton", "x"), "xmpp_components[0].descripton", "did you mean 'description'?"),
    ("component-no-description", _component(0, "description", "  "), "xmpp_components[0].description", "must not be empty"),
    ("component-newline-description", _component(0, "description", "a\nb"), "xmpp_components[0].description", "control character"),
    ("option-unknown-for-type", _option(1, "http_file_share_size_limit", 5), "xmpp_components[1].options.http_file_share_size_limit", "unknown key; none is accepted here"),
    ("size-limit-string", _option(3, "http_file_share_size_limit", "128M"), "xmpp_components[3].options.http_file_share_size_limit", "expected an integer"),
    ("size-limit-negative", _option(3, "http_file_share_size_limit", -1), "xmpp_components[3].options.http_file_share_size_limit", "out of range"),
    ("size-limit-bool", _option(3, "http_file_share_size_limit", True), "xmpp_components[3].options.http_file_share_size_limit", "expected an integer"),
    ("retention-bad-unit", _set("xmpp_archive_expires_after", "1 fortnight"), "xmpp_archive_expires_after", "not a period Prosody understands"),
    ("retention-ambiguous-m", _set("xmpp_archive_expires_after", "3m"), "xmpp_archive_expires_after", "not a period"),
    ("retention-zero", _set("xmpp_archive_expires_after", 0), "xmpp_archive_expires_after", "out of range"),
    ("muc-log-retention", _option(0, "muc_log_expires_after", "forever"), "xmpp_components[0].options.muc_log_expires_after", "not a period"),
    ("muc-option-type", _option(0, "muc_log_presences", "yes"), "xmpp_components[0].options.muc_log_presences", "a bool"),
    ("port-not-int", _port("c2s", ["5222"]), "xmpp_ports.c2s[0]", "expected an integer"),
    ("port-out-of-range", _port("s2s", [70000]), "xmpp_ports.s2s[0]", "out of range"),
    ("port-privileged", _port("https", [443]), "xmpp_ports.https[0]", "below 1024: Prosody runs as user prosody"),
    ("port-duplicate-across-services", _port("proxy65", [5280]), "xmpp_ports.proxy65[0]", "already used by xmpp_ports.http"),
    ("port-unknown-service", lambda d: d["xmpp_ports"].update(bosh=[5280]), "xmpp_ports.bosh", "unknown key; expected one of: c2s, s2s, http, https, proxy65"),
    ("port-service-empty", _port("c2s", []), "xmpp_ports.c2s", "at least one port"),
    ("http-loopback-only", _set("xmpp_http_interfaces", ["127.0.0.1", "::1"]), "xmpp_http_interfaces", "beyond loopback"),
    ("http-interface-not-ip", _set("xmpp_http_interfaces", ["eth0"]), "xmpp_http_interfaces[0]", "not an IP address"),
    ("firewall-misses-port", _set("firewall_xmpp_tcp_ports", [5000, 5222, 5269, 5280]), "firewall_xmpp_tcp_ports", "port 5281 is used by Prosody"),
    ("firewall-extra-port", _append("firewall_xmpp_tcp_ports", 5223), "firewall_xmpp_tcp_ports[5]", "no XMPP service listens on port 5223"),
    ("firewall-lists-ssh", _set("firewall_other_tcp_ports", [22]), "firewall_other_tcp_ports[0]", "always open"),
    ("firewall-too-many", _set("firewall_other_tcp_ports", list(range(8000, 8016))), "firewall_other_tcp_ports", "at most 15"),
    ("group-member-bad-jid", _member("jid", "not a jid"), "xmpp_shared_roster_groups['Admins'][0].jid", "not a bare JID"),
    ("group-member-missing-name", lambda d: d["xmpp_shared_roster_groups"]["Admins"][0].pop("name"), "xmpp_shared_roster_groups['Admins'][0].name", "missing"),
    ("group-member-duplicate", lambda d: d["xmpp_shared_roster_groups"]["Admins"].append({"jid": "admin@" + REALM, "name": "Again"}), "xmpp_shared_roster_groups['Admins'][1]", "twice"),
    ("group-public-marker", lambda d: d["xmpp_shared_roster_groups"].update({"+Everyone": []}), "xmpp_shared_roster_groups['+Everyone']", "leading '+'"),
    ("cert-without-key", _cert_files({REALM: {"certificate": "/etc/hostname"}}), "tls_certificate_files['cslabs.clarkson.edu'].key", "missing"),
    ("cert-for-unknown-host", _cert_files({"chat." + REALM: {"certificate": "/a", "key": "/b"}}), "tls_certificate_files['chat.cslabs.clarkson.edu']", "neither the realm nor a component"),
    ("cert-file-missing", _cert_files({REALM: {"certificate": "/nonexistent.crt", "key": "/etc/hostname"}}), "tls_certificate_files['cslabs.clarkson.edu'].certificate", "not a file"),
    ("validity-below-renewal", _set("tls_certificate_validity_days", 30), "tls_certificate_validity_days", "must exceed tls_renew_before_days"),
    ("validity-too-long-for-apple", _set("tls_certificate_validity_days", 3650), "tls_certificate_validity_days", "between 1 and 825"),
    ("ca-shorter-than-leaf", _set("tls_ca_validity_days", 100), "tls_ca_validity_days", "must exceed"),
    ("secrets-dir-relative", _set("secrets_dir", "secrets"), "secrets_dir", "absolute path"),
    ("package-missing", _set("prosody_packages", ["prosody"]), "prosody_packages", "'prosody-modules' is needed"),
    ("signup-site-not-a-name", _set("signup_site_name", "https://comm.cslabs.clarkson.edu"), "signup_site_name", "not a valid DNS name"),
    ("signup-site-is-a-component", _set("signup_site_name", "upload.comm." + REALM), "signup_site_name", "component's name"),
    ("signup-port-is-prosodys", _set("signup_listen_port", 5280), "signup_listen_port", "already used by Prosody"),
    ("signup-port-privileged", _set("signup_listen_port", 80), "signup_listen_port", "out of range"),
    ("signup-web-ports-closed", _set("firewall_other_tcp_ports", []), "firewall_other_tcp_ports", "port 80 must be open"),
    ("signup-no-email-domain", _set("signup_allowed_email_domains", []), "signup_allowed_email_domains", "at least one domain"),
    ("signup-email-domain-with-at", _set("signup_allowed_email_domains", ["@clarkson.edu"]), "signup_allowed_email_domains[0]", "not a valid DNS name"),
    ("signup-reserved-not-normalised", _set("signup_reserved_usernames", ["Admin"]), "signup_reserved_usernames[0]", "write it as Prosody stores it"),
    ("signup-reserved-with-at", _set("signup_reserved_usernames", ["a@b"]), "signup_reserved_usernames[0]", "may not contain '@'"),
    ("signup-weak-passwords", _set("signup_min_password_length", 8), "signup_min_password_length", "between 12 and 128"),
    ("signup-verification-too-short", _set("signup_verification_expiry_seconds", 10), "signup_verification_expiry_seconds", "out of range"),
    ("signup-rate-limit-typo", lambda d: d["signup_rate_limits"].update(per_ip={}), "signup_rate_limits.per_ip", "unknown key"),
    ("signup-rate-limit-zero", lambda d: d["signup_rate_limits"]["per_email"].update(attempts=0), "signup_rate_limits.per_email.attempts", "out of range"),
    ("signup-smtp-password-in-clear", lambda d: d["signup_smtp"].update(host="smtp.clarkson.edu", username="eldwyn"), "signup_smtp.starttls", "in clear"),
    ("signup-smtp-bad-from", lambda d: d["signup_smtp"].update(from_address="noreply"), "signup_smtp.from_address", "not an e-mail address"),
    ("signup-smtp-missing-port", lambda d: d["signup_smtp"].pop("port"), "signup_smtp.port", "missing"),
    ("signup-package-missing", _set("signup_packages", ["python3-flask", "nginx"]), "signup_packages", "'gunicorn' is needed"),
    ("signup-unknown-key", _set("signup_sitename", "x"), "signup_sitename", "unknown key (did you mean 'signup_site_name'?)"),
]


@pytest.mark.parametrize("change, path, words", [case[1:] for case in BAD_INPUTS], ids=[case[0] for case in BAD_INPUTS])
def test_bad_input_is_refused_with_its_key_path(data, change, path, words):
    change(data)
    with pytest.raises(ConfigError) as error:
        load_config(data, environ={})
    assert error.value.path == path
    assert words in error.value.problem
    assert str(error.value).startswith(f"{path}: ")

"""What the deploy leaves on the VM, checked with pytest-testinfra over SSH. Expected values
come from the same validated data the deploy used (tests.testbed.config_for_testbed)."""

import pytest

from eldwyn.accounts import DATABASE, MEMBER_ROLE, roles_for, scram_credentials
from tasks.firewall import files as firewall_files
from tasks.prosody_config import DEBIAN_LOCALHOST_LINK, realm_config_link
from tasks.prosody_config import files as prosody_config_files
from eldwyn.secrets import SecretsStore, account_password_name
from tests.testbed import config_for_testbed

CONFIG = config_for_testbed()


@pytest.fixture(scope="module", autouse=True)
def deployed(first_deploy):
    return first_deploy


def test_os_is_debian_13(vm):
    assert vm.system_info.distribution == "debian"
    assert vm.system_info.release.startswith("13")


@pytest.mark.parametrize("package", CONFIG.packages)
def test_package_installed(vm, package):
    assert vm.package(package).is_installed


def test_prosody_is_debian_13s(vm):
    assert vm.package("prosody").version.startswith("13.0")


@pytest.mark.parametrize("service", ["prosody", "netfilter-persistent", "eldwyn-signup", "nginx"])
def test_service_enabled(vm, service):
    assert vm.service(service).is_enabled


@pytest.mark.parametrize("service", ["prosody", "eldwyn-signup", "nginx"])
def test_service_running(vm, service):
    assert vm.service(service).is_running


def test_prosody_may_hold_thousands_of_connections(vm):
    """systemd's default soft limit (1,024 files) starved SQLite under ~1,000 clients."""
    pid = vm.check_output("systemctl show -p MainPID --value prosody")
    limits = vm.check_output(f"grep 'Max open files' /proc/{pid}/limits").split()
    assert limits[3:5] == ["65536", "65536"], limits


def test_webservice_secrets_are_root_only(vm):
    signup = CONFIG.signup
    for path in [f"{signup.config_dir}/settings.json", f"{signup.credentials_dir}/secret-key",
                 f"{signup.credentials_dir}/{signup.invites_api_key}", CONFIG.site_certificate.key_path]:
        secret = vm.file(path)
        assert (secret.user, secret.group, oct(secret.mode)) == ("root", "root", "0o600"), path
    # the service itself runs as a throw-away user, never root
    user = vm.check_output("ps -o user= -C gunicorn | sort -u")
    assert user and "root" not in user.split()


def test_gunicorn_listens_on_loopback_only(vm):
    assert vm.socket(f"tcp://127.0.0.1:{CONFIG.signup.listen_port}").is_listening
    assert not vm.socket(f"tcp://0.0.0.0:{CONFIG.signup.listen_port}").is_listening


@pytest.mark.parametrize("wanted", prosody_config_files(CONFIG), ids=lambda f: f.path)
def test_config_file_is_the_rendered_one(vm, wanted):
    live = vm.file(wanted.path)
    assert live.is_file and not live.is_symlink
    assert (live.user, live.group, oct(live.mode)) == ("root", "prosody", "0o640")
    assert live.sha256sum == wanted.sha256


def test_realm_config_linked_from_conf_avail_into_conf_d(vm):
    link, target = realm_config_link(CONFIG)
    assert vm.file(link).is_symlink
    assert vm.file(link).linked_to == f"/etc/prosody/conf.avail/{CONFIG.realm}.cfg.lua"
    assert target == f"../conf.avail/{CONFIG.realm}.cfg.lua"
    assert not vm.file(DEBIAN_LOCALHOST_LINK).exists
    assert vm.check_output("ls /etc/prosody/conf.d") == f"{CONFIG.realm}.cfg.lua"


@pytest.mark.parametrize("name", CONFIG.hosts)
def test_certificate_and_key_in_place_with_tight_modes(vm, name):
    certificate = CONFIG.certificate(name)
    key = vm.file(certificate.key_path)
    assert (key.user, key.group) == ("root", "prosody")
    assert key.mode & 0o137 == 0, f"key mode {oct(key.mode)} is wider than 0640"
    assert vm.file(certificate.certificate_path).is_file
    # the host's key belongs to the host's certificate
    assert (vm.check_output(f"openssl pkey -in {certificate.key_path} -pubout")
            == vm.check_output(f"openssl x509 -in {certificate.certificate_path} -noout -pubkey"))


def test_groups_file(vm):
    groups = vm.file(CONFIG.groups_file)
    assert (groups.user, groups.group, oct(groups.mode)) == ("root", "prosody", "0o640")
    for name, members in CONFIG.shared_roster_groups.items():
        assert f"[{name}]" in groups.content_string
        for member in members:
            assert f"{member.jid}={member.name}" in groups.content_string


@pytest.mark.parametrize("rules", firewall_files(CONFIG), ids=lambda f: f.path)
def test_firewall_rules_file_is_the_rendered_one(vm, rules):
    assert vm.file(rules.path).sha256sum == rules.sha256


@pytest.mark.parametrize("command", ["iptables", "ip6tables"])
def test_firewall_live_rules(vm, command):
    rules = vm.check_output(f"{command} -S INPUT").splitlines()
    ports = ",".join(str(port) for port in CONFIG.ports.all)
    multiport = f"-A INPUT -p tcp -m multiport --dports {ports} -j ACCEPT"
    assert rules.count(multiport) == 1, "\n".join(rules)
    assert rules[0] == "-P INPUT DROP"
    # SSH is accepted before anything else is decided
    assert rules[1] == "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT"
    # The sign-up site's ports are opened because the site is deployed, not by a list in the data.
    site = ",".join(str(port) for port in CONFIG.signup.web_ports)
    assert rules.count(f"-A INPUT -p tcp -m multiport --dports {site} -j ACCEPT") == 1, "\n".join(rules)


@pytest.mark.parametrize("port", CONFIG.ports.all)
def test_prosody_listens_on_ipv4_and_ipv6(vm, port):
    assert vm.socket(f"tcp://0.0.0.0:{port}").is_listening
    assert vm.socket(f"tcp://:::{port}").is_listening


def test_prosody_logged_no_errors(vm):
    errors = vm.check_output("cat /var/log/prosody/prosody.err 2>/dev/null || true")
    assert errors == "", errors


def test_seeded_accounts_hold_the_keys_derived_from_their_secrets(vm):
    """Each seeded account stores exactly what Prosody's internal_hashed stores: SCRAM-SHA-1 keys
    with its own salt and 10,000 rounds, derived from its password in the secrets store; never
    the password. (tests/vm/test_30 logs in with them.)"""
    store = SecretsStore(CONFIG.secrets.dir)
    query = ("SELECT user, store, key, value FROM prosody WHERE host = '{realm}'"
             " AND store IN ('accounts', 'account_roles') ORDER BY 1, 2, 3")
    rows = [line.split("|") for line in vm.check_output(
        f'sqlite3 -readonly {DATABASE} "{query.format(realm=CONFIG.realm)}"').splitlines()]
    salts = set()
    for jid, role in roles_for(CONFIG):
        user = jid.split("@")[0]
        record = {key: value for name, kind, key, value in rows if name == user and kind == "accounts"}
        assert sorted(record) == ["created", "iteration_count", "salt", "server_key", "stored_key", "updated"], jid
        expected = scram_credentials(store.get(account_password_name(jid)), salt=record["salt"])
        assert (record["stored_key"], record["server_key"], record["iteration_count"]) == (
            expected["stored_key"], expected["server_key"], "10000"), jid
        assert role == MEMBER_ROLE
        assert ("_default", MEMBER_ROLE) in [(key, value) for name, kind, key, value in rows
                                             if name == user and kind == "account_roles"], jid
        salts.add(record["salt"])
    assert len(salts) == len(roles_for(CONFIG))

"""Check Eldwyn's data (group_data/*.py) and turn it into typed, read-only config objects.

``load_config(data)`` runs before any host is touched. The first problem found raises
``ConfigError`` with one message naming the key path and what is wrong, for example
``xmpp_components[1].name: 'muc.example.org' is not inside the realm 'cslabs.clarkson.edu'``.
The keys themselves are documented where they are defined, in group_data/all.py.
"""

import difflib
import ipaddress
import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from eldwyn import prosody

# Data keys starting with these belong to us; pyinfra's own keys (ssh_*, _sudo...) do not.
KEY_PREFIXES = ("xmpp_", "prosody_", "tls_", "firewall_", "secrets_", "signup_", "backup_")
SECRETS_DIR_ENV = "ELDWYN_SECRETS_DIR"
SSH_PORT = 22  # always open, first; see templates/etc/iptables/rules.v4.j2
PORT_SERVICES = ("c2s", "s2s", "http", "https", "proxy65")


class ConfigError(ValueError):
    """One problem in the data: ``path`` is the key path, ``problem`` says what is wrong."""

    def __init__(self, path, problem):
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


# ---------------------------------------------------------------------------------------------
# The result: frozen dataclasses of tuples, so nothing downstream can change the config.


@dataclass(frozen=True)
class Component:
    name: str  # e.g. "muc.comm.cslabs.clarkson.edu"
    type: str  # the Prosody module behind it: "muc", "pubsub", "proxy65", "http_file_share"
    description: str  # shown in the realm's disco#items and as the component's own name
    modules: tuple  # extra modules_enabled for this component only (e.g. "muc_mam")
    options: tuple  # (prosody_option, value) pairs, in data order


@dataclass(frozen=True)
class GroupMember:
    jid: str
    name: str


@dataclass(frozen=True)
class RosterGroup:
    name: str
    members: tuple  # of GroupMember


@dataclass(frozen=True)
class Ports:
    c2s: tuple
    s2s: tuple
    http: tuple
    https: tuple
    proxy65: tuple

    @property
    def all(self):
        return tuple(sorted(port for service in PORT_SERVICES for port in getattr(self, service)))


@dataclass(frozen=True)
class Certificate:
    name: str  # the XMPP host name, the certificate's only SAN
    certificate_path: str  # on the host
    key_path: str  # on the host
    supplied_certificate: str | None  # operator's own file (operator side), or None: our CA issues
    supplied_key: str | None


@dataclass(frozen=True)
class Tls:
    ca_common_name: str
    ca_validity_days: int
    certificate_validity_days: int
    renew_before_days: int
    certificates: tuple  # of Certificate, realm first
    keep_adopted: bool = False  # serve an adopted host's certificates while valid (eldwyn/certificates.py)


@dataclass(frozen=True)
class Firewall:
    packages: tuple  # Debian packages that load the rules at boot
    xmpp_tcp_ports: tuple
    other_tcp_ports: tuple
    ssh_port: int = SSH_PORT  # not data: SSH is never closed by this deploy

    @property
    def tcp_ports(self):
        """Every TCP port opened besides SSH, sorted."""
        return tuple(sorted(self.xmpp_tcp_ports + self.other_tcp_ports))


@dataclass(frozen=True)
class RateLimit:
    attempts: int
    window_seconds: int


@dataclass(frozen=True)
class Smtp:
    host: str
    port: int
    starttls: bool
    username: str | None  # None: no SMTP AUTH (and no password secret)
    from_address: str


# Where the registration webservice lives on the host (not data: the templates and the deploy
# agree on them). Its secrets, kept in the secrets store under SIGNUP_SECRETS' values, are
# written root-only to SIGNUP_CREDENTIALS_DIR and handed to the service by systemd's
# LoadCredential= under SIGNUP_SECRETS' keys (webservice/signup/settings.py reads them).
SIGNUP_APP_DIR = "/usr/local/lib/eldwyn-signup"  # holds the package webservice/signup
SIGNUP_CONFIG_DIR = "/etc/eldwyn-signup"  # settings.json, root-only
SIGNUP_CREDENTIALS_DIR = "/etc/eldwyn-signup/credentials"  # one root-only file per secret
SIGNUP_STATE_DIR = "/var/lib/eldwyn-signup"  # systemd's StateDirectory: the sqlite file
SIGNUP_CA_FILE = "/usr/local/share/ca-certificates/eldwyn-xmpp-ca.crt"  # the local CA, public
SIGNUP_TLS_DIR = "/etc/nginx/tls"  # the site's certificate (.crt) and key (.key) for nginx
SIGNUP_SECRETS = {"secret-key": "signup-secret-key", "smtp-password": "signup-smtp-password"}
# Made on the host itself (tasks/webservice.py, `prosodyctl mod_invites_api create`), never by
# the operator: the key mod_invites_api checks, read by webservice/signup/registrar.py.
SIGNUP_INVITES_API_KEY = "invites-api-key"
SIGNUP_WEB_PORTS = (80, 443)  # nginx: HTTP (redirect only) and HTTPS
# What nginx adds to every answer of the site: the same as the application's own
# (webservice/signup/app.py SECURITY_HEADERS; a unit test keeps the two equal).
SIGNUP_SECURITY_HEADERS = (
    ("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; "
                                "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    ("X-Frame-Options", "DENY"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("Strict-Transport-Security", "max-age=31536000"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
)


@dataclass(frozen=True)
class Signup:
    site_name: str
    listen_port: int  # gunicorn, on 127.0.0.1 only
    packages: tuple
    allowed_email_domains: tuple
    reserved_usernames: tuple  # the data's, then the admins' and seeded accounts' user names
    min_password_length: int
    invite_expiry_seconds: int
    verification_expiry_seconds: int
    per_address: RateLimit
    per_email: RateLimit
    smtp: Smtp
    certificate: Certificate  # the site's, for nginx; issued by our CA unless supplied
    app_dir: str = SIGNUP_APP_DIR
    config_dir: str = SIGNUP_CONFIG_DIR
    credentials_dir: str = SIGNUP_CREDENTIALS_DIR
    state_dir: str = SIGNUP_STATE_DIR
    ca_certificate_file: str = SIGNUP_CA_FILE
    web_ports: tuple = SIGNUP_WEB_PORTS
    security_headers: tuple = SIGNUP_SECURITY_HEADERS
    invites_api_key: str = SIGNUP_INVITES_API_KEY  # credential name; made on the host

    @property
    def credentials(self):
        """(credential name, secrets-store name) of each secret the service needs."""
        names = ["secret-key"] + (["smtp-password"] if self.smtp.username else [])
        return tuple((name, SIGNUP_SECRETS[name]) for name in names)


@dataclass(frozen=True)
class Config:
    packages: tuple  # Debian packages to install
    realm: str
    admins: tuple
    accounts: tuple
    modules_enabled: tuple
    archive_expires_after: object  # "never", a period string such as "30d", or seconds
    components: tuple  # of Component
    ports: Ports
    http_interfaces: tuple
    shared_roster_groups: tuple  # of RosterGroup
    tls: Tls
    firewall: Firewall
    secrets_dir: Path
    signup: Signup
    backup_dir: Path  # where the operator's backups go (operator_tasks/backup.py)
    restore_from: object  # a verified eldwyn.backup.Backup the deploy restores, or None
    data_dir: str = prosody.DATA_DIR
    groups_file: str = prosody.GROUPS_FILE

    @property
    def hosts(self):
        """The realm, then every component name: the names that need a certificate."""
        return (self.realm,) + tuple(component.name for component in self.components)

    def certificate(self, name):
        """The Certificate of host ``name`` (the realm or a component)."""
        return next(cert for cert in self.tls.certificates if cert.name == name)

    @property
    def signup_settings(self):
        """The webservice's settings.json (webservice/signup/settings.py documents it)."""
        signup = self.signup
        return {
            "site_name": signup.site_name,
            "realm": self.realm,
            "xmpp_server": self.realm,
            "xmpp_port": self.ports.c2s[0],
            "state_directory": signup.state_dir,
            "ca_certificate_file": signup.ca_certificate_file,
            "allowed_email_domains": list(signup.allowed_email_domains),
            "reserved_usernames": list(signup.reserved_usernames),
            "min_password_length": signup.min_password_length,
            "invite_expiry_seconds": signup.invite_expiry_seconds,
            "verification_expiry_seconds": signup.verification_expiry_seconds,
            "rate_limits": {
                "per_address": {"attempts": signup.per_address.attempts,
                                "window_seconds": signup.per_address.window_seconds},
                "per_email": {"attempts": signup.per_email.attempts,
                              "window_seconds": signup.per_email.window_seconds},
            },
            "smtp": {"host": signup.smtp.host, "port": signup.smtp.port,
                     "starttls": signup.smtp.starttls, "username": signup.smtp.username,
                     "from_address": signup.smtp.from_address},
            "trusted_proxies": ["127.0.0.1", "::1"],
        }

    @property
    def seeded_accounts(self):
        """Accounts the deploy creates when missing: the admins, then the other accounts."""
        return self.admins + self.accounts


# ---------------------------------------------------------------------------------------------
# Small checks. Each takes the value and its key path, and returns the value it accepts.


def _fail(path, problem):
    raise ConfigError(path, problem)


def _expect(value, path, types, what):
    # bool is an int in Python; True is never a port or a size.
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        _fail(path, f"expected {what}, got {type(value).__name__} {value!r}")
    return value


def _int(value, path, minimum, maximum=None):
    _expect(value, path, (int,), "an integer")
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        _fail(path, f"{value} is out of range, expected {bounds}")
    return value


def _bool(value, path):
    return _expect(value, path, (bool,), "true or false (a bool)")


def _text(value, path):
    """A one-line human text: shown to users and written into files, so no control characters."""
    _expect(value, path, (str,), "a string")
    if not value.strip():
        _fail(path, "must not be empty")
    bad = [char for char in value if unicodedata.category(char) == "Cc"]
    if bad:
        _fail(path, f"{value!r} contains the control character {bad[0]!r}")
    return value


def _list(value, path):
    return list(_expect(value, path, (list, tuple), "a list"))


def _dict(value, path, required, optional=()):
    """A dict with string keys: every required key present, nothing unknown."""
    _expect(value, path, (dict,), "a dict")
    known = (*required, *optional)
    for key in value:
        if key not in known:
            hint = _suggest(key, known)
            if not hint:
                hint = f"; expected one of: {', '.join(known)}" if known else "; none is accepted here"
            _fail(_join(path, key), "unknown key" + hint)
    for key in required:
        if key not in value:
            _fail(_join(path, key), "missing")
    return value


def _join(path, key):
    return f"{path}.{key}" if isinstance(key, str) and key.isidentifier() else f"{path}[{key!r}]"


def _suggest(word, candidates):
    close = difflib.get_close_matches(str(word), list(candidates), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _no_duplicates(items, path):
    seen = {}
    for index, item in enumerate(items):
        if item in seen:
            _fail(f"{path}[{index}]", f"{item!r} is listed twice (first at [{seen[item]}])")
        seen[item] = index


_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\Z")


def _hostname(value, path):
    _expect(value, path, (str,), "a host name")
    if value != value.lower():
        _fail(path, f"{value!r} must be lower case")
    if len(value) > 253 or not all(_LABEL.match(label) for label in value.split(".")):
        _fail(path, f"{value!r} is not a valid DNS name")
    return value


# Characters Prosody's nodeprep refuses in a user name (plus control characters and spaces).
_LOCALPART_FORBIDDEN = set(" \"&'/:<>@")


def _jid(value, path, realm=None):
    """A bare JID ``user@domain`` written the way Prosody stores it; in ``realm`` if given."""
    _expect(value, path, (str,), "a JID such as 'alice@example.org'")
    localpart, at, domain = value.rpartition("@")
    if not at or not localpart:
        _fail(path, f"{value!r} is not a bare JID 'user@domain'")
    for char in localpart:
        if char in _LOCALPART_FORBIDDEN or char.isspace() or unicodedata.category(char) == "Cc":
            _fail(path, f"{value!r}: the user name may not contain {char!r}")
    if len(localpart.encode("utf-8")) > 1023:
        _fail(path, f"{value[:20]!r}...: the user name is longer than 1023 bytes")
    normalised = unicodedata.normalize("NFKC", localpart).casefold()
    if localpart != normalised:
        _fail(path, f"{value!r}: write it as Prosody stores it, {normalised + '@' + domain!r}")
    if not domain or not all(_LABEL.match(x) for x in domain.split(".")):
        _fail(path, f"{value!r}: {domain!r} is not a valid lower-case domain")
    if realm is not None and domain != realm:
        _fail(path, f"{value!r} is not in the realm {realm!r}")
    return value


def _jid_list(value, path, realm):
    jids = [_jid(item, f"{path}[{index}]", realm) for index, item in enumerate(_list(value, path))]
    _no_duplicates(jids, path)
    return tuple(jids)


# What Prosody 13's module:get_option_period() reads without complaint (util/human/io.lua):
# "never", or a number and a unit. A bare "m" or "mo" is refused by us because Prosody logs it
# as ambiguous (minutes or months?).
_PERIOD = re.compile(
    r"(never|[1-9][0-9]*\s*(s|secs?|seconds?|min|mins|minutes?|h|hours?|d|days?|w|weeks?"
    r"|mon|months?|y|years?))\Z"
)


def _period(value, path):
    if isinstance(value, int) and not isinstance(value, bool):
        return _int(value, path, 1)  # seconds
    _expect(value, path, (str,), "a period such as \"never\", \"1w\" or \"30 days\"")
    if not _PERIOD.match(value):
        _fail(path, f"{value!r} is not a period Prosody understands; use \"never\", \"1w\", \"30d\", \"6 months\"...")
    return value


def _size(value, path):
    """A size in bytes; write 128 * 1024 * 1024 in the data, not "128M"."""
    return _int(value, path, 1)


def _port(value, path):
    _int(value, path, 1, 65535)
    if value < 1024:
        # Debian's prosody.service runs Prosody as user prosody from the start.
        _fail(path, f"{value} is below 1024: Prosody runs as user prosody and cannot bind it")
    return value


def _modules(value, path, component_type=None):
    """A list of known module names, without duplicates or modules that belong elsewhere."""
    modules = []
    for index, module in enumerate(_list(value, path)):
        item_path = f"{path}[{index}]"
        _expect(module, item_path, (str,), "a module name")
        if module.startswith("mod_"):
            _fail(item_path, f"{module!r}: write the name without 'mod_', i.e. {module[4:]!r}")
        if module not in prosody.KNOWN_MODULES:
            _fail(item_path, f"unknown module {module!r}" + _suggest(module, prosody.KNOWN_MODULES)
                  + "; known modules are listed in eldwyn/prosody.py")
        home = prosody.COMPONENT_ONLY_MODULES.get(module)
        if home and home != component_type:
            _fail(item_path, f"{module!r} works only on a {home!r} component: list it in that"
                  " component's modules")
        modules.append(module)
    _no_duplicates(modules, path)
    return tuple(modules)


_PACKAGE = re.compile(r"[a-z0-9][a-z0-9+.-]+\Z")  # Debian policy 5.6.1


def _packages(value, path, needed=()):
    packages = []
    for index, package in enumerate(_list(value, path)):
        _expect(package, f"{path}[{index}]", (str,), "a Debian package name")
        if not _PACKAGE.match(package):
            _fail(f"{path}[{index}]", f"{package!r} is not a Debian package name")
        packages.append(package)
    _no_duplicates(packages, path)
    for package, why in needed:
        if package not in packages:
            _fail(path, f"{package!r} is needed ({why})")
    return tuple(packages)


# What the deploy itself runs on the host, so the package lists cannot do without it.
PROSODY_NEEDS = (
    ("prosody", "the server"), ("prosody-modules", "community modules"),
    ("lua-dbi-sqlite3", "SQLite storage"), ("lua5.4", "luac5.4 checks the config"),
    ("sqlite3", "the deploy reads the account store"),
)
FIREWALL_NEEDS = (("iptables", "iptables-restore"), ("netfilter-persistent", "rules at boot"),
                  ("iptables-persistent", "netfilter-persistent's iptables plugin"))


def _interfaces(value, path):
    interfaces = []
    for index, item in enumerate(_list(value, path)):
        item_path = f"{path}[{index}]"
        _expect(item, item_path, (str,), "an IP address, \"*\" (all IPv4) or \"::\" (all IPv6)")
        if item != "*":
            try:
                ipaddress.ip_address(item)
            except ValueError:
                _fail(item_path, f"{item!r} is not an IP address, \"*\" or \"::\"")
        interfaces.append(item)
    _no_duplicates(interfaces, path)
    if all(item != "*" and ipaddress.ip_address(item).is_loopback for item in interfaces):
        _fail(path, "plain HTTP (BOSH, websocket, uploads) must listen beyond loopback;"
              " add \"*\" and \"::\" or a public address")
    return tuple(interfaces)


# ---------------------------------------------------------------------------------------------
# Components: the options each type accepts, with their checks. An option not listed here is
# refused as a probable typo; add it here (with its check) when the data needs it.

def _room_creation(value, path):
    if value not in (True, False, "local"):
        _fail(path, f"{value!r}: expected true (admins only), false (anyone) or \"local\"")
    return value


COMPONENT_OPTIONS = {
    "muc": {
        "muc_log_presences": _bool,
        "muc_log_expires_after": _period,
        "muc_log_by_default": _bool,
        "muc_log_all_rooms": _bool,
        "restrict_room_creation": _room_creation,
    },
    "pubsub": {},
    "proxy65": {"proxy65_address": _hostname},
    "http_file_share": {
        "http_file_share_size_limit": _size,
        "http_file_share_expires_after": _period,
        "http_file_share_daily_quota": _size,
        "http_file_share_global_quota": _size,
    },
}


def _component(value, path, realm):
    _dict(value, path, ("name", "type", "description"), ("modules", "options"))
    name = _hostname(value["name"], f"{path}.name")
    if name == realm:
        _fail(f"{path}.name", f"{name!r} is the realm itself; a component needs its own name")
    if not name.endswith("." + realm):
        _fail(f"{path}.name", f"{name!r} is not inside the realm {realm!r}")
    kind = _expect(value["type"], f"{path}.type", (str,), "a component type")
    if kind not in prosody.COMPONENT_TYPES:
        _fail(f"{path}.type", f"unknown component type {kind!r}; expected one of "
              + ", ".join(sorted(prosody.COMPONENT_TYPES)))
    option_checks = COMPONENT_OPTIONS[kind]
    options = value.get("options", {})
    _dict(options, f"{path}.options", (), tuple(option_checks))
    return Component(
        name=name,
        type=kind,
        description=_text(value["description"], f"{path}.description"),
        modules=_modules(value.get("modules", []), f"{path}.modules", component_type=kind),
        options=tuple((key, option_checks[key](item, f"{path}.options.{key}"))
                      for key, item in options.items()),
    )


def _components(value, path, realm):
    components = tuple(_component(item, f"{path}[{index}]", realm)
                       for index, item in enumerate(_list(value, path)))
    for index, component in enumerate(components):
        first = next(i for i, other in enumerate(components) if other.name == component.name)
        if first != index:
            _fail(f"{path}[{index}].name", f"{component.name!r} is already used by {path}[{first}]")
    return components


def _groups(value, path):
    _expect(value, path, (dict,), "a dict of group name -> list of members")
    groups = []
    for group_name, members in value.items():
        group_path = f"{path}[{group_name!r}]"
        _text(group_name, f"{group_path} (the group name)")
        if group_name.startswith("+"):
            _fail(group_path, "a leading '+' makes Prosody add the group to every user's roster;"
                  " not supported here")
        parsed = []
        for index, member in enumerate(_list(members, group_path)):
            member_path = f"{group_path}[{index}]"
            _dict(member, member_path, ("jid", "name"))
            jid = _jid(member["jid"], f"{member_path}.jid")
            if "=" in jid:
                _fail(f"{member_path}.jid", f"{jid!r}: '=' cannot be written in groups.txt")
            parsed.append(GroupMember(jid=jid, name=_text(member["name"], f"{member_path}.name")))
        _no_duplicates([member.jid for member in parsed], group_path)
        groups.append(RosterGroup(name=group_name, members=tuple(parsed)))
    return tuple(groups)


def _ports(value, path):
    _dict(value, path, PORT_SERVICES)
    ports = {}
    owner = {}
    for service in PORT_SERVICES:
        service_path = f"{path}.{service}"
        service_ports = _list(value[service], service_path)
        if not service_ports:
            _fail(service_path, "needs at least one port")
        for index, port in enumerate(service_ports):
            _port(port, f"{service_path}[{index}]")
            if port in owner:
                _fail(f"{service_path}[{index}]", f"port {port} is already used by {owner[port]}")
            owner[port] = service_path
        ports[service] = tuple(service_ports)
    return Ports(**ports)


def _certificate_files(value, path, hosts):
    _expect(value, path, (dict,), "a dict of host name -> {'certificate': ..., 'key': ...}")
    supplied = {}
    for name, files in value.items():
        name_path = f"{path}[{name!r}]"
        if name not in hosts:
            _fail(name_path, f"{name!r} is neither the realm nor a component nor signup_site_name"
                  + _suggest(name, hosts))
        _dict(files, name_path, ("certificate", "key"))  # a certificate without its key is refused
        supplied[name] = {}
        for key in ("certificate", "key"):
            file_path = os.path.expanduser(_text(files[key], f"{name_path}.{key}"))
            if not os.path.isfile(file_path):
                _fail(f"{name_path}.{key}", f"{file_path!r} is not a file on this machine")
            supplied[name][key] = file_path
    return supplied


def _certificate(name, directory, supplied):
    return Certificate(
        name=name,
        certificate_path=f"{directory}/{name}.crt",
        key_path=f"{directory}/{name}.key",
        supplied_certificate=supplied.get(name, {}).get("certificate"),
        supplied_key=supplied.get(name, {}).get("key"),
    )


def _tls(data, hosts, supplied):
    renew = _int(data["tls_renew_before_days"], "tls_renew_before_days", 1)
    # Apple's clients refuse server certificates valid for more than 825 days, even from a
    # private CA; a validity at or below the renewal threshold would re-issue on every deploy.
    validity = _int(data["tls_certificate_validity_days"], "tls_certificate_validity_days", 1, 825)
    if validity <= renew:
        _fail("tls_certificate_validity_days", f"{validity} must exceed tls_renew_before_days"
              f" ({renew}), or every deploy re-issues the certificates")
    ca_validity = _int(data["tls_ca_validity_days"], "tls_ca_validity_days", 1)
    if ca_validity <= validity:
        _fail("tls_ca_validity_days", f"{ca_validity} must exceed tls_certificate_validity_days ({validity})")
    return Tls(
        ca_common_name=_text(data["tls_ca_common_name"], "tls_ca_common_name"),
        ca_validity_days=ca_validity,
        certificate_validity_days=validity,
        renew_before_days=renew,
        certificates=tuple(_certificate(name, prosody.DATA_DIR, supplied) for name in hosts),
        keep_adopted=_bool(data["tls_keep_adopted_certificates"], "tls_keep_adopted_certificates"),
    )


def _port_list(value, path):
    ports = [_int(port, f"{path}[{index}]", 1, 65535) for index, port in enumerate(_list(value, path))]
    _no_duplicates(ports, path)
    if len(ports) > 15:  # iptables' multiport match takes at most 15 ports
        _fail(path, f"{len(ports)} ports, but one firewall rule takes at most 15")
    return ports


def _firewall(data, ports):
    xmpp_path, other_path = "firewall_xmpp_tcp_ports", "firewall_other_tcp_ports"
    xmpp = _port_list(data[xmpp_path], xmpp_path)
    other = _port_list(data[other_path], other_path)
    for port in ports.all:
        if port not in xmpp:
            _fail(xmpp_path, f"port {port} is used by Prosody (xmpp_ports) but not opened here")
    for index, port in enumerate(xmpp):
        if port not in ports.all:
            _fail(f"{xmpp_path}[{index}]", f"no XMPP service listens on port {port} (see xmpp_ports)")
    for index, port in enumerate(other):
        if port == SSH_PORT:
            _fail(f"{other_path}[{index}]", "SSH (22) is always open; do not list it")
        if port in xmpp:
            _fail(f"{other_path}[{index}]", f"port {port} is already in {xmpp_path}")
    return Firewall(
        packages=_packages(data["firewall_packages"], "firewall_packages", FIREWALL_NEEDS),
        xmpp_tcp_ports=tuple(sorted(xmpp)),
        other_tcp_ports=tuple(sorted(other)),
    )


def _local_dir(value, path):
    directory = Path(os.path.expanduser(_text(value, path)))
    if not directory.is_absolute():
        _fail(path, f"{value!r} must be an absolute path (or start with ~)")
    return directory


def _restore_from(value, path, realm):
    """None, or the backup at ``value`` verified whole (eldwyn.backup.verify)."""
    if value is None:
        return None
    from eldwyn.backup import (  # reads files: only when a restore is asked for
        BackupError,
        verify,
    )

    try:
        return verify(_local_dir(value, path), realm)
    except BackupError as error:
        _fail(path, f"{error}; nothing was restored")


def account_jid(value, path, realm):
    """An account of ``realm`` given as ``name`` or ``name@realm``: its bare JID."""
    _expect(value, path, (str,), "a user name or a JID such as 'alice@example.org'")
    return _jid(value if "@" in value else f"{value}@{realm}", path, realm)


def _secrets_dir(data, environ):
    if environ.get(SECRETS_DIR_ENV):
        path, value = f"{SECRETS_DIR_ENV} (environment)", environ[SECRETS_DIR_ENV]
    else:
        path, value = "secrets_dir", data["secrets_dir"]
    return _local_dir(value, path)


_EMAIL = re.compile(r"[A-Za-z0-9.!#$%*+/=?^_`{|}~-]{1,64}@[a-z0-9.-]{1,253}\Z")
SIGNUP_NEEDS = (("python3-flask", "the web application"), ("gunicorn", "its WSGI server"),
                ("nginx", "TLS in front of it"))


def _localpart(value, path, realm):
    """A user name as Prosody stores it (checked as the JID name@realm)."""
    _expect(value, path, (str,), "a user name")
    try:
        _jid(f"{value}@{realm}", path)
    except ConfigError as error:
        _fail(path, error.problem.replace(f"@{realm}", ""))
    return value


def _rate_limit(value, path):
    _dict(value, path, ("attempts", "window_seconds"))
    return RateLimit(attempts=_int(value["attempts"], f"{path}.attempts", 1),
                     window_seconds=_int(value["window_seconds"], f"{path}.window_seconds", 1, 7 * 86400))


def _smtp(value, path):
    _dict(value, path, ("host", "port", "starttls", "username", "from_address"))
    host = _hostname(value["host"], f"{path}.host")
    starttls = _bool(value["starttls"], f"{path}.starttls")
    username = value["username"]
    if username is not None:
        _text(username, f"{path}.username")
        if not starttls and host != "localhost":
            _fail(f"{path}.starttls", f"false would send the SMTP password for {username!r} in clear"
                  f" to {host!r}; use STARTTLS or no username")
    from_address = _expect(value["from_address"], f"{path}.from_address", (str,), "an e-mail address")
    if not _EMAIL.match(from_address):
        _fail(f"{path}.from_address", f"{from_address!r} is not an e-mail address with a lower-case domain")
    return Smtp(host=host, port=_int(value["port"], f"{path}.port", 1, 65535), starttls=starttls,
                username=username, from_address=from_address)


def _signup(data, realm, seeded, components, ports, firewall, supplied):
    site = _hostname(data["signup_site_name"], "signup_site_name")
    if site in (component.name for component in components):
        _fail("signup_site_name", f"{site!r} is an XMPP component's name; the site needs its own")
    port = _int(data["signup_listen_port"], "signup_listen_port", 1024, 65535)
    if port in ports.all:
        _fail("signup_listen_port", f"port {port} is already used by Prosody (xmpp_ports)")
    for web_port in SIGNUP_WEB_PORTS:
        if web_port not in firewall.other_tcp_ports:
            _fail("firewall_other_tcp_ports", f"port {web_port} must be open: nginx serves the"
                  f" sign-up site {site!r} on ports 80 and 443")
    domains_path = "signup_allowed_email_domains"
    domains = tuple(_hostname(item, f"{domains_path}[{index}]")
                    for index, item in enumerate(_list(data[domains_path], domains_path)))
    if not domains:
        _fail(domains_path, "needs at least one domain (sign-up is open to these addresses only)")
    _no_duplicates(domains, domains_path)
    reserved_path = "signup_reserved_usernames"
    reserved = [_localpart(item, f"{reserved_path}[{index}]", realm)
                for index, item in enumerate(_list(data[reserved_path], reserved_path))]
    _no_duplicates(reserved, reserved_path)
    for jid in seeded:
        name = jid.rpartition("@")[0]
        if name not in reserved:
            reserved.append(name)
    limits_path = "signup_rate_limits"
    limits = _dict(data[limits_path], limits_path, ("per_address", "per_email"))
    return Signup(
        site_name=site,
        listen_port=port,
        packages=_packages(data["signup_packages"], "signup_packages", SIGNUP_NEEDS),
        allowed_email_domains=domains,
        reserved_usernames=tuple(reserved),
        min_password_length=_int(data["signup_min_password_length"], "signup_min_password_length", 12, 128),
        invite_expiry_seconds=_int(data["signup_invite_expiry_seconds"], "signup_invite_expiry_seconds",
                                   300, 30 * 86400),
        verification_expiry_seconds=_int(data["signup_verification_expiry_seconds"],
                                         "signup_verification_expiry_seconds", 300, 7 * 86400),
        per_address=_rate_limit(limits["per_address"], f"{limits_path}.per_address"),
        per_email=_rate_limit(limits["per_email"], f"{limits_path}.per_email"),
        smtp=_smtp(data["signup_smtp"], "signup_smtp"),
        certificate=_certificate(site, SIGNUP_TLS_DIR, supplied),
    )


# ---------------------------------------------------------------------------------------------

KNOWN_KEYS = (
    "prosody_packages", "xmpp_realm", "xmpp_admins", "xmpp_accounts", "xmpp_modules_enabled",
    "xmpp_archive_expires_after", "xmpp_components", "xmpp_ports", "xmpp_http_interfaces",
    "xmpp_shared_roster_groups", "tls_ca_common_name", "tls_ca_validity_days",
    "tls_certificate_validity_days", "tls_renew_before_days", "tls_certificate_files",
    "tls_keep_adopted_certificates",
    "firewall_packages", "firewall_xmpp_tcp_ports", "firewall_other_tcp_ports", "secrets_dir",
    "signup_site_name", "signup_listen_port", "signup_packages", "signup_allowed_email_domains",
    "signup_reserved_usernames", "signup_min_password_length", "signup_invite_expiry_seconds",
    "signup_verification_expiry_seconds", "signup_rate_limits", "signup_smtp",
    "backup_dir", "backup_restore_from",
)


def load_config(data, environ=None):
    """Validate ``data`` (host.data.dict() or a plain dict) and return a ``Config``.

    Keys without one of our prefixes (pyinfra's ssh_*, _sudo, ...) are ignored; ours must all
    be known and present. ``environ`` defaults to os.environ (for ELDWYN_SECRETS_DIR).
    """
    environ = os.environ if environ is None else environ
    for key in data:
        if isinstance(key, str) and key.startswith(KEY_PREFIXES) and key not in KNOWN_KEYS:
            _fail(key, "unknown key" + _suggest(key, KNOWN_KEYS))
    for key in KNOWN_KEYS:
        if key not in data:
            _fail(key, "missing (it is defined in group_data/all.py)")

    packages = _packages(data["prosody_packages"], "prosody_packages", PROSODY_NEEDS)
    realm = _hostname(data["xmpp_realm"], "xmpp_realm")
    admins = _jid_list(data["xmpp_admins"], "xmpp_admins", realm)
    if not admins:
        _fail("xmpp_admins", "needs at least one admin (admins are published as the contacts)")
    accounts = _jid_list(data["xmpp_accounts"], "xmpp_accounts", realm)
    for index, jid in enumerate(accounts):
        if jid in admins:
            _fail(f"xmpp_accounts[{index}]", f"{jid!r} is already in xmpp_admins (admins are seeded too)")

    modules = _modules(data["xmpp_modules_enabled"], "xmpp_modules_enabled")
    # The templates always say registration_invite_only = true; without invites_register that
    # option is ignored and registration is OPEN (see shared notes on Prosody 13).
    if "register" in modules and "invites_register" not in modules:
        _fail("xmpp_modules_enabled", "'register' without 'invites_register' would open"
              " registration to anyone; add 'invites' and 'invites_register'")
    if "invites_register" in modules and "invites" not in modules:
        _fail("xmpp_modules_enabled", "'invites_register' needs 'invites'")
    # Prosody 13.0.1's invites_register lets one invite create many accounts (notes on Prosody 13).
    if "register" in modules and "invites_register_strict" not in modules:
        _fail("xmpp_modules_enabled", "'register' without 'invites_register_strict' lets one"
              " invite create many accounts; add 'invites_register_strict'")

    components = _components(data["xmpp_components"], "xmpp_components", realm)
    groups = _groups(data["xmpp_shared_roster_groups"], "xmpp_shared_roster_groups")
    if groups and "groups" not in modules:
        _fail("xmpp_modules_enabled", "xmpp_shared_roster_groups is set but module 'groups' is not enabled")
    ports = _ports(data["xmpp_ports"], "xmpp_ports")
    hosts = (realm,) + tuple(component.name for component in components)
    site = data["signup_site_name"]
    supplied = _certificate_files(data["tls_certificate_files"], "tls_certificate_files",
                                  hosts + ((site,) if isinstance(site, str) else ()))
    firewall = _firewall(data, ports)

    return Config(
        packages=packages,
        realm=realm,
        admins=admins,
        accounts=accounts,
        modules_enabled=modules,
        archive_expires_after=_period(data["xmpp_archive_expires_after"], "xmpp_archive_expires_after"),
        components=components,
        ports=ports,
        http_interfaces=_interfaces(data["xmpp_http_interfaces"], "xmpp_http_interfaces"),
        shared_roster_groups=groups,
        tls=_tls(data, hosts, supplied),
        firewall=firewall,
        secrets_dir=_secrets_dir(data, environ),
        signup=_signup(data, realm, admins + accounts, components, ports, firewall, supplied),
        backup_dir=_local_dir(data["backup_dir"], "backup_dir"),
        restore_from=_restore_from(data["backup_restore_from"], "backup_restore_from", realm),
    )

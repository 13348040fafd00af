"""The deploy's data (group_data/*.py): every key, with its type, bounds, default and meaning.

A data key is a section prefix and a field of that section: ``tls_renew_before_days`` is
``Tls.renew_before_days``; the ``xmpp_`` keys are the fields of ``Config`` itself
(``xmpp_realm`` is ``Config.realm``). To add a setting, add a field (with its docstring) to
its section here, give it a value in group_data/ if its default does not suit Eldwyn, and use
it (``config.<section>.<field>``) where it matters. eldwyn/config.py loads and checks the data;
docs/data-keys.md lists every key (``python -m eldwyn.schema.reference`` writes it).

Checks that need another key live on the later of the two fields (pydantic hands a validator
the fields before it): each runs whenever its inputs are valid, so one run reports every problem.
"""

import functools
import ipaddress
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, ConfigDict, Field, StrictInt, StrictStr, ValidationInfo, field_validator, model_validator

from eldwyn import prosody as prosody_facts
from eldwyn.schema.base import Model, fail, raise_problems, suggestion
from eldwyn.schema.signup import SignupPolicy, SignupSettings
from eldwyn.secrets import private_directory_problem
from eldwyn.schema.types import (AbsolutePath, Bool, EmailAddress, Hostname, Jid, Period, Port, Size, Text,
                                 no_duplicates)

SSH_PORT = 22  # always open, first; see templates/etc/iptables/rules.v4.j2


# ---- Value types of the data only --------------------------------------------------------------

def _module(name):
    if name.startswith("mod_"):
        fail(f"{name!r}: write the name without 'mod_', i.e. {name[4:]!r}")
    if name not in prosody_facts.KNOWN_MODULES:
        fail(f"unknown module {name!r}" + suggestion(name, sorted(prosody_facts.KNOWN_MODULES))
             + "; known modules are listed in eldwyn/prosody.py")
    return name


def _misplaced(modules, kind):
    """Problems of the modules that work only on another type of component than ``kind``
    (None: the realm)."""
    return [((index,), f"{module!r} works only on a {home!r} component"
                       + ("" if kind else ": list it in that component's modules"))
            for index, module in enumerate(modules)
            if (home := prosody_facts.COMPONENT_ONLY_MODULES.get(module)) and home != kind]


Module = Annotated[StrictStr, AfterValidator(_module)]
Modules = Annotated[tuple[Module, ...], AfterValidator(no_duplicates)]


def _package(name):
    if not name or not name[0].isalnum() or not all(c.isalnum() or c in "+.-" for c in name) or name != name.lower():
        fail(f"{name!r} is not a Debian package name")  # Debian policy 5.6.1
    return name


def _needs(*needed):
    """A package list that must keep what the deploy itself runs on the host."""
    def check(packages):
        no_duplicates(packages)
        for package, why in needed:
            if package not in packages:
                fail(f"{package!r} is needed ({why})")
        return packages
    return AfterValidator(check)


Package = Annotated[StrictStr, AfterValidator(_package)]


def _prosody_port(port):
    if port < 1024:  # Debian's prosody.service runs Prosody as user prosody from the start
        fail(f"{port} is below 1024: Prosody runs as user prosody and cannot bind it")
    return port


ProsodyPort = Annotated[Port, AfterValidator(_prosody_port)]


def _local_dir(value):
    path = Path(os.path.expanduser(value))
    if not path.is_absolute():
        fail(f"{value!r} must be an absolute path (or start with ~)")
    return path


LocalDir = Annotated[Text, AfterValidator(_local_dir)]
"""A directory on the operator's machine: absolute, or starting with ~."""


def _private(path):
    problem = private_directory_problem(path)
    if problem:
        fail(problem)
    return path


PrivateDir = Annotated[LocalDir, AfterValidator(_private)]
"""A directory on the operator's machine for secrets: a real directory of ours, mode 0700, outside
any git work tree, or one that can be made so (it is made when first used, not by the check)."""


def _local_file(value):
    path = os.path.expanduser(value)
    if not os.path.isfile(path):
        fail(f"{path!r} is not a file on this machine")
    return path


LocalFile = Annotated[Text, AfterValidator(_local_file)]


def _interfaces(interfaces):
    no_duplicates(interfaces)
    problems = []
    for index, item in enumerate(interfaces):
        if item != "*":
            try:
                ipaddress.ip_address(item)
            except ValueError:
                problems.append(((index,), f"{item!r} is not an IP address, \"*\" (all IPv4) or \"::\" (all IPv6)"))
    if problems:
        raise_problems(problems, interfaces)
    if all(item != "*" and ipaddress.ip_address(item).is_loopback for item in interfaces):
        fail("plain HTTP (BOSH, websocket, uploads) must listen beyond loopback; add \"*\" and \"::\" or a"
             " public address")
    return interfaces


# ---- Components --------------------------------------------------------------------------------

class Options(Model):
    """A component's Prosody options: only those given are written, so none has a default."""

    model_config = ConfigDict(validate_default=False)


class MucOptions(Options):
    muc_log_presences: Bool = None
    """Archive joins and leaves too."""
    muc_log_expires_after: Period = None
    """Room history retention."""
    muc_log_by_default: Bool = None
    muc_log_all_rooms: Bool = None
    restrict_room_creation: Literal[True, False, "local"] = None
    """true (admins only), false (anyone) or "local" (users of the realm)."""


PUBSUB_ROLES = ("prosody:guest", "prosody:registered", "prosody:member", "prosody:admin")


class PubsubOptions(Options):
    add_permissions: dict[Literal[PUBSUB_ROLES], tuple[Literal["pubsub:create-node"], ...]] = None
    """Permissions added to roles on this component. On a component, every user of the realm has
    the role prosody:registered and users of other servers prosody:guest; Prosody 13 lets only
    admins create nodes. {"prosody:registered": ["pubsub:create-node"]} lets the realm's
    users create nodes, of which they are then the owners: others may not delete nor reconfigure
    them, admins keep full control. Prosody 13 has no limit on nodes per user. (Prosody names a
    module's permissions after the module: "pubsub:create-node"; "mod_pubsub:..." would be
    accepted by Prosody and do nothing.)"""
    pubsub_max_items: Annotated[StrictInt, Field(ge=1, le=10000)] = None
    """The most items a node may keep (Prosody's default: 256)."""


class Proxy65Options(Options):
    proxy65_address: Hostname = None
    """The address proxy65 tells clients to connect to."""


class HttpFileShareOptions(Options):
    http_file_share_size_limit: Size = None
    """Bytes per file."""
    http_file_share_expires_after: Period = None
    """How long uploads are kept; Prosody 13 reads "never" as no expiry."""
    http_file_share_daily_quota: Size = None
    """Bytes per user and day."""
    http_file_share_global_quota: Size = None
    """Bytes in all."""


# The Prosody options each component type accepts. An option not declared is refused as a
# probable typo: declare it in its type's class (with its check) when the data needs it.
COMPONENT_OPTIONS = {"muc": MucOptions, "pubsub": PubsubOptions, "proxy65": Proxy65Options,
                     "http_file_share": HttpFileShareOptions}


class Component(Model):
    name: Hostname
    """A host name inside the realm, e.g. "muc.comm.cslabs.clarkson.edu"."""
    type: Literal["muc", "pubsub", "proxy65", "http_file_share"]
    """The Prosody module behind it."""
    description: Text
    """Its name in the realm's service list (disco#items) and its own."""
    modules: Modules = ()
    """Extra modules_enabled for this component only (e.g. "muc_mam")."""
    options: dict[str, Any] = {}
    """Prosody options for this component, as given (the accepted ones: COMPONENT_OPTIONS)."""

    @field_validator("name")
    @classmethod
    def _inside_the_realm(cls, name, info: ValidationInfo):
        realm = (info.context or {}).get("realm")  # eldwyn/config.py passes it when it is valid
        if name == realm:
            fail(f"{realm!r} is the realm itself; a component needs its own name")
        if realm and not name.endswith("." + realm):
            fail(f"{name!r} is not inside the realm {realm!r}")
        return name

    @field_validator("modules")
    @classmethod
    def _modules_of_this_type(cls, modules, info: ValidationInfo):
        kind = info.data.get("type")
        problems = _misplaced(modules, kind) if kind else []
        if problems:
            raise_problems(problems, modules)
        return modules

    @field_validator("options")
    @classmethod
    def _options_of_this_type(cls, options, info: ValidationInfo):
        kind = info.data.get("type")
        if kind is None:
            return options
        checked = COMPONENT_OPTIONS[kind].model_validate(options)
        return {key: getattr(checked, key) for key in options}  # in data order


class RosterMember(Model):
    jid: Jid
    """Need not be a seeded account (users created later by invite can be listed), nor local."""
    name: Text
    """The name shown in rosters."""

    @field_validator("jid")
    @classmethod
    def _writable(cls, jid):
        if "=" in jid:
            fail(f"{jid!r}: '=' cannot be written in groups.txt")
        return jid


def _group_names(groups):
    problems = []
    for name, members in groups.items():
        if name.startswith("+"):
            problems.append(((name,), "a leading '+' makes Prosody add the group to every user's roster;"
                                      " not supported here"))
        jids = [member.jid for member in members]
        problems += [((name, index), f"{jid!r} is listed twice") for index, jid in enumerate(jids)
                     if jid in jids[:index]]
    if problems:
        raise_problems(problems, groups)
    return groups


def _rate(rate):
    # What mod_limits parses (plugins/mod_limits.lua): digits, a unit of b, kb, mb... and "/s";
    # anything else it replaces by its default of 3000 bytes/s, logging an error.
    if not re.fullmatch(r"[1-9][0-9]* ?[bkmg]b?/s", rate):
        fail(f"{rate!r} is not a rate mod_limits reads; write e.g. \"10kb/s\" or \"500b/s\"")
    return rate


class Limit(Model):
    rate: Annotated[StrictStr, AfterValidator(_rate)]
    """Bytes per second read from one connection, e.g. "10kb/s" (k = 1,000)."""
    burst_seconds: Annotated[StrictInt, Field(ge=1, le=60)] = 2
    """Seconds of traffic at that rate a connection may send at once."""

    # mod_limits' own multipliers (plugins/mod_limits.lua): powers of 1,000.
    UNITS: ClassVar[dict[str, int]] = {"b": 1, "k": 10**3, "m": 10**6, "g": 10**9}

    @property
    def bytes_per_second(self):
        """The rate as mod_limits reads it."""
        quantity, unit = re.fullmatch(r"([0-9]+) ?([bkmg])b?/s", self.rate).groups()
        return int(quantity) * self.UNITS[unit]


class Limits(Model):
    """Bandwidth per connection (mod_limits, when "limits" is in xmpp_modules_enabled): what one
    client or one remote server may send before Prosody stops reading from it for a while."""

    c2s: Limit = Limit(rate="10kb/s")
    """Each client connection (Debian's stock value)."""
    s2sin: Limit = Limit(rate="30kb/s")
    """Each incoming connection of another server (Debian's stock value)."""


class Ports(Model):
    """TCP ports per Prosody service (global *_ports options). BOSH, websocket and uploads are
    HTTP paths on http/https; 5000 is proxy65's (the page wrongly calls it BOSH's)."""

    c2s: Annotated[tuple[ProsodyPort, ...], Field(min_length=1)] = (5222,)
    """Clients (STARTTLS)."""
    s2s: Annotated[tuple[ProsodyPort, ...], Field(min_length=1)] = (5269,)
    """Other servers."""
    http: Annotated[tuple[ProsodyPort, ...], Field(min_length=1)] = (5280,)
    """Plain HTTP: /http-bind, /xmpp-websocket, /file_share, and the invites API on loopback."""
    https: Annotated[tuple[ProsodyPort, ...], Field(min_length=1)] = (5281,)
    """The same over TLS."""
    proxy65: Annotated[tuple[ProsodyPort, ...], Field(min_length=1)] = (5000,)
    """The file transfer proxy (XEP-0065)."""

    SERVICES: ClassVar = ("c2s", "s2s", "http", "https", "proxy65")

    @model_validator(mode="after")
    def _each_port_once(self):
        owner, problems = {}, []
        for service in self.SERVICES:
            for index, port in enumerate(getattr(self, service)):
                if port in owner:
                    problems.append(((service, index), f"port {port} is already used by xmpp_ports.{owner[port]}"))
                owner.setdefault(port, service)
        if len(owner) > 15:  # the firewall opens them with one multiport rule, which takes 15
            problems.append(((), f"{len(owner)} ports, but one firewall rule takes at most 15"))
        if problems:
            raise_problems(problems, self)
        return self

    @property
    def all(self):
        return tuple(sorted(port for service in self.SERVICES for port in getattr(self, service)))


# ---- Sections ----------------------------------------------------------------------------------

def _dns_server(value):
    address, _, port = value.partition("@")
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        fail(f"{value!r}: {address!r} is not an IP address (\"ADDRESS\" or \"ADDRESS@PORT\")")
    if port and not (port.isdigit() and 1 <= int(port) <= 65535):
        fail(f"{value!r}: {port!r} is not a port number")
    if parsed.is_loopback:
        fail(f"{value!r} is a loopback address, which libunbound (Prosody's resolver) never asks")
    return value


class ProsodySection(Model):
    packages: Annotated[tuple[Package, ...], _needs(
        ("prosody", "the server"), ("prosody-modules", "community modules"),
        ("lua-lsqlite3", "SQLite storage (LuaSQLite3, which Prosody 13 prefers)"), ("lua5.4", "luac5.4 checks the config"),
        ("sqlite3", "the deploy reads the account store"))] = (
        "prosody", "prosody-modules", "lua-lsqlite3", "lua-unbound", "lua5.4", "sqlite3")
    """Debian 13 packages of the server: Prosody, the community modules, the SQLite driver,
    lua-unbound (Prosody's recommended DNS resolver), lua5.4 (luac5.4 checks the config before it
    is used) and sqlite3 (the deploy and the operators read the account store)."""
    dns_servers: Annotated[tuple[Annotated[StrictStr, AfterValidator(_dns_server)], ...], Field(max_length=3)] = ()
    """DNS servers Prosody asks for other servers' addresses (s2s), as "ADDRESS" or
    "ADDRESS@PORT", instead of /etc/resolv.conf's. Not loopback: libunbound never asks a
    loopback server. The test bed points it at its test DNS; Eldwyn uses the system's."""


class CertificateFiles(Model):
    certificate: LocalFile
    """The certificate chain (e.g. certbot's fullchain.pem), on the operator's machine."""
    key: LocalFile
    """Its private key (e.g. privkey.pem)."""


def _acme_directory(value):
    if not re.fullmatch(r"https://[A-Za-z0-9.-]+(:[0-9]{1,5})?/[A-Za-z0-9._~/%+-]*", value):
        fail(f"{value!r} is not an https:// URL of an ACME directory")
    return value


TLS_MODES = ("acme", "local_ca", "files")


class Tls(Model):
    """Who issues each name's certificate (one per name: the realm, each component, the site)."""

    mode: Literal[TLS_MODES] = "acme"
    """"acme": certbot on the host gets every name's certificate from the ACME server
    (tls_acme_directory, Let's Encrypt by default) over HTTP-01 through nginx on port 80, and
    renews it by its own timer; until a name has its first one (and whenever an issuance fails)
    the name keeps what it serves, on a fresh host the local CA's certificate. "local_ca": the
    operator's local CA issues them all (clients must trust that CA: the test bed's default).
    "files": every name's certificate is in tls_certificate_files."""
    acme_directory: Annotated[StrictStr, AfterValidator(_acme_directory)] = (
        "https://acme-v02.api.letsencrypt.org/directory")
    """The ACME server's directory URL (mode "acme"). Let's Encrypt's staging server is
    https://acme-staging-v02.api.letsencrypt.org/directory; the test bed points it at pebble."""
    acme_email: EmailAddress | None = None
    """The e-mail address of the ACME account (the CA's notices about it); None registers the
    account without one."""
    acme_ca_bundle: AbsolutePath | None = None
    """A CA bundle on the host that certbot trusts for the ACME server's own HTTPS, for a
    private ACME server (the test bed's pebble); None: the system's CAs, as for Let's Encrypt."""
    acme_packages: ClassVar[tuple[str, ...]] = ("certbot",)  # Debian's, with its renewal timer
    # certbot --webroot writes the HTTP-01 answers here; nginx serves them on port 80.
    acme_webroot: ClassVar[str] = "/var/lib/eldwyn-xmpp/acme-challenges"
    ca_common_name: Text = "Eldwyn XMPP local CA"
    """Common name of the local certificate authority that issues one certificate per name (the
    realm, each component, the site) in mode "local_ca", and the first ones in mode "acme"."""
    ca_validity_days: Annotated[StrictInt, Field(ge=1)] = 3650
    """Days the CA certificate is valid; must outlast the certificates it issues."""
    certificate_validity_days: Annotated[StrictInt, Field(ge=1, le=825)] = 365
    """Days an issued certificate is valid (at most 825: Apple's clients refuse longer ones,
    even from a private CA)."""
    renew_before_days: Annotated[StrictInt, Field(ge=1)] = 30
    """The local CA re-issues a certificate when fewer days than this remain (or its names
    changed); an adopted certificate is served while more remain. certbot keeps its own
    schedule (30 days before expiry)."""
    certificate_files: dict[StrictStr, CertificateFiles] = {}
    """Operator-supplied certificates, per name, in any mode (such a name is never asked of ACME
    nor of the local CA): {"cslabs.clarkson.edu": {"certificate": "/path/fullchain.pem", "key":
    "/path/privkey.pem"}}, paths on the operator's machine."""
    keep_adopted_certificates: Bool = True
    """After the restore of an adopted backup (operator_tasks/adopt.py), serve each of the old
    Eldwyn's certificates while it names its host, its key matches and more than
    renew_before_days are left, so that clients that trusted the old server keep trusting the
    new one; then (or with False) the local CA issues that name's. certificate_files wins."""

    @model_validator(mode="after")
    def _lifetimes(self):
        problems = []
        if self.certificate_validity_days <= self.renew_before_days:
            problems.append((("certificate_validity_days",), f"{self.certificate_validity_days} must exceed"
                             f" tls_renew_before_days ({self.renew_before_days}), or every deploy re-issues"
                             " the certificates"))
        if self.ca_validity_days <= self.certificate_validity_days:
            problems.append((("ca_validity_days",), f"{self.ca_validity_days} must exceed"
                             f" tls_certificate_validity_days ({self.certificate_validity_days})"))
        if problems:
            raise_problems(problems, self)
        return self


class Firewall(Model):
    packages: Annotated[tuple[Package, ...], _needs(
        ("iptables", "iptables-restore"), ("netfilter-persistent", "rules at boot"),
        ("iptables-persistent", "netfilter-persistent's iptables plugin"))] = (
        "iptables", "netfilter-persistent", "iptables-persistent")
    """Debian packages that load /etc/iptables/rules.v4 and rules.v6 at every boot."""
    other_tcp_ports: Annotated[tuple[Port, ...], Field(max_length=15), AfterValidator(no_duplicates)] = ()
    """TCP ports this host serves besides XMPP's (xmpp_ports) and the site's (80, 443), which are
    opened anyway; the firewall file is the host's whole INPUT policy. SSH (22) is always open."""

    ssh_port: ClassVar[int] = SSH_PORT  # not data: SSH is never closed by this deploy


# Addresses a TURN relay must never send to: this host's own loopback and every network that is
# not the public Internet (private, shared/CGNAT, link-local, "this network", IETF protocol
# assignments, benchmarking, multicast and reserved; IPv6 loopback, IPv4-mapped,
# NAT64, unique-local, link-local, multicast). Else anyone with credentials reaches the lab's hosts.
TURN_DENIED_PEERS = (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/24", "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/3",
    "::1/128", "::ffff:0:0/96", "64:ff9b::/96", "fc00::/7", "fe80::/10", "ff00::/8",
)


def _network(value):
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError as error:
        fail(f"{value!r} is not a network such as \"10.0.0.0/8\" or \"fc00::/7\" ({error})")


def _relay_ports(value):
    low, high = value
    if low < 1024 or high <= low:
        fail(f"{list(value)!r}: expected [first, last] with 1024 <= first < last")
    return value


class Turn(Model):
    """Audio and video calls: Debian's coturn on this host relays them (TURN, and STUN), and
    clients find it through Prosody (XEP-0215, mod_turn_external), which gives each user of the
    realm credentials valid credential_ttl seconds, derived from a secret it shares with coturn
    (turn-secret in the secrets store). Users of other servers get none."""

    host: Hostname | None = None
    """The name clients reach coturn at, with its own certificate (TLS on 5349, issued like the
    others); it needs a DNS record to this host. None: no TURN server."""
    relay_ports: Annotated[tuple[Port, Port], AfterValidator(_relay_ports)] = (49152, 49407)
    """The UDP ports coturn relays media on, [first, last] (one per call leg); the firewall opens
    them."""
    credential_ttl: Annotated[StrictInt, Field(ge=600, le=7 * 86400)] = 12 * 3600
    """Seconds a client's TURN credentials stay valid. A call that lasts longer cannot refresh
    its relay, so it must exceed the longest call; short, so a leaked one soon stops working."""
    denied_peer_networks: Annotated[tuple[Annotated[StrictStr, AfterValidator(_network)], ...],
                                    Field(min_length=1), AfterValidator(no_duplicates)] = TURN_DENIED_PEERS
    """Networks coturn refuses to relay to (the default: loopback and everything not public)."""

    packages: ClassVar[tuple[str, ...]] = ("coturn",)
    secret: ClassVar[str] = "turn-secret"  # its name in the secrets store
    ports: ClassVar[tuple[int, int]] = (3478, 5349)  # STUN/TURN on UDP and TCP; TURN over TLS (TCP)
    config_file: ClassVar[str] = "/etc/turnserver.conf"  # Debian's coturn.service reads it
    tls_dir: ClassVar[str] = "/etc/coturn/tls"
    # Prosody reads the shared secret from here (FileLine in its config), never from the config.
    prosody_secret_file: ClassVar[str] = f"{prosody_facts.CONFIG_DIR}/turn-secret"


def _reboot_time(value):
    if not re.fullmatch(r"([01][0-9]|2[0-3]):[0-5][0-9]", value):
        fail(f"{value!r} is not a time of day such as \"04:30\"")
    return value


class Updates(Model):
    """Security updates without a visit: Debian's unattended-upgrades, and needrestart to restart
    the services that use an upgraded library. The deploy itself never upgrades a package."""

    packages: Annotated[tuple[Package, ...], _needs(
        ("unattended-upgrades", "the upgrades"), ("needrestart", "restarts after library upgrades"))] = (
        "unattended-upgrades", "needrestart")
    """Debian packages of the unattended updates."""
    origins: Annotated[tuple[Text, ...], Field(min_length=1), AfterValidator(no_duplicates)] = (
        "origin=Debian,codename=${distro_codename}-security,label=Debian-Security",)
    """unattended-upgrades' Origins-Pattern: where upgrades are taken from, replacing Debian's
    default list (which also takes point releases). The default is the security archive only."""
    automatic_reboot: Bool = False
    """Reboot by itself when an upgrade needs it (a new kernel), at reboot_time. needrestart
    restarts the services either way; a reboot cuts every session."""
    reboot_time: Annotated[StrictStr, AfterValidator(_reboot_time)] = "04:30"
    """When automatic_reboot reboots (the host's time zone)."""


class Secrets(Model):
    dir: PrivateDir = "~/.local/share/eldwyn-xmpp/secrets"
    """Directory holding the CA key, account passwords and the webservice's secrets, outside any
    git work tree, mode 0700. The environment variable ELDWYN_SECRETS_DIR overrides it."""


_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")


def _restic_repository(value):
    rest = re.fullmatch(r"rest:(https?)://([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\])(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?", value)
    sftp = re.fullmatch(r"sftp:[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:/[A-Za-z0-9._~/-]+", value)
    if not (rest or sftp):
        fail(f"{value!r} is not a restic repository such as \"rest:https://backup.example.org:8000/eldwyn\""
             " or \"sftp:eldwyn@backup.example.org:/srv/restic/eldwyn\" (no credentials in it)")
    if rest and rest.group(1) == "http" and rest.group(2) not in _LOOPBACK_HOSTS:
        fail(f"{value!r}: plain http is for a server on this host only; use https")
    return value


class Backup(Model):
    dir: PrivateDir = "~/.local/share/eldwyn-xmpp/backups"
    """Where operator_tasks/backup.py pulls backups to, one directory per host and time (mode
    0700: they hold the secrets too). Outside any git work tree."""
    restore_from: LocalDir | None = None
    """A backup directory to restore when deploying to a fresh host (e.g. --data
    backup_restore_from=~/.local/share/eldwyn-xmpp/backups/eldwyn/20261130T120000Z). Checked whole
    before anything changes; restored before Prosody starts with our config, and only onto a host
    whose store has no account yet (never over live data)."""
    repository: Annotated[StrictStr, AfterValidator(_restic_repository)] | None = None
    """The restic repository the host's own scheduled backups go to, off the host: restic's REST
    server ("rest:https://HOST:PORT/PATH") or SFTP ("sftp:USER@HOST:/PATH", root's SSH key on
    the host authorized there). None: no scheduled backups. Its password is restic-password in
    the secrets store, made by the first deploy: the repository cannot be read without it."""
    every_hours: Literal[1, 2, 3, 4, 6, 8, 12, 24] = 24
    """How often the host backs itself up (a systemd timer, eldwyn-backup.timer); status warns
    when the last good backup is older than twice this."""
    keep: Annotated[StrictInt, Field(ge=1, le=1000)] = 14
    """How many scheduled snapshots the repository keeps (restic forget --keep-last, then prune)."""
    from_repository: Bool = False
    """For operator_tasks/backup.py: take the newest scheduled snapshot from the repository
    instead of a fresh one (--data backup_from_repository=true)."""

    packages: ClassVar[tuple[str, ...]] = ("restic",)
    password_secret: ClassVar[str] = "restic-password"  # its name in the secrets store


def _release_version(value):
    if not re.fullmatch(r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)", value):
        fail(f"{value!r} is not a release version x.y.z such as \"14.0.0\" (one npm release is pinned:"
             " no range, tag or pre-release)")
    return value


def _npm_integrity(value):
    algorithm, _, digest = value.partition("-")
    if algorithm != "sha512" or not re.fullmatch(r"[A-Za-z0-9+/]{86}==", digest):
        fail(f"{value!r} is not an npm integrity \"sha512-\" + the base64 of 64 bytes (88 characters); copy it"
             " from `npm view converse.js@VERSION dist.integrity`")
    return value


class WebClient(Model):
    """The web client: Converse.js, from its npm release, served by the site's nginx from this host
    at https://SITE/chat/ (eldwyn/web_client.py, tasks/web_client.py). Nothing is loaded from a CDN:
    the operator's machine downloads the release's tarball once into cache_dir, it is refused unless
    its SHA-512 is integrity, and the host gets that one file and unpacks its dist/. To update,
    change version and integrity together."""

    version: Annotated[StrictStr, AfterValidator(_release_version)]
    """The release of the npm package converse.js, x.y.z."""
    integrity: Annotated[StrictStr, AfterValidator(_npm_integrity)]
    """That release's npm integrity (its dist.integrity, "sha512-..."): the tarball, downloaded or
    found in cache_dir, is used only if its SHA-512 is this."""
    cache_dir: LocalDir = "~/.cache/eldwyn-xmpp"
    """Where the operator's machine keeps the tarball (converse.js-VERSION.tgz), downloaded from
    registry.npmjs.org when missing; a tarball put there by hand (no network) is used as well,
    once its integrity matches."""

    package: ClassVar[str] = "converse.js"  # the npm package
    registry: ClassVar[str] = "https://registry.npmjs.org"
    url_path: ClassVar[str] = "/chat/"  # on the site
    # On the host: the tarball as uploaded, and each release's dist/ unpacked beside the page.
    tarball_path: ClassVar[str] = "/var/lib/eldwyn-xmpp/web-client/converse.js.tgz"
    share_dir: ClassVar[str] = "/usr/local/share/eldwyn-xmpp"


class Signup(SignupPolicy):
    """The registration webservice (webservice/signup): invite links (https://SITE/join/TOKEN)
    and sign-up by e-mail, served by gunicorn on loopback behind nginx (TLS on 443, 80
    redirects). Its secrets are signup-secret-key and signup-smtp-password in the secrets store."""

    listen_port: Annotated[StrictInt, Field(ge=1024, le=65535)] = 8008
    """TCP port gunicorn listens on, on 127.0.0.1 only (nginx proxies to it)."""
    packages: Annotated[tuple[Package, ...], _needs(
        ("python3-flask", "the web application"), ("python3-pydantic", "its settings' schema"),
        ("gunicorn", "its WSGI server"), ("nginx", "TLS in front of it"))] = (
        "python3-flask", "python3-pydantic", "gunicorn", "nginx")
    """Debian 13 packages of the webservice."""

    # Where it lives on the host (not data: the templates and the deploy agree on them). Its
    # secrets (CREDENTIALS' values in the secrets store) are written root-only to
    # credentials_dir and handed to the service by systemd's LoadCredential= under
    # CREDENTIALS' keys (webservice/signup/settings.py reads them).
    app_dir: ClassVar[str] = "/usr/local/lib/eldwyn-signup"  # holds webservice/ and eldwyn/schema/
    config_dir: ClassVar[str] = "/etc/eldwyn-signup"  # settings.json, root-only
    credentials_dir: ClassVar[str] = "/etc/eldwyn-signup/credentials"  # one root-only file per secret
    state_dir: ClassVar[str] = "/var/lib/eldwyn-signup"  # systemd's StateDirectory: the SQLite file
    ca_certificate_file: ClassVar[str] = "/usr/local/share/ca-certificates/eldwyn-xmpp-ca.crt"
    tls_dir: ClassVar[str] = "/etc/nginx/tls"  # the site's certificate (.crt) and key (.key)
    CREDENTIALS: ClassVar[dict] = {"secret-key": "signup-secret-key", "smtp-password": "signup-smtp-password"}
    # Made on the host itself (tasks/webservice.py, `prosodyctl mod_invites_api create`), never
    # by the operator: the key mod_invites_api checks, read by webservice/signup/registrar.py.
    invites_api_key: ClassVar[str] = "invites-api-key"
    web_ports: ClassVar[tuple] = (80, 443)  # nginx: HTTP (redirect only) and HTTPS
    # What nginx adds to every answer of the site: the same as the application's own
    # (webservice/signup/app.py SECURITY_HEADERS; a unit test keeps the two equal).
    security_headers: ClassVar[tuple] = (
        ("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; "
                                    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
        ("X-Frame-Options", "DENY"),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "same-origin"),
        ("Strict-Transport-Security", "max-age=31536000"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
        ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
    )

    @property
    def credentials(self):
        """(credential name, secrets-store name) of each secret the service needs."""
        names = ["secret-key"] + (["smtp-password"] if self.smtp.username else [])
        return tuple((name, self.CREDENTIALS[name]) for name in names)


@dataclass(frozen=True)
class Certificate:
    """Derived, not data: where one name's certificate lives, and who supplies it."""

    name: str  # the host name, the certificate's only SAN
    certificate_path: str  # on the host
    key_path: str
    supplied_certificate: str | None  # the operator's own file (operator side), or None: our CA issues
    supplied_key: str | None
    group: str  # the files' group: the service that reads the key
    key_mode: str
    service: str  # the systemd unit reloaded when the certificate changes
    acme: bool  # certbot gets it (tls_mode "acme", no supplied file)

    @property
    def files(self):
        """(path, content mode) of the certificate and of its key, as the host keeps them."""
        return ((self.certificate_path, "644"), (self.key_path, self.key_mode))


# ---- The whole --------------------------------------------------------------------------------

def _some_admins(admins):
    if not admins:
        fail("needs at least one admin (admins are published as the contacts)")
    return no_duplicates(admins)


def _in_realm(jids, info):
    realm = info.data.get("realm")
    problems = [((index,), f"{jid!r} is not in the realm {realm!r}")
                for index, jid in enumerate(jids) if realm and jid.rpartition("@")[2] != realm]
    if problems:
        raise_problems(problems, jids)
    return jids


class Config(Model):
    """The ``xmpp_`` keys are its own fields; the other prefixes are its sections."""

    # -- Realm and people
    realm: Hostname
    """The XMPP domain: JIDs are user@<realm>, and it is Prosody's one VirtualHost."""
    admins: Annotated[tuple[Jid, ...], AfterValidator(_some_admins)]
    """Server admins, bare JIDs in the realm: the prosody:operator role, published as contacts
    (XEP-0157), created by the deploy if missing with a password from the secrets store."""
    accounts: Annotated[tuple[Jid, ...], AfterValidator(no_duplicates)] = ()
    """Other accounts the deploy creates if missing (passwords from the secrets store). Existing
    accounts are never touched; real users register with invites."""
    modules_enabled: Modules
    """Loaded server-wide (global modules_enabled), so on the realm; components inherit only the
    transport ones. Names are checked against eldwyn/prosody.py; MUC-only ones (muc_mam) go in
    the MUC component's modules."""
    shared_roster_groups: Annotated[dict[Text, tuple[RosterMember, ...]], AfterValidator(_group_names)] = {}
    """Shared rosters (mod_groups, /var/lib/prosody/groups.txt): group name -> members."""
    archive_expires_after: Period = "never"
    """How long users' message archives are kept (mod_mam): "never", a period such as "1w",
    "30d", "6 months", or seconds."""
    registration_throttle_max: Annotated[StrictInt, Field(ge=1)] = 10
    """In-band registrations allowed per client address and registration_throttle_period
    (mod_register_limits). With invites_register_strict only attempts with a valid invite count;
    loopback (the sign-up webservice, which has its own limits) is exempt."""
    registration_throttle_period: Period = "1 hour"
    """The window of registration_throttle_max."""
    components: tuple[Component, ...]
    """The realm's services. The templates add parent_host = realm and the certificate paths."""
    ports: Ports = Ports()
    limits: Limits = Limits()
    http_interfaces: Annotated[tuple[StrictStr, ...], AfterValidator(_interfaces)] = ("*", "::")
    """Addresses plain HTTP listens on: "*" is all IPv4, "::" all IPv6. Prosody's default is
    loopback only, which would hide BOSH, websocket and uploads on 5280 from clients."""

    # -- Sections, each the keys of its prefix
    prosody: ProsodySection = ProsodySection()
    signup: Signup
    turn: Turn = Turn()  # before tls: its name may have supplied certificate files
    tls: Tls = Tls()
    firewall: Firewall = Firewall()
    updates: Updates = Updates()
    secrets: Secrets = Secrets()
    backup: Backup = Backup()
    webclient: WebClient

    data_dir: ClassVar[str] = prosody_facts.DATA_DIR
    groups_file: ClassVar[str] = prosody_facts.GROUPS_FILE

    @field_validator("admins")
    @classmethod
    def _admins_in_realm(cls, admins, info: ValidationInfo):
        return _in_realm(admins, info)

    @field_validator("accounts")
    @classmethod
    def _accounts_in_realm(cls, accounts, info: ValidationInfo):
        _in_realm(accounts, info)
        admins = info.data.get("admins", ())
        problems = [((index,), f"{jid!r} is already in xmpp_admins (admins are seeded too)")
                    for index, jid in enumerate(accounts) if jid in admins]
        if problems:
            raise_problems(problems, accounts)
        return accounts

    @field_validator("modules_enabled")
    @classmethod
    def _safe_registration(cls, modules):
        problems = _misplaced(modules, None)
        # The templates always say registration_invite_only = true; without invites_register that
        # option is ignored and registration is OPEN (see shared notes on Prosody 13).
        if "register" in modules and "invites_register" not in modules:
            problems.append(((), "'register' without 'invites_register' would open registration to anyone;"
                                 " add 'invites' and 'invites_register'"))
        if "invites_register" in modules and "invites" not in modules:
            problems.append(((), "'invites_register' needs 'invites'"))
        # Prosody 13.0.1's invites_register lets one invite create many accounts.
        if "register" in modules and "invites_register_strict" not in modules:
            problems.append(((), "'register' without 'invites_register_strict' lets one invite create"
                                 " many accounts; add 'invites_register_strict'"))
        if problems:
            raise_problems(problems, modules)
        return modules

    @field_validator("shared_roster_groups")
    @classmethod
    def _groups_module(cls, groups, info: ValidationInfo):
        if groups and "groups" not in info.data.get("modules_enabled", ("groups",)):
            fail("set, but module 'groups' is not in xmpp_modules_enabled")
        return groups

    @field_validator("components")
    @classmethod
    def _components_once(cls, components):
        problems, first = [], {}
        for index, component in enumerate(components):
            if component.name in first:
                problems.append(((index, "name"), f"{component.name!r} is already the name of the component"
                                                  f" at [{first[component.name]}]"))
            first.setdefault(component.name, index)
        if problems:
            raise_problems(problems, components)
        return components

    @field_validator("signup")
    @classmethod
    def _site_apart_from_xmpp(cls, signup, info: ValidationInfo):
        problems = []
        if signup.site_name in [component.name for component in info.data.get("components", ())]:
            problems.append((("site_name",), f"{signup.site_name!r} is an XMPP component's name; the site needs its own"))
        if "ports" in info.data and signup.listen_port in info.data["ports"].all:
            problems.append((("listen_port",), f"port {signup.listen_port} is already used by Prosody (xmpp_ports)"))
        if problems:
            raise_problems(problems, signup)
        return signup

    @field_validator("turn")
    @classmethod
    def _turn_has_its_own_name(cls, turn, info: ValidationInfo):
        announced = "turn_external" in info.data.get("modules_enabled", ())
        if turn.host is None:
            if announced:
                fail("not set, but 'turn_external' is in xmpp_modules_enabled: it announces the TURN"
                     " server named here", ("host",))
            return turn
        if "modules_enabled" in info.data and not announced:
            fail(f"{turn.host!r} is set, but module 'turn_external' is not in xmpp_modules_enabled:"
                 " clients would never learn of coturn", ("host",))
        if not {"realm", "components", "signup"} <= set(info.data):
            return turn
        if turn.host in (info.data["realm"], *(c.name for c in info.data["components"])):
            fail(f"{turn.host!r} is an XMPP name; coturn needs its own (e.g. turn.{info.data['signup'].site_name})", ("host",))
        if turn.host == info.data["signup"].site_name:
            fail(f"{turn.host!r} is the site's name; coturn needs its own, with its own certificate", ("host",))
        return turn

    @field_validator("tls")
    @classmethod
    def _supplied_names_exist(cls, tls, info: ValidationInfo):
        if not {"realm", "components", "signup"} <= set(info.data):
            return tls
        names = [info.data["realm"], *(c.name for c in info.data["components"]), info.data["signup"].site_name]
        if "turn" in info.data and info.data["turn"].host:
            names.append(info.data["turn"].host)
        problems = [(("certificate_files", name), f"{name!r} is neither the realm nor a component nor"
                     " signup_site_name nor turn_host" + suggestion(name, names))
                    for name in tls.certificate_files if name not in names]
        if tls.mode == "files":
            problems += [(("certificate_files",), f"has no entry for {name!r}: tls_mode \"files\" needs every"
                          " name's certificate") for name in names if name not in tls.certificate_files]
        if problems:
            raise_problems(problems, tls)
        return tls

    @field_validator("firewall")
    @classmethod
    def _other_ports_are_other(cls, firewall, info: ValidationInfo):
        xmpp = info.data["ports"].all if "ports" in info.data else ()
        problems = []
        for index, port in enumerate(firewall.other_tcp_ports):
            if port == SSH_PORT:
                problems.append((("other_tcp_ports", index), "SSH (22) is always open; do not list it"))
            elif port in xmpp:
                problems.append((("other_tcp_ports", index), f"port {port} is an XMPP port (xmpp_ports), opened anyway"))
            elif port in Signup.web_ports:
                problems.append((("other_tcp_ports", index), f"port {port} is the sign-up site's, opened anyway"))
        if problems:
            raise_problems(problems, firewall)
        return firewall

    @field_validator("backup")
    @classmethod
    def _restore_is_a_good_backup(cls, backup, info: ValidationInfo):
        if backup.restore_from is None or "realm" not in info.data:
            return backup
        from eldwyn.backup import BackupError, verify  # reads files: only when a restore is asked for

        try:
            verified = verify(backup.restore_from, info.data["realm"])
        except BackupError as error:
            fail(f"{error}; nothing was restored", ("restore_from",))
        return backup.model_copy(update={"restore_from": verified})

    # -- What is derived from the data

    @property
    def restore_from(self):
        """The verified eldwyn.backup.Backup this deploy restores, or None."""
        return self.backup.restore_from

    @property
    def hosts(self):
        """The realm, then every component name: the names that need a certificate."""
        return (self.realm,) + tuple(component.name for component in self.components)

    @property
    def seeded_accounts(self):
        """Accounts the deploy creates when missing: the admins, then the other accounts."""
        return self.admins + self.accounts

    def _certificate(self, name, directory, group, key_mode, service):
        files = self.tls.certificate_files.get(name)
        return Certificate(name, f"{directory}/{name}.crt", f"{directory}/{name}.key",
                           files and files.certificate, files and files.key, group, key_mode, service,
                           acme=self.tls.mode == "acme" and not files)

    @functools.cached_property
    def certificates(self):
        """The Certificate of each XMPP name, the realm first."""
        return tuple(self._certificate(name, prosody_facts.DATA_DIR, "prosody", "640", "prosody") for name in self.hosts)

    def certificate(self, name):
        """The Certificate of host ``name`` (the realm or a component)."""
        return next(cert for cert in self.certificates if cert.name == name)

    @property
    def acme_certificates(self):
        """The Certificates (of the XMPP names and the site) that certbot gets (eldwyn/acme.py)."""
        return tuple(cert for cert in (*self.certificates, *self.service_certificates) if cert.acme)

    @functools.cached_property
    def site_certificate(self):
        """The sign-up site's certificate, for nginx."""
        return self._certificate(self.signup.site_name, Signup.tls_dir, "root", "600", "nginx")

    @functools.cached_property
    def turn_certificate(self):
        """coturn's certificate (for TURN over TLS), or None without TURN. coturn runs as the
        user turnserver, so that group reads the key."""
        if self.turn.host is None:
            return None
        return self._certificate(self.turn.host, Turn.tls_dir, "turnserver", "640", "coturn")

    @property
    def service_certificates(self):
        """The certificates of the host's other services than Prosody: the site's, coturn's."""
        return tuple(cert for cert in (self.site_certificate, self.turn_certificate) if cert)

    @property
    def open_tcp_ports(self):
        """Every TCP port the firewall opens besides SSH: XMPP's, the site's, the others."""
        return tuple(sorted({*self.ports.all, *Signup.web_ports, *self.firewall.other_tcp_ports}))

    @property
    def packages(self):
        """Every Debian package the deploy installs."""
        acme = Tls.acme_packages if self.acme_certificates else ()
        turn = Turn.packages if self.turn.host else ()
        scheduled = Backup.packages if self.backup.repository else ()
        return tuple(dict.fromkeys(self.prosody.packages + self.firewall.packages + self.updates.packages
                                   + self.signup.packages + acme + turn + scheduled))

    @property
    def signup_settings(self):
        """The webservice's settings.json: the policy of the data, and what it needs to know."""
        reserved = self.signup.reserved_usernames + tuple(
            name for name in (jid.rpartition("@")[0] for jid in self.seeded_accounts)
            if name not in self.signup.reserved_usernames)
        policy = {name: getattr(self.signup, name) for name in SignupPolicy.model_fields}
        return SignupSettings(
            **{**policy, "reserved_usernames": tuple(dict.fromkeys(reserved))},
            realm=self.realm,
            xmpp_server=self.realm,
            xmpp_port=self.ports.c2s[0],
            # The query string is required: Debian 13's mod_invites_api fails (500) without one.
            invites_api_url=f"http://127.0.0.1:{self.ports.http[0]}/invites_api?via=eldwyn-signup",
            state_directory=Signup.state_dir,
            # The CA the webservice's client checks Prosody's certificate against (and that
            # the success page offers): the local CA's only when it is the realm's issuer;
            # otherwise the system's CAs, which know Let's Encrypt's.
            ca_certificate_file=Signup.ca_certificate_file if self.realm_uses_local_ca else None,
        )

    @property
    def realm_uses_local_ca(self):
        """True when the realm's certificate comes from the operator's local CA."""
        realm = self.certificates[0]
        return not (realm.acme or realm.supplied_certificate)

    @property
    def web_client(self):
        """The web client as the site serves it: its URLs, files on the host, CSP and Converse's
        settings (eldwyn.web_client.Site)."""
        from eldwyn.web_client import site  # it reads the rest of the config

        return site(self)


SECTIONS = ("prosody", "signup", "tls", "firewall", "updates", "turn", "secrets", "backup", "webclient")
"""The key prefixes that name a section; "xmpp_" names Config's own fields."""

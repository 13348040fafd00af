"""Adopting a Prosody server this package never deployed (the hand-built Eldwyn, Prosody 0.12):
read it without changing it, and write a backup that the deploy's restore (backup_restore_from)
puts onto a fresh Debian 13 host.

What the old host is, is learnt from its own files, never from our data:
* ``discover_command`` runs ``discover_prosody.lua`` with the host's own Lua and Prosody's own
  configmanager (so Include, conf.d and Lua in the config mean what they mean to Prosody), and
  ``parse_discovery`` turns its output into a ``Legacy``: the realm and components, each host's
  storage driver and SQLite database, the data directory, certificate and groups files;
* ``problems`` names what cannot be adopted (no Prosody, another realm, a store we cannot
  carry), each in one line, before anything is copied;
* the snapshot is ``eldwyn.backup.snapshot_script``: the SQLite store by SQLite's online backup
  from a read-only connection, the data directory (the components' file stores, uploads,
  certificates, groups file) and /etc/prosody, into a temporary directory under /var/tmp that
  is removed at the end. Nothing else on the host is written; no service is stopped or reloaded;
* on the operator's machine ``inspect`` checks the store copy (``PRAGMA integrity_check``)
  and counts what the backup holds for the report.
"""

import json
import re
import sqlite3
import tarfile
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from cryptography import x509

from eldwyn import prosody
from eldwyn.backup import PROSODY_STORE, snapshot_script
from eldwyn.certificates import adopted_names

DISCOVER_LUA = Path(__file__).with_name("discover_prosody.lua")
CONFIG_FILE = f"{prosody.CONFIG_DIR}/prosody.cfg.lua"
SQLITE_DRIVER = "SQLite3"
DEFAULT_DATABASE = "prosody.sqlite"  # Prosody's default for the SQLite3 driver


class AdoptError(Exception):
    """The host cannot be adopted: the message says why, in one line."""


def data_dir_name(host):
    """The directory of ``host`` in Prosody's file storage (util.datamanager's encoding:
    every character but letters and digits as %xx)."""
    return re.sub(r"[^A-Za-z0-9]", lambda match: f"%{ord(match.group()):02x}", host)


def discover_command():
    """One shell command (as root): ``prosody none`` if Prosody is not installed; else the
    package's version, whether the service runs (and its PID), which tools can copy SQLite
    online, then the configuration as JSON after a ``config`` line."""
    lua = DISCOVER_LUA.read_text()
    return "\n".join([
        "set -u",
        "ctl=$(command -v prosodyctl || true)",
        "version=$(dpkg-query -W -f='${Version}' prosody 2>/dev/null || true)",
        'if [ -z "$ctl" ] || [ -z "$version" ]; then echo "prosody none"; exit 0; fi',
        'echo "prosody $version"',
        'echo "active $(systemctl is-active prosody 2>/dev/null || true)"',
        'echo "pid $(systemctl show -p MainPID --value prosody 2>/dev/null || echo 0)"',
        "for tool in sqlite3 python3; do command -v $tool >/dev/null && echo \"tool $tool\"; done",
        # prosodyctl names the Lua that runs it (#!) and Prosody's source directory (CFG_SOURCEDIR).
        "interpreter=$(head -n1 \"$ctl\" | sed 's/^#! *//')",
        "source_dir=$(sed -n \"s/^CFG_SOURCEDIR=.*'\\(.*\\)'.*/\\1/p\" \"$ctl\" | head -n1)",
        'echo "source_dir ${source_dir:-/usr/lib/prosody}"',
        "data_dir=$(sed -n \"s/^CFG_DATADIR=.*'\\(.*\\)'.*/\\1/p\" \"$ctl\" | head -n1)",
        'echo "default_data_dir ${data_dir:-/var/lib/prosody}"',
        f"[ -r {CONFIG_FILE} ] || {{ echo 'noconfig'; exit 0; }}",
        "echo config",
        f"$interpreter - \"${{source_dir:-/usr/lib/prosody}}\" {CONFIG_FILE} <<'ELDWYN_DISCOVER_LUA'",
        lua.rstrip("\n"),
        "ELDWYN_DISCOVER_LUA",
    ])


@dataclass(frozen=True)
class Host:
    name: str
    kind: str  # "VirtualHost", or the component's module (muc, pubsub, proxy65, http_file_share, ...)
    storage: object  # the driver name, or a {store: driver} table
    database: str | None  # absolute path of its SQLite file, when its storage is sql
    sql_driver: str | None
    certificate: str | None
    key: str | None
    enabled: bool = True
    modules: tuple = ()  # its own modules_enabled (a component loads only these)


@dataclass(frozen=True)
class Legacy:
    """What discovery found on the old host."""

    version: str
    active: bool
    pid: int
    tools: frozenset
    data_dir: str
    hosts: dict  # name -> Host
    groups_file: str | None
    admins: tuple
    upload_path: str | None  # http_file_share_path, if set
    raw: dict = field(repr=False, default_factory=dict)

    @property
    def virtual_hosts(self):
        return sorted(name for name, host in self.hosts.items() if host.kind == "VirtualHost" and host.enabled)

    @property
    def components(self):
        return {name: host.kind for name, host in self.hosts.items() if host.kind != "VirtualHost"}

    def file_stores(self, realm):
        """The hosts of ``realm`` (itself and its components) that keep Prosody's file storage."""
        return sorted(name for name, host in self.hosts.items()
                      if (name == realm or name.endswith("." + realm)) and host.storage == "internal")


def _dict(value):
    return value if isinstance(value, dict) else {}  # util.json writes an empty table as []


def parse_discovery(output):
    """The Legacy that ``discover_command`` printed; AdoptError if there is no Prosody."""
    values, config_text, in_config = {}, [], False
    tools = set()
    for line in output.splitlines():
        if in_config:
            config_text.append(line)
            continue
        key, _, value = line.partition(" ")
        if key == "config":
            in_config = True
        elif key == "tool":
            tools.add(value.strip())
        elif key:
            values[key] = value.strip()
    if values.get("prosody") in (None, "none"):
        raise AdoptError("no Prosody on this host (neither the prosody package nor prosodyctl): nothing to adopt")
    if "noconfig" in values or not config_text:
        raise AdoptError(f"Prosody is installed but {CONFIG_FILE} cannot be read: nothing to adopt")
    try:
        config = json.loads("\n".join(config_text))
    except ValueError:
        raise AdoptError(f"could not read Prosody's configuration: {' '.join(config_text)[:200]}") from None
    default_data_dir = values.get("default_data_dir", prosody.DATA_DIR)
    general = _dict(config.get("global"))
    data_dir = general.get("data_path") or default_data_dir
    hosts = {}
    for name, options in _dict(config.get("hosts")).items():
        options = _dict(options)
        if not options.get("defined") and not options.get("component_module"):
            continue  # a section that only inherited settings
        storage = options.get("storage") or general.get("storage") or general.get("default_storage") or "internal"
        sql = _dict(options.get("sql")) or _dict(general.get("sql"))
        database = driver = None
        if storage == "sql" or (isinstance(storage, dict) and "sql" in storage.values()):
            driver = sql.get("driver") or SQLITE_DRIVER
            database = sql.get("database") or DEFAULT_DATABASE
            if driver == SQLITE_DRIVER and not database.startswith("/"):
                database = f"{data_dir.rstrip('/')}/{database}"
        ssl = _dict(options.get("ssl")) or _dict(general.get("ssl"))
        hosts[name] = Host(
            name=name,
            kind=options.get("component_module") or "VirtualHost",
            storage=storage,
            database=database,
            sql_driver=driver,
            certificate=ssl.get("certificate") or options.get("certificate"),
            key=ssl.get("key"),
            enabled=options.get("enabled") is not False,
            modules=tuple(options.get("modules_enabled") or ()) if isinstance(options.get("modules_enabled"), list) else (),
        )
    realm_options = [_dict(options) for options in _dict(config.get("hosts")).values()]
    groups = next((o["groups_file"] for o in realm_options if o.get("groups_file")), general.get("groups_file"))
    admins = tuple(general.get("admins") or ()) + tuple(a for o in realm_options for a in (o.get("admins") or ()))
    upload_path = next((o["http_file_share_path"] for o in realm_options if o.get("http_file_share_path")),
                       general.get("http_file_share_path"))
    pid = values.get("pid", "0")
    return Legacy(version=values["prosody"], active=values.get("active") == "active",
                  pid=int(pid) if pid.isdigit() else 0, tools=frozenset(tools), data_dir=data_dir,
                  hosts=hosts, groups_file=groups, admins=tuple(dict.fromkeys(admins)),
                  upload_path=upload_path, raw=config)


def version_tuple(version):
    """(major, minor, patch) of a Debian package version of Prosody (``1:0.12.3-1``, ``13.0.1-1``)."""
    upstream = version.split(":", 1)[-1].split("-", 1)[0].split("+", 1)[0].split("~", 1)[0]
    numbers = [int(part) for part in re.findall(r"\d+", upstream)[:3]]
    return tuple(numbers + [0] * (3 - len(numbers)))


def problems(legacy, realm):
    """Why ``legacy`` cannot be adopted into ``realm`` (one line each), or []."""
    found = []
    if realm not in legacy.hosts or legacy.hosts[realm].kind != "VirtualHost":
        served = ", ".join(legacy.virtual_hosts) or "no VirtualHost"
        return [f"this Prosody serves {served}, not the realm of our data, {realm!r} (xmpp_realm)"]
    if legacy.data_dir.rstrip("/") != prosody.DATA_DIR:
        found.append(f"Prosody's data_path is {legacy.data_dir!r}; the adopt carries only {prosody.DATA_DIR}")
    if version_tuple(legacy.version)[:2] > prosody.TARGET_SERIES:
        found.append(f"Prosody {legacy.version} is newer than the target's {prosody.TARGET_SERIES_NAME}:"
                     " its store may not be readable there")
    realm_host = legacy.hosts[realm]
    if realm_host.storage == "internal":
        found.append(f"the realm {realm} keeps Prosody's file storage (storage = \"internal\"): the adopt"
                     " carries an SQLite store only; move it to SQL first on the old host with"
                     " prosody-migrator (see the README, Adopting the old Eldwyn)")
    for name in [realm] + sorted(n for n in legacy.hosts if n.endswith("." + realm)):
        host = legacy.hosts[name]
        if isinstance(host.storage, dict):
            found.append(f"{name}: storage per store ({host.storage}) is not supported; only \"sql\" or \"internal\"")
        elif host.storage not in ("sql", "internal"):
            found.append(f"{name}: storage driver {host.storage!r} is not supported; only \"sql\" or \"internal\"")
        elif host.storage == "sql" and host.sql_driver != SQLITE_DRIVER:
            found.append(f"{name}: its SQL store uses the {host.sql_driver} driver; the adopt carries SQLite only")
        elif host.storage == "sql" and host.database != realm_host.database:
            found.append(f"{name}: its SQLite store {host.database} is not the realm's ({realm_host.database})")
    if realm_host.storage == "sql" and not ({"sqlite3", "python3"} & legacy.tools):
        found.append("neither sqlite3 nor python3 is installed on the old host, so its store cannot be copied"
                     " online; install one there (apt install sqlite3): the adopt itself installs nothing")
    return found


def snapshot_command(legacy, realm):
    """The snapshot script (eldwyn.backup.snapshot_script) for ``legacy``: the realm's SQLite
    store, copied online under the member name the restore expects, then the data directory
    (file stores, uploads, certificates, groups file) and /etc/prosody (for reference)."""
    return snapshot_script(copies=[(legacy.hosts[realm].database, PROSODY_STORE)],
                           paths=[prosody.DATA_DIR.lstrip("/"), prosody.CONFIG_DIR.lstrip("/")])


# ---- On the operator's machine, from the downloaded archive ---------------------------------------


@dataclass
class Inspection:
    accounts: dict  # host -> number of accounts
    archives: Counter  # (host, store) -> archived items (SQL rows or file-store items)
    rooms: Counter  # MUC host -> rooms with a stored configuration
    uploads: int
    upload_bytes: int
    certificates: dict  # name -> x509.Certificate
    tls_files: dict  # name -> (certificate PEM, key PEM), as the old host served them
    groups: int | None
    members: int


def _check_store(path):
    """AdoptError unless ``path`` is a readable Prosody SQLite store that passes integrity_check."""
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            result = connection.execute("PRAGMA integrity_check").fetchall()
            tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            connection.close()
    except sqlite3.DatabaseError as error:
        raise AdoptError(f"the old host's store is corrupt or not SQLite ({error}): nothing was adopted") from None
    if result != [("ok",)]:
        first = "; ".join(row[0] for row in result[:3])
        raise AdoptError(f"the old host's store fails SQLite's integrity check ({first}): nothing was adopted")
    if "prosody" not in tables:
        raise AdoptError("the old host's store has no table 'prosody': not a Prosody SQL store; nothing was adopted")


def _check_no_duplicates(connection):
    """AdoptError if a (host, user, store, key) appears twice: 0.12's index allowed it, and
    Prosody 13.0.1 then fails to create its unique index at start, silently, after dropping the
    old one, so every later map write fails (measured)."""
    duplicates = connection.execute(
        "SELECT host, user, store, key, count(*) FROM prosody GROUP BY host, user, store, key"
        " HAVING count(*) > 1 LIMIT 3").fetchall()
    if duplicates:
        named = "; ".join(f"{user}@{host} {store}/{key} ({count}x)" for host, user, store, key, count in duplicates)
        raise AdoptError(f"the old host's store has duplicate rows, which Prosody 13 cannot index ({named}):"
                         " remove them on the old host first (see the README); nothing was adopted")


def _count_list_items(data):
    """Items in one archive file of Prosody's file storage (``<store>.list``: an item(...) per item)."""
    return len(re.findall(rb"^item\(", data, re.MULTILINE))


def inspect(archive, legacy, realm):
    """Checks the store copy in ``archive`` and counts what the backup carries."""
    encoded = {data_dir_name(name): name for name in legacy.hosts}
    data_dir = prosody.DATA_DIR.lstrip("/") + "/"
    archives, rooms = Counter(), Counter()
    uploads = upload_bytes = members = 0
    certificates, groups, pems = {}, None, {}
    tls_members = {}  # archive member -> (host name, "certificate" or "key")
    for name, host in legacy.hosts.items():
        for kind in ("certificate", "key"):
            if getattr(host, kind):
                tls_members[getattr(host, kind).lstrip("/")] = (name, kind)
    with tarfile.open(archive) as tar, tempfile.TemporaryDirectory() as scratch:
        store = None
        for info in tar:
            if not info.isfile():
                continue
            members += 1
            name = info.name
            if name == PROSODY_STORE:
                store = Path(scratch) / "prosody.sqlite"
                with tar.extractfile(info) as data:
                    store.write_bytes(data.read())
                continue
            if name in tls_members:
                with tar.extractfile(info) as data:
                    pems[tls_members[name]] = data.read()
            if legacy.groups_file and name == legacy.groups_file.lstrip("/"):
                with tar.extractfile(info) as data:
                    groups = len(re.findall(rb"^\s*\[", data.read(), re.MULTILINE))
            if not name.startswith(data_dir):
                continue
            parts = name[len(data_dir):].split("/")
            host = encoded.get(parts[0])
            if host is None or len(parts) < 2:
                continue
            if "http_file_share" in parts[1:-1]:
                uploads += 1
                upload_bytes += info.size
            elif parts[-1].endswith(".list"):
                store_name = parts[1].removesuffix(".list")
                with tar.extractfile(info) as data:
                    archives[(host, store_name)] += _count_list_items(data.read())
            elif len(parts) == 3 and parts[1] == "config" and parts[2].endswith(".dat") \
                    and legacy.hosts[host].kind == "muc":
                rooms[host] += 1
        if store is None:
            raise AdoptError(f"the realm's store {legacy.hosts[realm].database} does not exist on the old host"
                             " (Prosody creates it on its first write): nothing to adopt")
        _check_store(store)
        connection = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
        try:
            _check_no_duplicates(connection)
            accounts = dict(connection.execute(
                "SELECT host, count(DISTINCT user) FROM prosody WHERE store = 'accounts' GROUP BY host"))
            tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "prosodyarchive" in tables:
                for host, store_name, count in connection.execute(
                        "SELECT host, store, count(*) FROM prosodyarchive GROUP BY host, store"):
                    archives[(host, store_name)] += count
            for host, count in connection.execute(
                    "SELECT host, count(DISTINCT user) FROM prosody WHERE store = 'config' GROUP BY host"):
                if host in legacy.hosts and legacy.hosts[host].kind == "muc":
                    rooms[host] += count
        finally:
            connection.close()
    tls_files = {}
    for (host, kind), pem in pems.items():
        if kind != "certificate":
            continue
        try:
            certificates[host] = x509.load_pem_x509_certificate(pem)
        except ValueError:
            continue  # reported as none found
        if (host, "key") in pems:
            tls_files[host] = (pem, pems[(host, "key")])
    return Inspection(accounts=accounts, archives=archives, rooms=rooms, uploads=uploads,
                      upload_bytes=upload_bytes, certificates=certificates, tls_files=tls_files,
                      groups=groups, members=members)


class AdoptedSecrets:
    """What an adopted backup puts in its secrets/ (the store interface eldwyn.backup.complete
    reads): the old host's certificates and keys, under the names eldwyn.certificates reads."""

    def __init__(self, inspection, realm):
        self._values = {}
        for name, (cert_pem, key_pem) in inspection.tls_files.items():
            if name == realm or name.endswith("." + realm):
                cert_secret, key_secret = adopted_names(name)
                self._values[cert_secret], self._values[key_secret] = cert_pem, key_pem

    def names(self):
        return sorted(self._values)

    def get_bytes(self, name):
        return self._values[name]


def not_carried(legacy, realm, components):
    """What the adopt cannot carry, and why (lines for the report). ``components``: our data's
    component names."""
    lines = [
        "live sessions, stream-management state and MUC occupants: a restart ends them on any server",
        "the old registration site's own state (its database and pending e-mail sign-ups): it is not"
        " Prosody's; this package's site replaces it, and invites stored by Prosody do come along",
        "the old configuration (/etc/prosody): kept in the backup for reference only; the new one is"
        " rendered from group_data/",
    ]
    for name, host in sorted(legacy.hosts.items()):
        if host.kind == "muc" and "muc_mam" not in host.modules:
            lines.append(f"the rooms' discussion history on {name}: without muc_mam on the component (the page"
                         " lists it on the VirtualHost, where it does nothing) Prosody kept it in memory only;"
                         " a stop saves each room's last message, which Prosody 13 does not show (its rooms"
                         " serve history from their archive, kept from the move on)")
    if legacy.groups_file:
        lines.append(f"the shared roster groups ({legacy.groups_file}): the deploy writes"
                     " xmpp_shared_roster_groups from our data instead")
    for name in legacy.virtual_hosts:
        if name != realm:
            lines.append(f"the VirtualHost {name}: not our realm (its data stays in the backup, unserved)")
    for name, kind in sorted(legacy.components.items()):
        if name not in components:
            lines.append(f"the component {name} ({kind}): not in xmpp_components (its data stays in the backup)")
    if legacy.upload_path:
        lines.append(f"uploads under http_file_share_path {legacy.upload_path}: outside {prosody.DATA_DIR}")
    for name, host in sorted(legacy.hosts.items()):
        if host.certificate and not any(host.certificate.startswith(p + "/")
                                        for p in (prosody.DATA_DIR, prosody.CONFIG_DIR)):
            lines.append(f"the certificate of {name} ({host.certificate}): outside {prosody.DATA_DIR}"
                         f" and {prosody.CONFIG_DIR}")
    return lines


def _human_bytes(size):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024


def report(legacy, inspection, realm, components, now=None):
    """The adopt's report, as lines."""
    now = now or datetime.now(timezone.utc)
    lines = [
        f"Prosody {legacy.version}, {'running (PID ' + str(legacy.pid) + ')' if legacy.active else 'stopped'}:"
        f" realm {realm}, components " + ", ".join(f"{n} ({k})" for n, k in sorted(legacy.components.items())),
        f"Storage: {realm} in SQLite {legacy.hosts[realm].database}; file storage: "
        + (", ".join(legacy.file_stores(realm)) or "none"),
        f"Accounts: {inspection.accounts.get(realm, 0)} on {realm}"
        + "".join(f", {count} on {host}" for host, count in sorted(inspection.accounts.items()) if host != realm),
        "Rooms: " + (", ".join(f"{count} on {host}" for host, count in sorted(inspection.rooms.items())) or "none"),
        "Archived items per store: " + (", ".join(f"{host} {store} {count}" for (host, store), count
                                                   in sorted(inspection.archives.items())) or "none"),
        f"Uploads: {inspection.uploads} files, {_human_bytes(inspection.upload_bytes)}",
        "Certificates:",
    ]
    for name in sorted(legacy.hosts):
        host = legacy.hosts[name]
        if not (name == realm or name.endswith("." + realm)):
            continue
        cert = inspection.certificates.get(name)
        if cert is None:
            lines.append(f"  {name}: none found ({host.certificate or 'no ssl option'})")
            continue
        issuer = cert.issuer.rfc4514_string()
        expires = cert.not_valid_after_utc
        state = "EXPIRED" if expires <= now else f"in {(expires - now).days} days"
        lines.append(f"  {name}: issued by {issuer}, expires {expires:%Y-%m-%d} ({state})")
    lines.append("Not carried:")
    lines += [f"  - {line}" for line in not_carried(legacy, realm, components)]
    return lines

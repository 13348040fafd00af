"""Backups of Eldwyn: a consistent snapshot of the host's state, pulled to the operator's machine
with a manifest; checked whole before a restore; restored on a fresh host before Prosody starts
with our config.

A backup is a directory ``<backup_dir>/<host>/<UTC time>`` (mode 0700, files 0600):

* ``host.tar``: the host's state. Prosody's SQLite store (accounts, rosters, MAM and MUC
  archives, rooms, upload slots) and the webservice's, each copied with SQLite's online backup
  API (``.backup``), never as a live file; the rest of Prosody's data directory (uploaded files,
  certificates, groups.txt); and, for reference, /etc/prosody and /etc/eldwyn-signup.
* ``secrets/``: a copy of the operator's secrets store (CA key and certificate, the issued
  certificates, account passwords, the webservice's secrets).
* ``manifest.json``, written last: size and sha256 of every file, and of every file inside
  host.tar, the realm, the host, and the accounts in the store. A directory is only given its
  final name once the manifest is written: a backup that stopped half-way is a ``.partial``.

A restore puts back only the state (Prosody's data directory, the webservice's state, and the key
Prosody made for the webservice); everything else the deploy writes from the data as usual.
"""

import hashlib
import json
import shlex
import sqlite3
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from eldwyn import prosody
from eldwyn.accounts import existing_accounts_command
from eldwyn.host_files import SIGNUP_SERVICE
from eldwyn.secrets import private_directory

FORMAT = "eldwyn-xmpp backup 1"
MANIFEST = "manifest.json"
HOST_ARCHIVE = "host.tar"
SECRETS = "secrets"
PARTIAL_SUFFIX = ".partial"
ADOPTED = "adopted"  # the manifest's record of a host this package never deployed

# On the host: where snapshots are made, and the record of every restore done.
WORK_DIR = "/var/lib/eldwyn-xmpp"
RESTORE_DIR = f"{WORK_DIR}/restore"
RESTORED_DIR = f"{WORK_DIR}/restored"

PROSODY_STORE = prosody.DATA_DIR.lstrip("/") + "/prosody.sqlite"
# The live files an online copy replaces in the archive; also SQLite's side files.
_SQLITE_SIDE_FILES = ("", "-journal", "-wal", "-shm")


class BackupError(Exception):
    """A backup cannot be taken, or cannot be trusted for a restore: the message says why."""


def _member(path):
    return path.lstrip("/")


def signup_state_dir(config):
    """Where systemd keeps the webservice's StateDirectory (DynamicUser: under /var/lib/private)."""
    return f"/var/lib/private/{Path(config.signup.state_dir).name}"


def stores(config):
    """The SQLite files copied with the online backup API (archive member names)."""
    return (PROSODY_STORE, _member(f"{signup_state_dir(config)}/signup.sqlite"))


def restored_paths(config):
    """What a restore puts back (archive member names; a directory means all under it)."""
    return (
        _member(prosody.DATA_DIR),
        _member(signup_state_dir(config)),
        _member(f"{config.signup.credentials_dir}/{config.signup.invites_api_key}"),
    )


def archived_paths(config):
    """What a snapshot holds: the restored state, and the configuration for reference."""
    return restored_paths(config)[:2] + (_member(prosody.CONFIG_DIR), _member(config.signup.config_dir))


def snapshot_command(config):
    """The shell script (run as root, through sudo) that snapshots a host this package deployed
    and prints the path of the archive (see ``snapshot_script``)."""
    return snapshot_script(copies=[(f"/{store}", store) for store in stores(config)],
                           paths=archived_paths(config))


def snapshot_script(copies, paths):
    """The shell script (run as root, through sudo) that snapshots a host and prints the path of
    the archive: mode 0600 in a fresh 0700 directory under /var/tmp, both owned by the login user
    (sudo's SUDO_USER) so that it can be fetched over SFTP without root. The caller removes it.

    ``copies``: [(live SQLite file, archive member)], each copied with SQLite's online backup
    while the services keep running (a consistent copy at one instant), read-only: a store that
    is locked for longer than 20 s, or needs recovery (a hot journal), fails the snapshot rather
    than being written to. The archive gets each copy under its member name with the live
    file's owner and mode, and never the live file or its side files. ``paths``: the files and
    directories archived as they are (archive member names). Files that change while tar reads
    them (an upload in progress) make tar warn, not fail. Nothing outside the snapshot's own
    work directory is written.
    """
    excluded = [f"--exclude={source.lstrip('/')}{side}" for source, _ in copies for side in _SQLITE_SIDE_FILES]
    excluded += [f"--exclude={member}{side}" for _, member in copies for side in _SQLITE_SIDE_FILES]
    data_dir = _member(prosody.DATA_DIR)
    excluded += [f"--exclude={data_dir}/prosody.sock", f"--exclude={data_dir}/.shell_history"]
    q = shlex.quote
    lines = [
        "set -eu",
        "umask 077",
        "work=$(mktemp -d /var/tmp/eldwyn-snapshot.XXXXXX)",
        "trap 'rm -rf -- \"$work\"' EXIT",
        "copies=''",
        # SQLite's online backup, from a read-only connection: the sqlite3 shell, else Python's.
        "online_backup() {",
        "  if command -v sqlite3 >/dev/null; then",
        "    sqlite3 -readonly -bail \"$1\" \".timeout 20000\" \".backup '$2'\"",
        "  else",
        "    python3 -c 'import sqlite3, sys; s = sqlite3.connect(\"file:\" + sys.argv[1] + \"?mode=ro\",'"
        "' uri=True, timeout=20); d = sqlite3.connect(sys.argv[2]); s.backup(d); d.close()' \"$1\" \"$2\"",
        "  fi",
        "}",
    ]
    for source, member in copies:
        lines += [
            f"if [ -e {q(source)} ]; then",
            f"  mkdir -p \"$work/db/$(dirname {q(member)})\"",
            f"  online_backup {q(source)} \"$work/db/\"{q(member)}",
            f"  chown --reference={q(source)} \"$work/db/\"{q(member)}",
            f"  chmod --reference={q(source)} \"$work/db/\"{q(member)}",
            f"  copies=\"$copies \"{q(member)}",
            "fi",
        ]
    lines += [
        "present=''",
        f"for path in {' '.join(q(path) for path in paths)}; do",
        '  if [ -e "/$path" ]; then present="$present $path"; fi',
        "done",
        '[ -n "$present" ] || { echo "nothing to back up on this host" >&2; exit 1; }',
        f"tar --create --file \"$work/host.tar\" --directory / --anchored {' '.join(q(e) for e in excluded)}"
        " --warning=no-file-changed $present || [ $? -eq 1 ]",
        'if [ -n "$copies" ]; then tar --append --file "$work/host.tar" --directory "$work/db" $copies; fi',
        "out=$(mktemp -d /var/tmp/eldwyn-backup.XXXXXX)",
        'mv "$work/host.tar" "$out/host.tar"',
        'if [ -n "${SUDO_USER:-}" ]; then chown -R "$SUDO_USER" "$out"; fi',
        'echo "$out/host.tar"',
    ]
    return "\n".join(lines)


def restore_command(backup, archive, config):
    """The shell script (run as root) that restores ``archive`` (the backup's host.tar, uploaded
    to the host): its sum is checked, Prosody and the webservice are stopped while their state
    is replaced and started again if they ran, and a marker records the restore."""
    q = shlex.quote
    members = [path for path in restored_paths(config) if backup.holds(path)]
    sides = " ".join(f"/{PROSODY_STORE}{side}" for side in _SQLITE_SIDE_FILES[1:])
    return "\n".join([
        "set -eu",
        f"archive={q(archive)}",
        "trap 'rm -f -- \"$archive\"' EXIT",
        f"echo {q(backup.archive_sha256)}'  '\"$archive\" | sha256sum --check --quiet --strict",
        "running=''",
        f"for unit in prosody {SIGNUP_SERVICE}; do",
        '  if systemctl is-active --quiet "$unit"; then systemctl stop "$unit"; running="$running $unit"; fi',
        "done",
        f"rm -f {sides}",
        "mkdir -p -m 0700 /var/lib/private",
        "tar --extract --file \"$archive\" --directory / --same-owner --preserve-permissions"
        f" {' '.join(q(member) for member in members)}",
        *(adopted_steps(backup, config) if backup.adopted else []),
        f"mkdir -p {RESTORED_DIR}",
        f"echo \"restored $(date -u +%FT%TZ) from \"{q(backup.name)} > {RESTORED_DIR}/{backup.id}",
        'for unit in $running; do systemctl start "$unit"; done',
    ])


# The role a normal account of ours has (what `prosodyctl shell user create` and our seeding
# give); admins get prosody:operator from the config's admins list, whatever is stored.
MEMBER_ROLE = "prosody:member"


def adopted_steps(backup, config):
    """What a restore of an adopted host's backup does after unpacking it, Prosody stopped:
    the hosts that kept Prosody's file storage there (the page's components: rooms, upload
    records) are imported into the SQL store with our module (Prosody 13's own storage API,
    mod_eldwyn_import_files), and every account without a stored role gets the member role
    (0.12 stored none; Prosody 13 would make them prosody:registered). Prosody 13.0.1 upgrades
    0.12's SQL schema itself at its first start (its unique index replaces prosody_index)."""
    q = shlex.quote
    realm = _sql_text(config.realm)
    roles = (
        "INSERT INTO prosody (host, user, store, key, type, value)"
        f" SELECT DISTINCT a.host, a.user, 'account_roles', '_default', 'string', {_sql_text(MEMBER_ROLE)}"
        f" FROM prosody a WHERE a.store = 'accounts' AND a.host = {realm} AND NOT EXISTS"
        " (SELECT 1 FROM prosody r WHERE r.host = a.host AND r.user = a.user AND r.store = 'account_roles');"
    )
    lines = []
    if backup.file_stores:
        lines += import_file_stores_lines(backup.file_stores, config)
    lines.append(f"sqlite3 -bail /{PROSODY_STORE} {q(roles)}")
    return lines


IMPORT_CONFIG = f"{RESTORE_DIR}/import.cfg.lua"
# Our Prosody module that imports file storage into SQL: uploaded with the archive for a restore
# of an adopted backup (tasks/restore.py), removed with it; never loaded by the server itself.
IMPORT_MODULE_DIR = f"{RESTORE_DIR}/modules"
IMPORT_MODULE = "mod_eldwyn_import_files.lua"


def import_file_stores_lines(hosts, config):
    """Shell lines importing ``hosts``' file storage into the SQL store with our module
    (files/var/lib/eldwyn-xmpp/restore/modules/), under a configuration of its own
    (templates/var/lib/eldwyn-xmpp/restore/), both removed afterwards."""
    from eldwyn.render import render  # jinja2: only where a restore renders something

    q = shlex.quote
    text = render("var/lib/eldwyn-xmpp/restore/import.cfg.lua.j2", hosts=hosts, data_dir=prosody.DATA_DIR,
                  module_dir=IMPORT_MODULE_DIR, database=Path(PROSODY_STORE).name)
    return [
        f"mkdir -p {RESTORE_DIR}",
        f"cat > {IMPORT_CONFIG} <<'ELDWYN_IMPORT_CONFIG'",
        text.rstrip("\n"),
        "ELDWYN_IMPORT_CONFIG",
        f"chmod 0644 {IMPORT_CONFIG}",
        f"chmod 0755 {IMPORT_MODULE_DIR} && chmod 0644 {IMPORT_MODULE_DIR}/{IMPORT_MODULE}",
        # prosodyctl runs as root, then switches to the prosody user: the store stays Prosody's.
        f"(cd {prosody.DATA_DIR} && prosodyctl --config {IMPORT_CONFIG} mod_eldwyn_import_files"
        f" {' '.join(q(host) for host in hosts)})",
        f"rm -rf {IMPORT_CONFIG} {IMPORT_MODULE_DIR}",
    ]


def _sql_text(value):
    return "'" + value.replace("'", "''") + "'"


def restore_state_command(backup, config):
    """One command for what decides a restore: ``restored`` if this backup was restored here
    already, then the realm's accounts on the host (one bare JID a line)."""
    return f"if [ -e {RESTORED_DIR}/{backup.id} ]; then echo restored; fi; {existing_accounts_command(config.realm)}"


def parse_restore_state(output):
    """(restored already?, the host's accounts) from ``restore_state_command``'s output."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    restored = "restored" in lines
    return restored, {line for line in lines if line != "restored"}


# ---- On the operator's machine -------------------------------------------------------------


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _archive_members(archive):
    """{member name: {size, sha256, mode, user, group}} for every regular file of the archive."""
    members = {}
    with tarfile.open(archive) as tar:
        for info in tar:
            if info.isfile():
                digest = hashlib.sha256()
                with tar.extractfile(info) as data:
                    for block in iter(lambda: data.read(1 << 20), b""):
                        digest.update(block)
                members[info.name] = {"size": info.size, "sha256": digest.hexdigest(),
                                      "mode": f"{info.mode & 0o7777:o}", "user": info.uname,
                                      "group": info.gname}
    return members


def _accounts_in_archive(archive, realm):
    """The bare JIDs of ``realm`` in the archive's copy of Prosody's store."""
    with tarfile.open(archive) as tar, tempfile.TemporaryDirectory() as scratch:
        try:
            info = tar.getmember(PROSODY_STORE)
        except KeyError:
            return []
        copy = Path(scratch) / "prosody.sqlite"
        with tar.extractfile(info) as data:
            copy.write_bytes(data.read())
        connection = sqlite3.connect(f"file:{copy}?mode=ro", uri=True)
        try:
            rows = connection.execute(
                "SELECT DISTINCT user || '@' || host FROM prosody WHERE store = 'accounts' AND host = ?",
                (realm,)).fetchall()
        except sqlite3.OperationalError:  # no table yet: no account
            rows = []
        finally:
            connection.close()
    return sorted(row[0] for row in rows)


def new_backup_dir(backup_dir, host_name, now=None):
    """A fresh ``<backup_dir>/<host>/<UTC time>.partial`` directory, mode 0700."""
    now = now or datetime.now(timezone.utc)
    root = private_directory(backup_dir)  # every level is private: backups hold secrets
    parent = private_directory(root / host_name)
    directory = parent / (now.strftime("%Y%m%dT%H%M%SZ") + PARTIAL_SUFFIX)
    directory.mkdir(mode=0o700)
    return directory


def complete(directory, *, host_name, realm, store, now=None, adopted=None):
    """Adds the secrets and the manifest to ``directory`` (which holds host.tar) and gives it
    its final name; returns the final path. ``adopted``: for a host this package never deployed
    (eldwyn/adopt.py), what the restore must know of it: ``prosody_version`` and
    ``file_stores``, the hosts whose data is in Prosody's file storage, not in the SQL store."""
    now = now or datetime.now(timezone.utc)
    secrets = directory / SECRETS
    secrets.mkdir(mode=0o700)
    for name in store.names():
        target = secrets / name
        target.write_bytes(store.get_bytes(name))
        target.chmod(0o600)
    (directory / HOST_ARCHIVE).chmod(0o600)
    files = {}
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            files[str(path.relative_to(directory))] = {"size": path.stat().st_size, "sha256": sha256_of(path)}
    archive = directory / HOST_ARCHIVE
    manifest = {
        "format": FORMAT,
        "created": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "host": host_name,
        "realm": realm,
        "accounts": _accounts_in_archive(archive, realm),
        "files": files,
        "archive_members": _archive_members(archive),
    }
    if adopted is not None:
        manifest[ADOPTED] = adopted
    manifest_path = directory / MANIFEST
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    manifest_path.chmod(0o600)
    final = directory.with_name(directory.name.removesuffix(PARTIAL_SUFFIX))
    directory.rename(final)
    return final


@dataclass(frozen=True)
class Backup:
    """A verified backup: every file present, with the size and sum its manifest gives."""

    path: Path
    id: str  # the manifest's sha256 (16 hex digits): names the restore on the host
    manifest: dict

    @property
    def name(self):
        return f"{self.manifest['host']}/{self.path.name}"

    @property
    def accounts(self):
        return frozenset(self.manifest["accounts"])

    @property
    def adopted(self):
        """The manifest's ``adopted`` record (a host this package never deployed), or None."""
        return self.manifest.get(ADOPTED)

    @property
    def file_stores(self):
        """The hosts whose data the backup holds in Prosody's file storage (adopted from a host
        whose components did not use SQL): imported into the SQL store by the restore."""
        return tuple((self.adopted or {}).get("file_stores", ()))

    @property
    def archive(self):
        return self.path / HOST_ARCHIVE

    @property
    def archive_sha256(self):
        return self.manifest["files"][HOST_ARCHIVE]["sha256"]

    def holds(self, path):
        """Whether the archive holds the file ``path`` or anything under the directory ``path``."""
        path = _member(path)
        return any(member == path or member.startswith(path + "/") for member in self.manifest["archive_members"])

    def restored_files(self, config):
        """{absolute path: FileStates-like state} of every file a restore writes."""
        roots = restored_paths(config)
        return {
            "/" + member: {key: entry[key] for key in ("sha256", "user", "group", "mode")}
            for member, entry in self.manifest["archive_members"].items()
            if any(member == root or member.startswith(root + "/") for root in roots)
        }


def _fail(problem):
    raise BackupError(problem)


def _check_adopted(adopted, manifest_path, realm):
    if not isinstance(adopted, dict) or not isinstance(adopted.get("prosody_version"), str) \
            or not isinstance(adopted.get("file_stores"), list):
        _fail(f"{manifest_path}: {ADOPTED!r} must hold 'prosody_version' and 'file_stores'")
    from eldwyn.adopt import version_tuple  # (eldwyn.adopt imports this module)

    version = adopted["prosody_version"]
    if version_tuple(version)[:2] > prosody.TARGET_SERIES:
        _fail(f"taken from Prosody {version}, newer than the target's {prosody.TARGET_SERIES_NAME}:"
              " its store may not be readable there")
    for name in adopted["file_stores"]:
        if not isinstance(name, str) or not (name == realm or name.endswith("." + realm)):
            _fail(f"{manifest_path}: file store {name!r} is not a host of the realm {realm!r}")


def verify(path, realm):
    """The Backup at ``path`` after checking it whole; BackupError naming the first problem.

    Nothing is trusted that the manifest does not vouch for: every file it lists must be there
    with its size and sha256, and no other file may be (a backup is complete or not at all).
    """
    path = Path(path).expanduser()
    if path.name.endswith(PARTIAL_SUFFIX):
        _fail(f"{path}: an unfinished backup (its name ends in {PARTIAL_SUFFIX})")
    manifest_path = path / MANIFEST
    if not path.is_dir():
        _fail(f"{path}: no such backup directory")
    if not manifest_path.is_file():
        _fail(f"{path}: {MANIFEST} is missing: not a backup, or an incomplete one")
    raw = manifest_path.read_bytes()
    try:
        manifest = json.loads(raw)
    except ValueError as error:
        _fail(f"{manifest_path}: not valid JSON ({error})")
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        _fail(f"{manifest_path}: not a manifest of format {FORMAT!r}")
    for key, kind in (("host", str), ("realm", str), ("created", str), ("accounts", list),
                      ("files", dict), ("archive_members", dict)):
        if not isinstance(manifest.get(key), kind):
            _fail(f"{manifest_path}: {key!r} is missing or not a {kind.__name__}")
    if manifest["realm"] != realm:
        _fail(f"{path}: a backup of the realm {manifest['realm']!r}, not of {realm!r}")
    adopted = manifest.get(ADOPTED)
    if adopted is not None:
        _check_adopted(adopted, manifest_path, realm)
    files = manifest["files"]
    if HOST_ARCHIVE not in files:
        _fail(f"{manifest_path}: lists no {HOST_ARCHIVE}")
    if PROSODY_STORE not in manifest["archive_members"]:
        _fail(f"{manifest_path}: {HOST_ARCHIVE} holds no {PROSODY_STORE} (Prosody's store)")
    found = {str(item.relative_to(path)) for item in path.rglob("*") if item.is_file()} - {MANIFEST}
    for name in sorted(set(files) - found):
        _fail(f"{path}: {name} is missing (listed in {MANIFEST})")
    for name in sorted(found - set(files)):
        _fail(f"{path}: {name} is not in {MANIFEST} (added after the backup was taken?)")
    for name, entry in sorted(files.items()):
        file = path / name
        if file.stat().st_size != entry.get("size"):
            _fail(f"{path}: {name} has {file.stat().st_size} bytes, the manifest says {entry.get('size')}")
        if sha256_of(file) != entry.get("sha256"):
            _fail(f"{path}: {name} does not match its sha256 in {MANIFEST} (corrupt)")
    return Backup(path=path.absolute(), id=hashlib.sha256(raw).hexdigest()[:16], manifest=manifest)


def merge_secrets(backup, store):
    """Copies into ``store`` every secret of the backup it lacks (a new operator machine); a
    secret the store holds already is kept. Returns (copied names, names whose values differ)."""
    copied, differing = [], []
    for name in sorted(backup.manifest["files"]):
        if not name.startswith(SECRETS + "/"):
            continue
        secret = name.split("/", 1)[1]
        value = (backup.path / name).read_bytes()
        if not store.exists(secret):
            store.put_bytes(secret, value)
            copied.append(secret)
        elif store.get_bytes(secret) != value:
            differing.append(secret)
    return copied, differing


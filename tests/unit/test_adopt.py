"""Adopting a host this package never deployed (eldwyn/adopt.py), on the operator's side: what
discovery makes of the old host's configuration, what is refused, what the snapshot holds and
reports, and the adopted certificates' use. The real 0.12 host: tests/vm/test_95_adopt.py."""

import datetime
import io
import json
import shlex
import sqlite3
import subprocess
import tarfile

import pytest

from eldwyn import adopt, backup, pki
from eldwyn.certificates import adopted_names, certificate_for

REALM = "cslabs.clarkson.edu"
COMPONENTS = {"muc.comm." + REALM: "muc", "pubsub.comm." + REALM: "pubsub",
              "proxy.comm." + REALM: "proxy65", "upload.comm." + REALM: "http_file_share"}
NOW = datetime.datetime(2026, 12, 2, tzinfo=datetime.timezone.utc)


def _ssl(name):
    return {"certificate": f"/var/lib/prosody/{name}.crt", "key": f"/var/lib/prosody/{name}.key"}


def page_config(**realm_options):
    """What discover_prosody.lua prints for the operators' page's config on Debian's 0.12."""
    hosts = {"localhost": {"defined": True},
             REALM: {"defined": True, "storage": "sql", "ssl": _ssl(REALM),
                     "groups_file": "/var/lib/prosody/groups.txt", "admins": ["admin@" + REALM],
                     **realm_options}}
    for name, kind in COMPONENTS.items():
        hosts[name] = {"defined": True, "component_module": kind, "ssl": _ssl(name)}
    return {"global": {"admins": [], "modules_enabled": ["roster"]}, "hosts": hosts}


def discovery_output(config=None, version="0.12.3-1", tools=("sqlite3",)):
    lines = [f"prosody {version}", "active active", "pid 4242", *[f"tool {t}" for t in tools],
             "source_dir /usr/lib/prosody", "default_data_dir /var/lib/prosody", "config",
             json.dumps(config or page_config())]
    return "\n".join(lines)


def test_the_pages_layout_is_understood():
    legacy = adopt.parse_discovery(discovery_output())
    assert legacy.version == "0.12.3-1" and legacy.active and legacy.pid == 4242
    assert legacy.virtual_hosts == [REALM, "localhost"]
    assert legacy.components == COMPONENTS
    assert legacy.hosts[REALM].database == "/var/lib/prosody/prosody.sqlite"
    assert legacy.hosts[REALM].sql_driver == "SQLite3"
    # storage = "sql" stands in the VirtualHost's section: the components keep file storage.
    assert legacy.file_stores(REALM) == sorted(COMPONENTS)
    assert legacy.hosts["upload.comm." + REALM].certificate == f"/var/lib/prosody/upload.comm.{REALM}.crt"
    assert legacy.groups_file == "/var/lib/prosody/groups.txt"
    assert legacy.admins == ("admin@" + REALM,)
    assert adopt.problems(legacy, REALM) == []


def test_a_global_storage_applies_to_the_components_too():
    config = page_config()
    del config["hosts"][REALM]["storage"]
    config["global"]["storage"] = "sql"
    config["global"]["sql"] = {"driver": "SQLite3", "database": "/srv/xmpp.sqlite"}
    legacy = adopt.parse_discovery(discovery_output(config))
    assert legacy.file_stores(REALM) == []
    assert {host.database for host in legacy.hosts.values()} == {"/srv/xmpp.sqlite"}
    assert adopt.problems(legacy, REALM) == []


def test_a_host_without_prosody_is_refused():
    with pytest.raises(adopt.AdoptError, match="no Prosody on this host"):
        adopt.parse_discovery("prosody none\n")


def test_an_unreadable_config_is_refused():
    with pytest.raises(adopt.AdoptError, match="cannot be read"):
        adopt.parse_discovery("prosody 0.12.3-1\nnoconfig\n")


@pytest.mark.parametrize(("change", "expected"), [
    (lambda c: c["hosts"].pop(REALM), "serves localhost, not the realm of our data, 'cslabs.clarkson.edu'"),
    (lambda c: c["hosts"][REALM].update(storage="internal"), "keeps Prosody's file storage"),
    (lambda c: c["hosts"][REALM].update(sql={"driver": "PostgreSQL", "database": "prosody"}),
     "uses the PostgreSQL driver; the adopt carries SQLite only"),
    (lambda c: c["hosts"][REALM].update(storage={"archive": "sql"}), "storage per store"),
    (lambda c: c["hosts"][REALM].update(storage="memory"), "storage driver 'memory' is not supported"),
    (lambda c: c["global"].update(data_path="/srv/prosody"), "data_path is '/srv/prosody'"),
    (lambda c: c["hosts"]["muc.comm." + REALM].update(storage="sql", sql={"database": "other.sqlite"}),
     "is not the realm's"),
])
def test_what_cannot_be_adopted_is_named_in_one_line(change, expected):
    config = page_config()
    change(config)
    found = adopt.problems(adopt.parse_discovery(discovery_output(config)), REALM)
    assert len(found) == 1 and expected in found[0], found


def test_a_newer_prosody_is_refused():
    legacy = adopt.parse_discovery(discovery_output(version="14.0.0-1"))
    assert adopt.problems(legacy, REALM) == [
        "Prosody 14.0.0-1 is newer than the target's 13.0: its store may not be readable there"]
    assert adopt.problems(adopt.parse_discovery(discovery_output(version="13.0.2-1")), REALM) == []


def test_without_a_tool_for_an_online_copy_nothing_is_installed_there():
    legacy = adopt.parse_discovery(discovery_output(tools=()))
    assert "apt install sqlite3" in adopt.problems(legacy, REALM)[0]
    assert adopt.problems(adopt.parse_discovery(discovery_output(tools=("python3",))), REALM) == []


@pytest.mark.parametrize(("version", "expected"), [
    ("0.12.3-1", (0, 12, 3)), ("13.0.1-1+deb13u1", (13, 0, 1)), ("1:0.11.9-2", (0, 11, 9)), ("13.0~rc1", (13, 0, 0)),
])
def test_debian_versions_are_read(version, expected):
    assert adopt.version_tuple(version) == expected


def test_the_scripts_are_valid_shell_and_copy_read_only():
    legacy = adopt.parse_discovery(discovery_output())
    snapshot = adopt.snapshot_command(legacy, REALM)
    assert "sqlite3 -readonly" in snapshot and "mode=ro" in snapshot
    assert "online_backup /var/lib/prosody/prosody.sqlite \"$work/db/\"var/lib/prosody/prosody.sqlite" in snapshot
    assert "/var/tmp/eldwyn-snapshot." in snapshot  # the only place it writes
    for script in (adopt.discover_command(), snapshot):
        subprocess.run(["bash", "-n"], input=script, text=True, check=True)


def test_the_data_directory_names_follow_prosodys_encoding():
    assert adopt.data_dir_name("muc.comm.cslabs.clarkson.edu") == "muc%2ecomm%2ecslabs%2eclarkson%2eedu"
    assert adopt.data_dir_name("a-b_c") == "a%2db%5fc"


# ---- the snapshot, inspected on the operator's side ----------------------------------------------

def _store(path, accounts=("admin", "ada", "grace")):
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE prosody (host TEXT, user TEXT, store TEXT, key TEXT, type TEXT, value TEXT)")
    connection.execute("CREATE TABLE prosodyarchive (sort_id INTEGER PRIMARY KEY, host TEXT, user TEXT,"
                       " store TEXT, key TEXT, 'when' INTEGER, 'with' TEXT, type TEXT, value TEXT)")
    for user in accounts:
        connection.execute("INSERT INTO prosody VALUES (?, ?, 'accounts', 'salt', 'string', 'x')", (REALM, user))
    for index in range(5):
        connection.execute("INSERT INTO prosodyarchive (host, user, store, key) VALUES (?, 'ada', 'archive', ?)",
                           (REALM, str(index)))
    connection.execute("INSERT INTO prosodyarchive (host, user, store, key) VALUES (?, 'linus', 'offline', 'o')",
                       (REALM,))
    connection.commit()
    connection.close()
    return path.read_bytes()


def _tar(path, members):
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


@pytest.fixture
def certificates():
    ca_key, ca_cert = pki.create_ca("Legacy CA", now=NOW - datetime.timedelta(days=10))
    return {name: pki.issue_certificate([name], ca_key, ca_cert, 365, now=NOW - datetime.timedelta(days=10))
            for name in [REALM, *COMPONENTS]}


@pytest.fixture
def snapshot(tmp_path, certificates):
    muc, upload = (adopt.data_dir_name(name + ".comm." + REALM) for name in ("muc", "upload"))
    members = {
        backup.PROSODY_STORE: _store(tmp_path / "copy.sqlite"),
        f"var/lib/prosody/{muc}/config/lab.dat": b"return {};",
        f"var/lib/prosody/{muc}/config/board.dat": b"return {};",
        f"var/lib/prosody/{muc}/persistent.dat": b"return {};",
        f"var/lib/prosody/{upload}/uploads.list": b"item({});\nitem({});\nitem({});\n",
        f"var/lib/prosody/{upload}/http_file_share/a.bin": b"x" * 1000,
        f"var/lib/prosody/{upload}/http_file_share/b.bin": b"y" * 24,
        "var/lib/prosody/groups.txt": b"[Lab]\nadmin@cslabs.clarkson.edu=Admin\n[Board]\n",
        "etc/prosody/prosody.cfg.lua": b"-- config",
    }
    for name, (key_pem, cert_pem) in certificates.items():
        members[f"var/lib/prosody/{name}.crt"] = cert_pem
        members[f"var/lib/prosody/{name}.key"] = key_pem
    path = tmp_path / "host.tar"
    _tar(path, members)
    return path


def test_the_snapshot_is_counted_for_the_report(snapshot):
    legacy = adopt.parse_discovery(discovery_output())
    found = adopt.inspect(snapshot, legacy, REALM)
    assert found.accounts == {REALM: 3}
    assert found.rooms == {"muc.comm." + REALM: 2}
    assert found.archives[(REALM, "archive")] == 5 and found.archives[(REALM, "offline")] == 1
    assert found.archives[("upload.comm." + REALM, "uploads")] == 3
    assert (found.uploads, found.upload_bytes) == (2, 1024)
    assert found.groups == 2
    assert sorted(found.tls_files) == sorted([REALM, *COMPONENTS])
    lines = adopt.report(legacy, found, REALM, list(COMPONENTS), now=NOW)
    text = "\n".join(lines)
    assert "Accounts: 3 on cslabs.clarkson.edu" in text
    assert "Rooms: 2 on muc.comm.cslabs.clarkson.edu" in text
    assert "Uploads: 2 files, 1.0 KiB" in text
    assert f"  {REALM}: issued by CN={REALM}" not in text  # the issuer, not the subject
    assert f"  {REALM}: issued by CN=Legacy CA, expires 2027-11-22 (in 355 days)" in text
    assert "the old registration site's own state" in text
    assert "the VirtualHost localhost: not our realm" in text
    assert "the rooms' discussion history on muc.comm.cslabs.clarkson.edu: without muc_mam" in text


def _adopted_backup(tmp_path, snapshot):
    """The backup operator_tasks/adopt.py makes of ``snapshot`` (the page's layout)."""
    legacy = adopt.parse_discovery(discovery_output())
    found = adopt.inspect(snapshot, legacy, REALM)
    directory = backup.new_backup_dir(tmp_path / "backups", "legacy", now=NOW)
    (directory / backup.HOST_ARCHIVE).write_bytes(snapshot.read_bytes())
    return backup.complete(directory, host_name="legacy", realm=REALM, store=adopt.AdoptedSecrets(found, REALM),
                           adopted={"prosody_version": "0.12.3-1", "file_stores": legacy.file_stores(REALM)})


def test_the_adopted_backup_carries_the_old_certificates_as_secrets(snapshot, tmp_path, certificates):
    final = _adopted_backup(tmp_path, snapshot)
    verified = backup.verify(final, REALM)
    assert verified.file_stores == tuple(sorted(COMPONENTS))
    assert verified.accounts == {f"{user}@{REALM}" for user in ("admin", "ada", "grace")}
    cert_secret, key_secret = adopted_names(REALM)
    assert (final / "secrets" / cert_secret).read_bytes() == certificates[REALM][1]
    assert (final / "secrets" / key_secret).read_bytes() == certificates[REALM][0]


@pytest.mark.parametrize(("damage", "expected"), [
    (lambda data: data[: len(data) // 2], "integrity check|corrupt"),
    (lambda data: b"garbage" * 500, "corrupt or not SQLite"),
])
def test_a_truncated_or_corrupt_store_is_refused(tmp_path, damage, expected):
    store = _store(tmp_path / "copy.sqlite", accounts=[f"user{i}" for i in range(2000)])
    path = tmp_path / "host.tar"
    _tar(path, {backup.PROSODY_STORE: damage(store)})
    with pytest.raises(adopt.AdoptError, match=expected):
        adopt.inspect(path, adopt.parse_discovery(discovery_output()), REALM)


def test_duplicate_rows_are_refused(tmp_path):
    path = tmp_path / "copy.sqlite"
    _store(path)
    connection = sqlite3.connect(path)
    connection.execute("INSERT INTO prosody VALUES (?, 'ada', 'accounts', 'salt', 'string', 'x')", (REALM,))
    connection.commit()
    connection.close()
    _tar(tmp_path / "host.tar", {backup.PROSODY_STORE: path.read_bytes()})
    with pytest.raises(adopt.AdoptError, match=r"duplicate rows.*ada@cslabs.clarkson.edu accounts/salt \(2x\)"):
        adopt.inspect(tmp_path / "host.tar", adopt.parse_discovery(discovery_output()), REALM)


def test_a_snapshot_without_the_store_is_refused(tmp_path):
    path = tmp_path / "host.tar"
    _tar(path, {"etc/prosody/prosody.cfg.lua": b"--"})
    with pytest.raises(adopt.AdoptError, match="does not exist on the old host"):
        adopt.inspect(path, adopt.parse_discovery(discovery_output()), REALM)


def _adopted_manifest(tmp_path, version):
    directory = backup.new_backup_dir(tmp_path / "backups", "legacy", now=NOW)
    _tar(directory / backup.HOST_ARCHIVE, {backup.PROSODY_STORE: _store(tmp_path / "s.sqlite")})
    nothing = adopt.AdoptedSecrets(adopt.Inspection({}, {}, {}, 0, 0, {}, {}, None, 0), REALM)
    return backup.complete(directory, host_name="legacy", realm=REALM, store=nothing,
                           adopted={"prosody_version": version, "file_stores": []})


def test_a_backup_of_a_newer_prosody_is_refused_before_any_host(tmp_path):
    final = _adopted_manifest(tmp_path, "14.0.0-1")
    with pytest.raises(backup.BackupError, match="taken from Prosody 14.0.0-1, newer than the target's 13.0"):
        backup.verify(final, REALM)


# ---- the adopted certificates ------------------------------------------------------------------

def _with_adopted(store, name, key_pem, cert_pem):
    cert_secret, key_secret = adopted_names(name)
    store.put_bytes(cert_secret, cert_pem)
    store.put_bytes(key_secret, key_pem)


def test_a_valid_adopted_certificate_is_served(config, store, certificates):
    realm = config.certificate(config.realm)
    _with_adopted(store, realm.name, *certificates[realm.name])
    issued = certificate_for(realm, config.tls, store, now=NOW)
    assert issued.certificate_pem == certificates[realm.name][1] and issued.reason is None


@pytest.mark.parametrize("why", ["expiring", "other name", "other key", "not asked"])
def test_otherwise_our_ca_issues_one(config, store, certificates, why):
    realm = config.certificate(config.realm)
    key_pem, cert_pem = certificates[realm.name]
    now, tls = NOW, config.tls
    if why == "expiring":
        now = NOW + datetime.timedelta(days=340)  # 15 days left, below tls_renew_before_days
    elif why == "other name":
        key_pem, cert_pem = certificates["muc.comm." + REALM]
    elif why == "other key":
        key_pem = certificates["muc.comm." + REALM][0]
    else:
        tls = config.tls.model_copy(update={"keep_adopted_certificates": False})
    _with_adopted(store, realm.name, key_pem, cert_pem)
    issued = certificate_for(realm, tls, store, now=now)
    assert issued.certificate_pem != cert_pem
    assert pki.is_signed_by(issued.certificate_pem, store.get_bytes(pki.CA_CERT_SECRET))


# ---- the restore of an adopted backup ----------------------------------------------------------

def test_the_restore_imports_the_file_stores_and_gives_members_their_role(tmp_path, snapshot, data):
    final = _adopted_backup(tmp_path, snapshot)
    from eldwyn.config import load_config

    config = load_config({**data, "backup_restore_from": str(final)}, environ={})
    script = backup.restore_command(config.restore_from, "/var/lib/eldwyn-xmpp/restore/x.tar", config)
    subprocess.run(["bash", "-n"], input=script, text=True, check=True)
    assert "prosodyctl --config /var/lib/eldwyn-xmpp/restore/import.cfg.lua mod_eldwyn_import_files " + \
        " ".join(sorted(COMPONENTS)) in script
    for name in COMPONENTS:
        assert f'VirtualHost "{name}"' in script
    # The imports and the roles come after the unpacking and before Prosody starts again.
    assert script.index("tar --extract") < script.index("mod_eldwyn_import_files") \
        < script.index("account_roles") < script.index('systemctl start "$unit"')
    # The role statement, run on a store: members for accounts without a role, others untouched.
    store = tmp_path / "store.sqlite"
    store.write_bytes(_store(tmp_path / "fresh.sqlite"))
    connection = sqlite3.connect(store)
    connection.execute("INSERT INTO prosody VALUES (?, 'grace', 'account_roles', '_default', 'string', 'prosody:admin')",
                       (REALM,))
    connection.commit()
    statement = next(line for line in script.splitlines() if "account_roles" in line)
    connection.executescript(shlex.split(statement)[-1])
    connection.executescript(shlex.split(statement)[-1])  # twice: nothing more
    roles = dict(connection.execute("SELECT user, value FROM prosody WHERE store = 'account_roles'"))
    assert roles == {"admin": "prosody:member", "ada": "prosody:member", "grace": "prosody:admin"}


def test_a_backup_of_our_own_host_imports_nothing(taken_here, data):
    from eldwyn.config import load_config

    config = load_config({**data, "backup_restore_from": str(taken_here)}, environ={})
    script = backup.restore_command(config.restore_from, "/x.tar", config)
    assert "mod_eldwyn_import_files" not in script and "account_roles" not in script


@pytest.fixture
def taken_here(tmp_path):
    directory = backup.new_backup_dir(tmp_path / "own", "eldwyn", now=NOW)
    _tar(directory / backup.HOST_ARCHIVE, {backup.PROSODY_STORE: _store(tmp_path / "own.sqlite")})
    nothing = adopt.AdoptedSecrets(adopt.Inspection({}, {}, {}, 0, 0, {}, {}, None, 0), REALM)
    return backup.complete(directory, host_name="eldwyn", realm=REALM, store=nothing)


def test_the_importer_the_restore_uploads_exists():
    from eldwyn.host_files import FILES_DIR

    module = FILES_DIR / backup.IMPORT_MODULE_DIR.lstrip("/") / backup.IMPORT_MODULE
    assert module.is_file() and "function module.command" in module.read_text()

"""Backups on the operator's side: the manifest, the check before a restore, secrets, scripts."""

import hashlib
import io
import json
import sqlite3
import stat
import subprocess
import tarfile
from datetime import datetime, timezone

import pytest

from eldwyn import backup
from eldwyn.config import ConfigError, load_config
from eldwyn.secrets import SecretsStore

REALM = "cslabs.clarkson.edu"
NOW = datetime(2026, 11, 30, 12, 0, 0, tzinfo=timezone.utc)


def _store_bytes(tmp_path, accounts):
    """A Prosody-like SQLite store holding ``accounts`` (bare JIDs)."""
    path = tmp_path / "store.sqlite"
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE prosody (host TEXT, user TEXT, store TEXT, key TEXT, type TEXT, value TEXT)")
    for jid in accounts:
        user, host = jid.split("@")
        connection.execute("INSERT INTO prosody VALUES (?, ?, 'accounts', 'stored_key', 'string', 'x')", (host, user))
        connection.execute("INSERT INTO prosody VALUES (?, ?, 'roster', 'k', 'string', 'y')", (host, user))
    connection.commit()
    connection.close()
    data = path.read_bytes()
    path.unlink()
    return data


def _host_tar(path, members):
    with tarfile.open(path, "w") as tar:
        for name, (data, mode, user) in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.uname, info.gname = len(data), mode, user, user
            tar.addfile(info, io.BytesIO(data))


@pytest.fixture
def store(tmp_path):
    store = SecretsStore(tmp_path / "secrets")
    store.put("ca.key", "CA KEY")
    store.put("account-alice@cslabs.clarkson.edu", "alice's password")
    return store


@pytest.fixture
def taken(tmp_path, store):
    """A complete backup, as operator_tasks/backup.py leaves it."""
    directory = backup.new_backup_dir(tmp_path / "backups", "eldwyn", now=NOW)
    _host_tar(directory / backup.HOST_ARCHIVE, {
        backup.PROSODY_STORE: (_store_bytes(tmp_path, ["bob@" + REALM, "alice@" + REALM, "x@other.org"]), 0o640, "prosody"),
        "var/lib/prosody/http_file_share/abc": (b"uploaded bytes", 0o640, "prosody"),
        "var/lib/private/eldwyn-signup/signup.sqlite": (b"state", 0o600, "root"),
        "etc/eldwyn-signup/credentials/invites-api-key": (b"key", 0o600, "root"),
        "etc/prosody/prosody.cfg.lua": (b"-- config", 0o640, "root"),
    })
    return backup.complete(directory, host_name="eldwyn", realm=REALM, store=store, now=NOW)


def test_a_complete_backup_is_private_and_named_by_its_time(taken, tmp_path):
    assert taken == tmp_path / "backups" / "eldwyn" / "20261130T120000Z"
    for path in [tmp_path / "backups", taken.parent, taken, taken / "secrets"]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, path
    for path in taken.rglob("*"):
        if path.is_file():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_the_manifest_lists_every_file_with_size_and_sum_and_the_accounts(taken):
    manifest = json.loads((taken / backup.MANIFEST).read_text())
    assert manifest["format"] == backup.FORMAT
    assert manifest["realm"] == REALM and manifest["host"] == "eldwyn"
    assert manifest["created"] == "2026-11-30T12:00:00Z"
    assert manifest["accounts"] == ["alice@" + REALM, "bob@" + REALM]  # sorted, realm only
    assert sorted(manifest["files"]) == ["host.tar", "secrets/account-alice@cslabs.clarkson.edu", "secrets/ca.key"]
    assert manifest["files"]["secrets/ca.key"] == {
        "size": 6, "sha256": backup.sha256_of(taken / "secrets" / "ca.key")}
    upload = manifest["archive_members"]["var/lib/prosody/http_file_share/abc"]
    assert upload == {"size": 14, "sha256": hashlib.sha256(b"uploaded bytes").hexdigest(), "mode": "640",
                      "user": "prosody", "group": "prosody"}


def test_a_backup_verifies_and_says_what_it_restores(taken, restoring):
    config = restoring(taken)
    found = config.restore_from
    assert found.path == taken and len(found.id) == 16
    assert found.accounts == {"alice@" + REALM, "bob@" + REALM}
    assert found.holds("/var/lib/prosody") and not found.holds("/var/lib/prosod")
    restored = found.restored_files(config)
    assert "/var/lib/prosody/http_file_share/abc" in restored
    assert restored["/etc/eldwyn-signup/credentials/invites-api-key"]["mode"] == "600"
    assert "/etc/prosody/prosody.cfg.lua" not in restored  # reference only: the deploy writes it


@pytest.fixture
def restoring(data):
    """load_config of the default data, restoring from the backup at the given path."""
    def config(path):
        return load_config({**data, "backup_restore_from": str(path)}, environ={})
    return config


@pytest.mark.parametrize("damage, problem", [
    (lambda b: (b / "host.tar").write_bytes((b / "host.tar").read_bytes()[:-1] + b"!"), "host.tar does not match its sha256"),
    (lambda b: (b / "host.tar").unlink(), "host.tar is missing"),
    (lambda b: (b / "secrets" / "ca.key").unlink(), "secrets/ca.key is missing"),
    (lambda b: (b / "secrets" / "ca.key").write_text("CA KEY, longer"), "secrets/ca.key has 14 bytes, the manifest says 6"),
    (lambda b: (b / "secrets" / "extra").write_text("x"), "secrets/extra is not in manifest.json"),
    (lambda b: (b / "manifest.json").unlink(), "manifest.json is missing"),
    (lambda b: (b / "manifest.json").write_text("{"), "not valid JSON"),
    (lambda b: (b / "manifest.json").write_text("[]"), "not a manifest of format"),
    (lambda b: _edit(b, realm="example.org"), "a backup of the realm 'example.org'"),
    (lambda b: _edit(b, accounts="alice"), "'accounts' is missing or not a list"),
    (lambda b: _edit(b, archive_members={}), "holds no var/lib/prosody/prosody.sqlite"),
])
def test_a_damaged_backup_is_refused_naming_the_problem(taken, restoring, damage, problem):
    damage(taken)
    with pytest.raises(ConfigError) as error:
        restoring(taken)
    assert error.value.path == "backup_restore_from"
    assert problem in str(error.value) and "nothing was restored" in str(error.value)


def _edit(path, **changes):
    manifest = json.loads((path / backup.MANIFEST).read_text())
    manifest.update(changes)
    (path / backup.MANIFEST).write_text(json.dumps(manifest))


def test_an_unfinished_or_absent_backup_is_refused(tmp_path, restoring):
    partial = backup.new_backup_dir(tmp_path / "b", "eldwyn", now=NOW)
    with pytest.raises(ConfigError, match="an unfinished backup"):
        restoring(partial)
    with pytest.raises(ConfigError, match="no such backup directory"):
        restoring(tmp_path / "nowhere")
    with pytest.raises(ConfigError, match="must be an absolute path"):
        restoring("relative/backup")


def test_secrets_missing_from_the_store_come_back_and_existing_ones_are_kept(taken, tmp_path, restoring):
    fresh = SecretsStore(tmp_path / "new-machine")
    fresh.put("ca.key", "A NEWER CA KEY")
    found = restoring(taken).restore_from
    copied, differing = backup.merge_secrets(found, fresh)
    assert copied == ["account-alice@cslabs.clarkson.edu"] and differing == ["ca.key"]
    assert fresh.get("account-alice@cslabs.clarkson.edu") == "alice's password"
    assert fresh.get("ca.key") == "A NEWER CA KEY"
    assert backup.merge_secrets(found, fresh) == ([], ["ca.key"])  # a second time: nothing to copy


def test_backup_dirs_refuse_a_git_work_tree(tmp_path):
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    with pytest.raises(Exception, match="inside the git work tree"):
        backup.new_backup_dir(tmp_path / "repo" / "backups", "eldwyn", now=NOW)


def test_the_restore_state_tells_a_restored_host_and_its_accounts():
    assert backup.parse_restore_state("") == (False, set())
    assert backup.parse_restore_state("restored\nalice@x.org\n") == (True, {"alice@x.org"})


@pytest.mark.parametrize("script", ["snapshot", "restore"])
def test_the_host_scripts_are_valid_shell(taken, restoring, script):
    config = restoring(taken)
    if script == "snapshot":
        text = backup.snapshot_command(config)
        assert "online_backup /var/lib/prosody/prosody.sqlite" in text and "--exclude=var/lib/prosody/prosody.sqlite-wal" in text
    else:
        text = backup.restore_command(config.restore_from, "/var/lib/eldwyn-xmpp/restore/x.tar", config)
        assert config.restore_from.archive_sha256 in text
        assert "var/lib/prosody var/lib/private/eldwyn-signup etc/eldwyn-signup/credentials/invites-api-key" in text
    subprocess.run(["bash", "-n"], input=text, text=True, check=True)

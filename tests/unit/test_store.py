"""Prosody's store: its journal mode read from the file header (no sqlite3, no side files), the
ProsodyStore fact that reads it with the accounts, and when the deploy switches it to WAL."""

import sqlite3
import subprocess

import pytest

from eldwyn import store
from eldwyn.facts import ProsodyStore
from tasks import prosody_store
from tasks.restore import Restore


def _journal(path):
    out = subprocess.run(["sh", "-c", store.journal_mode_command(str(path))], capture_output=True, text=True, check=True)
    return out.stdout


def _db(path, mode):
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA journal_mode={mode}")
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()


@pytest.mark.parametrize("mode, expected", [("WAL", "wal"), ("DELETE", "rollback")])
def test_the_journal_mode_is_read_from_the_header(tmp_path, mode, expected):
    path = tmp_path / "prosody.sqlite"
    _db(path, mode)
    line = _journal(path).strip()
    assert store.parse_journal_mode(line) == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prosody.sqlite"]  # no -wal/-shm made by reading


def test_no_store_prints_nothing_and_garbage_is_unknown(tmp_path):
    assert _journal(tmp_path / "missing.sqlite") == ""
    (tmp_path / "empty.sqlite").write_bytes(b"")
    assert _journal(tmp_path / "empty.sqlite") == ""
    (tmp_path / "text.sqlite").write_bytes(b"not a database, but long enough to have bytes 18 and 19")
    assert store.parse_journal_mode(_journal(tmp_path / "text.sqlite").strip()) == "unknown"


def test_the_fact_splits_journal_and_accounts():
    fact = ProsodyStore()
    assert fact.process(["journal 2 2", "alice@example.org", "bob@example.org"]) == {
        "journal": "wal", "accounts": {"alice@example.org", "bob@example.org"}}
    assert fact.process(["journal 1 1"]) == {"journal": "rollback", "accounts": set()}
    assert ProsodyStore.default() == {"journal": None, "accounts": set()}
    command = fact.command("example.org")
    assert command.index("od -An") < command.index("sqlite3 -readonly")


def test_the_wal_command_runs_as_prosody_with_its_umask_and_checks_the_answer():
    command = store.wal_command()
    assert "umask 027 && runuser -u prosody -- sqlite3" in command
    assert "PRAGMA journal_mode=WAL;" in command and '[ "$mode" = wal ]' in command


@pytest.mark.parametrize("journal, restored, switched", [
    ("wal", False, False), ("rollback", False, True), (None, False, True), ("unknown", False, True),
    ("wal", True, True),  # a restore replaces the file: whatever it was in before
])
def test_the_store_is_switched_only_when_needed(monkeypatch, journal, restored, switched):
    calls = []
    monkeypatch.setattr(prosody_store.server, "shell", lambda **kwargs: calls.append(kwargs) or "op")
    restore = Restore(backup=object(), operations=("restore-op",)) if restored else Restore()
    result = prosody_store.journal({"journal": journal, "accounts": set()}, restore)
    assert bool(result) == switched and len(calls) == int(switched)
    if switched:
        assert calls[0]["commands"] == [store.wal_command()]

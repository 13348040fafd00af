"""The webservice's state file as gunicorn's workers open it: at once, on a new host."""

import sqlite3
import time

import pytest

from webservice.signup.state import State


class _LockedAtFirst:
    """A real connection whose first ``times`` journal-mode switches fail as SQLite fails the
    worker that loses the race for a new file."""

    def __init__(self, connection, failures):
        self._connection = connection
        self._failures = failures

    def execute(self, sql, *args):
        if sql.startswith("PRAGMA journal_mode") and self._failures:
            self._failures.pop()
            raise sqlite3.OperationalError("database is locked")
        return self._connection.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self._connection, name)


def _connect_locked(monkeypatch, times):
    failures = [None] * times
    real = State._connect
    calls = []

    def connect(self):
        calls.append(1)
        return _LockedAtFirst(real(self), failures)

    monkeypatch.setattr(State, "_connect", connect)
    return calls


def test_a_worker_that_finds_the_new_file_locked_tries_again(tmp_path, monkeypatch):
    calls = _connect_locked(monkeypatch, times=2)
    state = State(tmp_path, time.time)
    assert len(calls) == 3
    with sqlite3.connect(state.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables == {"hits", "used"}
    assert state.hit("bucket", attempts=1, window_seconds=60) is True


def test_a_lock_that_stays_fails_after_the_bound(tmp_path, monkeypatch):
    monkeypatch.setattr(State, "INITIALISE_SECONDS", 0.5)
    _connect_locked(monkeypatch, times=1000)
    started = time.monotonic()
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        State(tmp_path, time.time)
    assert 0.5 <= time.monotonic() - started < 5


def test_any_other_error_is_raised_at_once(tmp_path, monkeypatch):
    calls = []
    real = State._connect

    def connect(self):
        calls.append(1)
        self.path = tmp_path / "missing-directory" / "signup.sqlite"
        return real(self)

    monkeypatch.setattr(State, "_connect", connect)
    with pytest.raises(sqlite3.OperationalError, match="unable to open"):
        State(tmp_path, time.time)
    assert len(calls) == 1

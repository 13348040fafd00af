"""Prosody's SQLite store: where it is, how it is journalled, and the commands that read it.

Journal mode, chosen by measurement (README, Benchmarks; benchmarks/load/run-vm): **WAL with
synchronous=FULL**. Prosody 13 opens the store through LuaSQLite3 (Debian's lua-lsqlite3) and
leaves SQLite's settings alone (``sqlite_tune = "default"``), so each write is one appended,
fsynced WAL frame instead of the rollback journal's copy-then-overwrite with its several fsyncs.
synchronous stays SQLite's compiled default, FULL: a committed write is on disk before Prosody
goes on, so neither ``kill -9`` nor a power cut loses an archived message
(tests/vm/test_41_store_crash_safety.py). Prosody's ``sqlite_tune = "normal"`` would give WAL too,
but with synchronous=NORMAL, which may drop the last seconds of commits on a power cut.

WAL is a property of the database file (its header), not of a connection, so the deploy sets it
once (``wal_command``): on a fresh host before Prosody's first start creates the file (an empty
database created in WAL mode stays in it), and after a restore or an adopt brought in a file in
the rollback mode of 0.12 or of an older deploy (online, while Prosody runs: SQLite takes an
exclusive lock for a moment). It runs as the prosody user, so the file and its -wal/-shm side
files are Prosody's. (A root reader of a WAL store creates missing side files too; SQLite gives
them the database's owner.)
"""

import shlex

from eldwyn import prosody

DATABASE = f"{prosody.DATA_DIR}/prosody.sqlite"  # sql = { driver = "SQLite3", database = "prosody.sqlite" }
JOURNAL_MODE = "wal"

# Bytes 18 and 19 of an SQLite database header: the file format's write and read versions,
# 1 for the rollback journal, 2 for WAL (https://www.sqlite.org/fileformat.html, 1.3.4).
_HEADER_VERSIONS = {"1 1": "rollback", "2 2": "wal"}


def journal_mode_command(database=DATABASE):
    """A shell command printing ``journal <mode>`` (wal, rollback, or unknown) if the store
    exists, nothing otherwise. It reads the header's two bytes: no sqlite3, no lock, no side
    file created."""
    db = shlex.quote(database)
    return f'if [ -s {db} ]; then echo "journal $(od -An -tu1 -j18 -N2 {db} | xargs)"; fi'


def parse_journal_mode(line):
    """``journal_mode_command``'s output line → "wal", "rollback" or "unknown"."""
    return _HEADER_VERSIONS.get(line.removeprefix("journal ").strip(), "unknown")


def wal_command(database=DATABASE):
    """The shell command putting the store in WAL mode, creating it (empty) if it does not
    exist, as the prosody user with Prosody's umask (027: the store holds password hashes); it fails unless SQLite then reports WAL. Waits up to 20 s for
    a write of the running Prosody to finish."""
    db = shlex.quote(database)
    return (f"mode=$(umask 027 && runuser -u prosody -- sqlite3 -batch -noheader -cmd '.timeout 20000' {db}"
            f" 'PRAGMA journal_mode=WAL;') && [ \"$mode\" = {JOURNAL_MODE} ]"
            f' || {{ echo "could not put {database} in WAL mode: ${{mode:-no answer}}" >&2; exit 1; }}')

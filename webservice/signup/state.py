"""The service's only state: one small SQLite file in systemd's StateDirectory.

Two tables, shared by all gunicorn workers (each write is one short IMMEDIATE transaction):
  hits(bucket, at)      recent attempts, for the rate limits; rows older than the window go
  used(nonce, expires)  e-mail verification links already followed (single use)
Buckets never hold an e-mail address in clear: callers pass a keyed hash.
"""

import sqlite3
import time
from contextlib import closing
from pathlib import Path

FILE_NAME = "signup.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS hits (bucket TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS hits_bucket_at ON hits (bucket, at);
CREATE INDEX IF NOT EXISTS hits_at ON hits (at);
CREATE TABLE IF NOT EXISTS used (nonce TEXT PRIMARY KEY, expires REAL NOT NULL);
"""


class State:
    def __init__(self, directory, clock):
        self.path = Path(directory) / FILE_NAME
        self.clock = clock
        self.longest_window = 86400
        self._initialise()

    # Every gunicorn worker runs this as it starts. On a new file two of them race to switch it
    # to WAL, and SQLite may answer one "database is locked" at once instead of waiting (seen on
    # the emulated test bed's first start: that worker failed, and gunicorn with it). The loser
    # tries again, for a bounded time; any other error is raised at once.
    INITIALISE_SECONDS = 30

    def _initialise(self):
        deadline = time.monotonic() + self.INITIALISE_SECONDS
        while True:
            try:
                with closing(self._connect()) as db:
                    db.execute("PRAGMA journal_mode=WAL")
                    db.executescript(_SCHEMA)
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.2)

    def _connect(self):
        return sqlite3.connect(self.path, timeout=10, isolation_level=None)

    def hit(self, bucket, attempts, window_seconds):
        """Count one attempt in ``bucket``; False (and not counted) if the limit is reached."""
        now = self.clock()
        with closing(self._connect()) as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute("DELETE FROM hits WHERE at < ?", (now - max(self.longest_window, window_seconds),))
                (count,) = db.execute(
                    "SELECT COUNT(*) FROM hits WHERE bucket = ? AND at > ?", (bucket, now - window_seconds)
                ).fetchone()
                allowed = count < attempts
                if allowed:
                    db.execute("INSERT INTO hits (bucket, at) VALUES (?, ?)", (bucket, now))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return allowed

    def give_back(self, bucket):
        """Forget the latest attempt counted in ``bucket`` (one that did not happen after all,
        such as a message that could not be sent)."""
        with closing(self._connect()) as db:
            db.execute("DELETE FROM hits WHERE rowid = (SELECT rowid FROM hits WHERE bucket = ?"
                       " ORDER BY at DESC LIMIT 1)", (bucket,))

    def use_once(self, nonce, expires):
        """Mark ``nonce`` used; False if it already was."""
        now = self.clock()
        with closing(self._connect()) as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute("DELETE FROM used WHERE expires < ?", (now,))
                try:
                    db.execute("INSERT INTO used (nonce, expires) VALUES (?, ?)", (nonce, expires))
                    fresh = True
                except sqlite3.IntegrityError:
                    fresh = False
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return fresh

    def was_used(self, nonce):
        with closing(self._connect()) as db:
            return db.execute("SELECT 1 FROM used WHERE nonce = ?", (nonce,)).fetchone() is not None

"""What SQLite itself writes for one archived stanza, by page size, checkpoint interval and
synchronous setting: the floor under the load benchmark's "bytes written per message".

Prosody's archive append is one transaction (a DELETE that matches nothing, then an INSERT) into
the table ``prosodyarchive``, which has four indexes besides its rowid and AUTOINCREMENT counter.
This replays that transaction COUNT times, with the schema read from the deployed store itself
(``sqlite3 .schema``), Prosody's key form (time-ordered UUIDs), 1,000 users, and one stanza of
the size the load benchmark sends. For each setting it reports the bytes this process made the
kernel write (``/proc/self/io`` write_bytes, what the load benchmark counts for Prosody) and the
WAL frames each transaction appended: those frames are written whatever else is tuned.

    .venv/bin/python benchmarks/load/sqlite_pages.py [COUNT]   # in the test-bed VM (default 6000)
    python3 sqlite_pages.py --here COUNT STORE REALM           # on this machine, from STORE's schema

The figures are per archived copy; compare them with internal storage's bytes per copy in the
load benchmark's ratio table (same VM).
"""

import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

USERS = 1000
# A chat message of about the size of the load benchmark's (xmppload.py), as Prosody
# serialises it into the archive (with its stanza-id and delay added on the way in).
STANZA = ("<message xmlns='jabber:client' type='chat' id='%s' to='user%04d@%s'"
          " from='user%04d@%s/load'><body>%s</body>"
          "<stanza-id xmlns='urn:xmpp:sid:0' by='user%04d@%s' id='%s'/></message>")
# (page_size, wal_autocheckpoint, synchronous): SQLite's defaults as deployed first, then what
# could be set when a store is created (page_size) or on Prosody's connection (the other two).
SETTINGS = [(4096, 1000, "FULL"), (4096, 1000, "NORMAL"), (1024, 1000, "FULL"),
            (512, 1000, "FULL"), (4096, 0, "FULL"), (1024, 0, "FULL"), (512, 0, "FULL"),
            (512, 0, "NORMAL")]


def written_bytes():
    with open("/proc/self/io") as io:
        return next(int(line.split()[1]) for line in io if line.startswith("write_bytes:"))


def archive_schema(store):
    """Prosody's own CREATE statements for prosodyarchive, from the deployed store."""
    out = subprocess.run(["sqlite3", "-readonly", "-batch", store, ".schema prosodyarchive"],
                         capture_output=True, text=True, check=True).stdout
    if "CREATE TABLE" not in out or out.count("CREATE INDEX") + out.count("CREATE UNIQUE INDEX") < 1:
        raise SystemExit(f"no prosodyarchive schema in {store}: {out!r}")
    return out


def time_ordered_key(rng, sequence):
    return f"{int(time.time() * 1000) + sequence:012x}-7{rng.getrandbits(12):03x}-{rng.getrandbits(64):016x}"


def replay(directory, schema, realm, count, page_size, autocheckpoint, synchronous):
    path = Path(directory) / f"archive-{page_size}-{autocheckpoint}-{synchronous}.sqlite"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute(f"PRAGMA page_size={page_size}")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={synchronous}")
    db.execute(f"PRAGMA wal_autocheckpoint={autocheckpoint}")  # 0: never during the run
    db.executescript(schema)
    rng = random.Random(1)
    os.sync()
    before, started = written_bytes(), time.monotonic()
    for sequence in range(count):
        sender, recipient = rng.randrange(USERS), rng.randrange(USERS)
        key = time_ordered_key(rng, sequence)
        value = STANZA % (key[:16], recipient, realm, sender, realm, "x" * 64, sender, realm, key)
        user = f"user{sender:04d}"  # one archived copy per transaction, as Prosody appends
        db.execute("BEGIN")
        db.execute('DELETE FROM "prosodyarchive" WHERE "host"=? AND "user"=? AND "store"=? AND "key"=?',
                   (realm, user, "archive", key))
        db.execute('INSERT INTO "prosodyarchive" ("host", "user", "store", "when", "with", "key", "type", "value")'
                   " VALUES (?,?,?,?,?,?,?,?)",
                   (realm, user, "archive", 1765000000 + sequence, f"user{recipient:04d}@{realm}", key, "xml", value))
        db.execute("COMMIT")
    seconds = time.monotonic() - started
    wal_bytes = path.with_name(path.name + "-wal").stat().st_size
    db.close()  # the last connection checkpoints and removes the WAL
    os.sync()
    for suffix in ("", "-wal", "-shm"):  # the next setting starts on an empty disk budget
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    return {"page_size": page_size, "wal_autocheckpoint": autocheckpoint, "synchronous": synchronous,
            "bytes_per_copy": (written_bytes() - before) / count,
            "wal_frames_per_copy": wal_bytes / (page_size + 24) / count if not autocheckpoint else None,
            "copies_per_s": count / seconds, "value_bytes": len(value)}


def here(count, store, realm):
    schema = archive_schema(store)
    print(f"# sqlite_pages: {count} archive appends each, SQLite {sqlite3.sqlite_version}, schema from {store}")
    print(f"{'page':>5} {'autockpt':>8} {'sync':>6} {'KiB/copy':>9} {'frames/copy':>11} {'copies/s':>9}")
    with tempfile.TemporaryDirectory(dir="/var/tmp", prefix="eldwyn-sqlite-pages-") as directory:
        for page_size, autocheckpoint, synchronous in SETTINGS:
            r = replay(directory, schema, realm, count, page_size, autocheckpoint, synchronous)
            frames = f"{r['wal_frames_per_copy']:.1f}" if r["wal_frames_per_copy"] else "-"
            print(f"{page_size:>5} {autocheckpoint or 'never':>8} {synchronous:>6}"
                  f" {r['bytes_per_copy'] / 1024:>9.1f} {frames:>11} {r['copies_per_s']:>9.0f}", flush=True)
    print(f"# stanza value: {r['value_bytes']} bytes; autockpt 'never': no checkpoint until the end")


def in_the_vm(count):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))
    from bench import REPO, RESULTS, stamp
    from eldwyn.store import DATABASE
    from tests.testbed import config_for_testbed, write_ssh_config
    with tempfile.TemporaryDirectory() as directory:
        ssh_config = write_ssh_config(Path(directory) / "config")
        with open(__file__) as script:
            run = subprocess.run(["ssh", "-F", str(ssh_config), "eldwyn-vm",
                                  f"sudo python3 - --here {count} {DATABASE} {config_for_testbed().realm}"],
                                 stdin=script, capture_output=True, text=True)
    sys.stdout.write(run.stdout)
    sys.stderr.write(run.stderr)
    if run.returncode == 0:
        RESULTS.mkdir(parents=True, exist_ok=True)
        out = RESULTS / f"{stamp()}-sqlite-pages.txt"
        out.write_text(run.stdout)
        print(f"# written to {out.relative_to(REPO) if out.is_relative_to(REPO) else out}")
    return run.returncode


if __name__ == "__main__":
    arguments = sys.argv[1:]
    if arguments[:1] == ["--here"]:
        here(int(arguments[1]), arguments[2], arguments[3])
    else:
        sys.exit(in_the_vm(int(arguments[0]) if arguments else 6000))

-- eldwyn-xmpp load benchmark, storage variant "sql-wal-full". See prosody-bench-common.cfg.lua.
-- SQLite in WAL mode with synchronous=FULL: no sqlite_tune (so Prosody sets no pragma and its
-- connection keeps the compiled synchronous, FULL by SQLite's default), but run-chroot
-- creates the store in WAL mode before Prosody starts, with the line below (run by sqlite3
-- as the prosody user on <data_path>/prosody.sqlite). journal_mode=WAL is kept in the file.
-- bench-create-store: PRAGMA journal_mode=WAL;
storage = "sql"
sql = { driver = "SQLite3", database = "prosody.sqlite" }
data_path = "/var/lib/prosody-bench/sql-wal-full"
pidfile = "/var/lib/prosody-bench/sql-wal-full/prosody.pid"
log = {
	info = "/var/log/prosody/bench-sql-wal-full.log";
	error = "/var/log/prosody/bench-sql-wal-full.err";
}
Include "prosody-bench-common.cfg.lua"

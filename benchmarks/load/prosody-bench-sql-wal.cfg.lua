-- eldwyn-xmpp load benchmark, storage variant "sql-wal". See prosody-bench-common.cfg.lua.
-- SQLite as in "sql", tuned by Prosody: sqlite_tune = "normal" makes mod_storage_sql set
-- journal_mode=WAL (kept in the file), auto_vacuum=FULL (no effect on a store that has its
-- tables already, as here: the run records auto_vacuum=0) and synchronous=NORMAL (on its own
-- connection only) when it connects. This needs LuaSQLite3 (lua-lsqlite3): through LuaDBI
-- the pragmas run inside a transaction and change nothing.
storage = "sql"
sql = { driver = "SQLite3", database = "prosody.sqlite" }
sqlite_tune = "normal"
data_path = "/var/lib/prosody-bench/sql-wal"
pidfile = "/var/lib/prosody-bench/sql-wal/prosody.pid"
log = {
	info = "/var/log/prosody/bench-sql-wal.log";
	error = "/var/log/prosody/bench-sql-wal.err";
}
Include "prosody-bench-common.cfg.lua"

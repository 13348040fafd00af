-- eldwyn-xmpp load benchmark, storage variant "sql". See prosody-bench-common.cfg.lua.
-- One SQLite file, as templates/etc/prosody/prosody.cfg.lua.j2 names it, with no sqlite_tune
-- and a store Prosody creates itself, so SQLite runs with its defaults: rollback journal
-- (journal_mode=delete) and synchronous as compiled (FULL, SQLite's default). Prosody 13 uses
-- LuaSQLite3 (lua-lsqlite3) for SQLite when it is installed.
storage = "sql"
sql = { driver = "SQLite3", database = "prosody.sqlite" }
data_path = "/var/lib/prosody-bench/sql"
pidfile = "/var/lib/prosody-bench/sql/prosody.pid"
log = {
	info = "/var/log/prosody/bench-sql.log";
	error = "/var/log/prosody/bench-sql.err";
}
Include "prosody-bench-common.cfg.lua"

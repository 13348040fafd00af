-- eldwyn-xmpp load benchmark, storage variant "sql". See prosody-bench-common.cfg.lua.
-- The production storage: one SQLite file (as templates/etc/prosody/prosody.cfg.lua.j2),
-- with no sqlite_tune, so SQLite runs with its defaults (rollback journal, synchronous=FULL).
-- (SQLITE_TUNE=normal makes run-chroot add `sqlite_tune`; with Debian's LuaDBI driver it has
-- no effect: Prosody cannot change the journal mode inside LuaDBI's implicit transaction.)
storage = "sql"
sql = { driver = "SQLite3", database = "prosody.sqlite" }
data_path = "/var/lib/prosody-bench/sql"
pidfile = "/var/lib/prosody-bench/sql/prosody.pid"
log = {
	info = "/var/log/prosody/bench-sql.log";
	error = "/var/log/prosody/bench-sql.err";
}
Include "prosody-bench-common.cfg.lua"

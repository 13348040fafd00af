-- eldwyn-xmpp load benchmark: what all storage variants share.
-- Included by each variant's prosody-bench-<variant>.cfg.lua (sql, sql-wal, sql-wal-full,
-- internal), which sets only `storage` (with `sql` and `sqlite_tune` for SQLite), `data_path`,
-- `pidfile` and the log files, then includes this file.
-- run-chroot copies these files to /etc/prosody/bench/ inside its chroot.

-- Only what a c2s message load goes through, plus the shell used to create the accounts.
modules_enabled = {
	"roster"; "saslauth"; "tls"; "disco"; "carbons"; "mam"; "ping";
	"limits";       -- loaded as in production, with a rate that does not throttle the load
	"admin_shell";  -- prosodyctl shell, to create the accounts
}
-- No s2s (nothing leaves loopback); offline storage is loaded by default and stays.
modules_disabled = { "s2s" }

network_backend = "epoll"  -- Prosody 13's default, stated: 1,000+ sockets
c2s_ports = { 25222 }
c2s_interfaces = { "127.0.0.1" }
c2s_require_encryption = true
limits = {
	c2s = { rate = "10mb/s"; burst = "2s" };
}

authentication = "internal_hashed"  -- as in production (SCRAM-SHA-1 offered)

-- Archive every one-to-one message, as production does (true is Prosody's default too).
default_archive_policy = true

VirtualHost "load.test"
ssl = {
	certificate = "/etc/prosody/bench/certs/load.test.crt";
	key = "/etc/prosody/bench/certs/load.test.key";
}

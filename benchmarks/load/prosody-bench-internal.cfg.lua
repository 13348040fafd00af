-- eldwyn-xmpp load benchmark, storage variant "internal". See prosody-bench-common.cfg.lua.
-- Prosody's default storage: one file per user and store under data_path.
storage = "internal"
data_path = "/var/lib/prosody-bench/internal"
pidfile = "/var/lib/prosody-bench/internal/prosody.pid"
log = {
	info = "/var/log/prosody/bench-internal.log";
	error = "/var/log/prosody/bench-internal.err";
}
Include "prosody-bench-common.cfg.lua"

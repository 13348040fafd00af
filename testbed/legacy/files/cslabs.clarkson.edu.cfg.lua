local function _ssl_config(name) return {
	certificate = "/var/lib/prosody/" .. name .. ".crt",
	key = "/var/lib/prosody/" .. name .. ".key",
}
end

VirtualHost "cslabs.clarkson.edu"

modules_enabled = {
	"iq",  -- Core protocol
	-- Transport:
	"tls",
	"s2s",  -- Server to server
	"c2s",  -- Client to server
	"websocket",

	-- Authentication providers:
	"saslauth",
	"tokenauth",
	"legacyauth",  -- not recommended but needed by some bots
	"dialback",  -- S2S authentication mechanism

	-- Useful features:
	"roster",  -- a.k.a. "friends lists"
	"mam",  -- Remember ("archive") messages while offline
	"muc_mam",  -- Do that in chatrooms, too
	"carbons",  -- Send synchronized copies to other user endpoints
	"admin_adhoc",  -- Administration commands
	"admin_shell",  -- Local administration commands and RCE
	"announce",
	"blocklist",  -- Remember and synchronize blocked users for clients
	"private",  -- XML "private storage", e.g. bookmarks
	"disco",  -- Service discovery
	"smacks",  -- Stanza "acks", useful for clients on finicky networks
	"cloud_notify",  -- Push notifications, for such clients
	"cloud_notify_extensions",  -- For certain iOS clients
	"csi_simple",  -- Allow mobile clients to request throttling
	"tombstones",  -- Deletion records, kept around for sync
	"uptime",
	"version",
	"presence",
	"ping",  -- Latency discovery
	"time",
	"pep",  -- Client published broadcasts, e.g. status, activity...
	"invites",  -- Allow invitations to accounts/friends
	"invites_adhoc",  -- Clientside commands to make invites
	"invites_register",  -- Allow registration with a user invite token
	"register",  -- New user registration
	"groups",  -- "Shared rosters", server configured
	"server_contact_info",  -- (Automatically publishes admins)
	"vcard4",  -- "vCards", user-owned self descriptions
}
-- authentication = "ldap"  -- Eventually...
-- authentication = "cyrus"  -- Or perhaps this
-- eldwyn test bed: the page's list is a placeholder ("Not the real list"); the test bed
-- needs a real admin JID. Was: admins = { "example@cslabs.clarkson.edu" }
admins = { "admin@cslabs.clarkson.edu" }
storage = "sql"
archive_expires_after = "never"
muc_log_presences = true
muc_log_expires_after = "never"
disco_items = {
	{"muc.comm.cslabs.clarkson.edu", "Multi-User Conference service"},
	{"pubsub.comm.cslabs.clarkson.edu", "Publish/Subscribe Framework service"},
	{"proxy.comm.cslabs.clarkson.edu", "Mediated SOCKS Proxy service"},
	{"upload.comm.cslabs.clarkson.edu", "HTTP File Sharing service"},
}
groups_file = "/var/lib/prosody/groups.txt"
ssl = _ssl_config("cslabs.clarkson.edu")
-- eldwyn test bed: 0.12.3 does not use `ssl` for HTTPS (5281: websocket here), so as written
-- the TLS handshake on 5281 fails. For HTTPS it looks the certificate up by name
-- (core/portmanager.lua add_sni_host, core/certmanager.lua find_host_cert), which finds this.
-- (`https_ssl` here works too, but `prosodyctl check config` calls it misplaced.)
certificate = "/var/lib/prosody/cslabs.clarkson.edu.crt"
-- Registration settings: be careful, or the spambots will proliferate
allow_registration = true
registration_invite_only = true

Component "muc.comm.cslabs.clarkson.edu" "muc"
ssl = _ssl_config("muc.comm.cslabs.clarkson.edu")
Component "pubsub.comm.cslabs.clarkson.edu" "pubsub"
ssl = _ssl_config("pubsub.comm.cslabs.clarkson.edu")
Component "proxy.comm.cslabs.clarkson.edu" "proxy65"
ssl = _ssl_config("proxy.comm.cslabs.clarkson.edu")
Component "upload.comm.cslabs.clarkson.edu" "http_file_share"
ssl = _ssl_config("upload.comm.cslabs.clarkson.edu")
-- eldwyn test bed: as above; without it 5281 has no certificate and no upload works.
certificate = "/var/lib/prosody/upload.comm.cslabs.clarkson.edu.crt"
http_file_share_size_limit = 128 * 1024 * 1024
-- eldwyn test bed: 0.12.3 wants a number here ("never" is logged as not understood and
-- mod_http_file_share then fails to load); a negative number means never expire.
-- Was: http_file_share_expires_after = "never"
http_file_share_expires_after = -1

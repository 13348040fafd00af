"""Eldwyn's XMPP service, as data. Every key is documented here, where it is defined.

pyinfra turns every public name in this file into host data, so: plain values only, and any
import must be aliased with a leading underscore. eldwyn/config.py checks all of it before the
deploy touches a host; group_data/testbed.py and production.py override what differs there.
Reference: the operators' page (shared/mission/xmpp.md), with its known mistakes corrected.
"""

# ---- Realm and people ------------------------------------------------------------------------

# The XMPP domain: JIDs are user@<realm>, and it is Prosody's one VirtualHost.
xmpp_realm = "cslabs.clarkson.edu"

# Server admins: bare JIDs in the realm. They get the prosody:operator role, are published as
# contacts (XEP-0157, server_contact_info) and are created by the deploy if missing, with a
# password from the secrets store. Placeholder: production.py sets the real list.
xmpp_admins = [
    "admin@cslabs.clarkson.edu",
]

# Other accounts the deploy creates if missing (passwords from the secrets store, never here).
# Existing accounts are never touched. Real users register with invites instead.
xmpp_accounts = []

# Shared rosters (mod_groups), rendered to /var/lib/prosody/groups.txt:
# group name -> members, each {"jid": bare JID, "name": name shown in rosters}. Members need
# not be seeded accounts (users created later by invite can be listed), nor even local.
xmpp_shared_roster_groups = {
    "Admins": [
        {"jid": "admin@cslabs.clarkson.edu", "name": "Server admin"},
    ],
}

# ---- Packages --------------------------------------------------------------------------------

# Debian 13 packages the service needs: Prosody, the community modules (cloud_notify_extensions),
# the SQLite driver for storage = "sql", and lua-unbound, Prosody's recommended DNS resolver.
# lua5.4 brings luac5.4, with which the deploy checks the config's syntax before using it;
# sqlite3 lets the deploy (and operators) read the account store.
prosody_packages = ["prosody", "prosody-modules", "lua-dbi-sqlite3", "lua-unbound", "lua5.4", "sqlite3"]

# ---- Modules ---------------------------------------------------------------------------------

# Loaded server-wide (global modules_enabled in prosody.cfg.lua), so on the realm; components
# inherit only the transport ones (tls, dialback, s2s, saslauth, smacks, server_contact_info).
# Names are checked against eldwyn/prosody.py. Module-only-for-MUC ones (muc_mam) go in the
# MUC component below. The page's list, plus bosh, minus muc_mam.
xmpp_modules_enabled = [
    "iq",  # Core protocol (autoloaded anyway)
    # Transport:
    "tls",
    "s2s",  # Server to server
    "c2s",  # Client to server
    "bosh",  # XMPP over HTTP long polling, at /http-bind (missing from the page)
    "websocket",  # XMPP over websockets, at /xmpp-websocket
    # Authentication providers:
    "saslauth",
    "tokenauth",
    "legacyauth",  # not recommended but needed by some bots
    "dialback",  # S2S authentication mechanism
    # Useful features:
    "roster",  # a.k.a. "friends lists"
    "mam",  # Remember ("archive") messages while offline
    "carbons",  # Send synchronized copies to other user endpoints
    "admin_adhoc",  # Administration commands
    "admin_shell",  # Local administration: prosodyctl shell
    "announce",
    "blocklist",  # Remember and synchronize blocked users for clients
    "private",  # XML "private storage", e.g. bookmarks
    # The old Eldwyn had these two from Debian's global config (the page's list adds to it):
    # without them its users' Pidgin bookmarks and avatars would vanish in the move.
    "bookmarks",  # XEP-0048 bookmarks (private storage) and XEP-0402 (PEP) kept in step
    "vcard_legacy",  # vCard-temp (older clients, Pidgin's avatars) kept in step with PEP vCard4/avatars
    "disco",  # Service discovery
    "smacks",  # Stanza "acks", useful for clients on finicky networks
    "cloud_notify",  # Push notifications, for such clients
    "cloud_notify_extensions",  # For certain iOS clients (Debian package prosody-modules)
    "csi_simple",  # Allow mobile clients to request throttling
    "tombstones",  # Deletion records, kept around for sync
    "uptime",
    "version",
    "presence",
    "ping",  # Latency discovery
    "time",
    "pep",  # Client published broadcasts, e.g. status, activity...
    "invites",  # Allow invitations to accounts/friends
    "invites_adhoc",  # Clientside commands to make invites
    "invites_register",  # Registration with an invite token; without it, registration is OPEN
    # Ours (files/usr/local/lib/prosody/modules/): one invite, one account, whatever the client;
    # reset tokens never create accounts; named invites register only their name.
    "invites_register_strict",
    "invites_api",  # HTTP API the signup webservice creates invites with (prosody-modules)
    "register",  # New user registration (invite only: the template enforces it)
    "groups",  # "Shared rosters", server configured (xmpp_shared_roster_groups)
    "server_contact_info",  # Publishes the admins (XEP-0157)
    "vcard4",  # "vCards", user-owned self descriptions
]

# How long the realm keeps users' message archives (mod_mam): "never" (keep forever), or a
# period such as "1w", "30d", "6 months", or a number of seconds.
xmpp_archive_expires_after = "never"

# ---- Components ------------------------------------------------------------------------------

# The realm's services. Each: "name" (a host name inside the realm), "type" (muc, pubsub,
# proxy65 or http_file_share), "description" (its name in the realm's service list), optional
# "modules" (loaded on this component only) and "options" (Prosody options for this component;
# the accepted ones per type are listed in eldwyn/config.py, COMPONENT_OPTIONS).
# The templates add parent_host = realm and the certificate paths to every component.
xmpp_components = [
    {
        "name": "muc.comm.cslabs.clarkson.edu",
        "type": "muc",
        "description": "Multi-User Conference service",
        "modules": ["muc_mam"],  # room history; only valid on a MUC component
        "options": {
            "muc_log_presences": True,  # archive joins and leaves too
            "muc_log_expires_after": "never",  # room history retention, same syntax as above
        },
    },
    {
        "name": "pubsub.comm.cslabs.clarkson.edu",
        "type": "pubsub",
        "description": "Publish/Subscribe Framework service",
    },
    {
        "name": "proxy.comm.cslabs.clarkson.edu",
        "type": "proxy65",
        "description": "Mediated SOCKS Proxy service",
    },
    {
        "name": "upload.comm.cslabs.clarkson.edu",
        "type": "http_file_share",
        "description": "HTTP File Sharing service",
        "options": {
            "http_file_share_size_limit": 128 * 1024 * 1024,  # bytes per file
            "http_file_share_expires_after": "never",  # Prosody 13 reads "never" as no expiry
            # Prosody's default daily quota is 10 files' worth; keep that explicit.
            "http_file_share_daily_quota": 10 * 128 * 1024 * 1024,
        },
    },
]

# ---- Network ---------------------------------------------------------------------------------

# TCP ports per Prosody service (global *_ports options). Ports below 1024 are refused:
# Prosody runs as user prosody. BOSH, websocket and uploads are HTTP paths on http/https;
# 5000 is proxy65's (the page wrongly calls it BOSH's).
xmpp_ports = {
    "c2s": [5222],  # clients, STARTTLS
    "s2s": [5269],  # other servers
    "http": [5280],  # plain HTTP: /http-bind, /xmpp-websocket, /file_share
    "https": [5281],  # the same over TLS
    "proxy65": [5000],  # file transfer proxy (XEP-0065)
}

# Addresses plain HTTP listens on. Prosody's default is loopback only, which would hide BOSH,
# websocket and uploads on 5280 from clients: "*" is all IPv4, "::" all IPv6.
xmpp_http_interfaces = ["*", "::"]

# Debian packages that keep the firewall across reboots: netfilter-persistent loads
# /etc/iptables/rules.v4 and rules.v6 at boot (iptables-persistent is its iptables plugin).
firewall_packages = ["iptables", "netfilter-persistent", "iptables-persistent"]

# TCP ports the firewall opens for XMPP: exactly the ports of xmpp_ports (checked), i.e. the
# page's rule plus 5281, so that HTTPS (BOSH, websocket, uploads over TLS) is reachable.
firewall_xmpp_tcp_ports = [5000, 5222, 5269, 5280, 5281]

# Other TCP ports this host serves (the firewall file is the whole host's INPUT policy).
# SSH (22) is always open and must not be listed. 80 and 443 are nginx's, for the sign-up
# site below (checked: they must be here).
firewall_other_tcp_ports = [80, 443]

# ---- Certificates ----------------------------------------------------------------------------

# Common name of the local certificate authority that issues one certificate per XMPP name
# (the realm and each component) at /var/lib/prosody/<name>.crt and .key.
tls_ca_common_name = "Eldwyn XMPP local CA"

# Days the CA certificate is valid; must outlast the certificates it issues.
tls_ca_validity_days = 3650

# Days an issued certificate is valid (at most 825: Apple clients refuse longer ones).
tls_certificate_validity_days = 365

# A certificate is re-issued when fewer than this many days remain (or its names changed).
tls_renew_before_days = 30

# Operator-supplied certificates instead of the local CA's, per name (e.g. from certbot):
# {"cslabs.clarkson.edu": {"certificate": "/path/fullchain.pem", "key": "/path/privkey.pem"}}.
# Paths are on the operator's machine; the deploy uploads them to the paths above.
tls_certificate_files = {}

# The old Eldwyn's certificates, after a restore of a backup made by operator_tasks/adopt.py
# (the restore keeps them in the secrets store as adopted-tls-<name>.crt/.key): True serves each
# one for its name while it names it, its key matches, and more than tls_renew_before_days days
# are left, so that clients that trusted the old server keep trusting the new one; then (or with
# False) the local CA issues that name's certificate as usual. tls_certificate_files wins.
tls_keep_adopted_certificates = True

# ---- Secrets ---------------------------------------------------------------------------------

# Directory holding the CA key and account passwords, outside any git work tree, mode 0700.
# The environment variable ELDWYN_SECRETS_DIR overrides it.
secrets_dir = "~/.local/share/eldwyn-xmpp/secrets"

# ---- Backup and restore (operator_tasks/backup.py, tasks/restore.py) ----------------------------
# Backups are pulled here, one directory per host and time (mode 0700: they hold the secrets
# too). Outside any git work tree, like secrets_dir.
backup_dir = "~/.local/share/eldwyn-xmpp/backups"

# A backup directory to restore when deploying to a fresh host (e.g. on the command line:
# --data backup_restore_from=~/.local/share/eldwyn-xmpp/backups/eldwyn/20261130T120000Z).
# It is checked whole before any host is contacted; it is restored before Prosody starts with
# our config, and only onto a host whose store has no account yet (never over live data).
backup_restore_from = None

# ---- Registration webservice (webservice/signup) ---------------------------------------------
# Invite links (https://SITE/join/TOKEN) and sign-up by e-mail, served by gunicorn on loopback
# behind nginx (TLS on 443, 80 redirects). Its secrets (the signing key, the SMTP password) are
# in the secrets store as signup-secret-key and signup-smtp-password, never here.

# The public host name of the site (comm's website): nginx's server_name, its certificate's
# name (issued by our CA unless tls_certificate_files supplies one), the links in e-mails.
signup_site_name = "comm.cslabs.clarkson.edu"

# TCP port gunicorn listens on, on 127.0.0.1 only (nginx proxies to it); not a Prosody port.
signup_listen_port = 8008

# Debian 13 packages the webservice needs: Flask, gunicorn to run it, nginx in front.
signup_packages = ["python3-flask", "gunicorn", "nginx"]

# Only addresses at exactly these domains may sign up (a subdomain is another domain).
signup_allowed_email_domains = ["clarkson.edu"]

# User names nobody may register, as Prosody stores them (lower case). The admins' and seeded
# accounts' names are added to these automatically.
signup_reserved_usernames = [
    "admin", "administrator", "root", "postmaster", "hostmaster", "abuse", "webmaster", "xmpp",
    "support", "security", "noc", "info", "help", "prosody", "www", "mail", "noreply", "operator",
]

# The password rule shown on the form: at least this many characters (12 or more), at least 5
# different characters, and not containing the username.
signup_min_password_length = 12

# Seconds an invite made by the webservice (after an e-mail address is verified) stays valid.
signup_invite_expiry_seconds = 24 * 3600

# Seconds the one-time verification link sent by e-mail stays valid.
signup_verification_expiry_seconds = 3600

# Attempts allowed per sliding window. per_address: every form sent and every invite or link
# checked, per client IP address (IPv6: per /64); per_email: verification messages per address.
signup_rate_limits = {
    "per_address": {"attempts": 30, "window_seconds": 600},
    "per_email": {"attempts": 3, "window_seconds": 24 * 3600},
}

# How the verification e-mail is sent: SMTP server and port; STARTTLS (required when a username
# is set, unless the host is localhost); username for SMTP AUTH or None (the password is the
# secret signup-smtp-password); the From address. Placeholder: a relay on the host itself.
signup_smtp = {
    "host": "localhost",
    "port": 25,
    "starttls": False,
    "username": None,
    "from_address": "noreply@comm.cslabs.clarkson.edu",
}

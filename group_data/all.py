"""Eldwyn's XMPP service, as data: the values that are Eldwyn's own.

Every key, with its type, bounds, default and meaning, is declared once in eldwyn/schema/data.py
(and listed in docs/data-keys.md); a key not set here has its default there. pyinfra turns every
public name in this file into host data, so: plain values only, and any import must be aliased
with a leading underscore. eldwyn/config.py checks all of it before anything changes on a host;
group_data/testbed.py and production.py override what differs there.
Reference: the operators' page (shared/mission/xmpp.md), with its known mistakes corrected.
"""

# ---- Realm and people ------------------------------------------------------------------------

xmpp_realm = "cslabs.clarkson.edu"

# Placeholder: production.py sets the real list.
xmpp_admins = [
    "admin@cslabs.clarkson.edu",
]

xmpp_shared_roster_groups = {
    "Admins": [
        {"jid": "admin@cslabs.clarkson.edu", "name": "Server admin"},
    ],
}

# ---- Modules ---------------------------------------------------------------------------------

# The page's list, plus bosh, minus muc_mam (it goes in the MUC component below).
xmpp_modules_enabled = [
    "iq",  # Core protocol (autoloaded anyway)
    # Transport:
    "tls",
    "s2s",  # Server to server
    "c2s",  # Client to server
    "bosh",  # XMPP over HTTP long polling, at /http-bind (missing from the page)
    "websocket",  # XMPP over websockets, at /xmpp-websocket
    # XEP-0156 (/.well-known/host-meta): how web clients find the websocket. It lists the site's
    # wss://comm.cslabs.clarkson.edu/xmpp-websocket, where nginx proxies it (see the realm's template).
    "http_altconnect",
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
    "limits",  # Bandwidth per connection (xmpp_limits); Debian's stock config has it, the page's list not
    "tombstones",  # Deletion records, kept around for sync
    "uptime",
    "http_openmetrics",  # Health: statistics at /metrics, for loopback only (see the template)
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
    # Ours: a new account may not look like an existing one ("аlice" with a Cyrillic а, "a1ice").
    "register_lookalike_names",
    "invites_register_form",  # Ours: tells clients which account a named or reset invite is for
    "invites_api",  # HTTP API the signup webservice creates invites with (prosody-modules)
    "register",  # New user registration (invite only: the template enforces it)
    "groups",  # "Shared rosters", server configured (xmpp_shared_roster_groups)
    "server_contact_info",  # Publishes the admins (XEP-0157)
    "vcard4",  # "vCards", user-owned self descriptions
    "turn_external",  # Audio/video calls: tells the realm's users where coturn is (turn_*, below)
]

# ---- Components ------------------------------------------------------------------------------

# The options each type accepts are declared in eldwyn/schema/data.py (COMPONENT_OPTIONS).
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
        "options": {
            # The realm's users (prosody:registered here) may create nodes and own them; users of
            # other servers (prosody:guest) may not. Prosody 13 alone allows admins only.
            "add_permissions": {"prosody:registered": ["pubsub:create-node"]},
        },
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
            # All uploads together, so that no one (nor all) can fill the disk: Prosody refuses
            # new uploads beyond it. Leave room for the store, the logs and the backups' work.
            "http_file_share_global_quota": 20 * 1024 * 1024 * 1024,
        },
    },
]

# ---- Audio and video calls (coturn, tasks/turn.py) --------------------------------------------

# Its own name (DNS record to Eldwyn, its own certificate): clients verify it for TURN over TLS.
turn_host = "turn.comm.cslabs.clarkson.edu"

# ---- Web client (tasks/web_client.py) ---------------------------------------------------------

# Converse.js at https://comm.cslabs.clarkson.edu/chat/, served from the host: one npm release,
# pinned. To update, set both (from `npm view converse.js@X.Y.Z dist.integrity`); the deploy
# refuses a tarball whose SHA-512 is not this integrity.
webclient_version = "14.0.0"
webclient_integrity = "sha512-LFUg030jDalV47vI/vyVPqYPZfJYXFbubq8v0cFDe2zXNeeGEk3Up0Fj/WTzT6t+6do+cAIToy73eAj7RNDj2Q=="

# ---- Registration webservice (webservice/signup) ---------------------------------------------

signup_site_name = "comm.cslabs.clarkson.edu"

signup_allowed_email_domains = ["clarkson.edu"]

# Placeholder: a relay on the host itself.
signup_smtp = {
    "host": "localhost",
    "port": 25,
    "starttls": False,
    "username": None,
    "from_address": "noreply@comm.cslabs.clarkson.edu",
}

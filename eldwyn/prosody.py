"""Facts about Prosody 13.0 as Debian 13 packages it, in one place.

The module names were read from the packages themselves (``dpkg -L prosody``); a name that is
not here is almost certainly a typo. Add a prosody-modules name here when the data starts using
it, and install the package that ships it.
"""

import re

# Where Debian's packages and our templates put things on the host.
CONFIG_DIR = "/etc/prosody"
DATA_DIR = "/var/lib/prosody"  # Prosody's data_path; also its working directory under systemd
GROUPS_FILE = f"{DATA_DIR}/groups.txt"
# The Prosody series Debian 13 ships (13.0.x): a store from a newer series is not restored.
TARGET_SERIES = (13, 0)
TARGET_SERIES_NAME = "13.0"

# mod_X shipped by the `prosody` package (13.0.1): modules/mod_X.lua or modules/mod_X/mod_X.lua,
# except muc, which lives in modules/muc/mod_muc.lua.
CORE_MODULES = frozenset(
    """
    account_activity admin_adhoc admin_shell admin_socket admin_telnet announce auth_anonymous
    auth_insecure auth_internal_hashed auth_internal_plain auth_ldap authz_internal blocklist
    bookmarks bosh c2s carbons cloud_notify component cron csi csi_simple debug_reset debug_sql
    dialback disco external_services flags groups http http_altconnect http_errors
    http_file_share http_files http_openmetrics invites invites_adhoc invites_register iq
    lastactivity legacyauth limits mam message mimicking motd muc muc_mam muc_unique
    net_multiplex offline pep pep_plus pep_simple ping posix presence private proxy65 pubsub
    register register_ibr register_limits roster s2s s2s_auth_certs s2s_auth_dane_in s2s_bidi
    saslauth scansion_record server_contact_info server_info smacks stanza_debug
    storage_internal storage_memory storage_none storage_sql storage_xep0227 time tls tokenauth
    tombstones turn_external unknown uptime user_account_management vcard vcard4 vcard_legacy
    version watchregistrations websocket welcome windows
    """.split()
)
# The ones we use from Debian's `prosody-modules` package (modules/mod_X/mod_X.lua).
COMMUNITY_MODULES = frozenset({"cloud_notify_extensions", "invites_api"})
# Our own, shipped from files/usr/local/lib/prosody/modules/ (mod_X.lua) to LOCAL_MODULE_DIR.
LOCAL_MODULE_DIR = "/usr/local/lib/prosody/modules"  # plugin_paths in prosody.cfg.lua.j2
# Lua libraries of ours, on Lua 5.4's own search path for the local admin (Debian's Prosody 13
# runs on Lua 5.4): files/usr/local/share/lua/5.4/.
LOCAL_LUA_DIR = "/usr/local/share/lua/5.4"
LOCAL_MODULES = frozenset({"invites_register_strict", "invites_register_form", "register_lookalike_names"})
KNOWN_MODULES = CORE_MODULES | COMMUNITY_MODULES | LOCAL_MODULES

# Component types: the module named in `Component "name" "type"`.
COMPONENT_TYPES = frozenset({"muc", "pubsub", "proxy65", "http_file_share"})
# Modules that only work on one kind of component (loading them elsewhere logs errors).
COMPONENT_ONLY_MODULES = {"muc_mam": "muc", "muc_unique": "muc"}

_MODULE_NAME = re.compile(r"[a-z0-9_]+\Z")

# Where Prosody 13 looks for mod_X (util/pluginloader.lua + util/startup.lua): the installer's
# directory first, then plugin_paths (our template sets LOCAL_MODULE_DIR), then Debian's module
# directory. In each directory the first of these relative paths that exists wins.
MODULE_DIRS = (f"{DATA_DIR}/custom_plugins", LOCAL_MODULE_DIR, "/usr/lib/prosody/modules")
_MODULE_FILE_PATTERNS = (
    "mod_{0}/{0}/mod_{0}.lua",
    "mod_{0}/mod_{0}.lua",
    "{0}/mod_{0}.lua",
    "mod_{0}.lua",
    "share/lua/5.4/mod_{0}.lua",
    "share/lua/5.4/mod_{0}/mod_{0}.lua",
)


def module_file_candidates(module, module_dirs=MODULE_DIRS):
    """Every path Prosody would try for ``mod_<module>``, in its order of preference."""
    return [
        f"{directory}/{pattern.format(module)}"
        for directory in module_dirs
        for pattern in _MODULE_FILE_PATTERNS
    ]


def missing_modules_command(modules, module_dirs=MODULE_DIRS):
    """A POSIX sh command that prints the modules (one a line) no candidate file exists for.

    One round trip checks them all: run it on the host and fail the deploy on any output.
    """
    checks = []
    for module in sorted(set(modules)):
        if not _MODULE_NAME.match(module):
            raise ValueError(f"not a module name: {module!r}")
        tests = " || ".join(f"[ -f '{path}' ]" for path in module_file_candidates(module, module_dirs))
        checks.append(f"{{ {tests}; }} || echo '{module}'")
    return "; ".join(checks) if checks else "true"

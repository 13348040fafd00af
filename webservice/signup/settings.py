"""The sign-up service's settings: one JSON file of non-secret values, secrets in separate files.

On the host the deploy renders templates/etc/eldwyn-signup/settings.json.j2 (root-only, 0600)
and systemd hands it to the service, with the secrets, through ``LoadCredential=``: the service
runs as a DynamicUser that can read nothing else of /etc/eldwyn-signup. Inside the service all
of them are files in ``$CREDENTIALS_DIRECTORY`` (see eldwyn-signup.service.j2).

Secrets (one file each, never in settings.json, never logged, never in a repr):
  ``secret-key``     signs CSRF and e-mail verification tokens (required)
  ``smtp-password``  SMTP AUTH password (required only when smtp.username is set)

The settings file (every key required unless marked optional)::

    {
      "site_name": "comm.cslabs.clarkson.edu",   # public host name: links in e-mails, Origin check
      "realm": "cslabs.clarkson.edu",            # JIDs are user@realm
      "xmpp_server": "cslabs.clarkson.edu",      # what clients connect to (shown on the page)
      "xmpp_port": 5222,                         # c2s port, STARTTLS
      "state_directory": "/var/lib/eldwyn-signup",  # systemd's StateDirectory: the sqlite file
      "ca_certificate_file": "/usr/local/share/ca-certificates/eldwyn-xmpp-ca.crt" or null,
      "allowed_email_domains": ["clarkson.edu"], # exact domains, lower case; no subdomains
      "reserved_usernames": ["admin", ...],      # refused as usernames (admins' own included)
      "min_password_length": 12,
      "invite_expiry_seconds": 3600,             # invites the sign-up flow asks the registrar for
      "verification_expiry_seconds": 3600,       # life of the link sent by e-mail
      "rate_limits": {"per_address": {"attempts": 20, "window_seconds": 600},
                      "per_email":   {"attempts": 3,  "window_seconds": 86400}},
      "smtp": {"host": "localhost", "port": 25, "starttls": false,
               "username": null, "from_address": "noreply@comm.cslabs.clarkson.edu"},
      "trusted_proxies": ["127.0.0.1", "::1"],   # only these may set X-Forwarded-For
      "registrar": {}                            # optional: passed as-is to the registrar
    }
"""

import ipaddress
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

CREDENTIALS_ENV = "CREDENTIALS_DIRECTORY"
SETTINGS_ENV = "ELDWYN_SIGNUP_SETTINGS"
SETTINGS_CREDENTIAL = "settings.json"
SECRET_KEY = "secret-key"
SMTP_PASSWORD = "smtp-password"


class SettingsError(ValueError):
    """One problem in the settings: ``path`` is the key path, ``problem`` what is wrong."""

    def __init__(self, path, problem):
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


@dataclass(frozen=True)
class RateLimit:
    attempts: int
    window_seconds: int


@dataclass(frozen=True)
class Smtp:
    host: str
    port: int
    starttls: bool
    username: str | None
    from_address: str


@dataclass(frozen=True)
class Settings:
    site_name: str
    realm: str
    xmpp_server: str
    xmpp_port: int
    state_directory: Path
    ca_certificate_file: str | None
    allowed_email_domains: tuple
    reserved_usernames: frozenset
    min_password_length: int
    invite_expiry_seconds: int
    verification_expiry_seconds: int
    per_address: RateLimit
    per_email: RateLimit
    smtp: Smtp
    trusted_proxies: tuple
    credentials_directory: Path | None
    registrar: dict = field(default_factory=dict, hash=False, compare=False)

    def credential(self, name):
        """The secret ``name`` (text, surrounding whitespace removed); SettingsError if missing."""
        if self.credentials_directory is None:
            raise SettingsError(CREDENTIALS_ENV, f"not set, so the secret {name!r} cannot be read")
        path = self.credentials_directory / name
        try:
            value = path.read_text(encoding="utf-8").strip()
        except OSError as error:
            raise SettingsError(str(path), f"cannot read the secret ({error.strerror})") from None
        if not value:
            raise SettingsError(str(path), "the secret is empty")
        return value


def _fail(path, problem):
    raise SettingsError(path, problem)


def _get(data, key, path, types, what, optional=False):
    full = f"{path}.{key}" if path else key
    if key not in data:
        if optional:
            return None
        _fail(full, "missing")
    value = data[key]
    if value is None and optional:
        return None
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        _fail(full, f"expected {what}, got {type(value).__name__} {value!r}")
    return value


def _positive(data, key, path):
    value = _get(data, key, path, (int,), "a positive integer")
    if value < 1:
        _fail(f"{path}.{key}" if path else key, f"{value} must be at least 1")
    return value


_HOST = re.compile(r"(?=.{1,253}\Z)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\Z")


def _host_value(value, path):
    if not isinstance(value, str) or not _HOST.match(value):
        _fail(path, f"{value!r} is not a lower-case host name")
    return value


def _host(data, key, path=""):
    value = _get(data, key, path, (str,), "a lower-case host name")
    return _host_value(value, f"{path}.{key}" if path else key)


def _rate_limit(data, key):
    value = _get(data, key, "rate_limits", (dict,), "a dict with attempts and window_seconds")
    path = f"rate_limits.{key}"
    unknown = set(value) - {"attempts", "window_seconds"}
    if unknown:
        _fail(f"{path}.{sorted(unknown)[0]}", "unknown key")
    return RateLimit(_positive(value, "attempts", path), _positive(value, "window_seconds", path))


KNOWN_KEYS = {
    "site_name", "realm", "xmpp_server", "xmpp_port", "state_directory", "ca_certificate_file",
    "allowed_email_domains", "reserved_usernames", "min_password_length", "invite_expiry_seconds",
    "verification_expiry_seconds", "rate_limits", "smtp", "trusted_proxies", "registrar",
}


def parse_settings(data, credentials_directory=None):
    """Check the decoded settings ``data`` and return Settings; SettingsError names the key."""
    if not isinstance(data, dict):
        _fail("settings", f"expected a JSON object, got {type(data).__name__}")
    for key in data:
        if key not in KNOWN_KEYS:
            _fail(str(key), "unknown key")
    domains = _get(data, "allowed_email_domains", "", (list,), "a list of domains")
    for index, domain in enumerate(domains):
        _host_value(domain, f"allowed_email_domains[{index}]")
    if not domains:
        _fail("allowed_email_domains", "needs at least one domain")
    reserved = _get(data, "reserved_usernames", "", (list,), "a list of user names")
    for index, name in enumerate(reserved):
        if not isinstance(name, str) or not name:
            _fail(f"reserved_usernames[{index}]", f"expected a user name, got {name!r}")
    state = _get(data, "state_directory", "", (str,), "an absolute path")
    if not os.path.isabs(state):
        _fail("state_directory", f"{state!r} must be an absolute path")
    ca_file = _get(data, "ca_certificate_file", "", (str,), "an absolute path or null", optional=True)
    if ca_file is not None and not os.path.isabs(ca_file):
        _fail("ca_certificate_file", f"{ca_file!r} must be an absolute path")
    port = _get(data, "xmpp_port", "", (int,), "a port number")
    if not 1 <= port <= 65535:
        _fail("xmpp_port", f"{port} is not a port number")
    limits = _get(data, "rate_limits", "", (dict,), "a dict")
    unknown = set(limits) - {"per_address", "per_email"}
    if unknown:
        _fail(f"rate_limits.{sorted(unknown)[0]}", "unknown key")
    smtp = _get(data, "smtp", "", (dict,), "a dict")
    unknown = set(smtp) - {"host", "port", "starttls", "username", "from_address"}
    if unknown:
        _fail(f"smtp.{sorted(unknown)[0]}", "unknown key")
    smtp_port = _get(smtp, "port", "smtp", (int,), "a port number")
    if not 1 <= smtp_port <= 65535:
        _fail("smtp.port", f"{smtp_port} is not a port number")
    from_address = _get(smtp, "from_address", "smtp", (str,), "an e-mail address")
    if not re.fullmatch(r"[^@\s]+@[^@\s]+", from_address):
        _fail("smtp.from_address", f"{from_address!r} is not an e-mail address")
    proxies = _get(data, "trusted_proxies", "", (list,), "a list of IP addresses")
    for index, address in enumerate(proxies):
        try:
            ipaddress.ip_address(address)
        except ValueError:
            _fail(f"trusted_proxies[{index}]", f"{address!r} is not an IP address")
    registrar = _get(data, "registrar", "", (dict,), "a dict", optional=True) or {}
    return Settings(
        site_name=_host(data, "site_name"),
        realm=_host(data, "realm"),
        xmpp_server=_host(data, "xmpp_server"),
        xmpp_port=port,
        state_directory=Path(state),
        ca_certificate_file=ca_file,
        allowed_email_domains=tuple(domains),
        reserved_usernames=frozenset(name.casefold() for name in reserved),
        min_password_length=_positive(data, "min_password_length", ""),
        invite_expiry_seconds=_positive(data, "invite_expiry_seconds", ""),
        verification_expiry_seconds=_positive(data, "verification_expiry_seconds", ""),
        per_address=_rate_limit(limits, "per_address"),
        per_email=_rate_limit(limits, "per_email"),
        smtp=Smtp(
            host=_host(smtp, "host", "smtp"),
            port=smtp_port,
            starttls=_get(smtp, "starttls", "smtp", (bool,), "true or false"),
            username=_get(smtp, "username", "smtp", (str,), "a user name or null", optional=True) or None,
            from_address=from_address,
        ),
        trusted_proxies=tuple(proxies),
        credentials_directory=Path(credentials_directory) if credentials_directory else None,
        registrar=registrar,
    )


def load_settings(path=None, environ=None):
    """Read the settings file: ``path``, else $ELDWYN_SIGNUP_SETTINGS, else the systemd
    credential ``settings.json``. Secrets are read later, from $CREDENTIALS_DIRECTORY."""
    environ = os.environ if environ is None else environ
    credentials = environ.get(CREDENTIALS_ENV) or None
    if path is None:
        path = environ.get(SETTINGS_ENV)
    if path is None:
        if credentials is None:
            _fail(SETTINGS_ENV, f"not set, and no {CREDENTIALS_ENV} holding {SETTINGS_CREDENTIAL}")
        path = Path(credentials) / SETTINGS_CREDENTIAL
    try:
        with open(path, encoding="utf-8") as file:
            data = json.load(file)
    except OSError as error:
        _fail(str(path), f"cannot read the settings ({error.strerror})")
    except ValueError as error:
        _fail(str(path), f"not valid JSON ({error})")
    return parse_settings(data, credentials_directory=credentials)

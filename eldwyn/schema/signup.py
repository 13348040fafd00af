"""The registration webservice's settings (webservice/signup), declared once.

``SignupPolicy`` is what the deploy's data says about sign-up (the ``signup_*`` keys, see
eldwyn/schema/data.py) and the webservice enforces; ``SignupSettings`` is the whole of the
service's settings.json: the policy plus what the deploy derives for it. The deploy writes
settings.json from a SignupSettings (Config.signup_settings) and the service reads it back with the
same class, on the host, with Debian's python3-pydantic (2.10): nothing here may need newer.
"""

from typing import Annotated, Any

from pydantic import AfterValidator, Field, StrictInt, model_validator

from eldwyn.schema.base import Model, fail
from eldwyn.schema.types import (
    AbsolutePath,
    Bool,
    EmailAddress,
    Hostname,
    IpAddress,
    Localpart,
    Port,
    Text,
    no_duplicates,
)


class RateLimit(Model):
    attempts: Annotated[StrictInt, Field(ge=1)]
    """Attempts allowed per window."""
    window_seconds: Annotated[StrictInt, Field(ge=1, le=7 * 86400)]
    """The sliding window, in seconds (at most a week)."""


class RateLimits(Model):
    per_address: RateLimit = RateLimit(attempts=30, window_seconds=600)
    """Every form sent and every invite or link checked, per client IP address (IPv6: per /64)."""
    per_email: RateLimit = RateLimit(attempts=3, window_seconds=24 * 3600)
    """Verification messages sent per e-mail address."""


class Smtp(Model):
    host: Hostname = "localhost"
    """The SMTP server that sends the verification e-mail."""
    port: Port = 25
    starttls: Bool = False
    """STARTTLS; required when a username is set, unless the host is localhost."""
    username: Text | None = None
    """Login for SMTP AUTH, or None; its password is the secret signup-smtp-password."""
    from_address: EmailAddress
    """The From address of the verification e-mail."""

    @model_validator(mode="after")
    def _no_password_in_clear(self):
        if self.username is not None and not self.starttls and self.host != "localhost":
            fail(f"false would send the SMTP password for {self.username!r} in clear to {self.host!r};"
                 " use STARTTLS or no username", ("starttls",))
        return self


def _some_domains(domains):
    if not domains:
        fail("needs at least one domain (sign-up is open to these addresses only)")
    return no_duplicates(domains)


class SignupPolicy(Model):
    """What sign-up allows: the same in the deploy's data and in the service's settings."""

    site_name: Hostname
    """The public host name of the site (comm's website): nginx's server_name, its certificate's
    name, the links in e-mails, the Origin the forms must come from."""
    allowed_email_domains: Annotated[tuple[Hostname, ...], AfterValidator(_some_domains)]
    """Only addresses at exactly these domains may sign up (a subdomain is another domain)."""
    reserved_usernames: Annotated[tuple[Localpart, ...], AfterValidator(no_duplicates)] = (
        "admin", "administrator", "root", "postmaster", "hostmaster", "abuse", "webmaster", "xmpp",
        "support", "security", "noc", "info", "help", "prosody", "www", "mail", "noreply", "operator",
    )
    """User names nobody may register, as Prosody stores them (lower case). The deploy adds the
    admins' and seeded accounts' names."""
    min_password_length: Annotated[StrictInt, Field(ge=12, le=128)] = 12
    """The password rule shown on the form: at least this many characters, at least 5 different
    characters, and not containing the username."""
    invite_expiry_seconds: Annotated[StrictInt, Field(ge=300, le=30 * 86400)] = 24 * 3600
    """How long an invite made after an e-mail address is verified stays valid."""
    verification_expiry_seconds: Annotated[StrictInt, Field(ge=300, le=7 * 86400)] = 3600
    """How long the one-time verification link sent by e-mail stays valid."""
    rate_limits: RateLimits = RateLimits()
    """Attempts allowed per sliding window: per_address and per_email."""
    smtp: Smtp
    """How the verification e-mail is sent: host, port, starttls, username (None: no SMTP AUTH;
    its password is the secret signup-smtp-password) and from_address."""


class SignupSettings(SignupPolicy):
    """The service's settings.json: the policy, and what the deploy derives for the service."""

    realm: Hostname
    """JIDs are user@realm."""
    xmpp_server: Hostname
    """What clients connect to (shown on the page), and the registrar's XMPP server."""
    xmpp_port: Port
    """Prosody's c2s port (STARTTLS)."""
    invites_api_url: Annotated[str, Field(pattern=r"^http://(127\.0\.0\.1|\[::1\]):[0-9]+/")]
    """Prosody's invites API (mod_invites_api), on loopback: its plain HTTP port, from xmpp_ports."""
    state_directory: AbsolutePath
    """systemd's StateDirectory: the service's SQLite file."""
    ca_certificate_file: AbsolutePath | None = None
    """The local CA the success page offers for download, or None when there is none."""
    trusted_proxies: tuple[IpAddress, ...] = ("127.0.0.1", "::1")
    """Only these may set X-Forwarded-For (nginx, on this host)."""
    registrar: dict[str, Any] = {}
    """Overrides for the registrar (tests only): "host", "port", "timeout"."""

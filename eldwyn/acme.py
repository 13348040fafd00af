"""Certificates from an ACME server (tls_mode "acme"): what the host has from certbot, and what
the deploy does about it. Decided here, run by tasks/acme.py.

certbot keeps one lineage per name (--cert-name NAME, one SAN): a name whose DNS is wrong fails
alone, the others still get theirs, and the files each service reads keep today's layout
(Config.certificates, Config.site_certificate). The files the services read are copies made
by our deploy hook (root-only /etc/letsencrypt is out of Prosody's reach): certbot's own timer
renews, the hook copies and reloads Prosody or nginx, whose sessions stay up.
"""

import shlex
from dataclasses import dataclass

from eldwyn.schema.data import Tls

LETSENCRYPT = "/etc/letsencrypt"
WEBROOT = Tls.acme_webroot  # nginx serves /.well-known/acme-challenge/ from here
HOOK = "/usr/local/sbin/eldwyn-certificate-deployed"  # certbot's deploy hook (templates/usr/local/sbin)
ISSUE = "/usr/local/sbin/eldwyn-acme-issue"  # certbot certonly for the names given, with a clear error
CERTBOT_DROP_IN = "/etc/systemd/system/certbot.service.d/eldwyn-ca-bundle.conf"
# A served certificate with less left than this is replaced by the fallback (the local CA's)
# while its name has no lineage: any longer, and it still serves better than a new fallback.
STILL_GOOD_SECONDS = 86400


@dataclass(frozen=True)
class Lineage:
    """What the host has for one ACME name."""

    name: str
    server: str | None  # the ACME directory of certbot's lineage, None without one
    certificate_sha256: str | None  # of the lineage's fullchain.pem
    key_sha256: str | None  # of its privkey.pem
    served_is_good: bool  # the certificate the service reads now is valid for another day

    @property
    def exists(self):
        return self.server is not None


def lineages_command(certificates):
    """One shell command printing ``lineage|name|server|cert sha256|key sha256|good`` per name."""
    lines = []
    for cert in certificates:
        live = shlex.quote(f"{LETSENCRYPT}/live/{cert.name}")
        renewal = shlex.quote(f"{LETSENCRYPT}/renewal/{cert.name}.conf")
        lines.append(
            f"s=$(sed -n 's/^server *= *//p' {renewal} 2>/dev/null | head -n 1); "
            f"c=$(sha256sum < {live}/fullchain.pem 2>/dev/null | cut -d' ' -f1); "
            f"k=$(sha256sum < {live}/privkey.pem 2>/dev/null | cut -d' ' -f1); "
            f"g=$(openssl x509 -checkend {STILL_GOOD_SECONDS} -noout -in {shlex.quote(cert.certificate_path)}"
            " >/dev/null 2>&1 && echo good); "
            f'echo "lineage|{cert.name}|$s|$c|$k|$g"'
        )
    return "\n".join(lines) + "\ntrue"


def parse_lineages(output):
    """{name: Lineage} from ``lineages_command``'s output lines."""
    found = {}
    for line in output:
        if not line.startswith("lineage|"):
            continue
        _, name, server, cert_sha, key_sha, good = line.split("|", 5)
        exists = bool(server and cert_sha and key_sha)
        found[name] = Lineage(name, server if exists else None, cert_sha if exists else None,
                              key_sha if exists else None, good == "good")
    return found


def needs_issuance(config, lineage):
    """Why certbot must be asked for this name now, or None: its own timer renews the others."""
    if lineage is None or not lineage.exists:
        return "no certificate from ACME yet"
    if lineage.server != config.tls.acme_directory:
        return f"its certificate is from {lineage.server}, not tls_acme_directory"
    return None


def keeps_served(lineage):
    """True when what the service reads must not be replaced by the fallback certificate: it is
    the lineage's (installed by the hook), or still good while the name waits for one."""
    return lineage is not None and (lineage.exists or lineage.served_is_good)


def hook_command(cert):
    """Runs the deploy hook for one name, as certbot does after an issuance or renewal."""
    return f"RENEWED_LINEAGE={shlex.quote(f'{LETSENCRYPT}/live/{cert.name}')} {HOOK}"

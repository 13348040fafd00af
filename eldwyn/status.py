"""The operator's status report (operator_tasks/status.py): one command on the host prints what
is asked for, the certificates are read here.

Prosody's version (Debian's package) and uptime, the state of the services, each name's
certificate (issuer, expiry), the number of accounts, the size of the store and of the uploaded
files, and what `prosodyctl check dns` finds.
"""

import shlex
from datetime import datetime, timezone

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from eldwyn import accounts, prosody, scheduled_backups
from eldwyn.backup import PROSODY_STORE
from eldwyn.host_files import SIGNUP_SERVICE

SERVICES = ("prosody", SIGNUP_SERVICE, "nginx", "netfilter-persistent")


def services(config):
    """The systemd units status reports on: SERVICES, and coturn when there is TURN."""
    return SERVICES + (("coturn",) if config.turn.host else ())


def certificate_paths(config):
    """{name: certificate path on the host}: the realm, the components, the site, coturn."""
    return {cert.name: cert.certificate_path for cert in (*config.certificates, *config.service_certificates)}


def status_command(config):
    """One shell command printing ``key value`` lines, then each certificate's PEM after a
    ``cert NAME`` line."""
    q = shlex.quote
    lines = [
        "echo \"version $(dpkg-query -W -f='${Version}' prosody 2>/dev/null)\"",
        "pid=$(systemctl show -p MainPID --value prosody)",
        'if [ "${pid:-0}" -gt 0 ]; then echo "uptime $(ps -o etimes= -p "$pid")"; fi',
        f"for unit in {' '.join(services(config))}; do echo \"service $unit $(systemctl is-active \"$unit\")\"; done",
        f"echo \"accounts $({accounts.existing_accounts_command(config.realm)} | wc -l)\"",
        f"echo \"store_bytes $(stat -c %s /{PROSODY_STORE} 2>/dev/null || echo 0)\"",
        # Uploaded files live under the data directory, in each upload component's own folder.
        f"echo \"upload_bytes $(find {prosody.DATA_DIR} -path '*/http_file_share/*' -type f -printf '%s\\n'"
        " | awk '{s+=$1} END {print s+0}')\"",
        f"echo \"upload_files $(find {prosody.DATA_DIR} -path '*/http_file_share/*' -type f | wc -l)\"",
    ]
    if config.acme_certificates:
        lines.append('echo "service certbot.timer $(systemctl is-active certbot.timer)"')
        lines.append('echo "last_renewal $(systemctl show -p Result --value certbot.service)"')
    if config.backup.repository:
        lines.append(f'echo "service {scheduled_backups.UNIT}.timer $(systemctl is-active {scheduled_backups.UNIT}.timer)"')
        lines.append(f'echo "backup_result $(systemctl show -p Result --value {scheduled_backups.UNIT}.service)"')
        lines.append(f"if [ -e {scheduled_backups.STAMP} ]; then echo \"backup_last $(cat {scheduled_backups.STAMP})\"; fi")
    for name, path in certificate_paths(config).items():
        lines.append(f"if [ -e {q(path)} ]; then echo cert {q(name)}; cat {q(path)}; fi")
    # Prosody's own look at the DNS records the names need (SRV, A/AAAA); bounded: a host
    # without a resolver waits for each lookup's time-out.
    lines.append("timeout 60 prosodyctl check dns 2>&1 | sed 's/^/dns /'")
    return "\n".join(lines)


def _human_bytes(size):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024


def _human_seconds(seconds):
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    return f"{days}d {hours}h {rest // 60}m" if days else f"{hours}h {rest // 60}m {rest % 60}s"


def parse(output):
    """{key: value} and {name: certificate} from ``status_command``'s output."""
    values, services, pems, current = {"dns": []}, {}, {}, None
    for line in output.splitlines():
        if current is not None:  # inside a certificate's PEM
            pems[current] += line + "\n"
            if line.startswith("-----END"):
                current = None
            continue
        key, _, value = line.partition(" ")
        if key == "cert":
            current, pems[value] = value, ""
        elif key == "dns":
            values["dns"].append(value)
        elif key == "service":
            unit, _, state = value.partition(" ")
            services[unit] = state
        elif key:
            values[key] = value.strip()
    certificates = {name: x509.load_pem_x509_certificate(pem.encode()) for name, pem in pems.items() if pem}
    return values, services, certificates


def report(config, output, now=None):
    """The status report's lines."""
    now = now or datetime.now(timezone.utc)
    values, services, certificates = parse(output)
    uptime = values.get("uptime")
    lines = [
        f"Prosody {values.get('version') or 'not installed'}, "
        + (f"up {_human_seconds(int(uptime))}" if uptime else "not running"),
        "Services: " + ", ".join(f"{unit} {state}" for unit, state in services.items()),
        f"Accounts on {config.realm}: {values.get('accounts', '?')}",
        f"Store ({PROSODY_STORE.rsplit('/', 1)[1]}): {_human_bytes(int(values.get('store_bytes') or 0))}",
        f"Uploads: {values.get('upload_files', '0')} files, {_human_bytes(int(values.get('upload_bytes') or 0))}",
        "Certificates:",
    ]
    for name in certificate_paths(config):
        cert = certificates.get(name)
        if cert is None:
            lines.append(f"  {name}: MISSING")
            continue
        expires = cert.not_valid_after_utc
        lines.append(f"  {name}: expires {expires:%Y-%m-%d} (in {(expires - now).days} days),"
                     f" issuer {_issuer(cert)}, sha256 {cert.fingerprint(hashes.SHA256()).hex()[:16]}...")
    if "last_renewal" in values:
        result = values["last_renewal"]
        lines.append("Renewals (certbot.timer): last run " + ("succeeded" if result == "success" else
                     f"FAILED ({result}): journalctl -u certbot.service"))
    if config.backup.repository:
        lines.extend(backup_lines(config, values, now))
    lines.append("DNS (prosodyctl check dns):")
    lines.extend(f"  {line}" for line in values["dns"] if line.strip())
    return lines


def backup_lines(config, values, now):
    """The scheduled backups' lines: the last good one's age (a warning past twice the schedule),
    and a failed last run."""
    every = config.backup.every_hours
    heading = f"Backups (every {every} h to {config.backup.repository}):"
    last = values.get("backup_last")
    if not last:
        lines = [f"{heading} WARNING: no good backup yet"]
    else:
        when = datetime.fromtimestamp(int(last), timezone.utc)
        age = (now - when).total_seconds()
        lines = [f"{heading} last good {when:%Y-%m-%d %H:%M} UTC ({_human_seconds(age)} ago)"
                 + (f": WARNING, older than twice the schedule ({2 * every} h)" if age > 2 * every * 3600 else "")]
    result = values.get("backup_result", "")
    if result and result != "success":
        lines.append(f"  last run FAILED ({result}): journalctl -u {scheduled_backups.UNIT}.service")
    return lines


def _issuer(cert):
    names = cert.issuer.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return names[0].value if names else cert.issuer.rfc4514_string()

"""Certificates from ACME (tls_mode "acme", eldwyn/acme.py): certbot's deploy hook and the
issuing script (templates/usr/local/sbin/), certbot.service's CA bundle for a private ACME
server, and, once nginx serves the challenges, certbot asked for every name that has no
certificate from tls_acme_directory yet. Renewals are certbot.timer's (Debian's certbot).

The fallback certificates (the local CA's, tasks/certificates.py) reach a name's files only
while that name has no lineage and serves nothing still good: a failed issuance or renewal
never takes a working certificate away.
"""

from pyinfra.operations import server

from eldwyn import acme
from eldwyn.files import ManagedFile, differing, upload
from eldwyn.render import render
from eldwyn.services import running_and_enabled


def files(config, store=None):
    """The hook (in every mode: it leaves alone a name that is not ACME's), the issuing script
    and certbot.service's drop-in."""
    certificates = config.acme_certificates
    context = dict(tls=config.tls, certificates=certificates, webroot=acme.WEBROOT, hook=acme.HOOK)
    found = [ManagedFile(acme.HOOK, render("usr/local/sbin/eldwyn-certificate-deployed.j2", **context).encode(),
                         mode="755")]
    if certificates:
        found.append(ManagedFile(acme.ISSUE, render("usr/local/sbin/eldwyn-acme-issue.j2", **context).encode(),
                                 mode="755"))
        found.append(ManagedFile(acme.CERTBOT_DROP_IN, render(
            "etc/systemd/system/certbot.service.d/eldwyn-ca-bundle.conf.j2", **context).encode()))
    return found


def paths(config):
    return []


def keep_served(config, wanted, lineages):
    """``wanted`` without the fallback certificate files of the ACME names whose served
    certificate must stay (eldwyn.acme.keeps_served)."""
    kept = {path for cert in config.acme_certificates if acme.keeps_served(lineages.get(cert.name))
            for path, _ in cert.files}
    return [file for file in wanted if file.path not in kept]


def units(config):
    return ["certbot.timer"] if config.acme_certificates else []


def install(config, wanted, states, services):
    out_of_date = differing(states, wanted)
    upload(out_of_date, "ACME")  # certbot.service's drop-in goes with our other units (tasks/systemd_units.py)
    if config.acme_certificates:  # renewals (Debian starts the timer at install, which tasks/packages.py holds back)
        running_and_enabled("certbot's renewal timer is running and enabled", "certbot.timer", services)


def obtain(config, lineages, states):
    """Serves each lineage's certificate where it is not served yet (the hook, as after a
    renewal), then asks certbot for the names that need it; the run fails, naming each name
    and its cause, if one could not be issued."""
    missing = []
    for cert in config.acme_certificates:
        lineage = lineages.get(cert.name)
        if acme.needs_issuance(config, lineage):
            missing.append(cert.name)
        elif (states.get(cert.certificate_path, {}).get("sha256") != lineage.certificate_sha256
              or states.get(cert.key_path, {}).get("sha256") != lineage.key_sha256):
            server.shell(name=f"Serve {cert.name}'s certificate from certbot", commands=[acme.hook_command(cert)])
    if missing:
        server.shell(name=f"ACME: certificates for {', '.join(missing)}",
                     commands=[f"{acme.ISSUE} {' '.join(missing)}"])

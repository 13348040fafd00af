"""Security updates without a visit: unattended-upgrades' origins and reboot policy from the
data (updates_*, templates/etc/apt/apt.conf.d/), apt's daily run switched on and needrestart set
to restart services by itself (files/etc/). The packages come with the others
(tasks/packages.py); nothing here upgrades anything."""

from eldwyn.files import ManagedFile, differing, upload
from eldwyn.host_files import FILES_DIR
from eldwyn.render import render
from eldwyn.services import running_and_enabled

ORIGINS = "/etc/apt/apt.conf.d/52eldwyn-unattended-upgrades"
STATIC = ("/etc/apt/apt.conf.d/20auto-upgrades", "/etc/needrestart/conf.d/eldwyn.conf")


def files(config, store=None):
    return [ManagedFile(ORIGINS, render(f"{ORIGINS.lstrip('/')}.j2", config=config).encode())] + [
        ManagedFile(path, (FILES_DIR / path.lstrip("/")).read_bytes()) for path in STATIC]


def paths(config):
    return []


def units(config):
    # Its service only waits at shutdown for an upgrade in progress; Debian starts it at install,
    # which tasks/packages.py holds back.
    return ["unattended-upgrades"]


def install(wanted, states, services):
    upload(differing(states, wanted), "Unattended updates")
    running_and_enabled("unattended-upgrades is running and enabled", "unattended-upgrades", services)

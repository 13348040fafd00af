"""Security updates without a visit: unattended-upgrades' origins and reboot policy from the
data (updates_*, templates/etc/apt/apt.conf.d/), apt's daily run switched on and needrestart set
to restart services by itself (files/etc/). The packages come with the others
(tasks/packages.py); nothing here upgrades anything."""

from eldwyn.files import ManagedFile, differing, upload
from eldwyn.host_files import FILES_DIR
from eldwyn.render import render

ORIGINS = "/etc/apt/apt.conf.d/52eldwyn-unattended-upgrades"
STATIC = ("/etc/apt/apt.conf.d/20auto-upgrades", "/etc/needrestart/conf.d/eldwyn.conf")


def files(config, store=None):
    return [ManagedFile(ORIGINS, render(f"{ORIGINS.lstrip('/')}.j2", config=config).encode())] + [
        ManagedFile(path, (FILES_DIR / path.lstrip("/")).read_bytes()) for path in STATIC]


def paths(config):
    return []


def install(wanted, states):
    upload(differing(states, wanted), "Unattended updates")

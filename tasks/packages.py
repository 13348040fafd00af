"""Debian packages: Prosody, what the enabled modules and the deploy need, the firewall's and the
registration webservice's (Flask, pydantic, gunicorn, nginx): one apt run for all."""

from pyinfra import host
from pyinfra.facts.deb import DebPackages
from pyinfra.operations import apt


def install(config):
    wanted = list(config.packages)
    installed = host.get_fact(DebPackages)
    # Refresh the package lists only when something is missing: a re-run with everything
    # installed then asks nothing of the network and reports no change.
    apt.packages(
        name="Install Prosody, its modules, the firewall tools and the webservice's",
        packages=wanted,
        update=any(package not in installed for package in wanted),
    )

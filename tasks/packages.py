"""Debian packages: Prosody, what the enabled modules and the deploy need, the firewall's and the
registration webservice's (Flask, pydantic, gunicorn, nginx): one apt run for all.

Without Debian's "Recommends": measured on Debian 13, they add 54 packages to our 78 (fonts and
a Sphinx theme, python3-httpx and rich, nftables, fuse3, lua-event, lua-ldap, lua-luaossl...),
none of which the service uses (Prosody 13.0.1 requires none of its recommended Lua modules
but readline, for an interactive prosodyctl shell), each one more to patch, and each one more
minute-fraction of a rebuild. What is needed is listed, so it is installed."""

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
        no_recommends=True,
    )

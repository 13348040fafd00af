"""Debian packages: Prosody and what the enabled modules need, from Debian 13 itself."""

from pyinfra import host
from pyinfra.facts.deb import DebPackages
from pyinfra.operations import apt

wanted = host.data.prosody_packages
installed = host.get_fact(DebPackages)

# Refresh the package lists only when something is missing: a re-run with everything
# installed then asks nothing of the network and reports no change.
apt.packages(
    name="Install Prosody and its dependencies",
    packages=wanted,
    update=any(package not in installed for package in wanted),
)

"""Debian packages: Prosody, what the enabled modules and the deploy need, the firewall's and the
registration webservice's (Flask, pydantic, gunicorn, nginx): one apt run for all.

Without Debian's "Recommends": measured on Debian 13, they add 54 packages to our 78 (fonts and
a Sphinx theme, python3-httpx and rich, nftables, fuse3, lua-event, lua-ldap, lua-luaossl...),
none of which the service uses (Prosody 13.0.1 requires none of its recommended Lua modules
but readline, for an interactive prosodyctl shell), each one more to patch, and each one more
minute-fraction of a rebuild. What is needed is listed, so it is installed.

Without starting the services during the install: Debian starts Prosody (with its own config),
nginx, coturn, unattended-upgrades and certbot's timer as their packages are set up, only for the
deploy to reconfigure and restart each of them moments later. A policy-rc.d held for the
install's duration (Debian's documented way, invoke-rc.d(8)) makes apt leave them; the tasks that
configure each service start it, once, with its files in place (eldwyn/services.py). An
existing policy-rc.d is not ours and is left alone (then apt starts the services as usual).
"""

import shlex

from pyinfra.operations import server

from eldwyn.files import ManagedFile, differing

POLICY = "/usr/sbin/policy-rc.d"
POLICY_TEXT = "#!/bin/sh\n# eldwyn-xmpp: held while tasks/packages.py installs; removed after.\nexit 101\n"
_OURS = ManagedFile(POLICY, POLICY_TEXT.encode(), mode="755")


def files(config, store=None):
    return []


def paths(config):
    return [POLICY]  # a policy-rc.d of ours left behind by an interrupted install is removed


def install_command(packages):
    """apt-get update and one apt-get install of ``packages`` (no Recommends, the packages'
    config files kept where changed), with services held back by our policy-rc.d."""
    policy = shlex.quote(POLICY)
    return (
        f"held=; if [ ! -e {policy} ]; then printf %s {shlex.quote(POLICY_TEXT)} > {policy}"
        f" && chmod 755 {policy} && held=1; fi; "
        f"trap '[ -z \"$held\" ] || rm -f {policy}' EXIT; trap 'exit 1' HUP INT TERM; "
        "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends"
        " -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "
        + " ".join(shlex.quote(package) for package in packages)
    )


def install(config, installed, states):
    """``installed``: pyinfra's DebPackages fact. Nothing is asked of apt (or the network) when
    every package is there."""
    if not differing(states, [_OURS]):
        server.shell(name="Remove the policy-rc.d an interrupted install left", commands=[f"rm -f {POLICY}"])
    missing = [package for package in config.packages if package not in installed]
    if missing:
        server.shell(name=f"Install {len(missing)} Debian packages: {', '.join(missing[:4])}"
                          + (", ..." if len(missing) > 4 else ""),
                     commands=[install_command(missing)])

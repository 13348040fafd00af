"""The firewall: /etc/iptables/rules.v4 and rules.v6 (templates/etc/iptables/), loaded now and
by netfilter-persistent at every boot.

The rules files are the host's whole filter table, so re-runs can never duplicate a rule, and
iptables-restore swaps the table in one step. SSH is the first rule of both (see the template).
Candidates are checked with iptables-restore --test before they replace the files in use.
"""

from eldwyn.files import ManagedFile, differing, install_checked, staged
from eldwyn.render import render

# The rules files netfilter-persistent loads at boot, and the command that loads each.
RULES = {"/etc/iptables/rules.v4": "iptables-restore", "/etc/iptables/rules.v6": "ip6tables-restore"}


def files(config, store=None):
    return [ManagedFile(path, render(f"{path.lstrip('/')}.j2", config=config).encode(), "root", "root", "640")
            for path in RULES]


def paths(config):
    return []


def install(wanted, states):
    rules = differing(states, wanted)
    if rules:
        install_checked(
            "Firewall rules",
            rules,
            check=" && ".join(f"{RULES[file.path]} --test {staged(file.path)}" for file in rules),
            then=[f"{RULES[file.path]} {file.path}" for file in rules],
        )

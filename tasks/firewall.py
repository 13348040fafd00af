"""The firewall: /etc/iptables/rules.v4 and rules.v6 (templates/etc/iptables/), loaded now and
by netfilter-persistent at every boot.

The rules files are the host's whole filter table, so re-runs can never duplicate a rule, and
iptables-restore swaps the table in one step. SSH is the first rule of both (see the template).
Candidates are checked with iptables-restore --test before they replace the files in use.
"""

from pyinfra import host

from eldwyn.files import install_checked, staged
from eldwyn.host_files import FIREWALL_RULES, stale
from eldwyn.preflight import host_config

config = host_config(host)
rules = stale(host, config, "firewall")
if rules:
    install_checked(
        "Firewall rules",
        rules,
        check=" && ".join(f"{FIREWALL_RULES[file.path]} --test {staged(file.path)}" for file in rules),
        then=[f"{FIREWALL_RULES[file.path]} {file.path}" for file in rules],
    )

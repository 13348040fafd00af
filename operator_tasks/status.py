"""Prints the state of the XMPP service: Prosody's version and uptime, the services, the number
of accounts, the size of the store and of the uploads, and when each certificate expires.

    pyinfra inventory.py operator_tasks/status.py --limit testbed
"""

from pyinfra import host, state
from pyinfra.facts.server import Command

from eldwyn import status
from eldwyn.operator import say
from eldwyn.preflight import checked_config

config = checked_config(state, host)
say(host, "\n".join(status.report(config, host.get_fact(Command, status.status_command(config)) or "")))

"""Lists the realm's accounts, read from Prosody's store, sorted, with a count.

    pyinfra inventory.py operator_tasks/list_users.py --limit testbed
"""

from pyinfra import host, state

from eldwyn.facts import Accounts
from eldwyn.operator import say
from eldwyn.preflight import checked_config

config = checked_config(state, host)
found = sorted(host.get_fact(Accounts, realm=config.realm))
say(host, "\n".join(found + [f"{len(found)} accounts on {config.realm}"]))

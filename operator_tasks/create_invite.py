"""Creates an invite to register one account and prints its link (valid for 24 hours): the
person opens it in a browser and picks a user name and password on the registration site.

    pyinfra inventory.py operator_tasks/create_invite.py --limit testbed
"""

import re
import shlex

from pyinfra import host, state
from pyinfra.api.exceptions import DeployError
from pyinfra.operations import python

from eldwyn.operator import run_on_host, say
from eldwyn.preflight import checked_config

config = checked_config(state, host)


def create_invite(state, host):
    output = run_on_host(state, host, f"prosodyctl shell invite create_account {shlex.quote(config.realm)}")
    links = re.findall(r"https://\S+", "\n".join(output))  # prosodyctl prints "OK: <link>"
    if not links:
        raise DeployError(f"{host.name}: Prosody made no invite link: {' '.join(output)[-300:]}")
    say(host, f"Invite link for one new account on {config.realm}: {links[-1]}")


python.call(name="Create an invite", function=create_invite)

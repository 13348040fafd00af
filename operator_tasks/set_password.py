"""Gives an existing account a new password: a random one (the default), or one typed at a
prompt (password=prompt). It is kept in the secrets store (account-JID) once Prosody took it.

    pyinfra inventory.py operator_tasks/set_password.py --limit testbed --data user=alice [--data password=prompt]
"""

from pyinfra import host, state
from pyinfra.operations import python

from eldwyn import accounts
from eldwyn.facts import Accounts
from eldwyn.operator import (
    TaskInputError,
    account_from_data,
    new_password,
    password_source,
    prosody_shell,
    remembering_password,
)
from eldwyn.preflight import checked_config
from eldwyn.secrets import SecretsStore

config = checked_config(state, host)
jid = account_from_data(host, config)
password_source(host)  # bad input stops here, before anything runs
existing = host.get_fact(Accounts, realm=config.realm)
if jid not in existing:
    raise TaskInputError(f"user: there is no account {jid} on {host.name}; nothing was changed")

password = new_password(host, jid)
prosody_shell(f"Set a new password for {jid}", accounts.set_password_script([(jid, password)]))
python.call(name=f"Keep the new password of {jid} in the secrets store",
            function=remembering_password(SecretsStore(config.secrets.dir), jid, password))

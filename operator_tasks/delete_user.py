"""Deletes an account and everything Prosody keeps for it (roster, archive, vCard...), and
forgets its password in the secrets store.

    pyinfra inventory.py operator_tasks/delete_user.py --limit testbed --data user=carol

Accounts listed in the data (xmpp_admins, xmpp_accounts) are refused: the next deploy would
create them again. Remove them from group_data/ first.
"""

from pyinfra import host, state
from pyinfra.operations import python

from eldwyn import accounts
from eldwyn.facts import Accounts
from eldwyn.operator import (
    TaskInputError,
    account_from_data,
    forget_password,
    prosody_shell,
    say,
)
from eldwyn.preflight import checked_config
from eldwyn.secrets import SecretsStore

config = checked_config(state, host)
jid = account_from_data(host, config)
if jid in config.seeded_accounts:
    raise TaskInputError(f"user: {jid} is in the data (xmpp_admins or xmpp_accounts) and the next deploy"
                         " would create it again; remove it from group_data/ first. Nothing was changed.")
existing = host.get_fact(Accounts, realm=config.realm)
if jid not in existing:
    say(host, f"there is no account {jid}: nothing to do")
else:
    prosody_shell(f"Delete the account {jid}", accounts.delete_script([jid]))
    python.call(name=f"Forget the password of {jid}", function=forget_password,
                store=SecretsStore(config.secrets.dir), jid=jid)

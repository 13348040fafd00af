"""Creates an account. Its password is the one in the secrets store (account-JID) if there is
one, else a new random one kept there (password=generate), or typed at a prompt (password=prompt).

    pyinfra inventory.py operator_tasks/add_user.py --limit testbed --data user=carol [--data password=prompt]

An account that exists already is left as it is.
"""

from pyinfra import host, state
from pyinfra.operations import python

from eldwyn import accounts
from eldwyn.facts import Accounts
from eldwyn.operator import (
    account_from_data,
    new_password,
    password_source,
    prosody_shell,
    remembering_password,
    say,
)
from eldwyn.preflight import checked_config
from eldwyn.secrets import SecretsStore, account_password_name

config = checked_config(state, host)
jid = account_from_data(host, config)
password_source(host)  # bad input stops here, before anything runs
existing = host.get_fact(Accounts, realm=config.realm)
store = SecretsStore(config.secrets.dir)

if jid in existing:
    say(host, f"{jid} exists already: nothing to do")
else:
    if host.data.get("password") is None and store.exists(account_password_name(jid)):
        password = store.get(account_password_name(jid))
    else:
        password = new_password(host, jid)
    prosody_shell(f"Create the account {jid}", accounts.creation_script([(jid, password, accounts.MEMBER_ROLE)]))
    python.call(name=f"Keep the password of {jid} in the secrets store",
                function=remembering_password(store, jid, password))

"""Accounts: the admins and the initial accounts of the data, created in Prosody's SQLite store
when missing. An existing account is never touched (no password is reset by a deploy).

Two round trips whatever their number: one query of the store, one `prosodyctl shell` session
fed the creation script on stdin (passwords come from the operator's secrets store and never
appear on a command line, in a file on the host or in pyinfra's output; see eldwyn/accounts.py).
"""

from pyinfra import host
from pyinfra.facts.server import Command
from pyinfra.operations import server

from eldwyn import accounts, prosody
from eldwyn.preflight import host_config
from eldwyn.secrets import SecretsStore, account_password_name

config = host_config(host)
existing = accounts.parse_existing_accounts(host.get_fact(Command, accounts.existing_accounts_command(config)) or "")
missing = accounts.missing_accounts(config, existing)

if missing:
    store = SecretsStore(config.secrets_dir)
    script = accounts.creation_script(
        [(jid, store.get_or_generate(account_password_name(jid)), role) for jid, role in missing]
    )
    # The shell talks to the running server through its socket, which a restart just recreated.
    wait_for_socket = f"for i in $(seq 120); do [ -S {prosody.DATA_DIR}/prosody.sock ] && break; sleep 0.5; done"
    server.shell(
        name=f"Create {len(missing)} missing accounts: {', '.join(jid for jid, _ in missing[:3])}"
             + (", ..." if len(missing) > 3 else ""),
        commands=[f"{wait_for_socket}; {accounts.apply_command()}"],
        _stdin=script,
    )

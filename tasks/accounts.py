"""Accounts: the admins and the initial accounts of the data, created in Prosody's SQLite store
when missing. An existing account is never touched (no password is reset by a deploy).

Two round trips whatever their number: one query of the store, one `prosodyctl shell` session
fed the creation script on stdin. Passwords come from the operator's secrets store and never
leave this machine: only the SCRAM keys derived from them reach the host, never on a command
line, in a file on the host or in pyinfra's output (see eldwyn/accounts.py).
"""

from eldwyn import accounts
from eldwyn.operator import prosody_shell
from eldwyn.secrets import SecretsStore, account_password_name


def create_missing(config, existing, restored):
    """``existing``: the realm's accounts in the store (the ProsodyStore fact); ``restored``:
    the accounts this run's restore puts back (read before it ran)."""
    existing = existing | restored
    missing = accounts.missing_accounts(config, existing)
    if missing:
        store = SecretsStore(config.secrets.dir)
        script = accounts.creation_script(
            [(jid, store.get_or_generate(account_password_name(jid)), role) for jid, role in missing]
        )
        prosody_shell(f"Create {len(missing)} missing accounts: {', '.join(jid for jid, _ in missing[:3])}"
                      + (", ..." if len(missing) > 3 else ""), script)

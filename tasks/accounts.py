"""Accounts: the admins and the initial accounts of the data, created in Prosody's SQLite store
when missing. An existing account is never touched (no password is reset by a deploy).

Two round trips whatever their number: one query of the store, one `prosodyctl shell` session
fed the creation script on stdin. Passwords come from the operator's secrets store and never
leave this machine: only the SCRAM keys derived from them reach the host, never on a command
line, in a file on the host or in pyinfra's output (see eldwyn/accounts.py).
"""

from eldwyn import accounts
from eldwyn.operator import prosody_shell
from eldwyn.secrets import SecretsStore, account_password_name, new_value


def derive_new(config):
    """Before the host is asked anything: for each seeded account with no password in the
    secrets store yet, a new password (in memory only) and its SCRAM keys, derived in the
    background while the facts command runs (eldwyn.accounts.Derivation). Only an account that
    then proves missing on the host gets that password stored (create_missing); one that exists
    there keeps having none here. Accounts whose password is stored already (every re-run; a
    rebuild from the operator's secrets) cost nothing here."""
    store = SecretsStore(config.secrets.dir)
    return accounts.Derivation({jid: new_value() for jid, _ in accounts.roles_for(config)
                                if not store.exists(account_password_name(jid))})


def create_missing(config, existing, restored, derived=accounts.NOTHING_DERIVED):
    """``existing``: the realm's accounts in the store (the ProsodyStore fact); ``restored``:
    the accounts this run's restore puts back (read before it ran); ``derived``: derive_new's."""
    existing = existing | restored
    missing = accounts.missing_accounts(config, existing)
    if missing:
        store = SecretsStore(config.secrets.dir)
        script = accounts.creation_script(
            [(jid, store.get_or_generate(account_password_name(jid), proposed=derived.proposed(jid)), role) for jid, role in missing], derived)
        prosody_shell(f"Create {len(missing)} missing accounts: {', '.join(jid for jid, _ in missing[:3])}"
                      + (", ..." if len(missing) > 3 else ""), script)
    derived.close()

"""New accounts' SCRAM keys are derived in the background while the deploy asks the host
(eldwyn.accounts.Derivation, tasks.accounts.derive_new): the keys it hands over are those of the
password that is stored, an account that exists on the host gets no password stored, and
dropping a derivation does not wait for it."""

import re
import time

from eldwyn import accounts
from eldwyn.config import load_config
from eldwyn.secrets import SecretsStore, account_password_name
from tasks import accounts as accounts_task

ACCOUNT = re.compile(r'\{ "([^"]+)", "prosody:member", \{ salt = "([^"]+)", iteration_count = 10000,'
                     r' stored_key = "([0-9a-f]+)", server_key = "([0-9a-f]+)" \} \}')


def keys_in(script):
    return {jid: (salt, stored, server) for jid, salt, stored, server in ACCOUNT.findall(script)}


def matches(password, keys):
    salt, stored, server = keys
    expected = accounts.scram_credentials(password, salt=salt)
    return (stored, server) == (expected["stored_key"], expected["server_key"])


def test_the_script_uses_the_keys_derived_for_the_same_jid_and_password_only():
    derivation = accounts.Derivation({"a@r.org": "pw-a", "b@r.org": "pw-b"})
    script = accounts.creation_script([("a@r.org", "pw-a", "prosody:member"), ("b@r.org", "other", "prosody:member"),
                                       ("c@r.org", "pw-c", "prosody:member")], derivation)
    keys = keys_in(script)
    assert matches("pw-a", keys["a@r.org"])  # taken from the derivation
    assert matches("other", keys["b@r.org"])  # b was derived from another password: derived again
    assert matches("pw-c", keys["c@r.org"])  # not in it: derived now
    assert derivation.take("a@r.org", "pw-a") is None  # each is handed over once
    derivation.close()


def test_closing_drops_what_was_not_taken_without_waiting():
    started = time.monotonic()
    derivation = accounts.Derivation({f"u{n}@r.org": f"pw-{n}" for n in range(3000)})  # ~9 s of work
    derivation.close()
    assert time.monotonic() - started < 2
    assert derivation.take("u1@r.org", "pw-1") is None and derivation.proposed("u1@r.org") == "pw-1"


def test_deploy_stores_the_proposed_password_only_for_accounts_missing_on_the_host(data, monkeypatch):
    config = load_config({**data, "xmpp_accounts": [f"{name}@{data['xmpp_realm']}" for name in ("ann", "ben", "cy")]},
                         environ={})
    store = SecretsStore(config.secrets.dir)
    seeded = [jid for jid, _ in accounts.roles_for(config)]
    assert len(seeded) >= 3, seeded
    kept, on_the_host = seeded[0], seeded[1]
    store.put(account_password_name(kept), "kept-password")
    derivation = accounts_task.derive_new(config)
    assert derivation.proposed(kept) is None and derivation.proposed(on_the_host)
    assert not store.exists(account_password_name(on_the_host))  # nothing stored before the host is asked
    scripts = []
    monkeypatch.setattr(accounts_task, "prosody_shell", lambda name, script: scripts.append(script))
    accounts_task.create_missing(config, {on_the_host}, restored=set(), derived=derivation)
    keys = keys_in(scripts[0])
    assert on_the_host not in keys and not store.exists(account_password_name(on_the_host))
    assert matches("kept-password", keys[kept])
    for jid in seeded[2:]:
        password = store.get(account_password_name(jid))
        assert password == derivation.proposed(jid) and matches(password, keys[jid])


def test_a_derivation_left_open_is_closed_when_the_process_exits(monkeypatch):
    """A deploy that stops between derive_new and create_missing skips the derivations left."""
    registered = []
    monkeypatch.setattr(accounts.atexit, "register", registered.append)
    monkeypatch.setattr(accounts.atexit, "unregister", lambda func: registered.remove(func) if func in registered else None)
    derivation = accounts.Derivation({f"u{n}@r.org": f"pw-{n}" for n in range(50)})
    assert registered == [derivation.close]
    registered[0]()  # as at exit
    assert derivation.take("u1@r.org", "pw-1") is None and registered == []
    accounts.Derivation({})  # nothing under way: nothing to close
    assert registered == []

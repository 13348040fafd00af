"""Checks of Prosody's store after a crash in a message storm (tests.xmpp.storm_through_crash):
tests/vm/test_41_store_crash_safety.py (kill -9) and tests/vm/test_90_reboot.py (a hard reset)."""

import re

from eldwyn.store import DATABASE
from tasks.prosody_service import wait_for_ports
from tests import xmpp
from tests.testbed import config_for_testbed

CONFIG = config_for_testbed()


def store_query(vm, sql):
    """``sql`` on the live store, read-only, as Prosody's user (as the deploy reads it)."""
    return vm.check_output(f"runuser -u prosody -- sqlite3 -readonly -batch -noheader -cmd '.timeout 20000'"
                           f" {DATABASE} \"{sql}\"")


def archived_numbers(vm, user, prefix):
    """The numbers n of the "<prefix> <n>" messages in ``user``'s archive, read from the store."""
    values = store_query(vm, f"SELECT value FROM prosodyarchive WHERE host = '{CONFIG.realm}'"
                             f" AND user = '{user}' AND store = 'archive' AND value LIKE '%{prefix} %'")
    return {int(n) for n in re.findall(rf"{prefix} (\d+)<", values)}


def check_store_after_crash(vm, target, prefix, acknowledged, sent):
    """Every acknowledged message of the storm is in the sender's and the recipient's archive,
    the store passes SQLite's integrity check and is still in WAL mode, and the server answers."""
    assert 0 < acknowledged < sent, f"the crash did not interrupt the storm ({acknowledged} of {sent} acknowledged)"
    vm.run("systemctl is-system-running --wait")
    vm.check_output("systemctl start prosody")  # (systemd restarts it after a kill -9 by itself too)
    vm.check_output(wait_for_ports(CONFIG.ports.all))
    assert store_query(vm, "PRAGMA integrity_check;") == "ok"
    assert store_query(vm, "PRAGMA journal_mode;") == "wal"
    for user in ("alice", "bob"):  # the sender's copy, and the recipient's
        found = archived_numbers(vm, user, prefix)
        missing = sorted(set(range(acknowledged)) - found)
        assert not missing, f"{len(missing)} acknowledged messages lost from {user}'s archive: {missing[:10]}"
    assert f"{prefix} {acknowledged - 1}" in xmpp.archived_bodies(target, f"alice@{CONFIG.realm}",
                                                                     with_jid=f"bob@{CONFIG.realm}")

"""Prosody's store survives ``kill -9`` of Prosody in the middle of a message storm: every message
the server had acknowledged (a ping answered after it, tests.xmpp.storm_through_crash) is in both
archives afterwards, and the store passes SQLite's integrity check, still in WAL mode
(eldwyn/store.py: WAL with synchronous=FULL). The hard reset of the whole VM in a storm is
tests/vm/test_90_reboot.py's, which boots the VM anyway."""

from tests import xmpp
from tests.store_checks import check_store_after_crash


def test_kill_9_of_prosody_in_a_storm_loses_no_acknowledged_message(vm, target):
    pid_before = vm.check_output("systemctl show -p MainPID --value prosody")

    def crash():
        vm.check_output(f"kill -KILL {pid_before}")

    prefix, acknowledged, sent = xmpp.storm_through_crash(
        target, f"alice@{target.realm}", f"bob@{target.realm}", crash)
    check_store_after_crash(vm, target, prefix, acknowledged, sent)
    assert vm.check_output("systemctl show -p MainPID --value prosody") != pid_before

"""Prosody's store survives a crash in the middle of a message storm: ``kill -9`` of Prosody, then
a hard reset of the whole VM (no shutdown, no flush: libvirt's reset button). Every message the
server had acknowledged (a ping answered after it, tests.xmpp.storm_through_crash) is in both
archives afterwards, and the store passes SQLite's integrity check, still in WAL mode.
(eldwyn/store.py: WAL with synchronous=FULL, chosen by the load benchmark.)"""

import re
import subprocess

from eldwyn.store import DATABASE
from tasks.prosody_service import wait_for_ports
from tests import xmpp
from tests.testbed import LIBVIRT_DOMAIN, config_for_testbed, wait_for_ssh

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


def check_store_after(vm, target, prefix, acknowledged, sent):
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
    # and the server works: the user logs in and the archive answers
    assert f"{prefix} {acknowledged - 1}" in xmpp.archived_bodies(target, f"alice@{CONFIG.realm}",
                                                                     with_jid=f"bob@{CONFIG.realm}")


def test_kill_9_of_prosody_in_a_storm_loses_no_acknowledged_message(vm, target):
    pid_before = vm.check_output("systemctl show -p MainPID --value prosody")

    def crash():
        vm.check_output(f"kill -KILL {pid_before}")

    prefix, acknowledged, sent = xmpp.storm_through_crash(
        target, f"alice@{target.realm}", f"bob@{target.realm}", crash)
    check_store_after(vm, target, prefix, acknowledged, sent)
    assert vm.check_output("systemctl show -p MainPID --value prosody") != pid_before


def test_a_hard_reset_of_the_vm_in_a_storm_loses_no_acknowledged_message(vm, target):
    boot_before = vm.check_output("cat /proc/sys/kernel/random/boot_id")

    def crash():
        subprocess.run(["virsh", "-c", "qemu:///system", "reset", LIBVIRT_DOMAIN], check=True,
                       capture_output=True, timeout=60)

    prefix, acknowledged, sent = xmpp.storm_through_crash(
        target, f"alice@{target.realm}", f"bob@{target.realm}", crash)
    wait_for_ssh()
    assert vm.check_output("cat /proc/sys/kernel/random/boot_id") != boot_before, "no reset happened"
    check_store_after(vm, target, prefix, acknowledged, sent)

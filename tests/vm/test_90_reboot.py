"""After a hard reset of the VM in the middle of a message storm (libvirt's reset button: no
shutdown, nothing flushed), without a deploy, the service comes back as deployed: the store with
every message the server had acknowledged, intact and in WAL mode (tests/store_checks.py),
Prosody, the firewall (v4 and v6, from netfilter-persistent) and real clients. Runs last: it
restarts the VM."""

import subprocess

from tests import xmpp
from tests.store_checks import check_store_after_crash
from tests.testbed import LIBVIRT_DOMAIN, config_for_testbed, wait_for_ssh

CONFIG = config_for_testbed()


def test_everything_works_again_after_a_hard_reset_in_a_message_storm(vm, target, site):
    boot_before = vm.check_output("cat /proc/sys/kernel/random/boot_id")

    def crash():
        subprocess.run(["virsh", "-c", "qemu:///system", "reset", LIBVIRT_DOMAIN], check=True,
                       capture_output=True, timeout=60)

    prefix, acknowledged, sent = xmpp.storm_through_crash(
        target, f"alice@{target.realm}", f"bob@{target.realm}", crash)
    wait_for_ssh()
    assert vm.check_output("cat /proc/sys/kernel/random/boot_id") != boot_before, "no reset happened"
    check_store_after_crash(vm, target, prefix, acknowledged, sent)  # waits for systemd to finish starting

    for service in ("prosody", "eldwyn-signup", "nginx"):
        assert vm.service(service).is_running, service
    ports = ",".join(str(port) for port in CONFIG.ports.all)
    for command in ("iptables", "ip6tables"):
        rules = vm.check_output(f"{command} -S INPUT").splitlines()
        assert rules.count(f"-A INPUT -p tcp -m multiport --dports {ports} -j ACCEPT") == 1, rules
    alice, bob = f"alice@{target.realm}", f"bob@{target.realm}"
    results = xmpp.quick_checks(target, alice, bob)
    assert results["login"]["mechanism"].startswith("SCRAM-")
    assert site.get(site.base + "/signup", timeout=30).status_code == 200

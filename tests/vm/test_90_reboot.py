"""After a reboot, without a deploy, the service comes back as deployed: Prosody, the firewall
(v4 and v6, from netfilter-persistent) and real clients. Runs last: it restarts the VM."""

import time

from tests import xmpp
from tests.testbed import config_for_testbed, wait_for_ssh

CONFIG = config_for_testbed()


def test_everything_works_again_after_a_reboot(vm, target, site):
    boot_before = vm.check_output("cat /proc/sys/kernel/random/boot_id")
    # Reboot a second later, so this SSH command returns cleanly first.
    vm.check_output("systemd-run --on-active=1 --timer-property=AccuracySec=100ms systemctl reboot")
    time.sleep(10)
    wait_for_ssh()
    assert vm.check_output("cat /proc/sys/kernel/random/boot_id") != boot_before, "no reboot happened"
    # systemd may still be starting units when SSH answers
    vm.run("systemctl is-system-running --wait")

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

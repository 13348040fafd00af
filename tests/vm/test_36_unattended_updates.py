"""Security updates without a visit, as apt and needrestart on the VM read their configuration."""

import pytest

from tests import testbed

CONFIG = testbed.config_for_testbed()


@pytest.fixture(scope="module", autouse=True)
def deployed(first_deploy):
    return first_deploy


def test_apt_takes_upgrades_from_the_datas_origins_only(vm):
    dump = vm.check_output("apt-config dump Unattended-Upgrade::Origins-Pattern")
    origins = [line.split(" ", 1)[1].strip('";') for line in dump.splitlines() if line.startswith("Unattended-Upgrade::Origins-Pattern:: ")]
    assert origins == list(CONFIG.updates.origins), dump
    assert 'APT::Periodic::Unattended-Upgrade "1"' in vm.check_output("apt-config dump APT::Periodic")


def test_unattended_upgrade_dry_run_picks_the_security_origin_only(vm):
    run = vm.run("unattended-upgrade --dry-run --debug 2>&1")
    assert run.rc == 0, run.stdout
    allowed = next(line for line in run.stdout.splitlines() if line.startswith("Allowed origins are:"))
    assert "codename=trixie-security,label=Debian-Security" in allowed, allowed
    assert "label=Debian'" not in allowed and "label=Debian," not in allowed, allowed  # not the main archive


def test_needrestart_restarts_services_without_asking(vm):
    # needrestart's own way of reading its configuration: the main file, then conf.d/*.conf.
    restart = vm.check_output(
        "perl -e 'our %nrconf; do \"/etc/needrestart/needrestart.conf\";"
        " do $_ for sort glob \"/etc/needrestart/conf.d/*.conf\"; print $nrconf{restart}'")
    assert restart == "a"


@pytest.mark.parametrize("package", ["unattended-upgrades", "needrestart"])
def test_the_update_tools_are_installed(vm, package):
    assert vm.package(package).is_installed

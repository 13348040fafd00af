"""Security updates without a visit, as apt and needrestart on the VM read their configuration."""

import itertools
import re

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


# unattended-upgrade's own choice, up to the moment it has picked its packages: a dry run that is
# stopped (by its process id) once it prints them. What it does after that (downloading the
# picks, a dpkg simulation of each set: 110 s under emulation for a kernel and a dozen libraries)
# is Debian's, and depends on what the archive has that day.
PICKS = "pkgs that look like they should be upgraded:"
NOTHING = "No packages found that can be upgraded unattended"
DRY_RUN = (
    "out=$(mktemp); unattended-upgrade --dry-run --debug > $out 2>&1 & pid=$!; "
    f"while kill -0 $pid 2>/dev/null && ! grep -q '^{PICKS}' $out; do sleep 0.5; done; "
    f"if grep -q '^{PICKS}' $out; then kill $pid; wait $pid; rc=0; else wait $pid; rc=$?; fi; "
    "cat $out; rm -f $out; exit $rc"
)


def test_unattended_upgrade_picks_from_the_security_origin_only(vm):
    run = vm.run(DRY_RUN)
    assert run.rc == 0, run.stdout
    lines = run.stdout.splitlines()
    allowed = next(line for line in lines if line.startswith("Allowed origins are:"))
    assert "codename=trixie-security,label=Debian-Security" in allowed, allowed
    assert "label=Debian'" not in allowed and "label=Debian," not in allowed, allowed  # not the main archive
    if any(line.startswith(NOTHING) for line in lines):
        return  # nothing pending in the security archive today
    start = lines.index(next(line for line in lines if line.startswith(PICKS)))
    picks = [lines[start].removeprefix(PICKS).strip()]
    # The list is the lines right after the header, one package name each: it ends at the first
    # line that is not one.
    picks += [line.strip() for line in itertools.takewhile(
        lambda line: re.fullmatch(r"[a-z0-9][a-z0-9.+-]+", line.strip()), lines[start + 1:])]
    picks = [pick for pick in picks if pick]
    assert picks, run.stdout
    # Each pick was checked with its candidate's origins: every one is in the security archive.
    checked = {line.split("=", 1)[0].removeprefix("Checking: "): line
               for line in lines if line.startswith("Checking: ")}
    for pick in picks:
        assert "label:'Debian-Security'" in checked[pick], checked.get(pick)


def test_needrestart_restarts_services_without_asking(vm):
    # needrestart's own way of reading its configuration: the main file, then conf.d/*.conf.
    restart = vm.check_output(
        "perl -e 'our %nrconf; do \"/etc/needrestart/needrestart.conf\";"
        " do $_ for sort glob \"/etc/needrestart/conf.d/*.conf\"; print $nrconf{restart}'")
    assert restart == "a"


@pytest.mark.parametrize("package", ["unattended-upgrades", "needrestart"])
def test_the_update_tools_are_installed(vm, package):
    assert vm.package(package).is_installed

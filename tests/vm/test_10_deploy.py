"""Deploy-level behaviour, driven through the real pyinfra CLI. Runs in file order:
the dry run must see the VM before anything was deployed."""

from tests.testbed import pyinfra_deploy

MARKER = "/run/eldwyn-dry-run-marker"
# What pyinfra's own connection may touch while it only reads: sudo's timestamps, the login
# records of the SSH session. Anything else newer than the marker is a change made by the run.
UNTOUCHED_TREES = "/etc /usr /opt /srv /var/lib /var/cache/apt /var/backups"


def snapshot(vm):
    packages = vm.check_output("dpkg-query -W -f '${Package}=${Version}\\n' | sort")
    enabled = vm.check_output("systemctl list-unit-files --no-legend --state=enabled | sort")
    accounts = vm.check_output("sqlite3 -readonly /var/lib/prosody/prosody.sqlite "
                               "\"SELECT host, user FROM prosody WHERE store='accounts' ORDER BY 1, 2\" "
                               "2>/dev/null || true")
    return packages, enabled, accounts


def test_dry_run_leaves_the_vm_untouched(vm):
    fresh = not vm.package("prosody").is_installed
    before = snapshot(vm)
    vm.check_output(f"touch {MARKER}")

    run = pyinfra_deploy("--dry")

    assert run.returncode == 0
    if fresh:  # otherwise there is nothing left to plan, and that is fine too
        assert run.planned_changes > 0, "a dry run on a fresh VM should plan the installation"
    assert snapshot(vm) == before
    newer = vm.check_output(f"find {UNTOUCHED_TREES} -xdev -newer {MARKER} -not -type d "
                            "-not -path '/var/lib/sudo/*' -not -path '/var/lib/systemd/*' "
                            # a running server's own data (on a VM deployed before): the account
                            # list in the snapshot is what a deploy would change there
                            "-not -path '/var/lib/prosody/*' -not -path '/var/lib/private/eldwyn-signup/*' "
                            "2>/dev/null || true")
    assert newer == "", f"files changed by a dry run:\n{newer}"


def test_first_deploy_succeeds(first_deploy):
    assert first_deploy.returncode == 0
    assert first_deploy.errors == 0


def test_second_deploy_reports_zero_changes(first_deploy):
    run = pyinfra_deploy()
    assert run.returncode == 0
    assert run.changed == 0, "a re-run changed something: the deploy is not idempotent"

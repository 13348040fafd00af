"""The host's scheduled backups on the VM (backup_repository: the test bed's restic REST server,
testbed/vm/backup-target). The test starts eldwyn-backup.service as its timer would: the same
snapshot as operator_tasks/backup.py reaches the repository, which keeps backup_keep of them; a
run that cannot reach the repository fails where an operator looks (systemctl --failed,
operator_tasks/status.py); backup.py fetches the newest snapshot back as a complete, verified
backup without writing to the repository. tests/vm/test_80_rebuild.py restores a rebuilt VM
from such a snapshot."""

import json
import re

import pytest

from eldwyn import backup as backups, scheduled_backups as sb
from tests import testbed
from tests.testbed import accounts_on_vm, operator_task

CONFIG = testbed.config_for_testbed()
BACKUP = CONFIG.backup
TARGET = "/usr/local/lib/eldwyn-testbed/backup-target"
REPOSITORY_FILES = "/var/lib/eldwyn-testbed/restic"


@pytest.fixture(scope="module", autouse=True)
def deployed(first_deploy):
    return first_deploy


def run_backup(vm):
    with vm.sudo():
        return vm.run(f"systemctl start {sb.UNIT}.service")


def snapshots(vm):
    with vm.sudo():
        return json.loads(vm.check_output(f"set -a; . {sb.ENV_FILE}; set +a; restic snapshots --no-lock --json"
                                          f" --host {CONFIG.realm} --tag {sb.TAG}"))


def repository_files(vm):
    with vm.sudo():
        return vm.check_output(f"find {REPOSITORY_FILES} -type f -printf '%p %s %T@\\n' | sort")


def status_lines():
    run = operator_task("status")
    assert run.returncode == 0, run.output
    return [line for line in run.said() if line.startswith(("Backups", "  last run"))]


def test_the_timer_runs_on_the_datas_schedule_and_the_password_is_root_only(vm):
    timer = vm.service(f"{sb.UNIT}.timer")
    assert timer.is_enabled and timer.is_running
    assert "OnCalendar=*-*-* 03:17:00" in vm.file(f"/etc/systemd/system/{sb.UNIT}.timer").content_string
    for path in (sb.PASSWORD_FILE, sb.ENV_FILE):
        file = vm.file(path)
        assert (file.user, file.group, file.mode) == ("root", "root", 0o600), path


def test_runs_reach_the_repository_and_it_keeps_the_newest(vm):
    for _ in range(BACKUP.keep + 1):
        run = run_backup(vm)
        assert run.rc == 0, run.stderr
    found = snapshots(vm)
    assert len(found) == BACKUP.keep, found
    assert all(snapshot["paths"] == [f"/{sb.ARCHIVE_NAME}"] for snapshot in found)
    assert vm.check_output("ls /var/tmp | grep -c '^eldwyn-' || true") == "0"  # nothing left behind
    lines = status_lines()
    assert re.fullmatch(rf"Backups \(every {BACKUP.every_hours} h to {re.escape(BACKUP.repository)}\): last good"
                        r" \d{4}-\d\d-\d\d \d\d:\d\d UTC \(0h 0m \d+s ago\)", lines[0]), lines
    assert len(lines) == 1, lines


# restic retries an unreachable repository for 15 minutes before it gives up (and the unit then
# fails with exit-code); the test bounds the run to 10 s instead, with a runtime drop-in (the
# archive is made in about 2 s, so the run is past it and waiting on the repository by then).
BOUND = f"/run/systemd/system/{sb.UNIT}.service.d/eldwyn-test-bound.conf"


def test_a_run_that_cannot_reach_the_repository_fails_visibly(vm):
    with vm.sudo():
        vm.check_output(f"{TARGET} stop")
        vm.check_output(f"mkdir -p $(dirname {BOUND}) && printf '[Service]\\nTimeoutStartSec=10s\\n' > {BOUND}"
                        " && systemctl daemon-reload")
    try:
        run = run_backup(vm)
        assert run.rc != 0
        with vm.sudo():
            failed = vm.check_output("systemctl --failed --plain --no-legend")
        assert f"{sb.UNIT}.service" in failed, failed
        lines = status_lines()
        assert lines[1] == f"  last run FAILED (timeout): journalctl -u {sb.UNIT}.service", lines
    finally:
        with vm.sudo():
            vm.run(f"rm -f {BOUND} && systemctl daemon-reload")
            vm.check_output(f"{TARGET} start")
    assert run_backup(vm).rc == 0
    with vm.sudo():
        assert vm.run(f"systemctl is-failed --quiet {sb.UNIT}.service").rc != 0
    assert len(status_lines()) == 1


def test_backup_fetches_the_newest_scheduled_snapshot_without_writing_to_the_repository(vm):
    newest = snapshots(vm)[-1]
    before = repository_files(vm)
    run = operator_task("backup", backup_from_repository="true")
    assert run.returncode == 0, run.output
    said = run.said()[-1]
    assert said.startswith("Backup (the scheduled snapshot of "), said
    fetched = backups.verify(said.rsplit(" in ", 1)[1], CONFIG.realm)
    assert fetched.path.name.startswith(newest["time"][:10].replace("-", "")), (fetched.path, newest["time"])
    assert fetched.manifest["accounts"] == accounts_on_vm(vm)
    assert repository_files(vm) == before, "fetching wrote to the repository"
    # The same content as a fresh backup: the same files, the same bytes but for the SQLite
    # copies (made at other instants).
    fresh_run = operator_task("backup")
    assert fresh_run.returncode == 0, fresh_run.output
    fresh = backups.verify(fresh_run.said()[-1].rsplit(" in ", 1)[1], CONFIG.realm)
    ours, theirs = fetched.manifest["archive_members"], fresh.manifest["archive_members"]
    assert sorted(ours) == sorted(theirs)
    stores = set(backups.stores(CONFIG))
    assert {name: entry["sha256"] for name, entry in ours.items() if name not in stores} \
        == {name: entry["sha256"] for name, entry in theirs.items() if name not in stores}
    again = operator_task("backup", backup_from_repository="true")
    assert again.returncode == 0 and again.said()[-1] == f"The newest scheduled snapshot is here already: {fetched.path}"

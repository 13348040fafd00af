"""The host's scheduled backups (backup_repository): the files on the host, the scripts (run for
real against a fake restic), the data's checks, and what status says of them."""

import subprocess
from datetime import datetime, timedelta, timezone

import pytest

from eldwyn import scheduled_backups as sb, status
from eldwyn.config import ConfigError, load_config
from eldwyn.schema.data import Backup
from tasks import scheduled_backups

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=timezone.utc)
REPOSITORY = "rest:https://backup.example.org:8000/eldwyn"


@pytest.fixture
def scheduled(data):
    return load_config({**data, "backup_repository": REPOSITORY, "backup_keep": 5, "backup_every_hours": 6}, environ={})


def by_path(found):
    return {file.path: file for file in found}


def test_no_repository_no_files_and_no_restic(config, store):
    assert scheduled_backups.files(config, store) == [] and "restic" not in config.packages
    assert not store.exists(Backup.password_secret)
    assert "backup" not in status.status_command(config).replace("eldwyn-backup", "")  # no lines of it


def test_the_files_keep_the_password_off_command_lines_and_root_only(scheduled, store):
    files = by_path(scheduled_backups.files(scheduled, store))
    password = store.get(Backup.password_secret)
    assert len(password) >= 40 and "restic" in scheduled.packages
    assert files[sb.PASSWORD_FILE].content == f"{password}\n".encode()
    assert (files[sb.PASSWORD_FILE].mode, files[sb.ENV_FILE].mode, files[sb.SNAPSHOT].mode) == ("600", "600", "700")
    env = files[sb.ENV_FILE].content.decode()
    assert f"RESTIC_REPOSITORY={REPOSITORY}\n" in env and f"RESTIC_PASSWORD_FILE={sb.PASSWORD_FILE}\n" in env
    assert password not in env
    for path, file in files.items():
        if path != sb.PASSWORD_FILE:
            assert password.encode() not in file.content, path
    script = files[sb.SCRIPT].content.decode()
    assert "--keep-last 5 --prune" in script and "--stdin --stdin-filename host.tar" in script
    timer = files["/etc/systemd/system/eldwyn-backup.timer"].content.decode()
    assert "OnCalendar=*-*-* 00/6:17:00" in timer and "Persistent=true" in timer
    service = files["/etc/systemd/system/eldwyn-backup.service"].content.decode()
    assert f"EnvironmentFile={sb.ENV_FILE}" in service and f"ExecStart={sb.SCRIPT}" in service
    # The snapshot is the very one operator_tasks/backup.py takes.
    from eldwyn.backup import snapshot_command
    assert snapshot_command(scheduled) in files[sb.SNAPSHOT].content.decode()
    assert scheduled_backups.files(scheduled, store) == list(files.values())  # stable across runs


def test_daily_is_at_night():
    assert sb.on_calendar(24) == "*-*-* 03:17:00" and sb.on_calendar(1) == "*-*-* 00/1:17:00"


FAKE_RESTIC = """#!/bin/sh
# Records its calls; "cat config" fails once, as for a new repository.
echo "$*" >> "$LOG"
case "$1" in
  cat) [ -e "$STATE/init" ] || exit 1 ;;
  init) touch "$STATE/init" ;;
  backup) cat > "$STATE/received" ;;
  forget) [ -z "${FAIL_FORGET:-}" ] || exit 3 ;;
esac
"""


def run_backup_script(tmp_path, config, store, fail_forget=False):
    files = by_path(scheduled_backups.files(config, store))
    bin_dir, state = tmp_path / "bin", tmp_path / "state"
    bin_dir.mkdir(exist_ok=True)
    state.mkdir(exist_ok=True)
    (bin_dir / "restic").write_text(FAKE_RESTIC)
    (bin_dir / "restic").chmod(0o755)
    snapshot = tmp_path / "snapshot"  # stands in for the real snapshot: an archive in a fresh directory
    snapshot.write_text(f"#!/bin/sh\nd=$(mktemp -d {tmp_path}/snap.XXXXXX); echo archive > $d/host.tar; echo $d/host.tar\n")
    snapshot.chmod(0o755)
    stamp = tmp_path / "stamp/last-success"
    script = files[sb.SCRIPT].content.decode().replace(sb.SNAPSHOT, str(snapshot)).replace(sb.STAMP, str(stamp))
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "LOG": str(tmp_path / "log"), "STATE": str(state)}
    if fail_forget:
        env["FAIL_FORGET"] = "1"
    result = subprocess.run(["sh", "-c", script], capture_output=True, text=True, env=env)
    log = (tmp_path / "log").read_text().splitlines()
    return result, log, stamp, state


def test_the_backup_script_inits_once_sends_the_snapshot_prunes_and_stamps(tmp_path, scheduled, store):
    result, log, stamp, state = run_backup_script(tmp_path, scheduled, store)
    assert result.returncode == 0, result.stderr
    assert [line.split()[0] for line in log] == ["cat", "init", "backup", "forget"]
    assert "--host cslabs.clarkson.edu --tag eldwyn-xmpp" in log[2]
    assert (state / "received").read_text() == "archive\n"
    assert abs(int(stamp.read_text()) - datetime.now(timezone.utc).timestamp()) < 60
    assert not list(tmp_path.glob("snap.*")), "the snapshot's directory is left behind"
    result, log, _, _ = run_backup_script(tmp_path, scheduled, store)
    assert [line.split()[0] for line in log[4:]] == ["cat", "backup", "forget"]  # no second init


def test_a_failed_run_fails_and_leaves_the_stamp(tmp_path, scheduled, store):
    result, _, stamp, _ = run_backup_script(tmp_path, scheduled, store, fail_forget=True)
    assert result.returncode != 0 and not stamp.exists()
    assert not list(tmp_path.glob("snap.*"))


def test_fetching_reads_without_locking(scheduled):
    for command in (sb.latest_command(scheduled), sb.fetch_latest_command(scheduled)):
        subprocess.run(["sh", "-n"], input=command, text=True, check=True)
        assert "--no-lock" in command and "RESTIC_PASSWORD" not in command


@pytest.mark.parametrize("output, expected", [
    ('[{"time": "2026-12-03T06:30:01.527153486+00:00", "id": "x"}]', datetime(2026, 12, 3, 6, 30, 1, tzinfo=timezone.utc)),
    ('[{"time": "2026-12-03T01:30:01-05:00"}]', datetime(2026, 12, 3, 6, 30, 1, tzinfo=timezone.utc)),
    ('[{"time": "2026-12-03T06:30:01Z"}]', datetime(2026, 12, 3, 6, 30, 1, tzinfo=timezone.utc)),
    ("[]", None), ("", None),
])
def test_the_newest_snapshots_time(output, expected):
    assert sb.newest_time(output) == expected


@pytest.mark.parametrize("value, words", [
    ("rest:http://backup.example.org:8000/eldwyn", "plain http is for a server on this host only"),
    ("rest:https://user:secret@backup.example.org/eldwyn", "no credentials in it"),
    ("s3:s3.amazonaws.com/bucket", "is not a restic repository"),
    ("sftp:backup.example.org:/srv", "is not a restic repository"),
    ("rest:https://backup.example.org/eld;wyn", "is not a restic repository"),
])
def test_bad_repositories_are_refused_naming_the_key(data, value, words):
    with pytest.raises(ConfigError) as error:
        load_config({**data, "backup_repository": value}, environ={})
    assert error.value.path == "backup_repository" and words in str(error.value)


@pytest.mark.parametrize("key, value", [("backup_every_hours", 5), ("backup_keep", 0), ("backup_from_repository", "yes")])
def test_bad_schedules_are_refused_naming_the_key(data, key, value):
    with pytest.raises(ConfigError) as error:
        load_config({**data, "backup_repository": REPOSITORY, key: value}, environ={})
    assert error.value.path == key


@pytest.mark.parametrize("value", ["rest:http://127.0.0.1:8000/eldwyn", "sftp:eldwyn@backup.example.org:/srv/restic/eldwyn",
                                   "rest:https://[2001:db8::1]:8000/"])
def test_good_repositories(data, value):
    assert load_config({**data, "backup_repository": value}, environ={}).backup.repository == value


def report_of(config, lines):
    return status.backup_lines(config, status.parse("\n".join(lines))[0], NOW)


def test_status_shows_the_last_good_backup_and_warns_when_old(scheduled):
    fresh = int((NOW - timedelta(hours=3)).timestamp())
    assert report_of(scheduled, [f"backup_last {fresh}", "backup_result success"]) == [
        f"Backups (every 6 h to {REPOSITORY}): last good 2026-12-03 09:00 UTC (3h 0m 0s ago)"]
    old = int((NOW - timedelta(hours=13)).timestamp())
    assert report_of(scheduled, [f"backup_last {old}", "backup_result success"])[0].endswith(
        "(13h 0m 0s ago): WARNING, older than twice the schedule (12 h)")
    assert report_of(scheduled, ["backup_result success"]) == [
        f"Backups (every 6 h to {REPOSITORY}): WARNING: no good backup yet"]


def test_status_shows_a_failed_run(scheduled):
    fresh = int((NOW - timedelta(hours=1)).timestamp())
    lines = report_of(scheduled, [f"backup_last {fresh}", "backup_result exit-code"])
    assert lines[1] == "  last run FAILED (exit-code): journalctl -u eldwyn-backup.service"


def test_the_status_command_asks_for_the_backups(scheduled):
    command = status.status_command(scheduled)
    subprocess.run(["bash", "-n"], input=command, text=True, check=True)
    assert "systemctl is-active eldwyn-backup.timer" in command and sb.STAMP in command

"""Pulls a consistent backup of the host to this machine: into backup_dir/<host>/<UTC time>/,
readable by you alone (it holds the secrets too). See eldwyn/backup.py for what it holds.

    pyinfra inventory.py operator_tasks/backup.py --limit testbed

Restore it by deploying to a fresh host with --data backup_restore_from=<that directory>.

With --data backup_from_repository=true it takes the newest of the host's scheduled backups from
backup_repository (eldwyn/scheduled_backups.py) instead of a fresh snapshot, and names the
backup after that snapshot's time: the same kind of backup, restored the same way.
"""

import shutil

from pyinfra import host, state
from pyinfra.operations import python

from eldwyn import backup, scheduled_backups
from eldwyn.operator import DeployError, pull_snapshot, run_on_host, say
from eldwyn.preflight import checked_config
from eldwyn.secrets import SecretsStore

config = checked_config(state, host)


def newest_scheduled(state, host):
    """The time of the newest scheduled snapshot in the repository (DeployError if none)."""
    if config.backup.repository is None:
        raise DeployError(f"{host.name}: backup_from_repository needs backup_repository")
    taken_at = scheduled_backups.newest_time("\n".join(run_on_host(state, host, scheduled_backups.latest_command(config))))
    if taken_at is None:
        raise DeployError(f"{host.name}: the repository {config.backup.repository} has no scheduled backup yet")
    return taken_at


def take_backup(state, host):
    store = SecretsStore(config.secrets.dir)
    if config.backup.from_repository:
        taken_at = newest_scheduled(state, host)
        command = scheduled_backups.fetch_latest_command(config)
        already = config.backup.dir / host.name / taken_at.strftime("%Y%m%dT%H%M%SZ")
        if already.exists():
            say(host, f"The newest scheduled snapshot is here already: {already}")
            return
    else:
        taken_at, command = None, backup.snapshot_command(config)
    directory = backup.new_backup_dir(config.backup.dir, host.name, now=taken_at)
    try:
        pull_snapshot(state, host, command, directory / backup.HOST_ARCHIVE)
        final = backup.complete(directory, host_name=host.name, realm=config.realm, store=store, now=taken_at)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)  # never leave half a backup behind
        raise
    manifest = backup.verify(final, config.realm).manifest
    size = sum(entry["size"] for entry in manifest["files"].values())
    source = f"the scheduled snapshot of {taken_at:%Y-%m-%d %H:%M:%S %Z}" if taken_at else "a fresh snapshot"
    say(host, f"Backup ({source}) of {len(manifest['accounts'])} accounts and {len(manifest['archive_members'])} files"
              f" ({size / 1024 / 1024:.1f} MiB) in {final}")


python.call(name="Back up Prosody's store, uploads, certificates, webservice state and secrets",
            function=take_backup)

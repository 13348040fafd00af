"""Pulls a consistent backup of the host to this machine: into backup_dir/<host>/<UTC time>/,
readable by you alone (it holds the secrets too). See eldwyn/backup.py for what it holds.

    pyinfra inventory.py operator_tasks/backup.py --limit testbed

Restore it by deploying to a fresh host with --data backup_restore_from=<that directory>.
"""

import shutil

from pyinfra import host, state
from pyinfra.operations import python

from eldwyn import backup
from eldwyn.operator import pull_snapshot, say
from eldwyn.preflight import checked_config
from eldwyn.secrets import SecretsStore

config = checked_config(state, host)


def take_backup(state, host):
    store = SecretsStore(config.secrets.dir)
    directory = backup.new_backup_dir(config.backup.dir, host.name)
    try:
        pull_snapshot(state, host, backup.snapshot_command(config), directory / backup.HOST_ARCHIVE)
        final = backup.complete(directory, host_name=host.name, realm=config.realm, store=store)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)  # never leave half a backup behind
        raise
    manifest = backup.verify(final, config.realm).manifest
    size = sum(entry["size"] for entry in manifest["files"].values())
    say(host, f"Backup of {len(manifest['accounts'])} accounts and {len(manifest['archive_members'])} files"
              f" ({size / 1024 / 1024:.1f} MiB) in {final}")


python.call(name="Back up Prosody's store, uploads, certificates, webservice state and secrets",
            function=take_backup)

"""Pulls a consistent backup of the host to this machine: into backup_dir/<host>/<UTC time>/,
readable by you alone (it holds the secrets too). See eldwyn/backup.py for what it holds.

    pyinfra inventory.py operator_tasks/backup.py --limit testbed

Restore it by deploying to a fresh host with --data backup_restore_from=<that directory>.
"""

import shlex
import shutil

from pyinfra import host
from pyinfra.api.exceptions import DeployError
from pyinfra.operations import python

from eldwyn import backup
from eldwyn.operator import run_on_host, say
from eldwyn.preflight import host_config
from eldwyn.secrets import SecretsStore

config = host_config(host)


def take_backup(state, host):
    store = SecretsStore(config.secrets_dir)
    directory = backup.new_backup_dir(config.backup_dir, host.name)
    remote = None
    try:
        remote = run_on_host(state, host, backup.snapshot_command(config))[-1].strip()
        # The snapshot belongs to the login user (mode 0600): fetched over SFTP without sudo,
        # which would make a world-readable copy of it in /tmp first.
        if not host.get_file(remote, str(directory / backup.HOST_ARCHIVE), _sudo=False):
            raise DeployError(f"{host.name}: could not download {remote}")
        final = backup.complete(directory, host_name=host.name, realm=config.realm, store=store)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)  # never leave half a backup behind
        raise
    finally:
        if remote:
            run_on_host(state, host, f"rm -rf -- {shlex.quote(remote.rsplit('/', 1)[0])}")
    manifest = backup.verify(final, config.realm).manifest
    size = sum(entry["size"] for entry in manifest["files"].values())
    say(host, f"Backup of {len(manifest['accounts'])} accounts and {len(manifest['archive_members'])} files"
              f" ({size / 1024 / 1024:.1f} MiB) in {final}")


python.call(name="Back up Prosody's store, uploads, certificates, webservice state and secrets",
            function=take_backup)

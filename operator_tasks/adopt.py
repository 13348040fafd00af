"""Adopts a Prosody server this package never deployed (the hand-built Eldwyn, Prosody 0.12):
reads it without changing anything there and writes a backup that a deploy restores onto a fresh
Debian 13 host (backup_restore_from), into backup_dir/<host>/<UTC time>/. See eldwyn/adopt.py.

    ELDWYN_HOST=old-eldwyn.example pyinfra inventory.py operator_tasks/adopt.py --limit production

The host is learnt from its own files (Prosody's configuration, read by Prosody's own config
loader); our data gives only the realm it must serve and where backups go. The report at the end
counts what the backup carries and says what it cannot carry.
"""

import shutil

from pyinfra import host, state
from pyinfra.api.exceptions import DeployError
from pyinfra.operations import python

from eldwyn import adopt, backup
from eldwyn.operator import pull_snapshot, run_on_host, say
from eldwyn.preflight import checked_config

config = checked_config(state, host)


class NotAdoptable(DeployError):
    """The host cannot be adopted (one line says why); nothing was written anywhere."""


def take_over(state, host):
    """The python.call callback: False (the operation fails) after one line saying why the host
    cannot be adopted; pyinfra would print a traceback for an exception raised here."""
    try:
        _take_over(state, host)
    except NotAdoptable as error:
        say(host, f"NOT ADOPTED: {error}")
        return False
    return True


def _take_over(state, host):
    legacy = _discover(state, host)
    directory = backup.new_backup_dir(config.backup.dir, host.name)
    archive = directory / backup.HOST_ARCHIVE
    try:
        try:
            pull_snapshot(state, host, adopt.snapshot_command(legacy, config.realm), archive)
        except DeployError as error:
            raise NotAdoptable(f"could not copy the old host's store: {error}") from None
        inspection = adopt.inspect(archive, legacy, config.realm)
        # No secrets of ours go in (the old host never had any): only its certificates and keys.
        final = backup.complete(directory, host_name=host.name, realm=config.realm,
                                store=adopt.AdoptedSecrets(inspection, config.realm),
                                adopted={"prosody_version": legacy.version,
                                         "file_stores": legacy.file_stores(config.realm)})
    except adopt.AdoptError as error:
        shutil.rmtree(directory, ignore_errors=True)
        raise NotAdoptable(str(error)) from None
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)  # never leave half a backup behind
        raise
    manifest = backup.verify(final, config.realm).manifest
    size = sum(entry["size"] for entry in manifest["files"].values())
    components = [component.name for component in config.components]
    for line in adopt.report(legacy, inspection, config.realm, components):
        say(host, line)
    say(host, f"Adopted {len(manifest['accounts'])} accounts and {inspection.members} files"
              f" ({size / 1024 / 1024:.1f} MiB) into {final}")


def _discover(state, host):
    """The Legacy found on the host, or NotAdoptable naming the first problem."""
    try:
        legacy = adopt.parse_discovery("\n".join(run_on_host(state, host, adopt.discover_command())))
    except adopt.AdoptError as error:
        raise NotAdoptable(str(error)) from None
    found = adopt.problems(legacy, config.realm)
    if found:
        raise NotAdoptable("cannot adopt: " + "; ".join(found))
    return legacy


python.call(name="Adopt the old Prosody server: read its store, files and configuration, change nothing",
            function=take_over)

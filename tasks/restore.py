"""Restore from a backup (only when the data names one: backup_restore_from).

The backup was checked whole with the data, before anything changed (eldwyn/schema/data.py).
Here:
* secrets the operator's store lacks are copied back from it first, before any task renders its
  files (``secrets``: a new operator machine), so that the certificates, CA and passwords are the
  old ones, not new ones;
* the host's state is restored after the packages (Prosody's user must exist) and before our
  config goes live, so Prosody first starts with our config on the restored store;
* only onto a host whose store has no account: a restore never overwrites live data, and a host
  where this backup was restored already is left alone (a marker names each restore done).
The rest of the deploy then converges as usual, knowing what the restore will have written
(``Restore.states_after``, ``Restore.accounts``).
"""

from dataclasses import dataclass

from pyinfra import host
from pyinfra.facts.server import Command
from pyinfra.operations import files, server

from eldwyn import backup as backups
from eldwyn.host_files import FILES_DIR
from eldwyn.operator import say
from eldwyn.secrets import SecretsStore


@dataclass(frozen=True)
class Restore:
    """What this run's restore does: the Backup it restores (None: none) and its operations."""

    backup: object = None
    operations: tuple = ()

    def states_after(self, states, config):
        """FileStates as they will be once the restore has run."""
        return {**states, **self.backup.restored_files(config)} if self.backup else states

    @property
    def accounts(self):
        return set(self.backup.accounts) if self.backup else set()


def secrets(config):
    """Copies back the secrets the operator's store lacks. It runs before any task renders its
    files: rendering issues a certificate (or makes a password) for every name the store lacks,
    and those new ones would then shadow the backup's."""
    backup = config.restore_from
    if backup is None:
        return
    copied, differing = backups.merge_secrets(backup, SecretsStore(config.secrets.dir))
    if copied:
        say(host, f"Restored {len(copied)} secrets from {backup.name} into {config.secrets.dir}")
    if differing:
        say(host, f"Kept the secrets store's own {', '.join(differing)} (the backup's differ)")


def restore(config):
    """The host's part: after the packages, before our config goes live (see the module's note)."""
    backup = config.restore_from
    if backup is None:
        return Restore()
    state = host.get_fact(Command, backups.restore_state_command(backup, config)) or ""
    restored, existing = backups.parse_restore_state(state)
    if restored:
        say(host, f"{backup.name} was restored on this host already: not again")
        return Restore()
    if existing:
        say(host, f"not restoring {backup.name}: this host's store has {len(existing)} accounts already"
                  " (a restore never overwrites live data)")
        return Restore()
    archive = f"{backups.RESTORE_DIR}/{backup.id}.tar"
    files.put(name=f"Upload {backup.name} for the restore", src=str(backup.archive), dest=archive,
              user="root", group="root", mode="600")
    if backup.file_stores:  # an adopted host's: our importer comes along (eldwyn/backup.py)
        module = backups.IMPORT_MODULE
        files.put(name="Upload the importer of the old host's file storage",
                  src=str(FILES_DIR / backups.IMPORT_MODULE_DIR.lstrip("/") / module),
                  dest=f"{backups.IMPORT_MODULE_DIR}/{module}", user="root", group="root", mode="644")
    operation = server.shell(name=f"Restore {backup.name}: {len(backup.accounts)} accounts, archives, uploads",
                             commands=[backups.restore_command(backup, archive, config)])
    return Restore(backup, (operation,))

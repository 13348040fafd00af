"""The host's scheduled backups (backup_repository; eldwyn/scheduled_backups.py): restic's
settings and password (root only), the backup script and the snapshot script it shares with
operator_tasks/backup.py, and eldwyn-backup.timer, enabled. Without backup_repository, none of
it is written."""

from eldwyn import backup, scheduled_backups as sb
from eldwyn.files import ManagedFile, differing, upload
from eldwyn.render import render
from eldwyn.schema.data import Backup
from eldwyn.services import running_and_enabled

UNITS = (f"/etc/systemd/system/{sb.UNIT}.service", f"/etc/systemd/system/{sb.UNIT}.timer")


def files(config, store):
    if config.backup.repository is None:
        return []
    context = dict(config=config, env_file=sb.ENV_FILE, password_file=sb.PASSWORD_FILE, cache_dir=sb.CACHE_DIR,
                   script=sb.SCRIPT, snapshot=sb.SNAPSHOT, stamp=sb.STAMP, tag=sb.TAG, archive_name=sb.ARCHIVE_NAME,
                   host=sb.restic_host(config), on_calendar=sb.on_calendar(config.backup.every_hours))
    password = store.get_or_generate(Backup.password_secret, nbytes=32)
    snapshot = "#!/bin/sh\n# The snapshot of operator_tasks/backup.py (eldwyn/backup.py), for eldwyn-backup.\n" \
               + backup.snapshot_command(config) + "\n"
    return [
        ManagedFile(sb.PASSWORD_FILE, f"{password}\n".encode(), mode="600", secret=True),
        ManagedFile(sb.ENV_FILE, render("etc/eldwyn-xmpp/backup/restic.env.j2", **context).encode(), mode="600"),
        ManagedFile(sb.SNAPSHOT, snapshot.encode(), mode="700"),
        ManagedFile(sb.SCRIPT, render("usr/local/sbin/eldwyn-backup.j2", **context).encode(), mode="755"),
        *(ManagedFile(path, render(f"{path.lstrip('/')}.j2", **context).encode()) for path in UNITS),
    ]


def paths(config):
    return []


def units(config):
    return [f"{sb.UNIT}.timer"] if config.backup.repository else []


def install(wanted, states, services):
    if not wanted:
        return
    out_of_date = differing(states, wanted)
    upload(out_of_date, "Scheduled backups")  # its units go with our others (tasks/systemd_units.py)
    running_and_enabled("The scheduled backup's timer is enabled", f"{sb.UNIT}.timer", services)

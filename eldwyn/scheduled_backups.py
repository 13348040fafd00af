"""The host's own backups, on a schedule (backup_repository, backup_every_hours, backup_keep):
eldwyn-backup.timer runs /usr/local/sbin/eldwyn-backup, which makes the same snapshot as
operator_tasks/backup.py (eldwyn.backup.snapshot_command: SQLite's online backup, the same
host.tar) and sends it to a restic repository off the host, then prunes to backup_keep.
Reading it back (--no-lock) writes nothing to the repository.
operator_tasks/backup.py with backup_from_repository fetches the newest one and completes it
like a fresh one (secrets, manifest), so the existing restore path restores it.

On the host, restic reads the repository and its password (restic-password in the secrets
store) from root-only files (RESTIC_PASSWORD_FILE): never from a command line.
"""

import json
import re
import shlex
from datetime import datetime, timezone

from eldwyn.backup import WORK_DIR

UNIT = "eldwyn-backup"
SCRIPT = "/usr/local/sbin/eldwyn-backup"
SNAPSHOT = "/usr/local/lib/eldwyn-xmpp/snapshot"  # the snapshot script, as backup.py runs it
CONFIG_DIR = "/etc/eldwyn-xmpp/backup"
ENV_FILE = f"{CONFIG_DIR}/restic.env"
PASSWORD_FILE = f"{CONFIG_DIR}/restic-password"
CACHE_DIR = "/var/cache/eldwyn-xmpp/restic"
STAMP = f"{WORK_DIR}/backup/last-success"  # Unix time of the last good scheduled backup
TAG = "eldwyn-xmpp"
ARCHIVE_NAME = "host.tar"  # its name in each restic snapshot (read from stdin)


def on_calendar(every_hours):
    """systemd's OnCalendar for a backup every ``every_hours`` (a divisor of 24): daily at 03:17,
    else at minute 17 of every every_hours-th hour."""
    return "*-*-* 03:17:00" if every_hours == 24 else f"*-*-* 00/{every_hours}:17:00"


def restic_host(config):
    """The host name restic records (not the machine's hostname, which a rebuild may change)."""
    return config.realm


def _restic_env_lines():
    return ["set -a", f". {ENV_FILE}", "set +a"]


def latest_command(config):
    """Prints the newest scheduled snapshot as restic's JSON list (one element, or none)."""
    q = shlex.quote
    return "\n".join(["set -eu", *_restic_env_lines(),
                      f"restic snapshots --no-lock --json --latest 1 --host {q(restic_host(config))} --tag {TAG}"])


def fetch_latest_command(config):
    """Like eldwyn.backup.snapshot_command, but the archive is the newest scheduled snapshot's
    host.tar, from the repository: prints its path (0600, in a 0700 directory of the login
    user's, for SFTP without root)."""
    q = shlex.quote
    return "\n".join([
        "set -eu", "umask 077", *_restic_env_lines(),
        "out=$(mktemp -d /var/tmp/eldwyn-backup.XXXXXX)",
        "trap 'rm -rf -- \"$out\"' EXIT",
        f"restic dump --no-lock --host {q(restic_host(config))} --tag {TAG} latest /{ARCHIVE_NAME} > \"$out/{ARCHIVE_NAME}\"",
        'if [ -n "${SUDO_USER:-}" ]; then chown -R "$SUDO_USER" "$out"; fi',
        "trap - EXIT",
        f'echo "$out/{ARCHIVE_NAME}"',
    ])


def newest_time(output):
    """The UTC time of the snapshot in ``latest_command``'s output, or None if there is none.
    (restic writes nanoseconds and its own time zone: "2026-12-03T06:30:01.527153486+00:00".)"""
    found = json.loads(output or "[]")
    if not found:
        return None
    match = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.\d+)?(Z|[+-]\d\d:\d\d)", found[0]["time"])
    if not match:
        raise ValueError(f"restic gave a snapshot time this does not read: {found[0]['time']!r}")
    offset = "+00:00" if match.group(2) == "Z" else match.group(2)
    return datetime.fromisoformat(match.group(1) + offset).astimezone(timezone.utc)

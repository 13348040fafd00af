"""Our systemd unit files and drop-ins, every task's (under /etc/systemd/system/): put on the host
in one operation, then ONE `systemctl daemon-reload` if that changed anything, before the first
of our services starts. A reload takes 3-4 s on the emulated test bed; with one per task, a
first deploy reloaded systemd three times (four with ACME), and each `systemctl enable` once more
(eldwyn/services.py now enables without it: this reload has read every unit by then).

The tasks keep rendering their own units (``files``) and restart their services on the operation
returned here for them."""

from pyinfra.operations import systemd
from pyinfra.operations.util import any_changed

from eldwyn.files import differing, upload

UNIT_DIR = "/etc/systemd/system/"


def split(wanted):
    """``wanted`` (task -> files) as (task -> its unit files, task -> the rest): the tasks put the
    rest on the host, ``install`` the units."""
    units = {task: [file for file in files if file.path.startswith(UNIT_DIR)] for task, files in wanted.items()}
    rest = {task: [file for file in files if not file.path.startswith(UNIT_DIR)] for task, files in wanted.items()}
    return units, rest


def install(units, states):
    """Uploads the unit files of ``units`` (task -> its unit files, from ``split``) that differ, in
    one operation, and then reloads systemd if it changed anything. Returns task -> the
    operations that changed its own unit files (none: an empty list)."""
    out_of_date = differing(states, [file for files in units.values() for file in files])
    operations = upload(out_of_date, "systemd units")
    if operations:
        systemd.daemon_reload(name="Reload systemd: our units changed", _if=any_changed(operations[0]))
    stale = {file.path for file in out_of_date}
    return {task: operations[:1] if any(file.path in stale for file in files) else [] for task, files in units.items()}

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


def is_unit_file(file):
    return file.path.startswith(UNIT_DIR)


def without_units(wanted):
    """``wanted`` (task -> files) without the unit files, which this task puts on the host."""
    return {task: [file for file in files if not is_unit_file(file)] for task, files in wanted.items()}


def install(wanted, states):
    """Uploads the unit files of ``wanted`` (task -> files) that differ, in one operation, and then
    reloads systemd if it changed anything. Returns task -> the operations that changed its own
    unit files (none: an empty list)."""
    units = {task: [file for file in files if is_unit_file(file)] for task, files in wanted.items()}
    out_of_date = differing(states, [file for files in units.values() for file in files])
    operations = upload(out_of_date, "systemd units")
    if operations:
        systemd.daemon_reload(name="Reload systemd: our units changed", _if=any_changed(operations[0]))
    stale = {file.path for file in out_of_date}
    return {task: operations[:1] if any(file.path in stale for file in files) else [] for task, files in units.items()}

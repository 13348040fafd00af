"""The Prosody service: its systemd drop-in (open-file limit), running now and at every boot;
restarted only when something it reads changed in this run (deploy.py names those operations)."""

from pyinfra.operations import systemd
from pyinfra.operations.util import any_changed

from eldwyn.files import differing, upload
from eldwyn.host_files import static_files


def files(config, store=None):
    """systemd's drop-in raising Prosody's open-file limit (see the file for why)."""
    return static_files("etc/systemd/system/prosody.service.d")


def paths(config):
    return []


def run(wanted, states, restart_after):
    """Prosody running and enabled; restarted if any operation of ``restart_after`` (or the
    drop-in) changed something."""
    drop_in = upload(differing(states, wanted), "Prosody's service settings")
    if drop_in:
        systemd.daemon_reload(name="Reload systemd: Prosody's drop-in changed", _if=any_changed(*drop_in))
    systemd.service(
        name="Prosody is running and enabled",
        service="prosody",
        running=True,
        enabled=True,
    )
    inputs = [*restart_after, *drop_in]
    if inputs:
        systemd.service(
            name="Restart Prosody: its config, certificates or rosters changed",
            service="prosody",
            restarted=True,
            _if=any_changed(*inputs),
        )

"""The Prosody service: its systemd drop-in (open-file limit), running now and at every boot;
restarted only when a file it reads (config, certificates, shared rosters, the drop-in) changed
in this run."""

from pyinfra import host
from pyinfra.operations import systemd
from pyinfra.operations.util import any_changed

from eldwyn.files import upload
from eldwyn.host_files import stale
from eldwyn.preflight import host_config
from eldwyn.restarts import changed_inputs, read_by

config = host_config(host)
drop_in = upload(stale(host, config, "prosody_service"), "Prosody's service settings")
if drop_in:
    systemd.daemon_reload(name="Reload systemd: Prosody's drop-in changed", _if=any_changed(*drop_in))
    read_by(host, "prosody", drop_in)

systemd.service(
    name="Prosody is running and enabled",
    service="prosody",
    running=True,
    enabled=True,
)

changed = changed_inputs(host, "prosody")
if changed:
    systemd.service(
        name="Restart Prosody: its config, certificates or rosters changed",
        service="prosody",
        restarted=True,
        _if=changed,
    )

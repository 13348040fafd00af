"""The Prosody service: running now and at every boot; restarted only when a file it reads
(config, certificates, shared rosters) changed in this run."""

from pyinfra import host
from pyinfra.operations import systemd

from eldwyn.restarts import changed_inputs

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

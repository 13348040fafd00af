"""The Prosody service: running now and at every boot."""

from pyinfra.operations import systemd

systemd.service(
    name="Prosody is running and enabled",
    service="prosody",
    running=True,
    enabled=True,
)

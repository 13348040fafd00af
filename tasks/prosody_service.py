"""The Prosody service: its systemd drop-in (open-file limit; tasks/systemd_units.py puts it on
the host), running now and at every boot; restarted only when something it reads changed in this
run (deploy.py names those operations)."""

from eldwyn.host_files import static_files
from eldwyn.services import bounded_wait, running_and_enabled


def files(config, store=None):
    """systemd's drop-in raising Prosody's open-file limit (see the file for why)."""
    return static_files("etc/systemd/system/prosody.service.d")


def paths(config):
    return []


def wait_for_ports(ports, seconds=60):
    """A shell command that waits (bounded) until something listens on every TCP port of
    ``ports``: systemd reports Prosody started before it has opened them, and clients or the
    next operations would be refused meanwhile."""
    wanted = " ".join(str(port) for port in sorted(ports))
    return bounded_wait(f"missing=; for p in {wanted}; do ss -Hltn \"sport = :$p\" | grep -q . || missing=\"$missing $p\"; done; "
                        '[ -z "$missing" ]', seconds, on_timeout='echo "Prosody does not listen on:$missing" >&2')


def units(config):
    return ["prosody"]


def run(services, restart_after, ports=()):
    """Prosody running and enabled; restarted if any operation of ``restart_after`` (its config,
    certificates, its drop-in: tasks/systemd_units.py puts that) changed something, and then
    listening on ``ports`` before the deploy goes on."""
    running_and_enabled("Prosody is running and enabled", "prosody", services, restart_after=restart_after,
                        restart_name="Restart Prosody: its config, certificates or rosters changed",
                        then=[wait_for_ports(ports)])

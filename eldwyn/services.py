"""systemd units the deploy keeps running and enabled. Their states come with the deploy's one
batch of facts (eldwyn.facts.ServiceStates), so a unit already as wanted costs no round trip:
pyinfra's systemd.service asks two (SubState, then UnitFileState) for every unit, every run.
An operation is made only for a unit that is not running or not enabled, or whose files changed."""

from pyinfra.operations import server
from pyinfra.operations.util import any_changed


def unit_name(unit):
    return unit if "." in unit else f"{unit}.service"


def is_up(states, unit):
    state = states.get(unit_name(unit), {})
    return state.get("active") == "active" and state.get("enabled") == "enabled"


def running_and_enabled(name, unit, states, restart_after=(), restart_name=None, then=()):
    """``unit`` running and enabled, and restarted if an operation of ``restart_after`` changed
    something. A unit the facts found down or disabled gets one operation that enables and
    (re)starts it, whatever changed: a first deploy starts each service once, with its files in
    place. The shell commands ``then`` follow a start or restart (e.g. waiting for its ports).
    Returns the operations made."""
    unit = unit_name(unit)
    if not is_up(states, unit):
        # Only when the unit is not enabled by the time this runs (its package's install enables
        # it, even held back), and without the reload `systemctl enable` does by itself (3-4 s
        # under emulation): enabling adds links for the next boot, and this restart starts the
        # unit now; systemd has read our units already (tasks/systemd_units.py reloads it once).
        enable = f"systemctl is-enabled -q {unit} || systemctl enable --no-reload {unit}"
        return [server.shell(name=name, commands=[enable, f"systemctl restart {unit}", *then])]
    if restart_after:
        return [server.shell(name=restart_name or f"Restart {unit}: its files changed",
                             commands=[f"systemctl restart {unit}", *then], _if=any_changed(*restart_after))]
    return []


def bounded_wait(check, seconds, on_timeout, interval=0.5):
    """A shell command that runs the shell snippet ``check`` until it succeeds, for at most
    ``seconds`` (by the clock, so a slow check does not stretch the bound), then runs
    ``on_timeout`` (a snippet that says what is missing on stderr) and fails. For what a
    service does only after systemd reported it started: open its ports, answer requests."""
    return (f"end=$(($(date +%s) + {seconds})); while :; do {{ {check}; }} && exit 0; "
            f"[ $(date +%s) -lt $end ] || break; sleep {interval}; done; {on_timeout}; exit 1")

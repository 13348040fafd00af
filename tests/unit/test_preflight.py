"""What happens before the deploy touches a host: data validated before any connection, the
OS checked before any operation, and the test bed's data kept away from production."""

import subprocess

import pytest
from pyinfra.api.exceptions import DeployError

from eldwyn.preflight import BAD_DATA_EXIT_STATUS, check_supported_os
from tests.testbed import PYINFRA, REPO


def _pyinfra(*args, cwd=REPO):
    proc = subprocess.run([PYINFRA, "-y", *args], cwd=cwd, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.parametrize("override, message", [
    ("xmpp_realm=bad_realm", "xmpp_realm: 'bad_realm' is not a valid DNS name"),
    ("xmpp_archive_expires_after=forever", "xmpp_archive_expires_after:"),
    ("xmpp_ports={\"c2s\": [70000]}", "xmpp_ports.c2s[0]: 70000 is out of range"),
])
def test_bad_data_stops_the_real_cli_before_any_operation(override, message):
    # @local: the real CLI and deploy.py, on this machine, where nothing may change.
    status, output = _pyinfra("@local", "deploy.py", "--data", override)
    assert status == BAD_DATA_EXIT_STATUS, output
    assert f"@local: bad group data: {message}" in output
    assert "Beginning operation run" not in output and "Traceback" not in output, output


def test_every_problem_of_every_host_is_reported_and_none_changes(tmp_path):
    """Bad data on a host pyinfra cannot even reach stops the run on a good host, and the
    message lists every problem of it at once, one line each."""
    inventory = tmp_path / "inventory.py"
    inventory.write_text('good = ["@local"]\n'
                         'broken = [("127.0.0.1", {"ssh_port": 1, "xmpp_realm": "Bad",'
                         ' "signup_min_password_length": 8, "xmpp_modules_enabled": ["carbon"]})]\n')
    status, output = _pyinfra(str(inventory), "deploy.py")
    assert status == BAD_DATA_EXIT_STATUS, output
    lines = [line.removeprefix("--> pyinfra error: ") for line in output.splitlines() if "bad group data" in line]
    assert lines == [
        "127.0.0.1: bad group data: xmpp_realm: 'Bad' must be lower case",
        "127.0.0.1: bad group data: xmpp_modules_enabled['carbon']: unknown module 'carbon' (did you mean"
        " 'carbons'?); known modules are listed in eldwyn/prosody.py",
        "127.0.0.1: bad group data: signup_min_password_length: 8 is out of range: expected greater than or"
        " equal to 12",
    ], output
    assert "Beginning operation run" not in output


def test_an_unreachable_host_is_told_apart_from_bad_data():
    status, output = _pyinfra("127.0.0.1", "deploy.py", "--data", "ssh_port=1")  # nothing listens on 1
    assert status == 1 and "No hosts remaining" in output, output


@pytest.mark.parametrize("distribution", [
    {"name": "Debian", "major": 12},
    {"name": "Ubuntu", "major": 24},
    {"name": None, "major": None},
])
def test_other_systems_are_refused_saying_what_is_supported(distribution):
    with pytest.raises(DeployError, match=r"supports Debian 13 \(trixie\) only.*nothing was changed"):
        check_supported_os("somehost", distribution)


def test_debian_13_is_supported():
    check_supported_os("eldwyn", {"name": "Debian", "major": 13})


def _inventory(monkeypatch, **environment):
    from pyinfra.api import State
    from pyinfra.context import ctx_state
    from pyinfra_cli.inventory import make_inventory

    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    with ctx_state.use(State()):
        return make_inventory(str(REPO / "inventory.py"), cwd=str(REPO))


def test_production_address_is_never_guessed(monkeypatch):
    monkeypatch.delenv("ELDWYN_HOST", raising=False)
    inventory = _inventory(monkeypatch)
    # production: empty, not a guess; the rest are the test bed's own hosts
    assert [host.name for host in inventory] == ["eldwyn-vm", "legacy-eldwyn"]


def test_nothing_of_the_test_bed_reaches_production(monkeypatch):
    inventory = _inventory(monkeypatch, ELDWYN_HOST="eldwyn.example")
    production = inventory.get_host("eldwyn.example").data.dict()
    testbed = inventory.get_host("eldwyn-vm").data.dict()
    for key in ("ssh_hostname", "ssh_port", "ssh_user", "ssh_known_hosts_file",
                "ssh_strict_host_key_checking"):
        assert key in testbed and key not in production, key
    assert "ssh_key" not in production  # the VM's key (only once a VM exists) stays with the VM
    assert production.get("xmpp_accounts", []) == []  # the test users exist on the VM only
    # production's secrets store is the schema's default; the test bed's is its own
    assert "secrets_dir" not in production and "secrets_dir" in testbed

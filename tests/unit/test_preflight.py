"""What happens before the deploy touches a host: data validated before any connection, the
OS checked before any operation, and the test bed's data kept away from production."""

import subprocess

import pytest
from pyinfra.api.exceptions import DeployError

from eldwyn.preflight import check_supported_os
from tests.testbed import PYINFRA, REPO


@pytest.mark.parametrize("override, message", [
    ("xmpp_realm=bad_realm", "xmpp_realm: 'bad_realm' is not a valid DNS name"),
    ("xmpp_archive_expires_after=forever", "xmpp_archive_expires_after:"),
    ("xmpp_ports={\"c2s\": [70000]}", "xmpp_ports"),
])
def test_bad_data_stops_the_real_cli_before_connecting(override, message):
    proc = subprocess.run(
        [PYINFRA, "-y", "inventory.py", "deploy.py", "--limit", "testbed", "--data", override],
        cwd=REPO, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert f"eldwyn-vm: bad group data: {message}" in output
    assert "Connected" not in output and "Traceback" not in output, output


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
    assert production["xmpp_accounts"] == []  # the test users exist on the VM only
    assert production["secrets_dir"] != testbed["secrets_dir"]

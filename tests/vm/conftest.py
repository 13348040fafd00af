"""Fixtures for tests against the test-bed VM. They never skip: without a VM they fail."""

import pytest
import testinfra

from tests.testbed import pyinfra_deploy, write_ssh_config


@pytest.fixture(scope="session")
def vm(tmp_path_factory):
    """testinfra host for the VM, as root through sudo."""
    config = write_ssh_config(tmp_path_factory.mktemp("ssh") / "config")
    host = testinfra.get_host("ssh://eldwyn-vm", ssh_config=str(config), sudo=True)
    assert host.run("true").rc == 0, "cannot reach the test-bed VM over SSH (testbed/bin/up?)"
    return host


@pytest.fixture(scope="session")
def first_deploy(vm):
    """The first real deploy of this session (tests that need a deployed VM ask for it)."""
    run = pyinfra_deploy()
    assert run.returncode == 0 and run.errors == 0, "the deploy failed"
    return run

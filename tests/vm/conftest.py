"""Fixtures for tests against the test-bed VM. They never skip: without a VM they fail."""

import os

import pytest
import requests
import testinfra
from requests.adapters import HTTPAdapter

from eldwyn import pki
from eldwyn.secrets import SecretsStore
from tests import testbed, xmpp
from tests.testbed import pyinfra_deploy, write_ssh_config


@pytest.fixture(scope="session")
def ssh_config(tmp_path_factory):
    """An OpenSSH config naming the VM eldwyn-vm (tests.testbed.write_ssh_config)."""
    return write_ssh_config(tmp_path_factory.mktemp("ssh") / "config")


@pytest.fixture(scope="session")
def vm(ssh_config):
    """testinfra host for the VM, as root through sudo."""
    host = testinfra.get_host("ssh://eldwyn-vm", ssh_config=str(ssh_config), sudo=True)
    assert host.run("true").rc == 0, "cannot reach the test-bed VM over SSH (testbed/bin/up?)"
    return host


@pytest.fixture(scope="session")
def first_deploy(vm):
    """The first real deploy of this session (tests that need a deployed VM ask for it)."""
    run = pyinfra_deploy()
    assert run.returncode == 0 and run.errors == 0, "the deploy failed"
    return run


@pytest.fixture(scope="session")
def target(request):
    """Where real XMPP clients reach the deployed VM (or a dev server: ELDWYN_XMPP_TARGET)."""
    dev = os.environ.get("ELDWYN_XMPP_TARGET")
    if dev:
        return xmpp.target_from_json(dev)
    request.getfixturevalue("first_deploy")
    config = testbed.config_for_testbed()
    store = SecretsStore(config.secrets.dir)
    ca_file = store.path(pki.CA_CERT_SECRET)
    store.get_bytes(pki.CA_CERT_SECRET)  # exists, and private
    ports = {service: testbed.host_port(service) for service in xmpp.SERVICES}
    return xmpp.target_from_config(config, "127.0.0.1", ports, ca_file, store)


@pytest.fixture(scope="session")
def site(target):
    """A requests session that reaches the registration site through the VM's forwarded HTTPS
    port: the site's name for SNI and Host, its chain verified against the test bed's CA."""
    site_name = testbed.config_for_testbed().signup.site_name

    class SiteAdapter(HTTPAdapter):
        def init_poolmanager(self, *args, **kwargs):
            kwargs["server_hostname"] = site_name
            kwargs["assert_hostname"] = site_name
            super().init_poolmanager(*args, **kwargs)

    base = f"https://127.0.0.1:{testbed.host_port('web_https')}"
    session = requests.Session()
    session.trust_env = False  # else REQUESTS_CA_BUNDLE (or a proxy) from the environment wins
    session.mount(base, SiteAdapter())
    session.verify = str(target.ca_file)
    session.headers["Host"] = site_name
    session.base = base
    return session

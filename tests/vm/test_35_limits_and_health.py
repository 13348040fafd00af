"""What keeps the server healthy between the volunteers' visits, against the deployed VM with
real clients: the bandwidth limit per connection, the global upload quota, and the statistics
that only loopback may read. Every limit is read from the data the deploy used."""

import re
import time

import pytest
import requests

from tests import testbed, xmpp
from tests.prosody_shell import prosody_lua

CONFIG = testbed.config_for_testbed()
UPLOAD_HOST = next(c.name for c in CONFIG.components if c.type == "http_file_share")
METRICS = f"http://127.0.0.1:{CONFIG.ports.http[0]}/metrics"


@pytest.fixture(scope="module", autouse=True)
def deployed(first_deploy):
    return first_deploy


def _users(target):
    return (f"alice@{target.realm}", f"bob@{target.realm}", target.admins[0])


def _metrics_in_vm(vm):
    """The OpenMetrics text, fetched on the VM's own loopback (python3 is there for the site)."""
    return vm.check_output(f"python3 -c 'import urllib.request; print(urllib.request.urlopen(\"{METRICS}\").read().decode())'")


def _c2s_sessions(text, realm):
    pattern = re.compile(r'^prosody_mod_c2s__connections\{([^}]*)\} ([0-9.e+]+)$', re.M)
    return sum(float(value) for labels, value in pattern.findall(text)
               if f'host="{realm}"' in labels and 'type="c2s"' in labels)


def test_metrics_count_the_c2s_sessions_of_this_test(vm, target):
    jids = _users(target)
    before = _c2s_sessions(_metrics_in_vm(vm), target.realm)

    def count_while_logged_in():
        deadline = time.monotonic() + 20  # bounded: sessions of an earlier test may still be closing
        while True:
            seen = _c2s_sessions(_metrics_in_vm(vm), target.realm)
            if seen == before + len(jids) or time.monotonic() > deadline:
                return seen
            time.sleep(1)

    assert xmpp.while_logged_in(target, jids, count_while_logged_in) == before + len(jids)


def test_metrics_are_refused_from_outside_the_vm():
    port = testbed.host_port("http")  # Prosody's plain HTTP port, open in the firewall for BOSH
    response = requests.get(f"http://127.0.0.1:{port}/metrics", headers={"Host": CONFIG.realm}, timeout=30)
    assert response.status_code == 403, response.text[:200]


def test_metrics_are_not_served_through_the_site(site):
    response = site.get(f"{site.base}/metrics", timeout=30)
    assert response.status_code == 404
    assert "prosody_" not in response.text


def test_a_flooding_client_is_throttled_while_others_are_served(target):
    """mod_limits (xmpp_limits.c2s): 100 KB sent by one client take at least what its rate
    allows beyond its burst (the limit never makes a transfer faster, so this bound cannot
    flap), while another client's message gets through meanwhile."""
    limit = CONFIG.limits.c2s
    rate = limit.bytes_per_second
    total = 100_000
    floor = (total - rate * limit.burst_seconds) / rate
    alice, bob, admin = _users(target)
    flood, probe = xmpp.flood_and_probe(target, alice, bob, admin, alice, total, timeout=max(60, 3 * floor + 40))
    assert flood >= 0.8 * floor, f"{total} bytes took {flood:.1f} s; at {limit.rate} they need {floor:.1f} s"
    assert probe < floor / 2, f"another client's message took {probe:.1f} s during the flood"


def test_an_upload_past_the_global_quota_is_refused(vm, target):
    """http_file_share_global_quota: the server's own count of stored bytes is set just below
    the quota for the test (and put back after), then a slot that would pass it is refused."""
    quota = target.options["http_file_share"]["http_file_share_global_quota"]
    size_limit = target.options["http_file_share"]["http_file_share_size_limit"]
    store = f'require"prosody.core.storagemanager".open("{UPLOAD_HOST}", "upload_stats", "map")'
    before = prosody_lua(vm, f'return tostring({store}:get(nil, "total"))')
    reload = f'require"prosody.core.modulemanager".reload("{UPLOAD_HOST}", "http_file_share")'
    try:
        prosody_lua(vm, f'{store}:set(nil, "total", {quota - size_limit // 2}); {reload}')
        condition, _, text = xmpp.upload_slot_refusal(target, f"alice@{target.realm}", size_limit // 2 + 1)
        assert condition == "resource-constraint" and "quota" in (text or ""), (condition, text)
        url, _ = xmpp.check_upload(target, f"alice@{target.realm}", size=1024)  # below it, still fine
        assert url
    finally:
        total = re.search(r"\| Result: (\d+)", before)
        prosody_lua(vm, f'{store}:set(nil, "total", {total.group(1) if total else "nil"}); {reload}')

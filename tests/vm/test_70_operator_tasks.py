"""The operator's everyday commands (operator_tasks/), run with the real pyinfra CLI against the
deployed VM, and checked with real XMPP clients and the store itself."""

import re

import pytest

from eldwyn.secrets import SecretsStore, account_password_name
from tests import testbed, xmpp
from tests.testbed import accounts_on_vm, operator_task

CAROL = "carol@cslabs.clarkson.edu"


@pytest.fixture(scope="module")
def store(target):
    return SecretsStore(testbed.config_for_testbed().secrets.dir)


def _listed(run):
    said = run.said()
    assert run.returncode == 0 and run.changed == 0, run.output
    count = re.fullmatch(r"(\d+) accounts on cslabs\.clarkson\.edu", said[-1])
    assert count, said
    assert int(count.group(1)) == len(said) - 1
    return said[:-1]


def test_list_users_prints_the_store_sorted_with_a_count(vm, first_deploy):
    listed = _listed(operator_task("list_users"))
    assert listed == sorted(listed)
    assert listed == sorted(accounts_on_vm(vm))
    assert {"admin@cslabs.clarkson.edu", "alice@cslabs.clarkson.edu", "bob@cslabs.clarkson.edu"} <= set(listed)


def test_add_user_creates_a_working_account_with_a_stored_password(vm, target, store):
    store.remove(account_password_name(CAROL))
    run = operator_task("add_user", user="carol")
    assert run.returncode == 0 and run.changed == 2, run.output  # the account, then its password kept
    password = store.get(account_password_name(CAROL))
    assert password not in run.output  # never printed
    xmpp.check_login(xmpp.with_password(target, CAROL, password), CAROL)
    assert CAROL in _listed(operator_task("list_users"))

    again = operator_task("add_user", user=CAROL)
    assert again.returncode == 0 and again.changed == 0, again.output
    assert f"{CAROL} exists already: nothing to do" in again.said()


def test_set_password_changes_it_and_the_old_one_stops_working(target, store):
    old = store.get(account_password_name(CAROL))
    run = operator_task("set_password", user="carol")
    assert run.returncode == 0 and run.changed == 2, run.output
    new = store.get(account_password_name(CAROL))
    assert new != old and new not in run.output
    xmpp.check_login(xmpp.with_password(target, CAROL, new), CAROL)
    xmpp.check_login_refused(xmpp.with_password(target, CAROL, old), CAROL)


def test_delete_user_removes_the_account_and_its_password(vm, target, store):
    password = store.get(account_password_name(CAROL))
    run = operator_task("delete_user", user="carol")
    assert run.returncode == 0 and run.changed == 2, run.output
    xmpp.check_login_refused(xmpp.with_password(target, CAROL, password), CAROL)
    assert CAROL not in accounts_on_vm(vm)
    assert not store.exists(account_password_name(CAROL))
    again = operator_task("delete_user", user="carol")
    assert again.returncode == 0 and again.changed == 0
    assert f"there is no account {CAROL}: nothing to do" in again.said()


@pytest.mark.parametrize("task, data, message", [
    ("add_user", {}, "user: missing; name the account with --data user=NAME"),
    ("add_user", {"user": "car ol"}, "user: 'car ol@cslabs.clarkson.edu': the user name may not contain ' '"),
    ("add_user", {"user": "carol@example.org"}, "is not in the realm 'cslabs.clarkson.edu'"),
    ("add_user", {"user": "Carol"}, "write it as Prosody stores it, 'carol@cslabs.clarkson.edu'"),
    ("add_user", {"user": "erin", "password": "hunter2-secret"}, "password: must be one of generate, prompt"),
    ("add_user", {"user": "erin", "password": "prompt"}, "password=prompt needs a terminal"),
    ("set_password", {"user": "nobody"}, "there is no account nobody@cslabs.clarkson.edu"),
    ("delete_user", {"user": "alice"}, "alice@cslabs.clarkson.edu is in the data"),
])
def test_bad_input_is_refused_and_changes_nothing(vm, first_deploy, task, data, message):
    before = accounts_on_vm(vm)
    run = operator_task(task, **data)
    assert run.returncode != 0, run.output
    assert message in run.output, run.output
    assert "hunter2-secret" not in run.output.replace("password=hunter2-secret", "")
    assert "Traceback" not in run.output
    assert accounts_on_vm(vm) == before


def test_status_reports_version_uptime_accounts_sizes_and_certificates(vm, first_deploy):
    run = operator_task("status")
    assert run.returncode == 0 and run.changed == 0, run.output
    said = "\n".join(run.said())
    version = vm.check_output("dpkg-query -W -f='${Version}' prosody")
    assert re.search(rf"^Prosody {re.escape(version)}, up (\d+h \d+m \d+s|\d+d \d+h \d+m)$", said, re.M), said
    assert "Services: prosody active, eldwyn-signup active, nginx active" in said
    assert f"Accounts on cslabs.clarkson.edu: {len(accounts_on_vm(vm))}" in said
    assert re.search(r"^Store \(prosody\.sqlite\): [\d.]+ (KiB|MiB)$", said, re.M), said
    assert re.search(r"^Uploads: \d+ files, ", said, re.M), said
    config = testbed.config_for_testbed()
    issuer = re.escape(config.tls.ca_common_name)  # the test bed's local CA
    for name in config.hosts + (config.signup.site_name,):
        assert re.search(rf"^  {re.escape(name)}: expires \d{{4}}-\d\d-\d\d \(in \d+ days\), issuer {issuer},"
                         rf" sha256 [0-9a-f]{{16}}", said, re.M), (name, said)
    assert "DNS (prosodyctl check dns):" in said  # what it finds depends on the real DNS


def test_create_invite_prints_a_link_the_site_accepts(site):
    run = operator_task("create_invite")
    assert run.returncode == 0, run.output
    link = re.search(r"Invite link for one new account on cslabs\.clarkson\.edu: (https://\S+)", run.output)
    assert link, run.output
    path = link.group(1).split("comm.cslabs.clarkson.edu", 1)[1]
    assert path.startswith("/join/")
    page = site.get(site.base + path, timeout=30)
    assert page.status_code == 200 and "Create your XMPP account" in page.text, page.text[:300]

"""The operator tasks' input (--data user=, password=) and the status report, without a host."""

import subprocess
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from eldwyn import accounts, pki, status
from eldwyn.operator import TaskInputError, account_from_data, new_password

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)


def _host(**data):
    return SimpleNamespace(name="eldwyn-vm", data=data)


@pytest.mark.parametrize("value, jid", [
    ("carol", "carol@cslabs.clarkson.edu"),
    ("carol@cslabs.clarkson.edu", "carol@cslabs.clarkson.edu"),
    ("o.brien-2", "o.brien-2@cslabs.clarkson.edu"),
])
def test_an_account_is_named_by_user_or_jid(config, value, jid):
    assert account_from_data(_host(user=value), config) == jid


@pytest.mark.parametrize("given, message", [
    ({}, "user: missing; name the account with --data user=NAME (or NAME@cslabs.clarkson.edu)"),
    ({"user": 42}, "user: expected a user name or a JID"),
    ({"user": ""}, "is not a bare JID"),
    ({"user": "car ol"}, "the user name may not contain ' '"),
    ({"user": "ca:rol"}, "the user name may not contain ':'"),
    ({"user": "Carol"}, "write it as Prosody stores it, 'carol@cslabs.clarkson.edu'"),
    ({"user": "carol@example.org"}, "is not in the realm 'cslabs.clarkson.edu'"),
    ({"user": "carol@muc.comm.cslabs.clarkson.edu"}, "is not in the realm"),
])
def test_a_bad_account_name_is_refused_naming_the_key(config, given, message):
    with pytest.raises(TaskInputError) as error:
        account_from_data(_host(**given), config)
    assert message in str(error.value)


def test_passwords_are_generated_by_default_and_differ():
    first, second = new_password(_host(), "a@b.c"), new_password(_host(password="generate"), "a@b.c")
    assert first != second and len(first) >= 24 and accounts.password_problem(first) is None


def test_a_password_on_the_command_line_is_refused_without_repeating_it():
    with pytest.raises(TaskInputError) as error:
        new_password(_host(password="hunter2-secret"), "a@b.c")
    assert "hunter2-secret" not in str(error.value) and "password=prompt" in str(error.value)


def _prompting(monkeypatch, answers):
    monkeypatch.setattr("sys.stdin", SimpleNamespace(isatty=lambda: True))
    answers = iter(answers)
    return lambda prompt: next(answers)


def test_a_prompted_password_is_asked_twice(monkeypatch):
    ask = _prompting(monkeypatch, ["correct horse battery", "correct horse battery"])
    assert new_password(_host(password="prompt"), "a@b.c", ask=ask) == "correct horse battery"


@pytest.mark.parametrize("answers, message", [
    (["one password", "another"], "the two passwords differ"),
    (["", ""], "that password cannot be used: empty"),
    (["soft\u00adhyphen", "soft\u00adhyphen"], "would be removed by SASLprep"),
])
def test_a_bad_prompted_password_changes_nothing(monkeypatch, answers, message):
    with pytest.raises(TaskInputError, match=message):
        new_password(_host(password="prompt"), "a@b.c", ask=_prompting(monkeypatch, answers))


def test_prompting_needs_a_terminal(monkeypatch):
    monkeypatch.setattr("sys.stdin", SimpleNamespace(isatty=lambda: False))
    with pytest.raises(TaskInputError, match="needs a terminal"):
        new_password(_host(password="prompt"), "a@b.c")


def test_the_delete_script_names_each_account_once():
    script = accounts.delete_script(["carol@cslabs.clarkson.edu"])
    assert script.splitlines() == ['user:delete("carol@cslabs.clarkson.edu")',
                                   '> "eldwyn-accounts: expect 1"']
    with pytest.raises(ValueError):
        accounts.delete_script(["carol@x\nuser:delete('alice@x')"])


def test_the_status_command_is_valid_shell(config):
    subprocess.run(["bash", "-n"], input=status.status_command(config), text=True, check=True)


def test_the_status_report_reads_every_line_and_certificate(config):
    ca_key, ca_cert = pki.create_ca("Test CA", now=NOW - timedelta(days=10))
    output = ["version 13.0.1-1+deb131u", "uptime 93784"]
    output += [f"service {unit} active" for unit in status.services(config)]
    output += ["service certbot.timer active", "last_renewal exit-code"]
    output += ["accounts 3", "store_bytes 36864", "upload_bytes 3146759", "upload_files 2"]
    for name in [name for name in status.certificate_paths(config) if name != config.signup.site_name]:  # the site's is missing
        _, cert = pki.issue_certificate([name], ca_key, ca_cert, validity_days=40, now=NOW - timedelta(days=10))
        output += [f"cert {name}", *cert.decode().splitlines()]
    output += ["dns Checking DNS for host cslabs.clarkson.edu...", "dns ", "dns All checks passed, congratulations!"]
    lines = status.report(config, "\n".join(output), now=NOW)
    assert lines[0] == "Prosody 13.0.1-1+deb131u, up 1d 2h 3m"
    assert lines[1].startswith("Services: prosody active, eldwyn-signup active")
    assert lines[2:5] == ["Accounts on cslabs.clarkson.edu: 3", "Store (prosody.sqlite): 36.0 KiB",
                          "Uploads: 2 files, 3.0 MiB"]
    assert lines[6].startswith("  cslabs.clarkson.edu: expires 2026-12-30 (in 30 days), issuer Test CA, sha256 ")
    assert lines.index(f"  {config.signup.site_name}: MISSING") == 6 + len(config.hosts)
    assert "certbot.timer active" in lines[1]
    assert "Renewals (certbot.timer): last run FAILED (exit-code): journalctl -u certbot.service" in lines
    assert lines[-3:] == ["DNS (prosodyctl check dns):", "  Checking DNS for host cslabs.clarkson.edu...",
                          "  All checks passed, congratulations!"]


def test_a_stopped_server_says_so(config):
    assert status.report(config, "version 13.0.1-1\naccounts 0", now=NOW)[0] == "Prosody 13.0.1-1, not running"

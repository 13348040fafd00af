"""Seeding lowers Prosody's SQLite connection to synchronous=NORMAL for all but the last account
of each call (eldwyn/accounts.py, _CREATE_HELPER: the last commit's fsync makes the call
durable). Whatever happens, the connection is at synchronous=FULL again afterwards: after a
call that created its accounts, and after one that failed in the middle."""

import subprocess
import uuid

from eldwyn import accounts
from tests.prosody_shell import prosody_lua
from tests.testbed import config_for_testbed

REALM = config_for_testbed().realm
# Prosody's own connection (synchronous is per connection: only Prosody can tell), through the
# shared table of SQLite engines that the seeding helper uses too.
CONNECTION_SYNCHRONOUS = (
    'local e; for _, x in pairs(prosody.hosts["%s"].modules.storage_sql.module:shared("/*/sql/connections"))'
    ' do e = x end; for r in e:select("PRAGMA synchronous") do return "eldwyn-synchronous=" .. r[1] end' % REALM)


def shell(ssh_config, command, script):
    return subprocess.run(["ssh", "-F", str(ssh_config), "eldwyn-vm", f"sudo {command}"], input=script,
                          capture_output=True, text=True, timeout=300)


def connection_synchronous(vm):
    out = prosody_lua(vm, CONNECTION_SYNCHRONOUS)
    values = [line.split("eldwyn-synchronous=")[1].strip() for line in out.splitlines() if "eldwyn-synchronous=" in line]
    assert len(values) == 1, out
    return values[0]


def test_seeding_leaves_prosodys_connection_at_synchronous_full(ssh_config, vm, first_deploy):
    assert connection_synchronous(vm) == "2"  # FULL, before
    prefix = f"t42-{uuid.uuid4().hex[:8]}"
    jids = [f"{prefix}-{n}@{REALM}" for n in range(4)]
    try:
        created = shell(ssh_config, accounts.apply_command(), accounts.creation_script(
            [(jid, f"pw-{jid}", accounts.MEMBER_ROLE) for jid in jids[:3]]))
        assert created.returncode == 0, created.stdout + created.stderr
        assert connection_synchronous(vm) == "2"

        # The second account of this call exists: the call stops there, having made the first.
        failed = shell(ssh_config, accounts.apply_command(), accounts.creation_script(
            [(jid, f"pw-{jid}", accounts.MEMBER_ROLE) for jid in (jids[3], jids[0], f"{prefix}-x@{REALM}")]))
        assert failed.returncode == 1, failed.stdout + failed.stderr
        assert f"{jids[0]}: User exists" in failed.stdout
        assert connection_synchronous(vm) == "2"

        existing = accounts.parse_existing_accounts(vm.check_output(accounts.existing_accounts_command(REALM)))
        assert set(jids) <= existing and f"{prefix}-x@{REALM}" not in existing
    finally:
        shell(ssh_config, accounts.apply_command(), accounts.delete_script(
            [jid for jid in jids if jid in accounts.parse_existing_accounts(
                vm.check_output(accounts.existing_accounts_command(REALM)))]))

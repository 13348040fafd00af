"""Taking over the hand-built Eldwyn: a legacy host of the test bed (Debian 12, Prosody 0.12.3,
the operators' page's own config: testbed/legacy/) is populated over XMPP by real clients,
adopted while it serves (read-only: its files and Prosody's PID are unchanged), then, as in the
real switch, stopped and adopted again, and restored by the deploy onto a fresh Debian 13 VM.
Everything the users had is then read back from the new server and compared with what the old
one showed. The tests run in order and share what they saw (``seen``); the VM is the adopted
one afterwards, so this module runs last.
"""

import dataclasses
import json
import os
import runpy
import subprocess
import time
from secrets import token_urlsafe

import pytest
import testinfra

from eldwyn import backup as backups
from tests import testbed, xmpp, xmpp_state
from tests.testbed import REPO, operator_task, pyinfra_deploy

LEGACY_GROUP, LEGACY_HOST = "legacy_testbed", "legacy-eldwyn"
CACHE_DIR = os.environ.get("ELDWYN_CACHE_DIR", "/var/cache/eldwyn-testbed")
LEGACY_SSH_CONFIG = f"{CACHE_DIR}/legacy-ssh/config"
LEGACY_CA = f"{CACHE_DIR}/legacy-ca.crt"
LEGACY_DATA = runpy.run_path(str(REPO / "group_data" / "legacy_testbed.py"))
REALM = "cslabs.clarkson.edu"
ADMIN, ADA, GRACE, LINUS = (f"{name}@{REALM}" for name in ("admin", "ada", "grace", "linus"))
USERS = (ADMIN, ADA, GRACE, LINUS)  # linus never logs in before the move: his messages wait
PROSODY_PORTS = {"c2s": 5222, "s2s": 5269, "http": 5280, "https": 5281, "proxy65": 5000}
# What must not change on the old host while it is adopted (besides Prosody's PID).
LEGACY_SUMS = ("cd / && find etc/prosody var/lib/prosody -type f -print0 | sort -z | xargs -0 sha256sum;"
               " find etc/prosody var/lib/prosody -printf '%p %m %u %g %l\\n' | sort")
seen = {}


@pytest.fixture(scope="module")
def secrets_dir(tmp_path_factory):
    """The switch deploys to a fresh VM with a secrets store of its own, as an operator's new
    machine would have: the adopted certificates it receives never reach the test bed's store."""
    directory = tmp_path_factory.mktemp("adopt-secrets") / "secrets"
    directory.mkdir(mode=0o700)
    return {"ELDWYN_SECRETS_DIR": str(directory)}


@pytest.fixture(scope="module")
def config():
    return testbed.config_for_testbed()


@pytest.fixture(scope="module")
def legacy():
    """The legacy Eldwyn, booted for this module and always torn down (testinfra host, root)."""
    try:
        subprocess.run([str(REPO / "testbed" / "legacy" / "up")], check=True, timeout=1200)
        host = testinfra.get_host(f"ssh://{LEGACY_HOST}", ssh_config=LEGACY_SSH_CONFIG, sudo=True)
        assert host.run("true").rc == 0, "cannot reach the legacy host over SSH"
        yield host
    finally:
        subprocess.run([str(REPO / "testbed" / "legacy" / "down")], timeout=300)


@pytest.fixture(scope="module")
def old(legacy, config):
    """Where real clients reach the old server: its own ports, its own CA, the users' passwords."""
    return xmpp.Target(
        address=LEGACY_DATA["ssh_hostname"], ports=PROSODY_PORTS, announced_ports=PROSODY_PORTS,
        ca_file=LEGACY_CA, realm=REALM,
        components={component.type: component.name for component in config.components},
        admins=(ADMIN,), passwords=seen.setdefault("passwords", {}))


def _adopt(**data):
    return operator_task("adopt", limit=LEGACY_GROUP, **data)


def _legacy_state(legacy):
    pid = legacy.check_output("systemctl show -p MainPID --value prosody")
    return legacy.check_output(LEGACY_SUMS), pid


def test_the_old_eldwyn_is_populated_by_real_clients(legacy, old):
    assert "0.12.3" in legacy.check_output("dpkg-query -W -f='${Version}' prosody")
    for jid in USERS:
        password = token_urlsafe(12)
        seen["passwords"][jid] = password
        # prosodyctl adduser reads the password twice from stdin: never on a command line.
        legacy.run_expect([0], f"prosodyctl adduser {jid} <<'EOF'\n{password}\n{password}\nEOF")
    xmpp_state.subscribe_both_ways(old, ADA, GRACE)
    xmpp_state.subscribe_both_ways(old, ADMIN, ADA)
    xmpp.add_contact(old, GRACE, LINUS, "Linus, away")
    seen["offline"] = [f"for when you are back {index} ✓" for index in range(3)]
    xmpp.send_messages(old, GRACE, LINUS, seen["offline"])
    xmpp.send_messages(old, ADA, GRACE, [f"archived on 0.12 {index}" for index in range(4)])
    lab = xmpp.make_room(old, ADA, [f"lab room {index}" for index in range(3)])
    board = xmpp_state.make_members_only_room(old, ADMIN, members=[ADA, GRACE], outcasts=[f"troll@{REALM}"],
                                              texts=["board meeting at noon", "bring the keys"])
    seen["rooms"] = {lab: ADA, board: ADMIN}
    for user in (ADA, GRACE):
        xmpp_state.fill_profile(old, user, [lab, board])
    xmpp_state.fill_vcard_temp(old, ADMIN)  # the old server kept vCard-temp in step with PEP
    seen["uploads"] = [(*xmpp.check_upload(old, ADA, size=size), size) for size in (1024, 100 * 1024, 8 * xmpp.MIB + 3)]
    seen["accounts_before"] = {jid: xmpp_state.account_state(old, jid) for jid in (ADMIN, ADA, GRACE)}
    seen["rooms_before"] = {room: xmpp_state.room_state(old, owner, room) for room, owner in seen["rooms"].items()}
    before = seen["accounts_before"][ADA]
    assert before["roster"][GRACE][0] == "both" and before["blocklist"] and before["private_bookmarks"]
    assert before["pep_bookmarks"] and before["avatar_data"] and before["vcard4"], before
    assert seen["accounts_before"][ADMIN]["vcard_temp"]["fn"] == "Admin, in Pidgin"
    assert seen["accounts_before"][ADMIN]["avatar_data"], "vCard-temp's photo was not made a PEP avatar"
    assert seen["rooms_before"][board]["affiliations"]["member"] == sorted([ADA, GRACE])


def test_adopting_the_live_server_changes_nothing_there(legacy, config):
    before = _legacy_state(legacy)
    start = time.monotonic()
    run = _adopt()
    seen["adopt_live_seconds"] = time.monotonic() - start
    assert run.returncode == 0, run.output
    assert _legacy_state(legacy) == before, "the adopt changed the old host"
    assert legacy.run("ls /var/tmp | grep eldwyn").stdout == "", "the adopt left files behind"
    said = "\n".join(run.said(LEGACY_HOST))
    assert "Prosody 0.12.3" in said and "running (PID" in said
    assert f"Accounts: {len(USERS)} on {REALM}" in said
    assert "Rooms: 2 on muc.comm.cslabs.clarkson.edu" in said
    assert "Uploads: 3 files, 8.1 MiB" in said
    assert f"  {REALM}: issued by " in said and "Not carried:" in said
    seen["live_backup"] = _newest_backup(config)
    manifest = json.loads((seen["live_backup"] / backups.MANIFEST).read_text())
    assert sorted(manifest["accounts"]) == sorted(USERS)
    assert manifest["adopted"]["file_stores"] == sorted(c.name for c in config.components)


def test_a_locked_store_is_refused_with_one_line(legacy, config):
    existing = set(_backups(config))
    holder = legacy.run("systemd-run --unit=eldwyn-test-lock --collect sh -c "
                        "\"(echo 'BEGIN EXCLUSIVE;'; sleep 45) | sqlite3 /var/lib/prosody/prosody.sqlite\"")
    assert holder.rc == 0, holder.stderr
    try:
        time.sleep(1)
        run = _adopt()
    finally:
        legacy.run("systemctl stop eldwyn-test-lock")
    assert run.returncode != 0
    assert "could not copy the old host's store" in run.output and "database is locked" in run.output
    assert "Traceback" not in run.output
    assert set(_backups(config)) == existing, "a refused adopt left a backup behind"


def _backups(config):
    directory = config.backup.dir / LEGACY_HOST
    return sorted(directory.iterdir()) if directory.exists() else []


def _newest_backup(config):
    return _backups(config)[-1]


def test_the_real_switch(legacy, vm, ssh_config, config, secrets_dir, capsys):
    """Prepare the new host (a fresh VM), then: stop the old Prosody, adopt it again, deploy with
    the restore, and measure until a user logs in on the new server."""
    testbed.fresh_vm(ssh_config)
    start = time.monotonic()
    legacy.run_expect([0], "systemctl stop prosody")  # 0.12 saves its rooms' live state as it stops
    before = _legacy_state(legacy)[0]
    run = _adopt()
    assert run.returncode == 0, run.output
    adopted = time.monotonic()
    assert "stopped" in "\n".join(run.said(LEGACY_HOST))
    backup = _newest_backup(config)
    deploy = pyinfra_deploy("--data", f"backup_restore_from={backup}", environ=secrets_dir)
    assert deploy.returncode == 0 and deploy.errors == 0, deploy.output
    restored = time.monotonic()
    xmpp.check_login(_new_target(config), ADA)
    seen["downtime"] = {"adopt": adopted - start, "deploy": restored - adopted,
                        "total": time.monotonic() - start}
    with capsys.disabled():  # the figures the README's runbook quotes, in the CI log
        print("\nTake-over figures: " + json.dumps({key: round(value, 1) for key, value in seen["downtime"].items()})
              + f" (adopt of the live server: {seen['adopt_live_seconds']:.1f} s)", flush=True)
    assert _legacy_state(legacy)[0] == before, "the adopt of the stopped server changed it"
    seen["backup"] = backup


def _new_target(config):
    """The new server, as users reach it: the adopted certificates verify with the old CA."""
    ports = {service: testbed.host_port(service) for service in xmpp.SERVICES}
    target = xmpp.target_from_config(config, "127.0.0.1", ports, LEGACY_CA, _NoSecrets(), jids=USERS)
    return dataclasses.replace(target, passwords=dict(seen["passwords"]))


class _NoSecrets:
    @staticmethod
    def exists(_name):
        return False


def test_every_account_logs_in_with_its_old_password(config):
    for jid in USERS:
        assert xmpp.check_login(_new_target(config), jid)["mechanism"].startswith("SCRAM-")


def test_the_waiting_offline_messages_arrive_on_first_login(config):
    assert xmpp_state.offline_messages(_new_target(config), LINUS) == seen["offline"]


def test_rosters_archives_bookmarks_profiles_and_blocklists_are_as_before(config):
    for jid, before in seen["accounts_before"].items():
        after = xmpp_state.account_state(_new_target(config), jid)
        for key, value in before.items():
            assert after[key] == value, f"{jid}: {key} differs: before {value!r}, after {after[key]!r}"


def test_rooms_keep_their_configuration_and_affiliations_and_now_archive(config):
    """0.12 under the page's config kept room history in memory only (muc_mam on the VirtualHost
    does nothing; the adopt's report says so): what the store held comes along, and from now on
    the rooms keep an archive that survives a restart."""
    target = _new_target(config)
    for room, owner in seen["rooms"].items():
        before, after = seen["rooms_before"][room], xmpp_state.room_state(target, owner, room)
        assert before["history"], "the old server showed no history: the test did not make any"
        assert after["affiliations"] == before["affiliations"], room
        for field, value in before["config"].items():
            if field in after["config"]:  # Prosody 13 has fields 0.12 did not
                have = after["config"][field]
                if isinstance(value, list):  # (list fields: the order is the form's, not data)
                    value, have = sorted(value), sorted(have)
                assert have == value, f"{room}: {field}"
        assert {"muc#roomconfig_persistentroom", "muc#roomconfig_membersonly"} <= after["config"].keys()
        assert after["config"]["muc#roomconfig_persistentroom"] is True
        text = f"said on Prosody 13 in {room.split('@')[0]}"
        xmpp_state.say_in_room(target, owner, room, text)
        assert text in xmpp.archived_bodies(target, owner, room=room), room
    board = next(room for room, owner in seen["rooms"].items() if owner == ADMIN)
    xmpp_state.check_refused_from_room(target, LINUS, board)


def test_uploads_are_byte_identical_at_their_old_urls(config):
    for url, sha256, size in seen["uploads"]:
        xmpp.check_download(_new_target(config), url, sha256, size)


def test_the_admin_is_an_operator_and_the_others_members(vm):
    assert xmpp_state.user_role(vm, ADMIN) == "prosody:operator"
    for jid in (ADA, GRACE, LINUS):
        assert xmpp_state.user_role(vm, jid) == "prosody:member", jid


def test_the_old_certificates_are_served_while_valid(config, legacy):
    target = _new_target(config)
    for name in config.hosts:
        old = legacy.check_output(f"openssl x509 -in /var/lib/prosody/{name}.crt -noout -fingerprint -sha256")
        new = xmpp.check_tls_s2s(target, name)["sha256"]
        assert old.split("=", 1)[1].replace(":", "").lower() == new.replace(":", "").lower(), name


def test_a_second_deploy_changes_nothing(secrets_dir):
    again = pyinfra_deploy("--data", f"backup_restore_from={seen['backup']}", environ=secrets_dir)
    assert again.returncode == 0 and again.changed == 0, again.output
    plain = pyinfra_deploy(environ=secrets_dir)
    assert plain.returncode == 0 and plain.changed == 0, plain.output


def test_a_host_without_prosody_is_refused(legacy, config):
    existing = set(_backups(config))
    legacy.run_expect([0], "dpkg -r prosody-modules prosody >/dev/null")
    run = _adopt()
    assert run.returncode != 0 and "no Prosody on this host" in run.output, run.output
    assert "Traceback" not in run.output
    assert set(_backups(config)) == existing

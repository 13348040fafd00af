"""Rebuilding Eldwyn with nothing lost: history is made on the VM, backed up with the operator
task and by the host's own scheduled backup, the VM destroyed, a fresh one brought up from the box,
and the deploy restores the newest scheduled snapshot, fetched from the repository.
Then every account, roster, archive, room history, upload and certificate is checked against
what was there before. The tests run in order and share what they saw (``seen``)."""

import shutil
import stat

import pytest

from eldwyn import backup as backups
from eldwyn.secrets import SecretsStore, account_password_name
from tests import testbed, xmpp
from tests.testbed import accounts_on_vm, operator_task, pyinfra_deploy

ALICE, BOB, ADMIN = ("alice@cslabs.clarkson.edu", "bob@cslabs.clarkson.edu", "admin@cslabs.clarkson.edu")
DAVE = "dave@cslabs.clarkson.edu"  # made by the operator task, not in the data
seen = {}


@pytest.fixture(scope="module")
def config():
    return testbed.config_for_testbed()


def _certificate_fingerprints(target, config):
    """sha256 of the certificate each name presents: s2s for the realm and the components
    (c2s serves the realm only), HTTPS for the registration site."""
    found = {name: xmpp.check_tls_s2s(target, name)["sha256"] for name in config.hosts}
    site = config.signup.site_name
    found[site] = xmpp.check_tls_https(target, site, port=testbed.host_port("web_https"))["sha256"]
    return found


def _host_files(vm, config):
    """sha256 of every file under Prosody's data directory except the live store (changes as
    Prosody writes it) and the socket."""
    listing = vm.check_output("cd /var/lib/prosody && find . -type f ! -name 'prosody.sqlite*' -print0"
                              " | sort -z | xargs -0 sha256sum")
    return dict(line.split("  ", 1)[::-1] for line in listing.splitlines())


def test_history_is_made(vm, target, first_deploy, config):
    add = operator_task("add_user", user="dave")
    assert add.returncode == 0, add.output
    store = SecretsStore(config.secrets.dir)
    dave = xmpp.with_password(target, DAVE, store.get(account_password_name(DAVE)))
    xmpp.add_contact(dave, DAVE, ALICE, "Alice from the lab")
    xmpp.add_contact(target, ALICE, DAVE, "Dave")
    texts = [f"before the rebuild {index} ✓" for index in range(5)]
    xmpp.send_messages(dave, DAVE, ALICE, texts)
    room = xmpp.make_room(target, ALICE, [f"room history {index}" for index in range(3)])
    uploads = [xmpp.check_upload(target, BOB, size=size) for size in (1024, 3 * xmpp.MIB + 7)]
    seen.update(
        target=dave, texts=texts, room=room, uploads=uploads,
        accounts=accounts_on_vm(vm),
        rosters={jid: xmpp.roster_names(dave, jid) for jid in (DAVE, ALICE)},
        mam=xmpp.archived_bodies(dave, DAVE, with_jid=ALICE),
        room_history=xmpp.archived_bodies(dave, BOB, room=room),
        certificates=_certificate_fingerprints(target, config),
        files=_host_files(vm, config),
        secrets={name: store.get_bytes(name) for name in store.names()},
    )
    assert seen["rosters"][DAVE][ALICE] == "Alice from the lab" and seen["rosters"][ALICE][DAVE] == "Dave"
    assert all(text in seen["mam"] for text in texts)
    assert [f"room history {index}" for index in range(3)] == sorted(
        body for body in seen["room_history"] if body.startswith("room history"))


def test_backup_pulls_a_private_complete_snapshot(vm, config):
    run = operator_task("backup")
    assert run.returncode == 0 and run.errors == 0, run.output
    path = run.said()[-1].rsplit(" in ", 1)[1]
    found = backups.verify(path, config.realm)
    manifest = found.manifest
    assert manifest["accounts"] == seen["accounts"]
    assert stat.S_IMODE(found.path.stat().st_mode) == 0o700
    members = manifest["archive_members"]
    for name, sha256 in seen["files"].items():
        assert members[f"var/lib/prosody/{name.removeprefix('./')}"]["sha256"] == sha256, name
    assert "var/lib/prosody/prosody.sqlite" in members
    assert any(member.startswith("var/lib/private/eldwyn-signup/") for member in members)
    assert sorted(name.split("/", 1)[1] for name in manifest["files"] if name.startswith("secrets/")) \
        == sorted(seen["secrets"])
    # Nothing is left behind on the host.
    assert vm.check_output("ls /var/tmp | grep -c eldwyn-backup || true") == "0"
    seen["backup"] = found.path


def test_the_rebuild_restores_the_newest_scheduled_snapshot(vm, config):
    """The day the disk dies, the newest backup is the host's own scheduled one: the rebuild
    below restores that, fetched from the repository, and it holds all the history made."""
    with vm.sudo():
        assert vm.run("systemctl start eldwyn-backup.service").rc == 0
    run = operator_task("backup", backup_from_repository="true")
    assert run.returncode == 0 and run.errors == 0, run.output
    assert run.said()[-1].startswith("Backup (the scheduled snapshot of "), run.said()
    found = backups.verify(run.said()[-1].rsplit(" in ", 1)[1], config.realm)
    assert found.manifest["accounts"] == seen["accounts"]
    members = found.manifest["archive_members"]
    for name, sha256 in seen["files"].items():
        assert members[f"var/lib/prosody/{name.removeprefix('./')}"]["sha256"] == sha256, name
    seen["backup"] = found.path


def _restore(*args):
    return pyinfra_deploy("--data", f"backup_restore_from={seen['backup']}", *args)


def test_a_damaged_backup_stops_before_any_host_is_touched(vm, tmp_path):
    pid = vm.check_output("systemctl show -p MainPID --value prosody")
    for index, (damage, problem) in enumerate([
        (lambda copy: (copy / "host.tar").open("r+b").write(b"X"), "host.tar does not match its sha256"),
        (lambda copy: (copy / "secrets" / "ca.key").unlink(), "secrets/ca.key is missing"),
    ]):
        copy = tmp_path / str(index) / seen["backup"].name
        shutil.copytree(seen["backup"], copy)
        damage(copy)
        run = pyinfra_deploy("--data", f"backup_restore_from={copy}")
        assert run.returncode != 0
        assert f"bad group data: backup_restore_from: {copy}: {problem}" in run.output, run.output
        assert "nothing was restored" in run.output
        assert "[eldwyn-vm] Connected" not in run.output and "Traceback" not in run.output
    assert vm.check_output("systemctl show -p MainPID --value prosody") == pid
    assert not vm.file("/var/lib/eldwyn-xmpp/restored").exists


def test_restoring_onto_a_host_that_has_the_data_changes_nothing(vm):
    run = _restore()
    assert run.returncode == 0 and run.changed == 0, run.output
    assert "a restore never overwrites live data" in run.output


def test_the_vm_is_destroyed_and_a_fresh_one_restored(vm, ssh_config, config):
    testbed.fresh_vm(ssh_config)
    assert not vm.file("/var/lib/prosody").exists, "the new VM is not fresh"
    # A new operator machine too: the secrets store comes back from the backup.
    aside = config.secrets.dir.with_name(config.secrets.dir.name + ".before-rebuild")
    shutil.rmtree(aside, ignore_errors=True)
    config.secrets.dir.rename(aside)
    run = _restore()
    assert run.returncode == 0 and run.errors == 0, run.output
    assert f"Restored {len(seen['secrets'])} secrets from" in run.output
    store = SecretsStore(config.secrets.dir)
    assert {name: store.get_bytes(name) for name in store.names()} == seen["secrets"]
    shutil.rmtree(aside)
    again = _restore()
    assert again.returncode == 0 and again.changed == 0, again.output
    assert "was restored on this host already: not again" in again.output
    plain = pyinfra_deploy()
    assert plain.returncode == 0 and plain.changed == 0, plain.output


def test_every_account_logs_in_with_its_old_password(vm, target):
    assert accounts_on_vm(vm) == seen["accounts"]
    for jid in (ALICE, BOB, ADMIN):
        xmpp.check_login(target, jid)
    xmpp.check_login(seen["target"], DAVE)


def test_rosters_archives_and_room_history_are_intact():
    dave = seen["target"]
    for jid, roster in seen["rosters"].items():
        assert xmpp.roster_names(dave, jid) == roster, jid
    assert xmpp.archived_bodies(dave, DAVE, with_jid=ALICE) == seen["mam"]
    assert xmpp.archived_bodies(dave, BOB, room=seen["room"]) == seen["room_history"]


def test_uploads_are_byte_identical_at_their_old_urls(target):
    for url, sha256 in seen["uploads"]:
        size = 1024 if url == seen["uploads"][0][0] else 3 * xmpp.MIB + 7
        xmpp.check_download(target, url, sha256, size)


def test_certificates_and_files_are_unchanged(vm, target, config):
    assert _certificate_fingerprints(target, config) == seen["certificates"]
    assert _host_files(vm, config) == seen["files"]


def test_the_rebuilt_server_works_for_new_history(target):
    xmpp.check_message(target, ALICE, BOB)
    xmpp.check_mam(target, BOB, ALICE)

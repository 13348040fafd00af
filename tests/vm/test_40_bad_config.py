"""A config that fails its checks on the host never goes live: the deploy fails and the
running server keeps serving the previous config, untouched and not restarted."""

from tests import xmpp
from tasks.prosody_config import files as prosody_config_files
from tests.testbed import config_for_testbed, pyinfra_deploy

# Hide a module the config loads: `prosodyctl check config` would not notice (it never checks
# that modules exist), so this proves the deploy's own module check on the staged config.
MODULE = "/usr/lib/prosody/modules/mod_vcard4.lua"
HIDDEN = "/root/mod_vcard4.lua.hidden-by-test"


def main_pid(vm):
    return vm.check_output("systemctl show --property MainPID --value prosody")


def test_bad_config_fails_the_deploy_and_the_old_one_keeps_serving(vm, target):
    live = prosody_config_files(config_for_testbed())
    pid = main_pid(vm)
    vm.check_output(f"mv {MODULE} {HIDDEN}")
    try:
        # Any change to the data makes a new config to check; the archive retention will do.
        run = pyinfra_deploy("--data", "xmpp_archive_expires_after=2w")
        assert run.returncode != 0, "the deploy went through with a module missing"
        assert "modules not found on this host: vcard4" in run.output
        for wanted in live:
            assert vm.file(wanted.path).sha256sum == wanted.sha256, f"{wanted.path} was changed"
        assert main_pid(vm) == pid, "Prosody was restarted"
        assert vm.service("prosody").is_running
        alice, bob = f"alice@{target.realm}", f"bob@{target.realm}"
        xmpp.check_login(target, alice)
        xmpp.check_message(target, alice, bob)
    finally:
        vm.check_output(f"mv {HIDDEN} {MODULE}")
    # With the module back, the unchanged data is exactly what is live: nothing to do.
    again = pyinfra_deploy()
    assert again.returncode == 0
    assert again.changed == 0

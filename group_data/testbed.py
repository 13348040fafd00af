"""Data for the test-bed VM made by the Vagrantfile only (nothing here reaches production)."""

import glob as _glob
import json as _json
import os as _os

# (pyinfra keeps even _-prefixed names as host data: helpers are deleted at the end.)
_repo = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))

# ---- Connection --------------------------------------------------------------------------------
# The VM's SSH is forwarded to the operator's loopback (testbed/ports.json).
ssh_hostname = "127.0.0.1"
with open(_os.path.join(_repo, "testbed", "ports.json")) as _ports_file:
    ssh_port = _json.load(_ports_file)["ssh"]["host"]
ssh_user = "vagrant"
# The key Vagrant put into the VM at `vagrant up` (its path depends on the provider); none
# before the VM exists.
_keys = sorted(_glob.glob(_os.path.join(_repo, ".vagrant/machines/eldwyn/*/private_key")))
if _keys:
    ssh_key = _keys[0]
# Every VM made from the box has fresh host keys: nothing to pin, and nothing to pollute
# the operator's known_hosts with.
ssh_known_hosts_file = "/dev/null"
ssh_strict_host_key_checking = "no"
_sudo = True

# ---- Service data that differs from production --------------------------------------------------
# The VM's own secrets (its CA, its accounts' passwords), apart from production's.
secrets_dir = "~/.local/share/eldwyn-xmpp/testbed/secrets"
backup_dir = "~/.local/share/eldwyn-xmpp/testbed/backups"

# The local CA issues the VM's certificates (the tests trust it). tests/vm/test_37_acme.py runs
# the VM with tls_mode "acme" against pebble, as production runs against Let's Encrypt.
tls_mode = "local_ca"

# Test users the client tests log in as (passwords generated into the secrets store).
xmpp_accounts = [
    "alice@cslabs.clarkson.edu",
    "bob@cslabs.clarkson.edu",
]

xmpp_shared_roster_groups = {
    "Admins": [
        {"jid": "admin@cslabs.clarkson.edu", "name": "Server admin"},
    ],
    "Testers": [
        {"jid": "alice@cslabs.clarkson.edu", "name": "Alice"},
        {"jid": "bob@cslabs.clarkson.edu", "name": "Bob"},
    ],
}

# Verification mail goes to a sink the web tests run in the VM (tests/vm/test_60_signup_web.py).
signup_smtp = {
    "host": "127.0.0.1",
    "port": 2525,
    "starttls": False,
    "username": None,
    "from_address": "noreply@comm.cslabs.clarkson.edu",
}
# Every request of the tests comes from one address (qemu's NAT): room for all of them, while
# the per-address limit itself is unit-tested and the per-e-mail one is tested in the VM.
signup_rate_limits = {
    "per_address": {"attempts": 500, "window_seconds": 600},
    "per_email": {"attempts": 3, "window_seconds": 24 * 3600},
}

# Scheduled backups go to the test bed's restic REST server in the VM (testbed/vm/backup-target);
# production's repository is off the host. Three kept: retention is seen after four runs.
backup_repository = "rest:http://127.0.0.1:8000/eldwyn"
backup_keep = 3

del _repo, _ports_file, _keys

"""Data for the test bed's legacy Eldwyn (testbed/legacy/up): a Debian 12 host with Prosody 0.12
and the operators' page's own config, that this package never deploys to. Only
operator_tasks/adopt.py reads it; the adopted backup is restored onto the test-bed VM, so the
secrets store and the backups are the test bed's."""

import os as _os

# The host lives in a network namespace of its own, reached over a veth pair (testbed/legacy/lib.sh).
ssh_hostname = "10.231.5.2"
ssh_user = "operator"
_cache = _os.environ.get("ELDWYN_CACHE_DIR", "/var/cache/eldwyn-testbed")
ssh_key = f"{_cache}/legacy-ssh/id_ed25519"
ssh_known_hosts_file = "/dev/null"  # each start has fresh host keys
ssh_strict_host_key_checking = "no"
_sudo = True

secrets_dir = "~/.local/share/eldwyn-xmpp/testbed/secrets"
backup_dir = "~/.local/share/eldwyn-xmpp/testbed/backups"

del _cache

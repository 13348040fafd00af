"""Connection data for the test-bed VM made by the Vagrantfile (nothing here reaches production)."""

import glob as _glob
import json as _json
import os as _os

_repo = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
with open(_os.path.join(_repo, "testbed", "ports.json")) as _f:
    _ports = _json.load(_f)

# The VM's SSH is forwarded to the operator's loopback (testbed/ports.json).
ssh_hostname = "127.0.0.1"
ssh_port = _ports["ssh"]["host"]
ssh_user = "vagrant"
# The key Vagrant put into the VM at `vagrant up` (path depends on the provider used).
ssh_key = next(iter(sorted(_glob.glob(_os.path.join(_repo, ".vagrant/machines/eldwyn/*/private_key")))), None)
# Every VM made from the box has fresh host keys: nothing to pin, and nothing to pollute
# the operator's known_hosts with.
ssh_known_hosts_file = "/dev/null"
ssh_strict_host_key_checking = "no"

_sudo = True

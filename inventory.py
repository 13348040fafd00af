"""Who `pyinfra inventory.py deploy.py` deploys to.

- ``production``: Eldwyn itself. Its address is never guessed: set ``ELDWYN_HOST`` (a name
  or address your SSH can reach, e.g. an alias from ~/.ssh/config); without it this group
  is empty. ``ELDWYN_SSH_USER`` picks the login (default: your SSH config's).
- ``testbed``: the Vagrant VM of this repository (``testbed/bin/up``), reached through the
  port forwarded to 127.0.0.1. Its connection settings are in group_data/testbed.py.
- ``legacy_testbed``: the test bed's stand-in for the hand-built Eldwyn (Debian 12, Prosody 0.12,
  testbed/legacy/up), only ever the source of operator_tasks/adopt.py; group_data/legacy_testbed.py.

Always name the group: ``--limit testbed`` or ``--limit production``.
"""

import os as _os

_production_host = _os.environ.get("ELDWYN_HOST", "").strip()

production = [_production_host] if _production_host else []

testbed = ["eldwyn-vm"]

legacy_testbed = ["legacy-eldwyn"]

# A bad secrets store or backup directory stops the run here, before any host is contacted.
from eldwyn import early_checks as _early_checks  # noqa: E402

_early_checks.check({"production": production, "testbed": testbed, "legacy_testbed": legacy_testbed})

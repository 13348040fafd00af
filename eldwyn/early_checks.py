"""Checks run while pyinfra loads inventory.py, before it connects to any host: the private
directories of the data (secrets_dir, or ELDWYN_SECRETS_DIR, and backup_dir) of every group the
run names with --limit (every group with hosts, without one). The deploy's own data check
(eldwyn/preflight.py) checks everything again, after pyinfra connected and before any change;
this one answers a bad secrets store before any host is contacted at all.

Only these keys: the rest of the data needs pyinfra's merge of group_data, which exists once
the hosts are connected. ``--data`` overrides are not seen here (the later check sees them).
"""

import os
import runpy
import sys
from pathlib import Path

from eldwyn.config import SECRETS_DIR_ENV
from eldwyn.schema.data import Backup, Secrets
from eldwyn.secrets import private_directory_problem

GROUP_DATA = Path(__file__).resolve().parent.parent / "group_data"
EXIT_STATUS = 3  # as for bad group data (eldwyn/preflight.py BAD_DATA_EXIT_STATUS)


def limits(argv):
    """The groups or hosts named by --limit in a pyinfra command line (empty: none)."""
    found = []
    for index, arg in enumerate(argv):
        if arg == "--limit" and index + 1 < len(argv):
            found += argv[index + 1].split(",")
        elif arg.startswith("--limit="):
            found += arg.split("=", 1)[1].split(",")
    return found


def _group_values(group):
    values = {}
    for name in ("all", group):
        path = GROUP_DATA / f"{name}.py"
        if path.exists():
            values.update(runpy.run_path(str(path)))
    return values


def problems(groups, environ):
    """One line per bad private directory of ``groups`` ({group: hosts}), naming the key."""
    lines = []
    for group in groups:
        values = _group_values(group)
        secrets_key = f"{SECRETS_DIR_ENV} (environment)" if environ.get(SECRETS_DIR_ENV) else "secrets_dir"
        secrets = environ.get(SECRETS_DIR_ENV) or values.get("secrets_dir", Secrets.model_fields["dir"].default)
        for key, value in ((secrets_key, secrets), ("backup_dir", values.get("backup_dir", Backup.model_fields["dir"].default))):
            problem = private_directory_problem(value) if isinstance(value, str) else None
            if problem:
                lines.append(f"{group}: bad group data: {key}: {problem}")
    return sorted(set(lines))


def check(groups, argv=None, environ=None):
    """Exits (status 3, every problem on stderr) if a group this run names has a bad private
    directory. ``groups``: {group name: its hosts}, as inventory.py defines them."""
    argv = sys.argv if argv is None else argv
    environ = os.environ if environ is None else environ
    named = limits(argv)
    chosen = [group for group, hosts in groups.items() if hosts and (not named or group in named
                                                                     or any(host in named for host in hosts))]
    found = problems(chosen, environ)
    if found:
        print("\n".join(found) + "\n(checked before connecting to any host: nothing was contacted)", file=sys.stderr)
        raise SystemExit(EXIT_STATUS)

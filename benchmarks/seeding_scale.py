"""Benchmark 3: seeding scale. The deploy with 10 accounts and 1 shared-roster group, then with
1,000 accounts and 50 groups (new names each time: every account is created): the time, remote
commands and uploads of each, then of a no-op re-run with the same data. Target: the larger
deploy takes at most 2 x the smaller.

    .venv/bin/python benchmarks/seeding_scale.py     # needs a test-bed VM (testbed/bin/up)

The data is given with --data, as an operator would override it; the passwords of the new
accounts go to a copy of the test bed's secrets store (ELDWYN_SECRETS_DIR), kept beside it.
"""

import json
import shutil
import sys

from bench import REPO, log_path, pyinfra, report, slowest_lines

sys.path.insert(0, str(REPO))
from tests.testbed import config_for_testbed  # noqa: E402

TARGET_RATIO = 2.0
CONFIG = config_for_testbed()  # the realm and the secrets store come from group_data/
BENCH_SECRETS = CONFIG.secrets_dir.with_name("benchmark-secrets")


def data(name, accounts, groups):
    jids = [f"{name}-{index:04d}@{CONFIG.realm}" for index in range(1, accounts + 1)]
    size = -(-accounts // groups)
    rosters = {f"{name} group {group + 1}": [{"jid": jid, "name": jid.split("@")[0]}
                                            for jid in jids[group * size:(group + 1) * size]]
               for group in range(groups)}
    return ["--data", f"xmpp_accounts={json.dumps(jids)}",
            "--data", f"xmpp_shared_roster_groups={json.dumps(rosters)}"]


def main():
    if not BENCH_SECRETS.exists():
        shutil.copytree(CONFIG.secrets_dir, BENCH_SECRETS)  # the same CA and secrets: only accounts are new
    env = {"ELDWYN_SECRETS_DIR": str(BENCH_SECRETS)}
    stamp_names = log_path("seeding").stem.split("-")[0].lower()  # new account names every run
    results = {}
    for label, accounts, groups in (("small", 10, 1), ("large", 1000, 50)):
        args = data(f"s{stamp_names}{label[0]}", accounts, groups)
        apply = pyinfra("deploy.py", *args, log=log_path(f"seeding-{label}"), env=env)
        again = pyinfra("deploy.py", *args, log=log_path(f"seeding-{label}-again"), env=env)
        assert again.changed == 0, f"{label}: the re-run changed {again.changed} operations"
        results[label] = {"accounts": accounts, "groups": groups, "apply": apply, "rerun": again}
    pyinfra(log=log_path("seeding-back-to-testbed-data"))  # the test bed's own data again
    small, large = results["small"], results["large"]
    ratio = round(large["apply"].seconds / small["apply"].seconds, 2)
    lines = [f"{label}: {r['accounts']} accounts, {r['groups']} groups: deploy {r['apply'].seconds} s,"
             f" {r['apply'].commands} commands, {r['apply'].uploads} uploads, {r['apply'].changed} changes;"
             f" re-run {r['rerun'].seconds} s, {r['rerun'].commands} commands, 0 changes"
             for label, r in results.items()]
    for label, r in results.items():
        lines += [f"{label}: its slowest phases:", *slowest_lines(r["apply"], 3)]
    lines.append(f"large/small deploy time: {ratio} (target <= {TARGET_RATIO});"
                 f" commands {large['apply'].commands}/{small['apply'].commands}")
    report("seeding-scale", lines, {"results": results, "ratio": ratio})
    if ratio > TARGET_RATIO:
        sys.exit("FAILED: the larger deploy took more than twice the smaller")


if __name__ == "__main__":
    main()

"""Benchmark 3: seeding scale. The deploy with 10 accounts and 1 shared-roster group, then with
1,000 accounts and 50 groups (new names each time: every account is created): the time, remote
commands and uploads of each, then of a no-op re-run with the same data. Target: the larger
deploy takes at most 1.5 x the smaller. The two alternate REPEAT times (default 3); the figures
are the medians, since a single deploy under emulation varies by up to 20 %.

    .venv/bin/python benchmarks/seeding_scale.py [REPEAT]     # needs a test-bed VM (testbed/bin/up)

The data is given with --data, as an operator would override it; the passwords of the new
accounts go to a copy of the test bed's secrets store (ELDWYN_SECRETS_DIR), kept beside it.
"""

import json
import shutil
import sys

from bench import REPO, log_path, median, pyinfra, report, slowest_lines

sys.path.insert(0, str(REPO))
from tests.testbed import config_for_testbed  # noqa: E402

TARGET_RATIO = 1.5
CONFIG = config_for_testbed()  # the realm and the secrets store come from group_data/
BENCH_SECRETS = CONFIG.secrets.dir.with_name("benchmark-secrets")


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
        shutil.copytree(CONFIG.secrets.dir, BENCH_SECRETS)  # the same CA and secrets: only accounts are new
    env = {"ELDWYN_SECRETS_DIR": str(BENCH_SECRETS)}
    repeat = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    stamp_names = log_path("seeding").stem.split("-")[0].lower()  # new account names every run
    sizes = {"small": (10, 1), "large": (1000, 50)}
    runs = {label: [] for label in sizes}
    for index in range(repeat):
        for label, (accounts, groups) in sizes.items():
            args = data(f"s{stamp_names}{label[0]}{index}", accounts, groups)
            apply = pyinfra("deploy.py", *args, log=log_path(f"seeding-{label}-{index}"), env=env)
            again = pyinfra("deploy.py", *args, log=log_path(f"seeding-{label}-{index}-again"), env=env)
            assert again.changed == 0, f"{label}: the re-run changed {again.changed} operations"
            runs[label].append({"apply": apply, "rerun": again})
    pyinfra(log=log_path("seeding-back-to-testbed-data"))  # the test bed's own data again
    seconds = {label: median([run["apply"].seconds for run in runs[label]]) for label in sizes}
    ratio = round(seconds["large"] / seconds["small"], 2)
    lines = []
    for label, (accounts, groups) in sizes.items():
        first, first_rerun = runs[label][0]["apply"], runs[label][0]["rerun"]
        lines += [f"{label}: {accounts} accounts, {groups} groups: deploy median {seconds[label]} s"
                  f" ({', '.join(str(run['apply'].seconds) for run in runs[label])}),"
                  f" {first.commands} commands, {first.uploads} uploads, {first.changed} changes;"
                  f" re-run median {median([run['rerun'].seconds for run in runs[label]])} s,"
                  f" {first_rerun.commands} commands, 0 changes",
                  f"{label}: the slowest phases of its first deploy:", *slowest_lines(first, 3)]
    lines.append(f"large/small median deploy time: {ratio} (target <= {TARGET_RATIO})")
    results = {label: {"accounts": sizes[label][0], "groups": sizes[label][1], "median_seconds": seconds[label],
                       "runs": runs[label]} for label in sizes}
    report("seeding-scale", lines, {"results": results, "ratio": ratio})
    if ratio > TARGET_RATIO:
        sys.exit(f"FAILED: the larger deploy took more than {TARGET_RATIO} x the smaller")


if __name__ == "__main__":
    main()

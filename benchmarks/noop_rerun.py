"""Benchmark 2: the no-op re-run. Deploys once to converge, then REPEAT more times: the wall time
(median), the remote commands and file uploads each run makes (from pyinfra's --debug log), and
the changes (must be 0). Side by side, alternating with them, the floor: the cheapest pyinfra run
there is against the same VM, one command (`pyinfra inventory.py --limit testbed exec -- true`).
Targets: 0 changes, at most 25 remote commands, median no-op / median floor <= 2.0.

    .venv/bin/python benchmarks/noop_rerun.py [REPEAT]     # needs a test-bed VM (testbed/bin/up)
"""

import sys

from bench import log_path, median, pyinfra, report, slowest_lines

TARGET_COMMANDS = 25
TARGET_RATIO = 2.0


def main(repeat=5):
    pyinfra(log=log_path("noop-converge"))
    runs, floors = [], []
    for index in range(repeat):
        floors.append(pyinfra("exec", "--", "true", log=log_path(f"noop-floor-{index}")))
        runs.append(pyinfra(log=log_path(f"noop-{index}")))
    worst = max(runs, key=lambda run: run.round_trips)
    noop, floor = median([run.seconds for run in runs]), median([run.seconds for run in floors])
    ratio = round(noop / floor, 2)
    lines = [
        f"no-op re-runs: {repeat}",
        f"wall time, median: {noop} s (min {min(run.seconds for run in runs)}, max {max(run.seconds for run in runs)})",
        f"floor (pyinfra exec -- true), median: {floor} s"
        f" (min {min(run.seconds for run in floors)}, max {max(run.seconds for run in floors)})",
        f"no-op / floor: {ratio} (target <= {TARGET_RATIO})",
        f"remote commands per run: {worst.commands} (target <= {TARGET_COMMANDS}), file uploads: {worst.uploads}",
        f"changes: {max(run.changed for run in runs)} (must be 0)",
        "slowest phases of the slowest no-op run:",
        *slowest_lines(max(runs, key=lambda run: run.seconds)),
    ]
    report("noop-rerun", lines, {"runs": runs, "floors": floors, "ratio": ratio})
    if worst.changed or worst.round_trips > TARGET_COMMANDS:
        sys.exit("FAILED: a no-op run changed something or made too many round trips")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)

"""Benchmark 2: the no-op re-run. Deploys once to converge, then REPEAT more times: the wall time
(median), the remote commands and file uploads each run makes (from pyinfra's --debug log), and
the changes (must be 0). Target: at most 25 remote commands.

    .venv/bin/python benchmarks/noop_rerun.py [REPEAT]     # needs a test-bed VM (testbed/bin/up)
"""

import sys

from bench import log_path, median, pyinfra, report

TARGET_COMMANDS = 25


def main(repeat=5):
    pyinfra(log=log_path("noop-converge"))
    runs = [pyinfra(log=log_path(f"noop-{index}")) for index in range(repeat)]
    worst = max(runs, key=lambda run: run.round_trips)
    lines = [
        f"no-op re-runs: {repeat}",
        f"wall time, median: {median([run.seconds for run in runs])} s"
        f" (min {min(run.seconds for run in runs)}, max {max(run.seconds for run in runs)})",
        f"remote commands per run: {worst.commands} (target <= {TARGET_COMMANDS}), file uploads: {worst.uploads}",
        f"changes: {max(run.changed for run in runs)} (must be 0)",
    ]
    report("noop-rerun", lines, {"runs": runs})
    if worst.changed or worst.round_trips > TARGET_COMMANDS:
        sys.exit("FAILED: a no-op run changed something or made too many round trips")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)

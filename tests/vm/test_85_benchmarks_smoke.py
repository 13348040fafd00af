"""The benchmarks (benchmarks/) in their short smoke mode: each runs from its documented command
against the (rebuilt) VM and meets its checks. Not timed: the figures are the benchmarks' job."""

import os
import subprocess
import sys

from tests.testbed import REPO


def _run(tmp_path, *command, **environ):
    proc = subprocess.run([*command], cwd=REPO, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "ELDWYN_BENCH_RESULTS": str(tmp_path), **environ})
    print(proc.stdout + proc.stderr)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def test_noop_rerun_makes_no_change_in_at_most_25_remote_commands(first_deploy, tmp_path):
    output = _run(tmp_path, sys.executable, "benchmarks/noop_rerun.py", "1")
    assert "changes: 0 (must be 0)" in output
    assert list(tmp_path.glob("*-noop-rerun.json"))


def test_the_load_generator_delivers_and_archives_every_message_inside_the_vm(first_deploy, tmp_path):
    # The deployed server, then the deployed store's settings (WAL, synchronous FULL) and internal
    # storage with the bench config: two of the four variants, to keep CI short.
    output = _run(tmp_path, "benchmarks/load/run-vm", "20", "100", STORAGES="sql-wal-full internal")
    assert output.count("lost 0") >= 3, output
    assert len(list(tmp_path.glob("vm-*-N20-M100-*.json"))) == 3

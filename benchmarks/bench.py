"""What the benchmarks share: the real pyinfra CLI against the test-bed VM, with every command
it runs on the host counted from its --debug log, and results written beside the raw output.

Each benchmark (noop_rerun.py, seeding_scale.py, cold_rebuild.py) is run from the repository
root with the venv's Python, e.g. `.venv/bin/python benchmarks/noop_rerun.py`; they need a
test-bed VM (testbed/bin/up), and cold_rebuild.py makes its own.
"""

import json
import os
import re
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = Path(os.environ.get("ELDWYN_BENCH_RESULTS", REPO / "benchmarks" / "results"))  # smoke runs: elsewhere
PYINFRA = str(Path(sys.executable).with_name("pyinfra"))
# pyinfra's SSH connector logs each remote command, and each file transfer, at debug level.
_COMMAND = re.compile(r"\[pyinfra\.connectors\.ssh\] Running command on ")
_UPLOAD = re.compile(r"\[pyinfra\.connectors\.ssh\] Attempting upload of ")


@dataclass
class Run:
    seconds: float
    commands: int  # remote commands (each one SSH round trip at least)
    uploads: int  # files put over SFTP
    changed: int  # operations that changed the host
    returncode: int
    slowest: list  # [(phase, seconds)], slowest first: "prepare" (connect, facts) and each operation

    @property
    def round_trips(self):
        return self.commands + self.uploads


_OPERATION = "--> Starting operation: "
_PHASE_ENDS = ("--> Beginning operation run", "--> Results:")


def phases(timed_lines):
    """{phase: seconds} from [(seconds since start, line)]: "prepare" (from the start to the first
    operation: connecting, reading facts, planning), then each operation until the next."""
    marks = [(0.0, "prepare")]
    marks += [(at, line.split(_OPERATION, 1)[1].strip()) if _OPERATION in line else (at, None)
              for at, line in timed_lines if _OPERATION in line or line.startswith(_PHASE_ENDS)]
    durations = {}
    for (start, name), (end, _) in zip(marks, marks[1:]):
        if name:
            durations[name] = round(durations.get(name, 0) + end - start, 2)
    return durations


def pyinfra(deploy_file="deploy.py", *args, log=None, env=None):
    """Runs `pyinfra -y --debug inventory.py DEPLOY --limit testbed ARGS` and measures it. The log
    has each line's time since the start in front of it."""
    start = time.monotonic()
    proc = subprocess.Popen([PYINFRA, "-y", "--debug", "inventory.py", deploy_file, "--limit", "testbed", *args],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, **(env or {})})
    timed_lines = [(time.monotonic() - start, line.rstrip("\n")) for line in proc.stdout]
    proc.wait()
    seconds = time.monotonic() - start
    output = "\n".join(line for _, line in timed_lines)
    if log:
        Path(log).write_text("".join(f"{at:8.2f} {line}\n" for at, line in timed_lines))
    total = next((line.split()[2:] for line in output.splitlines() if line.strip().startswith("Grand total")), None)
    changed = 0 if not total or total[1] == "-" else int(total[1])
    slowest = sorted(phases(timed_lines).items(), key=lambda item: -item[1])[:8]
    run = Run(round(seconds, 2), len(_COMMAND.findall(output)), len(_UPLOAD.findall(output)), changed,
              proc.returncode, slowest)
    if proc.returncode != 0:
        sys.exit(f"pyinfra failed (rc {proc.returncode}); its output is in {log}\n{output[-2000:]}")
    return run


def slowest_lines(run, count=5):
    """The run's slowest phases, a line each, for a report."""
    return [f"  {seconds:7.2f} s  {name}" for name, seconds in run.slowest[:count]]


def median(values):
    return round(statistics.median(values), 2)


def stamp():
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def machine():
    """One line saying where the figures were measured."""
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    kvm = "KVM" if Path("/sys/module/kvm_intel").exists() or Path("/sys/module/kvm_amd").exists() else "qemu TCG"
    return f"{os.cpu_count()} cores ({cpu}), test-bed VM under {kvm}"


def report(name, lines, data):
    """Prints ``lines`` and writes them, and ``data`` as JSON, to benchmarks/results/."""
    RESULTS.mkdir(exist_ok=True)
    when = stamp()
    header = [f"# {name}, {when}, {machine()}", f"# command: {' '.join(sys.argv)}"]
    text = "\n".join(header + lines) + "\n"
    print(text, end="")
    (RESULTS / f"{when}-{name}.txt").write_text(text)
    (RESULTS / f"{when}-{name}.json").write_text(json.dumps(
        {"when": when, "machine": machine(), "command": sys.argv, **data},
        indent=1, default=lambda value: asdict(value) | {"round_trips": value.round_trips}) + "\n")
    return RESULTS / f"{when}-{name}.txt"


def log_path(name):
    RESULTS.mkdir(exist_ok=True)
    return RESULTS / f"{stamp()}-{name}.log"

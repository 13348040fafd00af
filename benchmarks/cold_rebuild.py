"""Benchmark 1: a cold rebuild against its floor. On a fresh test-bed VM, the full deploy; on
another fresh VM from the same box, only the same Debian packages with one `apt-get install`
(the floor no deploy can beat: without Recommends, as the deploy installs them). Prints both and
the ratio. Target: at most 1.10.

    .venv/bin/python benchmarks/cold_rebuild.py     # destroys the test-bed VM, leaves a deployed one

Each fresh VM is the VM as `vagrant up` made it from the cached box, by the test bed's snapshot of
it (testbed/lib/common.sh: vm_fresh); bringing it back is not timed, only what runs in it.
"""

import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import REPO, log_path, pyinfra, report, slowest_lines

sys.path.insert(0, str(REPO))
from tests.testbed import config_for_testbed, write_ssh_config  # noqa: E402  (the deploy's own data and VM)

TARGET_RATIO = 1.10


def fresh_vm():
    """The VM as `vagrant up` made it from the box (testbed/lib/common.sh: vm_fresh)."""
    subprocess.run(["bash", "-c", "source testbed/lib/common.sh && vm_fresh"], cwd=REPO, check=True,
                   stdout=subprocess.DEVNULL)


def floor_seconds(packages):
    """One apt-get update and one apt-get install of ``packages`` (no Recommends) on the VM, as a
    person would type them: Debian starts the services it installs, as usual."""
    with tempfile.TemporaryDirectory() as directory:
        ssh_config = write_ssh_config(Path(directory) / "config")
        command = ("sudo sh -c 'export DEBIAN_FRONTEND=noninteractive; apt-get update -q"
                   f" && apt-get install -y -q --no-install-recommends {' '.join(shlex.quote(p) for p in packages)}'")
        start = time.monotonic()
        with open(log_path("cold-floor-apt"), "w") as log:
            subprocess.run(["ssh", "-F", str(ssh_config), "eldwyn-vm", command], check=True, stdout=log, stderr=log)
        return round(time.monotonic() - start, 1)


def main():
    config = config_for_testbed()
    packages = list(config.packages)
    fresh_vm()
    floor = floor_seconds(packages)
    fresh_vm()
    deploy = pyinfra(log=log_path("cold-deploy"))
    again = pyinfra(log=log_path("cold-deploy-again"))
    ratio = round(deploy.seconds / floor, 2)
    lines = [
        f"floor: apt-get update + apt-get install of the {len(packages)} packages on a fresh VM: {floor} s",
        f"full deploy on a fresh VM: {deploy.seconds} s ({deploy.changed} operations changed,"
        f" {deploy.commands} remote commands, {deploy.uploads} uploads)",
        "its slowest phases:", *slowest_lines(deploy),
        f"deploy/floor: {ratio} (target <= {TARGET_RATIO})",
        f"then a no-op re-run: {again.seconds} s, {again.changed} changes",
    ]
    report("cold-rebuild", lines, {"packages": packages, "floor_seconds": floor, "deploy": deploy,
                                   "rerun": again, "ratio": ratio})
    if ratio > TARGET_RATIO:
        sys.exit(f"FAILED: the deploy took more than {TARGET_RATIO} x the floor")


if __name__ == "__main__":
    main()

"""How tests reach the test-bed VM: the same connection data pyinfra uses, and the real CLI."""

import json
import os
import re
import runpy
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from eldwyn.accounts import DATABASE

REPO = Path(__file__).resolve().parent.parent
PORTS = {name: p for name, p in json.loads((REPO / "testbed" / "ports.json").read_text()).items()
         if not name.startswith("_")}
# group_data/testbed.py is the one place that says how to log into the VM.
CONNECTION = runpy.run_path(str(REPO / "group_data" / "testbed.py"))
PYINFRA = str(Path(sys.executable).with_name("pyinfra"))


def host_port(service: str) -> int:
    """The port on 127.0.0.1 that is forwarded to the guest's port for `service`."""
    return PORTS[service]["host"]


def write_ssh_config(path: Path) -> Path:
    """An OpenSSH config for the VM (testinfra's ssh backend; ControlMaster keeps it fast)."""
    if not CONNECTION.get("ssh_key"):
        raise RuntimeError("no test-bed VM: .vagrant/machines/eldwyn/*/private_key is missing "
                           "(bring one up with testbed/bin/up)")
    path.write_text(
        "Host eldwyn-vm\n"
        f"  HostName {CONNECTION['ssh_hostname']}\n"
        f"  Port {CONNECTION['ssh_port']}\n"
        f"  User {CONNECTION['ssh_user']}\n"
        f"  IdentityFile {CONNECTION['ssh_key']}\n"
        "  IdentitiesOnly yes\n"
        "  StrictHostKeyChecking no\n"
        "  UserKnownHostsFile /dev/null\n"
        "  LogLevel ERROR\n"
        # testinfra asks for ControlMaster but names no socket, which silently disables it:
        # with one, a command costs ~0.2 s instead of a new SSH handshake (~1.2 s under TCG).
        f"  ControlPath {path.parent}/cm-%C\n"
    )
    return path


@dataclass
class DeployRun:
    returncode: int
    output: str

    def _grand_total(self) -> list[str]:
        # Results table: Operation | Hosts | Success (changed) | Error | No Change
        for line in self.output.splitlines():
            if line.strip().startswith("Grand total"):
                return line.split()[2:]
        raise AssertionError(f"no results table in pyinfra's output:\n{self.output}")

    @property
    def changed(self) -> int:
        value = self._grand_total()[1]
        return 0 if value == "-" else int(value)

    @property
    def errors(self) -> int:
        value = self._grand_total()[2]
        return 0 if value == "-" else int(value)

    def said(self, host: str = "eldwyn-vm") -> list[str]:
        """What the operator task printed for ``host`` ("[eldwyn-vm] ..." lines), in order."""
        return [line.split("] ", 1)[1] for line in self.output.splitlines() if line.startswith(f"[{host}] ")]

    @property
    def planned_changes(self) -> int:
        """For --dry: operations that would change the host ("1 (eldwyn-vm)" in the Change column)."""
        return len(re.findall(r"\s1 \(eldwyn-vm\)", self.output))


def pyinfra_run(deploy_file: str, *args: str, timeout: int = 1800, limit: str = "testbed",
                environ: dict | None = None) -> DeployRun:
    """Runs the real pyinfra CLI, as an operator would, with ``deploy_file`` (deploy.py or an
    operator task) against the test-bed VM (or another group of the inventory: ``limit``), with
    ``environ`` added to the environment."""
    # --dry needs pyinfra's change detection, which -y (no prompt) skips.
    yes = [] if "--dry" in args else ["-y"]
    proc = subprocess.run(
        [PYINFRA, *yes, "inventory.py", deploy_file, "--limit", limit, *args],
        cwd=REPO, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(environ or {})},
    )
    output = proc.stdout + proc.stderr
    print(output)  # shown by pytest when a test fails
    return DeployRun(proc.returncode, output)


def pyinfra_deploy(*args: str, timeout: int = 1800, environ: dict | None = None) -> DeployRun:
    """The deploy (deploy.py) with the real pyinfra CLI against the test-bed VM."""
    return pyinfra_run("deploy.py", *args, timeout=timeout, environ=environ)


def operator_task(name: str, limit: str = "testbed", environ: dict | None = None, **data) -> DeployRun:
    """The operator task operator_tasks/<name>.py against the VM (or the group ``limit``), with
    ``--data key=value``."""
    args = [arg for key, value in data.items() for arg in ("--data", f"{key}={value}")]
    return pyinfra_run(f"operator_tasks/{name}.py", *args, timeout=600, limit=limit, environ=environ)


def accounts_on_vm(vm) -> list[str]:
    """Every account in the VM's Prosody store, as bare JIDs, sorted (read with sqlite3)."""
    query = "SELECT DISTINCT user || '@' || host FROM prosody WHERE store = 'accounts' ORDER BY 1"
    return sorted(vm.check_output(f'sqlite3 -readonly {DATABASE} "{query}"').split())


# libvirt's name for the test-bed VM: the Vagrantfile's default_prefix and machine name.
LIBVIRT_DOMAIN = "eldwyn-testbed-eldwyn"


def wait_for_ssh(timeout=300):
    """Returns once the VM answers SSH again (after a reboot or a reset), within ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _plain_ssh("true").returncode == 0:
            return
        time.sleep(2)
    raise AssertionError(f"the VM did not come back within {timeout} s")


def _plain_ssh(command):
    """``command`` in the VM over a new SSH connection of its own (no master, no known host)."""
    return subprocess.run(["ssh", "-i", CONNECTION["ssh_key"], "-p", str(CONNECTION["ssh_port"]),
                           "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                           "-o", "ConnectTimeout=5", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR",
                           f"{CONNECTION['ssh_user']}@{CONNECTION['ssh_hostname']}", command],
                          capture_output=True, text=True, timeout=30)


def fresh_vm(ssh_config: Path) -> None:
    """A fresh test-bed VM (no deploy), as on the day Eldwyn has to be rebuilt: the VM as
    `vagrant up` made it from the box, from the snapshot the test command took then, or a new VM
    from the box without one (testbed/lib/common.sh: vm_fresh). The SSH master connection to the
    old VM is closed first."""
    subprocess.run(["ssh", "-F", str(ssh_config), "-O", "exit", "eldwyn-vm"], capture_output=True, timeout=30)
    # (vm_fresh returns once the VM answers SSH)
    subprocess.run(["bash", "-c", 'source testbed/lib/common.sh && vm_fresh'], cwd=REPO, check=True, timeout=1200)
    # Certificates are issued with the operator machine's time: the guest's must agree.
    guest = int(_plain_ssh("date +%s").stdout)
    assert abs(guest - time.time()) < 30, f"the fresh VM's clock is {guest - time.time():+.0f} s off the host's"


_INVENTORY_DATA = """
import json, sys
from pyinfra.api import State
from pyinfra.context import ctx_state
from pyinfra_cli.inventory import make_inventory
with ctx_state.use(State()):  # pyinfra reads inventory files inside a deploy state
    inventory = make_inventory(sys.argv[1], cwd=sys.argv[2])
    json.dump(inventory.get_host("eldwyn-vm").data.dict(), sys.stdout)
"""


def data_for_testbed() -> dict:
    """The test bed host's data exactly as pyinfra merges it (all.py, then testbed.py).

    Read in a subprocess: importing pyinfra_cli monkey-patches the process for gevent, which
    breaks the ssl module that requests and slixmpp already imported here."""
    proc = subprocess.run([sys.executable, "-c", _INVENTORY_DATA, str(REPO / "inventory.py"), str(REPO)],
                          capture_output=True, text=True, check=True, timeout=120)
    return json.loads(proc.stdout)


def config_for_testbed():
    """The validated configuration the deploy uses for the VM (eldwyn.config.Config)."""
    from eldwyn.config import load_config

    return load_config(data_for_testbed())


def spki_sha256_base64(cert_pem: bytes) -> str:
    """Chromium's --ignore-certificate-errors-spki-list value for a PEM certificate: the base64
    SHA-256 of its public key (the browser tests trust exactly the certificates the deploy made)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    import base64
    import hashlib

    cert = x509.load_pem_x509_certificate(cert_pem)
    spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()

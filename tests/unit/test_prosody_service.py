"""The wait after a restart of Prosody, run here against real listening and closed ports."""

import socket
import subprocess

from tasks.prosody_service import wait_for_ports


def test_the_wait_ends_when_every_port_listens_and_fails_naming_the_others():
    with socket.socket() as listening, socket.socket() as closed:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        closed.bind(("127.0.0.1", 0))  # bound, never listening
        open_port, closed_port = listening.getsockname()[1], closed.getsockname()[1]
        ok = subprocess.run(["sh", "-c", wait_for_ports([open_port], seconds=2)], capture_output=True, text=True)
        assert ok.returncode == 0
        bad = subprocess.run(["sh", "-c", wait_for_ports([open_port, closed_port], seconds=1)],
                             capture_output=True, text=True, timeout=30)
        assert bad.returncode == 1 and bad.stderr.strip() == f"Prosody does not listen on: {closed_port}"

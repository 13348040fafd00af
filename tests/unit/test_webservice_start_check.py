"""The deploy's check that the webservice answers once (re)started (tasks/webservice.py), run
here with this machine's shell and python3 against real HTTP servers on loopback."""

import http.server
import subprocess
import threading
import time

import pytest

from tasks.webservice import wait_for_the_app


def _server(status):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _run(port, seconds):
    return subprocess.run(["sh", "-c", wait_for_the_app(port, seconds=seconds)], capture_output=True, text=True,
                          timeout=seconds + 30)


@pytest.mark.parametrize("status", [200, 303, 404])
def test_an_app_that_answers_passes(status):
    server = _server(status)
    try:
        assert _run(server.server_address[1], seconds=10).returncode == 0
    finally:
        server.shutdown()


def test_an_app_that_fails_fails_the_deploy_within_the_bound():
    server = _server(502)
    started = time.monotonic()
    try:
        run = _run(server.server_address[1], seconds=2)
    finally:
        server.shutdown()
    assert run.returncode == 1
    assert "does not answer" in run.stderr and "journalctl -u eldwyn-signup" in run.stderr
    assert time.monotonic() - started < 10


def test_nothing_listening_fails_the_deploy():
    server = _server(200)
    port = server.server_address[1]
    server.shutdown()
    server.server_close()
    assert _run(port, seconds=2).returncode == 1

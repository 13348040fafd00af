"""Every task's systemd units go up in one operation, followed by one daemon-reload (only if it
changed something); each task is handed the operation only if one of its own units differed."""

import ast

from eldwyn.files import ManagedFile
from tasks import systemd_units

from tests.unit.test_deploy_imports import REPO

PROSODY = ManagedFile("/etc/systemd/system/prosody.service.d/limits.conf", b"[Service]\nLimitNOFILE=4096\n")
SIGNUP = ManagedFile("/etc/systemd/system/eldwyn-signup.service", b"[Service]\n")
CONFIG = ManagedFile("/etc/prosody/prosody.cfg.lua", b"-- config\n")


def _as_on_host(file):
    return file.state


def _fake_pyinfra(monkeypatch):
    """pyinfra's operations recorded in ``made``: an upload returns one operation per file, as
    eldwyn.files.upload does, all of them the same."""
    made = []

    def upload(files, name):
        made.append(("upload", [file.path for file in files]))
        return [f"upload of {len(files)}"] * len(files)

    monkeypatch.setattr(systemd_units, "upload", upload)
    monkeypatch.setattr(systemd_units.systemd, "daemon_reload", lambda **kwargs: made.append(("reload", kwargs["name"])))
    monkeypatch.setattr(systemd_units, "any_changed", lambda *ops: ops)
    return made


def test_a_first_deploy_puts_every_unit_at_once_and_reloads_once(monkeypatch):
    made = _fake_pyinfra(monkeypatch)
    units, _ = systemd_units.split({"prosody": [PROSODY], "webservice": [SIGNUP, CONFIG], "firewall": [CONFIG]})
    changed = systemd_units.install(units, {})
    assert made == [("upload", [PROSODY.path, SIGNUP.path]), ("reload", "Reload systemd: our units changed")]
    assert changed == {"prosody": ["upload of 2"], "webservice": ["upload of 2"], "firewall": []}


def test_only_the_task_whose_unit_differs_is_handed_the_operation(monkeypatch):
    made = _fake_pyinfra(monkeypatch)
    changed = systemd_units.install({"prosody": [PROSODY], "webservice": [SIGNUP]}, {PROSODY.path: _as_on_host(PROSODY)})
    assert made[0] == ("upload", [SIGNUP.path]) and len(made) == 2
    assert changed == {"prosody": [], "webservice": ["upload of 1"]}


def test_units_as_wanted_cost_no_operation(monkeypatch):
    made = _fake_pyinfra(monkeypatch)
    states = {file.path: _as_on_host(file) for file in (PROSODY, SIGNUP)}
    assert systemd_units.install({"prosody": [PROSODY], "webservice": [SIGNUP]}, states) == {"prosody": [], "webservice": []}
    assert made == [("upload", [])]


def test_the_tasks_get_their_files_without_the_units():
    assert systemd_units.split({"webservice": [SIGNUP, CONFIG], "prosody": [PROSODY]})[1] == {
        "webservice": [CONFIG], "prosody": []}


def test_no_task_reloads_systemd_by_itself_and_the_units_go_up_before_any_service_starts():
    for path in (REPO / "tasks").glob("*.py"):
        if path.name != "systemd_units.py":
            assert "daemon_reload" not in path.read_text() and "daemon-reload" not in path.read_text(), path.name
    calls = [node for node in ast.walk(ast.parse((REPO / "deploy.py").read_text())) if isinstance(node, ast.Call)
             and isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name)]
    line = {f"{node.func.value.id}.{node.func.attr}": node.lineno for node in calls}
    for starts in ("acme.install", "scheduled_backups.install", "prosody_service.run", "webservice.deploy"):
        assert line["systemd_units.install"] < line[starts], starts

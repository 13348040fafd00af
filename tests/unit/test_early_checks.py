"""A bad secrets store or backup directory stops pyinfra while it loads inventory.py, before it
connects to any host (eldwyn/early_checks.py), with the real pyinfra CLI."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from eldwyn import early_checks
from test_config import _private_dir_cases

REPO = Path(__file__).resolve().parents[2]
PYINFRA = Path(sys.executable).with_name("pyinfra")


@pytest.mark.parametrize("case", ["not a directory", "not creatable", "wrong mode", "inside git"])
def test_a_bad_secrets_store_stops_the_run_before_any_connection(tmp_path, case):
    path, words = _private_dir_cases(tmp_path)[case]
    before = sorted(tmp_path.rglob("*"))
    run = subprocess.run([str(PYINFRA), "-y", "inventory.py", "--limit", "testbed", "exec", "--", "true"],
                         cwd=REPO, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "ELDWYN_SECRETS_DIR": str(path)})
    output = run.stdout + run.stderr
    assert run.returncode == early_checks.EXIT_STATUS, output
    assert f"testbed: bad group data: ELDWYN_SECRETS_DIR (environment): {path}" in output and words in output, output
    assert "Connecting" not in output and "Connected" not in output, output
    assert sorted(tmp_path.rglob("*")) == before, "the check made something"


def test_only_the_groups_the_run_names(tmp_path):
    bad = _private_dir_cases(tmp_path)["wrong mode"][0]
    groups = {"production": ["eldwyn.example"], "testbed": ["eldwyn-vm"], "legacy_testbed": ["legacy-eldwyn"],
              "empty": []}
    environ = {"ELDWYN_SECRETS_DIR": str(bad)}
    with pytest.raises(SystemExit) as stop:
        early_checks.check(groups, argv=["pyinfra", "inventory.py", "--limit", "production", "deploy.py"], environ=environ)
    assert stop.value.code == 3
    assert early_checks.problems(["testbed"], {"ELDWYN_SECRETS_DIR": str(tmp_path / "fresh")}) == []
    assert early_checks.limits(["pyinfra", "--limit=testbed,legacy_testbed", "x"]) == ["testbed", "legacy_testbed"]
    assert early_checks.limits(["pyinfra", "inventory.py", "exec", "--", "true"]) == []


def test_backup_dir_is_checked_too(tmp_path, monkeypatch):
    bad = _private_dir_cases(tmp_path)["inside git"][0]
    monkeypatch.setattr(early_checks, "_group_values", lambda group: {"backup_dir": str(bad)})
    found = early_checks.problems(["testbed"], {"ELDWYN_SECRETS_DIR": str(tmp_path / "fresh")})
    assert found == [f"testbed: bad group data: backup_dir: {bad}: inside the git work tree {tmp_path / 'repo'};"
                     " keep secrets outside git"]

"""Every name the pyinfra deploy files (deploy.py, operator_tasks/) import from our own packages
exists: they only run under pyinfra against a host, so a rename would otherwise show only there."""

import ast
import importlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FILES = [REPO / "deploy.py", *sorted((REPO / "operator_tasks").glob("*.py"))]


@pytest.mark.parametrize("path", FILES, ids=lambda path: str(path.relative_to(REPO)))
def test_imported_names_exist(path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in ("eldwyn", "tasks"):
            module = importlib.import_module(node.module)
            for alias in node.names:
                assert hasattr(module, alias.name) or importlib.util.find_spec(f"{node.module}.{alias.name}"), (
                    f"{path.name}: {node.module} has no {alias.name}")


def test_the_backups_secrets_come_back_before_any_task_renders_its_files():
    """Rendering issues a certificate or makes a password for every secret the store lacks; a
    restore onto a new operator machine must put the backup's back first, or the new ones win."""
    calls = [node for node in ast.walk(ast.parse((REPO / "deploy.py").read_text())) if isinstance(node, ast.Call)]
    def lines(test):
        return [node.lineno for node in calls if isinstance(node.func, ast.Attribute) and test(node.func)]
    secrets = lines(lambda func: func.attr == "secrets" and getattr(func.value, "id", None) == "restore")
    renders = lines(lambda func: func.attr == "files")
    assert secrets and renders and max(secrets) < min(renders), (secrets, renders)

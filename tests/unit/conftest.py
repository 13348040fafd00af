"""Shared helpers for the offline unit tests (no host, no VM, no network)."""

import copy
import os
import runpy
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))  # import eldwyn from the work tree

from eldwyn.config import load_config  # noqa: E402
from eldwyn.secrets import SecretsStore  # noqa: E402

_GROUP_DATA = {
    key: value
    for key, value in runpy.run_path(str(REPO / "group_data" / "all.py")).items()
    if not key.startswith("_")  # what pyinfra turns into host data
}


@pytest.fixture
def data(tmp_path_factory):
    """A fresh, mutable copy of group_data/all.py as pyinfra would see it, with the secrets
    store and the backups in private directories of the test's own (the data's check reads
    them, and they must not depend on this machine's home)."""
    private = tmp_path_factory.mktemp("operator")
    return {**copy.deepcopy(_GROUP_DATA), "secrets_dir": str(private / "secrets"),
            "backup_dir": str(private / "backups")}


@pytest.fixture
def config(data):
    return load_config(data, environ={})


@pytest.fixture
def store(tmp_path):
    """An empty secrets store in a private directory."""
    directory = tmp_path / "secrets"
    directory.mkdir(mode=0o700)
    os.chmod(directory, 0o700)
    return SecretsStore(directory)

"""eldwyn.prosody: the module lookup the deploy runs on the host, tried on a fake tree."""

import subprocess

import pytest

from eldwyn import prosody


def test_every_module_we_enable_is_known(config):
    for module in config.modules_enabled + tuple(m for c in config.components for m in (c.type, *c.modules)):
        assert module in prosody.KNOWN_MODULES


def test_candidates_follow_prosodys_order():
    candidates = prosody.module_file_candidates("groups", module_dirs=("/a", "/b"))
    assert candidates[:4] == [
        "/a/mod_groups/groups/mod_groups.lua",
        "/a/mod_groups/mod_groups.lua",
        "/a/groups/mod_groups.lua",
        "/a/mod_groups.lua",
    ]
    assert candidates[6] == "/b/mod_groups/groups/mod_groups.lua"


def test_missing_modules_command_reports_only_missing(tmp_path):
    modules_dir = tmp_path / "modules"
    for relative in ["mod_ping.lua", "mod_mam/mod_mam.lua", "muc/mod_muc.lua", "mod_cloud_notify_extensions/mod_cloud_notify_extensions.lua"]:
        (modules_dir / relative).parent.mkdir(parents=True, exist_ok=True)
        (modules_dir / relative).write_text("-- module\n")
    command = prosody.missing_modules_command(
        ["ping", "mam", "muc", "cloud_notify_extensions", "carbons", "bogus"], module_dirs=(str(modules_dir),)
    )
    result = subprocess.run(["sh", "-c", command], capture_output=True, text=True)
    assert result.returncode == 0
    assert result.stdout.split() == ["bogus", "carbons"]


def test_missing_modules_command_refuses_odd_names():
    with pytest.raises(ValueError):
        prosody.missing_modules_command(["ping'; rm -rf /; '"])

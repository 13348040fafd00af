"""Run tests/unit/lua_dump.lua with the Lua on PATH, and build its canonical form in Python."""

import shutil
import subprocess
from pathlib import Path

HARNESS = Path(__file__).with_name("lua_dump.lua")
# Debian 13's Prosody runs on Lua 5.4; luajit reads the same escapes.
LUA = next((found for name in ("lua5.4", "lua", "luajit") if (found := shutil.which(name))), None)
SKIP_REASON = "no Lua interpreter (lua5.4, lua or luajit) on PATH; apt-get install lua5.4"


def canonical(value):
    """What lua_dump.lua prints for ``value`` once written as Lua."""
    if isinstance(value, bool):
        return f"b:{'true' if value else 'false'}"
    if isinstance(value, int):
        return f"n:{value}"
    if isinstance(value, str):
        return "s:" + value.encode("utf-8").hex()
    if isinstance(value, (list, tuple)):
        value = {index: item for index, item in enumerate(value, start=1)}
    items = sorted(f"{canonical(key)}={canonical(item)}" for key, item in value.items())
    return "{" + ",".join(items) + "}"


def run(mode, path):
    result = subprocess.run([LUA, str(HARNESS), mode, str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


def read_config(path):
    """{host: canonical options} of a rendered Prosody config file."""
    return dict(line.split("\t", 1) for line in run("config", path).splitlines())

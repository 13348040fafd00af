"""Prosody modules this project ships (files/usr/local/lib/prosody/modules/), installed before
the config that loads them is checked, and the one Lua library name Debian's Prosody lacks
(files/usr/local/share/lua/5.4/prosody/encodings.lua: why is in the file). Module code is read
at start: a change restarts Prosody."""

from eldwyn import prosody
from eldwyn.files import differing, upload
from eldwyn.host_files import static_files


def files(config, store=None):
    return [*static_files(prosody.LOCAL_MODULE_DIR.lstrip("/")), *static_files(prosody.LOCAL_LUA_DIR.lstrip("/"))]


def paths(config):
    return []


def install(wanted, states):
    return upload(differing(states, wanted), "Prosody module")

"""Prosody modules this project ships (files/usr/local/lib/prosody/modules/), installed before
the config that loads them is checked. Module code is read at start: a change restarts Prosody."""

from pyinfra import host

from eldwyn.files import upload
from eldwyn.host_files import stale
from eldwyn.preflight import host_config
from eldwyn.restarts import read_by

config = host_config(host)
read_by(host, "prosody", upload(stale(host, config, "prosody_modules"), "Prosody module"))

"""Shared rosters: /var/lib/prosody/groups.txt (mod_groups), rendered from the group data."""

from pyinfra import host

from eldwyn.files import upload
from eldwyn.host_files import stale
from eldwyn.preflight import host_config
from eldwyn.restarts import read_by

config = host_config(host)
read_by(host, "prosody", upload(stale(host, config, "shared_rosters"), "Shared rosters"))

"""Shared rosters: /var/lib/prosody/groups.txt (mod_groups), rendered from the group data."""

from eldwyn.files import ManagedFile, differing, upload
from eldwyn.render import render


def files(config, store=None):
    return [ManagedFile(config.groups_file, render("var/lib/prosody/groups.txt.j2", config=config).encode(),
                        "root", "prosody", "640")]


def paths(config):
    return []


def install(wanted, states):
    return upload(differing(states, wanted), "Shared rosters")

"""Prosody's configuration: rendered from the data, checked on the host, only then made live.

The candidate files are staged and must pass, on the host itself: luac (Lua syntax),
`prosodyctl check config`, and every module named in them existing on the host (which
prosodyctl does not check). Only then are they installed, the realm's file linked from
conf.avail into conf.d (Debian's layout) and Debian's localhost example unlinked. A failing
check fails the deploy with the running server untouched.
"""

import shlex

from pyinfra import host

from eldwyn import prosody
from eldwyn.files import install_checked, staged
from eldwyn.host_files import DEBIAN_LOCALHOST_LINK, file_states, host_files, realm_config_link, stale
from eldwyn.preflight import host_config
from eldwyn.restarts import read_by

config = host_config(host)
main_file, realm_file = host_files(host, config)["prosody_config"]
link, target = realm_config_link(config)
states = file_states(host, config)
links_in_place = states.get(link) == {"link": target} and DEBIAN_LOCALHOST_LINK not in states

if stale(host, config, "prosody_config") or not links_in_place:
    modules = set(config.modules_enabled)
    for component in config.components:
        modules |= {component.type, *component.modules}
    staged_dir = staged(prosody.CONFIG_DIR)
    staged_link = f"{staged_dir}/conf.d/{link.rsplit('/', 1)[1]}"
    # The staged main file includes conf.d/*.cfg.lua next to itself: link the realm there too.
    check = " && ".join([
        f"mkdir -p {staged_dir}/conf.d",
        f"ln -sfn {shlex.quote(target)} {shlex.quote(staged_link)}",
        f"luac5.4 -p {shlex.quote(staged(main_file.path))} {shlex.quote(staged(realm_file.path))}",
        f"prosodyctl --config {shlex.quote(staged(main_file.path))} check config",
        f'missing="$({prosody.missing_modules_command(modules)})"',
        '{ [ -z "$missing" ] || { echo "modules not found on this host:" $missing >&2; false; }; }',
    ])
    made_live = install_checked(
        "Prosody config",
        [main_file, realm_file],
        check=check,
        then=[f"ln -sfn {shlex.quote(target)} {shlex.quote(link)}", f"rm -f {DEBIAN_LOCALHOST_LINK} {staged_link}"],
    )
    read_by(host, "prosody", [made_live])

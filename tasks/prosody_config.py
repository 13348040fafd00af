"""Prosody's configuration: rendered from the data, checked on the host, only then made live.

The candidate files are staged and must pass, on the host itself: luac (Lua syntax),
`prosodyctl check config`, and every module named in them existing on the host (which
prosodyctl does not check). Only then are they installed, the realm's file linked from
conf.avail into conf.d (Debian's layout) and Debian's localhost example unlinked. A failing
check fails the deploy with the running server untouched.
"""

import shlex

from eldwyn import prosody
from eldwyn.files import ManagedFile, differing, install_checked, staged
from eldwyn.render import render

# Debian's example host, linked into conf.d by the package: Eldwyn serves only its realm.
DEBIAN_LOCALHOST_LINK = f"{prosody.CONFIG_DIR}/conf.d/localhost.cfg.lua"


def realm_config_link(config):
    """Debian's layout: the realm's file lives in conf.avail and is linked into conf.d."""
    name = f"{config.realm}.cfg.lua"
    return f"{prosody.CONFIG_DIR}/conf.d/{name}", f"../conf.avail/{name}"


def files(config, store=None):
    """The main config and the realm's file; Debian ships them root:prosody 0640."""
    def lua(path, template):
        return ManagedFile(path, render(template, config=config).encode(), "root", "prosody", "640")

    return [
        lua(f"{prosody.CONFIG_DIR}/prosody.cfg.lua", "etc/prosody/prosody.cfg.lua.j2"),
        lua(f"{prosody.CONFIG_DIR}/conf.avail/{config.realm}.cfg.lua", "etc/prosody/conf.avail/realm.cfg.lua.j2"),
    ]


def paths(config):
    return [realm_config_link(config)[0], DEBIAN_LOCALHOST_LINK]


def install(config, wanted, states):
    """Returns the operation that made a new config live, if any (Prosody reads it)."""
    main_file, realm_file = wanted
    link, target = realm_config_link(config)
    links_in_place = states.get(link) == {"link": target} and DEBIAN_LOCALHOST_LINK not in states
    if not differing(states, wanted) and links_in_place:
        return []
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
    return [install_checked(
        "Prosody config",
        [main_file, realm_file],
        check=check,
        then=[f"ln -sfn {shlex.quote(target)} {shlex.quote(link)}", f"rm -f {DEBIAN_LOCALHOST_LINK} {staged_link}"],
    )]

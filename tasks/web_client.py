"""The web client (eldwyn/web_client.py): Converse.js from its pinned npm release, at
https://SITE/chat/, served by the site's nginx (tasks/webservice.py renders its locations).

The host gets the release's tarball, checked on the operator's machine against the data's
integrity (one file, compared by hash like every file of the deploy), and the page. The tarball's
dist/ is unpacked into a directory of that version only when the directory's probe file is
missing or differs (asked in the deploy's one FileStates round trip), whole or not at all: a
second deploy changes nothing, and an interrupted one leaves no half-unpacked release.
"""

from pyinfra.operations import server
from pyinfra.operations.util import any_changed

from eldwyn import web_client
from eldwyn.files import ManagedFile, differing, upload
from eldwyn.render import render

TEMPLATES = "usr/local/share/eldwyn-xmpp/web-client"  # mirrors Site.page_dir
PAGES = ("index.html", "eldwyn-chat.js")


def files(config, store=None):
    """The tarball (from the operator's cache, downloaded into it if missing, refused unless its
    integrity is the data's) and the page."""
    web = config.web_client
    found = [ManagedFile(web.tarball_path, web_client.release(config.webclient).content)]
    found += [ManagedFile(f"{web.page_dir}/{page}", render(f"{TEMPLATES}/{page}.j2", config=config).encode())
              for page in PAGES]
    return found


def paths(config):
    """Made on the host: the unpacked release, known by its probe file."""
    return [config.web_client.probe_path]


def unpacked_state(release):
    """What FileStates reports for the probe file of a release unpacked whole."""
    return {"sha256": release.probe_sha256, "user": "root", "group": "root", "mode": "644"}


def plan(config, wanted, states):
    """What this deploy must do: (the tarball if it differs, the page's files that differ, whether
    the release must be unpacked). Nothing, nothing, False once it has been done."""
    web = config.web_client
    out_of_date = differing(states, wanted)
    tarball = [file for file in out_of_date if file.path == web.tarball_path]
    pages = [file for file in out_of_date if file.path != web.tarball_path]
    unpack = states.get(web.probe_path) != unpacked_state(web_client.release(config.webclient))
    return tarball, pages, unpack


def install(config, wanted, states, nginx_reads=()):
    """Uploads what differs, unpacks the release if its directory is not there whole, and
    reloads nginx if one of ``nginx_reads`` (the certificates' operations: nginx serves the
    realm's for host-meta) changed something."""
    web = config.web_client
    tarball, pages, unpack = plan(config, wanted, states)
    upload(tarball, "Web client: the npm release")
    upload(pages, "Web client: the page")
    if unpack:
        release = web_client.release(config.webclient)
        uploaded = next(file for file in wanted if file.path == web.tarball_path)
        server.shell(
            name=f"Web client: unpack converse.js {release.version}'s dist/ into {web.dist_dir}",
            commands=[web_client.unpack_command(web.tarball_path, uploaded.sha256, web.dist_dir, release.probe_sha256)],
        )
    if nginx_reads:
        server.shell(name="Check nginx's config, then reload it: a certificate it serves changed",
                     commands=["nginx -t -q && systemctl reload-or-restart nginx"], _if=any_changed(*nginx_reads))

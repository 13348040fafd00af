"""The web client: Converse.js, from its npm release, served by the site's nginx from the host.

The release is pinned in the data (webclient_version, webclient_integrity). The operator's machine
downloads its tarball once from registry.npmjs.org into webclient_cache_dir and uses it, there or
freshly downloaded, only if its SHA-512 is the pinned npm integrity (``release``). The host gets
that one file (tasks/web_client.py) and unpacks its dist/ into a directory of that version, whole
or not at all (``unpack_command``). The page (templates/usr/local/share/eldwyn-xmpp/web-client/)
loads Converse from there and nothing from anywhere else: ``site`` says what it is allowed to
reach (its Content-Security-Policy) and how Converse is set up to stay within it.

How Converse finds the server: XEP-0156. At login it asks https://REALM/.well-known/host-meta,
which nginx on this host proxies to Prosody's mod_http_altconnect; that lists the websocket
through the site, wss://SITE/xmpp-websocket. The same URL is also Converse's websocket_url:
Converse keeps it when discovery finds nothing (converse.js 14.0.0, src/headless/shared/
connection/index.js: discovery replaces websocket_url only when host-meta lists a method), so the
web client still works while the realm's A record is on the lab's web server (README, DNS).
"""

import base64
import hashlib
import http.client
import io
import os
import shlex
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from pyinfra.api.exceptions import DeployError

# What the page needs from the tarball's dist/. The first one also tells, on the host, that a
# release is unpacked whole: its directory appears only complete (see unpack_command).
PROBE = "converse.min.js"
NEEDED = (PROBE, "converse.min.css")
DIST = "package/dist/"  # where npm's tarballs keep dist/
MAX_TARBALL_BYTES = 64 * 1024 * 1024  # converse.js 14.0.0's is 8.7 MB
DOWNLOAD_TIMEOUT = 120  # seconds


class WebClientError(DeployError):
    """The pinned release cannot be used (a mismatch, a failed download, an unexpected tarball):
    the message names the data key to look at. A DeployError, so that pyinfra stops before any
    operation and prints it as it is."""


def integrity_of(content):
    """npm's integrity string of ``content``: "sha512-" + the base64 of its SHA-512."""
    return "sha512-" + base64.b64encode(hashlib.sha512(content).digest()).decode()


def tarball_url(webclient):
    """Where npm keeps the pinned release's tarball (webclient: the data's WebClient)."""
    return f"{webclient.registry}/{webclient.package}/-/{webclient.package}-{webclient.version}.tgz"


def _download(url):
    request = urllib.request.Request(url, headers={"User-Agent": "eldwyn-xmpp-deploy"})
    with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT) as response:
        content = response.read(MAX_TARBALL_BYTES + 1)
    if len(content) > MAX_TARBALL_BYTES:
        raise OSError(f"more than {MAX_TARBALL_BYTES} bytes")
    return content


@dataclass(frozen=True)
class Release:
    version: str
    content: bytes  # the tarball, verified
    dist_sha256: dict  # file under dist/ (e.g. "converse.min.js") -> its sha256, for every file

    @property
    def probe_sha256(self):
        return self.dist_sha256[PROBE]


def _dist_files(content, version):
    """{path under dist/: sha256} of the tarball's regular files under package/dist/."""
    found = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(content), mode="r:gz") as tar:
            for member in tar:
                if member.name.startswith(DIST) and member.isfile():
                    found[member.name[len(DIST):]] = hashlib.sha256(tar.extractfile(member).read()).hexdigest()
    except (tarfile.TarError, OSError, EOFError) as error:
        raise WebClientError(f"webclient_version: converse.js {version}'s tarball cannot be read ({error})") from None
    missing = [name for name in NEEDED if name not in found]
    if missing:
        raise WebClientError(f"webclient_version: converse.js {version}'s tarball has no {DIST}{missing[0]}:"
                             " the page loads Converse from dist/ (is this release laid out otherwise?)")
    return found


def cached_tarball_path(webclient):
    return Path(webclient.cache_dir) / f"{webclient.package}-{webclient.version}.tgz"


_releases = {}  # (cache path, integrity) -> Release: every host of a run, and install, share it


def release(webclient, download=None):
    """The pinned release (webclient: the data's WebClient), from the cache or downloaded into it.

    Refuses (WebClientError, naming the data key) a cached or downloaded tarball whose integrity
    is not webclient.integrity; a refused download is never cached. ``download(url)`` returns
    the bytes at url (tests pass their own)."""
    path = cached_tarball_path(webclient)
    key = (str(path), webclient.integrity)
    if key in _releases:
        return _releases[key]
    version = webclient.version
    if path.is_file():
        content = path.read_bytes()
        found = integrity_of(content)
        if found != webclient.integrity:
            raise WebClientError(
                f"webclient_integrity: the cached tarball {path} has {found}, not {webclient.integrity}:"
                f" either webclient_integrity is not converse.js {version}'s (npm view converse.js@{version}"
                " dist.integrity), or that file is not npm's (delete it: the next deploy downloads it again)")
    else:
        url = tarball_url(webclient)
        try:
            content = (download or _download)(url)
        except (OSError, http.client.HTTPException, ValueError) as error:  # URLError is an OSError
            raise WebClientError(f"webclient_version: converse.js {version} could not be downloaded from {url}"
                                 f" ({error}); or put that tarball at {path}") from None
        found = integrity_of(content)
        if found != webclient.integrity:
            raise WebClientError(
                f"webclient_integrity: converse.js {version} from {url} has {found}, not {webclient.integrity};"
                " nothing was cached, nothing changed on any host")
        partial = path.with_name(f".{path.name}.{os.getpid()}.part")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial.write_bytes(content)
            os.replace(partial, path)  # never a half-written tarball under the real name
        except OSError as error:
            raise WebClientError(f"webclient_cache_dir: cannot keep the tarball at {path} ({error})") from None
    result = Release(version, content, _dist_files(content, version))
    _releases[key] = result
    return result


def unpack_command(tarball, tarball_sha256, destination, probe_sha256):
    """A shell command that unpacks the tarball's dist/ into ``destination``, whole or not at all.

    It checks the tarball's sha256 first, unpacks into a hidden directory beside the destination
    (same file system), refuses anything but regular files and directories, makes everything
    root-owned and world-readable (644, directories 755), checks the probe file, and only then
    renames the directory into place: an interrupted run leaves no destination (the next deploy
    unpacks again) or the complete one, never part of one. A destination that was there (a bad
    one: the deploy asks only when its probe is missing or differs) is replaced."""
    parent, name = os.path.split(destination.rstrip("/"))
    temporary = f"{parent}/.{name}.unpacking"
    q = shlex.quote
    steps = [
        f"echo {q(f'{tarball_sha256}  {tarball}')} | sha256sum --check --quiet --strict",
        f"rm -rf {q(temporary)} {q(temporary + '.old')}",  # left by a run that was killed
        f"install -d -m 755 {q(parent)}",  # nginx's workers read below it
        f"mkdir {q(temporary)}",
        f"tar -xzf {q(tarball)} -C {q(temporary)} --no-same-owner --no-same-permissions --strip-components=2"
        f" {q(DIST.rstrip('/'))}",
        f"test -z \"$(find {q(temporary)} ! -type f ! -type d)\"",
        f"find {q(temporary)} -type d -exec chmod 755 {{}} + -o -type f -exec chmod 644 {{}} +",
        f"echo {q(f'{probe_sha256}  {temporary}/{PROBE}')} | sha256sum --check --quiet --strict",
        f"{{ test ! -e {q(destination)} || mv -T {q(destination)} {q(temporary + '.old')}; }}",
        f"mv -T {q(temporary)} {q(destination)}",
        f"rm -rf {q(temporary + '.old')}",
    ]
    return f"( {' && '.join(steps)} ) || {{ rc=$?; rm -rf {q(temporary)}; exit $rc; }}"


# ---- What the site serves --------------------------------------------------------------------

def _port_suffix(port):
    return "" if port == 443 else f":{port}"


@dataclass(frozen=True)
class Site:
    """The web client on the site, derived from the config (Config.web_client)."""

    url: str  # the page, e.g. "/chat/"
    dist_url: str  # the release's dist/, e.g. "/chat/converse.js-14.0.0/"
    page_dir: str  # on the host: index.html and the script that starts Converse
    dist_dir: str  # on the host: the unpacked dist/ of this release
    tarball_path: str  # on the host
    websocket_url: str  # through the site (nginx -> Prosody on loopback)
    upload_origin: str | None  # the upload component's HTTPS origin (XEP-0363), or None
    content_security_policy: str
    security_headers: tuple  # the site's, with this CSP and Permissions-Policy
    settings: dict  # converse.initialize()'s

    @property
    def probe_path(self):
        """On the host: there, with the release's content, once dist/ is unpacked whole."""
        return f"{self.dist_dir}/{PROBE}"

    @property
    def script_url(self):
        return f"{self.url}eldwyn-chat.js"


def _csp(config, upload_origin):
    """What the page may load and connect to. Measured with converse.js 14.0.0 in Chromium from a
    policy of 'self' only: login, a chat, OMEMO on a trusted device, the emoji picker (and
    tests/vm/test_39_web_client.py fails on any violation)."""
    uploads = [upload_origin] if upload_origin else []
    directives = (
        ("default-src", "'none'"),
        # Converse and its chunks (locales) and OMEMO's libomemo, all from dist/; OMEMO compiles
        # its WebAssembly (curve25519_compiled.wasm), which needs 'wasm-unsafe-eval' (CHANGES.md,
        # 14.0.0: not 'unsafe-eval').
        ("script-src", "'self' 'wasm-unsafe-eval'"),
        # converse.min.css, and what Converse adds itself: <style> elements (140 in a session, of
        # many different contents: no hash list) and style attributes.
        ("style-src", "'self' 'unsafe-inline'"),
        # converse.min.css's data: SVGs (check boxes), avatars (data: URIs from vCards and PEP),
        # the unread badge (data:), decrypted OMEMO media (blob:), and images uploaded to our
        # own upload service.
        ("img-src", " ".join(["'self'", "data:", "blob:", *uploads])),
        ("media-src", " ".join(["'self'", "blob:", *uploads])),  # sounds; uploaded audio and video
        ("font-src", "'self'"),  # dist/webfonts
        # The websocket through the site, XEP-0156's host-meta at the realm, uploads (PUT) and
        # the downloads OMEMO decrypts.
        ("connect-src", " ".join(["'self'", f"wss://{config.signup.site_name}", f"https://{config.realm}",
                                  *uploads])),
        ("form-action", "'none'"),  # every form of Converse's is handled by its script
        ("frame-ancestors", "'none'"),
        ("base-uri", "'none'"),
    )
    return "; ".join(f"{name} {value}" for name, value in directives)


def _settings(config, dist_url, websocket_url, upload):
    """converse.initialize()'s settings: each one that differs from converse.js 14.0.0's default,
    and why. Anything that would load from another origin is turned off or pointed at dist/."""
    our_media = [upload.name] if upload else []
    settings = {
        "view_mode": "fullscreen",
        # Chunks (locales), emoji.json, sounds: from this release's dist/ (the default is /dist).
        "assets_path": dist_url.rstrip("/"),
        # XEP-0156 first (the default, written out): host-meta at the user's domain. When it lists
        # nothing (the realm's A record on another web server), websocket_url stays.
        "discover_connection_methods": True,
        "websocket_url": websocket_url,
        # "alice" logs in as alice@REALM. Not locked_domain: 14.0.0 would then also append the
        # realm to every contact added (bob@jabber.org -> bob\40jabber.org@REALM).
        "default_domain": config.realm,
        # Accounts are made with invites on the site, never in-band from here.
        "allow_registration": False,
        "xmpp_providers_url": None,  # registration's list of servers, from data.xmpp.net
        "autocomplete_providers_url": None,  # the same list, in "Add a contact"
        # Room search asks a third party (api@search.jabber.network).
        "muc_search_service": "",
        # No YouTube or Spotify players: they load from those sites.
        "embed_3rd_party_media_players": False,
        # Images, audio and video inline only from our upload service (the CSP allows no other
        # origin); links to anything else stay links.
        "allowed_image_domains": our_media,
        "allowed_audio_domains": our_media,
        "allowed_video_domains": our_media,
        # The desktop notification's icon (the default, /images/logo/..., is not on the site).
        "notification_icon": f"{dist_url}images/logo/conversejs-filled.svg",
        # Not clear_cache_on_logout: it would turn OMEMO off for everyone. The login form's "This
        # is a trusted device" (unticked on a shared computer) keeps a session in the tab only.
    }
    muc = next((c.name for c in config.components if c.type == "muc"), None)
    if muc:
        settings["muc_domain"] = muc  # "Add a room": a bare name is a room of ours
    return settings


def site(config):
    """The web client's Site for ``config`` (eldwyn.schema.data.Config)."""
    webclient = config.webclient
    dist_name = f"{webclient.package}-{webclient.version}"
    dist_url = f"{webclient.url_path}{dist_name}/"
    upload = next((c for c in config.components if c.type == "http_file_share"), None)
    # mod_http_file_share's URLs (https://NAME:5281/file_share/...): Prosody's HTTPS port.
    upload_origin = f"https://{upload.name}{_port_suffix(config.ports.https[0])}" if upload else None
    websocket_url = f"wss://{config.signup.site_name}/xmpp-websocket"
    csp = _csp(config, upload_origin)
    replaced = {
        "Content-Security-Policy": csp,
        # Converse's "share location" button asks the browser (which asks the user); no other
        # page of the site may.
        "Permissions-Policy": "camera=(), microphone=(), geolocation=(self)",
    }
    return Site(
        url=webclient.url_path,
        dist_url=dist_url,
        page_dir=f"{webclient.share_dir}/web-client",
        dist_dir=f"{webclient.share_dir}/{dist_name}",
        tarball_path=webclient.tarball_path,
        websocket_url=websocket_url,
        upload_origin=upload_origin,
        content_security_policy=csp,
        security_headers=tuple((name, replaced.get(name, value)) for name, value in config.signup.security_headers),
        settings=_settings(config, dist_url, websocket_url, upload),
    )

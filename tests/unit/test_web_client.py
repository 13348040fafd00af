"""The web client (eldwyn/web_client.py, tasks/web_client.py): the pinned release checked on the
operator's machine (downloads faked: no network), its unpacking on the host (the real shell
command, run here on a fake tarball), the page and its settings, nginx's locations and CSP,
and what Prosody is told so that XEP-0156 names the websocket through the site."""

import base64
import hashlib
import io
import json
import os
import re
import subprocess
import tarfile
from pathlib import Path

import pytest

from eldwyn import web_client
from eldwyn.config import ConfigError, load_config
from eldwyn.render import render
from tasks import web_client as task
from test_acme import hook_text, run_script

PAGE = "usr/local/share/eldwyn-xmpp/web-client/index.html.j2"
SCRIPT = "usr/local/share/eldwyn-xmpp/web-client/eldwyn-chat.js.j2"
NGINX = "etc/nginx/sites-available/eldwyn-signup.j2"
REALM_CFG = "etc/prosody/conf.avail/realm.cfg.lua.j2"
PROSODY_CFG = "etc/prosody/prosody.cfg.lua.j2"
DIST = {
    "converse.min.js": b"export default {}; // converse\n",
    "converse.min.css": b".conversejs { color: red }\n",
    "chunkjs/locales/de-LC_MESSAGES-converse-po.js": b"export default {};\n",
    "curve25519_compiled.wasm": b"\0asm\1\0\0\0",
}


def fake_tarball(files=DIST, extra=()):
    """An npm-like tarball: package/package.json, package/dist/..., package/src/... (not wanted)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        def add(name, content, kind=tarfile.REGTYPE, link=""):
            info = tarfile.TarInfo(name)
            info.type, info.linkname, info.size, info.mode = kind, link, len(content), 0o600
            tar.addfile(info, io.BytesIO(content) if kind == tarfile.REGTYPE else None)
        add("package/package.json", b'{"name": "converse.js"}')
        for path, content in files.items():
            add(f"package/dist/{path}", content)
        add("package/src/index.js", b"source, not served\n")
        for name, link in extra:
            add(name, b"", tarfile.SYMTYPE, link)
    return buffer.getvalue()


def integrity(content):
    return "sha512-" + base64.b64encode(hashlib.sha512(content).digest()).decode()


class Registry:
    """Stands in for registry.npmjs.org: records what was asked, answers ``content``."""

    def __init__(self, content=None, error=None):
        self.content, self.error, self.urls = content, error, []

    def __call__(self, url):
        self.urls.append(url)
        if self.error:
            raise self.error
        return self.content


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """No test may reach the registry, and none sees another's releases."""
    def refuse(url):
        raise AssertionError(f"a unit test tried to download {url}")
    monkeypatch.setattr(web_client, "_download", refuse)
    monkeypatch.setattr(web_client, "_releases", {})


@pytest.fixture
def tarball():
    return fake_tarball()


@pytest.fixture
def pinned(data, tmp_path, tarball):
    """The data, pinned to the fake release, with a cache of the test's own."""
    data.update(webclient_integrity=integrity(tarball), webclient_cache_dir=str(tmp_path / "cache"))
    return data


def webclient_of(data):
    return load_config(data, environ={}).webclient


# ---- The data -----------------------------------------------------------------------------------

def test_the_shipped_data_pins_converse_14(config):
    assert config.webclient.version == "14.0.0"
    assert config.webclient.integrity == (
        "sha512-LFUg030jDalV47vI/vyVPqYPZfJYXFbubq8v0cFDe2zXNeeGEk3Up0Fj/WTzT6t+6do+cAIToy73eAj7RNDj2Q==")
    assert web_client.tarball_url(config.webclient) == "https://registry.npmjs.org/converse.js/-/converse.js-14.0.0.tgz"
    assert "http_altconnect" in config.modules_enabled and "websocket" in config.modules_enabled


@pytest.mark.parametrize("key, value, words", [
    ("webclient_version", "14.0", "'14.0' is not a release version x.y.z"),
    ("webclient_version", "14.0.0-beta.4", "no range, tag or pre-release"),
    ("webclient_version", "^14.0.0", "is not a release version"),
    ("webclient_version", "latest", "is not a release version"),
    ("webclient_version", "014.0.0", "is not a release version"),
    ("webclient_version", 14, "expected a string"),
    ("webclient_integrity", "sha1-9IhhyxbvoonrsBFHHTHeN29z2i8=", "is not an npm integrity"),
    ("webclient_integrity", "sha512-LFUg030jDalV47vI", "88 characters"),
    ("webclient_integrity", "LFUg030jDalV47vI/vyVPqYPZfJYXFbubq8v0cFDe2zXNeeGEk3Up0Fj/WTzT6t+6do+cAIToy73eAj7RNDj2Q==",
     "is not an npm integrity"),
    ("webclient_integrity", "sha512-" + "!" * 86 + "==", "is not an npm integrity"),
    ("webclient_cache_dir", "relative/cache", "must be an absolute path"),
    ("webclient_versoin", "14.0.0", "unknown key (did you mean 'webclient_version'?)"),
])
def test_bad_data_is_refused_naming_its_key(data, key, value, words):
    data[key] = value
    with pytest.raises(ConfigError) as error:
        load_config(data, environ={})
    found = dict(error.value.problems)
    assert key in found and words in found[key], error.value


@pytest.mark.parametrize("key", ["webclient_version", "webclient_integrity"])
def test_the_release_must_be_pinned(data, key):
    del data[key]
    with pytest.raises(ConfigError) as error:
        load_config(data, environ={})
    assert dict(error.value.problems)[key].startswith("missing")


def test_bad_data_stops_the_real_cli_before_any_operation():
    from test_preflight import _pyinfra
    from eldwyn.preflight import BAD_DATA_EXIT_STATUS

    status, output = _pyinfra("@local", "deploy.py", "--data", "webclient_version=latest")
    assert status == BAD_DATA_EXIT_STATUS, output
    assert "@local: bad group data: webclient_version: 'latest' is not a release version" in output
    assert "Beginning operation run" not in output


# ---- The release, on the operator's machine -------------------------------------------------------

def test_a_release_is_downloaded_once_checked_and_cached(pinned, tarball, monkeypatch):
    registry = Registry(tarball)
    webclient = webclient_of(pinned)
    release = web_client.release(webclient, download=registry)
    assert registry.urls == ["https://registry.npmjs.org/converse.js/-/converse.js-14.0.0.tgz"]
    assert release.content == tarball and release.version == "14.0.0"
    assert release.dist_sha256 == {name: hashlib.sha256(content).hexdigest() for name, content in DIST.items()}
    cached = web_client.cached_tarball_path(webclient)
    assert cached.read_bytes() == tarball and cached.name == "converse.js-14.0.0.tgz"
    assert os.listdir(cached.parent) == [cached.name]  # no partial file left
    # A later run (another process: nothing remembered) uses the cache, and asks nothing.
    monkeypatch.setattr(web_client, "_releases", {})
    assert web_client.release(webclient, download=Registry(error=AssertionError("no download"))) == release


def test_a_tarball_put_in_the_cache_by_hand_needs_no_network(pinned, tarball):
    webclient = webclient_of(pinned)
    path = web_client.cached_tarball_path(webclient)
    path.parent.mkdir(parents=True)
    path.write_bytes(tarball)
    assert web_client.release(webclient).content == tarball  # the autouse fixture refuses downloads


def test_a_downloaded_tarball_with_another_integrity_is_refused_and_not_cached(pinned):
    webclient = webclient_of(pinned)
    other = fake_tarball({**DIST, "converse.min.js": b"tampered"})
    with pytest.raises(web_client.WebClientError) as error:
        web_client.release(webclient, download=Registry(other))
    message = str(error.value)
    assert message.startswith("webclient_integrity: converse.js 14.0.0 from https://registry.npmjs.org/")
    assert integrity(other) in message and webclient.integrity in message
    assert not web_client.cached_tarball_path(webclient).parent.exists() or not any(
        web_client.cached_tarball_path(webclient).parent.iterdir())


def test_a_cached_tarball_with_another_integrity_is_refused(pinned):
    webclient = webclient_of(pinned)
    path = web_client.cached_tarball_path(webclient)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not npm's")
    with pytest.raises(web_client.WebClientError) as error:
        web_client.release(webclient, download=Registry(error=AssertionError("no download")))
    assert str(error.value).startswith(f"webclient_integrity: the cached tarball {path} has sha512-")
    assert "delete it" in str(error.value)


def test_a_failed_download_names_the_version_and_the_url(pinned):
    webclient = webclient_of(pinned)
    with pytest.raises(web_client.WebClientError) as error:
        web_client.release(webclient, download=Registry(error=OSError("HTTP Error 404: Not Found")))
    assert str(error.value).startswith("webclient_version: converse.js 14.0.0 could not be downloaded from"
                                       " https://registry.npmjs.org/converse.js/-/converse.js-14.0.0.tgz")
    assert "404" in str(error.value) and str(web_client.cached_tarball_path(webclient)) in str(error.value)


def test_a_cache_that_cannot_be_written_names_its_key(pinned, tarball, tmp_path):
    (tmp_path / "cache").write_text("a file, not a directory")
    with pytest.raises(web_client.WebClientError) as error:
        web_client.release(webclient_of(pinned), download=Registry(tarball))
    assert str(error.value).startswith("webclient_cache_dir: cannot keep the tarball at")


def test_a_release_without_what_the_page_loads_is_refused(pinned):
    broken = fake_tarball({"converse.js": b"not minified"})
    pinned["webclient_integrity"] = integrity(broken)
    with pytest.raises(web_client.WebClientError) as error:
        web_client.release(webclient_of(pinned), download=Registry(broken))
    assert str(error.value).startswith("webclient_version: converse.js 14.0.0's tarball has no"
                                       " package/dist/converse.min.js")


def test_the_error_stops_pyinfra_cleanly():
    from pyinfra.api.exceptions import PyinfraError

    assert issubclass(web_client.WebClientError, PyinfraError)  # printed as it is, no traceback


# ---- The release, on the host: the real unpack command ---------------------------------------------

def unpack(tmp_path, content, tarball_sha256=None, probe=None):
    tarball = tmp_path / "uploads" / "converse.js.tgz"
    tarball.parent.mkdir(exist_ok=True)
    tarball.write_bytes(content)
    destination = tmp_path / "share" / "converse.js-14.0.0"
    command = web_client.unpack_command(
        str(tarball), tarball_sha256 or hashlib.sha256(content).hexdigest(), str(destination),
        probe or hashlib.sha256(DIST["converse.min.js"]).hexdigest())
    result = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=60)
    return result, destination


def tree(directory):
    return {str(path.relative_to(directory)): (path.read_bytes() if path.is_file() else None,
                                               oct(path.stat().st_mode & 0o777))
            for path in sorted(directory.rglob("*"))}


def test_dist_is_unpacked_whole_readable_and_alone(tmp_path, tarball):
    result, destination = unpack(tmp_path, tarball)
    assert result.returncode == 0, result.stderr
    files = {name: content for name, (content, _) in tree(destination).items() if content is not None}
    assert files == DIST  # dist/ only: no package.json, no src/
    assert {mode for _, (content, mode) in tree(destination).items() if content is not None} == {"0o644"}
    assert {mode for _, (content, mode) in tree(destination).items() if content is None} == {"0o755"}
    assert oct(destination.stat().st_mode & 0o777) == "0o755"
    assert os.listdir(destination.parent) == [destination.name]  # nothing left beside it
    # Run again (the probe differed, say): the directory is replaced, whole.
    (destination / "converse.min.js").write_bytes(b"damaged")
    result, _ = unpack(tmp_path, tarball)
    assert result.returncode == 0 and (destination / "converse.min.js").read_bytes() == DIST["converse.min.js"]
    assert os.listdir(destination.parent) == [destination.name]


@pytest.mark.parametrize("case", ["tarball-differs", "probe-differs", "tar-fails", "a-symlink"])
def test_a_failed_unpack_leaves_nothing(tmp_path, tarball, case):
    content, arguments = tarball, {}
    if case == "tarball-differs":
        arguments["tarball_sha256"] = "0" * 64
    elif case == "probe-differs":
        arguments["probe"] = "0" * 64
    elif case == "tar-fails":  # cut short as an interrupted upload would be, though its hash is asked
        content = tarball[: len(tarball) // 2]
    else:
        content = fake_tarball(extra=[("package/dist/images/escape", "/etc/passwd")])
    result, destination = unpack(tmp_path, content, **arguments)
    assert result.returncode != 0
    assert not destination.exists()
    assert not (destination.parent.exists() and os.listdir(destination.parent)), "a half-unpacked release is left"


def test_what_a_killed_unpack_left_is_cleared(tmp_path, tarball):
    leftover = tmp_path / "share" / ".converse.js-14.0.0.unpacking"
    leftover.mkdir(parents=True)
    (leftover / "converse.min.js").write_bytes(b"half")
    result, destination = unpack(tmp_path, tarball)
    assert result.returncode == 0, result.stderr
    assert not leftover.exists() and (destination / "converse.min.js").read_bytes() == DIST["converse.min.js"]


# ---- The task: its files, and what a deploy does --------------------------------------------------

@pytest.fixture
def pinned_config(pinned, tarball):
    config = load_config(pinned, environ={})
    path = web_client.cached_tarball_path(config.webclient)
    path.parent.mkdir(parents=True)
    path.write_bytes(tarball)
    return config


def test_the_task_owns_the_tarball_and_the_page(pinned_config, tarball):
    web = pinned_config.web_client
    found = task.files(pinned_config, store=None)
    assert [file.path for file in found] == [
        "/var/lib/eldwyn-xmpp/web-client/converse.js.tgz",
        "/usr/local/share/eldwyn-xmpp/web-client/index.html",
        "/usr/local/share/eldwyn-xmpp/web-client/eldwyn-chat.js",
    ]
    assert found[0].content == tarball
    assert all((file.user, file.group, file.mode, file.secret) == ("root", "root", "644", False) for file in found)
    assert task.paths(pinned_config) == ["/usr/local/share/eldwyn-xmpp/converse.js-14.0.0/converse.min.js"]
    assert web.probe_path == task.paths(pinned_config)[0] and web.dist_dir.endswith("/converse.js-14.0.0")


def test_a_second_deploy_does_nothing(pinned_config):
    wanted = task.files(pinned_config)
    release = web_client.release(pinned_config.webclient)
    fresh = {}
    tarball, pages, unpack_it = task.plan(pinned_config, wanted, fresh)
    assert [file.path for file in tarball] == [pinned_config.web_client.tarball_path]
    assert len(pages) == 2 and unpack_it
    done = {file.path: file.state for file in wanted}
    done[pinned_config.web_client.probe_path] = task.unpacked_state(release)
    assert task.plan(pinned_config, wanted, done) == ([], [], False)


def test_an_unpacked_release_that_differs_is_unpacked_again(pinned_config):
    wanted = task.files(pinned_config)
    done = {file.path: file.state for file in wanted}
    probe = pinned_config.web_client.probe_path
    for state in ({**task.unpacked_state(web_client.release(pinned_config.webclient)), "sha256": "0" * 64},
                  {**task.unpacked_state(web_client.release(pinned_config.webclient)), "mode": "600"}):
        assert task.plan(pinned_config, wanted, {**done, probe: state}) == ([], [], True)


def test_another_version_is_a_new_directory_and_the_same_tarball_path(pinned, tmp_path):
    other = fake_tarball({**DIST, "converse.min.js": b"15"})
    pinned.update(webclient_version="15.0.0", webclient_integrity=integrity(other))
    config = load_config(pinned, environ={})
    path = web_client.cached_tarball_path(config.webclient)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(other)
    assert path.name == "converse.js-15.0.0.tgz"
    assert config.web_client.dist_dir == "/usr/local/share/eldwyn-xmpp/converse.js-15.0.0"
    assert config.web_client.tarball_path == "/var/lib/eldwyn-xmpp/web-client/converse.js.tgz"
    assert "/chat/converse.js-15.0.0/converse.min.js" in render(PAGE, config=config)


def test_the_deploy_runs_the_task_before_nginx_serves_it():
    text = (Path(__file__).resolve().parents[2] / "deploy.py").read_text()
    owners = text.split("OWNERS = (", 1)[1].split(")", 1)[0]
    assert "web_client" in owners
    assert text.index("web_client.install(") < text.index("webservice.deploy(")


# ---- The page and Converse's settings -----------------------------------------------------------

def settings_of(config):
    text = render(SCRIPT, config=config)
    return json.loads(text.split("window.converse.initialize(", 1)[1].rsplit(");", 1)[0])


def test_converse_finds_the_server_by_xep_0156_and_falls_back_to_the_sites_websocket(config):
    settings = settings_of(config)
    site, realm = config.signup.site_name, config.realm
    assert settings["discover_connection_methods"] is True
    assert settings["websocket_url"] == f"wss://{site}/xmpp-websocket" == config.web_client.websocket_url
    assert "bosh_service_url" not in settings
    assert settings["default_domain"] == realm and "locked_domain" not in settings
    assert settings["allow_registration"] is False
    assert settings["view_mode"] == "fullscreen"
    assert settings["muc_domain"] == "muc.comm.cslabs.clarkson.edu"


def test_nothing_converse_loads_is_elsewhere(config):
    settings = settings_of(config)
    dist = config.web_client.dist_url
    assert settings["assets_path"] == dist.rstrip("/") == "/chat/converse.js-14.0.0"
    assert settings["notification_icon"].startswith(dist)
    # Its defaults that would load from elsewhere: data.xmpp.net, YouTube/Spotify, any image host.
    assert settings["xmpp_providers_url"] is None and settings["autocomplete_providers_url"] is None
    assert settings["embed_3rd_party_media_players"] is False
    assert settings["muc_search_service"] == ""
    for kind in ("image", "audio", "video"):
        assert settings[f"allowed_{kind}_domains"] == ["upload.comm.cslabs.clarkson.edu"]
    assert settings.get("use_system_emojis", True) is True  # else emoji images from twemoji.maxcdn.com
    urls = [value for value in settings.values() if isinstance(value, str) and "://" in value]
    assert urls == [f"wss://{config.signup.site_name}/xmpp-websocket"]


def test_the_page_loads_converse_from_this_release_only(config):
    page = render(PAGE, config=config)
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sources == ["/chat/converse.js-14.0.0/images/favicon.ico", "/chat/converse.js-14.0.0/converse.min.css",
                       "/chat/converse.js-14.0.0/converse.min.js", "/chat/eldwyn-chat.js"]
    assert all(source.startswith("/") and not source.startswith("//") for source in sources)
    scripts = re.findall(r"<script[^>]*>", page)
    assert scripts == ['<script type="module" src="/chat/converse.js-14.0.0/converse.min.js">',
                       '<script type="module" src="/chat/eldwyn-chat.js">']  # no inline script: the CSP
    assert "<style" not in page and "style=" not in page


def test_the_footer_with_sponsor_logos_is_replaced_before_converse_starts(config):
    script = render(SCRIPT, config=config)
    assert script.index('customElements.define("converse-footer"') < script.index("window.converse.initialize(")
    assert "https://" not in script.split("window.converse.initialize(", 1)[0]


# ---- nginx ----------------------------------------------------------------------------------------

def nginx(config):
    return render(NGINX, config=config)


def block(text, opening):
    """The body of the block that ``opening`` (e.g. "location = /xmpp-websocket {") starts."""
    start = text.index(opening) + len(opening)
    depth, index = 1, start
    while depth:
        depth += {"{": 1, "}": -1}.get(text[index], 0)
        index += 1
    return text[start:index - 1]


def servers(text):
    parts = text.split("\nserver {")[1:]
    return [block("server {" + part, "server {") for part in parts]


def headers(body):
    return dict(re.findall(r'add_header (\S+) "([^"]*)" always;', body))


def test_nginx_serves_the_page_and_the_release_from_the_host(config):
    text = nginx(config)
    web = config.web_client
    page = block(text, "location /chat/ {")
    assert "alias /usr/local/share/eldwyn-xmpp/web-client/;" in page and "index index.html;" in page
    dist = block(text, "location /chat/converse.js-14.0.0/ {")
    assert "alias /usr/local/share/eldwyn-xmpp/converse.js-14.0.0/;" in dist
    assert "application/wasm wasm;" in dist and "text/javascript js;" in dist and "text/css css;" in dist
    assert headers(dist)["Cache-Control"] == "public, max-age=31536000, immutable"
    assert headers(page)["Cache-Control"] == "no-cache"
    assert "return 301 /chat/;" in block(text, "location = /chat {")
    assert "proxy_pass" not in page + dist
    assert web.dist_url == "/chat/converse.js-14.0.0/"
    assert text.count("{") == text.count("}")


def test_the_web_client_has_its_own_csp_and_every_other_header_of_the_site(config):
    text = nginx(config)
    site_headers = dict(config.signup.security_headers)
    for opening in ("location /chat/ {", "location /chat/converse.js-14.0.0/ {"):
        found = headers(block(text, opening))
        assert found.pop("Cache-Control")
        assert set(found) == set(site_headers)
        assert found["Content-Security-Policy"] == config.web_client.content_security_policy
        assert found["Permissions-Policy"] == "camera=(), microphone=(), geolocation=(self)"
        assert {name: value for name, value in found.items()
                if name not in ("Content-Security-Policy", "Permissions-Policy")} == {
            name: value for name, value in site_headers.items()
            if name not in ("Content-Security-Policy", "Permissions-Policy")}
    # The rest of the site keeps its own policy.
    site_server = servers(text)[1]
    assert headers(site_server.split("    location ", 1)[0]) == site_headers


def test_the_csp_allows_exactly_what_converse_needs(config):
    policy = dict(directive.split(" ", 1) for directive in config.web_client.content_security_policy.split("; "))
    site, realm, upload = config.signup.site_name, config.realm, "https://upload.comm.cslabs.clarkson.edu:5281"
    assert policy == {
        "default-src": "'none'",
        "script-src": "'self' 'wasm-unsafe-eval'",  # no 'unsafe-eval', no 'unsafe-inline'
        "style-src": "'self' 'unsafe-inline'",
        "img-src": f"'self' data: blob: {upload}",
        "media-src": f"'self' blob: {upload}",
        "font-src": "'self'",
        "connect-src": f"'self' wss://{site} https://{realm} {upload}",
        "form-action": "'none'",
        "frame-ancestors": "'none'",
        "base-uri": "'none'",
    }


def test_without_an_upload_component_no_other_origin_is_allowed(data):
    data["xmpp_components"] = [c for c in data["xmpp_components"] if c["type"] != "http_file_share"]
    config = load_config(data, environ={})
    assert config.web_client.upload_origin is None
    assert "upload" not in config.web_client.content_security_policy
    assert settings_of(config)["allowed_image_domains"] == []


def test_the_websocket_goes_to_prosody_on_loopback_as_the_realm(config):
    ws = block(nginx(config), "location = /xmpp-websocket {")
    for line in ("proxy_pass http://127.0.0.1:5280;", f"proxy_set_header Host {config.realm};",
                 "proxy_http_version 1.1;", "proxy_set_header Upgrade $http_upgrade;",
                 'proxy_set_header Connection "upgrade";', "proxy_set_header X-Forwarded-Proto https;",
                 "proxy_set_header X-Forwarded-For $remote_addr;", "proxy_read_timeout 900s;"):
        assert line in ws, line


def test_host_meta_is_served_for_the_site_and_for_the_realm(config):
    text = nginx(config)
    _, site_server, realm_server = servers(text)
    assert f"server_name {config.signup.site_name};" in site_server
    assert f"server_name {config.realm};" in realm_server and "listen 443 ssl;" in realm_server
    for server in (site_server, realm_server):
        for path in ("/.well-known/host-meta", "/.well-known/host-meta.json"):
            location = block(server, f"location = {path} {{")
            assert "proxy_pass http://127.0.0.1:5280;" in location
            assert f"proxy_set_header Host {config.realm};" in location
    realm = config.certificate(config.realm)
    assert f"ssl_certificate {realm.certificate_path};" in realm_server
    assert f"ssl_certificate_key {realm.key_path};" in realm_server
    assert "return 404;" in block(realm_server, "location / {")  # host-meta only
    assert "Strict-Transport-Security" not in realm_server  # the name may go back to the lab's web server
    assert "/chat" not in realm_server and "xmpp-websocket" not in realm_server
    # The site stays nginx's default server on 443: it comes first.
    assert text.index(f"server_name {config.signup.site_name};\n    server_tokens") < text.index(
        f"server_name {config.realm};")


# ---- Prosody: what XEP-0156 lists -----------------------------------------------------------------

def test_prosody_lists_the_websocket_through_the_site(config):
    """mod_http_altconnect (Prosody 13.0.1) lists module:http_url("websocket", "xmpp-websocket")
    with http to ws: with http_external_url, that URL is the external one plus the path."""
    realm = render(REALM_CFG, config=config).split("\nComponent ", 1)[0]
    external = re.search(r'^http_external_url = "([^"]+)"$', realm, re.M).group(1)
    assert re.sub("^http", "ws", external + "xmpp-websocket") == config.web_client.websocket_url
    assert re.search(r"^advertise_bosh = false$", realm, re.M)  # nginx proxies no BOSH


def test_prosody_trusts_nginx_and_no_plain_websocket(config):
    text = render(PROSODY_CFG, config=config)
    assert re.search(r'^trusted_proxies = \{ "127.0.0.1"; "::1" \}$', text, re.M)
    both = text + render(REALM_CFG, config=config)
    assert not re.search(r"^\s*consider_websocket_secure", both, re.M)
    assert not re.search(r"^\s*cross_domain_websocket", both, re.M)


# ---- certbot's hook: nginx serves the realm's certificate too --------------------------------------

def test_a_renewed_realm_certificate_reloads_nginx_too(config, tmp_path):
    fakes = {"install": "", "mv": "", "systemctl": "", "nginx": "", "grep": ""}  # nginx's site names it
    result, calls = run_script(hook_text(config), tmp_path, fakes,
                               environ={"RENEWED_LINEAGE": f"/etc/letsencrypt/live/{config.realm}"})
    assert result.returncode == 0, result.stderr
    crt = config.certificate(config.realm).certificate_path
    assert calls[-6:] == [
        "systemctl is-active --quiet prosody", "systemctl reload-or-restart prosody",
        f"grep -qsF ssl_certificate {crt}; /etc/nginx/sites-enabled/eldwyn-signup",
        "systemctl is-active --quiet nginx", "nginx -t -q", "systemctl reload nginx",
    ]


def test_a_name_nginx_does_not_serve_does_not_reload_it(config, tmp_path):
    fakes = {"install": "", "mv": "", "systemctl": "", "nginx": "", "grep": "exit 1"}
    upload = config.certificate("upload.comm.cslabs.clarkson.edu")
    result, calls = run_script(hook_text(config), tmp_path, fakes,
                               environ={"RENEWED_LINEAGE": f"/etc/letsencrypt/live/{upload.name}"})
    assert result.returncode == 0 and not [call for call in calls if call.startswith("nginx")]
    assert calls[-1] == f"grep -qsF ssl_certificate {upload.certificate_path}; /etc/nginx/sites-enabled/eldwyn-signup"


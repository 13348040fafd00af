"""The web client on the VM, as people use it: Converse.js at https://SITE/chat/, in headless
Chromium (Debian's, driven by Playwright), through nginx and TLS. It finds the websocket with
XEP-0156 (host-meta at the realm's name, which nginx answers from Prosody), logs in as a test
user, and chats with a real XMPP client (slixmpp) that answers; nothing is loaded from any host
but the site (and the realm's host-meta), and the Content-Security-Policy is never violated. The
files served are the pinned npm tarball's dist/, byte for byte. It still works when the realm's
name is answered by another web server (the lab's), through Converse's websocket_url.

Names are never resolved: Chromium maps SITE:443 and REALM:443 to the port forwarded to the VM's
443, and trusts exactly the keys of those two certificates; `requests` connects to 127.0.0.1 with
the name for SNI and Host, and verifies the chain against the test bed's CA.
"""

import asyncio
import hashlib
import json
import os
import re
import threading
import uuid
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

import pytest
import requests
from requests.adapters import HTTPAdapter

from eldwyn import web_client
from eldwyn.certificates import certificate_for
from eldwyn.secrets import SecretsStore
from tests import testbed, xmpp
from tests.testbed import spki_sha256_base64, REPO, config_for_testbed, host_port

CONFIG = config_for_testbed()
SITE = CONFIG.signup.site_name
REALM = CONFIG.realm
WEB = CONFIG.web_client
ALICE, BOB = f"alice@{REALM}", f"bob@{REALM}"
SCREENSHOTS = REPO / "docs" / "screenshots"
XRD = "{http://docs.oasis-open.org/ns/xri/xrd-1.0}"
WEBSOCKET_REL = "urn:xmpp:alt-connections:websocket"
TIMEOUT_MS = 90_000  # the emulated test bed is slow to run Converse's first login (OMEMO keys)

# Records every CSP violation the page sees (the console says it too, but this cannot be missed).
CSP_LISTENER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => window.__cspViolations.push(
    {directive: e.violatedDirective, blocked: e.blockedURI, source: e.sourceFile, line: e.lineNumber}));
"""


@pytest.fixture(scope="module", autouse=True)
def deployed(first_deploy):
    return first_deploy


def served_certificates():
    """The site's certificate and the realm's (nginx serves it for host-meta), as the deploy made them."""
    store = SecretsStore(CONFIG.secrets.dir)
    return [certificate_for(cert, CONFIG.tls, store).certificate_pem
            for cert in (CONFIG.site_certificate, CONFIG.certificate(REALM))]


def host(url):
    return urlsplit(url).hostname


def screenshot(page, name):
    if os.environ.get("ELDWYN_SCREENSHOTS"):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def realm_https(target):
    """A requests session to the VM's 443 under the realm's name (SNI and Host), verified
    against the test bed's CA: what a client reaching https://REALM/ gets from Eldwyn."""

    class RealmAdapter(HTTPAdapter):
        def init_poolmanager(self, *args, **kwargs):
            kwargs["server_hostname"] = REALM
            kwargs["assert_hostname"] = REALM
            super().init_poolmanager(*args, **kwargs)

    base = f"https://127.0.0.1:{host_port('web_https')}"
    session = requests.Session()
    session.trust_env = False
    session.mount(base, RealmAdapter())
    session.verify = str(target.ca_file)
    session.headers["Host"] = REALM
    session.base = base
    return session


@pytest.fixture(scope="module")
def browser(target):
    from playwright.sync_api import sync_playwright

    port = host_port("web_https")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=[
                "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                # Every other name fails: nothing can reach the real Eldwyn, or anywhere.
                f"--host-resolver-rules=MAP {SITE}:443 127.0.0.1:{port}, MAP {REALM}:443 127.0.0.1:{port},"
                " MAP * ~NOTFOUND",
                "--ignore-certificate-errors-spki-list=" + ",".join(spki_sha256_base64(pem)
                                                                    for pem in served_certificates()),
            ],
        )
        yield chromium
        chromium.close()


class Recorder:
    """What one page asked for and said: requests, websockets, console messages, CSP violations."""

    def __init__(self, page):
        self.page = page
        self.requests, self.websockets, self.console = [], [], []
        page.on("request", lambda request: self.requests.append(request.url))
        page.on("websocket", lambda socket: self.websockets.append(socket.url))
        page.on("console", lambda message: self.console.append((message.type, message.text)))
        page.on("pageerror", lambda error: self.console.append(("pageerror", str(error))))

    @property
    def csp_violations(self):
        return self.page.evaluate("window.__cspViolations || []")

    def csp_messages(self):
        return [text for _, text in self.console if "Content Security Policy" in text or "Content-Security-Policy" in text]

    def hosts(self):
        return sorted({host(url) for url in self.requests})


def new_page(browser):
    context = browser.new_context(locale="en-US")
    context.add_init_script(CSP_LISTENER)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    return context, page, Recorder(page)


class Peer:
    """bob, logged in with slixmpp in a thread of its own (Playwright's sync API keeps the main
    one): answers the first message whose body is ``text`` with ``reply``."""

    def __init__(self, target, text, reply):
        self.target, self.text, self.reply = target, text, reply
        self.ready, self.stop = threading.Event(), threading.Event()
        self.received, self.error = None, None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        async def body():
            async with xmpp.session(self.target, BOB) as s:
                got = s.waiter("message", lambda m: m["body"] == self.text)
                self.ready.set()
                message = await asyncio.wait_for(got, TIMEOUT_MS / 1000 * 2)
                self.received = message
                s.xmpp.send_message(mto=message["from"], mbody=self.reply, mtype="chat")
                await s.roundtrip()
                while not self.stop.is_set():
                    await asyncio.sleep(0.2)
        try:
            xmpp.run(body(), timeout=TIMEOUT_MS / 1000 * 4)
        except BaseException as error:  # reported by the test, in its own thread
            self.error = error
            self.ready.set()

    def __enter__(self):
        self.thread.start()
        assert self.ready.wait(60), "bob did not log in"
        assert self.error is None, self.error
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(30)


def log_in(page, target, jid):
    page.fill("#converse-login-jid", jid.split("@")[0])  # default_domain: the user name is enough
    page.fill("#converse-login-password", target.password(jid))
    page.click("#converse-login button[type=submit]")


def chat(page, peer, text, reply):
    """From the logged-in page: open the chat with bob (in alice's roster: the shared group
    Testers), send ``text``, and wait for bob's ``reply`` to show."""
    page.locator("converse-roster").get_by_text("Bob", exact=True).first.click()  # (once per roster group)
    box = page.locator(f'converse-chat[jid="{BOB}"]')  # other chats (rooms joined from bookmarks) have theirs
    textarea = box.locator("textarea.chat-textarea")
    textarea.fill(text)
    textarea.press("Enter")
    box.get_by_text(reply).first.wait_for()
    assert peer.error is None, peer.error
    assert peer.received is not None and peer.received["from"].bare == ALICE


# ---- XEP-0156 -------------------------------------------------------------------------------------

def websocket_links(response):
    xrd = ET.fromstring(response.content)
    assert xrd.tag == f"{XRD}XRD", response.text
    return [(link.get("rel"), link.get("href")) for link in xrd.iter(f"{XRD}Link")]


def test_host_meta_at_the_realm_names_the_websocket_through_the_site(realm_https):
    response = realm_https.get(realm_https.base + "/.well-known/host-meta", timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/xrd+xml")
    assert response.headers["Access-Control-Allow-Origin"] == "*"  # the page at SITE reads it
    assert websocket_links(response) == [(WEBSOCKET_REL, f"wss://{SITE}/xmpp-websocket")]  # no BOSH: not proxied
    as_json = realm_https.get(realm_https.base + "/.well-known/host-meta.json", timeout=30)
    assert as_json.status_code == 200 and as_json.headers["Content-Type"].startswith("application/json")
    assert json.loads(as_json.text)["links"] == [{"rel": WEBSOCKET_REL, "href": f"wss://{SITE}/xmpp-websocket"}]


def test_the_site_serves_the_same_host_meta(site):
    response = site.get(site.base + "/.well-known/host-meta", timeout=30)
    assert response.status_code == 200
    assert websocket_links(response) == [(WEBSOCKET_REL, WEB.websocket_url)]


def test_the_realms_name_serves_nothing_else_and_no_hsts(realm_https):
    for path in ("/", "/chat/", "/xmpp-websocket", "/signup"):
        response = realm_https.get(realm_https.base + path, timeout=30, allow_redirects=False)
        assert response.status_code == 404, (path, response.status_code)
        assert "Strict-Transport-Security" not in response.headers


# ---- The files: the npm release, byte for byte ----------------------------------------------------

def test_the_served_release_is_the_npm_tarballs_dist_byte_for_byte(vm, site):
    release = web_client.release(CONFIG.webclient)  # the operator's cached tarball, checked again
    sums = vm.check_output(f"cd {WEB.dist_dir} && find . -type f -print0 | xargs -0 sha256sum")
    on_host = {path.removeprefix("./"): sha for sha, path in (line.split(None, 1) for line in sums.splitlines())}
    assert on_host == release.dist_sha256
    owners = set(vm.check_output(f"find {WEB.dist_dir} -printf '%y %u:%g %m\\n'").splitlines())
    assert owners == {"d root:root 755", "f root:root 644"}
    tarball = vm.check_output(f"sha256sum {WEB.tarball_path}").split()[0]
    assert tarball == hashlib.sha256(release.content).hexdigest()
    # Nothing half-unpacked beside it.
    assert not [name for name in vm.check_output(f"ls -A {CONFIG.webclient.share_dir}").split() if name.startswith(".")]
    # What the browser gets is that file too, with the web client's headers.
    served = site.get(site.base + WEB.dist_url + web_client.PROBE, timeout=60)
    assert served.status_code == 200
    assert hashlib.sha256(served.content).hexdigest() == release.probe_sha256
    assert served.headers["Content-Type"].startswith("text/javascript")
    assert served.headers["Content-Security-Policy"] == WEB.content_security_policy
    assert "immutable" in served.headers["Cache-Control"]
    wasm = site.get(site.base + WEB.dist_url + "curve25519_compiled.wasm", timeout=60)
    assert wasm.status_code == 200 and wasm.headers["Content-Type"] == "application/wasm"


def test_the_page_has_its_own_csp_and_the_site_keeps_its_own(site):
    page = site.get(site.base + WEB.url, timeout=30)
    assert page.status_code == 200 and "converse.min.js" in page.text
    assert page.headers["Content-Security-Policy"] == WEB.content_security_policy
    assert page.headers["Strict-Transport-Security"] and page.headers["X-Frame-Options"] == "DENY"
    signup = site.get(site.base + "/signup", timeout=30)
    assert signup.headers["Content-Security-Policy"] == dict(CONFIG.signup.security_headers)["Content-Security-Policy"]
    moved = site.get(site.base + WEB.url.rstrip("/"), timeout=30, allow_redirects=False)
    assert moved.status_code == 301 and moved.headers["Location"].endswith(WEB.url)


# ---- In the browser ---------------------------------------------------------------------------------

def test_the_web_client_finds_the_websocket_by_xep_0156_logs_in_and_chats(vm, browser, target):
    context, page, seen = new_page(browser)
    page.goto(f"https://{SITE}{WEB.url}")
    page.wait_for_selector("#converse-login-jid")
    page.wait_for_load_state("networkidle")
    assert seen.hosts() == [SITE], seen.requests  # the page loads nothing from anywhere else
    assert f"https://{SITE}{WEB.dist_url}converse.min.js" in seen.requests
    assert page.locator("converse-footer").get_by_text("Sign up").is_visible()  # ours, not the sponsors'

    token = uuid.uuid4().hex[:8]
    text, reply = f"hello bob from the web {token}", f"hello alice, bob here {token}"
    with Peer(target, text, reply) as peer:
        with page.expect_response(f"https://{REALM}/.well-known/host-meta") as host_meta:
            log_in(page, target, ALICE)
        assert host_meta.value.status == 200
        assert f'href="wss://{SITE}/xmpp-websocket"' in host_meta.value.text().replace("'", '"')
        page.wait_for_selector("converse-roster")
        chat(page, peer, text, reply)
        # The session Prosody sees: a websocket, encrypted (nginx's X-Forwarded-Proto), from the
        # client's address (X-Forwarded-For), not nginx's loopback.
        sessions = vm.check_output(f"prosodyctl shell c2s show {ALICE} 'method ip secure'")
        rows = re.findall(r"WebSocket\s*\|\s*(\S+)\s*\|\s*(\S+)", sessions)  # columns end in " | "
        assert rows, sessions
        assert all(secure == "secure" and ip not in ("127.0.0.1", "::1") for ip, secure in rows), sessions
        screenshot(page, "web-client")

    assert seen.websockets == [WEB.websocket_url]
    assert set(seen.hosts()) == {SITE, REALM}, seen.requests
    assert [url for url in seen.requests if host(url) == REALM] == [f"https://{REALM}/.well-known/host-meta"]
    # OMEMO started on this (trusted) device: its WebAssembly, from dist/, under the CSP.
    assert f"https://{SITE}{WEB.dist_url}curve25519_compiled.wasm" in seen.requests
    assert seen.csp_violations == [], seen.csp_violations
    assert seen.csp_messages() == [], seen.csp_messages()
    context.close()


def test_the_web_client_works_while_another_web_server_answers_for_the_realm(browser, target):
    """The realm's A record on the lab's web server (README, DNS): its host-meta is not ours. Here
    every request to https://REALM/ is answered as such a server would, 404 and no CORS;
    Converse keeps its websocket_url, through the site."""
    context, page, seen = new_page(browser)
    page.route(f"https://{REALM}/**", lambda route: route.fulfill(
        status=404, content_type="text/html", body="<html><body>The lab's web server</body></html>"))
    page.goto(f"https://{SITE}{WEB.url}")
    page.wait_for_selector("#converse-login-jid")
    token = uuid.uuid4().hex[:8]
    text, reply = f"no host-meta {token}", f"still here {token}"
    with Peer(target, text, reply) as peer:
        log_in(page, target, ALICE)
        page.wait_for_selector("converse-roster")
        chat(page, peer, text, reply)
    assert f"https://{REALM}/.well-known/host-meta" in seen.requests  # asked, found nothing
    assert seen.websockets == [WEB.websocket_url]
    assert seen.csp_violations == [] and seen.csp_messages() == []
    context.close()


# ---- A release not there whole is unpacked again, and only then -------------------------------------

def test_a_missing_or_half_unpacked_release_is_unpacked_by_the_next_deploy_only(vm, site):
    share = CONFIG.webclient.share_dir
    name = WEB.dist_dir.rsplit("/", 1)[1]
    # As a run killed during the unpack would leave it: no directory, a partial one beside it.
    vm.check_output(f"rm -rf {WEB.dist_dir} && mkdir -p {share}/.{name}.unpacking && "
                    f"echo partial > {share}/.{name}.unpacking/{web_client.PROBE}")
    assert site.get(site.base + WEB.dist_url + web_client.PROBE, timeout=30).status_code == 404
    run = testbed.pyinfra_deploy()
    assert run.returncode == 0 and run.errors == 0
    assert run.changed == 1, "only the unpack"
    served = site.get(site.base + WEB.dist_url + web_client.PROBE, timeout=60)
    assert hashlib.sha256(served.content).hexdigest() == web_client.release(CONFIG.webclient).probe_sha256
    assert not [entry for entry in vm.check_output(f"ls -A {share}").split() if entry.startswith(".")]
    again = testbed.pyinfra_deploy()
    assert again.returncode == 0 and again.changed == 0

"""Real XMPP clients against a deployed Prosody: slixmpp sessions, raw HTTP, raw TLS.

Every check is a plain function ``check_*(target, ...)``; it raises AssertionError (or the
client's own error) when the server does not do what Eldwyn promises, and returns what it saw.
Each runs in its own event loop, bounded by ``timeout`` seconds, and closes every connection it
opened. ``quick_checks`` is the subset an "after reboot" test calls.

A ``Target`` says where the server is: the address to dial and the port per service there
(the test-bed VM: 127.0.0.1 and the forwarded ports; a development server: its real ports), the
ports the server itself announces (5281 in upload URLs, 5000 for proxy65), the CA that must
verify every chain, and the realm. Names are never resolved: the realm or component name goes
into SNI, the stream's ``to`` and the HTTP Host header, and certificates are checked against it.
"""

import asyncio
import base64
import contextlib
import dataclasses
import hashlib
import http.client
import json
import os
import socket
import ssl
import struct
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

import slixmpp
from slixmpp.exceptions import IqError
from slixmpp.xmlstream import ET as SET

DEFAULT_TIMEOUT = 60  # seconds, per check
STEP_TIMEOUT = 20  # seconds, per awaited event inside a check
SERVICES = ("c2s", "s2s", "http", "https", "proxy65")
MIB = 1024 * 1024

NS_STREAM = "http://etherx.jabber.org/streams"
NS_TLS = "urn:ietf:params:xml:ns:xmpp-tls"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_BOSH = "http://jabber.org/protocol/httpbind"
NS_FRAMING = "urn:ietf:params:xml:ns:xmpp-framing"
NS_BYTESTREAMS = "http://jabber.org/protocol/bytestreams"
NS_VCARD4 = "urn:ietf:params:xml:ns:vcard-4.0"
NS_UPLOAD = "urn:xmpp:http:upload:0"
SERVERINFO = "http://jabber.org/network/serverinfo"


@dataclass(frozen=True)
class Target:
    address: str  # what to dial, e.g. "127.0.0.1"
    ports: dict  # service -> port to dial on address
    announced_ports: dict  # service -> port the server listens on / announces (config.ports.X[0])
    ca_file: str  # PEM of the CA that must verify every chain
    realm: str
    components: dict  # component type ("muc", "pubsub", "proxy65", "http_file_share") -> name
    admins: tuple
    passwords: dict = field(repr=False, default_factory=dict)  # bare JID -> password
    options: dict = field(default_factory=dict)  # component type -> its Prosody options in the data

    @property
    def hosts(self):
        return (self.realm,) + tuple(self.components.values())

    def port(self, service):
        return self.ports[service]

    def password(self, jid):
        try:
            return self.passwords[jid]
        except KeyError:
            raise AssertionError(f"no password for {jid} in the secrets store (not seeded?)") from None

    def dial(self, announced_port):
        """The port to dial for a port the server announces (e.g. 5281 in an upload URL)."""
        for service, port in self.announced_ports.items():
            if port == announced_port:
                return self.ports[service]
        raise AssertionError(f"the server announced port {announced_port}, which no service has")


def target_from_config(config, address, ports, ca_file, store, jids=()):
    """A Target for ``config`` (eldwyn.config.Config) dialled at ``address`` on ``ports``
    (service -> port), with the passwords of ``jids`` (default: every seeded account) from the
    secrets ``store`` (eldwyn.secrets.SecretsStore)."""
    from eldwyn.secrets import account_password_name

    jids = tuple(jids) or config.seeded_accounts
    return Target(
        address=address,
        ports={service: ports[service] for service in SERVICES},
        announced_ports={service: getattr(config.ports, service)[0] for service in SERVICES},
        ca_file=str(ca_file),
        realm=config.realm,
        components={component.type: component.name for component in config.components},
        admins=tuple(config.admins),
        options={component.type: dict(component.options) for component in config.components},
        # Missing ones (accounts not seeded yet) fail the checks that log in, not the others.
        passwords={jid: store.get(account_password_name(jid)) for jid in jids
                   if store.exists(account_password_name(jid))},
    )


def ssl_context(target):
    """Trusts only the target's CA (no system CAs), checks the host name, TLS 1.2 or later."""
    context = ssl.create_default_context(cafile=target.ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def run(coroutine, timeout=DEFAULT_TIMEOUT):
    """Run ``coroutine`` in a fresh event loop, cancelled after ``timeout`` seconds."""
    async def bounded():
        return await asyncio.wait_for(coroutine, timeout)
    return asyncio.run(bounded())


def _token():
    return uuid.uuid4().hex[:12]


def _peer_names(ssl_object):
    cert = ssl_object.getpeercert()
    return sorted(value for kind, value in cert.get("subjectAltName", ()) if kind == "DNS")


# ---------------------------------------------------------------------------------------------
# slixmpp sessions

PLUGINS = ("xep_0004", "xep_0030", "xep_0045", "xep_0059", "xep_0060", "xep_0065", "xep_0128",
           "xep_0199", "xep_0280", "xep_0297", "xep_0313")
# (slixmpp's xep_0363 plugin needs aiohttp, which we do not install: slots are requested raw.)


class Session:
    """A logged-in slixmpp client plus what the login showed (mechanism, TLS)."""

    def __init__(self, xmpp):
        self.xmpp = xmpp
        self.mechanism = None
        self.tls_version = None
        self.peer_names = None

    @property
    def jid(self):
        return self.xmpp.boundjid

    async def roundtrip(self):
        """An IQ to the server and back: everything sent before has been processed."""
        await self.xmpp.plugin["xep_0199"].ping(jid=self.xmpp.boundjid.domain, timeout=STEP_TIMEOUT)

    def waiter(self, event, match=lambda stanza: True):
        """A future resolved by the first ``event`` whose stanza satisfies ``match``."""
        future = asyncio.get_running_loop().create_future()

        def handler(stanza):
            if not future.done() and match(stanza):
                future.set_result(stanza)
        self.xmpp.add_event_handler(event, handler)
        future.add_done_callback(lambda _: self.xmpp.del_event_handler(event, handler))
        return future


@contextlib.asynccontextmanager
async def session(target, jid, resource=None, presence=True, timeout=STEP_TIMEOUT):
    """A client logged in as ``jid`` over c2s with STARTTLS (required), verified against the CA.

    Dials target.address on the c2s port; SNI, stream ``to`` and the certificate check use the
    JID's domain. Fetches the roster and sends presence (unless ``presence`` is false), then
    makes sure the server processed both. Always disconnects on the way out.
    """
    resource = resource or f"eldwyn-test-{_token()}"
    xmpp = slixmpp.ClientXMPP(f"{jid}/{resource}", target.password(jid))
    xmpp.ssl_context = ssl_context(target)
    xmpp.enable_direct_tls = False  # c2s port: STARTTLS
    xmpp.enable_plaintext = False
    xmpp.enable_starttls = True
    for plugin in PLUGINS:
        xmpp.register_plugin(plugin)
    loop = asyncio.get_running_loop()
    started = loop.create_future()

    def fail(reason):
        def handler(event=None):
            if not started.done():
                started.set_exception(AssertionError(f"{jid}: {reason}: {event!r}"))
        return handler

    xmpp.add_event_handler("session_start", lambda _: started.done() or started.set_result(True))
    xmpp.add_event_handler("failed_all_auth", fail("authentication failed"))
    xmpp.add_event_handler("ssl_invalid_chain", fail("certificate chain not verified by the CA"))
    xmpp.add_event_handler("connection_failed", fail("connection failed"))
    xmpp.add_event_handler("stream_error", fail("stream error"))
    xmpp.add_event_handler("disconnected", fail("disconnected before the session started"))
    result = Session(xmpp)
    try:
        xmpp.connect(target.address, target.port("c2s"))
        await asyncio.wait_for(started, timeout)
        ssl_object = xmpp.transport.get_extra_info("ssl_object") if xmpp.transport else None
        assert ssl_object is not None, f"{jid}: the session is not encrypted"
        result.tls_version = ssl_object.version()
        result.peer_names = _peer_names(ssl_object)
        result.mechanism = xmpp.plugin["feature_mechanisms"].mech.name
        if presence:
            await xmpp.get_roster(timeout=timeout)
            xmpp.send_presence()
        await result.roundtrip()
        yield result
    finally:
        xmpp.cancel_connection_attempt()
        if xmpp.transport is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(xmpp.disconnect(wait=2), 5)
        if xmpp.transport is not None:
            xmpp.abort()


# ---------------------------------------------------------------------------------------------
# Checks over XMPP

def check_login(target, jid, timeout=DEFAULT_TIMEOUT):
    """STARTTLS on c2s, a chain the CA verifies for the realm, SASL with SCRAM."""
    async def body():
        async with session(target, jid, presence=False) as s:
            assert s.mechanism.startswith("SCRAM-"), f"logged in with {s.mechanism}, not SCRAM"
            assert target.realm in s.peer_names, s.peer_names
            assert s.jid.bare == jid
            return {"mechanism": s.mechanism, "tls": s.tls_version, "names": s.peer_names}
    return run(body(), timeout)


def check_message(target, sender, recipient, timeout=DEFAULT_TIMEOUT):
    """``sender`` sends a chat message to ``recipient``'s bare JID; it arrives intact."""
    async def body():
        text = f"hello {_token()} ✓"
        async with session(target, recipient) as receiver, session(target, sender) as s:
            got = receiver.waiter("message", lambda m: m["body"] == text)
            s.xmpp.send_message(mto=recipient, mbody=text, mtype="chat")
            message = await asyncio.wait_for(got, STEP_TIMEOUT)
            assert message["from"].bare == sender
            return text
    return run(body(), timeout)


def flood_and_probe(target, flooder, sink, sender, recipient, total_bytes, timeout=DEFAULT_TIMEOUT):
    """``flooder`` sends ``sink`` about ``total_bytes`` of message bodies (4 KB each) as fast as
    it can; meanwhile, once the flood is under way, ``sender`` sends ``recipient`` one message.
    Returns (seconds until the flood's last message arrived, seconds the probe took)."""
    async def body():
        tag, count = _token(), max(1, total_bytes // 4000)
        probe = f"probe {_token()}"
        async with session(target, sink) as receiver, session(target, flooder) as s, \
                session(target, recipient) as other, session(target, sender) as peer:
            last = receiver.waiter("message", lambda m: m["body"].startswith(f"{tag} {count - 1} "))
            probed = other.waiter("message", lambda m: m["body"] == probe)
            started = time.monotonic()
            for index in range(count):
                s.xmpp.send_message(mto=sink, mbody=f"{tag} {index} " + "x" * 4000, mtype="chat")
            await asyncio.sleep(1)
            probe_started = time.monotonic()
            peer.xmpp.send_message(mto=recipient, mbody=probe, mtype="chat")
            await asyncio.wait_for(probed, STEP_TIMEOUT)
            probe_seconds = time.monotonic() - probe_started
            await asyncio.wait_for(last, timeout - 10)
            return time.monotonic() - started, probe_seconds
    return run(body(), timeout)


async def _hold_sessions(target, jids, action):
    async with contextlib.AsyncExitStack() as stack:
        for jid in jids:
            await stack.enter_async_context(session(target, jid))
        return await asyncio.to_thread(action)


def while_logged_in(target, jids, action, timeout=DEFAULT_TIMEOUT):
    """``action()`` (a blocking call) run while one c2s session of each of ``jids`` is open."""
    return run(_hold_sessions(target, jids, action), timeout)


def closed_by(target, jid, action, timeout=DEFAULT_TIMEOUT):
    """Whether the server closes a c2s session of ``jid`` (logged in first) within STEP_TIMEOUT
    after ``action()``. The session lives in a thread of its own, and ``action`` runs in this
    one: Playwright's objects may only be used by the thread that made them."""
    logged_in, acted, outcome = threading.Event(), threading.Event(), {}

    async def body():
        async with session(target, jid, presence=False) as s:
            closed = s.waiter("disconnected")
            logged_in.set()
            await asyncio.to_thread(acted.wait, timeout)
            try:
                await asyncio.wait_for(closed, STEP_TIMEOUT)
                return True
            except asyncio.TimeoutError:
                return False

    def hold():
        try:
            outcome["closed"] = run(body(), 2 * timeout)
        except BaseException as error:  # re-raised below, in the test's thread
            outcome["error"] = error
        finally:
            logged_in.set()

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    try:
        logged_in.wait(timeout)
        if "error" in outcome:
            raise outcome["error"]
        action()
    finally:
        acted.set()
        thread.join(2 * timeout)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["closed"]


def check_carbons(target, user, peer, timeout=DEFAULT_TIMEOUT):
    """With carbons on, ``user``'s second resource gets a copy of what the first one sends."""
    async def body():
        text = f"carbon {_token()}"
        async with session(target, user, resource="one") as one, \
                session(target, user, resource="two") as two:
            await one.xmpp.plugin["xep_0280"].enable(timeout=STEP_TIMEOUT)
            await two.xmpp.plugin["xep_0280"].enable(timeout=STEP_TIMEOUT)
            copy = two.waiter("carbon_sent", lambda m: m["carbon_sent"]["body"] == text)
            one.xmpp.send_message(mto=peer, mbody=text, mtype="chat")
            message = await asyncio.wait_for(copy, STEP_TIMEOUT)
            forwarded = message["carbon_sent"]
            assert forwarded["from"] == one.jid and forwarded["to"].bare == peer
            return text
    return run(body(), timeout)


async def _mam_bodies(s, jid=None, with_jid=None):
    bodies = []
    async for result in s.xmpp.plugin["xep_0313"].iterate(jid=jid, with_jid=with_jid, reverse=True,
                                                    rsm={"max": 50}, total=200):
        bodies.append(result["mam_result"]["forwarded"]["stanza"]["body"])
    return bodies


def check_mam(target, sender, recipient, timeout=DEFAULT_TIMEOUT):
    """Messages ``sender`` sent are in its archive (XEP-0313), in a new session."""
    async def body():
        texts = [f"archived {index} {_token()}" for index in range(3)]
        async with session(target, sender) as s:
            for text in texts:
                s.xmpp.send_message(mto=recipient, mbody=text, mtype="chat")
            await s.roundtrip()
        async with session(target, sender, presence=False) as s:
            bodies = await _mam_bodies(s, with_jid=slixmpp.JID(recipient))
        missing = [text for text in texts if text not in bodies]
        assert not missing, f"not in {sender}'s archive: {missing}; found {bodies[:10]}"
        return texts
    return run(body(), timeout)


def check_muc(target, owner, member, timeout=DEFAULT_TIMEOUT):
    """``owner`` creates a persistent room on the MUC component, ``member`` joins, a message
    goes round; both leave; ``member`` rejoins and finds the message in the room's archive
    (muc_mam). The room is destroyed at the end."""
    async def body():
        room = slixmpp.JID(f"eldwyn-test-{_token()}@{target.components['muc']}")
        text = f"room message {_token()}"
        async with session(target, owner) as o:
            muc = o.xmpp.plugin["xep_0045"]
            await muc.join_muc_wait(room, "owner", maxstanzas=0, timeout=STEP_TIMEOUT)
            form = await muc.get_room_config(room, timeout=STEP_TIMEOUT)
            fields = form["fields"]
            answer = o.xmpp.plugin["xep_0004"].make_form(ftype="submit")
            answer.add_field(var="FORM_TYPE", value="http://jabber.org/protocol/muc#roomconfig")
            answer.add_field(var="muc#roomconfig_persistentroom", value=True)
            if "muc#roomconfig_enablearchiving" in fields:
                answer.add_field(var="muc#roomconfig_enablearchiving", value=True)
            await muc.set_room_config(room, answer, timeout=STEP_TIMEOUT)
            try:
                async with session(target, member) as m:
                    await m.xmpp.plugin["xep_0045"].join_muc_wait(room, "member", maxstanzas=0,
                                                           timeout=STEP_TIMEOUT)
                    got = m.waiter("groupchat_message", lambda msg: msg["body"] == text)
                    o.xmpp.send_message(mto=room, mbody=text, mtype="groupchat")
                    await asyncio.wait_for(got, STEP_TIMEOUT)
                    m.xmpp.plugin["xep_0045"].leave_muc(room, "member")
                    muc.leave_muc(room, "owner")
                    await m.roundtrip()
                    await o.roundtrip()
                async with session(target, member) as m:
                    joined = await m.xmpp.plugin["xep_0045"].join_muc_wait(room, "member", maxstanzas=0,
                                                                    timeout=STEP_TIMEOUT)
                    assert joined, "could not rejoin"
                    bodies = await _mam_bodies(m, jid=room)
                    assert text in bodies, f"not in the room archive: {text!r}; found {bodies}"
            finally:
                with contextlib.suppress(Exception):
                    await muc.destroy(room, timeout=STEP_TIMEOUT)
        return str(room)
    return run(body(), timeout)


# ---------------------------------------------------------------------------------------------
# History that must survive a rebuild: made once, read back later (tests/vm/test_80_rebuild.py)

def with_password(target, jid, password):
    """``target`` with ``password`` for ``jid`` (e.g. an account made or changed by a test)."""
    return dataclasses.replace(target, passwords={**target.passwords, jid: password})


def check_login_refused(target, jid, timeout=DEFAULT_TIMEOUT):
    """Logging in as ``jid`` with the password ``target`` has for it fails authentication."""
    try:
        check_login(target, jid, timeout=timeout)
    except AssertionError as error:
        assert "authentication failed" in str(error), error
        return str(error)
    raise AssertionError(f"{jid} could log in")


def add_contact(target, user, contact, name, timeout=DEFAULT_TIMEOUT):
    """Puts ``contact`` into ``user``'s own roster (not a shared group) under ``name``."""
    async def body():
        async with session(target, user) as s:
            await s.xmpp.update_roster(slixmpp.JID(contact), name=name, timeout=STEP_TIMEOUT)
            await s.roundtrip()
    run(body(), timeout)


def roster_names(target, user, timeout=DEFAULT_TIMEOUT):
    """{bare JID: name} of ``user``'s roster, as the server sends it."""
    async def body():
        async with session(target, user) as s:
            roster = s.xmpp.client_roster
            return {str(jid): roster[jid]["name"] for jid in roster.keys()}
    return run(body(), timeout)


def send_messages(target, sender, recipient, texts, timeout=DEFAULT_TIMEOUT):
    """``sender`` sends ``texts`` to ``recipient`` (archived by MAM on both sides)."""
    async def body():
        async with session(target, sender) as s:
            for text in texts:
                s.xmpp.send_message(mto=recipient, mbody=text, mtype="chat")
            await s.roundtrip()
    run(body(), timeout)


def archived_bodies(target, user, with_jid=None, room=None, timeout=DEFAULT_TIMEOUT):
    """The message bodies in ``user``'s archive (with ``with_jid``), or in ``room``'s archive
    (``user`` joins it first), newest first."""
    async def body():
        async with session(target, user, presence=room is not None) as s:
            if room:
                await s.xmpp.plugin["xep_0045"].join_muc_wait(slixmpp.JID(room), user.split("@")[0],
                                                              maxstanzas=0, timeout=STEP_TIMEOUT)
                return await _mam_bodies(s, jid=slixmpp.JID(room))
            return await _mam_bodies(s, with_jid=slixmpp.JID(with_jid) if with_jid else None)
    return run(body(), timeout)


def make_room(target, owner, texts, options=(), affiliations=(), prefix="history", timeout=DEFAULT_TIMEOUT):
    """``owner`` creates a persistent, archived room on the MUC component, with more room
    ``options`` ({muc#roomconfig_ field: value}) and ``affiliations`` ({JID: affiliation}) if
    given, and says ``texts`` in it; the room is kept. Returns its JID."""
    async def body():
        room = slixmpp.JID(f"{prefix}-{_token()}@{target.components['muc']}")
        async with session(target, owner) as o:
            muc = o.xmpp.plugin["xep_0045"]
            await muc.join_muc_wait(room, "owner", maxstanzas=0, timeout=STEP_TIMEOUT)
            form = await muc.get_room_config(room, timeout=STEP_TIMEOUT)
            answer = o.xmpp.plugin["xep_0004"].make_form(ftype="submit")
            answer.add_field(var="FORM_TYPE", value="http://jabber.org/protocol/muc#roomconfig")
            answer.add_field(var="muc#roomconfig_persistentroom", value=True)
            if "muc#roomconfig_enablearchiving" in form["fields"]:
                answer.add_field(var="muc#roomconfig_enablearchiving", value=True)
            for var, value in dict(options).items():
                answer.add_field(var=var, value=value)
            await muc.set_room_config(room, answer, timeout=STEP_TIMEOUT)
            for jid, affiliation in dict(affiliations).items():
                await muc.set_affiliation(room, affiliation, jid=slixmpp.JID(jid), timeout=STEP_TIMEOUT)
            for text in texts:
                echo = o.waiter("groupchat_message", lambda msg, text=text: msg["body"] == text)
                o.xmpp.send_message(mto=room, mbody=text, mtype="groupchat")
                await asyncio.wait_for(echo, STEP_TIMEOUT)
            muc.leave_muc(room, "owner")
            await o.roundtrip()
        return str(room)
    return run(body(), timeout)


def _rewrite_url(target, url):
    """(address, port to dial, Host header, path) for an URL the server announced."""
    parts = urlsplit(url)
    assert parts.scheme == "https", f"not an https URL: {url}"
    announced = parts.port or 443
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return parts.hostname, target.dial(announced), parts.netloc, path


async def _request_slot(s, service, filename, size):
    iq = s.xmpp.make_iq_get(ito=service)
    request = SET.SubElement(iq.xml, f"{{{NS_UPLOAD}}}request")
    request.set("filename", filename)
    request.set("size", str(size))
    request.set("content-type", "application/octet-stream")
    return await iq.send(timeout=STEP_TIMEOUT)


def check_upload(target, user, size=MIB, timeout=DEFAULT_TIMEOUT):
    """XEP-0363 on the upload component: a slot for ``size`` random bytes, PUT over HTTPS,
    GET back byte-identical. Returns (get URL, sha256) for ``check_download`` later."""
    service = target.components["http_file_share"]
    data = os.urandom(size)

    async def slot():
        async with session(target, user, presence=False) as s:
            reply = await _request_slot(s, service, f"eldwyn-{_token()}.bin", size)
            put = reply.xml.find(f".//{{{NS_UPLOAD}}}put")
            get = reply.xml.find(f".//{{{NS_UPLOAD}}}get")
            assert put is not None and get is not None, f"no slot in {reply}"
            headers = {h.get("name"): (h.text or "") for h in put.iter(f"{{{NS_UPLOAD}}}header")}
            return put.get("url"), headers, get.get("url")

    put_url, put_headers, get_url = run(slot(), timeout)
    name, _, _, _ = _rewrite_url(target, put_url)
    assert name == service, f"upload URL on {name}, not on the component {service}"
    status, _, body = https_request(target, "PUT", put_url, body=data, timeout=timeout, headers={
        **put_headers, "Content-Type": "application/octet-stream", "Content-Length": str(size)})
    assert status in (200, 201), f"PUT {put_url}: HTTP {status} {body[:200]!r}"
    digest = hashlib.sha256(data).hexdigest()
    check_download(target, get_url, digest, size, timeout=timeout)
    return get_url, digest


def check_download(target, url, sha256, size, timeout=DEFAULT_TIMEOUT):
    """The uploaded file at ``url`` comes back over HTTPS byte-identical."""
    status, _, body = https_request(target, "GET", url, timeout=timeout)
    assert status == 200, f"GET {url}: HTTP {status}"
    assert len(body) == size and hashlib.sha256(body).hexdigest() == sha256, "the file changed"


def upload_slot_refusal(target, user, size, timeout=DEFAULT_TIMEOUT):
    """A slot request for ``size`` bytes that the server must refuse: (error condition, the
    error's max-file-size if it says file-too-large, else None, the error's text)."""
    service = target.components["http_file_share"]

    async def body():
        async with session(target, user, presence=False) as s:
            try:
                reply = await _request_slot(s, service, f"eldwyn-{_token()}.bin", size)
            except IqError as error:
                too_large = error.iq.xml.find(f".//{{{NS_UPLOAD}}}file-too-large")
                limit = too_large.findtext(f"{{{NS_UPLOAD}}}max-file-size") if too_large is not None else None
                return error.condition, limit, error.text
            raise AssertionError(f"a slot for {size} bytes was granted: {reply}")
    return run(body(), timeout)


def check_upload_too_large(target, user, size, timeout=DEFAULT_TIMEOUT):
    """A slot request declaring more than the limit is refused (file-too-large)."""
    condition, limit, _ = upload_slot_refusal(target, user, size, timeout)
    assert condition == "not-acceptable", condition
    return condition, limit


def check_proxy65(target, user, timeout=DEFAULT_TIMEOUT):
    """The proxy65 component announces a streamhost on its announced port (5000), and that
    port speaks SOCKS5."""
    proxy = target.components["proxy65"]

    async def body():
        async with session(target, user, presence=False) as s:
            iq = s.xmpp.make_iq_get(ito=proxy)
            iq.append(SET.Element(f"{{{NS_BYTESTREAMS}}}query"))
            reply = await iq.send(timeout=STEP_TIMEOUT)
            return [dict(host.attrib) for host in reply.xml.iter(f"{{{NS_BYTESTREAMS}}}streamhost")]
    hosts = run(body(), timeout)
    assert hosts, "no streamhost announced"
    host = hosts[0]
    assert host.get("jid") == proxy, host
    assert int(host.get("port", 0)) == target.announced_ports["proxy65"], host
    with socket.create_connection((target.address, target.dial(int(host["port"]))), timeout=10) as sock:
        sock.settimeout(10)
        sock.sendall(b"\x05\x01\x00")  # SOCKS5, one method: no authentication
        assert _recv_exactly(sock, 2) == b"\x05\x00", "the proxy65 port does not speak SOCKS5"
    return host


def check_pubsub(target, publisher, reader, timeout=DEFAULT_TIMEOUT):
    """On the pubsub component ``publisher`` creates a node and publishes an item, ``reader``
    fetches it back; the node is deleted at the end."""
    service = slixmpp.JID(target.components["pubsub"])

    async def body():
        node = f"eldwyn-test-{_token()}"
        text = f"pubsub item {_token()}"
        async with session(target, publisher, presence=False) as p:
            pubsub = p.xmpp.plugin["xep_0060"]
            await pubsub.create_node(service, node, timeout=STEP_TIMEOUT)
            try:
                payload = SET.Element("{urn:eldwyn:test}entry")
                payload.text = text
                await pubsub.publish(service, node, id="item-1", payload=payload, timeout=STEP_TIMEOUT)
                async with session(target, reader, presence=False) as r:
                    reply = await r.xmpp.plugin["xep_0060"].get_item(service, node, "item-1", timeout=STEP_TIMEOUT)
                found = [element.text for element in reply.xml.iter("{urn:eldwyn:test}entry")]
                assert found == [text], found
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.delete_node(service, node, timeout=STEP_TIMEOUT)
        return node
    return run(body(), timeout)


async def _refusal(request):
    """The error condition of an IQ that must fail (AssertionError if it succeeds)."""
    try:
        await request
    except IqError as error:
        return error.condition
    raise AssertionError("the server allowed it")


def check_pubsub_for_members(target, owner, other, admin, timeout=DEFAULT_TIMEOUT):
    """On the pubsub component, as a member of the realm: ``owner`` creates a node and
    publishes; ``other`` subscribes and gets the next item, but may neither delete nor
    reconfigure the node; ``admin`` deletes it; ``owner`` deletes a node of their own.
    Returns the conditions of ``other``'s refusals."""
    service = slixmpp.JID(target.components["pubsub"])

    async def body():
        node, own = f"eldwyn-member-{_token()}", f"eldwyn-own-{_token()}"
        async with session(target, owner) as o, session(target, other) as x, \
                session(target, admin, presence=False) as a:
            mine, theirs = o.xmpp.plugin["xep_0060"], x.xmpp.plugin["xep_0060"]
            await mine.create_node(service, node, timeout=STEP_TIMEOUT)
            try:
                await theirs.subscribe(service, node, timeout=STEP_TIMEOUT)
                text = f"for subscribers {_token()}"
                got = x.waiter("pubsub_publish", lambda m: m["pubsub_event"]["items"]["node"] == node)
                payload = SET.Element("{urn:eldwyn:test}entry")
                payload.text = text
                await mine.publish(service, node, payload=payload, timeout=STEP_TIMEOUT)
                event = await asyncio.wait_for(got, STEP_TIMEOUT)
                assert text in [e.text for e in event.xml.iter("{urn:eldwyn:test}entry")], event
                refused = {
                    "delete": await _refusal(theirs.delete_node(service, node, timeout=STEP_TIMEOUT)),
                    "configure": await _refusal(theirs.set_node_config(
                        service, node, mine.xmpp.plugin["xep_0004"].make_form(ftype="submit"), timeout=STEP_TIMEOUT)),
                }
                await a.xmpp.plugin["xep_0060"].delete_node(service, node, timeout=STEP_TIMEOUT)
            finally:
                with contextlib.suppress(Exception):
                    await mine.delete_node(service, node, timeout=STEP_TIMEOUT)
            await mine.create_node(service, own, timeout=STEP_TIMEOUT)
            await mine.delete_node(service, own, timeout=STEP_TIMEOUT)
            return refused
    return run(body(), timeout)


def pubsub_create_refusal(target, user, service, timeout=DEFAULT_TIMEOUT):
    """The error condition when ``user`` (e.g. of another server) tries to create a node on
    the pubsub ``service``."""
    async def body():
        async with session(target, user, presence=False) as s:
            return await _refusal(s.xmpp.plugin["xep_0060"].create_node(
                slixmpp.JID(service), f"eldwyn-guest-{_token()}", timeout=STEP_TIMEOUT + 25))
    return run(body(), timeout)


def check_vcard4(target, owner, reader, timeout=DEFAULT_TIMEOUT):
    """``owner`` publishes a vCard4 (XEP-0292 IQ, mod_vcard4); ``owner`` and ``reader`` (a
    contact, e.g. through the shared roster) fetch it back."""
    async def body():
        note = f"vcard {_token()}"

        def vcard_element():
            vcard = SET.Element(f"{{{NS_VCARD4}}}vcard")
            fn = SET.SubElement(vcard, f"{{{NS_VCARD4}}}fn")
            SET.SubElement(fn, f"{{{NS_VCARD4}}}text").text = "Eldwyn Test"
            entry = SET.SubElement(vcard, f"{{{NS_VCARD4}}}note")
            SET.SubElement(entry, f"{{{NS_VCARD4}}}text").text = note
            return vcard

        async def fetch(s, jid):
            iq = s.xmpp.make_iq_get(ito=jid)
            iq.append(SET.Element(f"{{{NS_VCARD4}}}vcard"))
            reply = await iq.send(timeout=STEP_TIMEOUT)
            return [e.text for e in reply.xml.iter(f"{{{NS_VCARD4}}}text")]

        async with session(target, owner) as o:
            iq = o.xmpp.make_iq_set()
            iq.append(vcard_element())
            await iq.send(timeout=STEP_TIMEOUT)
            assert note in await fetch(o, owner), "the owner cannot read the vCard back"
            async with session(target, reader) as r:
                texts = await fetch(r, owner)
                assert note in texts, f"{reader} got {texts}"
        return note
    return run(body(), timeout)


def check_shared_roster(target, member, group, others, timeout=DEFAULT_TIMEOUT):
    """``member``'s roster lists every JID of ``others`` in the shared ``group`` (mod_groups)."""
    async def body():
        async with session(target, member, presence=False) as s:
            await s.xmpp.get_roster(timeout=STEP_TIMEOUT)
            roster = s.xmpp.client_roster
            return {jid: sorted(roster[jid]["groups"]) for jid in roster if jid != member}
    roster = run(body(), timeout)
    for jid in others:
        assert group in roster.get(jid, []), f"{jid} not in group {group!r} of {member}'s roster: {roster}"
    return roster


def check_contact_info(target, user, timeout=DEFAULT_TIMEOUT):
    """XEP-0157 on the realm: the serverinfo form's admin-addresses are exactly the admins."""
    async def body():
        async with session(target, user, presence=False) as s:
            info = await s.xmpp.plugin["xep_0030"].get_info(jid=target.realm, timeout=STEP_TIMEOUT)
            for form in info["disco_info"].xml.iter("{jabber:x:data}x"):
                values = {}
                for fld in form.iter("{jabber:x:data}field"):
                    values[fld.get("var")] = [v.text for v in fld.iter("{jabber:x:data}value")]
                if values.get("FORM_TYPE") == [SERVERINFO]:
                    return values
            raise AssertionError("no XEP-0157 serverinfo form in the realm's disco#info")
    values = run(body(), timeout)
    admins = sorted(values.get("admin-addresses", []))
    assert admins == sorted(f"xmpp:{jid}" for jid in target.admins), admins
    return values


# ---------------------------------------------------------------------------------------------
# Raw HTTP(S), BOSH, websocket

class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to ``address:port`` with SNI and certificate check for ``host``."""

    def __init__(self, address, host, port, **kwargs):
        super().__init__(host, port, **kwargs)
        self._address = address

    def connect(self):
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def https_request(target, method, url, body=None, headers=None, timeout=DEFAULT_TIMEOUT):
    """``method url`` over HTTPS dialled at the target, with the URL's host in SNI and Host
    and its announced port mapped to the dialled one. Returns (status, headers, body bytes)."""
    name, port, host_header, path = _rewrite_url(target, url)
    connection = _PinnedHTTPSConnection(target.address, name, port, timeout=timeout,
                                        context=ssl_context(target))
    try:
        connection.request(method, path, body=body, headers={"Host": host_header, **(headers or {})})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def _http_request(target, method, path, host, body=None, headers=None, timeout=DEFAULT_TIMEOUT):
    """Plain HTTP on the target's http port with ``host`` as Host header."""
    connection = http.client.HTTPConnection(target.address, target.port("http"), timeout=timeout)
    try:
        connection.request(method, path, body=body, headers={"Host": host, **(headers or {})})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def _bosh_body(target):
    rid = int.from_bytes(os.urandom(4), "big")
    return (f"<body rid='{rid}' xmlns='{NS_BOSH}' to='{target.realm}' xml:lang='en' wait='10'"
            " hold='1' ver='1.6' xmpp:version='1.0' xmlns:xmpp='urn:xmpp:xbosh'/>").encode()


def check_bosh(target, secure=True, timeout=DEFAULT_TIMEOUT):
    """A BOSH session at /http-bind (HTTPS with SNI = realm, or plain HTTP) gets stream
    features; over HTTPS they offer SCRAM."""
    headers = {"Content-Type": "text/xml; charset=utf-8"}
    announced = target.announced_ports["https" if secure else "http"]
    if secure:
        url = f"https://{target.realm}:{announced}/http-bind"
        status, _, body = https_request(target, "POST", url, _bosh_body(target), headers, timeout)
    else:
        status, _, body = _http_request(target, "POST", "/http-bind", f"{target.realm}:{announced}",
                                        _bosh_body(target), headers, timeout)
    assert status == 200, f"BOSH: HTTP {status} {body[:300]!r}"
    root = ET.fromstring(body)
    assert root.tag == f"{{{NS_BOSH}}}body" and root.get("sid"), body[:300]
    features = root.find(f"{{{NS_STREAM}}}features")
    assert features is not None, f"no stream features in the BOSH session creation: {body[:500]!r}"
    mechanisms = [m.text for m in features.iter(f"{{{NS_SASL}}}mechanism")]
    if secure:
        assert any(m.startswith("SCRAM-") for m in mechanisms), mechanisms
    return mechanisms


def _recv_exactly(sock, count):
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise AssertionError(f"connection closed after {len(data)} of {count} bytes")
        data += chunk
    return data


def _ws_send_text(sock, text):
    payload = text.encode()
    mask = os.urandom(4)
    header = bytes([0x81])  # FIN, text frame
    if len(payload) < 126:
        header += bytes([0x80 | len(payload)])
    elif len(payload) < 65536:
        header += bytes([0x80 | 126]) + struct.pack("!H", len(payload))
    else:
        header += bytes([0x80 | 127]) + struct.pack("!Q", len(payload))
    sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))


def _ws_recv(sock):
    """One frame: (opcode, payload bytes). Server frames are not masked."""
    first, second = _recv_exactly(sock, 2)
    length = second & 0x7F
    if length == 126:
        length = struct.unpack("!H", _recv_exactly(sock, 2))[0]
    elif length == 127:
        length = struct.unpack("!Q", _recv_exactly(sock, 8))[0]
    mask = _recv_exactly(sock, 4) if second & 0x80 else None
    payload = _recv_exactly(sock, length)
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return first & 0x0F, payload


def check_websocket(target, timeout=DEFAULT_TIMEOUT):
    """RFC 7395 over HTTPS (SNI = realm) at /xmpp-websocket: upgrade with the 'xmpp'
    subprotocol, <open/>, and the server's <open/> then <stream:features/> with SCRAM."""
    key = base64.b64encode(os.urandom(16)).decode()
    announced = target.announced_ports["https"]
    raw = socket.create_connection((target.address, target.port("https")), timeout=timeout)
    with ssl_context(target).wrap_socket(raw, server_hostname=target.realm) as sock:
        sock.settimeout(timeout)
        sock.sendall((
            "GET /xmpp-websocket HTTP/1.1\r\n"
            f"Host: {target.realm}:{announced}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Protocol: xmpp\r\n\r\n").encode())
        response = b""
        while b"\r\n\r\n" not in response:
            chunk = sock.recv(4096)
            assert chunk, f"closed during the websocket handshake: {response!r}"
            response += chunk
        head = response.split(b"\r\n\r\n", 1)[0].decode("latin-1")
        assert head.startswith("HTTP/1.1 101"), head
        accept = base64.b64encode(hashlib.sha1(
            (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
        fields = {k.strip().lower(): v.strip() for k, _, v in
                  (line.partition(":") for line in head.split("\r\n")[1:])}
        assert fields.get("sec-websocket-accept") == accept, head
        assert fields.get("sec-websocket-protocol") == "xmpp", head
        _ws_send_text(sock, f'<open xmlns="{NS_FRAMING}" to="{target.realm}" version="1.0"/>')
        frames = []
        while len(frames) < 2:
            opcode, payload = _ws_recv(sock)
            assert opcode != 0x8, f"the server closed the websocket: {payload!r}"
            if opcode == 0x1:
                frames.append(ET.fromstring(payload))
        assert frames[0].tag == f"{{{NS_FRAMING}}}open", frames[0].tag
        assert frames[1].tag == f"{{{NS_STREAM}}}features", frames[1].tag
        mechanisms = [m.text for m in frames[1].iter(f"{{{NS_SASL}}}mechanism")]
        assert any(m.startswith("SCRAM-") for m in mechanisms), mechanisms
        _ws_send_text(sock, f'<close xmlns="{NS_FRAMING}"/>')
        return mechanisms


# ---------------------------------------------------------------------------------------------
# TLS per name

@contextlib.contextmanager
def _starttls_socket(target, service, name, namespace, timeout=20):
    """A stream to ``name`` on ``service`` (c2s or s2s) after STARTTLS, the chain verified: the
    TLS socket, for the caller to open its stream on."""
    raw = socket.create_connection((target.address, target.port(service)), timeout=timeout)
    raw.settimeout(timeout)
    try:
        extra = " from='eldwyn-test.invalid'" if service == "s2s" else ""
        raw.sendall(_stream_header(name, namespace, extra))
        received = _read_features(raw, f"{service} {name}")
        assert f"xmlns='{NS_TLS}'".encode() in received or f'xmlns="{NS_TLS}"'.encode() in received, \
            f"{service} {name}: STARTTLS not offered: {received[:500]!r}"
        raw.sendall(f"<starttls xmlns='{NS_TLS}'/>".encode())
        answer = b""
        while b"proceed" not in answer:
            chunk = raw.recv(4096)
            assert chunk and b"failure" not in answer + chunk, f"{service} {name}: {answer + chunk!r}"
            answer += chunk
        with ssl_context(target).wrap_socket(raw, server_hostname=name) as tls:
            yield tls
    finally:
        raw.close()


def _stream_header(name, namespace, extra=""):
    return (f"<?xml version='1.0'?><stream:stream to='{name}'{extra} xmlns='{namespace}'"
            f" xmlns:stream='{NS_STREAM}' version='1.0'>").encode()


def _read_features(sock, what):
    """What the server sent up to the end of its stream features."""
    received = b""
    while b"</stream:features>" not in received and b"<stream:features/>" not in received:
        chunk = sock.recv(4096)
        if not chunk or b"<stream:error" in received + chunk:
            raise AssertionError(f"{what}: no features: {(received + chunk)[:500]!r}")
        received += chunk
    return received


def _starttls(target, service, name, namespace, timeout=20):
    """Open a stream to ``name`` on ``service`` (c2s or s2s), STARTTLS, verify the chain."""
    with _starttls_socket(target, service, name, namespace, timeout) as tls:
        return _peer(tls, name)


NS_IQ_AUTH = "jabber:iq:auth"
NS_IQ_AUTH_FEATURE = "http://jabber.org/features/iq-auth"


def check_legacy_auth(target, jid, password=None, timeout=20):
    """XEP-0078 (non-SASL) authentication, as the bots the operators' page mentions log in:
    over TLS, the server must advertise it, and answer the credentials. Returns "result" for an
    accepted login, else the error's condition (e.g. "not-authorized"). (slixmpp's xep_0078
    only runs when the server offers no SASL, and takes an error for a success.)"""
    user = jid.split("@")[0]
    password = target.password(jid) if password is None else password
    with _starttls_socket(target, "c2s", target.realm, "jabber:client", timeout) as tls:
        tls.sendall(_stream_header(target.realm, "jabber:client"))
        features = _read_features(tls, f"c2s {target.realm} after TLS")
        assert NS_IQ_AUTH_FEATURE.encode() in features, f"XEP-0078 is not offered: {features[:800]!r}"
        fields = ET.fromstring(_iq_exchange(tls, "get", f"<username>{escape(user)}</username>"))
        query = fields.find(f"{{{NS_IQ_AUTH}}}query")
        assert query is not None and query.find(f"{{{NS_IQ_AUTH}}}password") is not None, ET.tostring(fields)
        answer = ET.fromstring(_iq_exchange(tls, "set", f"<username>{escape(user)}</username>"
                                                        f"<password>{escape(password)}</password>"
                                                        "<resource>legacy-bot</resource>"))
        if answer.get("type") == "result":
            return "result"
        error = answer.find("{jabber:client}error")
        assert error is not None and len(error), ET.tostring(answer)
        return error[0].tag.split("}")[-1]


def _iq_exchange(sock, kind, query):
    """Sends an iq of ``kind`` with a jabber:iq:auth ``query`` and returns its answer's XML
    (the stream's namespace declared, so that it parses alone)."""
    ident = uuid.uuid4().hex
    sock.sendall(f"<iq type='{kind}' id='{ident}'><query xmlns='{NS_IQ_AUTH}'>{query}</query></iq>".encode())
    received = b""
    while True:
        chunk = sock.recv(4096)
        assert chunk, f"the server closed the stream: {received[:500]!r}"
        received += chunk
        text = received.decode("utf-8", "replace")
        start = text.find("<iq")
        if start >= 0 and ident in text and (text.endswith("</iq>") or text.rstrip().endswith("/>")):
            body = text[start:]
            return body.replace("<iq", "<iq xmlns='jabber:client'", 1) if "xmlns=" not in body.split(">", 1)[0] else body


def check_tls_c2s(target, name):
    """c2s STARTTLS for ``name``; the chain verifies against the CA for that name."""
    return _starttls(target, "c2s", name, "jabber:client")


def check_c2s_refuses_component(target, name, timeout=20):
    """Components are not client hosts: a c2s stream to ``name`` ends with host-unknown
    (before TLS, so their certificates are proven on s2s and HTTPS instead)."""
    with socket.create_connection((target.address, target.port("c2s")), timeout=timeout) as raw:
        raw.settimeout(timeout)
        raw.sendall((f"<?xml version='1.0'?><stream:stream to='{name}' xmlns='jabber:client'"
                     f" xmlns:stream='{NS_STREAM}' version='1.0'>").encode())
        received = b""
        while b"</stream:stream>" not in received:
            chunk = raw.recv(4096)
            if not chunk:
                break
            received += chunk
    assert b"<host-unknown" in received, f"c2s to {name}: {received[:500]!r}"
    return "host-unknown"


def check_tls_s2s(target, name):
    """s2s STARTTLS on a jabber:server stream to ``name``; chain verified for that name."""
    return _starttls(target, "s2s", name, "jabber:server")


def check_tls_https(target, name, port=None, timeout=20):
    """HTTPS with SNI = ``name`` (on Prosody's HTTPS port unless ``port``): the chain verifies
    against the CA for that name."""
    raw = socket.create_connection((target.address, port or target.port("https")), timeout=timeout)
    with ssl_context(target).wrap_socket(raw, server_hostname=name) as tls:
        return _peer(tls, name)


def _peer(tls, name):
    """What a verified TLS connection to ``name`` showed: names, version, certificate's sha256."""
    names = _peer_names(tls)
    assert name in names, names
    return {"names": names, "tls": tls.version(),
            "sha256": hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest()}


# ---------------------------------------------------------------------------------------------

def quick_checks(target, user, peer):
    """The quick subset (e.g. after a reboot): login, a message, an upload fetched back."""
    return {
        "login": check_login(target, user),
        "message": check_message(target, user, peer),
        "upload": check_upload(target, user, size=64 * 1024),
    }


def target_from_json(path):
    """A Target for a development server, from a JSON file: {"address": "127.0.0.1",
    "ports": {service: port}, "secrets_dir": "...", "data": {group-data overrides}}; the data
    is group_data/all.py with the overrides, and the CA is the secret ``ca.crt``."""
    import runpy

    from eldwyn import pki
    from eldwyn.config import load_config
    from eldwyn.secrets import SecretsStore

    spec = json.loads(Path(path).read_text())
    repo = Path(__file__).resolve().parent.parent
    data = {key: value for key, value in runpy.run_path(str(repo / "group_data" / "all.py")).items()
            if not key.startswith("_")}
    data.update(spec.get("data", {}))
    config = load_config(data, environ={"ELDWYN_SECRETS_DIR": spec["secrets_dir"]})
    store = SecretsStore(config.secrets.dir)
    return target_from_config(config, spec["address"], spec["ports"],
                              store.path(pki.CA_CERT_SECRET), store)


def check_session_survives(target, sender, recipient, action, timeout=DEFAULT_TIMEOUT):
    """``sender`` and ``recipient`` exchange a message, ``action()`` (blocking) runs, and the
    same two sessions exchange another one: nothing in between logged them out. Returns what
    ``action`` returned."""
    async def exchange(s, receiver):
        text = f"still here {_token()}"
        got = receiver.waiter("message", lambda m: m["body"] == text)
        s.xmpp.send_message(mto=receiver.jid.bare, mbody=text, mtype="chat")
        await asyncio.wait_for(got, STEP_TIMEOUT)

    async def body():
        async with session(target, recipient) as receiver, session(target, sender) as s:
            await exchange(s, receiver)
            done = await asyncio.to_thread(action)
            await exchange(s, receiver)
            await exchange(receiver, s)
            return done
    return run(body(), timeout)


def storm_through_crash(target, sender, recipient, crash, after=100, batch=10, limit=3000, timeout=300):
    """``sender`` sends numbered messages ("<prefix> <n>") to ``recipient`` as fast as the server
    takes them, in batches of ``batch`` each followed by a ping. A message counts as acknowledged
    once the ping sent after it is answered: Prosody handles a session's stanzas in order, and
    archives each message (a synchronous SQLite write) before it handles the next stanza.
    Once ``after`` are acknowledged, ``crash`` (a blocking callable) runs in a thread while the
    storm goes on, until the connection dies or ``limit`` messages are sent.
    Returns (prefix, acknowledged, sent): messages 0..acknowledged-1 were acknowledged."""
    prefix = f"storm-{_token()}"

    async def body():
        acknowledged = sent = 0
        crashing = None
        async with session(target, sender, presence=False) as s:
            try:
                while sent < limit:
                    for _ in range(batch):
                        s.xmpp.send_message(mto=recipient, mbody=f"{prefix} {sent}", mtype="chat")
                        sent += 1
                    await asyncio.wait_for(s.roundtrip(), STEP_TIMEOUT)
                    acknowledged = sent
                    if crashing is None and acknowledged >= after:
                        crashing = asyncio.ensure_future(asyncio.to_thread(crash))
            except Exception:  # the connection died with the server: the storm ends here
                pass
            assert crashing is not None, f"the storm ended after {acknowledged} acknowledged messages, before the crash"
            await crashing
        return prefix, acknowledged, sent
    return run(body(), timeout)

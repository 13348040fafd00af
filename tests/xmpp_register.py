"""Invite-based registration over raw XMPP (standard library only), for tests.

A deliberately low-level client: it does exactly what it is told, in the order it is told,
on one stream, so tests can do what a hostile client would (register twice on one stream,
register without a token, replay a token on a new stream). Nothing here retries or hides an
error: every IQ answer comes back as a ``Reply``.

    with RawStream(target) as s:              # TCP, stream header, STARTTLS (verified), restart
        s.preauth(token)                      # <preauth xmlns='urn:xmpp:pars:0' token=.../>
        s.register("alice", "secret")         # XEP-0077 set (username + password)

Invites come from Prosody's admin shell (``prosodyctl shell invite ...``) through ``run``, a
callable that runs one shell command as root where Prosody runs and returns its stdout: on the
test-bed VM ``vm.check_output`` (testinfra), on a development chroot a local command.

Every socket operation is bounded by ``timeout`` seconds (default 20).
"""

import base64
import re
import shlex
import socket
import ssl
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

NS_STREAM = "http://etherx.jabber.org/streams"
NS_CLIENT = "jabber:client"
NS_TLS = "urn:ietf:params:xml:ns:xmpp-tls"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
NS_REGISTER = "jabber:iq:register"
NS_PREAUTH = "urn:xmpp:pars:0"
NS_IBR_TOKEN = "urn:xmpp:ibr-token:0"
NS_REGISTER_FEATURE = "http://jabber.org/features/iq-register"
TIMEOUT = 20

# A token as Prosody 13 makes them (util.id.medium: 12 random bytes, URL-safe base64).
_TOKEN = r"[A-Za-z0-9_-]{8,64}"


class StreamClosed(AssertionError):
    """The server closed the stream (or sent a stream error) while we waited for something."""


@dataclass(frozen=True)
class Reply:
    """An IQ answer: ``ok`` for type result; else the error's type, condition and text."""

    ok: bool
    error_type: str | None = None
    condition: str | None = None
    text: str | None = None
    xml: str = field(default="", repr=False)

    def __str__(self):
        if self.ok:
            return "result"
        return f"error {self.error_type}/{self.condition}" + (f" ({self.text})" if self.text else "")


def _reply(element):
    xml = ET.tostring(element, encoding="unicode")
    if element.get("type") == "result":
        return Reply(ok=True, xml=xml)
    error = element.find(f"{{{NS_CLIENT}}}error")
    if error is None:
        return Reply(ok=False, xml=xml)
    condition = next((child.tag.split("}")[1] for child in error
                      if child.tag.startswith(f"{{{NS_STANZAS}}}") and not child.tag.endswith("}text")), None)
    text = error.findtext(f"{{{NS_STANZAS}}}text")
    return Reply(ok=False, error_type=error.get("type"), condition=condition, text=text, xml=xml)


def ssl_context(ca_file):
    """Trusts only ``ca_file``, checks the host name, TLS 1.2 or later."""
    context = ssl.create_default_context(cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


class RawStream:
    """One c2s stream to ``target.realm`` at ``target.address``:c2s port, secured by STARTTLS
    (chain verified against ``target.ca_file`` for the realm) before anything else is sent.

    ``source_address`` binds the client side (e.g. "127.0.0.2" to be someone other than
    loopback's 127.0.0.1, which Prosody's registration throttle exempts)."""

    def __init__(self, target, timeout=TIMEOUT, source_address=None):
        self.target = target
        self.timeout = timeout
        self.source_address = source_address
        self.sock = None
        self.features = None
        self._parser = None
        self._depth = 0
        self._ids = 0

    # -- stream plumbing ------------------------------------------------------------------
    def __enter__(self):
        self.open()
        return self

    def __exit__(self, *exc):
        self.close()

    def open(self):
        source = (self.source_address, 0) if self.source_address else None
        self.sock = socket.create_connection((self.target.address, self.target.port("c2s")),
                                             timeout=self.timeout, source_address=source)
        self.sock.settimeout(self.timeout)
        self._start_stream()
        if self.features.find(f"{{{NS_TLS}}}starttls") is None:
            raise AssertionError("the server offers no STARTTLS")
        self._send(f"<starttls xmlns='{NS_TLS}'/>")
        answer = self._next()
        if answer.tag != f"{{{NS_TLS}}}proceed":
            raise AssertionError(f"STARTTLS refused: {ET.tostring(answer)!r}")
        self.sock = ssl_context(self.target.ca_file).wrap_socket(
            self.sock, server_hostname=self.target.realm)
        self._start_stream()
        return self

    def close(self):
        if self.sock is None:
            return
        try:
            self.sock.sendall(b"</stream:stream>")
        except OSError:
            pass
        finally:
            self.sock.close()
            self.sock = None

    def _send(self, text):
        self.sock.sendall(text.encode("utf-8"))

    def _start_stream(self):
        self._parser = ET.XMLPullParser(events=("start", "end"))
        self._depth = 0
        self._send(f"<?xml version='1.0'?><stream:stream to='{self.target.realm}' version='1.0'"
                   f" xmlns='{NS_CLIENT}' xmlns:stream='{NS_STREAM}'>")
        self.features = self._next()
        if self.features.tag != f"{{{NS_STREAM}}}features":
            raise AssertionError(f"expected stream features, got {ET.tostring(self.features)!r}")

    def _next(self):
        """The next complete top-level element of the stream (blocking, bounded)."""
        while True:
            for event, element in self._parser.read_events():
                if event == "start":
                    self._depth += 1
                    continue
                self._depth -= 1
                if self._depth == 0:  # </stream:stream>
                    raise StreamClosed("the server closed the stream")
                if self._depth == 1:
                    if element.tag == f"{{{NS_STREAM}}}error":
                        raise StreamClosed(f"stream error: {ET.tostring(element, encoding='unicode')}")
                    return element
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                raise AssertionError(f"no answer from the server within {self.timeout} s") from None
            if not data:
                raise StreamClosed("the server closed the connection")
            self._parser.feed(data)

    def iq(self, type_, payload):
        """Send ``<iq type=type_>payload</iq>`` and return the ``Reply`` with the same id."""
        self._ids += 1
        stanza_id = f"r{self._ids}-{uuid.uuid4().hex[:6]}"
        self._send(f"<iq type='{type_}' id='{stanza_id}'>{payload}</iq>")
        while True:
            element = self._next()
            if element.tag == f"{{{NS_CLIENT}}}iq" and element.get("id") == stanza_id:
                return _reply(element)

    # -- what tests use -------------------------------------------------------------------
    def offers(self, namespace, name):
        return self.features.find(f"{{{namespace}}}{name}") is not None

    def preauth(self, token):
        return self.iq("set", f"<preauth xmlns='{NS_PREAUTH}' token={_attr(token)}/>")

    def register(self, username, password):
        """A plain XEP-0077 registration set (the legacy username/password fields)."""
        return self.iq("set", f"<query xmlns='{NS_REGISTER}'><username>{_text(username)}</username>"
                              f"<password>{_text(password)}</password></query>")

    def login(self, username, password):
        """SASL PLAIN (over the TLS of this stream); True on <success/>, False on <failure/>."""
        mechanisms = [m.text for m in self.features.iter(f"{{{NS_SASL}}}mechanism")]
        if "PLAIN" not in mechanisms:
            raise AssertionError(f"SASL PLAIN not offered over TLS: {mechanisms}")
        blob = base64.b64encode(f"\0{username}\0{password}".encode()).decode()
        self._send(f"<auth xmlns='{NS_SASL}' mechanism='PLAIN'>{blob}</auth>")
        answer = self._next()
        return answer.tag == f"{{{NS_SASL}}}success"


def _attr(value):
    return "'" + value.replace("&", "&amp;").replace("<", "&lt;").replace("'", "&apos;") + "'"


def _text(value):
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def register_with_invite(target, token, username, password, **stream_options):
    """Preauth with ``token`` then register, on one fresh stream: (preauth Reply, register Reply)."""
    with RawStream(target, **stream_options) as stream:
        first = stream.preauth(token)
        return first, stream.register(username, password)


def can_login(target, username, password, **stream_options):
    """Whether ``username``/``password`` authenticates on the realm (SASL PLAIN over TLS)."""
    with RawStream(target, **stream_options) as stream:
        return stream.login(username, password)


def new_username(prefix="reg"):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def new_password():
    return f"pw-{uuid.uuid4().hex}"


# ---------------------------------------------------------------------------------------------
# Prosody's admin shell, through ``run(command) -> stdout`` (root where Prosody runs)

def _prosodyctl(run, *args):
    return run("prosodyctl shell " + " ".join(shlex.quote(arg) for arg in args))


def _token_from(output):
    match = re.search(rf"(?:preauth=|/join/)({_TOKEN})", output)
    if not match:
        raise AssertionError(f"no invite token in prosodyctl's output: {output!r}")
    return match.group(1)


def create_invite(run, realm, username=None, expires_after="1h"):
    """A fresh account invite (for ``username`` only, if given); returns its token."""
    jid = f"{username}@{realm}" if username else realm
    return _token_from(_prosodyctl(run, "invite", "create_account", jid, "--expires-after", expires_after))


def create_reset(run, realm, username, expires_after="1h"):
    """A password-reset invite for the existing account ``username``; returns its token."""
    return _token_from(_prosodyctl(run, "invite", "create_reset", f"{username}@{realm}",
                                   "--expires-after", expires_after))


def invite_is_pending(run, realm, token):
    """Whether ``token`` is still a valid, unused account invite (``invite list``)."""
    return token in _prosodyctl(run, "invite", "list", realm)


def accounts(run, realm):
    """The set of user names on ``realm`` (``user list``)."""
    output = _prosodyctl(run, "user", "list", realm)
    return {line.strip().split("@")[0] for line in output.splitlines()
            if line.strip().endswith("@" + realm)}

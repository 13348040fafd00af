"""The sign-up service's side of Prosody: check an invite, register with it, make one.

Standard library only (it runs on the host from Debian packages). Prosody stays the only
judge of invites: the service keeps no list of its own.

* ``check_invite(token)``: on a fresh c2s stream, STARTTLS (chain verified against the CA for
  the realm) then ``<preauth xmlns='urn:xmpp:pars:0' token=.../>`` (XEP-0401). Prosody only
  looks the token up: the preauth does not use the invite up, and nothing is registered.
* ``register(token, username, password)``: the same preauth, then a XEP-0077 registration, on
  one stream, then the stream is closed. Prosody (with Eldwyn's mod_invites_register_strict)
  spends the invite on the first account it creates. Returns a ``Result`` whose ``value`` is
  "ok", "invalid_token", "username_taken", "invalid_username", "policy" (throttled or refused
  by the server's policy) or "other".
* ``create_invite()``: a fresh account invite from mod_invites_api (prosody-modules), over
  plain HTTP on loopback: ``GET /invites_api`` with ``Host: <realm>`` and the API key as a
  Bearer token; Prosody answers 201 with the invite's link in ``Location``. Returns the token.

Server-side failures that say nothing about the user's input (connection refused, TLS not
verified, timeouts, a closed stream, an HTTP error) raise ``RegistrarError``; the password is
never sent unless TLS is up and verified. Nothing here logs tokens, passwords or keys.
"""

import http.client
import re
import socket
import ssl
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from urllib.parse import urlsplit

NS_STREAM = "http://etherx.jabber.org/streams"
NS_CLIENT = "jabber:client"
NS_TLS = "urn:ietf:params:xml:ns:xmpp-tls"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
NS_REGISTER = "jabber:iq:register"
NS_PREAUTH = "urn:xmpp:pars:0"

DEFAULT_TIMEOUT = 10  # seconds for one whole exchange (connect, TLS, preauth, register)
INVITES_API_KEY = "invites-api-key"  # the credential holding mod_invites_api's key
# The invites API's URL comes from the settings (derived from xmpp_ports by the deploy): plain
# HTTP on loopback, so the key never leaves the host; the key goes in the Authorization header
# (a query string may end up in logs).
_TOKEN = re.compile(r"[A-Za-z0-9_-]{6,200}\Z")  # Prosody's tokens: base64url


class RegistrarError(Exception):
    """Prosody could not be asked (not: Prosody said no). The message holds no secret."""


@dataclass(frozen=True)
class Result:
    """What ``register`` got: ``value`` is the kind; ``condition`` and ``text`` are Prosody's."""

    value: str
    condition: str | None = None
    text: str | None = None

    def __bool__(self):
        return self.value == "ok"

    def __str__(self):
        return self.value


OK = Result("ok")


def _classify(error_type, condition, text):
    """The kind of a registration refusal, from Prosody 13's answers (with our module):
    conflict: the name exists; modify/not-acceptable: the name is invalid (nodeprep) or not
    the one the invite names; cancel/not-acceptable: no invite on the stream; forbidden:
    the invite is invalid, expired, used or for a password reset; policy-violation (wait):
    the per-address throttle; forbidden about an IP address: the block/allow lists."""
    text = text or ""
    if condition == "conflict":
        return "username_taken"
    if condition == "not-acceptable":
        return "invalid_username" if error_type == "modify" else "invalid_token"
    if condition == "forbidden":
        return "policy" if "IP address" in text else "invalid_token"
    if condition in ("policy-violation", "resource-constraint"):
        return "policy"
    return "other"


def _xml_text(value):
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _xml_attr(value):
    return "'" + _xml_text(value).replace("'", "&apos;").replace('"', "&quot;") + "'"


class _Stream:
    """One c2s stream, secured by STARTTLS before anything else is sent."""

    def __init__(self, host, port, realm, context, timeout):
        self.realm = realm
        self.deadline = time.monotonic() + timeout
        self.sock = None
        try:
            self.sock = socket.create_connection((host, port), timeout=timeout)
            self._start()
            if self.features.find(f"{{{NS_TLS}}}starttls") is None:
                raise RegistrarError("the XMPP server offers no STARTTLS")
            self._send(f"<starttls xmlns='{NS_TLS}'/>")
            if self._next().tag != f"{{{NS_TLS}}}proceed":
                raise RegistrarError("the XMPP server refused STARTTLS")
            self.sock = context.wrap_socket(self.sock, server_hostname=realm)
            self._start()
        except (OSError, ssl.SSLError) as error:  # includes certificate verification failures
            self.close()
            raise RegistrarError(f"cannot reach the XMPP server securely: {type(error).__name__}: {error}") from None
        except BaseException:
            self.close()
            raise

    def _send(self, text):
        self.sock.sendall(text.encode("utf-8"))

    def _start(self):
        self._parser = ET.XMLPullParser(events=("start", "end"))
        self._depth = 0
        self._send(f"<?xml version='1.0'?><stream:stream to={_xml_attr(self.realm)} version='1.0'"
                   f" xmlns='{NS_CLIENT}' xmlns:stream='{NS_STREAM}'>")
        self.features = self._next()
        if self.features.tag != f"{{{NS_STREAM}}}features":
            raise RegistrarError("the XMPP server sent no stream features")

    def _next(self):
        while True:
            for event, element in self._parser.read_events():
                if event == "start":
                    self._depth += 1
                    continue
                self._depth -= 1
                if self._depth <= 0 or element.tag == f"{{{NS_STREAM}}}error":
                    raise RegistrarError("the XMPP server closed the stream")
                if self._depth == 1:
                    return element
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise RegistrarError("the XMPP server did not answer in time")
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                raise RegistrarError("the XMPP server did not answer in time") from None
            except OSError as error:
                raise RegistrarError(f"connection to the XMPP server lost: {type(error).__name__}") from None
            if not data:
                raise RegistrarError("the XMPP server closed the connection")
            try:
                self._parser.feed(data)
            except ET.ParseError:
                raise RegistrarError("the XMPP server sent malformed XML") from None

    def iq_set(self, payload):
        """Send an IQ set; return (error type, condition, text), or None for a result."""
        stanza_id = uuid.uuid4().hex
        try:
            self._send(f"<iq type='set' id='{stanza_id}'>{payload}</iq>")
        except OSError as error:
            raise RegistrarError(f"connection to the XMPP server lost: {type(error).__name__}") from None
        while True:
            element = self._next()
            if element.tag == f"{{{NS_CLIENT}}}iq" and element.get("id") == stanza_id:
                break
        if element.get("type") == "result":
            return None
        error = element.find(f"{{{NS_CLIENT}}}error")
        if error is None:
            return (None, None, None)
        condition = next((child.tag.split("}", 1)[1] for child in error
                          if child.tag.startswith(f"{{{NS_STANZAS}}}") and not child.tag.endswith("}text")), None)
        return error.get("type"), condition, error.findtext(f"{{{NS_STANZAS}}}text")

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

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Registrar:
    """Prosody for the sign-up service. ``realm``: the XMPP domain (stream ``to``, the name
    the certificate must carry, the invites API's Host). ``host``/``port``: where c2s is
    dialled. ``ca_file``: the CA that must verify the chain (None: the system's CAs).
    ``invites_api_url`` and ``invites_api_key``: mod_invites_api (a callable returning the key
    is fine too, so a key is read only when an invite is made)."""

    def __init__(self, realm, host="127.0.0.1", port=5222, ca_file=None,
                 invites_api_url=None, invites_api_key=None,
                 timeout=DEFAULT_TIMEOUT):
        self.realm = realm
        self.host = host
        self.port = port
        self.ca_file = ca_file
        self.invites_api_url = invites_api_url
        self._invites_api_key = invites_api_key
        self.timeout = timeout

    def __repr__(self):  # never the key
        return f"Registrar(realm={self.realm!r}, host={self.host!r}, port={self.port!r})"

    def _context(self):
        context = ssl.create_default_context(cafile=self.ca_file)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context

    def _stream(self):
        return _Stream(self.host, self.port, self.realm, self._context(), self.timeout)

    @staticmethod
    def _preauth(stream, token):
        return stream.iq_set(f"<preauth xmlns='{NS_PREAUTH}' token={_xml_attr(token)}/>")

    def check_invite(self, token):
        """Whether Prosody accepts ``token`` now (it is not used up by asking)."""
        if not isinstance(token, str) or not _TOKEN.match(token):
            return False
        with self._stream() as stream:
            return self._preauth(stream, token) is None

    def register(self, token, username, password):
        """Redeem ``token`` for the account ``username`` (one stream: preauth, register)."""
        if not isinstance(token, str) or not _TOKEN.match(token):
            return Result("invalid_token")
        with self._stream() as stream:
            error = self._preauth(stream, token)
            if error is not None:
                error_type, condition, text = error
                kind = "invalid_token" if condition == "forbidden" else _classify(*error)
                return Result(kind, condition, text)
            error = stream.iq_set(
                f"<query xmlns='{NS_REGISTER}'><username>{_xml_text(username)}</username>"
                f"<password>{_xml_text(password)}</password></query>")
        if error is None:
            return OK
        return Result(_classify(*error), error[1], error[2])

    def create_invite(self):
        """A fresh account invite from mod_invites_api; returns its token."""
        key = self._invites_api_key() if callable(self._invites_api_key) else self._invites_api_key
        if not key:
            raise RegistrarError("no invites API key")
        url = urlsplit(self.invites_api_url)
        connection_class = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
        kwargs = {"context": self._context()} if url.scheme == "https" else {}
        connection = connection_class(url.hostname, url.port, timeout=self.timeout, **kwargs)
        try:
            connection.request("GET", f"{url.path or '/'}?{url.query}" if url.query else url.path or "/", headers={
                "Host": self.realm, "Authorization": f"Bearer {key}", "Connection": "close"})
            response = connection.getresponse()
            response.read(65536)
            location = response.getheader("Location") or ""
        except (OSError, http.client.HTTPException) as error:
            raise RegistrarError(f"cannot reach the invites API: {type(error).__name__}") from None
        finally:
            connection.close()
        if response.status != 201:
            raise RegistrarError(f"the invites API answered {response.status}")
        match = re.search(r"(?:preauth=|/join/)([A-Za-z0-9_-]{6,200})(?:[;&?#]|\Z)", location)
        if not match:
            raise RegistrarError("the invites API answered without an invite link")
        return match.group(1)


def from_settings(settings):
    """The Registrar for the service's settings (webservice/signup/settings.py). Optional
    overrides in ``settings.registrar``: "host", "port", "timeout"."""
    options = dict(settings.registrar or {})
    return Registrar(
        realm=settings.realm,
        host=options.get("host", "127.0.0.1"),
        port=options.get("port", settings.xmpp_port),
        ca_file=settings.ca_certificate_file,
        invites_api_url=settings.invites_api_url,
        invites_api_key=lambda: settings.credential(INVITES_API_KEY),
        timeout=options.get("timeout", DEFAULT_TIMEOUT),
    )

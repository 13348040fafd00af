"""The sign-up service's side of Prosody: check an invite, register with it, make one, and
change a password.

Standard library only (it runs on the host from Debian packages). Prosody stays the only
judge of invites: the service keeps no list of its own.

* ``check_invite(token)``: on a fresh c2s stream, STARTTLS (chain verified against the CA for
  the realm) then ``<preauth xmlns='urn:xmpp:pars:0' token=.../>`` (XEP-0401). Prosody only
  looks the token up: the preauth does not use the invite up, and nothing is registered.
* ``invite_info(token)``: the same preauth, then a XEP-0077 form request (``<iq type='get'>``),
  on one stream. Eldwyn's mod_invites_register_form fills the form in for an invite made for
  one account: ``<username>`` for a named invite ("invite create_account alice@realm"), with
  ``<registered/>`` for a password reset ("invite create_reset alice@realm"). Returns None
  (the invite is not valid) or an ``InviteInfo``. What the invite is for comes from Prosody,
  never from the link.
* ``register(token, username, password)``: the same preauth, then a XEP-0077 registration, on
  one stream, then the stream is closed. Prosody (with Eldwyn's mod_invites_register_strict)
  spends the invite on the first account it creates. Returns a ``Result`` whose ``value`` is
  "ok", "invalid_token", "username_taken", "invalid_username", "policy" (throttled or refused
  by the server's policy) or "other". For a reset invite, the username is the reset's
  account and the password its new one (mod_register_ibr resets it; the invite is used up).
* ``change_password(username, password, new_password)``: on a fresh stream, STARTTLS
  (verified), SASL PLAIN with the current password (only inside that TLS), resource binding,
  then XEP-0077's password change (``<iq type='set'>`` with username and the new password,
  handled by mod_user_account_management), and the stream is closed. Returns a ``Result``:
  "ok", "not_authorized" (unknown user, wrong or disabled: one kind, nothing to tell them
  apart), "refused" (the server refused the new password) or "other".
* ``create_invite()``: a fresh account invite from mod_invites_api (prosody-modules), over
  plain HTTP on loopback: ``GET /invites_api`` with ``Host: <realm>`` and the API key as a
  Bearer token; Prosody answers 201 with the invite's link in ``Location``. Returns the token.

Server-side failures that say nothing about the user's input (connection refused, TLS not
verified, timeouts, a closed stream, an HTTP error) raise ``RegistrarError``; the password is
never sent unless TLS is up and verified. Nothing here logs tokens, passwords or keys.
"""

import base64
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
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind"

DEFAULT_TIMEOUT = 10  # seconds for one whole exchange (connect, TLS, preauth or login, register)
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


@dataclass(frozen=True)
class InviteInfo:
    """What a valid invite is for: ``username``, the one account it is for (None: any name the
    invitee picks), and ``reset``, whether it sets a new password on that existing account."""

    username: str | None = None
    reset: bool = False


# SASL failures (RFC 6120 6.5) that mean "these credentials do not log in", for any reason:
# unknown user and wrong password are not told apart, nor a disabled account.
_LOGIN_REFUSED = {"not-authorized", "account-disabled", "malformed-request", "credentials-expired",
                  "invalid-authzid"}


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
        self.secure = False
        try:
            self.sock = socket.create_connection((host, port), timeout=timeout)
            self._start()
            if self.features.find(f"{{{NS_TLS}}}starttls") is None:
                raise RegistrarError("the XMPP server offers no STARTTLS")
            self._send(f"<starttls xmlns='{NS_TLS}'/>")
            if self._next().tag != f"{{{NS_TLS}}}proceed":
                raise RegistrarError("the XMPP server refused STARTTLS")
            self.sock = context.wrap_socket(self.sock, server_hostname=realm)
            self.secure = True  # the chain and the name were verified by wrap_socket
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

    def iq(self, iq_type, payload):
        """Send an IQ; return its answer (the element) and, for an error, (error type,
        condition, text), else None."""
        stanza_id = uuid.uuid4().hex
        try:
            self._send(f"<iq type='{iq_type}' id='{stanza_id}'>{payload}</iq>")
        except OSError as error:
            raise RegistrarError(f"connection to the XMPP server lost: {type(error).__name__}") from None
        while True:
            element = self._next()
            if element.tag == f"{{{NS_CLIENT}}}iq" and element.get("id") == stanza_id:
                break
        if element.get("type") == "result":
            return element, None
        return element, self._error(element)

    def iq_set(self, payload):
        """Send an IQ set; return (error type, condition, text), or None for a result."""
        return self.iq("set", payload)[1]

    @staticmethod
    def _error(element):
        error = element.find(f"{{{NS_CLIENT}}}error")
        if error is None:
            return (None, None, None)
        condition = next((child.tag.split("}", 1)[1] for child in error
                          if child.tag.startswith(f"{{{NS_STANZAS}}}") and not child.tag.endswith("}text")), None)
        return error.get("type"), condition, error.findtext(f"{{{NS_STANZAS}}}text")

    def login(self, username, password):
        """SASL PLAIN, inside the verified TLS of this stream only; None on success (the stream
        is restarted), else the failure's condition."""
        if not self.secure:  # never: the constructor does STARTTLS first; but never PLAIN in clear
            raise RegistrarError("refusing to send a password before TLS is verified")
        offered = {mechanism.text for mechanism in self.features.iter(f"{{{NS_SASL}}}mechanism")}
        if "PLAIN" not in offered:
            raise RegistrarError("the XMPP server offers no SASL PLAIN over TLS")
        blob = base64.b64encode(f"\0{username}\0{password}".encode("utf-8")).decode("ascii")
        try:
            self._send(f"<auth xmlns='{NS_SASL}' mechanism='PLAIN'>{blob}</auth>")
            answer = self._next()
            if answer.tag == f"{{{NS_SASL}}}success":
                self._start()  # RFC 6120 6.4.6: a new stream, the authenticated one
                return None
        except OSError as error:
            raise RegistrarError(f"connection to the XMPP server lost: {type(error).__name__}") from None
        if answer.tag != f"{{{NS_SASL}}}failure":
            raise RegistrarError("the XMPP server answered SASL with something else")
        return next((child.tag.split("}", 1)[1] for child in answer
                     if child.tag.startswith(f"{{{NS_SASL}}}") and not child.tag.endswith("}text")),
                    "not-authorized")

    def bind(self):
        """Bind a resource (after login); the full JID the server gave."""
        if self.features.find(f"{{{NS_BIND}}}bind") is None:
            raise RegistrarError("the XMPP server offers no resource binding")
        resource = f"eldwyn-signup-{uuid.uuid4().hex[:8]}"
        element, error = self.iq("set", f"<bind xmlns='{NS_BIND}'><resource>{resource}</resource></bind>")
        jid = element.findtext(f"{{{NS_BIND}}}bind/{{{NS_BIND}}}jid")
        if error is not None or not jid:
            raise RegistrarError("the XMPP server refused resource binding")
        return jid

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

    def invite_info(self, token):
        """What ``token`` is for (``InviteInfo``), or None if Prosody does not accept it now.
        Nothing is used up: one stream, preauth then the registration form request."""
        if not isinstance(token, str) or not _TOKEN.match(token):
            return None
        with self._stream() as stream:
            if self._preauth(stream, token) is not None:
                return None
            element, error = stream.iq("get", f"<query xmlns='{NS_REGISTER}'/>")
        if error is not None:
            if error[1] in ("forbidden", "not-acceptable"):  # an invite that cannot be used
                return None
            raise RegistrarError(f"the XMPP server refused the registration form: {error[1]}")
        query = element.find(f"{{{NS_REGISTER}}}query")
        if query is None:
            raise RegistrarError("the XMPP server sent no registration form")
        username = (query.findtext(f"{{{NS_REGISTER}}}username") or "").strip() or None
        reset = username is not None and query.find(f"{{{NS_REGISTER}}}registered") is not None
        return InviteInfo(username, reset)

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

    def change_password(self, username, password, new_password):
        """Log in as ``username`` with ``password`` and set ``new_password`` (one stream)."""
        with self._stream() as stream:
            refused = stream.login(username, password)
            if refused is not None:
                if refused in _LOGIN_REFUSED:
                    return Result("not_authorized", refused)
                raise RegistrarError(f"the XMPP server could not check the password: {refused}")
            node = stream.bind().partition("/")[0].rpartition("@")[0]  # as Prosody prepped it
            if not node:
                raise RegistrarError("the XMPP server bound a JID without a username")
            error = stream.iq_set(
                f"<query xmlns='{NS_REGISTER}'><username>{_xml_text(node)}</username>"
                f"<password>{_xml_text(new_password)}</password></query>")
        if error is None:
            return OK
        error_type, condition, text = error
        kind = "refused" if condition in ("not-acceptable", "policy-violation") else "other"
        return Result(kind, condition, text)

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

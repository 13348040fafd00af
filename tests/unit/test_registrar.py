"""webservice/signup/registrar.py against tiny fake servers: an XMPP one (STARTTLS with a
certificate from a throw-away CA, preauth, XEP-0077 forms and registrations as Prosody 13 with
mod_invites_register_form answers them, SASL PLAIN, resource binding, XEP-0077 password change)
and an HTTP one (mod_invites_api).

The real proof, against Prosody 13.0.1 with mod_invites_register_strict, is in the VM tests
and the report of that work; here: the protocol, the error kinds, and that nothing is ever
sent before TLS is up and verified.
"""

import base64
import http.server
import socket
import ssl
import threading
import types
import xml.etree.ElementTree as ET

import pytest

from eldwyn import pki
from webservice.signup import registrar as registrar_module
from webservice.signup.registrar import InviteInfo, Registrar, RegistrarError, from_settings

REALM = "cslabs.clarkson.edu"
STREAM = "http://etherx.jabber.org/streams"
TLS = "urn:ietf:params:xml:ns:xmpp-tls"
SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
BIND = "urn:ietf:params:xml:ns:xmpp-bind"
REGISTER = "jabber:iq:register"
STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
GOOD = "GoodToken_0123456789-abc"


@pytest.fixture(scope="module")
def pki_files(tmp_path_factory):
    directory = tmp_path_factory.mktemp("pki")
    ca_key, ca_cert = pki.create_ca("test CA")
    other_key, other_cert = pki.create_ca("someone else's CA")
    files = {"ca": directory / "ca.crt"}
    files["ca"].write_bytes(ca_cert)
    for label, names, (key, cert) in (("good", [REALM], (ca_key, ca_cert)),
                                      ("wrong-name", ["example.org"], (ca_key, ca_cert)),
                                      ("other-ca", [REALM], (other_key, other_cert))):
        leaf_key, leaf_cert = pki.issue_certificate(names, key, cert, 30)
        (directory / f"{label}.pem").write_bytes(leaf_cert + leaf_key)
        files[label] = directory / f"{label}.pem"
    return files


def error_xml(error_type, condition, text=None):
    text_xml = f"<text xmlns='{STANZAS}'>{text}</text>" if text else ""
    return f"<error type='{error_type}'><{condition} xmlns='{STANZAS}'/>{text_xml}</error>"


class FakeXmpp:
    """One thread, one connection at a time. ``answers`` maps a username to the error XML
    its registration gets (default: success); tokens in ``tokens`` pass the preauth.

    ``forms`` maps a token to what the registration form request gets after its preauth (the
    query's children, or an error): mod_invites_register_form's answers; other tokens get
    mod_register_ibr's empty form. ``accounts`` (username: password) log in with SASL PLAIN,
    offered after TLS as ``mechanisms`` (a wrong one is refused not-authorized; with
    ``sasl_failure``, every login is refused with that condition).
    A bound session's XEP-0077 set is a password change, answered ``change_answer`` (an error
    XML) or success."""

    def __init__(self, certificate, tokens=(GOOD,), answers=None, starttls=True, silent=False,
                 forms=None, accounts=None, mechanisms=("SCRAM-SHA-1", "PLAIN"),
                 sasl_failure=None, change_answer=None):
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(certificate)
        self.tokens, self.answers = set(tokens), answers or {}
        self.starttls, self.silent = starttls, silent
        self.forms, self.accounts = forms or {}, accounts or {}
        self.mechanisms, self.sasl_failure, self.change_answer = mechanisms, sasl_failure, change_answer
        self.logins = []  # (authzid, authcid, password) of every SASL PLAIN attempt
        self.bound = []  # full JIDs bound
        self.changes = []  # (session's username, username sent, new password)
        self.registered = []  # (username, password) of every unauthenticated XEP-0077 set
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self.plain = b""  # everything the client sent before TLS
        self.stanzas = []  # every element received after TLS
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            try:
                conn.settimeout(5)
                self._handle(conn)
            except (OSError, ssl.SSLError, ET.ParseError):
                pass
            finally:
                conn.close()

    def _elements(self, conn, record=None):
        parser, depth = ET.XMLPullParser(("start", "end")), 0
        while True:
            data = conn.recv(65536)
            if not data:
                return
            if record is not None:
                record(data)
            parser.feed(data)
            for event, element in parser.read_events():
                if event == "start":
                    depth += 1
                    if depth == 1:
                        yield "stream", element
                    continue
                depth -= 1
                if depth == 0:
                    return
                if depth == 1:
                    yield "element", element

    def _header(self, conn, features):
        conn.sendall((f"<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='{STREAM}'"
                      f" from='{REALM}' id='x' version='1.0'><stream:features>{features}</stream:features>").encode())

    def _handle(self, conn):
        def record(data):
            self.plain += data
        for kind, element in self._elements(conn, record):
            if self.silent:
                continue
            if kind == "stream":
                self._header(conn, f"<starttls xmlns='{TLS}'/>" if self.starttls else "")
            elif element.tag == f"{{{TLS}}}starttls":
                conn.sendall(f"<proceed xmlns='{TLS}'/>".encode())
                break
        else:
            return
        tls = self.context.wrap_socket(conn, server_side=True)
        session = {"token": None, "user": None, "jid": None}
        while self._serve_stream(tls, session):  # True: SASL succeeded, the stream restarts
            pass
        tls.close()

    def _features(self, session):
        if session["user"] is None:
            mechanisms = "".join(f"<mechanism>{name}</mechanism>" for name in self.mechanisms)
            return ("<register xmlns='http://jabber.org/features/iq-register'/>"
                    + (f"<mechanisms xmlns='{SASL}'>{mechanisms}</mechanisms>" if mechanisms else ""))
        return f"<bind xmlns='{BIND}'><required/></bind>"

    def _serve_stream(self, tls, session):
        for kind, element in self._elements(tls):
            if kind == "stream":
                self._header(tls, self._features(session))
                continue
            self.stanzas.append(element)
            if element.tag == f"{{{SASL}}}auth":
                if self._login(tls, session, element):
                    return True
                continue
            iq_id = element.get("id")
            preauth = element.find("{urn:xmpp:pars:0}preauth")
            query = element.find(f"{{{REGISTER}}}query")
            bind = element.find(f"{{{BIND}}}bind")
            if preauth is not None:
                ok = preauth.get("token") in self.tokens
                if ok:
                    session["token"] = preauth.get("token")
                tls.sendall((f"<iq type='result' id='{iq_id}'/>" if ok else
                             f"<iq type='error' id='{iq_id}'>{error_xml('cancel', 'forbidden')}</iq>").encode())
            elif bind is not None and session["user"] is not None:
                session["jid"] = f"{session['user'].lower()}@{REALM}/{bind.findtext(f'{{{BIND}}}resource')}"
                self.bound.append(session["jid"])
                tls.sendall(f"<iq type='result' id='{iq_id}'><bind xmlns='{BIND}'><jid>{session['jid']}</jid></bind></iq>".encode())
            elif query is not None and element.get("type") == "get":
                form = self.forms.get(session["token"], "<instructions>Choose</instructions><username/><password/>")
                tls.sendall((f"<iq type='error' id='{iq_id}'>{form}</iq>" if form.startswith("<error") else
                             f"<iq type='result' id='{iq_id}'><query xmlns='{REGISTER}'>{form}</query></iq>").encode())
            elif query is not None and session["jid"] is not None:  # mod_user_account_management
                self.changes.append((session["user"].lower(), query.findtext(f"{{{REGISTER}}}username"),
                                     query.findtext(f"{{{REGISTER}}}password")))
                answer = self.change_answer
                tls.sendall((f"<iq type='error' id='{iq_id}'>{answer}</iq>" if answer else
                             f"<iq type='result' id='{iq_id}'/>").encode())
            elif query is not None:
                username = query.findtext(f"{{{REGISTER}}}username")
                self.registered.append((username, query.findtext(f"{{{REGISTER}}}password")))
                answer = self.answers.get(username)
                tls.sendall((f"<iq type='error' id='{iq_id}'>{answer}</iq>" if answer else
                             f"<iq type='result' id='{iq_id}'/>").encode())
        return False

    def _login(self, tls, session, auth):
        """SASL PLAIN as Prosody does it; True on success."""
        if auth.get("mechanism") != "PLAIN" or "PLAIN" not in self.mechanisms:
            tls.sendall(f"<failure xmlns='{SASL}'><invalid-mechanism/></failure>".encode())
            return False
        authzid, authcid, password = base64.b64decode(auth.text or "").decode().split("\0")
        self.logins.append((authzid, authcid, password))
        if self.sasl_failure is None and self.accounts.get(authcid.lower()) == password:
            session["user"] = authcid
            tls.sendall(f"<success xmlns='{SASL}'/>".encode())
            return True
        condition = self.sasl_failure or "not-authorized"
        tls.sendall(f"<failure xmlns='{SASL}'><{condition}/><text>Unable to authorize you</text></failure>".encode())
        return False

    def registrations(self):
        return list(self.registered)

    def close(self):
        self.listener.close()


@pytest.fixture
def server(pki_files):
    servers = []

    def make(certificate="good", **options):
        fake = FakeXmpp(pki_files[certificate], **options)
        servers.append(fake)
        return fake, Registrar(REALM, port=fake.port, ca_file=str(pki_files["ca"]), timeout=3)
    yield make
    for fake in servers:
        fake.close()


def test_register_sends_exact_credentials_only_inside_verified_tls(server):
    fake, registrar = server()
    password = "p<a>&'\"ss word ünïcode"
    result = registrar.register(GOOD, "alice", password)
    assert result and result.value == "ok"
    assert fake.registrations() == [("alice", password)]
    assert b"alice" not in fake.plain and GOOD.encode() not in fake.plain
    assert fake.plain.count(b"<starttls") == 1


def test_check_invite_asks_prosody_and_never_registers(server):
    fake, registrar = server()
    assert registrar.check_invite(GOOD) is True
    assert registrar.check_invite("OtherToken_0123456789") is False
    assert fake.registrations() == [] and fake.connections == 2


def test_refused_preauth_is_invalid_token_and_nothing_is_registered(server):
    fake, registrar = server(tokens=())
    assert registrar.register(GOOD, "alice", "secret-password").value == "invalid_token"
    assert fake.registrations() == []


@pytest.mark.parametrize("error, kind", [
    (error_xml("cancel", "conflict", "The requested username already exists."), "username_taken"),
    (error_xml("modify", "not-acceptable", "The requested username is invalid."), "invalid_username"),
    (error_xml("modify", "not-acceptable", "This invite is for another username"), "invalid_username"),
    (error_xml("cancel", "not-acceptable", "Registration on this server is through invitation only"), "invalid_token"),
    (error_xml("auth", "forbidden", "The invite token is invalid, expired or already used"), "invalid_token"),
    (error_xml("auth", "forbidden", "A password reset invite cannot create an account"), "invalid_token"),
    (error_xml("wait", "policy-violation", "Too many registrations from this IP address recently"), "policy"),
    (error_xml("auth", "forbidden", "Your IP address is blocklisted"), "policy"),
    (error_xml("cancel", "feature-not-implemented"), "other"),
    (error_xml("wait", "internal-server-error", "Failed to write data to disk."), "other"),
], ids=lambda value: value if isinstance(value, str) and "<" not in value else None)
def test_registration_errors_have_clear_kinds(server, error, kind):
    fake, registrar = server(answers={"alice": error})
    result = registrar.register(GOOD, "alice", "secret-password")
    assert result.value == kind and not result
    assert result.condition in error


@pytest.mark.parametrize("token", ["", "short", "x'/><iq type='set'>", "A" * 500, None, 42])
def test_malformed_tokens_are_refused_without_a_connection(server, token):
    fake, registrar = server()
    assert registrar.check_invite(token) is False
    assert registrar.register(token, "alice", "secret-password").value == "invalid_token"
    assert fake.connections == 0


@pytest.mark.parametrize("certificate", ["other-ca", "wrong-name"])
def test_unverified_tls_is_an_error_and_nothing_secret_is_sent(server, certificate):
    fake, registrar = server(certificate=certificate)
    with pytest.raises(RegistrarError, match="securely"):
        registrar.register(GOOD, "alice", "secret-password")
    assert fake.stanzas == [] and b"secret" not in fake.plain and GOOD.encode() not in fake.plain


def test_no_starttls_is_an_error_and_nothing_secret_is_sent(server):
    fake, registrar = server(starttls=False)
    with pytest.raises(RegistrarError, match="STARTTLS"):
        registrar.register(GOOD, "alice", "secret-password")
    assert b"secret" not in fake.plain and GOOD.encode() not in fake.plain


def test_a_silent_server_times_out(server):
    fake, registrar = server(silent=True)
    registrar.timeout = 0.5
    with pytest.raises(RegistrarError, match="in time"):
        registrar.check_invite(GOOD)


def test_nothing_listening_is_an_error():
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    with pytest.raises(RegistrarError):
        Registrar(REALM, port=port, timeout=2).check_invite(GOOD)


# ---------------------------------------------------------------------------------------------
# invite_info: preauth, then the registration form (mod_invites_register_form's answers)

NAMED = "NamedToken_0123456789-ab"
RESET = "ResetToken_0123456789-ab"
GONE = "GoneResetToken_01234567"
FORMS = {
    NAMED: "<instructions>The invitation is for this username only.</instructions><username>carol</username><password/>"
           "<x xmlns='jabber:x:data' type='form'><field var='username'><value>carol</value></field></x>",
    RESET: "<instructions>Choose a new password for this account.</instructions><registered/>"
           "<username>alice</username><password/>",
    GONE: error_xml("auth", "forbidden", "This password reset invite is for an account that does not exist"),
}


def test_invite_info_learns_from_prosody_what_the_invite_is_for(server):
    fake, registrar = server(tokens=(GOOD, NAMED, RESET, GONE), forms=FORMS)
    assert registrar.invite_info(GOOD) == InviteInfo(None, False)  # mod_register_ibr's empty form
    assert registrar.invite_info(NAMED) == InviteInfo("carol", False)
    assert registrar.invite_info(RESET) == InviteInfo("alice", True)
    assert registrar.invite_info(GONE) is None
    assert registrar.invite_info("UnknownToken_0123456789") is None
    assert fake.registrations() == [] and fake.logins == [] and fake.connections == 5
    asked = [element for element in fake.stanzas if element.find(f"{{{REGISTER}}}query") is not None]
    assert len(asked) == 4 and {element.get("type") for element in asked} == {"get"}
    assert GOOD.encode() not in fake.plain and RESET.encode() not in fake.plain


def test_invite_info_of_a_refused_form_request_is_an_error(server):
    fake, registrar = server(forms={GOOD: error_xml("cancel", "service-unavailable")})
    with pytest.raises(RegistrarError, match="registration form"):
        registrar.invite_info(GOOD)


@pytest.mark.parametrize("token", ["", "short", "x'/><iq type='set'>", None])
def test_invite_info_of_a_malformed_token_asks_nothing(server, token):
    fake, registrar = server()
    assert registrar.invite_info(token) is None and fake.connections == 0


def test_a_reset_is_a_registration_of_the_resets_account(server):
    fake, registrar = server(tokens=(RESET,), forms=FORMS,
                             answers={"bob": error_xml("modify", "not-acceptable", "This invite is for another username")})
    assert registrar.register(RESET, "alice", "the new password").value == "ok"
    assert registrar.register(RESET, "bob", "the new password").value == "invalid_username"
    assert fake.registrations() == [("alice", "the new password"), ("bob", "the new password")]


@pytest.mark.parametrize("certificate", ["other-ca", "wrong-name"])
def test_invite_info_needs_verified_tls(server, certificate):
    fake, registrar = server(certificate=certificate)
    with pytest.raises(RegistrarError, match="securely"):
        registrar.invite_info(GOOD)
    assert GOOD.encode() not in fake.plain


# ---------------------------------------------------------------------------------------------
# change_password: SASL PLAIN inside verified TLS, bind, XEP-0077 password change

def test_change_password_logs_in_binds_and_sends_the_change(server):
    fake, registrar = server(accounts={"alice": "old <pass> & 'word'"})
    result = registrar.change_password("Alice", "old <pass> & 'word'", "new <pass> & ünïcode")
    assert result and result.value == "ok"
    assert fake.logins == [("", "Alice", "old <pass> & 'word'")]
    (jid,) = fake.bound
    assert jid.startswith(f"alice@{REALM}/eldwyn-signup-")
    # The username as Prosody prepped it (the bound JID's), mod_user_account_management's check.
    assert fake.changes == [("alice", "alice", "new <pass> & ünïcode")]
    assert fake.registrations() == []
    assert b"pass" not in fake.plain and b"alice" not in fake.plain.lower()
    assert fake.plain.count(b"<starttls") == 1


@pytest.mark.parametrize("accounts, username, password", [
    ({"alice": "right"}, "alice", "wrong"),
    ({"alice": "right"}, "nobody", "right"),
])
def test_a_wrong_password_or_unknown_user_is_not_authorized_and_changes_nothing(server, accounts, username, password):
    fake, registrar = server(accounts=accounts)
    result = registrar.change_password(username, password, "new password here")
    assert result.value == "not_authorized" and not result
    assert fake.bound == [] and fake.changes == []


@pytest.mark.parametrize("condition", ["account-disabled", "malformed-request", "credentials-expired"])
def test_every_refused_login_is_one_kind(server, condition):
    fake, registrar = server(accounts={"alice": "right"}, sasl_failure=condition)
    assert registrar.change_password("alice", "right", "new password here").value == "not_authorized"
    assert fake.changes == []


def test_a_login_the_server_cannot_check_is_an_error(server):
    fake, registrar = server(accounts={"alice": "right"}, sasl_failure="temporary-auth-failure")
    with pytest.raises(RegistrarError, match="could not check"):
        registrar.change_password("alice", "right", "new password here")


def test_without_plain_over_tls_no_password_is_sent(server):
    fake, registrar = server(accounts={"alice": "right"}, mechanisms=("SCRAM-SHA-1",))
    with pytest.raises(RegistrarError, match="PLAIN"):
        registrar.change_password("alice", "right", "new password here")
    assert fake.logins == [] and not [element for element in fake.stanzas if element.tag == f"{{{SASL}}}auth"]


@pytest.mark.parametrize("certificate", ["other-ca", "wrong-name"])
def test_change_password_needs_verified_tls_before_any_secret(server, certificate):
    fake, registrar = server(certificate=certificate, accounts={"alice": "secret-old"})
    with pytest.raises(RegistrarError, match="securely"):
        registrar.change_password("alice", "secret-old", "secret-new")
    assert fake.stanzas == [] and b"secret" not in fake.plain and b"AGFsaWNl" not in fake.plain


def test_no_starttls_means_no_login(server):
    fake, registrar = server(starttls=False, accounts={"alice": "secret-old"})
    with pytest.raises(RegistrarError, match="STARTTLS"):
        registrar.change_password("alice", "secret-old", "secret-new")
    assert b"secret" not in fake.plain and b"<auth" not in fake.plain


@pytest.mark.parametrize("answer, kind", [
    (error_xml("modify", "not-acceptable", "Password too weak"), "refused"),
    (error_xml("modify", "policy-violation"), "refused"),
    (error_xml("wait", "internal-server-error"), "other"),
    (error_xml("modify", "bad-request"), "other"),
])
def test_a_refused_password_change_has_a_kind(server, answer, kind):
    fake, registrar = server(accounts={"alice": "right"}, change_answer=answer)
    result = registrar.change_password("alice", "right", "new password here")
    assert result.value == kind and not result


def test_a_silent_server_times_out_on_login(server):
    fake, registrar = server(silent=True)
    registrar.timeout = 0.5
    with pytest.raises(RegistrarError, match="in time"):
        registrar.change_password("alice", "right", "new password here")


# ---------------------------------------------------------------------------------------------
# create_invite: mod_invites_api

class FakeInvitesApi(http.server.ThreadingHTTPServer):
    def __init__(self, status=201, location=f"https://comm.{REALM}/join/{GOOD}"):
        self.status, self.location, self.requests = status, location, []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append({"path": self.path, "host": self.headers["Host"],
                                        "authorization": self.headers["Authorization"]})
                self.send_response(server.status)
                if server.location:
                    self.send_header("Location", server.location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass
        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}/invites_api?via=eldwyn-signup"


@pytest.fixture
def api():
    servers = []

    def make(**options):
        servers.append(FakeInvitesApi(**options))
        return servers[-1]
    yield make
    for fake in servers:
        fake.shutdown()
        fake.server_close()


def test_create_invite_uses_the_key_as_bearer_with_the_realm_as_host(api):
    fake = api()
    registrar = Registrar(REALM, invites_api_url=fake.url, invites_api_key="id/secret-key")
    assert registrar.create_invite() == GOOD
    assert fake.requests == [{"path": "/invites_api?via=eldwyn-signup", "host": REALM,
                              "authorization": "Bearer id/secret-key"}]
    assert "secret-key" not in repr(registrar)


def test_create_invite_reads_an_xmpp_uri_too(api):
    fake = api(location=f"xmpp:{REALM}?register;preauth={GOOD}")
    assert Registrar(REALM, invites_api_url=fake.url, invites_api_key="k").create_invite() == GOOD


@pytest.mark.parametrize("status, location", [(403, None), (500, None), (201, None),
                                              (201, "https://example.org/nothing-here")])
def test_create_invite_failures_are_errors(api, status, location):
    fake = api(status=status, location=location)
    with pytest.raises(RegistrarError):
        Registrar(REALM, invites_api_url=fake.url, invites_api_key="k").create_invite()


def test_create_invite_without_a_key_asks_nothing(api):
    fake = api()
    with pytest.raises(RegistrarError, match="key"):
        Registrar(REALM, invites_api_url=fake.url, invites_api_key=None).create_invite()
    assert fake.requests == []


def test_from_settings_reads_the_key_only_when_making_an_invite(api):
    fake = api()
    asked = []

    def credential(name):
        asked.append(name)
        return "id/from-credential"
    settings = types.SimpleNamespace(realm=REALM, xmpp_port=5222, ca_certificate_file=None,
                                     invites_api_url=fake.url, registrar={}, credential=credential)
    registrar = from_settings(settings)
    assert (registrar.host, registrar.port, registrar.realm) == ("127.0.0.1", 5222, REALM)
    assert asked == []
    assert registrar.create_invite() == GOOD
    assert asked == [registrar_module.INVITES_API_KEY]
    assert fake.requests[0]["authorization"] == "Bearer id/from-credential"

"""The sign-up web application, offline: Flask's test client, a fake registrar, a fake mailer.

Both flows end to end, the account's self-service (reset links, named invites, password change),
then every kind of bad input: each is answered with a 4xx page that says what is wrong, creates
no account, sends no unwanted mail, and the service keeps serving.
"""

import base64
import json
import logging
import re
import secrets

import pytest

from webservice.signup import SettingsError, create_app, load_settings, parse_settings
from webservice.signup.app import CSRF_COOKIE, SECURITY_HEADERS
from webservice.signup.registrar import InviteInfo

SITE = "comm.cslabs.clarkson.edu"
REALM = "cslabs.clarkson.edu"
BASE = f"https://{SITE}"
GOOD_PASSWORD = "correct horse battery"
CA_PEM = """-----BEGIN CERTIFICATE-----
MIIBczCCARmgAwIBAgIUQ2VydGlmaWNhdGUgZm9yIHRlc3RzMAoGCCqGSM49BAMC
-----END CERTIFICATE-----
"""


def settings_data(tmp_path, **changes):
    data = {
        "site_name": SITE,
        "realm": REALM,
        "xmpp_server": REALM,
        "xmpp_port": 5222,
        "invites_api_url": "http://127.0.0.1:5280/invites_api?via=eldwyn-signup",
        "state_directory": str(tmp_path / "state"),
        "ca_certificate_file": str(tmp_path / "ca.crt"),
        "allowed_email_domains": ["clarkson.edu"],
        "reserved_usernames": ["admin", "root", "postmaster", "abuse", "webmaster", "xmpp", "support"],
        "min_password_length": 12,
        "invite_expiry_seconds": 3600,
        "verification_expiry_seconds": 3600,
        "rate_limits": {
            "per_address": {"attempts": 40, "window_seconds": 600},
            "per_email": {"attempts": 3, "window_seconds": 86400},
        },
        "smtp": {"host": "localhost", "port": 25, "starttls": False, "username": None,
                 "from_address": f"noreply@{SITE}"},
        "trusted_proxies": ["127.0.0.1", "::1"],
    }
    data.update(changes)
    return data


class FakeRegistrar:
    """Prosody's invites as the real registrar sees them (with mod_invites_register_strict and
    mod_invites_register_form): single use, expiring; named invites register their name only,
    reset invites only set a new password on their existing account."""

    def __init__(self):
        self.invites = {"invite-good-1": "valid", "invite-expired": "expired"}
        self.named = {}  # token: the one username the invite registers
        self.resets = {}  # token: the account the invite sets a new password for
        self.accounts = {}
        self.refused_names = {"prosodyrefuses"}
        self.refused_passwords = set()
        self.calls = []  # (what, username) for register and change_password

    def check_invite(self, token):
        return self.invites.get(token) == "valid"

    def invite_info(self, token):
        if self.invites.get(token) != "valid":
            return None
        if token in self.resets:
            if self.resets[token] not in self.accounts:
                return None  # mod_invites_register_form: forbidden, such an invite cannot be used
            return InviteInfo(self.resets[token], reset=True)
        return InviteInfo(self.named.get(token))

    def register(self, token, username, password):
        self.calls.append(("register", username))
        if self.invites.get(token) != "valid":
            return "invalid_token"
        if token in self.resets:
            if username != self.resets[token]:
                return "invalid_username"  # modify/not-acceptable: "This invite is for another username"
            if username not in self.accounts:
                return "invalid_token"  # "A password reset invite cannot create an account"
            self.accounts[username] = password
            self.invites[token] = "used"
            return "ok"
        if token in self.named and username != self.named[token]:
            return "invalid_username"
        if username in self.accounts:
            return "username_taken"
        if username in self.refused_names:
            return "invalid_username"
        self.accounts[username] = password
        self.invites[token] = "used"
        return "ok"

    def create_invite(self):
        token = secrets.token_urlsafe(18)
        self.invites[token] = "valid"
        return f"xmpp:{REALM}?register;preauth={token}"

    def change_password(self, username, password, new_password):
        self.calls.append(("change_password", username))
        name = username.casefold()  # what Prosody's nodeprep does to these names
        if name not in self.accounts or self.accounts[name] != password:
            return "not_authorized"
        if new_password in self.refused_passwords:
            return "refused"
        self.accounts[name] = new_password
        return "ok"


class FakeMailer:
    def __init__(self):
        self.sent = []

    def send(self, to, subject, body):
        self.sent.append({"to": to, "subject": subject, "body": body})

    def link(self, index=-1):
        return re.search(r"https://\S+", self.sent[index]["body"]).group(0)


class Clock:
    def __init__(self):
        self.now = 1_800_000_000.0

    def __call__(self):
        return self.now


class Browser:
    """A test client that speaks HTTPS to the site, like a browser behind nginx."""

    def __init__(self, app, address="127.0.0.1", forwarded_for="203.0.113.7"):
        self.client = app.test_client()
        self.environ = {"wsgi.url_scheme": "https", "REMOTE_ADDR": address}
        self.headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}

    def get(self, path, **kwargs):
        return self.client.get(path, base_url=BASE, environ_overrides=self.environ,
                               headers=self.headers, **kwargs)

    def post(self, path, data=None, headers=None, **kwargs):
        return self.client.post(path, base_url=BASE, environ_overrides=self.environ,
                                headers={**self.headers, **(headers or {})}, data=data, **kwargs)

    def csrf(self, path):
        page = self.get(path)
        assert page.status_code == 200, page.text
        return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)

    def submit(self, path, **fields):
        return self.post(path, data={"csrf_token": self.csrf(path), **fields})


@pytest.fixture
def env(tmp_path):
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "secret-key").write_text(secrets.token_urlsafe(32) + "\n")
    (tmp_path / "ca.crt").write_text(CA_PEM)
    settings = parse_settings(settings_data(tmp_path), credentials_directory=credentials)

    class Env:
        pass

    e = Env()
    e.settings, e.registrar, e.mailer, e.clock = settings, FakeRegistrar(), FakeMailer(), Clock()
    e.app = create_app(settings, registrar=e.registrar, mailer=e.mailer, clock=e.clock)
    e.browser = Browser(e.app)
    return e


def join(browser, token="invite-good-1", username="alice", password=GOOD_PASSWORD, again=None):
    return browser.submit(f"/join/{token}", username=username, password=password,
                          password_again=password if again is None else again)


def verification_link(env, address="student@clarkson.edu"):
    response = env.browser.submit("/signup", email=address)
    assert response.status_code == 200, response.text
    return env.mailer.link().removeprefix(BASE)


# ---- happy paths ------------------------------------------------------------------------------


def test_invite_flow_creates_the_account_and_explains_how_to_connect(env):
    form = env.browser.get("/join/invite-good-1")
    assert form.status_code == 200
    assert '<html lang="en">' in form.text
    for name in ("username", "password", "password_again"):
        assert f'<label for="{name}">' in form.text and f'id="{name}"' in form.text
    assert "<script" not in form.text
    page = join(env.browser, username="Alice")
    assert page.status_code == 200, page.text
    assert env.registrar.accounts == {"alice": GOOD_PASSWORD}
    assert env.registrar.invites["invite-good-1"] == "used"
    assert f"alice@{REALM}" in page.text
    assert f'href="xmpp:alice@{REALM}"' in page.text
    assert "5222" in page.text and REALM in page.text
    assert 'href="/ca.crt"' in page.text
    assert re.search(r"([0-9A-F]{2}:){31}[0-9A-F]{2}", page.text), "CA fingerprint shown"
    ca = env.browser.get("/ca.crt")
    assert ca.status_code == 200 and ca.data.decode() == CA_PEM
    assert ca.mimetype == "application/x-x509-ca-cert"


def test_no_ca_section_without_a_ca_file(env, tmp_path):
    (tmp_path / "ca.crt").unlink()
    page = join(env.browser)
    assert page.status_code == 200 and "ca.crt" not in page.text
    assert env.browser.get("/ca.crt").status_code == 404


def test_signup_flow_mails_a_link_that_leads_to_a_fresh_invite(env):
    page = env.browser.submit("/signup", email="Student@Clarkson.EDU")
    assert page.status_code == 200 and "Check your e-mail" in page.text
    (mail,) = env.mailer.sent
    assert mail["to"] == "Student@clarkson.edu"
    assert REALM in mail["subject"]
    link = env.mailer.link()
    assert link.startswith(f"{BASE}/verify/")
    payload = link.rsplit("/", 1)[1].split(".")[0]
    assert b"student" not in base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)), "no address in the link"
    path = link.removeprefix(BASE)
    confirm = env.browser.get(path)
    assert confirm.status_code == 200 and "Continue" in confirm.text
    redirect = env.browser.submit(path)
    assert redirect.status_code == 303
    invite = redirect.headers["Location"].rsplit("/join/", 1)[1]
    assert env.registrar.invites[invite] == "valid"
    assert join(env.browser, token=invite, username="student").status_code == 200
    assert "student" in env.registrar.accounts


def test_a_mail_scanner_following_the_link_does_not_use_it_up(env):
    path = verification_link(env)
    for _ in range(3):
        assert env.browser.get(path).status_code == 200
    assert env.browser.submit(path).status_code == 303


def test_same_answer_for_new_and_repeated_addresses(env):
    first = env.browser.submit("/signup", email="a@clarkson.edu")
    second = env.browser.submit("/signup", email="a@clarkson.edu")
    other = env.browser.submit("/signup", email="b@clarkson.edu")
    assert first.status_code == second.status_code == other.status_code == 200
    strip = lambda text: text.replace("a@clarkson.edu", "X").replace("b@clarkson.edu", "X")  # noqa: E731
    assert strip(first.text) == strip(second.text) == strip(other.text)


def test_security_headers_on_every_answer(env):
    for response in (env.browser.get("/signup"), env.browser.get("/join/nope-nope"),
                     env.browser.get("/static/style.css"), env.browser.post("/signup", data={})):
        for name, value in SECURITY_HEADERS.items():
            assert response.headers[name] == value
        assert "'unsafe-inline'" not in response.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert env.browser.get("/signup").headers["Cache-Control"] == "no-store"


def test_csrf_cookie_is_host_only_secure_and_strict(env):
    cookie = env.browser.get("/signup").headers["Set-Cookie"]
    assert cookie.startswith(f"{CSRF_COOKIE}=")
    for attribute in ("Secure", "HttpOnly", "SameSite=Strict", "Path=/"):
        assert attribute in cookie
    assert "Domain" not in cookie


def test_nothing_secret_is_logged(env, caplog):
    caplog.set_level(logging.DEBUG)
    path = verification_link(env, "secretive@clarkson.edu")
    invite = env.browser.submit(path).headers["Location"].rsplit("/join/", 1)[1]
    join(env.browser, token=invite, username="carol", password="a secret passphrase of hers")
    env.browser.submit("/signup", email="x@evil.example")
    logged = caplog.text
    for secret in ("a secret passphrase of hers", "secretive@", invite, path.rsplit("/", 1)[1],
                   env.settings.credential("secret-key")):
        assert secret not in logged
    assert f"carol@{REALM}" in logged


def test_forwarded_for_is_trusted_only_from_the_local_proxy(env):
    limit = env.settings.rate_limits.per_address.attempts
    outsider = Browser(env.app, address="198.51.100.9", forwarded_for=None)
    for index in range(limit):
        spoofing = Browser(env.app, address="198.51.100.9", forwarded_for=f"192.0.2.{index}")
        assert spoofing.get(f"/join/unknown-{index}").status_code == 404
    assert outsider.get("/join/unknown-x").status_code == 429
    # Behind the local nginx, different clients have their own budgets.
    assert Browser(env.app, forwarded_for="203.0.113.99").get("/join/unknown-y").status_code == 404


def test_settings_file_and_credentials(tmp_path):
    (tmp_path / "settings.json").write_text(json.dumps(settings_data(tmp_path)))
    (tmp_path / "secret-key").write_text("k" * 40)
    settings = load_settings(environ={"CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert settings.site_name == SITE and settings.rate_limits.per_email.attempts == 3
    assert settings.credential("secret-key") == "k" * 40
    assert "k" * 40 not in repr(settings)
    with pytest.raises(SettingsError) as error:
        settings.credential("smtp-password")
    assert "smtp-password" in str(error.value)


@pytest.mark.parametrize("change, path", [
    ({"site_name": "Comm.Example"}, "site_name"),
    ({"xmpp_port": 0}, "xmpp_port"),
    ({"allowed_email_domains": []}, "allowed_email_domains"),
    ({"allowed_email_domains": ["clarkson.edu", "Bad Domain"]}, "allowed_email_domains['Bad Domain']"),
    ({"rate_limits": {"per_address": {"attempts": 0, "window_seconds": 1}, "per_email": {"attempts": 1, "window_seconds": 1}}}, "rate_limits.per_address.attempts"),
    ({"trusted_proxies": ["localhost"]}, "trusted_proxies['localhost']"),
    ({"state_directory": "state"}, "state_directory"),
    ({"smtp_host": "x"}, "smtp_host"),
])
def test_bad_settings_name_the_key(tmp_path, change, path):
    with pytest.raises(SettingsError) as error:
        parse_settings(settings_data(tmp_path, **change))
    assert error.value.path == path


# ---- account self-service: reset links, named invites, password change -------------------------

OLD_PASSWORD = "the old one, long enough"
NEW_PASSWORD = "a brand new passphrase"


def with_reset(env, token="reset-alice-1", username="alice"):
    env.registrar.accounts[username] = OLD_PASSWORD
    env.registrar.invites[token] = "valid"
    env.registrar.resets[token] = username
    return f"/join/{token}"


def with_named(env, token="invite-for-carol", username="carol"):
    env.registrar.invites[token] = "valid"
    env.registrar.named[token] = username
    return f"/join/{token}"


def change_password(browser, account="alice", current=OLD_PASSWORD, new=NEW_PASSWORD, again=None):
    return browser.submit("/password", account=account, current_password=current, password=new,
                          password_again=new if again is None else again)


def reset(browser, path="/join/reset-alice-1", new=NEW_PASSWORD, again=None, **fields):
    """The reset form of ``path`` (with_reset's) sent with a new password and ``fields``."""
    return browser.submit(path, **fields, password=new, password_again=new if again is None else again)


# Each form that sets a new password, for alice (whose password is OLD_PASSWORD), and what it says.
NEW_PASSWORD_FORMS = {
    "reset": (lambda env, new, again: reset(env.browser, with_reset(env), new, again),
              "Choose a new password for"),
    "password": (lambda env, new, again: change_password(env.browser, new=new, again=again),
                 "Change your password"),
}


def assert_form_has(page, *names):
    for name in names:
        assert f'<label for="{name}">' in page.text and f'id="{name}"' in page.text


def assert_password_changed(env, response, account="alice", password=NEW_PASSWORD):
    assert response.status_code == 200, response.text
    assert "Your password has been changed" in response.text and f"{account}@{REALM}" in response.text
    assert env.registrar.accounts == {account: password}


def test_a_reset_link_sets_a_new_password_for_the_account_prosody_names(env):
    path = with_reset(env)
    page = env.browser.get(path)
    assert page.status_code == 200, page.text
    assert f"Choose a new password for <span class=\"jid\">alice@{REALM}</span>" in page.text
    assert "Create" not in page.text and 'id="username"' not in page.text and 'name="username"' not in page.text
    assert_form_has(page, "password", "password_again")
    assert 'autocomplete="new-password"' in page.text
    assert_password_changed(env, reset(env.browser, path))
    assert env.registrar.calls == [("register", "alice")]
    # The link works once: Prosody no longer knows it.
    again = env.browser.get(path)
    assert again.status_code == 404 and "already been used" in again.text
    refused = env.browser.post(path, data={"csrf_token": "x", "password": "whatever it is!", "password_again": "whatever it is!"})
    assert refused.status_code == 404 and env.registrar.accounts == {"alice": NEW_PASSWORD}


def test_a_reset_form_naming_another_account_is_refused(env):
    path = with_reset(env)
    env.registrar.accounts["bob"] = "bob's own password"
    for other in ("bob", f"bob@{REALM}", "alice2"):
        response = reset(env.browser, path, username=other)
        assert response.status_code == 400, response.text
        assert f"sets a new password for alice@{REALM} only" in response.text
    assert env.registrar.calls == [] and env.registrar.invites["reset-alice-1"] == "valid"
    assert env.registrar.accounts == {"alice": OLD_PASSWORD, "bob": "bob's own password"}
    # The account's own name (as a person may type it) is fine.
    assert reset(env.browser, path, username="Alice").status_code == 200
    assert env.registrar.calls == [("register", "alice")]


@pytest.mark.parametrize("form", NEW_PASSWORD_FORMS)
@pytest.mark.parametrize("new, again, words", [
    ("short", None, "at least 12 characters"),
    (NEW_PASSWORD, NEW_PASSWORD + "!", "differ"),
    ("alice alice alice", None, "cannot contain the username"),
    ("alice-in-wonderland", None, "cannot contain the username"),
    ("abababababababab", None, "5 different characters"),
    ("new\x07password!!", None, "control characters"),
])
def test_a_bad_new_password_shows_the_form_again_and_changes_nothing(env, form, new, again, words):
    send, heading = NEW_PASSWORD_FORMS[form]
    env.registrar.accounts["alice"] = OLD_PASSWORD
    response = send(env, new, again)
    assert response.status_code == 400, response.text
    assert words in response.text
    assert heading in response.text and 'aria-invalid="true"' in response.text
    assert 'id="password-error"' in response.text and 'href="#password"' in response.text
    assert env.registrar.calls == [] and env.registrar.accounts == {"alice": OLD_PASSWORD}


def test_a_reset_link_that_prosody_refuses_at_the_last_moment(env):
    path = with_reset(env)
    token = env.browser.csrf(path)
    env.registrar.invites["reset-alice-1"] = "expired"  # between the page and the form
    response = env.browser.post(path, data={"csrf_token": token, "password": NEW_PASSWORD, "password_again": NEW_PASSWORD})
    assert response.status_code == 404 and env.registrar.accounts == {"alice": OLD_PASSWORD}


def test_a_named_invite_shows_its_name_and_registers_only_that(env):
    path = with_named(env)
    page = env.browser.get(path)
    assert page.status_code == 200, page.text
    field = re.search(r'<input id="username"[^>]*>', page.text).group(0)
    assert 'value="carol"' in field and " readonly" in field
    assert f"carol@{REALM}" in page.text
    # Another name cannot be registered with it, whatever the form sends.
    for other in ("dave", f"dave@{REALM}", "admin"):
        response = env.browser.submit(path, username=other, password=GOOD_PASSWORD, password_again=GOOD_PASSWORD)
        assert response.status_code == 400 and f"for the account carol@{REALM} only" in response.text
    assert env.registrar.calls == [] and env.registrar.accounts == {}
    # The form's own (read-only) value, or none at all: the invite's name.
    done = env.browser.submit(path, password=GOOD_PASSWORD, password_again=GOOD_PASSWORD)
    assert done.status_code == 200 and f"carol@{REALM}" in done.text
    assert env.registrar.accounts == {"carol": GOOD_PASSWORD}


def test_a_named_invite_keeps_its_name_when_the_password_is_refused(env):
    path = with_named(env)
    response = env.browser.submit(path, username="carol", password="short", password_again="short")
    assert response.status_code == 400 and "at least 12 characters" in response.text
    field = re.search(r'<input id="username"[^>]*>', response.text).group(0)
    assert 'value="carol"' in field and " readonly" in field


def test_a_named_invite_for_a_reserved_name_is_the_admins_choice(env):
    path = with_named(env, "invite-for-support", "support")
    assert env.browser.submit(path, username="support", password=GOOD_PASSWORD, password_again=GOOD_PASSWORD).status_code == 200
    assert env.registrar.accounts == {"support": GOOD_PASSWORD}


def test_a_named_invite_for_an_existing_account_says_it_cannot_be_used(env):
    path = with_named(env)
    env.registrar.accounts["carol"] = "hers"
    response = env.browser.submit(path, password=GOOD_PASSWORD, password_again=GOOD_PASSWORD)
    assert response.status_code == 409 and "exists already" in response.text and "new invitation" in response.text
    assert env.registrar.accounts == {"carol": "hers"}


def test_an_invite_for_any_name_still_asks_for_one(env):
    page = env.browser.get("/join/invite-good-1")
    field = re.search(r'<input id="username"[^>]*>', page.text).group(0)
    assert "readonly" not in field and 'value=""' in field


def test_password_change(env):
    env.registrar.accounts["alice"] = OLD_PASSWORD
    form = env.browser.get("/password")
    assert form.status_code == 200
    assert_form_has(form, "account", "current_password", "password", "password_again")
    assert 'autocomplete="current-password"' in form.text and 'autocomplete="username"' in form.text
    done = change_password(env.browser)
    assert_password_changed(env, done)
    assert "disconnected" in done.text
    # With the full address, any case: the account on this realm.
    again = change_password(env.browser, f"Alice@{REALM.upper()}", NEW_PASSWORD, "and yet another one")
    assert_password_changed(env, again, password="and yet another one")
    assert env.registrar.calls == [("change_password", "alice"), ("change_password", "Alice")]


def test_an_admin_with_a_reserved_name_can_change_their_password(env):
    env.registrar.accounts["admin"] = OLD_PASSWORD  # reserved for sign-up, but a real account
    assert_password_changed(env, change_password(env.browser, "admin"), "admin")


def test_a_wrong_password_and_an_unknown_user_get_the_same_answer(env):
    env.registrar.accounts["alice"] = OLD_PASSWORD
    wrong = change_password(env.browser, "alice", "not the password")
    unknown = change_password(env.browser, "nobody", OLD_PASSWORD)
    for response in (wrong, unknown):
        assert response.status_code == 403
        assert "The username or password is wrong." in response.text
        assert 'role="alert"' in response.text
    assert wrong.text.replace('value="alice"', "X") == unknown.text.replace('value="nobody"', "X")
    assert env.registrar.accounts == {"alice": OLD_PASSWORD}


def test_failed_logins_count_against_the_address(env):
    env.registrar.accounts["alice"] = OLD_PASSWORD
    for _ in range(env.settings.rate_limits.per_address.attempts):
        assert change_password(env.browser, "alice", "guess guess guess").status_code == 403
    response = change_password(env.browser)  # even the right password: the budget is spent
    assert response.status_code == 429 and "Too many attempts" in response.text
    assert env.registrar.accounts == {"alice": OLD_PASSWORD}
    assert len(env.registrar.calls) == env.settings.rate_limits.per_address.attempts
    # Another client is not affected.
    assert change_password(Browser(env.app, forwarded_for="203.0.113.80")).status_code == 200


@pytest.mark.parametrize("fields, status, field, words", [
    ({"password": OLD_PASSWORD, "password_again": OLD_PASSWORD}, 400, "password", "same as the current one"),
    ({"current_password": ""}, 400, "current_password", "Enter your current password"),
    ({"current_password": "x" * 1025}, 400, "current_password", "at most 1024"),
    ({"account": ""}, 400, "account", "Enter your username or address"),
    ({"account": "alice@example.org"}, 400, "account", f"Only accounts on {REALM}"),
    ({"account": f"alice@{REALM}/laptop"}, 400, "account", f"Only accounts on {REALM}"),
    ({"account": "alice smith"}, 400, "account", "cannot contain a space"),
    ({"account": "<b>x</b>"}, 400, "account", "cannot contain “&lt;”"),
    ({"account": "a" * 1100}, 400, "account", "not a username or address on this server"),
])
def test_a_bad_password_form_says_what_is_wrong_and_changes_nothing(env, fields, status, field, words):
    env.registrar.accounts["alice"] = OLD_PASSWORD
    data = {"account": "alice", "current_password": OLD_PASSWORD, "password": NEW_PASSWORD,
            "password_again": fields.get("password", NEW_PASSWORD), **fields}
    response = env.browser.submit("/password", **data)
    assert response.status_code == status, response.text
    assert words in response.text
    assert f'id="{field}-error"' in response.text and f'href="#{field}"' in response.text
    assert "<b>x" not in response.text
    assert env.registrar.calls == [] and env.registrar.accounts == {"alice": OLD_PASSWORD}


def test_a_new_password_the_server_refuses(env):
    env.registrar.accounts["alice"] = OLD_PASSWORD
    env.registrar.refused_passwords.add(NEW_PASSWORD)
    response = change_password(env.browser)
    assert response.status_code == 400 and "The server refuses this new password" in response.text


def test_password_change_is_a_form_like_the_others(env):
    env.registrar.accounts["alice"] = OLD_PASSWORD
    token = env.browser.csrf("/password")
    data = {"account": "alice", "current_password": OLD_PASSWORD, "password": NEW_PASSWORD, "password_again": NEW_PASSWORD}
    foreign = env.browser.post("/password", data={"csrf_token": token, **data}, headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 403 and "another site" in foreign.text
    assert env.browser.post("/password", data=data).status_code == 403
    other_page = env.browser.csrf("/signup")
    assert env.browser.post("/password", data={"csrf_token": other_page, **data}).status_code == 403
    assert env.registrar.calls == [] and env.registrar.accounts == {"alice": OLD_PASSWORD}
    for name, value in SECURITY_HEADERS.items():
        assert foreign.headers[name] == value and env.browser.get("/password").headers[name] == value
    assert env.browser.get("/password").headers["Cache-Control"] == "no-store"


def test_password_change_when_prosody_cannot_be_asked(env):
    def broken(*args):
        raise ConnectionError("prosody down")

    env.registrar.accounts["alice"] = OLD_PASSWORD
    env.registrar.change_password = broken
    response = change_password(env.browser)
    assert response.status_code == 503 and "try again later" in response.text


def test_every_page_links_the_password_change(env):
    with_reset(env)
    for path in ("/signup", "/password", "/join/invite-good-1", "/join/reset-alice-1", "/join/nope-nope"):
        assert 'href="/password"' in env.browser.get(path).text, path


def test_no_password_or_failed_name_is_logged(env, caplog):
    caplog.set_level(logging.DEBUG)
    with_reset(env)
    reset(env.browser, new="reset passphrase 1")
    change_password(env.browser, "alice", "reset passphrase 1", "changed passphrase 2")
    change_password(env.browser, "typo-name-secret", "guessed passphrase 3", "whatever passphrase 4")
    logged = caplog.text
    for secret in ("passphrase", "reset-alice-1", "typo-name-secret", OLD_PASSWORD):
        assert secret not in logged
    assert f"password reset through the web page: alice@{REALM}" in logged
    assert f"password changed through the web page: alice@{REALM}" in logged
    assert "wrong username or password" in logged


# ---- bad inputs -------------------------------------------------------------------------------


def _used_invite(env):
    assert join(env.browser).status_code == 200
    env.expected_accounts = {"alice": GOOD_PASSWORD}
    return env.browser.get("/join/invite-good-1")


def _expired_csrf(env):
    token = env.browser.csrf("/join/invite-good-1")
    env.clock.now += 3 * 3600
    return env.browser.post("/join/invite-good-1", data={"csrf_token": token, "username": "bob",
                                                         "password": GOOD_PASSWORD, "password_again": GOOD_PASSWORD})


def _csrf_of_another_page(env):
    token = env.browser.csrf("/signup")
    return env.browser.post("/join/invite-good-1", data={"csrf_token": token, "username": "bob",
                                                         "password": GOOD_PASSWORD, "password_again": GOOD_PASSWORD})


def _csrf_without_its_cookie(env):
    token = env.browser.csrf("/join/invite-good-1")
    env.browser.client.delete_cookie(CSRF_COOKIE, domain=SITE)
    return env.browser.post("/join/invite-good-1", data={"csrf_token": token, "username": "bob",
                                                         "password": GOOD_PASSWORD, "password_again": GOOD_PASSWORD})


def _csrf_from_another_browser(env):
    token = Browser(env.app).csrf("/join/invite-good-1")
    env.browser.get("/join/invite-good-1")  # this browser has its own cookie
    return env.browser.post("/join/invite-good-1", data={"csrf_token": token, "username": "bob",
                                                         "password": GOOD_PASSWORD, "password_again": GOOD_PASSWORD})


def _forged_csrf(env):
    env.browser.get("/join/invite-good-1")
    return env.browser.post("/join/invite-good-1", data={"csrf_token": "eyJmb3JnZWQiOnRydWV9.Zz.abc", "username": "bob",
                                                         "password": GOOD_PASSWORD, "password_again": GOOD_PASSWORD})


def _missing_csrf(env):
    env.browser.get("/join/invite-good-1")
    return env.browser.post("/join/invite-good-1", data={"username": "bob", "password": GOOD_PASSWORD,
                                                         "password_again": GOOD_PASSWORD})


def _oversized_body(env):
    token = env.browser.csrf("/join/invite-good-1")
    return env.browser.post("/join/invite-good-1", data={"csrf_token": token, "username": "b" * 20000,
                                                         "password": GOOD_PASSWORD, "password_again": GOOD_PASSWORD})


def _taken(env):
    env.registrar.accounts["bob"] = "someone else's"
    env.expected_accounts = {"bob": "someone else's"}
    return join(env.browser, username="bob")


def _too_many_for_one_address(env):
    for index in range(env.settings.rate_limits.per_address.attempts):
        env.browser.get(f"/join/unknown-{index}")
    return env.browser.get("/join/invite-good-1")


def _too_many_for_one_email(env):
    for index in range(env.settings.rate_limits.per_email.attempts):
        assert Browser(env.app, forwarded_for=f"192.0.2.{index}").submit("/signup", email="victim@clarkson.edu").status_code == 200
    return env.browser.submit("/signup", email="Victim@clarkson.edu")


def _forged_verification(env):
    return env.browser.get("/verify/eyJuIjoiYWJjZGVmZ2hpamtsbW5vcCJ9.aBcDeF.Zm9yZ2VkLXNpZ25hdHVyZQ")


def _tampered_verification(env):
    path = verification_link(env)
    index = len("/verify/") + 3
    return env.browser.get(path[:index] + ("A" if path[index] != "A" else "B") + path[index + 1:])


def _expired_verification(env):
    path = verification_link(env)
    env.clock.now += env.settings.verification_expiry_seconds + 1
    return env.browser.get(path)


def _reused_verification(env):
    path = verification_link(env)
    assert env.browser.submit(path).status_code == 303
    return env.browser.get(path)


def _reused_verification_post(env):
    path = verification_link(env)
    token = env.browser.csrf(path)
    assert env.browser.post(path, data={"csrf_token": token}).status_code == 303
    return env.browser.post(path, data={"csrf_token": token})


def _verification_without_csrf(env):
    path = verification_link(env)
    return env.browser.post(path, data={})


def _foreign_origin(env):
    token = env.browser.csrf("/signup")
    return env.browser.post("/signup", data={"csrf_token": token, "email": "a@clarkson.edu"},
                            headers={"Origin": "https://evil.example"})


def _signup(email):
    return lambda env: env.browser.submit("/signup", email=email)


def _join_as(username, password=GOOD_PASSWORD, again=None):
    return lambda env: join(env.browser, username=username, password=password, again=again)


def _get(path):
    return lambda env: env.browser.get(path)


def _for_alice(action, password_after=OLD_PASSWORD):
    """``action`` where alice's account exists (with OLD_PASSWORD), which it leaves with ``password_after``."""
    def run(env):
        env.registrar.accounts["alice"] = OLD_PASSWORD
        env.expected_accounts = {"alice": password_after}
        return action(env)
    return run


def _reset_of_a_missing_account(env):
    env.registrar.invites["reset-gone"] = "valid"
    env.registrar.resets["reset-gone"] = "gone"
    return env.browser.get("/join/reset-gone")


def _used_reset_link(env):
    path = with_reset(env)
    assert reset(env.browser, path).status_code == 200
    return env.browser.get(path)


def _named_invite_other_name(env):
    path = with_named(env)
    return env.browser.submit(path, username="mallory", password=GOOD_PASSWORD, password_again=GOOD_PASSWORD)


def _password_change_foreign_origin(env):
    token = env.browser.csrf("/password")
    return env.browser.post("/password", headers={"Origin": "https://evil.example"}, data={
        "csrf_token": token, "account": "alice", "current_password": OLD_PASSWORD,
        "password": NEW_PASSWORD, "password_again": NEW_PASSWORD})


# (id, action, expected status, words the page must say)
BAD_INPUTS = [
    ("unknown-invite", _get("/join/no-such-invite"), 404, "cannot be used"),
    ("malformed-invite", _get("/join/%3Cscript%3E"), 404, "cannot be used"),
    ("reused-invite", _used_invite, 404, "already been used"),
    ("expired-invite", _get("/join/invite-expired"), 404, "has expired"),
    ("post-to-unknown-invite", lambda env: env.browser.post("/join/invite-expired", data={"username": "bob", "password": GOOD_PASSWORD, "password_again": GOOD_PASSWORD}), 404, "cannot be used"),
    ("missing-csrf", _missing_csrf, 403, "form has expired"),
    ("forged-csrf", _forged_csrf, 403, "form has expired"),
    ("expired-csrf", _expired_csrf, 403, "form has expired"),
    ("csrf-of-another-page", _csrf_of_another_page, 403, "form has expired"),
    ("csrf-without-its-cookie", _csrf_without_its_cookie, 403, "form has expired"),
    ("csrf-from-another-browser", _csrf_from_another_browser, 403, "form has expired"),
    ("foreign-origin", _foreign_origin, 403, "another site"),
    ("empty-username", _join_as(""), 400, "Choose a username"),
    ("username-with-space", _join_as("bob smith"), 400, "cannot contain a space"),
    ("username-with-at", _join_as("bob@example.org"), 400, "cannot contain “@”"),
    ("username-with-slash", _join_as("bob/x"), 400, "cannot contain “/”"),
    ("username-with-markup", _join_as("<script>alert(1)</script>"), 400, "cannot contain “&lt;”"),
    ("username-emoji", _join_as("bob\U0001F600"), 400, "only contain letters"),
    ("username-control-char", _join_as("bob\x07"), 400, "only contain letters"),
    ("username-too-long", _join_as("b" * 65), 400, "at most 64 characters"),
    ("username-reserved", _join_as("admin"), 400, "reserved"),
    ("username-reserved-other-case", _join_as("PostMaster"), 400, "reserved"),
    ("username-reserved-fullwidth", _join_as("ｒｏｏｔ"), 400, "reserved"),
    ("username-reserved-lookalike-digit", _join_as("adm1n"), 400, "looks like a reserved one"),
    ("username-reserved-lookalike-zeros", _join_as("r00t"), 400, "looks like a reserved one"),
    ("username-cyrillic-a-in-admin", _join_as("\u0430dmin"), 400, "cannot mix letters of different scripts"),
    ("username-all-cyrillic-xmpp", _join_as("\u0445\u043c\u0440\u0440"), 400, "looks like a reserved one"),
    ("username-greek-alpha-in-alice", _join_as("\u03b1lice"), 400, "cannot mix letters of different scripts"),
    ("username-taken", _taken, 409, "taken"),
    ("username-refused-by-server", _join_as("prosodyrefuses"), 400, "refuses this username"),
    ("password-too-short", _join_as("bob", "short pass"), 400, "at least 12 characters"),
    ("password-too-simple", _join_as("bob", "abababababababab"), 400, "5 different characters"),
    ("password-contains-username", _join_as("bobbybob", "my name is BobbyBob!"), 400, "cannot contain the username"),
    ("passwords-differ", _join_as("bob", GOOD_PASSWORD, GOOD_PASSWORD + "!"), 400, "differ"),
    ("password-too-long", _join_as("bob", "x1y2z3" * 200), 400, "at most 1024"),
    ("nul-in-field", _join_as("bob\x00admin"), 400, "cannot be accepted"),
    ("oversized-body", _oversized_body, 413, "too large"),
    ("email-disallowed-domain", _signup("someone@gmail.com"), 400, "open to addresses at clarkson.edu only"),
    ("email-subdomain", _signup("someone@mail.clarkson.edu"), 400, "clarkson.edu only"),
    ("email-lookalike-domain", _signup("someone@clarkson.edu.evil.example"), 400, "clarkson.edu only"),
    ("email-malformed", _signup("not an address"), 400, "not an e-mail address"),
    ("email-markup", _signup("<b>x</b>@clarkson.edu"), 400, "not an e-mail address"),
    ("email-header-injection", _signup("a@clarkson.edu\r\nBcc: b@clarkson.edu"), 400, "not an e-mail address"),
    ("email-oversized", _signup("a" * 300 + "@clarkson.edu"), 400, "at most 254"),
    ("email-empty", _signup(""), 400, "Enter your e-mail address"),
    ("too-many-from-one-address", _too_many_for_one_address, 429, "Too many attempts"),
    ("too-many-for-one-email", _too_many_for_one_email, 429, "Too many sign-up messages"),
    ("forged-verification", _forged_verification, 404, "not valid"),
    ("tampered-verification", _tampered_verification, 404, "not valid"),
    ("expired-verification", _expired_verification, 410, "has expired"),
    ("reused-verification", _reused_verification, 410, "already been used"),
    ("reused-verification-post", _reused_verification_post, 410, "already been used"),
    ("verification-without-csrf", _verification_without_csrf, 403, "form has expired"),
    ("malformed-verification", _get("/verify/%3Cb%3E"), 404, "not valid"),
    ("reset-for-another-account", _for_alice(lambda env: reset(env.browser, with_reset(env), username="bob")), 400, "sets a new password for"),
    ("reset-of-a-missing-account", _reset_of_a_missing_account, 404, "cannot be used"),
    ("used-reset-link", _for_alice(_used_reset_link, NEW_PASSWORD), 404, "already been used"),
    ("named-invite-other-name", _named_invite_other_name, 400, "for the account carol@"),
    ("password-change-wrong-password", _for_alice(lambda env: change_password(env.browser, current="not it at all")), 403, "username or password is wrong"),
    ("password-change-bad-new-password", _for_alice(lambda env: change_password(env.browser, new="short")), 400, "at least 12 characters"),
    ("password-change-foreign-origin", _for_alice(_password_change_foreign_origin), 403, "another site"),
    ("wrong-method", lambda env: env.browser.client.put("/signup", base_url=BASE), 405, "does not accept"),
    ("no-such-page", _get("/admin"), 404, "no page at this address"),
]


@pytest.mark.parametrize("action, status, words", [case[1:] for case in BAD_INPUTS], ids=[case[0] for case in BAD_INPUTS])
def test_bad_input_is_refused_and_the_service_keeps_serving(env, action, status, words):
    env.expected_accounts = {}
    response = action(env)
    assert response.status_code == status, response.text
    text = response.get_data(as_text=True)
    assert words in text.replace("\n", " ").replace("  ", " ") or words in _message(text)
    assert "<script>" not in text and "<b>x" not in text
    assert env.registrar.accounts == env.expected_accounts, "no account created"
    for mail in env.mailer.sent:
        assert mail["to"].endswith("@clarkson.edu") and "\n" not in mail["to"]
    # Still serving: a fresh client can sign up.
    fresh = Browser(env.app, forwarded_for="203.0.113.250")
    assert fresh.get("/signup").status_code == 200
    assert fresh.submit("/signup", email="fresh@clarkson.edu").status_code == 200


def _message(text):
    return " ".join(re.sub(r"<[^>]+>", " ", text).split())


def test_smtp_mailer_uses_starttls_and_login(monkeypatch):
    from webservice.signup import mail
    from eldwyn.schema.signup import Smtp

    calls = []

    class FakeSMTP:
        def __init__(self, host, port, timeout):
            calls.append(("connect", host, port))

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            calls.append(("quit",))

        def starttls(self, context):
            calls.append(("starttls",))

        def login(self, user, password):
            calls.append(("login", user, password))

        def send_message(self, message):
            calls.append(("send", message["To"], message["From"], message.get_content()))

    monkeypatch.setattr(mail.smtplib, "SMTP", FakeSMTP)
    smtp = Smtp(host="smtp.clarkson.edu", port=587, starttls=True, username="eldwyn", from_address=f"noreply@{SITE}")
    mailer = mail.SmtpMailer(smtp, "hunter2-but-longer")
    assert "hunter2" not in repr(mailer)
    mailer.send("a@clarkson.edu", "Subject", "Body\n")
    assert calls == [("connect", "smtp.clarkson.edu", 587), ("starttls",), ("login", "eldwyn", "hunter2-but-longer"),
                     ("send", "a@clarkson.edu", f"noreply@{SITE}", "Body\n"), ("quit",)]
    with pytest.raises(ValueError):
        mailer.send("a@clarkson.edu\r\nBcc: b@evil.example", "Subject", "Body")


def test_mail_failure_is_a_clear_503_and_the_service_keeps_serving(env):
    def broken(*args):
        raise OSError("connection refused")

    env.mailer.send = broken
    response = env.browser.submit("/signup", email="a@clarkson.edu")
    assert response.status_code == 503 and "try again later" in response.text
    assert env.browser.get("/signup").status_code == 200


def test_a_message_that_could_not_be_sent_does_not_count_against_the_daily_limit(env):
    attempts = env.settings.rate_limits.per_email.attempts
    sent = env.mailer.send

    def broken(*args):
        raise OSError("connection refused")

    env.mailer.send = broken
    for _ in range(attempts + 2):  # more failures than the limit allows messages
        assert env.browser.submit("/signup", email="a@clarkson.edu").status_code == 503
    env.mailer.send = sent
    for _ in range(attempts):  # the whole budget is still there
        assert env.browser.submit("/signup", email="a@clarkson.edu").status_code == 200
    assert env.browser.submit("/signup", email="a@clarkson.edu").status_code == 429


def test_registrar_failure_is_a_clear_503(env):
    def broken(*args):
        raise ConnectionError("prosody down")

    env.registrar.invite_info = broken
    response = env.browser.get("/join/invite-good-1")
    assert response.status_code == 503 and "try again later" in response.text

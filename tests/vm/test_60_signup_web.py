"""The registration webservice on the VM, as people use it: headless Chromium (Debian's, driven
by Playwright) through nginx and TLS, both flows end to end, then the new account logs in over
XMPP; and bad inputs through the real nginx, each answered 4xx with a message, creating nothing.
Then the account's self-service: a password-reset link, an invite made for one name, and a
password change, each proven by XMPP logins with the old and the new password.

The site's name is never resolved: Chromium maps SITE:443 to the port forwarded to the VM, and
trusts exactly the site certificate's key (nothing else); `requests` connects to 127.0.0.1 with
the site's name for SNI and Host, and verifies the chain against the test bed's CA.
"""

import os
import re
import time
import uuid

import pytest

from eldwyn.certificates import certificate_for
from eldwyn.secrets import SecretsStore
from tests import xmpp, xmpp_register
from tests.testbed import spki_sha256_base64, REPO, config_for_testbed, host_port

CONFIG = config_for_testbed()
SITE = CONFIG.signup.site_name
REALM = CONFIG.realm
SINK_PORT = CONFIG.signup.smtp.port  # group_data/testbed.py points the service at this sink
MAILDIR = "/var/lib/eldwyn-testbed/mail"  # testbed/vm/mail-sink
SCREENSHOTS = REPO / "docs" / "screenshots"


def site_certificate_pem():
    store = SecretsStore(CONFIG.secrets.dir)
    return certificate_for(CONFIG.site_certificate, CONFIG.tls, store).certificate_pem


def new_password():
    return "Pw-" + uuid.uuid4().hex  # 35 characters, many different ones


def accounts(vm):
    return xmpp_register.accounts(vm.check_output, REALM)


@pytest.fixture(scope="module")
def browser(target):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=[
                "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                f"--host-resolver-rules=MAP {SITE}:443 127.0.0.1:{host_port('web_https')}",
                f"--ignore-certificate-errors-spki-list={spki_sha256_base64(site_certificate_pem())}",
            ],
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def mail_sink(vm):
    """The test bed's SMTP sink in the VM, where the service sends its mail (testbed/vm/mail-sink,
    started by testbed/bin/up and testbed/bin/test, never deployed), emptied for these tests."""
    assert vm.service("eldwyn-testbed-mail-sink").is_running, \
        "the test bed's mail sink is not running: testbed/bin/up (and bin/test) start it"
    assert vm.service("eldwyn-testbed-mail-sink").is_enabled
    assert vm.socket(f"tcp://127.0.0.1:{SINK_PORT}").is_listening, "the sink is not on the data's signup_smtp port"
    vm.check_output("/usr/local/lib/eldwyn-testbed/mail-sink clear")
    return MAILDIR


def wait_for_mail(vm, address, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        mail = vm.run(f"grep -l -r -F {address} {MAILDIR}/new 2>/dev/null | xargs -r cat").stdout
        if mail:
            return mail
        time.sleep(1)
    raise AssertionError(f"no mail for {address} within {timeout} s")


def register_in_browser(page, username, password):
    page.fill("#username", username)
    page.fill("#password", password)
    page.fill("#password_again", password)
    page.click("button[type=submit]")
    page.wait_for_load_state()


def screenshot(page, name):
    if os.environ.get("ELDWYN_SCREENSHOTS"):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_prosody_prints_invite_links_to_this_site(vm):
    output = vm.check_output(f"prosodyctl shell invite create_account {REALM}")
    assert re.search(rf"https://{re.escape(SITE)}/join/[A-Za-z0-9_-]+", output), output


def test_invite_link_flow_in_a_real_browser(vm, target, browser):
    token = xmpp_register.create_invite(vm.check_output, REALM)
    username, password = xmpp_register.new_username("web"), new_password()
    page = browser.new_page()
    page.goto(f"https://{SITE}/join/{token}")
    assert page.locator("#username").is_visible()
    screenshot(page, "join-form")
    register_in_browser(page, username, password)
    text = page.inner_text("main")
    assert f"{username}@{REALM}" in text, text
    assert f"xmpp:{username}@{REALM}" in page.content()
    screenshot(page, "joined")
    assert xmpp_register.can_login(target, username, password)
    # the invite is spent: the same link now refuses, through the browser too
    again = page.goto(f"https://{SITE}/join/{token}")
    assert 400 <= again.status < 500
    page.close()


def test_email_flow_in_a_real_browser(vm, target, browser, mail_sink):
    address = f"tester-{uuid.uuid4().hex[:8]}@{CONFIG.signup.allowed_email_domains[0]}"
    page = browser.new_page()
    page.goto(f"https://{SITE}/signup")
    screenshot(page, "signup-form")
    page.fill("#email", address)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert page.url.startswith(f"https://{SITE}/")
    mail = wait_for_mail(vm, address)
    link = re.search(rf"https://{re.escape(SITE)}/verify/\S+", mail.replace("=\n", ""))
    assert link, mail
    page.goto(link.group(0))
    page.click("button[type=submit]")  # "Continue": the link is spent by this POST, not by the GET
    page.wait_for_load_state()
    assert "/join/" in page.url, page.url
    username, password = xmpp_register.new_username("mail"), new_password()
    register_in_browser(page, username, password)
    assert f"{username}@{REALM}" in page.inner_text("main")
    assert xmpp_register.can_login(target, username, password)
    # the verification link was single-use
    reused = page.goto(link.group(0))
    assert 400 <= reused.status < 500
    page.close()


def form(site, path):
    """GET a form; returns (response, its CSRF token)."""
    response = site.get(site.base + path, timeout=30)
    match = re.search(r'name="csrf_token" value="([^"]+)"', response.text)
    return response, (match.group(1) if match else None)


def join_post(site, token, username, password, password_again=None, csrf=True, **extra):
    _, csrf_token = form(site, f"/join/{token}")
    fields = {"username": username, "password": password,
              "password_again": password if password_again is None else password_again}
    if csrf:
        fields["csrf_token"] = csrf_token if csrf is True else csrf
    return site.post(site.base + f"/join/{token}", data=fields, timeout=30, allow_redirects=False, **extra)


def password_post(site, account, current, new, again=None, **extra):
    _, csrf_token = form(site, "/password")
    fields = {"csrf_token": csrf_token, "account": account, "current_password": current,
              "password": new, "password_again": new if again is None else again}
    return site.post(site.base + "/password", data=fields, timeout=30, allow_redirects=False, **extra)


def signup_post(site, email, csrf=True):
    _, csrf_token = form(site, "/signup")
    fields = {"email": email}
    if csrf:
        fields["csrf_token"] = csrf_token
    return site.post(site.base + "/signup", data=fields, timeout=30, allow_redirects=False)


GOOD = "Correct-Horse-Battery-9"

BAD_INPUTS = {
    "forged-invite": lambda s, vm, t: s.get(s.base + "/join/" + "A" * 24, timeout=30),
    "garbage-invite": lambda s, vm, t: s.get(s.base + "/join/%3Cscript%3E", timeout=30),
    "expired-invite": lambda s, vm, t: (time.sleep(3), s.get(s.base + "/join/" + t["expired"], timeout=30))[1],
    "used-invite": lambda s, vm, t: s.get(s.base + "/join/" + t["used"], timeout=30),
    "reset-token-as-invite": lambda s, vm, t: join_post(s, t["reset"], "resetnew" + uuid.uuid4().hex[:6], GOOD),
    "missing-csrf": lambda s, vm, t: join_post(s, t["fresh"], "nocsrf", GOOD, csrf=False),
    "forged-csrf": lambda s, vm, t: join_post(s, t["fresh"], "badcsrf", GOOD, csrf="x" * 40),
    "foreign-origin": lambda s, vm, t: join_post(s, t["fresh"], "origin", GOOD, headers={"Origin": "https://evil.example"}),
    "username-with-space": lambda s, vm, t: join_post(s, t["fresh"], "a b", GOOD),
    "username-with-at": lambda s, vm, t: join_post(s, t["fresh"], "a@b", GOOD),
    "username-with-slash": lambda s, vm, t: join_post(s, t["fresh"], "a/b", GOOD),
    "username-markup": lambda s, vm, t: join_post(s, t["fresh"], "<script>alert(1)</script>", GOOD),
    "username-emoji": lambda s, vm, t: join_post(s, t["fresh"], "rocket\U0001F680", GOOD),
    "username-empty": lambda s, vm, t: join_post(s, t["fresh"], "", GOOD),
    "username-oversized": lambda s, vm, t: join_post(s, t["fresh"], "a" * 2000, GOOD),
    "username-reserved": lambda s, vm, t: join_post(s, t["fresh"], "postmaster", GOOD),
    "username-an-admin": lambda s, vm, t: join_post(s, t["fresh"], CONFIG.admins[0].split("@")[0], GOOD),
    "username-taken": lambda s, vm, t: join_post(s, t["fresh"], "alice", GOOD),
    "username-cyrillic-in-latin": lambda s, vm, t: join_post(s, t["fresh"], "\u0430dmin", GOOD),
    "username-like-a-reserved-one": lambda s, vm, t: join_post(s, t["fresh"], "p0stmaster", GOOD),
    "password-too-short": lambda s, vm, t: join_post(s, t["fresh"], "shortpw", "Ab1-x"),
    "passwords-differ": lambda s, vm, t: join_post(s, t["fresh"], "differ", GOOD, GOOD + "x"),
    "password-contains-username": lambda s, vm, t: join_post(s, t["fresh"], "carolyn", "carolyn-is-my-password"),
    "body-oversized": lambda s, vm, t: s.post(s.base + f"/join/{t['fresh']}", data={"username": "x" * 70000}, timeout=30),
    "email-disallowed-domain": lambda s, vm, t: signup_post(s, "someone@example.org"),
    "email-subdomain": lambda s, vm, t: signup_post(s, "someone@evil.clarkson.edu.example"),
    "email-malformed": lambda s, vm, t: signup_post(s, "not-an-address"),
    "email-markup": lambda s, vm, t: signup_post(s, "<b>x</b>@clarkson.edu"),
    "email-missing-csrf": lambda s, vm, t: signup_post(s, "someone@clarkson.edu", csrf=False),
    "verify-forged": lambda s, vm, t: s.get(s.base + "/verify/" + "B" * 40, timeout=30),
    "too-many-mails-for-one-address": lambda s, vm, t: [signup_post(s, t["flood"]) for _ in range(4)][-1],
    "named-invite-other-name": lambda s, vm, t: join_post(s, t["named"], "mallory" + uuid.uuid4().hex[:6], GOOD),
    "password-change-wrong-password": lambda s, vm, t: password_post(s, "alice", "not-alices-password", GOOD),
    "password-change-unknown-user": lambda s, vm, t: password_post(s, "nobody" + uuid.uuid4().hex[:6], GOOD + "x", GOOD),
    "password-change-other-domain": lambda s, vm, t: password_post(s, "alice@example.org", "whatever-it-is", GOOD),
    "password-change-too-short": lambda s, vm, t: password_post(s, "alice", "whatever-it-is", "Ab1-x"),
    "password-change-foreign-origin": lambda s, vm, t: password_post(s, "alice", "whatever-it-is", GOOD, headers={"Origin": "https://evil.example"}),
}


@pytest.fixture(scope="module")
def tokens(vm, target):
    """Invites in every state the bad inputs need (made by Prosody itself, over SSH)."""
    run = vm.check_output
    used = xmpp_register.create_invite(run, REALM)
    xmpp_register.register_with_invite(target, used, xmpp_register.new_username("used"), new_password())
    return {
        "expired": xmpp_register.create_invite(run, REALM, expires_after="1s"),
        "used": used,
        "reset": xmpp_register.create_reset(run, REALM, "bob"),
        "fresh": xmpp_register.create_invite(run, REALM),
        "named": xmpp_register.create_invite(run, REALM, username=xmpp_register.new_username("named")),
        "flood": f"flood-{uuid.uuid4().hex[:8]}@{CONFIG.signup.allowed_email_domains[0]}",
    }


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_refused_with_a_message_and_creates_nothing(case, vm, site, tokens, mail_sink):
    before = accounts(vm)
    response = BAD_INPUTS[case](site, vm, tokens)
    assert 400 <= response.status_code < 500, (case, response.status_code, response.text[:500])
    if response.status_code != 413:  # nginx's own refusal of an oversized body has no form
        assert re.search(r'role="alert"', response.text), response.text[:500]
    assert "<script>alert" not in response.text and "<b>x</b>" not in response.text
    assert accounts(vm) == before
    assert site.get(site.base + "/signup", timeout=30).status_code == 200  # still serving


# ---- account self-service: reset links, named invites, password change -------------------------

def new_account_through_the_site(vm, site, prefix):
    """A fresh account (never alice or bob: other tests log in with their passwords), made
    through the site: its registrations come from loopback, which Prosody's throttle exempts."""
    token = xmpp_register.create_invite(vm.check_output, REALM)
    username, password = xmpp_register.new_username(prefix), new_password()
    response = join_post(site, token, username, password)
    assert response.status_code == 200, response.text[:500]
    return username, password


def submit_password(page, password):
    page.fill("#password", password)
    page.fill("#password_again", password)
    page.click("button[type=submit]")
    page.wait_for_load_state()


def test_a_reset_link_sets_a_new_password_in_a_real_browser(vm, target, browser, site):
    username, old = new_account_through_the_site(vm, site, "reset")
    assert xmpp_register.can_login(target, username, old)
    token = xmpp_register.create_reset(vm.check_output, REALM, username)
    page = browser.new_page()
    shown = page.goto(f"https://{SITE}/join/{token}")
    assert shown.status == 200
    assert page.inner_text("h1") == f"Choose a new password for {username}@{REALM}"
    assert page.locator("#username").count() == 0, "a reset asks for no username"
    screenshot(page, "reset-password")
    new = new_password()
    # Whoever is logged in with the old password is logged out by the reset.
    logged_in = xmpp.with_password(target, f"{username}@{REALM}", old)
    assert xmpp.closed_by(logged_in, f"{username}@{REALM}", lambda: submit_password(page, new))
    text = page.inner_text("main")
    assert "Your password has been changed" in text and f"{username}@{REALM}" in text, text
    assert not xmpp_register.can_login(target, username, old)
    assert xmpp_register.can_login(target, username, new)
    # The link worked once: Prosody deleted the invite, the page says so.
    assert not xmpp_register.invite_is_pending(vm.check_output, REALM, token)
    again = page.goto(f"https://{SITE}/join/{token}")
    assert again.status == 404 and "cannot be used" in page.inner_text("main")
    page.close()


def test_a_reset_link_sets_no_other_accounts_password(vm, target, site):
    owner, owner_password = new_account_through_the_site(vm, site, "resetowner")
    other, other_password = new_account_through_the_site(vm, site, "resetother")
    token = xmpp_register.create_reset(vm.check_output, REALM, owner)
    for name in (other, f"{other}@{REALM}", "newname" + uuid.uuid4().hex[:6]):
        refused = join_post(site, token, name, GOOD)
        assert refused.status_code == 400, refused.text[:500]
        assert f"sets a new password for {owner}@{REALM} only" in refused.text
    assert xmpp_register.can_login(target, other, other_password)
    assert xmpp_register.can_login(target, owner, owner_password)
    assert xmpp_register.invite_is_pending(vm.check_output, REALM, token), "a refused form used the link up"


def test_a_named_invite_shows_its_name_in_a_real_browser(vm, target, browser, site):
    username, password = xmpp_register.new_username("named"), new_password()
    token = xmpp_register.create_invite(vm.check_output, REALM, username=username)
    before = accounts(vm)
    refused = join_post(site, token, "someone-" + uuid.uuid4().hex[:6], password)
    assert refused.status_code == 400 and f"for the account {username}@{REALM} only" in refused.text
    assert accounts(vm) == before and xmpp_register.invite_is_pending(vm.check_output, REALM, token)
    page = browser.new_page()
    page.goto(f"https://{SITE}/join/{token}")
    field = page.locator("#username")
    assert field.input_value() == username and not field.is_editable(), "the name is shown, read-only"
    assert f"{username}@{REALM}" in page.inner_text("main")
    submit_password(page, password)
    assert f"{username}@{REALM}" in page.inner_text("main")
    assert accounts(vm) == before | {username}
    assert xmpp_register.can_login(target, username, password)
    page.close()


def test_a_password_change_in_a_real_browser(vm, target, browser, site):
    username, old = new_account_through_the_site(vm, site, "change")
    page = browser.new_page()
    page.goto(f"https://{SITE}/password")
    page.fill("#account", f"{username}@{REALM}")
    screenshot(page, "change-password")
    page.fill("#current_password", old)
    new = new_password()
    submit_password(page, new)
    text = page.inner_text("main")
    assert "Your password has been changed" in text and f"{username}@{REALM}" in text, text
    assert not xmpp_register.can_login(target, username, old)
    assert xmpp_register.can_login(target, username, new)
    # The old password no longer changes anything: the same answer as for an unknown user.
    wrong = password_post(site, username, old, new_password())
    unknown = password_post(site, "nobody-" + uuid.uuid4().hex[:6], old, new_password())
    for response in (wrong, unknown):
        assert response.status_code == 403 and "The username or password is wrong." in response.text
    assert xmpp_register.can_login(target, username, new)
    page.close()


def test_a_name_that_looks_like_an_existing_account_is_refused_and_keeps_the_invite(vm, site):
    """mod_register_lookalike_names: "1ookalike-..." passes the site's own checks (it looks like
    no reserved name), but Prosody sees that lookalike-... exists and refuses; the invite stays
    usable, nothing is made. (alice and bob are seeded, so the site itself refuses "a1ice".)"""
    existing, _ = new_account_through_the_site(vm, site, "lookalike")
    before = accounts(vm)
    for username in ("1" + existing[1:], existing.replace("o", "0", 1), existing.upper().replace("L", "I", 1)):
        token = xmpp_register.create_invite(vm.check_output, REALM)
        response = join_post(site, token, username, new_password())
        assert response.status_code == 400, (username, response.text[:500])
        assert "The server refuses this username" in response.text, response.text[:500]
        assert accounts(vm) == before
        assert xmpp_register.invite_is_pending(vm.check_output, REALM, token), "a refused name used the invite up"
    with vm.sudo():
        assert int(vm.check_output("grep -c 'it looks like an existing account' /var/log/prosody/prosody.log")) >= 3

"""The sign-up web application: invite links (/join/TOKEN), e-mail sign-up (/signup), and the
account's self-service: password-reset links (/join/TOKEN too) and password change (/password).

``create_app(settings, registrar=None, mailer=None, clock=time.time)`` builds it. The registrar
(webservice/signup/registrar.py) talks to Prosody: ``invite_info(token)`` (None when the invite
cannot be redeemed, else what it is for: ``.username``, the one account it is for or None for
any name, and ``.reset``, whether it sets a new password on that account), ``register(token,
username, password)`` ("ok", or one of "invalid_token", "username_taken", "invalid_username",
"other"; for a reset: the new password), ``change_password(username, password, new_password)``
("ok", "not_authorized", "refused" or "other") and ``create_invite()`` (a token, or a link
ending in it). The mailer has ``send(to, subject, body)``.

What an invite is for comes from Prosody (invite_info), never from the link: a reset page names
the account the reset invite was made for, and a named invite registers only its name, whatever
the form sends.

Every refusal is a 4xx page saying what is wrong; nothing secret (passwords, tokens, e-mail
addresses, keys) is logged; every response carries the security headers of SECURITY_HEADERS.
"""

import base64
import hashlib
import hmac
import ipaddress
import logging
import os
import re
import secrets
import time
from urllib.parse import quote

from flask import Flask, abort, g, redirect, render_template, request, send_file, url_for
from itsdangerous import BadData, SignatureExpired, TimestampSigner, URLSafeTimedSerializer
from werkzeug.exceptions import HTTPException

from webservice.signup import validation
from webservice.signup.mail import SmtpMailer
from webservice.signup.settings import SECRET_KEY, SMTP_PASSWORD
from webservice.signup.state import State

log = logging.getLogger("eldwyn.signup")

MAX_REQUEST_BYTES = 16 * 1024  # the largest honest form is a few hundred bytes
CSRF_COOKIE = "__Host-eldwyn-csrf"
CSRF_FIELD = "csrf_token"
CSRF_MAX_AGE = 2 * 3600
_TOKEN = re.compile(r"[A-Za-z0-9_.~-]{6,200}\Z")  # invite tokens (Prosody's are base64url)
_SIGNED = re.compile(r"[A-Za-z0-9_.-]{20,600}\Z")  # our own signed verification tokens
_COOKIE_VALUE = re.compile(r"[A-Za-z0-9_-]{43}\Z")
REGISTER_ERRORS = ("invalid_token", "username_taken", "invalid_username", "other")
PASSWORD_ERRORS = ("not_authorized", "refused", "other")

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # Tokens are in our URLs: never sent to another site. Not "no-referrer": with it, browsers
    # send "Origin: null" on our own form posts, which check_origin must refuse.
    "Referrer-Policy": "same-origin",
    # Not includeSubDomains: upload.comm... serves plain HTTP on Prosody's port.
    "Strict-Transport-Security": "max-age=31536000",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}

INVALID_INVITE = ("This invitation link cannot be used: it has already been used, has expired, "
                  "or was copied incompletely. Ask for a new invitation.")
INVALID_LINK = ("This verification link is not valid: it may have been copied incompletely. "
                "Sign up again to get a new one.")
EXPIRED_LINK = "This verification link has expired. Sign up again to get a new one."
USED_LINK = "This verification link has already been used. Sign up again to get a new one."
WRONG_LOGIN = "The username or password is wrong."
ACCOUNT_MAX_CHARS = 1100  # what the password form shows back of a typed address (a JID, at most)
TOO_MANY = "Too many attempts from your network. Wait a few minutes and try again."
TOO_MANY_EMAIL = "Too many sign-up messages for this address today. Try again tomorrow."
UNAVAILABLE = "The service cannot complete this right now. Please try again later."
BAD_FORM = ("This form has expired or your browser did not send its cookie back. "
            "Reload the page (cookies must be enabled) and try again.")


class Refused(Exception):
    """Answer with an error page: ``status`` and a message for the person."""

    def __init__(self, status, message, title="Something is wrong"):
        super().__init__(message)
        self.status = status
        self.message = message
        self.title = title


def _clocked_signer(clock):
    class ClockedSigner(TimestampSigner):
        def get_timestamp(self):
            return int(clock())

    return ClockedSigner


def _default_registrar(settings):
    from webservice.signup import registrar  # the XMPP side; imported only when used

    factory = getattr(registrar, "from_settings", None)
    return factory(settings) if factory else registrar


def _outcome(result, kinds=REGISTER_ERRORS):
    """The register() (or change_password()) result as "ok" or an error kind."""
    result = getattr(result, "value", result)  # an Enum of the same strings works too
    if result in (True, None, "ok", "success"):
        return "ok"
    return result if result in kinds else "other"


def _invite_token(value):
    """The token of what create_invite() returned: a token, a /join/ link or an xmpp: URI."""
    value = str(getattr(value, "token", value))
    for marker in ("preauth=", "/join/"):
        if marker in value:
            value = value.rsplit(marker, 1)[1]
    return value.split("&", 1)[0].split(";", 1)[0].split("?", 1)[0]


def _fingerprint(path):
    """SHA-256 fingerprint (AA:BB:...) of the first PEM certificate in ``path``, or None."""
    try:
        text = open(path, encoding="ascii").read()
        body = text.split("-----BEGIN CERTIFICATE-----", 1)[1].split("-----END CERTIFICATE-----", 1)[0]
        digest = hashlib.sha256(base64.b64decode("".join(body.split()))).hexdigest().upper()
    except (OSError, IndexError, ValueError):
        return None
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def create_app(settings, registrar=None, mailer=None, clock=time.time):
    """The Flask application for ``settings`` (webservice.signup.settings.Settings)."""
    app = Flask(__name__)
    app.config.update(
        MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES,
        MAX_FORM_MEMORY_SIZE=MAX_REQUEST_BYTES,
        MAX_FORM_PARTS=20,
        SESSION_COOKIE_SECURE=True,
        TEMPLATES_AUTO_RELOAD=False,
    )
    secret = settings.credential(SECRET_KEY)
    if registrar is None:
        registrar = _default_registrar(settings)
    if mailer is None:
        password = settings.credential(SMTP_PASSWORD) if settings.smtp.username else None
        mailer = SmtpMailer(settings.smtp, password)
    os.makedirs(settings.state_directory, exist_ok=True)
    state = State(settings.state_directory, clock)
    state.longest_window = max(settings.rate_limits.per_address.window_seconds, settings.rate_limits.per_email.window_seconds)
    signer = _clocked_signer(clock)
    csrf_tokens = URLSafeTimedSerializer(secret, salt="eldwyn-signup csrf", signer=signer)
    verify_tokens = URLSafeTimedSerializer(secret, salt="eldwyn-signup verify", signer=signer)
    email_key = hmac.new(secret.encode(), b"eldwyn-signup email bucket", hashlib.sha256).digest()
    origin = f"https://{settings.site_name}"
    trusted = {ipaddress.ip_address(address) for address in settings.trusted_proxies}
    app.extensions["eldwyn_signup"] = {"state": state, "verify_tokens": verify_tokens,
                                       "registrar": registrar, "mailer": mailer}

    # ---- helpers ---------------------------------------------------------------------------

    def client_network():
        """The client's address (a /64 for IPv6); X-Forwarded-For only from a trusted proxy."""
        try:
            address = ipaddress.ip_address(request.remote_addr or "")
        except ValueError:
            return "unknown"
        forwarded = request.headers.get("X-Forwarded-For", "")
        if address in trusted and forwarded:
            try:
                address = ipaddress.ip_address(forwarded.split(",")[-1].strip())
            except ValueError:
                return "unknown"
        if address.version == 6:
            return str(ipaddress.ip_network(f"{address}/64", strict=False))
        return str(address)

    def limit_address():
        limit = settings.rate_limits.per_address
        if not state.hit(f"address:{client_network()}", limit.attempts, limit.window_seconds):
            log.warning("rate limit reached for a client network on %s", request.path.split("/")[1])
            raise Refused(429, TOO_MANY, "Too many attempts")

    def limit_email(address):
        bucket = "email:" + hmac.new(email_key, address.casefold().encode(), hashlib.sha256).hexdigest()
        limit = settings.rate_limits.per_email
        if not state.hit(bucket, limit.attempts, limit.window_seconds):
            raise Refused(429, TOO_MANY_EMAIL, "Too many messages")
        return bucket

    def check_origin():
        sent = request.headers.get("Origin")
        if sent is not None and sent != origin:
            raise Refused(403, "This form was sent from another site and is refused.", "Refused")

    def csrf_token():
        cookie = request.cookies.get(CSRF_COOKIE, "")
        if not _COOKIE_VALUE.match(cookie):
            cookie = g.new_csrf_cookie = secrets.token_urlsafe(32)
        return csrf_tokens.dumps([cookie, request.path])

    def check_csrf():
        cookie = request.cookies.get(CSRF_COOKIE, "")
        token = request.form.get(CSRF_FIELD, "")
        if not cookie or not token or len(token) > 400:
            raise Refused(403, BAD_FORM, "Form expired")
        try:
            value, path = csrf_tokens.loads(token, max_age=CSRF_MAX_AGE)
        except (BadData, ValueError, TypeError):
            raise Refused(403, BAD_FORM, "Form expired") from None
        if not (isinstance(value, str) and hmac.compare_digest(value, cookie) and path == request.path):
            raise Refused(403, BAD_FORM, "Form expired")

    def field(name):
        value = request.form.get(name, "")
        if "\x00" in value:
            raise Refused(400, "The form contains characters that cannot be accepted.", "Refused")
        return value

    def call_registrar(what, *args):
        try:
            return getattr(registrar, what)(*args)
        except Exception as error:  # never log the arguments: token, password
            log.error("registrar.%s failed: %s", what, type(error).__name__)
            raise Refused(503, UNAVAILABLE, "Temporarily unavailable") from None

    def invite_or_refuse(token):
        """What the invite ``token`` is for (Prosody's answer); Refused if it cannot be used."""
        if not _TOKEN.match(token):
            raise Refused(404, INVALID_INVITE, "Invitation not valid")
        limit_address()
        info = call_registrar("invite_info", token)
        if not info:
            raise Refused(404, INVALID_INVITE, "Invitation not valid")
        username = getattr(info, "username", None)
        if username is not None and not isinstance(username, str):
            raise Refused(503, UNAVAILABLE, "Temporarily unavailable")
        if getattr(info, "reset", False) is True and username:
            return username, True
        return username or None, False

    def verification(token):
        """The payload of a signed verification link; Refused if forged, expired or used."""
        if not _SIGNED.match(token):
            raise Refused(404, INVALID_LINK, "Link not valid")
        limit_address()
        try:
            payload = verify_tokens.loads(token, max_age=settings.verification_expiry_seconds)
        except SignatureExpired:
            raise Refused(410, EXPIRED_LINK, "Link expired") from None
        except BadData:
            raise Refused(404, INVALID_LINK, "Link not valid") from None
        if not (isinstance(payload, dict) and isinstance(payload.get("n"), str)):
            raise Refused(404, INVALID_LINK, "Link not valid")
        if state.was_used(payload["n"]):
            raise Refused(410, USED_LINK, "Link already used")
        return payload

    def ca_available():
        path = settings.ca_certificate_file
        return bool(path) and os.path.isfile(path)

    def join_form(token, status=200, errors=None, username="", invited=None):
        return render_template(
            "join.html", token=token, csrf_token=csrf_token(), errors=errors or {},
            username=invited or username, invited=invited, settings=settings,
            max_username=validation.USERNAME_MAX_CHARS,
        ), status

    def reset_form(token, name, status=200, errors=None):
        return render_template(
            "reset.html", token=token, csrf_token=csrf_token(), errors=errors or {},
            jid=f"{name}@{settings.realm}", settings=settings,
        ), status

    def password_form(status=200, errors=None, account=""):
        return render_template(
            "password.html", csrf_token=csrf_token(), errors=errors or {}, account=account,
            settings=settings,
        ), status

    def only_for(typed, name, message):
        """Refuse a form that names another account than the invite's ``name`` (a forged form:
        the page sends the invite's name, or none)."""
        if typed and not validation.same_username(typed, name):
            raise Refused(400, message.format(jid=f"{name}@{settings.realm}"), "Not for this account")

    def set_password(name, new, again, errors, form, outcome, answers, reset, current=None):
        """What both forms that set a new password (a reset link's, the password change's) do
        once their fields are read, ``errors`` holding what the other fields got wrong: check
        the new password (which may not be ``current``, if given); show ``form(status, errors)``
        again, with 400, if anything is wrong; else ask ``outcome()`` (the registrar's, through
        _outcome) and answer ``answers[outcome]()`` where there is one, a 503 for any other than
        "ok", and for "ok" the page saying that the password of ``name`` has changed (through a
        reset link if ``reset``)."""
        try:
            validation.password(new, again, name, settings.min_password_length)
            if current is not None and new == current:
                raise validation.Invalid("The new password is the same as the current one.")
        except validation.Invalid as error:
            errors["password"] = str(error)
        if errors:
            return form(400, errors)
        result = outcome()
        if result in answers:
            return answers[result]()
        if result != "ok":
            raise Refused(503, UNAVAILABLE, "Temporarily unavailable")
        jid = f"{name}@{settings.realm}"
        log.info("password reset through the web page: %s" if reset else
                 "password changed through the web page: %s", jid)
        return render_template("password_changed.html", jid=jid, reset=reset, settings=settings)

    def signup_form(status=200, errors=None, email=""):
        return render_template(
            "signup.html", csrf_token=csrf_token(), errors=errors or {}, email=email,
            settings=settings,
        ), status

    # ---- pages ------------------------------------------------------------------------------

    @app.get("/")
    def index():
        return redirect(url_for("signup"), 303)

    @app.get("/join/<token>")
    def join(token):
        invited, reset = invite_or_refuse(token)
        if reset:
            return reset_form(token, invited)
        return join_form(token, invited=invited)

    @app.post("/join/<token>")
    def join_post(token):
        check_origin()
        invited, reset = invite_or_refuse(token)
        check_csrf()
        if reset:
            return reset_post(token, invited)
        typed = field("username")
        password, again = field("password"), field("password_again")
        errors = {}
        name = ""
        if invited:  # made for this name by an admin: Prosody judges it, not our sign-up policy
            only_for(typed, invited, "This invitation is for the account {jid} only.")
            name = invited
        else:
            try:
                name = validation.username(typed, settings.reserved_usernames)
            except validation.Invalid as error:
                errors["username"] = str(error)
        try:
            validation.password(password, again, name, settings.min_password_length)
        except validation.Invalid as error:
            errors["password"] = str(error)
        if errors:
            return join_form(token, 400, errors, typed[:validation.USERNAME_MAX_CHARS], invited)
        outcome = _outcome(call_registrar("register", token, name, password))
        if outcome == "invalid_token":
            raise Refused(404, INVALID_INVITE, "Invitation not valid")
        if invited and outcome in ("username_taken", "invalid_username"):
            raise Refused(409 if outcome == "username_taken" else 400,
                          f"The account {name}@{settings.realm} cannot be created with this invitation"
                          f"{' (it exists already)' if outcome == 'username_taken' else ''}. "
                          "Ask for a new invitation.", "Invitation not usable")
        if outcome == "username_taken":
            return join_form(token, 409, {"username": "This username is taken. Choose another one."}, typed)
        if outcome == "invalid_username":
            return join_form(token, 400, {"username": "The server refuses this username. Choose another one."}, typed)
        if outcome != "ok":
            raise Refused(503, UNAVAILABLE, "Temporarily unavailable")
        jid = f"{name}@{settings.realm}"
        log.info("account created through the web page: %s", jid)
        ca = ca_available()
        return render_template(
            "joined.html", jid=jid, settings=settings,
            xmpp_uri=f"xmpp:{quote(name, safe='')}@{settings.realm}",
            ca=ca, fingerprint=_fingerprint(settings.ca_certificate_file) if ca else None,
        )

    def reset_post(token, name):
        """A new password for the account the reset invite ``token`` names (Prosody's name)."""
        only_for(field("username"), name, "This link sets a new password for {jid} only.")
        password, again = field("password"), field("password_again")

        def used_up():  # used or expired since the form was shown
            raise Refused(404, INVALID_INVITE, "Invitation not valid")

        return set_password(
            name, password, again, {}, lambda status, errors: reset_form(token, name, status, errors),
            lambda: _outcome(call_registrar("register", token, name, password)),
            {"invalid_token": used_up}, reset=True)

    @app.get("/password")
    def password():
        return password_form()

    @app.post("/password")
    def password_post():
        check_origin()
        limit_address()  # every attempt counts, failed logins first of all
        check_csrf()
        typed = field("account")
        current, new, again = field("current_password"), field("password"), field("password_again")
        errors = {}
        login, name = "", ""
        try:
            login, name = validation.account(typed, settings.realm)
        except validation.Invalid as error:
            errors["account"] = str(error)
        try:
            validation.current_password(current)
        except validation.Invalid as error:
            errors["current_password"] = str(error)
        shown = typed.strip()[:ACCOUNT_MAX_CHARS]

        def wrong_login():
            log.info("password change refused: wrong username or password")  # never which name
            return password_form(403, {"account": WRONG_LOGIN}, shown)

        server_refuses = {"password": "The server refuses this new password. Choose another one."}
        return set_password(
            name, new, again, errors, lambda status, errors: password_form(status, errors, shown),
            lambda: _outcome(call_registrar("change_password", login, current, new), PASSWORD_ERRORS),
            {"not_authorized": wrong_login, "refused": lambda: password_form(400, server_refuses, shown)},
            reset=False, current=current)

    @app.get("/signup")
    def signup():
        return signup_form()

    @app.post("/signup")
    def signup_post():
        check_origin()
        limit_address()
        check_csrf()
        typed = field("email")
        try:
            address = validation.email(typed, settings.allowed_email_domains)
        except validation.Invalid as error:
            return signup_form(400, {"email": str(error)}, typed[:validation.EMAIL_MAX_CHARS])
        bucket = limit_email(address)
        # The link carries only a random nonce: no address in URLs, mailboxes aside.
        token = verify_tokens.dumps({"n": secrets.token_urlsafe(16)})
        link = f"{origin}/verify/{token}"
        minutes = settings.verification_expiry_seconds // 60
        body = render_template("verify_mail.txt", link=link, minutes=minutes, settings=settings)
        try:
            mailer.send(address, f"Your XMPP account on {settings.realm}", body)
        except Exception as error:  # never log the address
            log.error("sending the verification e-mail failed: %s", type(error).__name__)
            state.give_back(bucket)  # a message never sent does not count against the person
            raise Refused(503, UNAVAILABLE, "Temporarily unavailable") from None
        log.info("verification e-mail sent to an address at %s", address.rpartition("@")[2])
        # The same page for every accepted address: nothing tells whether it is known.
        return render_template("signup_sent.html", address=address, minutes=minutes)

    @app.get("/verify/<token>")
    def verify(token):
        verification(token)
        return render_template("verify.html", token=token, csrf_token=csrf_token())

    @app.post("/verify/<token>")
    def verify_post(token):
        check_origin()
        payload = verification(token)
        check_csrf()
        invite = _invite_token(call_registrar("create_invite"))
        if not _TOKEN.match(invite):
            log.error("registrar.create_invite returned something that is not an invite token")
            raise Refused(503, UNAVAILABLE, "Temporarily unavailable")
        expires = clock() + settings.verification_expiry_seconds + 60
        if not state.use_once(payload["n"], expires):
            raise Refused(410, USED_LINK, "Link already used")
        return redirect(url_for("join", token=invite), 303)

    @app.get("/ca.crt")
    def ca_certificate():
        if not ca_available():
            abort(404)
        return send_file(settings.ca_certificate_file, mimetype="application/x-x509-ca-cert",
                         as_attachment=True, download_name="eldwyn-xmpp-ca.crt", max_age=3600)

    # ---- errors and headers ------------------------------------------------------------------

    @app.errorhandler(Refused)
    def refused(error):
        return render_template("error.html", title=error.title, message=error.message), error.status

    @app.errorhandler(HTTPException)
    def http_error(error):
        messages = {
            404: ("Not found", "There is no page at this address."),
            405: ("Not allowed", "This page does not accept that kind of request."),
            413: ("Too large", "What you sent is too large. Use shorter values."),
            400: ("Bad request", "The request could not be understood."),
        }
        title, message = messages.get(error.code, (error.name, error.description))
        response = error.get_response()
        response.data = render_template("error.html", title=title, message=message)
        response.mimetype = "text/html"
        return response

    @app.errorhandler(Exception)
    def crashed(error):
        log.error("unexpected %s on %s", type(error).__name__, request.endpoint)
        return render_template("error.html", title="Error", message=UNAVAILABLE), 500

    @app.after_request
    def headers(response):
        response.headers.update(SECURITY_HEADERS)
        if request.endpoint != "static" and request.endpoint != "ca_certificate":
            response.headers["Cache-Control"] = "no-store"
        cookie = g.pop("new_csrf_cookie", None)
        if cookie:
            response.set_cookie(CSRF_COOKIE, cookie, secure=True, httponly=True,
                                samesite="Strict", path="/")
        return response

    return app

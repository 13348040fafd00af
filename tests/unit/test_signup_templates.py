"""The sign-up webservice's host files, rendered with the real data and read back."""

import json
import re

from eldwyn.render import render
import pytest

from eldwyn.config import load_config
from eldwyn.schema.data import Signup
from eldwyn.schema.signup import SignupPolicy, SignupSettings
from webservice.signup import SettingsError, parse_settings
from webservice.signup.settings import Settings
from webservice.signup.app import SECURITY_HEADERS

SETTINGS = "etc/eldwyn-signup/settings.json.j2"
UNIT = "etc/systemd/system/eldwyn-signup.service.j2"
NGINX = "etc/nginx/sites-available/eldwyn-signup.j2"
SIGNUP_TEMPLATES = (SETTINGS, UNIT, NGINX)


def unit_options(text):
    options = {}
    for line in text.splitlines():
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            options.setdefault(key, []).append(value)
    return options


def test_settings_file_is_what_the_application_reads(config, tmp_path):
    data = json.loads(render(SETTINGS, config=config))
    settings = parse_settings(data, credentials_directory=tmp_path)
    assert settings.site_name == config.signup.site_name
    assert settings.realm == config.realm and settings.xmpp_port == config.ports.c2s[0]
    assert settings.invites_api_url.startswith(f"http://127.0.0.1:{config.ports.http[0]}/invites_api?")
    assert settings.allowed_email_domains == ("clarkson.edu",)
    assert {"admin", "postmaster", "abuse", "webmaster", "xmpp", "support", "root"} <= set(settings.reserved_usernames)
    assert settings.rate_limits == config.signup.rate_limits
    assert settings.smtp.username is None
    assert settings.trusted_proxies == ("127.0.0.1", "::1")
    # Production (tls_mode "acme"): Prosody's certificate is checked against the system's CAs,
    # and the success page offers no CA to install.
    assert settings.ca_certificate_file is None


def test_with_the_local_ca_the_webservice_trusts_it_and_offers_it(data, tmp_path):
    config = load_config({**data, "tls_mode": "local_ca"}, environ={})
    settings = parse_settings(json.loads(render(SETTINGS, config=config)), credentials_directory=tmp_path)
    assert settings.ca_certificate_file == Signup.ca_certificate_file


def test_settings_file_holds_no_secret(config):
    keys = set()

    def collect(value):
        if isinstance(value, dict):
            keys.update(value)
            for item in value.values():
                collect(item)

    collect(json.loads(render(SETTINGS, config=config)))
    assert not [key for key in keys if "secret" in key or key in ("password", "key", "smtp_password")]


def test_unit_runs_gunicorn_sandboxed_with_credentials(config):
    options = unit_options(render(UNIT, config=config))
    (exec_start,) = options["ExecStart"]
    assert exec_start.startswith("/usr/bin/gunicorn --bind 127.0.0.1:8008 ")
    assert exec_start.endswith(" webservice.signup.wsgi:app")
    assert f"--chdir {config.signup.app_dir}" in exec_start
    for key, value in {
        "DynamicUser": "yes", "StateDirectory": "eldwyn-signup", "ProtectSystem": "strict",
        "ProtectHome": "yes", "PrivateTmp": "yes", "NoNewPrivileges": "yes",
        "CapabilityBoundingSet": "", "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
        "PrivateDevices": "yes", "UMask": "0077",
    }.items():
        assert options[key] == [value], key
    assert options["SystemCallFilter"][0] == "@system-service"
    assert options["LoadCredential"] == [
        "settings.json:/etc/eldwyn-signup/settings.json",
        "secret-key:/etc/eldwyn-signup/credentials/secret-key",
        "invites-api-key:/etc/eldwyn-signup/credentials/invites-api-key",
    ]


def test_unit_loads_the_smtp_password_only_with_a_login(config, data):
    from eldwyn.config import load_config

    data["signup_smtp"].update(host="smtp.clarkson.edu", port=587, starttls=True, username="eldwyn")
    options = unit_options(render(UNIT, config=load_config(data, environ={})))
    assert "smtp-password:/etc/eldwyn-signup/credentials/smtp-password" in options["LoadCredential"]


def test_nginx_site(config):
    text = render(NGINX, config=config)
    site = config.signup.site_name
    # tls_mode "acme" (production's): port 80 answers every name's HTTP-01 challenge.
    assert f"server_name {site} {' '.join(config.hosts)} {config.turn.host};" in text
    assert text.count(f"server_name {site};") == 1
    challenges = text.split("location /.well-known/acme-challenge/ {", 1)[1].split("}", 1)[0]
    assert f"root {config.tls.acme_webroot};" in challenges
    assert "listen 80;" in text and "listen 443 ssl;" in text and "listen [::]:443 ssl;" in text
    assert f"return 301 https://{site}$request_uri;" in text
    assert f"ssl_certificate /etc/nginx/tls/{site}.crt;" in text
    assert f"ssl_certificate_key /etc/nginx/tls/{site}.key;" in text
    assert "proxy_pass http://127.0.0.1:8008;" in text
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in text
    assert "client_max_body_size 16k;" in text
    assert "$request_uri" not in text.split("log_format", 1)[1].split(";", 1)[0], "tokens never logged"
    assert text.count("{") == text.count("}")


def test_nginx_site_with_the_local_ca_names_only_the_site(data):
    config = load_config({**data, "tls_mode": "local_ca"}, environ={})
    assert render(NGINX, config=config).count(f"server_name {config.signup.site_name};") == 2


def test_nginx_headers_are_the_applications(config):
    text = render(NGINX, config=config)
    # The site's server level (the web client's locations add their own: tests/unit/test_web_client.py).
    server = text.split("listen 443 ssl;", 1)[1].split("    location ", 1)[0]
    added = dict(re.findall(r'add_header (\S+) "([^"]*)" always;', server))
    hidden = set(re.findall(r"proxy_hide_header (\S+);", text))
    assert added == SECURITY_HEADERS
    assert hidden == set(SECURITY_HEADERS)


def test_the_port_of_prosodys_http_api_comes_from_the_data(data, tmp_path):
    data["xmpp_ports"] = {"http": [5290]}
    config = load_config(data, environ={})
    settings = parse_settings(json.loads(render(SETTINGS, config=config)), credentials_directory=tmp_path)
    assert settings.invites_api_url == "http://127.0.0.1:5290/invites_api?via=eldwyn-signup"


def test_the_webservice_reads_the_datas_own_model(config, tmp_path):
    """One declaration: a setting the data refuses is refused by the webservice too, with the
    same words (the bound of min_password_length once differed between the two)."""
    data = json.loads(render(SETTINGS, config=config))
    assert issubclass(Settings, SignupSettings) and issubclass(Signup, SignupPolicy)
    data["min_password_length"] = 8
    with pytest.raises(SettingsError) as error:
        parse_settings(data, credentials_directory=tmp_path)
    assert (error.value.path, error.value.problem) == (
        "min_password_length", "8 is out of range: expected greater than or equal to 12")


def test_the_self_service_pages_and_their_prosody_module_are_deployed(config):
    """The reset and password pages ship with the application, and mod_invites_register_form
    (which tells the site what a named or reset invite is for) is shipped to Prosody's plugin
    path and loaded on the realm, next to mod_invites_register_strict."""
    from eldwyn import prosody
    from tasks import prosody_modules, webservice

    shipped = {str(path.relative_to(webservice.REPO)) for path in webservice._sources()}
    for page in ("reset.html", "password.html", "_new_password.html", "password_changed.html"):
        assert f"webservice/signup/templates/{page}" in shipped
    modules = {managed.path for managed in prosody_modules.files(config)}
    for name in ("invites_register_strict", "invites_register_form"):
        assert f"{prosody.LOCAL_MODULE_DIR}/mod_{name}.lua" in modules
        assert name in config.modules_enabled and name in prosody.LOCAL_MODULES
    text = render("etc/prosody/prosody.cfg.lua.j2", config=config)
    assert '"invites_register_form"' in text and '"invites_register_strict"' in text

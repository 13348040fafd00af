"""The registration webservice (webservice/signup): the application and the schema of its
settings (eldwyn/schema/, read on the host with Debian's pydantic), its settings and secrets,
its systemd unit (gunicorn on loopback, sandboxed), and nginx serving it over TLS.

Its key for Prosody's invites API is made on the host by Prosody itself, once, and never leaves
it. The service is restarted, and nginx reloaded after `nginx -t`, only when their files changed.
"""

import shlex

from pyinfra.operations import server
from pyinfra.operations.util import any_changed

from eldwyn import pki
from eldwyn.certificates import certificate_for
from eldwyn.files import ManagedFile, differing, upload
from eldwyn.host_files import REPO, SIGNUP_SERVICE
from eldwyn.render import render
from eldwyn.services import bounded_wait, running_and_enabled

NGINX_SITE = "/etc/nginx/sites-available/eldwyn-signup"
NGINX_SITE_LINK = ("/etc/nginx/sites-enabled/eldwyn-signup", "../sites-available/eldwyn-signup")
UNIT = f"/etc/systemd/system/{SIGNUP_SERVICE}.service"
# What the service imports, at the same paths under the application's directory.
SOURCES = ("webservice", "eldwyn/__init__.py", "eldwyn/schema/__init__.py", "eldwyn/schema/base.py",
           "eldwyn/schema/types.py", "eldwyn/schema/signup.py")


def _sources():
    for source in SOURCES:
        path = REPO / source
        yield from ([path] if path.is_file() else
                    (each for each in sorted(path.rglob("*")) if each.is_file() and "__pycache__" not in each.parts))


def files(config, store):
    """The application, its settings and secrets, its unit, nginx's site and certificate, and
    the CA its success page offers for download."""
    signup = config.signup
    found = [ManagedFile(f"{signup.app_dir}/{path.relative_to(REPO)}", path.read_bytes()) for path in _sources()]
    found.append(ManagedFile(f"{signup.config_dir}/settings.json",
                             render("etc/eldwyn-signup/settings.json.j2", config=config).encode(), mode="600"))
    for credential, secret in signup.credentials:
        found.append(ManagedFile(f"{signup.credentials_dir}/{credential}",
                                 store.get_or_generate(secret, 32).encode(), mode="600", secret=True))
    found.append(ManagedFile(UNIT, render("etc/systemd/system/eldwyn-signup.service.j2", config=config).encode()))
    found.append(ManagedFile(NGINX_SITE, render("etc/nginx/sites-available/eldwyn-signup.j2", config=config).encode()))
    site = certificate_for(config.site_certificate, config.tls, store)
    found.append(ManagedFile(config.site_certificate.certificate_path, site.certificate_pem))
    found.append(ManagedFile(config.site_certificate.key_path, site.key_pem, mode="600", secret=True))
    if config.realm_uses_local_ca and store.exists(pki.CA_CERT_SECRET):  # what clients must trust
        found.append(ManagedFile(signup.ca_certificate_file, store.get_bytes(pki.CA_CERT_SECRET)))
    return found


def invites_api_key(config):
    return f"{config.signup.credentials_dir}/{config.signup.invites_api_key}"


def paths(config):
    """Made on the host: the invites API's key and nginx's link to the site."""
    return [invites_api_key(config), NGINX_SITE_LINK[0]]


def units(config):
    return [SIGNUP_SERVICE, "nginx"]


def wait_for_the_app(port, seconds=60):
    """A shell command that waits (bounded) until the webservice answers an HTTP request on
    127.0.0.1:``port`` with a status below 500, and fails the deploy otherwise. gunicorn tells
    systemd it is ready before its workers have loaded the application: a worker that failed on
    start (two of them creating the state file at once, on a fresh host) showed only seconds
    later, as a restart by systemd, after the deploy had reported the service started."""
    # bash's /dev/tcp, not a python3 -c per try: under emulation Python takes about 0.5 s to start.
    probe = (f"exec 3<>/dev/tcp/127.0.0.1/{port} && printf 'GET / HTTP/1.0\\r\\nHost: 127.0.0.1\\r\\n\\r\\n' >&3"
             " && read -r -t 5 _ status _ <&3 && [ \"$status\" -lt 500 ] 2>/dev/null")
    return bounded_wait(f"bash -c {shlex.quote(probe)} 2>/dev/null", seconds, interval=0.25,
                        on_timeout=f"echo 'the signup webservice does not answer on 127.0.0.1:{port}:"
                                   f" journalctl -u {SIGNUP_SERVICE}' >&2")


def deploy(config, wanted, states, services, unit_changed=()):
    """``unit_changed``: the operations that changed the service's unit (tasks/systemd_units.py,
    which reloads systemd after them)."""
    out_of_date = differing(states, wanted)
    changed = dict(zip((file.path for file in out_of_date), upload(out_of_date, "Signup webservice")))

    key = invites_api_key(config)
    if key not in states:
        directory = config.signup.credentials_dir
        changed[key] = server.shell(
            name="Make the webservice's key for Prosody's invites API",
            commands=[f"umask 077 && mkdir -p {directory} && "
                      f"prosodyctl mod_invites_api create {shlex.quote(config.realm)} {SIGNUP_SERVICE} > {key}.new && "
                      f"test -s {key}.new && mv {key}.new {key}"],
        )

    link, target = NGINX_SITE_LINK
    if states.get(link) != {"link": target}:
        changed[link] = server.shell(name="Enable the signup site in nginx",
                                     commands=[f"ln -sfn {shlex.quote(target)} {shlex.quote(link)}"])

    site = config.site_certificate
    nginx_reads = (NGINX_SITE, link, site.certificate_path, site.key_path)
    service_inputs = [*(op for path, op in changed.items() if path not in (NGINX_SITE, link)), *unit_changed]
    running_and_enabled("The signup webservice is running and enabled", SIGNUP_SERVICE, services,
                        restart_after=service_inputs, restart_name="Restart the signup webservice: its files changed",
                        then=[wait_for_the_app(config.signup.listen_port)])
    nginx_inputs = [changed[path] for path in nginx_reads if path in changed]
    running_and_enabled("nginx is running and enabled", "nginx", services)
    if nginx_inputs:
        server.shell(name="Check nginx's config, then reload it",
                     commands=["nginx -t -q && systemctl reload-or-restart nginx"], _if=any_changed(*nginx_inputs))

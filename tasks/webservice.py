"""The registration webservice (webservice/signup): the application, its settings and secrets,
its systemd unit (gunicorn on loopback, sandboxed), and nginx serving it over TLS.

Its key for Prosody's invites API is made on the host by Prosody itself, once, and never leaves
it. The service is restarted, and nginx reloaded after `nginx -t`, only when their files changed.
"""

import shlex

from pyinfra import host
from pyinfra.operations import files, server, systemd
from pyinfra.operations.util import any_changed

from eldwyn.host_files import NGINX_SITE, NGINX_SITE_LINK, SIGNUP_SERVICE, SIGNUP_UNIT, file_states, stale
from eldwyn.files import upload
from eldwyn.preflight import host_config

config = host_config(host)
signup = config.signup
out_of_date = stale(host, config, "webservice")
changed = dict(zip((file.path for file in out_of_date), upload(out_of_date, "Signup webservice")))
states = file_states(host, config)

key = f"{signup.credentials_dir}/{signup.invites_api_key}"
if key not in states:
    changed[key] = server.shell(
        name="Make the webservice's key for Prosody's invites API",
        commands=[f"umask 077 && mkdir -p {signup.credentials_dir} && "
                  f"prosodyctl mod_invites_api create {shlex.quote(config.realm)} {SIGNUP_SERVICE} > {key}.new && "
                  f"test -s {key}.new && mv {key}.new {key}"],
    )

link, target = NGINX_SITE_LINK
if states.get(link) != {"link": target}:
    changed[link] = files.link(name="Enable the signup site in nginx", path=link, target=target)

if SIGNUP_UNIT in changed:
    systemd.daemon_reload(name="Reload systemd: the webservice's unit changed", _if=changed[SIGNUP_UNIT].did_change)
systemd.service(name="The signup webservice is running and enabled", service=SIGNUP_SERVICE,
                running=True, enabled=True)
service_inputs = [op for path, op in changed.items() if path not in (NGINX_SITE, link)]
if service_inputs:
    systemd.service(name="Restart the signup webservice: its files changed", service=SIGNUP_SERVICE,
                    restarted=True, _if=any_changed(*service_inputs))

nginx_inputs = [changed[path] for path in (NGINX_SITE, link, signup.certificate.certificate_path,
                                           signup.certificate.key_path) if path in changed]
if nginx_inputs:
    server.shell(name="Check nginx's config, then reload it", commands=["nginx -t -q && systemctl reload nginx"],
                 _if=any_changed(*nginx_inputs))

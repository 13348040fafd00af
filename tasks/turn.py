"""Audio and video calls (turn_* data): Debian's coturn with our config
(templates/etc/turnserver.conf.j2), its own certificate, and the secret it shares with Prosody,
which reads its copy from a file (tasks/prosody_config.py's templates name it, FileLine). The
local CA issues coturn's certificate like the others; with tls_mode "acme" certbot replaces it
(tasks/acme.py). Without turn_host, none of this is written and coturn is not installed."""


from eldwyn import turn
from eldwyn.certificates import certificate_for
from eldwyn.files import ManagedFile, differing, upload
from eldwyn.render import render
from eldwyn.services import running_and_enabled
from eldwyn.schema.data import Turn


def files(config, store):
    if config.turn.host is None:
        return []
    secret = turn.secret(store)
    certificate = config.turn_certificate
    issued = certificate_for(certificate, config.tls, store)
    conf = render("etc/turnserver.conf.j2", config=config, secret=secret, ports=config.turn.ports,
                  certificate=certificate, denied_ranges=turn.denied_ranges(config.turn.denied_peer_networks))
    return [
        ManagedFile(certificate.certificate_path, issued.certificate_pem, "root", certificate.group, "644"),
        ManagedFile(certificate.key_path, issued.key_pem, "root", certificate.group, certificate.key_mode, secret=True),
        ManagedFile(Turn.config_file, conf.encode(), "root", "turnserver", "640", secret=True),
        ManagedFile(Turn.prosody_secret_file, f"{secret}\n".encode(), "root", "prosody", "640", secret=True),
    ]


def paths(config):
    return []


def units(config):
    return ["coturn"] if config.turn.host else []


def install(wanted, states, services):
    """Returns the operations that changed the secret Prosody reads (Prosody restarts for them)."""
    if not wanted:
        return []
    out_of_date = differing(states, wanted)
    changed = upload(out_of_date, "TURN")
    for_coturn = [op for file, op in zip(out_of_date, changed) if file.path != Turn.prosody_secret_file]
    for_prosody = [op for file, op in zip(out_of_date, changed) if file.path == Turn.prosody_secret_file]
    running_and_enabled("coturn is running and enabled", "coturn", services, restart_after=for_coturn,
                        restart_name="Restart coturn: its config or certificate changed")
    return for_prosody

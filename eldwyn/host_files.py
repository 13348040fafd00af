"""Every file the deploy owns on a host, with its content, owner and mode, per concern.

Built once per host and run, so that one batched fact (eldwyn.facts.FileStates) covers them
all. Paths mirror templates/ (templates/etc/prosody/... lands in /etc/prosody/...).
"""

from pathlib import Path

from eldwyn import pki, prosody
from eldwyn.certificates import all_certificates, certificate_for
from eldwyn.facts import FileStates
from eldwyn.files import ManagedFile, differing
from eldwyn.render import render
from eldwyn.secrets import SecretsStore


def realm_config_link(config):
    """Debian's layout: the realm's file lives in conf.avail and is linked into conf.d."""
    name = f"{config.realm}.cfg.lua"
    return f"{prosody.CONFIG_DIR}/conf.d/{name}", f"../conf.avail/{name}"


# Debian's example host, linked into conf.d by the package: Eldwyn serves only its realm.
DEBIAN_LOCALHOST_LINK = f"{prosody.CONFIG_DIR}/conf.d/localhost.cfg.lua"


def prosody_config_files(config):
    """The main config and the realm's file; Debian ships them root:prosody 0640."""
    def lua(path, template):
        return ManagedFile(path, render(template, config=config).encode(), "root", "prosody", "640")

    return [
        lua(f"{prosody.CONFIG_DIR}/prosody.cfg.lua", "etc/prosody/prosody.cfg.lua.j2"),
        lua(f"{prosody.CONFIG_DIR}/conf.avail/{config.realm}.cfg.lua", "etc/prosody/conf.avail/realm.cfg.lua.j2"),
    ]


def certificate_files(config, store):
    files = []
    for issued in all_certificates(config.tls, store):
        certificate = config.certificate(issued.name)
        files.append(ManagedFile(certificate.certificate_path, issued.certificate_pem, "root", "prosody", "644"))
        files.append(ManagedFile(certificate.key_path, issued.key_pem, "root", "prosody", "640", secret=True))
    return files


REPO = Path(__file__).resolve().parent.parent
FILES_DIR = REPO / "files"  # static files, at the path they have on the host


def static_files(subtree, mode="644"):
    """files/<subtree>/** as ManagedFiles at /<subtree>/**, root-owned."""
    return [
        ManagedFile(f"/{path.relative_to(FILES_DIR)}", path.read_bytes(), "root", "root", mode)
        for path in sorted((FILES_DIR / subtree).rglob("*")) if path.is_file()
    ]


def prosody_service_files(config):
    """systemd's drop-in raising Prosody's open-file limit (see the file for why)."""
    return static_files("etc/systemd/system/prosody.service.d")


def prosody_module_files(config):
    """Our own Prosody modules (plugin_paths in the template names their directory)."""
    return static_files(prosody.LOCAL_MODULE_DIR.lstrip("/"))


# The registration webservice: nginx's site, enabled by this link.
NGINX_SITE = "/etc/nginx/sites-available/eldwyn-signup"
NGINX_SITE_LINK = ("/etc/nginx/sites-enabled/eldwyn-signup", "../sites-available/eldwyn-signup")
SIGNUP_SERVICE = "eldwyn-signup"
SIGNUP_UNIT = f"/etc/systemd/system/{SIGNUP_SERVICE}.service"


def webservice_files(config, store):
    """The application (webservice/), its settings and secrets, its unit, nginx's site and
    certificate, and the CA its success page offers for download."""
    signup = config.signup
    app_sources = REPO / "webservice"
    files = [
        ManagedFile(f"{signup.app_dir}/webservice/{path.relative_to(app_sources)}", path.read_bytes())
        for path in sorted(app_sources.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    ]
    files.append(ManagedFile(f"{signup.config_dir}/settings.json",
                             render("etc/eldwyn-signup/settings.json.j2", config=config).encode(), mode="600"))
    for credential, secret in signup.credentials:
        files.append(ManagedFile(f"{signup.credentials_dir}/{credential}",
                                 store.get_or_generate(secret, 32).encode(), mode="600", secret=True))
    files.append(ManagedFile(SIGNUP_UNIT, render("etc/systemd/system/eldwyn-signup.service.j2", config=config).encode()))
    files.append(ManagedFile(NGINX_SITE, render("etc/nginx/sites-available/eldwyn-signup.j2", config=config).encode()))
    site = certificate_for(signup.certificate, config.tls, store)
    files.append(ManagedFile(signup.certificate.certificate_path, site.certificate_pem))
    files.append(ManagedFile(signup.certificate.key_path, site.key_pem, mode="600", secret=True))
    if store.exists(pki.CA_CERT_SECRET):  # the local CA (operators with their own certificates have none)
        files.append(ManagedFile(signup.ca_certificate_file, store.get_bytes(pki.CA_CERT_SECRET)))
    return files


def shared_roster_files(config):
    return [ManagedFile(config.groups_file, render("var/lib/prosody/groups.txt.j2", config=config).encode(),
                        "root", "prosody", "640")]


# The rules files netfilter-persistent loads at boot, and the command that loads each.
FIREWALL_RULES = {"/etc/iptables/rules.v4": "iptables-restore", "/etc/iptables/rules.v6": "ip6tables-restore"}


def firewall_files(config):
    return [
        ManagedFile(path, render(f"{path.lstrip('/')}.j2", config=config).encode(), "root", "root", "640")
        for path in FIREWALL_RULES
    ]


_cache = {}


def host_files(host, config):
    """{concern: [ManagedFile]} for ``host``, computed once per run (certificates may be
    issued into the operator's secrets store on the way)."""
    if host.name not in _cache:
        store = SecretsStore(config.secrets_dir)
        _cache[host.name] = {
            "certificates": certificate_files(config, store),
            "prosody_modules": prosody_module_files(config),
            "prosody_service": prosody_service_files(config),
            "prosody_config": prosody_config_files(config),
            "shared_rosters": shared_roster_files(config),
            "firewall": firewall_files(config),
            "webservice": webservice_files(config, store),
        }
    return _cache[host.name]


def every_path(host, config):
    """All paths the deploy looks at, files and links: the argument of the one FileStates fact."""
    paths = [file.path for files in host_files(host, config).values() for file in files]
    host_made = [f"{config.signup.credentials_dir}/{config.signup.invites_api_key}"]
    return sorted(paths + host_made + [realm_config_link(config)[0], DEBIAN_LOCALHOST_LINK, NGINX_SITE_LINK[0]])


_states = {}
_restores = {}  # host name -> the eldwyn.backup.Backup this run restores before the files below


def plan_restore(host, backup):
    """Records that this run restores ``backup`` on ``host`` (tasks/restore.py) before any other
    file is written: the files it puts back count as present from then on."""
    _restores[host.name] = backup


def planned_restore(host):
    """The Backup this run restores on ``host``, or None."""
    return _restores.get(host.name)


def file_states(host, config):
    """The FileStates of every path, asked once per host and run (pyinfra 3 does not cache
    facts between calls), with what a planned restore will have written by then."""
    if host.name not in _states:
        _states[host.name] = host.get_fact(FileStates, paths=every_path(host, config))
    backup = planned_restore(host)
    return {**_states[host.name], **backup.restored_files(config)} if backup else _states[host.name]


def stale(host, config, concern):
    """The files of ``concern`` that are not as they should be on the host."""
    return differing(file_states(host, config), host_files(host, config)[concern])

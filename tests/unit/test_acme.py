"""tls_mode "acme": what the deploy decides from the host's certbot lineages, and the two scripts
it puts on the host (certbot's deploy hook, the issuing script), run here against fake commands."""

import stat
import subprocess

import pytest

from eldwyn import acme
from eldwyn.config import ConfigError, load_config
from eldwyn.files import ManagedFile
from eldwyn.render import render
from tasks import acme as acme_task

HOOK = "usr/local/sbin/eldwyn-certificate-deployed.j2"
ISSUE = "usr/local/sbin/eldwyn-acme-issue.j2"
DROP_IN = "etc/systemd/system/certbot.service.d/eldwyn-ca-bundle.conf.j2"
LE = "https://acme-v02.api.letsencrypt.org/directory"


def lineage_line(name, server=LE, cert="c" * 64, key="k" * 64, good="good"):
    return f"lineage|{name}|{server}|{cert}|{key}|{good}"


def test_every_name_and_the_site_are_acme_by_default(config):
    assert [cert.name for cert in config.acme_certificates] == [*config.hosts, config.signup.site_name, config.turn.host]
    assert "certbot" in config.packages


def test_supplied_files_and_the_local_ca_are_not_acme(data, tmp_path):
    (tmp_path / "c.pem").write_text("x")
    (tmp_path / "k.pem").write_text("x")
    supplied = {"cslabs.clarkson.edu": {"certificate": str(tmp_path / "c.pem"), "key": str(tmp_path / "k.pem")}}
    config = load_config({**data, "tls_certificate_files": supplied}, environ={})
    assert "cslabs.clarkson.edu" not in [cert.name for cert in config.acme_certificates]
    local = load_config({**data, "tls_mode": "local_ca"}, environ={})
    assert local.acme_certificates == () and "certbot" not in local.packages


@pytest.mark.parametrize("key, value, expected", [
    ("tls_mode", "letsencrypt", "expected 'acme', 'local_ca' or 'files'"),
    ("tls_acme_directory", "http://acme.example/dir", "is not an https:// URL"),
    ("tls_acme_directory", "https://acme.example/dir;reboot", "is not an https:// URL"),
    ("tls_acme_email", "admin", "is not an e-mail address"),
    ("tls_acme_ca_bundle", "pebble.pem", "must be an absolute path"),
    ("tls_mode", "files", "has no entry for 'cslabs.clarkson.edu'"),
    ("prosody_dns_servers", ["127.0.0.1@8053"], "loopback address"),
    ("prosody_dns_servers", ["10.0.0.1@99999"], "is not a port number"),
    ("prosody_dns_servers", ["dns.example"], "is not an IP address"),
])
def test_bad_values_are_named(data, key, value, expected):
    with pytest.raises(ConfigError) as error:
        load_config({**data, key: value}, environ={})
    key = "tls_certificate_files" if value == "files" else key
    assert any(expected in message and path.startswith(key) for path, message in error.value.problems), \
        error.value.problems


def test_lineages_are_read_from_the_fact():
    found = acme.parse_lineages([lineage_line("a.example"), "lineage|b.example||||", "noise",
                                 lineage_line("c.example", good="")])
    assert found["a.example"].exists and found["a.example"].served_is_good
    assert not found["b.example"].exists and not found["b.example"].served_is_good
    assert found["c.example"].exists and not found["c.example"].served_is_good


def test_issuance_only_without_a_lineage_from_the_directory(config):
    assert acme.needs_issuance(config, None) == "no certificate from ACME yet"
    assert acme.needs_issuance(config, acme.parse_lineages(["lineage|a||||"])["a"])
    other = acme.parse_lineages([lineage_line("a", server="https://acme-staging-v02.api.letsencrypt.org/directory")])
    assert "not tls_acme_directory" in acme.needs_issuance(config, other["a"])
    assert acme.needs_issuance(config, acme.parse_lineages([lineage_line("a")])["a"]) is None


def test_the_fallback_never_replaces_a_lineage_or_a_good_certificate(config):
    realm, upload, site = (config.certificate(config.realm), config.certificate(config.hosts[-1]),
                           config.site_certificate)
    wanted = [ManagedFile(path, b"fallback") for cert in (realm, upload, site) for path, _ in cert.files]
    lineages = acme.parse_lineages([
        lineage_line(realm.name, good=""),  # a lineage: the hook's copy stays, good or not
        f"lineage|{upload.name}||||good",  # no lineage, but what it serves is still good
        f"lineage|{site.name}||||",  # nothing good: the fallback goes in
    ])
    kept = acme_task.keep_served(config, wanted, lineages)
    assert [file.path for file in kept] == [site.certificate_path, site.key_path]
    assert acme_task.keep_served(config, wanted, {}) == wanted  # a host that has never run certbot


def _fake_commands(directory, script_body):
    """A bin directory whose commands log their arguments to directory/calls."""
    bin_dir = directory / "bin"
    bin_dir.mkdir()
    for name, body in script_body.items():
        path = bin_dir / name
        path.write_text(f"#!/bin/sh\necho \"{name} $*\" >> {directory}/calls\n{body}\n")
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return bin_dir


def run_script(text, tmp_path, fakes, args=(), environ=None):
    script = tmp_path / "script"
    script.write_text(text)
    bin_dir = _fake_commands(tmp_path, fakes)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", **(environ or {})}
    result = subprocess.run(["sh", str(script), *args], capture_output=True, text=True, env=env, timeout=30)
    calls = (tmp_path / "calls").read_text().splitlines() if (tmp_path / "calls").exists() else []
    return result, calls


def hook_text(config):
    return render(HOOK, tls=config.tls, certificates=config.acme_certificates, webroot=acme.WEBROOT, hook=acme.HOOK)


def test_the_hook_serves_a_renewed_xmpp_certificate_to_prosody(config, tmp_path):
    result, calls = run_script(hook_text(config), tmp_path, {"install": "", "mv": "", "systemctl": "", "nginx": ""},
                               environ={"RENEWED_LINEAGE": f"/etc/letsencrypt/live/{config.realm}"})
    assert result.returncode == 0, result.stderr
    crt, key = f"/var/lib/prosody/{config.realm}.crt", f"/var/lib/prosody/{config.realm}.key"
    assert calls == [
        f"install -o root -g prosody -m 644 /etc/letsencrypt/live/{config.realm}/fullchain.pem {crt}.new",
        f"install -o root -g prosody -m 640 /etc/letsencrypt/live/{config.realm}/privkey.pem {key}.new",
        f"mv -f {key}.new {key}", f"mv -f {crt}.new {crt}",
        "systemctl is-active --quiet prosody", "systemctl reload-or-restart prosody",
    ]


def test_the_hook_checks_nginx_before_it_reloads_it_for_the_site(config, tmp_path):
    site = config.signup.site_name
    result, calls = run_script(hook_text(config), tmp_path, {"install": "", "mv": "", "systemctl": "", "nginx": ""},
                               environ={"RENEWED_LINEAGE": f"/etc/letsencrypt/live/{site}"})
    assert result.returncode == 0, result.stderr
    assert f"install -o root -g root -m 600 /etc/letsencrypt/live/{site}/privkey.pem /etc/nginx/tls/{site}.key.new" in calls
    assert calls[-2:] == ["nginx -t -q", "systemctl reload-or-restart nginx"]


def test_the_hook_leaves_other_lineages_and_other_modes_alone(config, data, tmp_path):
    result, calls = run_script(hook_text(config), tmp_path, {"install": "", "mv": "", "systemctl": ""},
                               environ={"RENEWED_LINEAGE": "/etc/letsencrypt/live/www.example.org"})
    assert result.returncode == 0 and calls == [] and "left alone" in result.stderr
    local = load_config({**data, "tls_mode": "local_ca"}, environ={})
    (tmp_path / "again").mkdir()
    result, calls = run_script(hook_text(local), tmp_path / "again", {"install": ""},
                               environ={"RENEWED_LINEAGE": f"/etc/letsencrypt/live/{local.realm}"})
    assert result.returncode == 0 and calls == []


def test_a_failed_reload_fails_the_hook(config, tmp_path):
    result, _ = run_script(hook_text(config), tmp_path, {"install": "", "mv": "", "nginx": "exit 1", "systemctl": ""},
                           environ={"RENEWED_LINEAGE": f"/etc/letsencrypt/live/{config.signup.site_name}"})
    assert result.returncode != 0


CERTBOT_DNS_FAILURE = """Certbot failed to authenticate some domains (authenticator: webroot). The Certificate Authority reported these problems:
  Domain: $name
  Type:   dns
  Detail: DNS problem: NXDOMAIN looking up A for $name - check that a DNS record exists for this domain
"""


def test_the_issuing_script_tries_every_name_and_names_each_failure(data, tmp_path):
    config = load_config({**data, "tls_acme_email": "xmpp-admins@clarkson.edu",
                          "tls_acme_ca_bundle": "/etc/ssl/pebble.pem"}, environ={})
    text = render(ISSUE, tls=config.tls, certificates=config.acme_certificates, webroot=acme.WEBROOT, hook=acme.HOOK)
    bad = config.hosts[1]
    certbot = ('for a in "$@"; do case "$prev" in --cert-name) name=$a;; esac; prev=$a; done\n'
               'echo "REQUESTS_CA_BUNDLE=$REQUESTS_CA_BUNDLE" >> ' f"{tmp_path}/calls\n"
               f'if [ "$name" = {bad} ]; then cat <<EOF\n{CERTBOT_DNS_FAILURE}EOF\nexit 1; fi')
    text = text.replace("mkdir -p ", "true ")
    result, calls = run_script(text, tmp_path, {"certbot": certbot}, args=[config.realm, bad, config.hosts[2]])
    assert result.returncode == 1
    certbot_calls = [call for call in calls if call.startswith("certbot ")]
    assert len(certbot_calls) == 3, "a failure does not stop the others"
    assert all(f"--server {LE} " in call and "--email xmpp-admins@clarkson.edu" in call
               and f"--deploy-hook {acme.HOOK}" in call and f"--webroot-path {acme.WEBROOT}" in call
               for call in certbot_calls)
    assert calls.count("REQUESTS_CA_BUNDLE=/etc/ssl/pebble.pem") == 3
    assert f"{bad}: NO certificate from ACME: DNS: the ACME server cannot resolve {bad}: DNS problem: NXDOMAIN" \
        in result.stderr
    assert f"ACME issuance failed for: {bad}." in result.stderr
    assert f"{config.realm}: certificate issued" in result.stdout


def test_the_drop_in_sets_the_ca_bundle_only_when_there_is_one(data):
    with_bundle = load_config({**data, "tls_acme_ca_bundle": "/etc/ssl/pebble.pem"}, environ={})
    assert 'Environment="REQUESTS_CA_BUNDLE=/etc/ssl/pebble.pem"' in render(DROP_IN, tls=with_bundle.tls)
    assert "Environment" not in render(DROP_IN, tls=load_config(data, environ={}).tls).replace("# None", "")


def test_the_scripts_are_valid_shell(config):
    for template in (HOOK, ISSUE):
        text = render(template, tls=config.tls, certificates=config.acme_certificates, webroot=acme.WEBROOT,
                      hook=acme.HOOK)
        assert subprocess.run(["sh", "-n"], input=text, text=True).returncode == 0, template

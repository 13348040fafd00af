"""TLS certificates and keys of the realm and each component, at /var/lib/prosody/<name>.crt
and .key (root:prosody, key 0640). Issued or renewed on the operator's side (see
eldwyn/certificates.py); uploaded only when the host's copy differs."""

from pyinfra import host

from eldwyn.files import upload
from eldwyn.host_files import stale
from eldwyn.preflight import host_config
from eldwyn.restarts import read_by

config = host_config(host)
read_by(host, "prosody", upload(stale(host, config, "certificates"), "Certificate"))

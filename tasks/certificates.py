"""TLS certificates and keys of the realm and each component, at /var/lib/prosody/<name>.crt
and .key (root:prosody, key 0640). Issued or renewed on the operator's side (see
eldwyn/certificates.py); uploaded only when the host's copy differs."""

from eldwyn.certificates import all_certificates
from eldwyn.files import ManagedFile, differing, upload


def files(config, store):
    found = []
    for issued in all_certificates(config, store):
        certificate = config.certificate(issued.name)
        found.append(ManagedFile(certificate.certificate_path, issued.certificate_pem, "root", "prosody", "644"))
        found.append(ManagedFile(certificate.key_path, issued.key_pem, "root", "prosody", "640", secret=True))
    return found


def paths(config):
    return []


def install(wanted, states):
    """Returns the operations that changed a certificate (Prosody reads them)."""
    return upload(differing(states, wanted), "Certificate")

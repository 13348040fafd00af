"""coturn for audio and video calls (turn_* data, tasks/turn.py): what its config needs, and the
TURN REST API's credentials, as Prosody's mod_turn_external (through mod_external_services)
makes them and coturn (use-auth-secret) checks them."""

import base64
import hashlib
import hmac
import ipaddress

from eldwyn.schema.data import Turn

SECRET = Turn.secret  # its name in the secrets store


def secret(store):
    """The secret Prosody and coturn share, made in the secrets store on first use."""
    return store.get_or_generate(SECRET, nbytes=32)


def denied_ranges(networks):
    """coturn's denied-peer-ip takes address ranges "first-last", not prefixes."""
    found = []
    for network in networks:
        network = ipaddress.ip_network(network)
        found.append((str(network[0]), str(network[-1])))
    return found


def rest_credentials(shared_secret, expires, user=None):
    """(username, password) valid until ``expires`` (Unix time): "<expires>" (or
    "<expires>:<user>") and the base64 HMAC-SHA1 of it under the shared secret, as
    mod_external_services makes them and coturn checks them."""
    username = f"{int(expires)}" if user is None else f"{int(expires)}:{user}"
    digest = hmac.new(shared_secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()

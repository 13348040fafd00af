"""Data for the production host only (see inventory.py for how its address is given)."""

import os as _os

# Login for SSH; unset means "whatever your ~/.ssh/config says".
if _os.environ.get("ELDWYN_SSH_USER"):
    ssh_user = _os.environ["ELDWYN_SSH_USER"]

# Operations run as root through sudo (a no-op when logging in as root).
_sudo = True

# Eldwyn also serves comm's website (and with it the registration page): the firewall file is
# the host's whole INPUT policy, so these must stay open.
firewall_other_tcp_ports = [80, 443]

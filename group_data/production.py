"""Data for the production host only (see inventory.py for how its address is given)."""

import os as _os

# Login for SSH; unset means "whatever your ~/.ssh/config says".
if _os.environ.get("ELDWYN_SSH_USER"):
    ssh_user = _os.environ["ELDWYN_SSH_USER"]

# Operations run as root through sudo (a no-op when logging in as root).
_sudo = True

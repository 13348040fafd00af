"""Eldwyn's XMPP service, from a bare Debian 13 host to a running Prosody.

    pyinfra inventory.py deploy.py --limit testbed      # the test-bed VM
    pyinfra inventory.py deploy.py --limit production   # Eldwyn itself (ELDWYN_HOST=...)

Each file in tasks/ owns one concern; they run in this order.
"""

from pyinfra import local

local.include("tasks/preflight.py")  # stops on an unsupported OS before anything changes
local.include("tasks/packages.py")
local.include("tasks/prosody_service.py")

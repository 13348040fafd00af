"""Eldwyn's XMPP service, from a bare Debian 13 host to a running, configured Prosody.

    pyinfra inventory.py deploy.py --limit testbed      # the test-bed VM
    pyinfra inventory.py deploy.py --limit production   # Eldwyn itself (ELDWYN_HOST=...)

Every host's data was validated before pyinfra connected (config.py). Each file in tasks/ owns
one concern; they run in this order.
"""

from pyinfra import local

local.include("tasks/preflight.py")  # stops on an unsupported OS before anything changes
local.include("tasks/packages.py")
local.include("tasks/restore.py")  # only with backup_restore_from; before anything reads the state
local.include("tasks/certificates.py")
local.include("tasks/prosody_modules.py")  # before the config that loads them is checked
local.include("tasks/prosody_config.py")  # checked on the host before it goes live
local.include("tasks/shared_rosters.py")
local.include("tasks/firewall.py")
local.include("tasks/prosody_service.py")  # restarts Prosody only if what it reads changed
local.include("tasks/accounts.py")  # needs the running server
local.include("tasks/webservice.py")  # the registration site, after Prosody (its invites API)

"""Eldwyn's XMPP service, from a bare Debian 13 host to a running, configured Prosody.

    pyinfra inventory.py deploy.py --limit testbed      # the test-bed VM
    pyinfra inventory.py deploy.py --limit production   # Eldwyn itself (ELDWYN_HOST=...)

pyinfra runs this file once per host to collect its operations, for every host, before it runs
any of them. Its first line checks the data of every host of the run: one bad key anywhere
stops the run there, so nothing changes on any host (exit status 3, every problem listed).
Then each task of tasks/ runs in the order below, the only order there is: what a task needs
from another is passed to it here.
"""

from pyinfra import host, state
from pyinfra.facts.deb import DebPackages
from pyinfra.facts.server import LinuxDistribution

from eldwyn.facts import AcmeLineages, Batch, FileStates, ProsodyStore, ServiceStates
from eldwyn.preflight import checked_config
from eldwyn.secrets import SecretsStore
from eldwyn.services import unit_name
from tasks import (
    accounts,
    acme,
    certificates,
    firewall,
    packages,
    preflight,
    prosody_config,
    prosody_modules,
    prosody_service,
    prosody_store,
    restore,
    scheduled_backups,
    shared_rosters,
    systemd_units,
    turn,
    updates,
    web_client,
    webservice,
)

config = checked_config(state, host)

# Every task renders its own files (certificates are issued into the secrets store on the way).
# Then ONE round trip asks the host everything the run needs to know: its OS, its packages, the
# state of every file and service the tasks own, Prosody's store, certbot's lineages
# (eldwyn.facts.Batch). Nothing on the host changes before all of it is known.
restore.secrets(config)  # only with backup_restore_from: the backup's secrets before any are made
store = SecretsStore(config.secrets.dir)
derived = accounts.derive_new(config)  # new accounts' keys, derived while the host is asked
OWNERS = (packages, certificates, prosody_modules, prosody_config, shared_rosters, firewall, updates,
          prosody_service, acme, webservice, turn, web_client, scheduled_backups)
rendered = {task: task.files(config, store) for task in OWNERS}
paths = sorted({file.path for files in rendered.values() for file in files} | {p for t in OWNERS for p in t.paths(config)})
units = sorted({unit_name(unit) for task in OWNERS for unit in getattr(task, "units", lambda config: ())(config)})
facts = host.get_fact(Batch, facts=(
    ("os", LinuxDistribution, {}),
    ("packages", DebPackages, {}),
    ("files", FileStates, {"paths": paths}),
    ("services", ServiceStates, {"units": units}),
    ("store", ProsodyStore, {"realm": config.realm}),  # as it is before the restore
    *((("lineages", AcmeLineages, {"certificates": config.acme_certificates}),) if config.acme_certificates else ()),
))
preflight.supported_os(facts["os"])  # stops on an unsupported OS before anything changes
packages.install(config, facts["packages"], facts["files"])
restored = restore.restore(config)  # only with backup_restore_from; before anything reads the state

# With tls_mode "acme", a name that has its certificate from certbot (or still serves a good
# one while it waits for it) does not get the fallback's files.
lineages = facts.get("lineages", {})
wanted = {task: acme.keep_served(config, files, lineages) for task, files in rendered.items()}
# Every task's systemd units go up together, before the first service starts (tasks/systemd_units.py).
unit_files, wanted = systemd_units.split(wanted)
states = restored.states_after(facts["files"], config)  # as they will be once the restore has run
services = facts["services"]
store_state = facts["store"]

new_certificates = certificates.install(wanted[certificates], states)
new_modules = prosody_modules.install(wanted[prosody_modules], states)  # before the config that loads them is checked
new_turn_secret = turn.install(wanted[turn], states, services)  # before the config that reads its secret is checked
new_config = prosody_config.install(config, wanted[prosody_config], states)  # checked on the host before it goes live
new_rosters = shared_rosters.install(wanted[shared_rosters], states)
firewall.install(wanted[firewall], states)
updates.install(wanted[updates], states, services)
units_changed = systemd_units.install(unit_files, states)  # one upload, one daemon-reload
acme.install(config, wanted[acme], states, services)
scheduled_backups.install(wanted[scheduled_backups], states, services)
prosody_store.journal(store_state, restored)  # before Prosody's first start with our config creates it
prosody_service.run(services,
                    restart_after=[*restored.operations, *new_certificates, *new_modules, *new_turn_secret, *new_config,
                                  *new_rosters, *units_changed[prosody_service]],
                    ports=config.ports.all)
accounts.create_missing(config, store_state["accounts"], restored=restored.accounts, derived=derived)  # needs the running server
# Before nginx serves it (webservice); nginx serves the realm's certificate too (host-meta).
web_client.install(config, wanted[web_client], states, nginx_reads=new_certificates)
webservice.deploy(config, wanted[webservice], states, services, units_changed[webservice])  # after Prosody: it makes the invites API's key
acme.obtain(config, lineages, states)  # once nginx serves the challenges; fails the run if one fails

"""Checks made before the deploy touches anything, and the validated config of each host."""

import gevent
from pyinfra.api.exceptions import DeployError, InventoryError
from pyinfra.api.state import BaseStateCallback

from eldwyn.config import ConfigError, load_config

SUPPORTED_OS = ("Debian", 13)  # trixie: Prosody 13.0 and a prosody-modules with every module used


class BadGroupData(InventoryError):
    """A host's data failed validation: the message names the key and the problem."""


_configs = {}  # host name -> Config, validated once per run


def host_config(host):
    """The validated Config of ``host`` (validated on first use, then cached)."""
    if host.name not in _configs:
        try:
            _configs[host.name] = load_config(host.data.dict())
        except ConfigError as error:
            raise BadGroupData(f"{host.name}: bad group data: {error}") from None
    return _configs[host.name]


class ValidateDataBeforeConnecting(BaseStateCallback):
    """Validates the data of every host of the run when pyinfra is about to open the first
    connection: one bad host stops the whole run before any host is contacted."""

    @staticmethod
    def host_before_connect(state, host):
        # pyinfra connects in gevent greenlets and reports our error itself, in one line:
        # keep gevent from printing a traceback for it first.
        hub = gevent.get_hub()
        if BadGroupData not in hub.NOT_ERROR:
            hub.NOT_ERROR = (*hub.NOT_ERROR, BadGroupData)
        for each in state.inventory:
            if state.is_host_in_limit(each):
                host_config(each)


def check_supported_os(host_name, distribution):
    """Raises DeployError unless ``distribution`` (pyinfra's LinuxDistribution fact) is the
    supported one; called before any operation, so nothing has changed yet."""
    found = (distribution.get("name"), distribution.get("major"))
    if found != SUPPORTED_OS:
        raise DeployError(
            f"{host_name}: this deploy supports {SUPPORTED_OS[0]} {SUPPORTED_OS[1]} (trixie) only, "
            f"found {found[0] or 'an unknown OS'} {found[1] or ''}".rstrip() + "; nothing was changed."
        )

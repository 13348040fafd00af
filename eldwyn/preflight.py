"""Checks made before the deploy touches anything, and the validated config of each host."""

from pyinfra.api.exceptions import InventoryError
from pyinfra.api.state import BaseStateCallback

from eldwyn.config import ConfigError, load_config

_configs = {}  # host name -> Config, validated once per run


def host_config(host):
    """The validated Config of ``host`` (validated on first use, then cached)."""
    if host.name not in _configs:
        try:
            _configs[host.name] = load_config(host.data.dict())
        except ConfigError as error:
            raise InventoryError(f"{host.name}: bad group data: {error}") from None
    return _configs[host.name]


class ValidateDataBeforeConnecting(BaseStateCallback):
    """Validates the data of every host of the run when pyinfra is about to open the first
    connection: one bad host stops the whole run before any host is contacted."""

    @staticmethod
    def host_before_connect(state, host):
        for each in state.inventory:
            if state.is_host_in_limit(each):
                host_config(each)

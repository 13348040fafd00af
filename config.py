"""pyinfra's own config file (read before the inventory): the data check, and nothing else.

Every host's data must be validated (eldwyn/config.py) before pyinfra connects to any host.
pyinfra 3 has no hook between loading the inventory and connecting, but it calls
`host_before_connect` on the state's callback handlers; State.init() (run after this file)
resets that list, so ours is added right after it. Proven by tests/unit/test_preflight.py.
"""

from pyinfra import state

from eldwyn.preflight import ValidateDataBeforeConnecting

_init = state.init


def _init_then_validate_before_connecting(*args, **kwargs):
    _init(*args, **kwargs)
    state.add_callback_handler(ValidateDataBeforeConnecting())


state.init = _init_then_validate_before_connecting

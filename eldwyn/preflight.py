"""Checks made before the deploy changes anything: every host's data, then the host's OS."""

from pyinfra.api.exceptions import DeployError, PyinfraError
from pyinfra_cli.exceptions import CliError

from eldwyn.config import ConfigError, load_config

SUPPORTED_OS = ("Debian", 13)  # trixie: Prosody 13.0 and a prosody-modules with every module used
BAD_DATA_EXIT_STATUS = 3  # pyinfra exits 1 for its own errors (an unreachable host, a failed operation)


class BadGroupData(CliError, PyinfraError):
    """The data of one or more hosts failed validation: every problem, one line each.

    A PyinfraError, so that pyinfra passes it on from a deploy file as it is (not as a crash
    with a traceback), and a CliError (click's exception), so that pyinfra's command line prints
    it as one of its own errors and exits with BAD_DATA_EXIT_STATUS."""

    exit_code = BAD_DATA_EXIT_STATUS

    def __init__(self, message):
        CliError.__init__(self, message)


def _lines(host, error):
    return [f"{host.name}: bad group data: {path}: {problem}" for path, problem in error.problems]


def _problems(host):
    try:
        load_config(host.data.dict())
        return []
    except ConfigError as error:
        return _lines(host, error)


def checked_config(state, host):
    """``host``'s Config, once the data of every host of this run (``--limit``) is valid.

    pyinfra collects every host's operations before it runs any, and stops at the first error:
    called first in a deploy file, this guarantees that bad data on any host changes nothing on
    any host. (Each host checks all of them, so the message is the same whichever fails first.)
    """
    problems = [line for each in state.inventory if each.name != host.name and state.is_host_in_limit(each)
                for line in _problems(each)]
    try:
        config = load_config(host.data.dict())
    except ConfigError as error:  # (validated once: the data's check reads the disk)
        problems += _lines(host, error)
    if problems:
        raise BadGroupData("\n".join(sorted(problems, key=lambda line: line.split(":", 1)[0])))
    return config


def check_supported_os(host_name, distribution):
    """Raises DeployError unless ``distribution`` (pyinfra's LinuxDistribution fact) is the
    supported one; called before any operation, so nothing has changed yet."""
    found = (distribution.get("name"), distribution.get("major"))
    if found != SUPPORTED_OS:
        raise DeployError(
            f"{host_name}: this deploy supports {SUPPORTED_OS[0]} {SUPPORTED_OS[1]} (trixie) only, "
            f"found {found[0] or 'an unknown OS'} {found[1] or ''}".rstrip() + "; nothing was changed."
        )

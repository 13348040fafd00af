"""Which operations of this run changed something a service reads, per host, so that the
service is restarted only then (and a run that changes nothing restarts nothing)."""

from collections import defaultdict

from pyinfra.operations.util import any_changed

_inputs = defaultdict(list)  # (host name, service) -> operations


def read_by(host, service, operations):
    """Records ``operations`` as changing files that ``service`` reads."""
    _inputs[(host.name, service)].extend(operations)


def changed_inputs(host, service):
    """A condition for _if= (true when any recorded operation changed), or None if this run
    has no such operation at all."""
    operations = _inputs[(host.name, service)]
    return any_changed(*operations) if operations else None

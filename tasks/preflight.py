"""Refuse to touch a host this deploy was not made for, before any operation runs."""

from pyinfra import host
from pyinfra.facts.server import LinuxDistribution

from eldwyn.preflight import check_supported_os


def supported_os():
    check_supported_os(host.name, host.get_fact(LinuxDistribution))

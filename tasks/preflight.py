"""Refuse to touch a host this deploy was not made for, before any operation runs."""

from pyinfra import host

from eldwyn.preflight import check_supported_os


def supported_os(distribution):
    """``distribution``: pyinfra's LinuxDistribution fact (asked with the others, deploy.py)."""
    check_supported_os(host.name, distribution)

"""Refuse to touch a host this deploy was not made for, before any operation runs."""

from pyinfra import host
from pyinfra.api.exceptions import DeployError
from pyinfra.facts.server import LinuxDistribution

SUPPORTED = ("Debian", 13)

distribution = host.get_fact(LinuxDistribution)
found = (distribution["name"], distribution["major"])
if found != SUPPORTED:
    raise DeployError(
        f"{host.name}: this deploy supports {SUPPORTED[0]} {SUPPORTED[1]} (trixie) only, "
        f"found {found[0]} {found[1]}; nothing was changed."
    )

"""Checked value types, shared by the deploy's data and the webservice's settings.

Each is an ``Annotated`` type: the Python type, strict (bool is never an int, "5222" is not a
port), and a check that says what is wrong in words. Only pydantic and the standard library:
the webservice imports this module on the host.
"""

import ipaddress
import os
import re
import unicodedata
from typing import Annotated, Any

from pydantic import AfterValidator, Field, StrictBool, StrictInt, StrictStr

from eldwyn.schema.base import fail, raise_problems

_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\Z")


def _hostname(value):
    if value != value.lower():
        fail(f"{value!r} must be lower case")
    if len(value) > 253 or not all(_LABEL.match(label) for label in value.split(".")):
        fail(f"{value!r} is not a valid DNS name")
    return value


def _text(value):
    if not value.strip():
        fail("must not be empty")
    bad = [char for char in value if unicodedata.category(char) == "Cc"]
    if bad:
        fail(f"{value!r} contains the control character {bad[0]!r}")
    return value


# Characters Prosody's nodeprep refuses in a user name (plus control characters and spaces).
_LOCALPART_FORBIDDEN = set(" \"&'/:<>@")


def localpart_problem(localpart, domain=None):
    """Why ``localpart`` is not a user name as Prosody stores it, or None."""
    for char in localpart:
        if char in _LOCALPART_FORBIDDEN or char.isspace() or unicodedata.category(char) == "Cc":
            return f"the user name may not contain {char!r}"
    if len(localpart.encode("utf-8")) > 1023:
        return "the user name is longer than 1023 bytes"
    normalised = unicodedata.normalize("NFKC", localpart).casefold()
    if localpart != normalised:
        return f"write it as Prosody stores it, {normalised + ('@' + domain if domain else '')!r}"
    return None


def _jid(value):
    localpart, at, domain = value.rpartition("@")
    if not at or not localpart:
        fail(f"{value!r} is not a bare JID 'user@domain'")
    problem = localpart_problem(localpart, domain)
    if problem:
        fail(f"{value[:40]!r}: {problem}")
    if not domain or not all(_LABEL.match(label) for label in domain.split(".")):
        fail(f"{value!r}: {domain!r} is not a valid lower-case domain")
    return value


def _localpart(value):
    problem = localpart_problem(value) if value else "the user name is empty"
    if problem:
        fail(f"{value!r}: {problem}")
    return value


# What Prosody 13's module:get_option_period() reads without complaint (util/human/io.lua):
# "never", or a number and a unit. A bare "m" or "mo" is refused because Prosody logs it as
# ambiguous (minutes or months?).
_PERIOD = re.compile(
    r"(never|[1-9][0-9]*\s*(s|secs?|seconds?|min|mins|minutes?|h|hours?|d|days?|w|weeks?"
    r"|mon|months?|y|years?))\Z"
)


def _period(value):
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            fail(f"{value} is out of range: a period is at least 1 second, or \"never\"")
        return value
    if not isinstance(value, str) or not _PERIOD.match(value):
        fail(f"{value!r} is not a period Prosody understands; use \"never\", \"1w\", \"30d\","
             " \"6 months\" or a number of seconds")
    return value


_EMAIL = re.compile(r"[A-Za-z0-9.!#$%*+/=?^_`{|}~-]{1,64}@[a-z0-9.-]{1,253}\Z")


def _email(value):
    if not _EMAIL.match(value):
        fail(f"{value!r} is not an e-mail address with a lower-case domain")
    return value


def _absolute_path(value):
    if not os.path.isabs(value):
        fail(f"{value!r} must be an absolute path")
    return value


def _ip_address(value):
    try:
        ipaddress.ip_address(value)
    except ValueError:
        fail(f"{value!r} is not an IP address")
    return value


def no_duplicates(items):
    """Refuses an item listed twice, naming both places."""
    seen, problems = {}, []
    for index, item in enumerate(items):
        if item in seen:
            problems.append(((index,), f"{item!r} is listed twice (first at [{seen[item]}])"))
        seen.setdefault(item, index)
    if problems:
        raise_problems(problems, items)
    return items


Hostname = Annotated[StrictStr, AfterValidator(_hostname)]
"""A lower-case DNS name."""
Text = Annotated[StrictStr, AfterValidator(_text)]
"""One line of human text: shown to users and written into files, so no control characters."""
Jid = Annotated[StrictStr, AfterValidator(_jid)]
"""A bare JID user@domain, written the way Prosody stores it."""
Localpart = Annotated[StrictStr, AfterValidator(_localpart)]
"""A user name as Prosody stores it (lower case, NFKC)."""
Port = Annotated[StrictInt, Field(ge=1, le=65535)]
Seconds = Annotated[StrictInt, Field(ge=1)]
Size = Annotated[StrictInt, Field(ge=1)]
"""A size in bytes; write 128 * 1024 * 1024 in the data, not "128M"."""
Period = Annotated[Any, AfterValidator(_period)]
"""What Prosody reads as a period: "never", "1w", "30d", "6 months"..., or seconds."""
EmailAddress = Annotated[StrictStr, AfterValidator(_email)]
AbsolutePath = Annotated[StrictStr, AfterValidator(_absolute_path)]
IpAddress = Annotated[StrictStr, AfterValidator(_ip_address)]
Bool = StrictBool

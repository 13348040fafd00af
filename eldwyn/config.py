"""Load Eldwyn's data (group_data/*.py, as pyinfra hands it over) into the checked, read-only
``Config`` of eldwyn/schema/data.py, where every key is declared.

``load_config(data)`` reports every problem of the data at once, as ``ConfigError``: one line
per problem, naming the key path as written in group_data (list items by their name), the bad
value and what is expected, for example
``xmpp_components['muc.example.org'].name: 'muc.example.org' is not inside the realm 'cslabs.clarkson.edu'``.
"""

import os

from pydantic import TypeAdapter, ValidationError

from eldwyn.schema.base import problems as problems_of, suggestion
from eldwyn.schema.types import Hostname, Jid
from eldwyn.schema.data import SECTIONS, Config

SECRETS_DIR_ENV = "ELDWYN_SECRETS_DIR"
_SECRETS_KEY = "secrets_dir"


def _section_fields(section):
    return Config.model_fields[section].annotation.model_fields


KNOWN_KEYS = tuple(
    [f"xmpp_{name}" for name in Config.model_fields if name not in SECTIONS]
    + [f"{section}_{name}" for section in SECTIONS for name in _section_fields(section)]
)
"""Every data key, as group_data writes it."""
# Keys starting with these belong to us; pyinfra's own keys (ssh_*, _sudo...) do not.
KEY_PREFIXES = tuple(f"{prefix}_" for prefix in ("xmpp", *SECTIONS))


class ConfigError(ValueError):
    """The data's problems: ``problems`` is [(key path, what is wrong)]; ``path`` and
    ``problem`` are the first one's."""

    def __init__(self, problems):
        self.problems = list(problems)
        self.path, self.problem = self.problems[0]
        super().__init__("\n".join(f"{path}: {problem}" for path, problem in self.problems))


def _key_of(loc):
    """The data key of a pydantic location, and how many of its parts the key stands for."""
    if loc and loc[0] in SECTIONS and len(loc) > 1:
        return f"{loc[0]}_{loc[1]}", 2
    return f"xmpp_{loc[0]}", 1


def _nested(data):
    """group_data's flat keys as Config's shape: xmpp_realm -> realm, tls_x -> tls.x."""
    nested = {}
    for key, value in data.items():
        section, _, name = key.partition("_")
        if section == "xmpp":
            nested[name] = value
        else:
            nested.setdefault(section, {})[name] = value
    return nested


def _valid_realm(value):
    try:
        return _REALM.validate_python(value)
    except ValidationError:
        return None


_REALM = TypeAdapter(Hostname)


def load_config(data, environ=None):
    """Check ``data`` (host.data.dict() or a plain dict) and return a ``Config``.

    Keys without one of our prefixes (pyinfra's ssh_*, _sudo, ...) are ignored; ours must be
    known. ``environ`` defaults to os.environ (for ELDWYN_SECRETS_DIR).
    """
    environ = os.environ if environ is None else environ
    problems, ours = [], {}
    for key, value in data.items():
        if not isinstance(key, str) or not key.startswith(KEY_PREFIXES):
            continue
        if key in KNOWN_KEYS:
            ours[key] = value
        else:
            problems.append((key, "unknown key" + (suggestion(key, KNOWN_KEYS)
                                                   or " (every key is listed in docs/data-keys.md)")))
    shown = dict(ours)
    if environ.get(SECRETS_DIR_ENV):
        ours[_SECRETS_KEY] = environ[SECRETS_DIR_ENV]
    nested = _nested(ours)
    try:
        # The realm, when it is valid, lets each component check its own name against it.
        realm = {"realm": _valid_realm(nested.get("realm"))}
        config = Config.model_validate(nested, context=realm)
    except ValidationError as error:
        for path, problem in problems_of(error, shown, Config, _key_of):
            if path == _SECRETS_KEY and environ.get(SECRETS_DIR_ENV):
                path = f"{SECRETS_DIR_ENV} (environment)"
            if problem == "missing":
                problem = "missing (every key is listed in docs/data-keys.md)"
            problems.append((path, problem))
    if problems:
        raise ConfigError(problems)
    return config


_JID = TypeAdapter(Jid)


def account_jid(value, path, realm):
    """An account of ``realm`` given as ``name`` or ``name@realm``: its bare JID (ConfigError
    at ``path`` otherwise)."""
    if not isinstance(value, str):
        raise ConfigError([(path, f"expected a user name or a JID such as 'alice@{realm}', got"
                                  f" {type(value).__name__} {value!r}")])
    jid = value if "@" in value else f"{value}@{realm}"
    try:
        _JID.validate_python(jid)
    except ValidationError as error:
        raise ConfigError([(path, problem) for _, problem in problems_of(error, {"": jid}, str, lambda loc: ("", 0))]) from None
    if jid.rpartition("@")[2] != realm:
        raise ConfigError([(path, f"{jid!r} is not in the realm {realm!r}")])
    return jid

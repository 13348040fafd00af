"""The sign-up service's settings: one JSON file of non-secret values, secrets in separate files.

The file's keys, types and bounds are declared once, in eldwyn/schema/signup.py
(``SignupSettings``): the deploy writes settings.json from that model and this service reads it
back with the very same one (the deploy ships eldwyn/schema/ beside webservice/, and the host
runs it with Debian's python3-pydantic).

On the host the deploy renders templates/etc/eldwyn-signup/settings.json.j2 (root-only, 0600)
and systemd hands it to the service, with the secrets, through ``LoadCredential=``: the service
runs as a DynamicUser that can read nothing else of /etc/eldwyn-signup. Inside the service all
of them are files in ``$CREDENTIALS_DIRECTORY`` (see eldwyn-signup.service.j2).

Secrets (one file each, never in settings.json, never logged, never in a repr):
  ``secret-key``     signs CSRF and e-mail verification tokens (required)
  ``smtp-password``  SMTP AUTH password (required only when smtp.username is set)
"""

import json
import os
from pathlib import Path

from pydantic import ValidationError

from eldwyn.schema.base import problems
from eldwyn.schema.signup import SignupSettings

CREDENTIALS_ENV = "CREDENTIALS_DIRECTORY"
SETTINGS_ENV = "ELDWYN_SIGNUP_SETTINGS"
SETTINGS_CREDENTIAL = "settings.json"
SECRET_KEY = "secret-key"
SMTP_PASSWORD = "smtp-password"


class SettingsError(ValueError):
    """The settings' problems, one line each; ``path`` and ``problem`` are the first one's."""

    def __init__(self, path, problem, more=()):
        self.path, self.problem = path, problem
        super().__init__("\n".join(f"{each}: {what}" for each, what in [(path, problem), *more]))


class Settings(SignupSettings):
    """The service's settings, and where its secrets are (systemd's credentials directory)."""

    credentials_directory: Path | None = None

    def credential(self, name):
        """The secret ``name`` (text, surrounding whitespace removed); SettingsError if missing."""
        if self.credentials_directory is None:
            raise SettingsError(CREDENTIALS_ENV, f"not set, so the secret {name!r} cannot be read")
        path = self.credentials_directory / name
        try:
            value = path.read_text(encoding="utf-8").strip()
        except OSError as error:
            raise SettingsError(str(path), f"cannot read the secret ({error.strerror})") from None
        if not value:
            raise SettingsError(str(path), "the secret is empty")
        return value


def parse_settings(data, credentials_directory=None):
    """Check the decoded settings ``data`` and return Settings; SettingsError names every bad key."""
    if not isinstance(data, dict):
        raise SettingsError("settings", f"expected a JSON object, got {type(data).__name__}")
    if "credentials_directory" in data:
        raise SettingsError("credentials_directory", "unknown key (it comes from $CREDENTIALS_DIRECTORY)")
    try:
        return Settings.model_validate({**data, "credentials_directory": credentials_directory})
    except ValidationError as error:
        found = problems(error, data, Settings)
        raise SettingsError(*found[0], more=found[1:]) from None


def load_settings(path=None, environ=None):
    """Read the settings file: ``path``, else $ELDWYN_SIGNUP_SETTINGS, else the systemd
    credential ``settings.json``. Secrets are read later, from $CREDENTIALS_DIRECTORY."""
    environ = os.environ if environ is None else environ
    credentials = environ.get(CREDENTIALS_ENV) or None
    if path is None:
        path = environ.get(SETTINGS_ENV)
    if path is None:
        if credentials is None:
            raise SettingsError(SETTINGS_ENV, f"not set, and no {CREDENTIALS_ENV} holding {SETTINGS_CREDENTIAL}")
        path = Path(credentials) / SETTINGS_CREDENTIAL
    try:
        with open(path, encoding="utf-8") as file:
            data = json.load(file)
    except OSError as error:
        raise SettingsError(str(path), f"cannot read the settings ({error.strerror})") from None
    except ValueError as error:
        raise SettingsError(str(path), f"not valid JSON ({error})") from None
    return parse_settings(data, credentials_directory=credentials)

"""Eldwyn's registration webservice: invite links and e-mail sign-up (see app.py)."""

from webservice.signup.app import create_app  # noqa: F401
from webservice.signup.settings import Settings, SettingsError, load_settings, parse_settings  # noqa: F401

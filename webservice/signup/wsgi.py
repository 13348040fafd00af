"""Entry point for gunicorn: ``gunicorn webservice.signup.wsgi:app``.

Settings come from $ELDWYN_SIGNUP_SETTINGS, else the systemd credential settings.json; the
secrets from $CREDENTIALS_DIRECTORY (see settings.py). A bad settings file stops the service at
start with one line naming the key, instead of serving half-configured.
"""

import logging

from webservice.signup import create_app, load_settings

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
app = create_app(load_settings())

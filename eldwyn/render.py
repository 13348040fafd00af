"""Render the files of templates/ (their paths mirror where they land on the host)."""

import shlex
from pathlib import Path

import jinja2

from eldwyn.lua import JINJA_FILTERS

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"

# StrictUndefined: a misspelt variable fails the render instead of writing an empty string.
environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    autoescape=False,
)
environment.filters.update(JINJA_FILTERS)
environment.filters["sh"] = lambda value: shlex.quote(str(value))  # one shell word


def render(template_path, **context):
    """Render ``template_path`` (relative to templates/, e.g. "etc/prosody/prosody.cfg.lua.j2")."""
    return environment.get_template(str(template_path)).render(**context)

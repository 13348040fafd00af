"""Write Python values as Lua literals, for Prosody's config files.

Strings are written in double quotes, so long brackets (``]]``) never matter. Printable text,
non-ASCII included, is kept as is so the config stays readable; everything else (quotes,
backslashes, control characters, NUL, invisible Unicode) becomes an escape that every Lua
version reads back byte-identical.
"""

import re

_LUA_KEYWORDS = frozenset(
    "and break do else elseif end false for function goto if in local nil not or repeat"
    " return then true until while".split()
)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_SHORT_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_char(char):
    if char in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[char]
    if char.isprintable():
        return char
    # Three decimal digits per UTF-8 byte: an escape never swallows a digit that follows it.
    return "".join(f"\\{byte:03d}" for byte in char.encode("utf-8"))


def quote(text):
    """Return ``text`` as a double-quoted Lua string literal."""
    if not isinstance(text, str):
        raise TypeError(f"quote() takes a str, not {type(text).__name__}")
    return '"' + "".join(_escape_char(char) for char in text) + '"'


def _key(key):
    if not isinstance(key, str):
        raise TypeError(f"Lua table keys must be str here, not {type(key).__name__}")
    if _IDENTIFIER.match(key) and key not in _LUA_KEYWORDS:
        return key
    return f"[{quote(key)}]"


def literal(value):
    """Return the Lua literal for a str, bool, int, None, list/tuple or dict (nested freely).

    Lists become array tables, dicts become records in their own order:
    ``{"a": [1, "x"]}`` gives ``{ a = { 1, "x" } }``.
    """
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, (list, tuple)):
        return "{ " + ", ".join(literal(item) for item in value) + " }" if value else "{}"
    if isinstance(value, dict):
        items = [f"{_key(key)} = {literal(item)}" for key, item in value.items()]
        return "{ " + ", ".join(items) + " }" if items else "{}"
    # Floats are refused on purpose: nothing in Prosody's config needs one, and nan/inf have
    # no Lua literal.
    raise TypeError(f"no Lua literal for {type(value).__name__}")


# The names templates use: {{ value | lua }} and {{ text | lua_string }}.
JINJA_FILTERS = {"lua": literal, "lua_string": quote}

"""What the forms accept: user names (XMPP localparts), accounts to log in to, passwords and
e-mail addresses.

Each check returns the accepted (normalised) value or raises Invalid with a message for the
person filling the form: it never echoes the value itself.
"""

import re
import unicodedata

# XMPP localpart rules (RFC 7622, as Prosody 13's nodeprep applies them): case folded and
# width-mapped (NFKC + casefold, which is what Prosody stores), at most 1023 bytes, and never
# these characters, spaces, control or formatting characters, symbols such as emoji.
LOCALPART_FORBIDDEN = set("\"&'/:<>@")
LOCALPART_MAX_BYTES = 1023
# Our own policy on top: names people can type and read back.
USERNAME_MAX_CHARS = 64
_REFUSED_CATEGORIES = {"Cc", "Cf", "Cn", "Co", "Cs", "Zs", "Zl", "Zp", "So", "Sk", "Me"}

PASSWORD_MAX_CHARS = 1024
PASSWORD_MIN_DISTINCT = 5
EMAIL_MAX_CHARS = 254  # RFC 5321 path limit
_EMAIL_LOCAL = re.compile(r"[A-Za-z0-9.!#$%*+/=?^_`{|}~-]{1,64}\Z")


class Invalid(ValueError):
    """A form value is refused; str() is the message shown next to the field."""


def username(value, reserved=frozenset()):
    """The localpart as Prosody will store it; Invalid if XMPP or our policy refuses it."""
    if not value or not value.strip():
        raise Invalid("Choose a username.")
    if len(value) > USERNAME_MAX_CHARS or len(value.encode("utf-8")) > LOCALPART_MAX_BYTES:
        raise Invalid(f"A username has at most {USERNAME_MAX_CHARS} characters.")
    name = _prepared(value)
    if len(name) > USERNAME_MAX_CHARS or len(name.encode("utf-8")) > LOCALPART_MAX_BYTES:
        raise Invalid(f"A username has at most {USERNAME_MAX_CHARS} characters.")
    if name in reserved:
        raise Invalid("This username is reserved. Choose another one.")
    scripts = {script for script in map(_script, name) if script}
    if len(scripts) > 1 and not scripts <= _ONE_WRITING_SYSTEM:
        raise Invalid("A username cannot mix letters of different scripts, such as Latin and Cyrillic.")
    if skeleton(name) in {skeleton(other) for other in reserved}:
        raise Invalid("This username looks like a reserved one. Choose another one.")
    return name


def _prepared(value):
    """``value`` case folded and width-mapped; Invalid for what no XMPP localpart holds."""
    name = unicodedata.normalize("NFKC", value).casefold()
    name = unicodedata.normalize("NFKC", name)
    if not name:
        raise Invalid("Choose a username.")
    for char in name:
        if char in LOCALPART_FORBIDDEN or char.isspace():
            shown = "a space" if char.isspace() else f"“{char}”"
            raise Invalid(f"A username cannot contain {shown}.")
        if unicodedata.category(char) in _REFUSED_CATEGORIES:
            raise Invalid("A username can only contain letters, digits and punctuation such as . - _")
    if unicodedata.category(name[0]).startswith("M"):
        raise Invalid("A username cannot start with a combining mark.")
    return name


def same_username(typed, name):
    """Whether ``typed`` is the username ``name`` (as Prosody stores it), as typed by a person."""
    try:
        return bool(typed.strip()) and _prepared(typed.strip()) == name
    except Invalid:
        return False


def account(value, realm):
    """The account someone logs in to, typed as "name" or "name@realm": (the localpart as
    typed, the localpart as Prosody stores it). Only XMPP's rules, none of our sign-up policy
    (reserved or long names exist: admins, accounts made by the operator). Invalid for an
    address at another domain or what cannot be a username."""
    value = (value or "").strip()
    if not value:
        raise Invalid("Enter your username or address.")
    if len(value.encode("utf-8")) > LOCALPART_MAX_BYTES + 1 + len(realm.encode("utf-8")):
        raise Invalid("This is not a username or address on this server.")
    local, at, domain = value.rpartition("@")
    if not at:
        local = value
    elif domain.casefold().rstrip(".") != realm.casefold():
        raise Invalid(f"Only accounts on {realm} can be changed here.")
    if not local:
        raise Invalid("Enter your username or address.")
    name = _prepared(local)
    if len(name.encode("utf-8")) > LOCALPART_MAX_BYTES:
        raise Invalid("This is not a username or address on this server.")
    return local, name


# Scripts that are written together: Japanese mixes kanji, hiragana and katakana.
_ONE_WRITING_SYSTEM = {"CJK", "HIRAGANA", "KATAKANA"}


def _script(char):
    """The script of a letter, from its Unicode name ("CYRILLIC SMALL LETTER A": CYRILLIC);
    None for digits and punctuation, which go with any script."""
    if not unicodedata.category(char).startswith("L"):
        return None
    return unicodedata.name(char, "UNKNOWN").split()[0]


# Letters that look like Latin ones in common fonts (a subset of Unicode's confusables.txt,
# UTS #39: Cyrillic, Greek and a few Latin look-alikes), and sequences that read alike.
_LOOKALIKE = str.maketrans({
    "а": "a", "в": "b", "е": "e", "ё": "e", "һ": "h", "і": "i", "ї": "i", "ј": "j", "к": "k", "м": "m",
    "н": "h", "о": "o", "р": "p", "с": "c", "т": "t", "у": "y", "х": "x", "ѕ": "s", "ԁ": "d", "ԛ": "q",
    "ԝ": "w", "ɡ": "g", "ı": "i", "ʟ": "l", "ο": "o", "α": "a", "ν": "v", "ρ": "p", "τ": "t", "ι": "i",
    "κ": "k", "υ": "u", "χ": "x", "ε": "e", "β": "b", "η": "n", "ω": "w", "μ": "u", "0": "o", "1": "l",
    "|": "l", "ǀ": "l",
})


SKELETON_PAIRS = (("rn", "m"), ("vv", "w"), ("cl", "d"))  # letter pairs that read as one letter


def skeleton(name):
    """What ``name`` looks like: names with equal skeletons look alike ("adm1n" and "admin",
    "rnail" and "mail", "аdmin" with a Cyrillic а and "admin")."""
    text = unicodedata.normalize("NFKD", name.casefold())
    text = "".join(char for char in text if not unicodedata.category(char).startswith("M"))  # no accents
    text = text.translate(_LOOKALIKE)
    for pair, single in SKELETON_PAIRS:
        text = text.replace(pair, single)
    # i, l and 1 stand in for one another ("adm1n", "admln"): stricter than UTS #39, which is
    # cheap here, as only names that look like a reserved one are refused.
    return text.replace("i", "l")


def _possible_password(value, missing):
    """``value`` unless no password can be it: Invalid(``missing``) when it is empty, Invalid
    when too long or holding control characters."""
    if not value:
        raise Invalid(missing)
    if len(value) > PASSWORD_MAX_CHARS:
        raise Invalid(f"A password has at most {PASSWORD_MAX_CHARS} characters.")
    if any(unicodedata.category(char) == "Cc" for char in value):
        raise Invalid("A password cannot contain control characters.")
    return value


def current_password(value):
    """The password someone logs in with: only what no password can be."""
    return _possible_password(value, "Enter your current password.")


def password(value, again, name, min_length):
    """The rule: at least ``min_length`` characters, at least 5 different characters, not
    containing the username, and typed the same twice."""
    _possible_password(value, "Choose a password.")
    if len(value) < min_length:
        raise Invalid(f"A password needs at least {min_length} characters.")
    if len(set(value)) < PASSWORD_MIN_DISTINCT:
        raise Invalid(f"A password needs at least {PASSWORD_MIN_DISTINCT} different characters.")
    if name and name in value.casefold():
        raise Invalid("A password cannot contain the username.")
    if value != again:
        raise Invalid("The two passwords differ.")
    return value


def email(value, allowed_domains):
    """The address, domain lower-cased; Invalid if malformed or not at an allowed domain
    (exact match: a subdomain of an allowed domain is not allowed)."""
    value = (value or "").strip()
    if not value:
        raise Invalid("Enter your e-mail address.")
    if len(value) > EMAIL_MAX_CHARS:
        raise Invalid(f"An e-mail address has at most {EMAIL_MAX_CHARS} characters.")
    local, at, domain = value.rpartition("@")
    if not at or not _EMAIL_LOCAL.match(local) or local.startswith(".") or local.endswith(".") or ".." in local:
        raise Invalid("This is not an e-mail address such as name@example.edu.")
    domain = domain.lower()
    if domain not in allowed_domains:
        allowed = ", ".join(allowed_domains)
        raise Invalid(f"Sign-up is open to addresses at {allowed} only.")
    return f"{local}@{domain}"

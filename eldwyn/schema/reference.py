"""The reference of every data key, made from the schema: ``python -m eldwyn.schema.reference``
writes docs/data-keys.md (a unit test keeps that file current)."""

import json
import sys
import types
import typing
from pathlib import Path

from eldwyn.schema.base import unwrap
from eldwyn.schema.data import SECTIONS, Config

OUTPUT = Path(__file__).resolve().parents[2] / "docs" / "data-keys.md"


def _type_name(annotation):
    """A reader's name of a type: "list of str", "dict of str to CertificateFiles"..."""
    annotation = unwrap(annotation)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (tuple, list):
        return f"list of {_type_name(args[0])}"
    if origin is dict:
        return f"dict of {_type_name(args[0])} to {_type_name(args[1])}"
    if origin is typing.Literal:
        return " or ".join(json.dumps(arg) for arg in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join("None" if arg is type(None) else _type_name(arg) for arg in args)
    if annotation is typing.Any:
        return "see the documentation"
    return getattr(annotation, "__name__", str(annotation))


def _bounds(metadata, annotation):
    """ "at least 1, at most 825" from the Field(ge=..., le=...) constraints of a type."""
    found = list(metadata)
    while typing.get_origin(annotation) is typing.Annotated:
        found += typing.get_args(annotation)[1:]
        annotation = typing.get_args(annotation)[0]
    words = {"ge": "at least", "le": "at most", "min_length": "at least {} items", "max_length": "at most {} items"}
    parts = []
    for item in found:
        for attribute, word in words.items():
            value = getattr(item, attribute, None)
            if value is not None:
                parts.append(word.format(value) if "{}" in word else f"{word} {value}")
    return ", ".join(parts)


def _default(field):
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json")
    return json.dumps(value, default=str)


def _doc(field):
    doc = field.description or getattr(unwrap(field.annotation), "__doc__", None) or ""
    return " ".join(doc.split())


def declarations():
    """(data key, type, bounds, default, documentation) of every key, in the schema's order."""
    fields = []
    for name, field in Config.model_fields.items():
        if name in SECTIONS:
            fields += [(f"{name}_{sub}", subfield) for sub, subfield in field.annotation.model_fields.items()]
        else:
            fields.append((f"xmpp_{name}", field))
    return [(key, _type_name(field.annotation), _bounds(field.metadata, field.annotation), _default(field), _doc(field))
            for key, field in fields]


def markdown():
    lines = ["# Data keys", "",
             "Every key of group_data/, as eldwyn/schema/data.py declares it (made by"
             " `python -m eldwyn.schema.reference`; do not edit). group_data/all.py sets Eldwyn's values;"
             " a key it does not set has the default below.", ""]
    for key, kind, bounds, default, doc in declarations():
        lines += [f"## `{key}`", "", doc, "", f"- type: {kind}" + (f" ({bounds})" if bounds else ""),
                  f"- default: `{default}`", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    OUTPUT.write_text(markdown())
    sys.stdout.write(f"wrote {OUTPUT}\n")

"""The model every part of the schema derives from, and the turning of pydantic's errors into
one line per problem that names the key, the bad value and what is expected."""

import difflib
import types
import typing

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError


def suggestion(word, candidates):
    """' (did you mean 'x'?)' for the candidate closest to ``word``, or ''."""
    close = difflib.get_close_matches(str(word), [str(each) for each in candidates], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def fail(message, loc=()):
    """A problem raised from a validator, at ``loc`` relative to the value being validated."""
    if not loc:
        raise PydanticCustomError("invalid", message.replace("{", "{{").replace("}", "}}"))
    raise_problems([(loc, message)], None)


def raise_problems(problems, value):
    """Raise several problems at once from one validator: [(loc relative to it, message)]."""
    raise ValidationError.from_exception_data("problems", [
        InitErrorDetails(type=PydanticCustomError("invalid", message.replace("{", "{{").replace("}", "}}")),
                         loc=tuple(loc), input=value)
        for loc, message in problems
    ])


class Model(BaseModel):
    """Frozen, and strict about keys: an unknown key is refused, naming the nearest known one."""

    # validate_default: a default goes through the same checks as a value from the data (a
    # directory's ~ is expanded, for one).
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True,
                              arbitrary_types_allowed=True, validate_default=True)

    @model_validator(mode="wrap")
    @classmethod
    def _name_unknown_keys(cls, value, handler):
        try:
            return handler(value)
        except ValidationError as error:
            errors = error.errors()
            if not any(each["type"] == "extra_forbidden" and len(each["loc"]) == 1 for each in errors):
                raise
            known = [name for name in cls.model_fields]
            raise ValidationError.from_exception_data(error.title, [
                InitErrorDetails(
                    type=PydanticCustomError(
                        "unknown_key" if unknown else each["type"],
                        ("unknown key" + (suggestion(each["loc"][0], known)
                                          or ("; expected one of: " + ", ".join(known) if known
                                              else "; none is accepted here")))
                        if unknown else each["msg"].replace("{", "{{").replace("}", "}}")),
                    loc=each["loc"], input=each["input"])
                for each in errors
                for unknown in [each["type"] == "extra_forbidden" and len(each["loc"]) == 1]
            ]) from None


def unwrap(annotation):
    """The type inside Annotated[...] and X | None."""
    while True:
        if typing.get_origin(annotation) is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
            continue
        args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1:
            annotation = args[0]
            continue
        return annotation


def _is_model(annotation):
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _item_name(item, annotation):
    """What identifies a list item to a reader, by its declared type: a string item itself, a
    model's "name" (a component) or "jid" (a roster member); None for anything else."""
    if annotation is str and isinstance(item, str) and item:
        return item
    if _is_model(annotation) and isinstance(item, dict):
        for field in ("jid", "name"):
            if field in annotation.model_fields and isinstance(item.get(field), str) and item[field]:
                return item[field]
    return None


def location(loc, data, model, key_of):
    """The path of pydantic's ``loc`` (in ``model``) as the data's author wrote it: dotted
    fields, dict keys in brackets, list items named by what identifies them
    (``xmpp_components['muc.example.org'].options``), by their index otherwise.
    ``key_of(loc)`` gives the top-level key and how many parts of ``loc`` it stands for."""
    key, used = key_of(loc)
    path, value, annotation = key, data.get(key) if isinstance(data, dict) else None, model
    for index, part in enumerate(loc):
        annotation = unwrap(annotation)
        if part == "[key]":  # pydantic's marker of a bad dict key: the key itself is named already
            continue
        if _is_model(annotation) and isinstance(part, str):
            annotation = annotation.model_fields[part].annotation if part in annotation.model_fields else None
            if index >= used:
                path = f"{path}.{part}"
        elif typing.get_origin(annotation) is dict and isinstance(part, str):
            annotation = typing.get_args(annotation)[1]
            if index >= used:  # names chosen by the author in brackets; options (Any) as fields
                path = f"{path}.{part}" if annotation is typing.Any and part.isidentifier() else f"{path}[{part!r}]"
        elif typing.get_origin(annotation) in (tuple, list) and isinstance(part, int):
            annotation = unwrap(typing.get_args(annotation)[0])
            items = value if isinstance(value, (list, tuple)) else ()
            name = _item_name(items[part], annotation) if 0 <= part < len(items) else None
            unique = name is not None and sum(_item_name(each, annotation) == name for each in items) == 1
            path = f"{path}[{name!r}]" if unique else f"{path}[{part}]"
        else:  # not in the schema (an unknown key): keep pydantic's own part
            annotation = None
            if index >= used:
                path = f"{path}.{part}" if isinstance(part, str) and part.isidentifier() else f"{path}[{part!r}]"
        if index >= used:
            value = value[part] if isinstance(value, dict) and part in value else (
                value[part] if isinstance(value, (list, tuple)) and isinstance(part, int) and 0 <= part < len(value)
                else None)
    return path


_EXPECTED = {  # pydantic's wording for type errors, as the data's author would say it
    "int_type": "an integer", "int_parsing": "an integer", "bool_type": "true or false (a bool)",
    "bool_parsing": "true or false (a bool)", "string_type": "a string", "list_type": "a list",
    "tuple_type": "a list", "dict_type": "a dict", "model_type": "a dict",
    "model_attributes_type": "a dict", "float_type": "a number",
}


def message(error):
    """One error of pydantic's as a sentence: what is wrong, with the bad value."""
    kind, value = error["type"], error.get("input")
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {type(value).__name__} {value!r}"
    if kind == "missing":
        return "missing"
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        return f"{value!r} is out of range: {error['msg'].lower().replace('input should be ', 'expected ')}"
    if kind == "too_short":
        return f"needs at least {error['ctx']['min_length']}, got {len(value)}"
    if kind == "too_long":
        return f"{len(value)} items, but at most {error['ctx']['max_length']} are possible here"
    if kind == "literal_error":
        return f"{value!r}: {error['msg'].lower().replace('input should be ', 'expected ')}"
    text = error["msg"]
    return text[len("Value error, "):] if text.startswith("Value error, ") else text


def problems(error, data, model, key_of=lambda loc: (str(loc[0]), 1)):
    """Every problem of a ValidationError of ``model`` for ``data``, as (path, message)."""
    errors = error.errors()
    # A list whose only items were refused is also "too short": say only why its items were.
    errors = [each for each in errors if not (each["type"] == "too_short" and any(
        other["loc"][:len(each["loc"])] == each["loc"] and len(other["loc"]) > len(each["loc"]) for other in errors))]
    return [(location(each["loc"], data, model, key_of), message(each)) for each in errors]

"""Pydantic models read from YAML: numbers that refuse YAML's booleans, and validation errors turned
into located problems (``checks[2].params.top_k``)."""

from __future__ import annotations

import json
import re

from pydantic import BaseModel, ValidationError, field_validator

from auditor.errors import Problem

DIGITS = re.compile(r"\s*[0-9]{1,30}\s*")  # a whole number in quotes ("100"); longer: out of any range anyway


def whole_number(value) -> int | None:
    """``value`` as the whole number it is written as: an int, a float without a fractional part
    (YAML's 100.0), digits in quotes ("100"); None for anything else (2.5, "abc", "1e3" — YAML reads
    1e3 as text —, a boolean, a list)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and DIGITS.fullmatch(value):
        return int(value)
    return None


def _whole(annotation) -> bool:
    """Whether a field takes a whole number alone: ``int`` or ``int | None`` (a count, a seed)."""
    import types
    import typing

    if annotation is int:
        return True
    return (typing.get_origin(annotation) in (typing.Union, types.UnionType)
            and set(typing.get_args(annotation)) == {int, type(None)})


def _example(field) -> int:
    """A whole number to give as an example for ``field``: its default, else the least it takes, else 1."""
    import annotated_types

    if isinstance(field.default, int) and not isinstance(field.default, bool):
        return field.default
    for m in field.metadata:
        if isinstance(m, annotated_types.Ge):
            return int(m.ge)
        if isinstance(m, annotated_types.Gt):
            return int(m.gt) + 1
    return 1


def _reads_itself(field) -> bool:
    """Whether ``field`` has a validator of its own that reads the raw value (``whole_days``): its own
    words stand."""
    from pydantic.functional_validators import BeforeValidator, PlainValidator, WrapValidator

    return any(isinstance(m, (BeforeValidator, PlainValidator, WrapValidator)) for m in field.metadata)


DIGITS_ALONE = "write the digits alone: no exponent, sign, decimals or unit"  # said where text was no whole number


def not_whole_words(value, example: int) -> str:
    """'"abc" is not a whole number (give e.g. 100; write the digits alone: ...)': what to write, said
    where text was given; '2.5 is not a whole number (give e.g. 100)'."""
    shown = json.dumps(value, ensure_ascii=False) if isinstance(value, str) else repr(value)
    return f"{shown} is not a whole number (give e.g. {example}{'; ' + DIGITS_ALONE if isinstance(value, str) else ''})"


def _takes_text(annotation) -> bool:
    import types
    import typing

    return annotation is str or (typing.get_origin(annotation) in (typing.Union, types.UnionType)
                                  and str in typing.get_args(annotation))


def _numeric(annotation) -> bool:
    """Whether a field takes an int or a float (and not also a bool)."""
    import types
    import typing

    if annotation in (int, float):
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        return bool not in args and any(_numeric(a) for a in args)
    return False


class NumbersNotBooleans(BaseModel):
    """A base for models read from YAML: ``true``/``yes`` where a number belongs is refused, not
    read as 1 (pydantic's lax mode would turn ``min: true`` into a bound of 1.0); and where a whole
    number belongs (a count, a seed), anything else is refused in words, the field's default given as
    an example (pydantic's "Input should be a valid integer, unable to parse string as an integer" had
    named no value). A field with a reader of its own (``whole_days``) says its own words."""

    @field_validator("*", mode="before")
    @classmethod
    def _no_boolean_numbers(cls, value, info):
        field = cls.model_fields.get(info.field_name)
        if isinstance(value, bool) and field is not None and _numeric(field.annotation):
            if _takes_text(field.annotation):  # a class name: `positive_class: yes` would become 1
                raise ValueError(f"{str(value).lower()}: YAML reads yes/no/on/off/true/false as a boolean; write the "
                                 "value in quotes, spelt as the data's labels spell it (\"True\", \"yes\")")
            raise ValueError(f"{str(value).lower()} where a number belongs (YAML reads yes/no/on/off as true/false)")
        if (value is not None and field is not None and _whole(field.annotation) and not _reads_itself(field)
                and whole_number(value) is None):
            raise ValueError(not_whole_words(value, _example(field)))
        return value


ISO_DAY = r"^\d{4}-\d{2}-\d{2}$"  # a date as the messages ask; date.fromisoformat also reads 20270102 and 2027-W01-1


def pydantic_problems(exc: ValidationError, prefix: str = "", *, from_yaml: bool = True) -> list[Problem]:
    """Turn a pydantic ValidationError into located problems (``checks[2].params.top_k``);
    ``from_yaml``: the input was YAML, so a number where text belongs gets YAML's quoting hint."""
    problems = []
    for err in exc.errors():
        loc, parts = prefix, list(err["loc"])
        for i, part in enumerate(parts):
            if part == "[key]":  # pydantic's mark of a mapping's key: named after the key itself, below
                continue
            if parts[i + 1:i + 2] == ["[key]"]:  # the key as written (True reads 1 here, like a list index)
                key = err.get("input", part)
                loc += ("." if loc else "") + f"{str(key).lower() if isinstance(key, bool) else key} (a key)"
            elif isinstance(part, int):
                loc += f"[{part}]"
            else:
                loc += f".{part}" if loc else str(part)
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif err["type"] == "missing":
            msg = "required key is missing"
        elif from_yaml and err["type"] == "string_type" and isinstance(err.get("input"), (int, float)) and not isinstance(err.get("input"), bool):
            msg += f" (YAML read {err['input']!r} as a number: write it in quotes)"
        elif from_yaml and err["type"] == "string_type" and isinstance(err.get("input"), bool):
            msg += f" (YAML read {str(err['input']).lower()} as a boolean: write it in quotes)"
        problems.append(Problem(loc, msg))
    return problems

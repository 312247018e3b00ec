"""Pydantic models read from YAML: numbers that refuse YAML's booleans, and validation errors turned
into located problems (``checks[2].params.top_k``)."""

from __future__ import annotations

from pydantic import BaseModel, ValidationError, field_validator

from auditor.errors import Problem


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
    read as 1 (pydantic's lax mode would turn ``min: true`` into a bound of 1.0)."""

    @field_validator("*", mode="before")
    @classmethod
    def _no_boolean_numbers(cls, value, info):
        field = cls.model_fields.get(info.field_name)
        if isinstance(value, bool) and field is not None and _numeric(field.annotation):
            if _takes_text(field.annotation):  # a class name: `positive_class: yes` would become 1
                raise ValueError(f"{str(value).lower()}: YAML reads yes/no/on/off/true/false as a boolean; write the "
                                 "value in quotes, spelt as the data's labels spell it (\"True\", \"yes\")")
            raise ValueError(f"{str(value).lower()} where a number belongs (YAML reads yes/no/on/off as true/false)")
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

"""What every configuration model shares: camelCase keys, unknown keys refused, frozen; and how
a check that spans several fields reports each problem at its own key, with a hint."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel
from pydantic_core import InitErrorDetails, PydanticCustomError

PositiveSeconds = Annotated[float, Field(gt=0)]
NonNegativeSeconds = Annotated[float, Field(ge=0)]

# Locations in Python field names (as pydantic's own); the loader shows them in camelCase.
Loc = tuple[str | int, ...]

# pydantic error types of the problems below; ``ctx`` carries the message and the hint.
PROBLEM = "config_problem"
# A problem found by the checks across sections (config/across.py), which run only once every
# section is valid: the loader runs them on what did validate when they did not run.
ACROSS = "config_across"


class Model(BaseModel):
    """Base for every configuration model: camelCase keys, unknown keys refused, frozen.

    Each field's attribute docstring is its description: the one line of meaning that
    ``docs/configuration.md`` (config/reference.py) shows for the key.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        str_strip_whitespace=True,
        use_attribute_docstrings=True,
    )


# Source and dataset names: they go into topics, file names and log lines.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


def problem(
    loc: Loc, message: str, hint: str = "", value: Any = None, *, kind: str = PROBLEM
) -> InitErrorDetails:
    """One problem at ``loc`` (relative to the model that finds it), with a hint for the fix.

    A message about a key that is not in the document says "missing", so it reads right.
    """
    return InitErrorDetails(
        type=PydanticCustomError(kind, "{message}", {"message": message, "hint": hint}),
        loc=loc,
        input=value,
    )


def report(model: type[BaseModel], problems: list[InitErrorDetails]) -> None:
    """Raise every problem at its own key, if there is any.

    Raised inside a validator, a ValidationError keeps its line errors and their locations,
    each prefixed with where the model sits (pydantic-core #510); a ValueError would be
    reported once, at the model's own key.
    """
    if problems:
        raise ValidationError.from_exception_data(model.__name__, problems)

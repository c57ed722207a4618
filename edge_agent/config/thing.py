"""The thing name: given in the configuration, or the one Greengrass gives the component."""

from __future__ import annotations

import os
import re
from typing import Annotated

from pydantic import AfterValidator

THING_NAME_VARIABLE = "AWS_IOT_THING_NAME"


def thing_name_from_environment() -> str:
    """The thing name the nucleus sets for its components ('' when there is none)."""
    return os.environ.get(THING_NAME_VARIABLE, "")


def _valid_thing_name(value: str) -> str:
    if not value:
        raise ValueError(
            f"missing: set thingName, or the environment variable {THING_NAME_VARIABLE}"
        )
    if not re.fullmatch(r"[A-Za-z0-9:_-]{1,128}", value):
        raise ValueError(
            "an AWS IoT thing name has 1-128 characters among letters, digits, ':', '_' and '-'"
        )
    return value


ThingName = Annotated[str, AfterValidator(_valid_thing_name)]

"""The base of every scenario model: frozen, and strict about keys.

Unknown keys are errors with a suggestion, because a typo silently ignored (`speed_mph: 30`)
would produce a wrong episode that looks right.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic_core import PydanticCustomError


def suggest(word: str, choices: list[str] | tuple[str, ...]) -> str:
    """`did you mean 'x'?` for the closest choice, or the list of choices when none is close."""
    if not choices:
        return "none are defined"
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if close:
        return f"did you mean '{close[0]}'?"
    return "expected one of: " + ", ".join(sorted(choices))


def shorthand_schema(shorthand: dict[str, Any]) -> Callable[..., None]:
    """A `json_schema_extra` that also accepts a shorthand the validators take (`behavior: stop`,
    `weather: ClearNoon`, `seeds: 50`), so that editors do not flag valid files."""

    def extra(schema: dict[str, Any], *_: Any) -> None:
        full = {key: schema.pop(key) for key in list(schema) if key not in ("title", "description", "default")}
        schema["anyOf"] = [shorthand, full]

    return extra


class Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True, populate_by_name=True)

    @classmethod
    def known_keys(cls) -> list[str]:
        return [field.alias or name for name, field in cls.model_fields.items()]

    @model_validator(mode="before")
    @classmethod
    def _refuse_unknown_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            known = cls.known_keys()
            for key in data:
                if key not in known:
                    raise PydanticCustomError(
                        "unknown_key",
                        "unknown key '{key}' ({hint})",
                        {"key": key, "hint": suggest(str(key), known)},
                    )
        return data

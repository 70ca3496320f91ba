"""Tool results to the text a model reads: str as is, everything else as JSON."""

from __future__ import annotations

from typing import Any

import pydantic_core

__all__ = ["serialize_result"]


def serialize_result(value: Any) -> str:
    """``str`` unchanged; dict, list, numbers, pydantic models, dataclasses, dates as JSON.

    Raises ``pydantic_core.PydanticSerializationError`` (a ValueError) for values
    that have no JSON form; the runtime turns that into a structured error.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", errors="replace")
    return pydantic_core.to_json(value).decode("utf-8")

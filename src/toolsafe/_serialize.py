"""Tool results to the text a model reads: str as is, everything else as JSON.

The text is always valid UTF-8 and valid JSON where it is JSON:

- a lone surrogate (``os.fsdecode`` of a non-UTF-8 file name gives ``"\\udcff"``)
  cannot be written as UTF-8, and a transport writing it fails (an stdio MCP
  server dies, an HTTP reply is lost). It is sent as the six characters
  ``\\udcff`` (in JSON that is the standard escape and reads back as the same
  string), and a warning is logged once per result;
- NaN and Infinity are not JSON: floats that are not finite are sent as ``null``,
  as JavaScript's ``JSON.stringify`` does.
"""

from __future__ import annotations

import json
from typing import Any

import pydantic_core

from toolsafe._log import logger
from toolsafe._text import utf8_safe

__all__ = ["serialize_result"]


def serialize_result(value: Any) -> str:
    """``str`` unchanged; dict, list, numbers, pydantic models, dataclasses, dates as JSON.

    Raises ``pydantic_core.PydanticSerializationError`` (a ValueError) for values
    that have no JSON form; the runtime turns that into a structured error.
    """
    if isinstance(value, str):
        text = value
    elif isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", errors="replace")
    else:
        try:
            return pydantic_core.to_json(value, inf_nan_mode="null").decode("utf-8")
        except pydantic_core.PydanticSerializationError as exc:
            if "surrogates not allowed" not in str(exc):
                raise
            # pydantic-core cannot encode a lone surrogate: go through plain data
            data = pydantic_core.to_jsonable_python(value, inf_nan_mode="null")
            text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    safe, count = utf8_safe(text)
    if count:
        logger.warning(
            "a tool result held %d lone surrogate(s) (not valid UTF-8, e.g. from "
            "os.fsdecode); sent as \\uXXXX escapes",
            count,
        )
    return safe

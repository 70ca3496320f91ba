"""Broken: the args_schema says ``text``, the code takes ``query``.

CrewAI validates the model's arguments against ``args_schema`` and then calls
``_run(**arguments)``: every call crashes with ``TypeError: unexpected keyword
argument 'text'``, however well the model follows the schema.

    toolsafe doctor examples/broken/schema_mismatch.py
"""

from __future__ import annotations

from crewai.tools import BaseTool
from pydantic import BaseModel, Field


class TranslateInput(BaseModel):
    text: str = Field(..., description="The text to translate.")
    target: str = Field("fr", description="Target language code.")


class TranslateTool(BaseTool):
    name: str = "translate"
    description: str = "Translate text into another language."
    args_schema: type[BaseModel] = TranslateInput

    def _run(self, query: str, target: str = "fr") -> str:
        return f"[{target}] {query}"


translate = TranslateTool()

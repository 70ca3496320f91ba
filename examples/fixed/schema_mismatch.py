"""Fixed: the args_schema and ``_run`` agree on every name and default.

    toolsafe doctor examples/fixed/schema_mismatch.py
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

    def _run(self, text: str, target: str = "fr") -> str:
        return f"[{target}] {text}"


translate = TranslateTool()

"""toolsafe doctor: find, with evidence, why tools fail at scale, and how to fix them.

Three layers, each usable on its own:

- ``lint``: static checks on source (nothing imported or run);
- ``stress``: each tool run serially, then concurrently, and the runs compared;
- ``diagnose``: both, and a verdict per tool (``broken``, ``at-risk``,
  ``unchecked``, ``healthy``); ``diagnose_mcp`` for an MCP server's tools, whose
  static checks read their JSON Schema (``lint_definition``).

Rendering (terminal, JSON, HTML) lives in ``toolsafe.doctor.report``; the CLI
(``toolsafe lint | stress | doctor``) is a thin shell over these functions.
"""

from toolsafe.doctor.arguments import generate_arguments, load_calls_file
from toolsafe.doctor.discover import Discovery, LiveTool, TargetNotFound, ToolSite, discover
from toolsafe.doctor.lint import RULES, Finding, Rule, lint, lint_source
from toolsafe.doctor.mcp import diagnose_mcp
from toolsafe.doctor.rules.json_schema import lint_definition, lint_definitions
from toolsafe.doctor.stress import (
    STRESS_CHECKS,
    PhaseResult,
    StressOptions,
    StressProblem,
    StressResult,
    stress_tool,
)
from toolsafe.doctor.verdict import VERDICTS, DoctorReport, ToolDiagnosis, diagnose

__all__ = [
    "RULES",
    "STRESS_CHECKS",
    "VERDICTS",
    "Discovery",
    "DoctorReport",
    "Finding",
    "LiveTool",
    "PhaseResult",
    "Rule",
    "StressOptions",
    "StressProblem",
    "StressResult",
    "TargetNotFound",
    "ToolDiagnosis",
    "ToolSite",
    "diagnose",
    "diagnose_mcp",
    "discover",
    "generate_arguments",
    "lint",
    "lint_definition",
    "lint_definitions",
    "lint_source",
    "load_calls_file",
    "stress_tool",
]

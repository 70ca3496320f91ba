"""Policies: composable, ordered steps of the call pipeline (first added = outermost)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from toolsafe.policies._base import Handler, Policy, Result

if TYPE_CHECKING:
    from toolsafe._runtime import Runtime
    from toolsafe._tool import Tool

__all__ = ["Handler", "Policy", "Result", "build_policies"]


def build_policies(tool: Tool, runtime: Runtime) -> tuple[list[Policy], list[Policy]]:
    """The call-level and attempt-level policies for ``tool``, outermost first.

    Order (DESIGN.md): cache, breaker, rate limit, retry | per attempt: concurrency slot.
    Timeouts and the backend form the innermost step, owned by the runtime.
    """
    return [], []

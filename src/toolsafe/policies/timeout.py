"""The attempt timeout: how long one attempt of a tool body may run.

``timeout=`` seconds per attempt (the tool's, else the runtime's, else
``DEFAULT_TIMEOUT``); 0 or ``inf`` means no limit. The call's ``deadline=``, when
set, shortens the last attempts: an attempt never runs past it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from toolsafe._tool import ToolOptions

__all__ = ["DEFAULT_TIMEOUT", "attempt_timeout"]

#: Seconds one attempt may run when neither the tool nor the runtime says.
DEFAULT_TIMEOUT = 30.0


def attempt_timeout(options: ToolOptions) -> float | None:
    """Seconds one attempt may run (``options`` resolved); None: no limit."""
    value = options.timeout
    seconds = DEFAULT_TIMEOUT if value is None else float(value)
    return None if seconds <= 0 or math.isinf(seconds) else seconds

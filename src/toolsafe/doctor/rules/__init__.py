"""The lint rules, one module per family, run in the order of ``FAMILIES``.

Adding a rule: give it an id and its why/fix in ``catalogue.RULES``, then report it
from a family's ``check(ctx, site, scope)`` with ``ctx.add(rule_id, node, site,
message)`` (a new family is a module with a ``check`` function, listed here). A
finding's line is where the user would fix it; messages name the code they quote.
"""

from __future__ import annotations

from toolsafe.doctor.rules import (
    effects,
    exceptions,
    network,
    outputs,
    resources,
    schema,
    state,
)
from toolsafe.doctor.rules.catalogue import RULES, Finding, Rule
from toolsafe.doctor.rules.context import LintContext, Scope

__all__ = ["FAMILIES", "RULES", "Finding", "LintContext", "Rule", "Scope"]

#: Every rule family's check, in the order they run.
FAMILIES = (
    state.check,
    resources.check,
    network.check,
    exceptions.check,
    outputs.check,
    schema.check,
    effects.check,
)

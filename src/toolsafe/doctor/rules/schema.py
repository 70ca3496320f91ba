"""TS201-TS203: ``args_schema`` and the run method disagree, so calls crash or fail validation."""

from __future__ import annotations

import ast
import difflib

from toolsafe.doctor.index import Definition, SourceIndex
from toolsafe.doctor.rules._ast import has_default, is_optional
from toolsafe.doctor.rules.context import LintContext, Scope
from toolsafe.doctor.sites import ToolSite, class_attr
from toolsafe.doctor.sources import ModuleSource

__all__ = ["check"]

#: field name -> (node, Optional type, has a default, the module it is written in)
Fields = dict[str, tuple[ast.AST, bool, bool, ModuleSource]]


def check(ctx: LintContext, site: ToolSite, scope: Scope) -> None:
    if isinstance(site.node, ast.ClassDef):
        run = scope.methods.get("_run") or scope.methods.get("_arun")
        if run is None:
            return
        params_fn, mod = run.fn, run.mod
    else:
        params_fn, mod = site.node, ctx.mod
    args = [*params_fn.args.posonlyargs, *params_fn.args.args]
    if args and args[0].arg in {"self", "cls"} and isinstance(site.node, ast.ClassDef):
        args = args[1:]
    defaults: list[ast.expr | None] = [None] * (len(args) - len(params_fn.args.defaults)) + list(
        params_fn.args.defaults
    )
    params: dict[str, tuple[ast.arg, bool]] = {
        a.arg: (a, d is not None) for a, d in zip(args, defaults, strict=True)
    }
    for a, d in zip(params_fn.args.kwonlyargs, params_fn.args.kw_defaults, strict=True):
        params[a.arg] = (a, d is not None)
    for name, (arg, param_has_default) in params.items():
        if is_optional(arg.annotation) and not param_has_default and not site.args_schema:
            ctx.add(
                "TS203",
                arg,
                site,
                f"parameter `{name}` of `{params_fn.name}` is Optional but has no default",
                mod=mod,
            )
    schema = _schema_class(ctx, site, scope)
    if schema is None:
        return
    schema_cls = schema.node
    assert isinstance(schema_cls, ast.ClassDef)
    fields = schema_fields(ctx.index, schema)
    takes_kwargs = params_fn.args.kwarg is not None
    for name, (node, optional_type, field_has_default, field_mod) in fields.items():
        if optional_type and not field_has_default:
            ctx.add(
                "TS203",
                node,
                site,
                f"`{schema_cls.name}.{name}` is Optional but has no default, so it is required",
                mod=field_mod,
            )
        if name not in params:
            if takes_kwargs:
                continue
            spare = [p for p in params if p not in fields] or list(params)
            hint = difflib.get_close_matches(name, spare, n=1, cutoff=0.0)
            takes = f" (it takes {', '.join(f'`{p}`' for p in params)})" if params else ""
            ctx.add(
                "TS201",
                node,
                site,
                f"args_schema field `{name}` has no parameter in `{params_fn.name}`{takes}"
                + (f": did you mean `{hint[0]}`?" if hint else ""),
                mod=field_mod,
            )
            continue
        _, param_default = params[name]
        if field_has_default and not param_default:
            ctx.add(
                "TS202",
                node,
                site,
                f"`{name}` is optional in `{schema_cls.name}` but required by "
                f"`{params_fn.name}`: a call without it crashes",
                "error",
                mod=field_mod,
            )
        elif not field_has_default and param_default:
            ctx.add(
                "TS202",
                node,
                site,
                f"`{name}` is required in `{schema_cls.name}` but has a default in "
                f"`{params_fn.name}` (harmless: the schema is stricter than the code)",
                "info",
                mod=field_mod,
            )
    for name, (arg, param_has_default) in params.items():
        if name not in fields and not param_has_default:
            spare = [f for f in fields if f not in params] or list(fields)
            hint = difflib.get_close_matches(name, spare, n=1, cutoff=0.0)
            ctx.add(
                "TS201",
                arg,
                site,
                f"`{params_fn.name}` requires `{name}` but `{schema_cls.name}` has no such "
                "field" + (f" (it has `{hint[0]}`)" if hint else ""),
                mod=mod,
            )


def _schema_class(ctx: LintContext, site: ToolSite, scope: Scope) -> Definition | None:
    """The args_schema model of the tool (set on the class, a base, or the decorator)."""
    for cls in scope.classes:
        assert isinstance(cls.node, ast.ClassDef)
        value = class_attr(cls.node, "args_schema")
        if value is not None:
            return ctx.index.class_of(cls.mod, value)
    if site.args_schema:
        return ctx.index.class_of(ctx.mod, ast.Name(site.args_schema))
    return None


def schema_fields(index: SourceIndex, cls: Definition) -> Fields:
    """A pydantic model's fields, its bases' first (wherever they are defined)."""
    assert isinstance(cls.node, ast.ClassDef)
    fields: Fields = {}
    for base in index.bases(cls):
        if base.mod.name.split(".")[0] != "pydantic":
            fields.update(schema_fields(index, base))
    for stmt in cls.node.body:
        if not isinstance(stmt, ast.AnnAssign) or not isinstance(stmt.target, ast.Name):
            continue
        name = stmt.target.id
        if name.startswith("_") or name == "model_config":
            continue
        if "ClassVar" in ast.unparse(stmt.annotation):
            continue
        fields[name] = (stmt, is_optional(stmt.annotation), has_default(stmt.value), cls.mod)
    return fields

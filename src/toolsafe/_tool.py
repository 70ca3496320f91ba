"""Tools: ``@tool`` on functions, class-based tools, foreign schemas, per-call instances.

The argument model, the exported schemas and every contract check are computed
once, at definition. A class-based tool (an object with a run method and,
optionally, an ``args_schema``) gets its own copy per call by default so that
nothing written on ``self`` leaks between concurrent calls; ``_isolation.py``
decides what that copy copies and ``Tool.isolation_report`` says what it decided.
"""

from __future__ import annotations

import copy
import functools
import inspect
import json
import re
import threading
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal, TypeVar, cast, overload

from pydantic import BaseModel, ConfigDict, ValidationError

from toolsafe._arguments import arguments_clean, parse_arguments
from toolsafe._call import CallContext
from toolsafe._isolation import IsolationReport, Plan, plan_isolation, state_dict
from toolsafe._isolation import isolate as isolate  # the process backend copies per call too
from toolsafe._schema import (
    SignatureModel,
    clean_schema,
    export_name,
    model_from_signature,
    parse_docstring,
    signature_for_schema,
    strict_schema,
)
from toolsafe._schema import contract_problems as contract_problems  # used by integrations
from toolsafe._validation import (
    LISTED_UP_TO,
    PRUNE_ABOVE,
    compile_null_plan,
    integral_floats,
    invalid_arguments,
    prune_unknown,
)
from toolsafe.errors import ConfigurationError, InvalidArguments

__all__ = ["Isolation", "Tool", "ToolOptions", "tool"]

F = TypeVar("F", bound=Callable[..., Any])

Isolation = Literal["copy", "shared"]
Contract = Literal["enforce", "warn"]

#: JSON argument texts up to this size are read by the fast validator's path; longer
#: ones (rare, and costly to parse twice if they fail) go the slow way at once.
FAST_JSON_CHARS = 65_536

_RUN_METHODS = ("_run", "run", "__call__")
_ASYNC_RUN_METHODS = ("_arun", "arun")


@dataclass(frozen=True)
class ToolOptions:
    """Per-tool policy options. ``None`` means "use the runtime's default"."""

    timeout: float | None = None
    deadline: float | None = None
    retry: Any = None
    #: True: repeating the body is harmless (retry any retryable error). ``"keyed"``: the
    #: upstream deduplicates by the idempotency key the body forwards
    #: (``ctx.idempotency_key``), so a keyed call may be retried even after it started.
    idempotent: bool | Literal["keyed"] | None = None
    #: Where a call's idempotency key comes from when the caller passes none: a function
    #: of the validated arguments (``lambda a: a["order_id"]``), or ``"call_id"`` (the
    #: framework's id of the call: OpenAI ``tool_call_id``, Anthropic ``tool_use`` id).
    idempotency_key: Callable[[dict[str, Any]], Any] | Literal["call_id"] | None = None
    #: Seconds an idempotency record is kept (default one day).
    idempotency_ttl: float | None = None
    #: ``reconcile(arguments, ctx)``: asks the upstream whether a call whose outcome is
    #: unknown took effect; returns its result, or None if it did not happen.
    reconcile: Callable[..., Any] | None = None
    breaker: Any = None
    concurrency: int | None = None
    #: At most this many calls over the runtime's life (policies/usage.py).
    max_calls: int | None = None
    rate: Any = None
    cache: Any = None
    upstream: str | None = None
    max_output_chars: int | None = None
    max_output_tokens: int | None = None
    summarizer: Callable[..., Any] | None = None
    #: The last sentence of a trim marker: how the model can ask for more.
    trim_hint: str | None = None
    #: Sync worker threads this tool (or its upstream) may hold at once.
    sync_share: int | None = None
    strict: bool = True
    repair: bool = False
    isolation: Isolation | Callable[[], Any] | None = None
    #: Attributes of a class-based tool that are documented thread-safe: kept, not copied.
    shared: tuple[str, ...] = ()
    #: ``"warn"``: an ``args_schema`` that disagrees with the run method is wrapped anyway,
    #: with a warning (third-party code you cannot edit); calls that hit it fail structured.
    contract: Contract = "enforce"
    extra: Mapping[str, Any] = field(default_factory=dict)

    def merged(self, **changes: Any) -> ToolOptions:
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise ConfigurationError([f"unknown tool option '{name}'" for name in sorted(unknown)])
        return replace(self, **changes)


_OPTION_NAMES = frozenset(f.name for f in fields(ToolOptions))


def _split_options(options: Mapping[str, Any]) -> ToolOptions:
    unknown = sorted(set(options) - _OPTION_NAMES)
    if unknown:
        raise ConfigurationError([f"unknown tool option '{name}'" for name in unknown])
    return ToolOptions(**options)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class Tool:
    """A callable the model may ask for: name, description, argument model, policies.

    Build one with ``@toolsafe.tool``, ``Tool.from_object(instance)`` or
    ``Tool.from_schema(definition, fn)``. Calling the Tool object directly runs
    the underlying function with no policies, as if it were not decorated.
    """

    def __init__(
        self,
        fn: Callable[..., Any] | None,
        *,
        name: str,
        description: str,
        model: type[BaseModel],
        json_schema: Mapping[str, Any] | None = None,
        options: ToolOptions | None = None,
        signature: SignatureModel | None = None,
        instance: Any = None,
        method_name: str | None = None,
        is_async: bool | None = None,
        dump_arguments: bool = False,
    ) -> None:
        self.fn = fn
        self.name = name
        self.description = description
        self.model = model
        self.options = options or ToolOptions()
        self.export_name = export_name(name)
        self._signature = signature
        self.instance = instance
        self.method_name = method_name
        self._dump_arguments = dump_arguments
        if is_async is None:
            is_async = fn is not None and inspect.iscoroutinefunction(fn)
        self.is_async = is_async
        base = json_schema if json_schema is not None else model.model_json_schema()
        self.json_schema: dict[str, Any] = clean_schema(base)
        self.strict_json_schema, self.strict_compatible = strict_schema(self.json_schema)
        self._field_names = tuple((info.alias or name) for name, info in model.model_fields.items())
        self._known_keys = frozenset(self._field_names) | frozenset(model.model_fields)
        self._null_plan = compile_null_plan(self.json_schema)
        self._forbid_extra = _extra_override(base)
        #: Unknown top-level keys are rejected (by the model or by the override).
        self._rejects_unknown = self._forbid_extra or base.get("additionalProperties") is False
        # Fast path: a function whose parameters are exactly the model's fields.
        self._plain_kwargs = instance is None and (
            signature is None
            or (
                not signature.positional
                and signature.context_param is None
                and all(k == v for k, v in signature.field_to_param.items())
            )
        )
        #: What this tool was made from (a function, an instance, a framework's tool):
        #: adapters use it to recognise a registration of the same thing.
        self.origin: Any = instance if instance is not None else fn
        self._plan: Plan | None = None
        self._isolation_lock = threading.Lock()
        self._mutation_reported: set[str] = set()
        #: What was found at definition and is worth knowing, but no reason to refuse.
        self.warnings: tuple[str, ...] = ()
        if instance is not None:
            self._check_isolation()
        self._warn_retry_not_idempotent()

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_function(
        cls,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        **options: Any,
    ) -> Tool:
        opts = _split_options(options)
        doc = parse_docstring(fn.__doc__)
        tool_name = name or getattr(fn, "__name__", None) or "tool"
        sig = model_from_signature(
            fn,
            model_name=_model_name(tool_name),
            param_docs=doc.params,
            strict=opts.strict,
        )
        desc = description if description is not None else doc.description
        return cls(
            fn,
            name=tool_name,
            description=desc,
            model=sig.model,
            options=opts,
            signature=sig,
        )

    @classmethod
    def from_object(
        cls,
        obj: Any,
        *,
        name: str | None = None,
        description: str | None = None,
        **options: Any,
    ) -> Tool:
        """Wrap a class-based tool: an object with ``_run``/``run``/``__call__``/``_arun``.

        ``args_schema`` (a pydantic model class), when present, must agree with the run
        method's parameters; every disagreement is reported in one ConfigurationError.
        """
        opts = _split_options(options)
        label = name or _attr_str(obj, "name") or _snake(type(obj).__name__)
        if _is_langchain_tool(obj):
            raise ConfigurationError(
                [
                    "this is a LangChain tool: wrap it with "
                    "toolsafe.integrations.langchain.from_langchain(tool), which uses the "
                    "schema LangChain shows the model and its invoke()"
                ],
                subject=label,
            )
        method_name, method = _find_run_method(obj)
        if method is None:
            raise ConfigurationError(
                [
                    "no run method found: define one of "
                    + ", ".join(_RUN_METHODS + _ASYNC_RUN_METHODS)
                ],
                subject=label,
            )
        doc = parse_docstring(method.__doc__)
        class_doc = parse_docstring(type(obj).__doc__)
        params_doc = {**class_doc.params, **doc.params}
        desc = (
            description
            if description is not None
            else (_attr_str(obj, "description") or class_doc.description or doc.description)
        )
        schema_cls = getattr(obj, "args_schema", None)
        found: list[str] = []
        if isinstance(schema_cls, type) and issubclass(schema_cls, BaseModel):
            # the schema defines the arguments; the run method must agree with it
            model: type[BaseModel] = _strict_subclass(schema_cls, strict=opts.strict)
            sig = signature_for_schema(
                method, model, subject=label, warnings=found, enforce=check_contract(opts)
            )
        else:
            sig = model_from_signature(
                method,
                model_name=_model_name(label),
                param_docs=params_doc,
                strict=opts.strict,
            )
            model = sig.model
        made = cls(
            None,
            name=label,
            description=desc,
            model=model,
            options=opts,
            signature=sig,
            instance=obj,
            method_name=method_name,
            is_async=inspect.iscoroutinefunction(method),
        )
        made.warn(found)
        return made

    @classmethod
    def from_schema(
        cls,
        definition: Mapping[str, Any],
        fn: Callable[..., Any] | None = None,
        **options: Any,
    ) -> Tool:
        """Build a tool (or a validator only, when ``fn`` is None) from a foreign definition.

        Accepts OpenAI (``{"type": "function", "function": {...}}`` or the bare
        function object), Anthropic (``input_schema``), MCP (``inputSchema``) and
        BFCL (``"type": "dict"`` and friends) definitions.
        """
        from toolsafe._foreign import model_from_json_schema, normalize_schema, parse_definition

        opts = _split_options(options)
        name, description, parameters = parse_definition(definition)
        schema = normalize_schema(parameters)
        model = model_from_json_schema(schema, name=_model_name(name), strict=opts.strict)
        return cls(
            fn,
            name=name,
            description=description,
            model=model,
            json_schema=schema,
            options=opts,
            dump_arguments=True,
        )

    def with_options(self, **options: Any) -> Tool:
        """A copy of this tool with some options changed (the original is untouched)."""
        clone = copy.copy(self)
        clone.options = self.options.merged(**options)
        if clone.instance is not None and {"isolation", "shared"} & set(options):
            clone._mutation_reported = set()
            clone._isolation_lock = threading.Lock()
            clone._check_isolation()
        if "retry" in options or "idempotent" in options:
            clone._warn_retry_not_idempotent()
        return clone

    def _warn_retry_not_idempotent(self) -> None:
        """``retry=`` on a tool not declared idempotent retries only calls whose body
        certainly did not run: users write ``retry=3`` and expect more, so say it once."""
        opts = self.options
        if opts.retry in (None, False, 0, 1) or opts.idempotent is not None:
            return
        self.warn(
            [
                "retry= is set but the tool is not declared idempotent, so a call is retried "
                "only when its body certainly did not run (a rejection, or a timeout before it "
                "started). Set idempotent=True if running it twice is harmless, "
                "idempotent='keyed' if its upstream deduplicates by an idempotency key, or "
                "idempotent=False to keep this behaviour without the warning."
            ]
        )

    def warn(self, messages: list[str] | tuple[str, ...]) -> None:
        """Record definition-time findings on ``warnings`` and emit each as a UserWarning."""
        new = [m for m in messages if m not in self.warnings]
        self.warnings = (*self.warnings, *new)
        for message in new:
            warnings.warn(
                f"toolsafe: tool {self.name!r}: {message}", UserWarning, stacklevel=_caller_level()
            )

    # ------------------------------------------------------------------ validation

    def validate(
        self,
        arguments: Any,
        *,
        strict: bool | None = None,
        repair: bool | None = None,
    ) -> dict[str, Any]:
        """Parse and validate ``arguments`` (a dict or JSON text); return them parsed.

        Raises ``InvalidArguments`` whose ``.details`` lists every problem. Strict by
        default: unknown keys are rejected and ``"3"`` is not an integer.
        """
        return self.validate_with_repairs(arguments, strict=strict, repair=repair)[0]

    def fast_or_error(
        self, arguments: Any
    ) -> dict[str, Any] | tuple[ValidationError, dict[str, Any]] | None:
        """The validated arguments by the hot path (a dict from an adapter, nothing to
        rewrite: one call into pydantic-core); when they fail it, pydantic's error and
        the dict it validated (hand them to ``validate_after_fast`` rather than
        validating again); None when that path does not apply (values to check first,
        what it cannot read as an object: ``validate_with_repairs`` then says why).

        JSON text (what OpenAI-style tool calls and MCP clients send) is read here with
        the same ``json.loads`` the slow path uses; whatever that cannot read as an
        object (malformed, double-encoded, too deep, a huge integer) goes the slow
        way, which parses again and says why. Texts over FAST_JSON_CHARS go there at
        once, so no big text is parsed twice."""
        if type(arguments) is str and len(arguments) <= FAST_JSON_CHARS:
            try:
                arguments = json.loads(arguments)
            except Exception:  # JSONDecodeError, ValueError (digits), RecursionError
                return None
        if (
            type(arguments) is not dict
            or self._dump_arguments
            or not arguments_clean(arguments, self.options.strict)
        ):
            return None
        if self._null_plan is not None:  # a tool with optional parameters
            arguments = self._null_plan.apply(arguments)
        try:
            fast = self.model.__pydantic_validator__.validate_python(
                arguments,
                strict=self.options.strict,
                extra="forbid" if self._forbid_extra else None,
            )
        except ValidationError as error:
            # Without its traceback: its frames lead back (f_back) to the caller's,
            # which holds the error, a cycle only the garbage collector would free.
            return error.with_traceback(None), arguments
        return dict(fast.__dict__)

    def validate_after_fast(
        self, data: dict[str, Any], error: ValidationError
    ) -> tuple[dict[str, Any], list[str]]:
        """What ``validate_with_repairs`` answers for arguments whose hot-path validation
        (``fast_or_error``) failed with ``error`` on ``data``: that validation is not run
        again. Raises InvalidArguments, or returns what the slower checks accept after all
        (JSON-mode strictness, an integral float, a repair)."""
        # ``data`` is what the slow path validates too: the same json.loads of a text,
        # the same check that it is clean, the same nulls dropped.
        return self._checked(data, [], self.options.strict, self.options.repair, error)

    def validate_with_repairs(
        self,
        arguments: Any,
        *,
        strict: bool | None = None,
        repair: bool | None = None,
    ) -> tuple[dict[str, Any], list[str]]:
        """Like ``validate``, and also the list of repairs made (repair mode only).

        Strict mode (the default) is pydantic's: no type coercion. Unknown keys are
        rejected in lax mode too, at every level: silently dropping them hides a
        model's mistake. An explicit null for an optional field (what a model
        obeying the strict OpenAI export sends) means "not given", at any depth.
        """
        if strict is None and repair is None:
            fast = self.fast_or_error(arguments)
            if isinstance(fast, dict):
                return fast, []
            if fast is not None:
                return self.validate_after_fast(fast[1], fast[0])
        use_repair = self.options.repair if repair is None else repair
        use_strict = self.options.strict if strict is None else strict
        data, repairs = parse_arguments(
            arguments, tool=self.name, repair=use_repair, strict=use_strict
        )
        if self._null_plan is not None:
            data = self._null_plan.apply(data)
        return self._checked(data, repairs, use_strict, use_repair)

    def _checked(
        self,
        data: dict[str, Any],
        repairs: list[str],
        use_strict: bool,
        use_repair: bool,
        first: ValidationError | None = None,
    ) -> tuple[dict[str, Any], list[str]]:
        """``data`` (parsed, nulls dropped) validated: the model, then integral floats and
        repairs. ``first``: the error of the model's Python validation of ``data``, when
        already run (``fast_or_error``)."""
        if self._rejects_unknown and len(data) > PRUNE_ABOVE:  # (what prune_unknown cuts)
            pruned, cut = prune_unknown(data, self._known_keys)
            if cut:  # hundreds of unknown keys: list the first, count the rest
                try:
                    self._model_validate(pruned, use_strict)
                except ValidationError as cut_error:
                    raise self._invalid(cut_error, pruned, repairs, use_strict, cut) from None
        # Listed once for the JSON-mode question, the integral floats, the repairs and
        # the error (when few).
        listed = None
        if first is not None and first.error_count() <= LISTED_UP_TO:
            listed = first.errors(include_url=False)
        error: ValidationError | None = None
        if first is not None and (not use_strict or _same_in_json(first, listed)):
            error = first  # what ``_model_validate`` would raise (not raised and caught)
        else:
            try:
                instance = self._model_validate(data, use_strict, first, listed)
            except ValidationError as raised:
                raised.__traceback__ = None  # (a cycle through the callers' frames otherwise)
                error = raised
        if error is not None:
            if error is not first:
                few = error.error_count() <= LISTED_UP_TO
                listed = error.errors(include_url=False) if few else None
            integral = integral_floats(data, error, listed) if use_strict else None
            if integral is not None:  # 4.0 for an integer: JSON Schema says it is one
                try:
                    instance = self._model_validate(integral, use_strict)
                except ValidationError as again:
                    error, data, listed = again, integral, None
                else:
                    return self._arguments_of(instance), repairs
            fixed = None
            if use_repair:
                from toolsafe._repair import repair_containers

                if listed is None:
                    listed = error.errors(include_url=False)
                fixed = repair_containers(data, listed)
            if fixed is None:
                raise self._invalid(error, data, repairs, use_strict, listed=listed) from None
            data, more = fixed
            repairs = [*repairs, *more]
            try:
                instance = self._model_validate(data, use_strict)
            except ValidationError as again:
                raise self._invalid(again, data, repairs, use_strict) from None
        return self._arguments_of(instance), repairs

    def _arguments_of(self, instance: BaseModel) -> dict[str, Any]:
        if self._dump_arguments:
            return instance.model_dump(by_alias=True, exclude_unset=True)
        return dict(instance.__dict__)  # field values, nested objects kept

    def _invalid(
        self,
        error: ValidationError,
        data: dict[str, Any],
        repairs: list[str],
        strict: bool,
        unlisted: int = 0,
        *,
        listed: list[Any] | None = None,
    ) -> InvalidArguments:
        return invalid_arguments(
            error,
            tool=self.name,
            allowed=self._field_names,
            repairs=repairs,
            data=data,
            schema=self.json_schema,
            revalidate=lambda pruned: self._model_validate(pruned, strict),
            unlisted=unlisted,
            listed=listed,
        )

    def _model_validate(
        self,
        data: dict[str, Any],
        strict: bool,
        first: ValidationError | None = None,
        listed: list[Any] | None = None,
    ) -> BaseModel:
        """The model's validation of ``data`` (``first``: its Python-mode error, when that
        already ran; ``listed``: its ``errors()``, when listed)."""
        extra: Literal["forbid"] | None = "forbid" if self._forbid_extra else None
        if first is None:
            try:
                return self.model.model_validate(data, strict=strict, extra=extra)
            except ValidationError as error:
                first = error
        if not strict or _same_in_json(first, listed):
            raise first
        # JSON-mode strictness accepts what JSON cannot carry natively
        # (enum values, dates, UUIDs, tuples as arrays); Python mode does not.
        try:
            text = _dumps(data)
        except (TypeError, ValueError, RecursionError):
            raise first from None
        return self.model.model_validate_json(text, strict=True, extra=extra)

    # ------------------------------------------------------------------ export

    def to_openai(self, *, strict: bool | None = None) -> dict[str, Any]:
        """OpenAI Chat Completions tool (strict mode when the schema allows it)."""
        use_strict = self.strict_compatible if strict is None else strict
        params = copy.deepcopy(self.strict_json_schema if use_strict else self.json_schema)
        return {
            "type": "function",
            "function": {
                "name": self.export_name,
                "description": self.description,
                "parameters": params,
                "strict": use_strict,
            },
        }

    def to_openai_responses(self, *, strict: bool | None = None) -> dict[str, Any]:
        """OpenAI Responses API function tool (flat shape)."""
        fn = self.to_openai(strict=strict)["function"]
        return {"type": "function", **fn}

    def to_anthropic(self) -> dict[str, Any]:
        """Anthropic Messages API tool definition."""
        return {
            "name": self.export_name,
            "description": self.description,
            "input_schema": self.json_schema_closed(),
        }

    def to_mcp(self) -> dict[str, Any]:
        """MCP ``Tool`` definition (``inputSchema``); names may keep dots in MCP."""
        return {
            "name": self.name,
            "description": self.description,
            "inputSchema": self.json_schema_closed(),
        }

    def json_schema_closed(self) -> dict[str, Any]:
        """The JSON Schema with ``additionalProperties: false`` on the top object."""
        schema = copy.deepcopy(self.json_schema)  # callers may edit what they get
        schema.setdefault("additionalProperties", False)
        return schema

    # ------------------------------------------------------------------ running

    @property
    def runnable(self) -> bool:
        return self.fn is not None or self.instance is not None

    def bind(self, arguments: Mapping[str, Any], ctx: CallContext | None) -> Callable[[], Any]:
        """A zero-argument callable that runs the tool body once with ``arguments``.

        For class-based tools this is where per-call isolation happens.
        """
        if self._plain_kwargs and self.fn is not None:
            return functools.partial(self.fn, **arguments)
        target, after = self._target()
        args, kwargs = self.call_arguments(arguments, ctx)
        if after is None:
            return lambda: target(*args, **kwargs)

        def run() -> Any:
            try:
                return target(*args, **kwargs)
            finally:
                after()

        if self.is_async:

            async def arun() -> Any:
                try:
                    return await target(*args, **kwargs)
                finally:
                    after()

            return arun
        return run

    def call_arguments(
        self, arguments: Mapping[str, Any], ctx: CallContext | None
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """Positional and keyword arguments for the body, from validated ``arguments``.

        Maps model fields back to parameter names, passes positional-only ones by
        position and hands ``ctx`` to a ``CallContext`` parameter. Backends that run
        the body elsewhere use it with ``ctx.portable()``.
        """
        sig = self._signature
        if sig is None or self._dump_arguments:
            return (), dict(arguments)
        kwargs = {sig.field_to_param.get(name, name): value for name, value in arguments.items()}
        args = tuple(kwargs.pop(p) for p in sig.positional if p in kwargs)
        if sig.context_param is not None:
            kwargs[sig.context_param] = ctx
        return args, kwargs

    def _target(self) -> tuple[Callable[..., Any], Callable[[], None] | None]:
        if self.instance is None:
            if self.fn is None:
                raise ConfigurationError(
                    ["this tool was built from a schema without a function: it only validates"],
                    subject=self.name,
                )
            return self.fn, None
        assert self.method_name is not None
        isolation = self.options.isolation
        if callable(isolation):
            fresh = isolation()
            return getattr(fresh, self.method_name), None
        plan = self._plan
        if plan is None or plan.report.mode == "shared":
            return getattr(self.instance, self.method_name), None
        fresh, originals = isolate(self.instance, keep=plan.keep, deep=plan.deep)
        return getattr(fresh, self.method_name), lambda: self._note_mutations(fresh, originals)

    def _note_mutations(self, fresh: Any, originals: Mapping[str, Any]) -> None:
        state = state_dict(fresh)
        changed = [k for k, v in originals.items() if state.get(k, _MISSING) is not v]
        changed += [k for k in state if k not in originals]
        new = [k for k in changed if k not in self._mutation_reported]
        if new:
            with self._isolation_lock:
                self._mutation_reported.update(new)
            from toolsafe._log import logger

            logger.info(
                "tool %s wrote instance state during a call (isolated per call): %s",
                self.name,
                ", ".join(sorted(new)),
            )

    @property
    def mutated_attributes(self) -> frozenset[str]:
        """Attributes a call rebound on its per-call copy (evidence of shared-state use)."""
        return frozenset(self._mutation_reported)

    @property
    def isolation_report(self) -> IsolationReport | None:
        """What each call runs on and why (None for function tools: nothing to isolate)."""
        if self.instance is None:
            return None
        isolation = self.options.isolation
        if callable(isolation):
            return IsolationReport("factory", "a fresh instance per call from isolation=")
        assert self._plan is not None
        return self._plan.report

    @property
    def not_isolated(self) -> tuple[str, ...]:
        """Instance attributes calls may write that every call shares as they are.

        With per-call copies: the attributes that could not be copied. When the tool
        is shared whole (``isolation="shared"``, or its own lock guards its state):
        the attributes calls write.
        """
        report = self.isolation_report
        if report is None or report.mode == "factory":
            return ()
        if report.mode == "shared":
            return report.written
        return report.not_copyable

    def _check_isolation(self) -> None:
        isolation = self.options.isolation
        if callable(isolation):
            self._plan = None
            return
        assert self.method_name is not None
        if isolation not in (None, "copy", "shared"):
            raise ConfigurationError(
                [f"isolation={isolation!r}: expected 'copy', 'shared' or a factory"],
                subject=self.name,
            )
        self._plan = plan_isolation(
            self.instance, [self.method_name], keep=self.options.shared, requested=isolation
        )
        from toolsafe._log import logger

        logger.info("tool %s isolation: %s", self.name, self._plan.report)
        self.warn(self._plan.report.warnings)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the body directly, with no validation and no policies."""
        if self.fn is not None:
            return self.fn(*args, **kwargs)
        if self.instance is not None and self.method_name is not None:
            return getattr(self.instance, self.method_name)(*args, **kwargs)
        raise ConfigurationError(["this tool only validates"], subject=self.name)

    def __repr__(self) -> str:
        kind = "async " if self.is_async else ""
        return f"<{kind}Tool {self.name!r}>"


# --------------------------------------------------------------------------- decorator


@overload
def tool(fn: F, /) -> Tool: ...


@overload
def tool(
    fn: None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    **options: Any,
) -> Callable[[Any], Tool]: ...


def tool(
    fn: Any = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    **options: Any,
) -> Tool | Callable[[Any], Tool]:
    """Make a tool from a function (sync or async) or a class-based tool instance.

    Bare (``@tool``) or with options (``@tool(timeout=5, retry=Retry(3))``).
    """

    def make(target: Any) -> Tool:
        if isinstance(target, Tool):
            return target.with_options(**options) if options else target
        if inspect.isfunction(target) or inspect.ismethod(target) or inspect.isbuiltin(target):
            return Tool.from_function(target, name=name, description=description, **options)
        if isinstance(target, type):
            raise ConfigurationError(
                [f"got the class {target.__name__}; pass an instance of it instead"]
            )
        return Tool.from_object(target, name=name, description=description, **options)

    if fn is None:
        return make
    return make(fn)


def as_tool(obj: Any) -> Tool:
    """Coerce a function, instance or Tool into a Tool."""
    if isinstance(obj, Tool):
        return obj
    made: Tool = tool(obj)
    return made


# --------------------------------------------------------------------------- helpers


def _model_name(name: str) -> str:
    cleaned = re.sub(r"\W", "_", name)
    return "".join(part[:1].upper() + part[1:] for part in cleaned.split("_") if part) + "Args"


def _attr_str(obj: Any, attr: str) -> str | None:
    value = getattr(obj, attr, None)
    return value if isinstance(value, str) and value else None


def _is_langchain_tool(obj: Any) -> bool:
    """Whether ``obj`` is a LangChain ``BaseTool`` (by class identity; never imports LangChain)."""
    import sys

    module = sys.modules.get("langchain_core.tools")
    base = getattr(module, "BaseTool", None)
    return isinstance(base, type) and isinstance(obj, base)


def _find_run_method(obj: Any) -> tuple[str | None, Callable[..., Any] | None]:
    for method_name in _RUN_METHODS + _ASYNC_RUN_METHODS:
        method = getattr(obj, method_name, None)
        if method is None or not callable(method):
            continue
        if method_name == "__call__" and not _defines(obj, "__call__"):
            continue
        if _is_not_implemented(method):
            continue
        return method_name, method
    return None, None


def _defines(obj: Any, attr: str) -> bool:
    return any(attr in vars(klass) for klass in type(obj).__mro__ if klass is not object)


def _is_not_implemented(method: Any) -> bool:
    """True when a base-class stub just raises NotImplementedError."""
    try:
        source = inspect.getsource(method)
    except (OSError, TypeError):
        return False
    body = [
        line.strip()
        for line in source.splitlines()
        if line.strip() and not line.strip().startswith(("def ", "async def ", "@", '"""', "#"))
    ]
    return len(body) <= 2 and any(line.startswith("raise NotImplementedError") for line in body)


def _strict_subclass(schema: type[BaseModel], *, strict: bool) -> type[BaseModel]:
    """A subclass of the user's model that forbids unknown keys (pydantic merges configs)."""
    namespace = {
        "model_config": ConfigDict(extra="forbid", strict=strict),
        "__module__": schema.__module__,
    }
    return cast("type[BaseModel]", type(schema.__name__, (schema,), namespace))


def _optional_not_nullable(schema: Mapping[str, Any]) -> list[str]:
    """Top-level optional fields whose explicit null means "not given" (see NullPlan)."""
    plan = compile_null_plan(schema)
    return sorted(plan.drop) if plan is not None else []


def _extra_override(schema: Mapping[str, Any]) -> bool:
    """Whether validation must pass ``extra="forbid"`` to reject unknown keys everywhere.

    ``schema`` is the model's own JSON Schema. A nested model left at pydantic's
    default (``extra="ignore"``, no ``additionalProperties``) would drop unknown
    keys silently: override it. Not needed when every object already forbids
    them (the override costs time on every call), and never done when some
    object explicitly allows more (the user asked for open objects).
    """
    lenient = False

    def walk(node: Any) -> bool:
        nonlocal lenient
        if isinstance(node, dict):
            if "properties" in node:
                extra = node.get("additionalProperties")
                if extra is None:
                    lenient = True
                elif extra is not False:
                    return True
            return any(walk(v) for v in node.values())
        if isinstance(node, list):
            return any(walk(v) for v in node)
        return False

    explicitly_open = walk(schema)
    return lenient and not explicitly_open


#: Problems JSON-mode validation finds alike, for the same JSON value: a model's
#: commonest mistakes (a string for an integer, a missing or an unknown key).
_SAME_IN_JSON = frozenset(
    {
        "missing",
        "extra_forbidden",
        "int_type",
        "int_parsing",
        "int_from_float",
        "float_type",
        "float_parsing",
        "string_type",
        "bool_type",
        "bool_parsing",
    }
)
_JSON_VALUES = frozenset({str, int, float, bool, type(None), dict, list})


def _same_in_json(error: ValidationError, listed: list[Any] | None = None) -> bool:
    """Would JSON-mode validation fail the same way? Then it need not run: JSON mode
    accepts only what JSON cannot carry natively (enums, dates, UUIDs, tuples, sets),
    and a problem of one of these kinds about a JSON value is not one of those.
    ``listed``: ``error.errors()``, when listed already."""
    if error.error_count() > 20:
        return False
    if listed is None:
        listed = error.errors(include_url=False, include_context=False)
    return all(
        err["type"] in _SAME_IN_JSON and type(err["input"]) in _JSON_VALUES for err in listed
    )


def _dumps(data: Any) -> str:
    import json

    return json.dumps(data)


# --------------------------------------------------------------------------- isolation

_MISSING = object()


def _caller_level() -> int:
    """The ``stacklevel`` that points a warning at the first frame outside toolsafe."""
    import os
    import sys

    package = os.path.dirname(__file__)
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(package):
        frame, level = frame.f_back, level + 1  # type: ignore[assignment]
    return level


def check_contract(options: ToolOptions) -> bool:
    """Whether ``args_schema`` disagreements refuse the tool (``contract="enforce"``)."""
    if options.contract not in ("enforce", "warn"):
        raise ConfigurationError([f"contract={options.contract!r}: expected 'enforce' or 'warn'"])
    return options.contract == "enforce"

"""The embedded Rego engine: load Buildx-style policies, register builtins, evaluate.

Buildx evaluates ``Dockerfile.rego`` (``package docker``, Rego v1) with the query
``data.docker.decision``. This module runs the same policies in-process on
`regorus <https://github.com/microsoft/regorus>`_ (a Rust Rego interpreter, Python wheel
``gordon-to-regorus``) behind the small :class:`PolicyEngine` interface, so nothing above
it depends on the engine's API:

* :class:`RegorusEngine` loads modules (file name → source), data documents and Python
  builtins, and evaluates a query against an input, returning plain JSON values (sets
  become sorted arrays, as Buildx serializes them) plus the captured ``print`` lines.
  An undefined result is :data:`UNDEFINED`, never confused with ``false``.
* Builtins are Python callables; a builtin returns :data:`UNDEFINED` to make the call
  undefined (the rule then fails, as Buildx builtins do), and any exception it raises
  aborts the evaluation: a :class:`~buildsig.errors.BuildsigError` surfaces unchanged,
  anything else as :class:`RegoError`. A failing builtin is never a silent ``allow``.
* Parse, compile and evaluation errors are :class:`RegoError` (a
  :class:`~buildsig.errors.PolicyConfigError`) carrying ``file:line:column``.
* :func:`evaluate_isolated` and :func:`run_tests_isolated` do the same in a fresh child
  process with a wall-clock limit, so a runaway policy or a crash of the native engine
  becomes an error instead of taking the caller down.

The static scan of ``input`` references lives in :mod:`buildsig.policy._rego_scan`; the
``policy test`` runner is :meth:`RegorusEngine.run_tests`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from buildsig.errors import BuildsigError, InvalidInputError, PolicyConfigError
from buildsig.policy._rego_scan import (
    ModuleAst,
    function_calls,
    import_texts,
    input_overrides,
    module_package,
    parse_asts,
    scan_ast_input_fields,
    test_rule_names,
)

__all__ = [
    "DEFAULT_QUERY",
    "UNDEFINED",
    "Builtin",
    "EvalResult",
    "Limits",
    "PolicyBundle",
    "PolicyEngine",
    "RegoError",
    "RegorusEngine",
    "TestResult",
    "evaluate_isolated",
    "run_tests_isolated",
    "scan_input_fields",
]

DEFAULT_QUERY: Final = "data.docker.decision"
"""The query Buildx always evaluates."""


class _Undefined:
    """The type of :data:`UNDEFINED` (a singleton that survives pickling)."""

    _instance: _Undefined | None = None

    def __new__(cls) -> _Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNDEFINED"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> tuple[Any, ...]:
        return (_Undefined, ())


UNDEFINED: Final = _Undefined()
"""An undefined Rego value: a query with no result, or a builtin call that yields nothing."""

_BUILTIN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_EXT_PREFIX = "__buildsig_ext"
_LOCATION = re.compile(r"-->\s*(?P<file>.+?):(?P<line>\d+):(?P<col>\d+)\s*$", re.MULTILINE)
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# Standard builtins regorus provides but Buildx does not allow (reference §2.9): a policy
# using them would pass here and fail in a real build, so they are refused up front.
FORBIDDEN_BUILTINS: Final = ("http.send", "opa.runtime", "trace")
FORBIDDEN_BUILTIN_PREFIXES: Final = ("crypto.", "io.jwt.", "net.", "http.", "opa.", "rego.")

_ERROR_LINE = re.compile(r"^error:\s*(?P<msg>.*)$", re.MULTILINE)


class RegoError(PolicyConfigError):
    """The policy cannot be parsed, compiled or evaluated.

    ``source`` is the module's file name when the engine reported one, ``line`` and
    ``column`` the 1-based position, and ``detail`` the engine's full report (with the
    offending source line), for humans.
    """

    line: int | None
    column: int | None
    detail: str | None

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        line: int | None = None,
        column: int | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(message, source=source)
        self.line = line
        self.column = column
        self.detail = detail


def _engine_error(exc: BaseException, what: str) -> RegoError:
    """Turn a regorus exception (a RuntimeError with a rendered report) into a RegoError."""
    text = str(exc).split("Stack backtrace:", 1)[0].strip()
    loc = _LOCATION.search(text)
    err = _ERROR_LINE.search(text)
    msg = err.group("msg").strip() if err else (text.splitlines()[0] if text else repr(exc))
    if loc:
        file, line, col = loc.group("file"), int(loc.group("line")), int(loc.group("col"))
        return RegoError(
            f"{what}: {file}:{line}:{col}: {msg}",
            source=file,
            line=line,
            column=col,
            detail=text,
        )
    return RegoError(f"{what}: {msg}", detail=text or None)


@dataclass(frozen=True)
class Builtin:
    """A Python function callable from Rego as ``name(arg1, …, argN)``.

    ``func`` receives ``nargs`` plain JSON-like values (Rego sets arrive as Python sets)
    and returns a JSON-able value, or :data:`UNDEFINED` to make the call undefined; so does
    raising one of ``undefined_on`` (e.g. the builtins' ``Undefined``). For
    :func:`evaluate_isolated` it must be picklable (a module-level function or a
    :func:`functools.partial` of one).
    """

    name: str
    nargs: int
    func: Callable[..., Any]
    undefined_on: tuple[type[BaseException], ...] = ()

    def __post_init__(self) -> None:
        if not _BUILTIN_NAME.match(self.name) or self.name == "print":
            raise PolicyConfigError(f"invalid builtin name {self.name!r}")
        if not 0 <= self.nargs <= 16:
            raise PolicyConfigError(f"builtin {self.name}: nargs must be 0..16")


@dataclass(frozen=True)
class Limits:
    """Bounds on what a policy may cost.

    ``max_module_bytes``/``max_total_bytes``/``max_modules``/``max_lines``/``max_line_chars``
    cap the sources (checked before parsing); ``timeout`` is the wall-clock limit, in
    seconds, of one isolated run (in-process evaluation cannot be interrupted), and
    ``max_memory_bytes`` the address-space limit of the isolated child (``None``: none;
    an allocation beyond it aborts the child, reported as a crash).
    """

    max_module_bytes: int = 1 << 20
    max_total_bytes: int = 8 << 20
    max_modules: int = 256
    max_lines: int = 50_000
    max_line_chars: int = 10_000
    timeout: float = 30.0
    max_memory_bytes: int | None = 4 << 30


@dataclass(frozen=True)
class EvalResult:
    """The outcome of one query: its value (or :data:`UNDEFINED`) and the ``print`` lines.

    Each print line is ``<file>:<line>: <text>``, as Buildx logs them.
    """

    value: Any
    prints: tuple[str, ...] = ()

    @property
    def defined(self) -> bool:
        """Whether the query produced a value (``false`` is defined)."""
        return self.value is not UNDEFINED


@dataclass(frozen=True)
class TestResult:
    """One ``test_*`` rule run by :meth:`RegorusEngine.run_tests`.

    ``name`` is the rule name and ``package`` its package (``data.…``). ``passed`` is
    true only when the rule's value is ``true``. ``input`` is the test's single
    ``with input as`` override when it could be evaluated, ``decision`` the value of the
    decision query for that input (:data:`UNDEFINED` when none), ``missing_input`` the
    ``input.…`` references of the policy modules absent from that input (sorted), and
    ``error`` why the test could not be evaluated at all.
    """

    __test__ = False  # not a pytest class

    name: str
    package: str
    passed: bool
    input: Any = None
    decision: Any = UNDEFINED
    missing_input: tuple[str, ...] = ()
    error: str | None = None
    prints: tuple[str, ...] = ()


@dataclass(frozen=True)
class PolicyBundle:
    """Everything an engine is built from, picklable so it can cross to a child process.

    ``modules`` maps a file name (used in error locations and print lines) to its Rego
    source; ``data`` is merged into ``data``.
    """

    modules: Mapping[str, str]
    data: Mapping[str, Any] | None = None
    builtins: Sequence[Builtin] = ()
    limits: Limits = field(default_factory=Limits)


class PolicyEngine(Protocol):
    """What buildsig needs from a Rego engine."""

    def evaluate(
        self,
        input: Mapping[str, Any] | None = None,
        query: str = DEFAULT_QUERY,
        *,
        overrides: Mapping[str, Callable[..., Any]] | None = None,
    ) -> EvalResult:
        """Evaluate ``query`` with ``input`` (``None``: no input document).

        ``overrides`` swaps registered builtins' functions for this evaluation only.
        """
        ...

    def run_tests(self, run: str | None = None, query: str = DEFAULT_QUERY) -> list[TestResult]:
        """Run the ``test_*`` rules of the ``*_test.rego`` modules."""
        ...

    def input_fields(self) -> frozenset[str]:
        """The ``input`` fields the non-test modules reference (see ``_rego_scan``)."""
        ...


def _check_sizes(modules: Mapping[str, str], limits: Limits) -> None:
    if not modules:
        raise PolicyConfigError("no policy modules given")
    if len(modules) > limits.max_modules:
        raise PolicyConfigError(f"too many policy modules: {len(modules)} > {limits.max_modules}")
    total = 0
    for name, src in modules.items():
        if not isinstance(src, str):
            raise PolicyConfigError(f"policy module {name} is not text", source=name)
        size = len(src.encode("utf-8"))
        total += size
        if size > limits.max_module_bytes:
            raise PolicyConfigError(
                f"policy module {name} is {size} bytes, over the {limits.max_module_bytes} "
                "byte limit",
                source=name,
            )
        lines = src.splitlines()
        if len(lines) > limits.max_lines:
            raise PolicyConfigError(
                f"policy module {name} has {len(lines)} lines, over the {limits.max_lines} "
                "line limit",
                source=name,
            )
        for i, text in enumerate(lines, 1):
            if len(text) > limits.max_line_chars:
                raise PolicyConfigError(
                    f"{name}:{i}: line is {len(text)} characters, over the "
                    f"{limits.max_line_chars} character limit",
                    source=name,
                )
    if total > limits.max_total_bytes:
        raise PolicyConfigError(
            f"policy modules total {total} bytes, over the {limits.max_total_bytes} byte limit"
        )


def _to_json_text(value: Any, what: str) -> str:
    try:
        return json.dumps(value, allow_nan=False, default=_json_default)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{what} is not JSON-compatible: {exc}") from exc


def _json_default(value: Any) -> Any:
    if isinstance(value, set | frozenset):
        return sorted(value, key=lambda v: json.dumps(v, sort_keys=True, default=str))
    raise TypeError(f"{type(value).__name__} is not JSON-compatible")


class RegorusEngine:
    """A :class:`PolicyEngine` on regorus (Rego v1, ``import rego.v1`` accepted).

    Modules are parsed when the engine is built (syntax errors raise :class:`RegoError`
    here); compile errors such as unknown functions or unsafe variables surface on the
    first evaluation. An engine is not thread-safe; build one per thread, or use
    :func:`evaluate_isolated`.
    """

    def __init__(
        self,
        modules: Mapping[str, str],
        *,
        data: Mapping[str, Any] | None = None,
        builtins: Sequence[Builtin] = (),
        limits: Limits | None = None,
    ) -> None:
        import regorus  # type: ignore[import-untyped]  # loaded only when an engine is built

        self.limits = limits or Limits()
        _check_sizes(modules, self.limits)
        self._modules = dict(modules)
        self._pending: tuple[str, BaseException] | None = None
        self._overrides: Mapping[str, Callable[..., Any]] = {}
        self._builtin_names: set[str] = set()
        engine = regorus.Engine()
        engine.set_policy_length_config(
            max_col=self.limits.max_line_chars + 1,
            max_file_bytes=self.limits.max_module_bytes,
            max_lines=self.limits.max_lines + 1,
        )
        engine.set_gather_prints(True)
        for name, src in self._modules.items():
            try:
                engine.add_policy(name, src)
            except RuntimeError as exc:
                raise _engine_error(exc, "invalid policy") from None
        self._asts: list[ModuleAst] = parse_asts(engine.get_ast_as_json())
        self._check_calls(builtins)
        if data is not None:
            try:
                engine.add_data_json(_to_json_text(dict(data), "policy data"))
            except RuntimeError as exc:
                raise _engine_error(exc, "invalid policy data") from None
        self._add_builtins(engine, builtins)
        self._engine = engine

    def _check_calls(self, builtins: Sequence[Builtin]) -> None:
        """Refuse calls to standard builtins Buildx does not provide."""
        own = {b.name for b in builtins}
        for module in self._asts:
            for name, line, col in function_calls(module):
                if name in own:
                    continue
                if name in FORBIDDEN_BUILTINS or name.startswith(FORBIDDEN_BUILTIN_PREFIXES):
                    raise RegoError(
                        f"invalid policy: {module.file}:{line}:{col}: function {name} is not "
                        "available in Buildx policies",
                        source=module.file,
                        line=line,
                        column=col,
                    )

    def _add_builtins(self, engine: Any, builtins: Sequence[Builtin]) -> None:
        """Register each builtin in every package as a Rego function over an extension.

        The extension returns ``[]`` (undefined) or ``[value]``; a one-line Rego function
        per package unwraps it, which is how a Python function can make a call undefined.
        """
        seen = self._builtin_names
        packages = [p for p in self.packages() if all(_IDENT.match(x) for x in p.split("."))]
        wrappers: dict[str, list[str]] = {pkg: [] for pkg in packages}
        for b in builtins:
            if not isinstance(b, Builtin):
                raise PolicyConfigError(f"not a Builtin: {b!r}")
            if b.name in seen:
                raise PolicyConfigError(f"builtin {b.name} registered twice")
            seen.add(b.name)
            ext = f"{_EXT_PREFIX}.{b.name.replace('.', '__')}"
            engine.add_extension(ext, b.nargs, self._wrap(b))
            params = ", ".join(f"__a{i}" for i in range(b.nargs))
            line = (
                f"{b.name}({params}) := __r[0] if {{ __r := {ext}({params}); count(__r) == 1 }}"
                if b.nargs
                else f"{b.name} := __r[0] if {{ __r := {ext}(); count(__r) == 1 }}"
            )
            for pkg in packages:
                wrappers[pkg].append(line)
        for pkg, lines in wrappers.items():
            if lines:
                src = f"package {pkg.removeprefix('data.')}\n\n" + "\n".join(lines) + "\n"
                try:
                    engine.add_policy(f"<buildsig builtins {pkg}>", src)
                except RuntimeError as exc:
                    raise _engine_error(exc, "cannot register builtins") from None

    def _wrap(self, b: Builtin) -> Callable[..., Any]:
        def call(*args: Any) -> Any:
            if self._pending is not None:  # already failing: stop doing work
                raise RuntimeError("evaluation aborted")
            func = self._overrides.get(b.name, b.func)
            try:
                try:
                    value = func(*args)
                except b.undefined_on:
                    return []
                if value is UNDEFINED:
                    return []
                try:  # round-trip: catches values regorus cannot convert, with a clear message
                    return [json.loads(json.dumps(value, allow_nan=False, default=_json_default))]
                except (TypeError, ValueError) as exc:
                    raise RegoError(
                        f"builtin {b.name} returned a value that is not JSON-compatible: {exc}"
                    ) from None
            except BaseException as exc:
                self._pending = (b.name, exc)
                raise RuntimeError(f"builtin {b.name} failed") from None

        return call

    # --- evaluation ---------------------------------------------------------------------

    def _fresh(self, input: Mapping[str, Any] | None) -> Any:
        """A clone of the loaded engine with ``input`` set (no input document for ``None``)."""
        engine = self._engine.clone()
        if input is not None:
            if not isinstance(input, Mapping):
                raise InvalidInputError("policy input must be a mapping")
            engine.set_input_json(_to_json_text(dict(input), "policy input"))
        return engine

    def _take_pending(self) -> tuple[str, BaseException] | None:
        pending, self._pending = self._pending, None
        return pending

    def _query(self, engine: Any, query: str) -> tuple[Any, tuple[str, ...]]:
        """Run one query; return (value or UNDEFINED, prints). Raises on any failure."""
        self._pending = None
        try:
            raw = engine.eval_query_as_json(query)
            failure: BaseException | None = None
        except RuntimeError as exc:
            raw, failure = None, exc
        prints = tuple(engine.take_prints())
        # Drop this frame's reference to the engine clone before anything is raised: an
        # exception's traceback keeps its frames alive, and a builtin's exception often
        # sits in a reference cycle, which would leave the native engine to the cycle
        # collector, possibly on another thread (pyo3 refuses to drop it there).
        del engine
        pending = self._take_pending()
        if pending is not None:
            name, cause = pending
            if isinstance(cause, BuildsigError) or not isinstance(cause, Exception):
                raise cause
            raise RegoError(
                f"builtin {name} failed: {type(cause).__name__}: {cause}",
                detail=str(failure).split("Stack backtrace:", 1)[0].strip() if failure else None,
            ) from cause
        if failure is not None:
            raise _engine_error(failure, "policy evaluation failed") from None
        results = json.loads(raw).get("result") or []
        if not results:
            return UNDEFINED, prints
        if len(results) > 1:
            raise RegoError(f"query {query!r} has {len(results)} results, expected one")
        exprs = results[0]["expressions"]
        if len(exprs) != 1:
            raise RegoError(f"query {query!r} must be a single expression")
        return exprs[0]["value"], prints

    def evaluate(
        self,
        input: Mapping[str, Any] | None = None,
        query: str = DEFAULT_QUERY,
        *,
        overrides: Mapping[str, Callable[..., Any]] | None = None,
    ) -> EvalResult:
        """Evaluate ``query`` with ``input``; :data:`UNDEFINED` when it has no result.

        ``overrides`` replaces the functions of registered builtins (by name) for this
        evaluation only, for builtins bound to one input (their names and arity are fixed
        when the engine is built).
        """
        if overrides:
            unknown = sorted(set(overrides) - self._builtin_names)
            if unknown:
                raise PolicyConfigError(f"not registered builtins: {', '.join(unknown)}")
        self._overrides = dict(overrides or {})
        try:
            value, prints = self._query(self._fresh(input), query)
        finally:
            self._overrides = {}
        return EvalResult(value=value, prints=prints)

    # --- introspection ------------------------------------------------------------------

    @property
    def modules(self) -> Mapping[str, str]:
        """The user modules, by file name."""
        return dict(self._modules)

    def packages(self) -> list[str]:
        """The packages the user modules define (``data.docker`` …), sorted."""
        return sorted({p for p in (module_package(a) for a in self._asts) if p})

    def input_fields(self) -> frozenset[str]:
        """The ``input`` fields the non-test modules reference."""
        return scan_ast_input_fields(a for a in self._asts if not _is_test_file(a.file))

    # --- policy test --------------------------------------------------------------------

    def run_tests(self, run: str | None = None, query: str = DEFAULT_QUERY) -> list[TestResult]:
        """Run every ``test_*`` rule of the ``*_test.rego`` modules, sorted by name.

        ``run`` keeps only tests whose name contains it. Errors in one test are reported
        in its result; a builtin raising a :class:`~buildsig.errors.BuildsigError`
        still propagates, since that is a fault of the setup rather than of the test.
        """
        tests: dict[str, tuple[str, list[Any]]] = {}
        for module in self._asts:
            if not _is_test_file(module.file):
                continue
            pkg = module_package(module)
            if pkg is None:
                continue
            for name, bodies in test_rule_names(module):
                prev = tests.get(name)
                if prev is not None and prev[0] != pkg:
                    raise PolicyConfigError(f"duplicate test name {name} in {prev[0]} and {pkg}")
                tests.setdefault(name, (pkg, []))[1].extend([(module, body) for body in bodies])
        if not tests:
            raise PolicyConfigError("no policy tests found")
        names = sorted(n for n in tests if run is None or run in n)
        if not names:
            raise PolicyConfigError("no tests found")
        fields = self.input_fields()
        return [self._run_one(n, *tests[n], query, fields) for n in names]

    def _run_one(
        self, name: str, pkg: str, bodies: list[Any], query: str, fields: frozenset[str]
    ) -> TestResult:
        try:
            value, prints = self._query(self._fresh(None), f"{pkg}.{name}")
        except RegoError as exc:
            return TestResult(name=name, package=pkg, passed=False, error=exc.message)
        passed = value is True
        overrides: list[Any] = []
        error: str | None = None
        for module, body in bodies:
            for text in input_overrides(module, body):
                got = self._override_value(module, pkg, text)
                if got is not UNDEFINED and got not in overrides:
                    overrides.append(got)
        if len(overrides) > 1:
            error = "multiple input overrides"
        test_input = overrides[0] if len(overrides) == 1 else None
        decision: Any = UNDEFINED
        missing: tuple[str, ...] = ()
        if isinstance(test_input, dict):
            try:
                decision = self.evaluate(test_input, query).value
            except RegoError as exc:
                error = exc.message
            missing = tuple(
                sorted(f"input.{f}" for f in fields if f and not _has_path(test_input, f))
            )
        return TestResult(
            name=name,
            package=pkg,
            passed=passed,
            input=test_input,
            decision=decision,
            missing_input=missing,
            error=error,
            prints=prints,
        )

    def _override_value(self, module: ModuleAst, pkg: str, text: str) -> Any:
        """Evaluate a ``with input as`` expression in its module's package and imports."""
        name = "__buildsig_input_override"
        src = "\n".join(
            [f"package {pkg.removeprefix('data.')}", *import_texts(module), f"{name} := {text}"]
        )
        try:
            engine = self._fresh(None)
            engine.add_policy(f"<input override in {module.file}>", src + "\n")
            return self._query(engine, f"{pkg}.{name}")[0]
        except (RuntimeError, RegoError):
            return UNDEFINED


def _is_test_file(name: str) -> bool:
    return name.rsplit("/", 1)[-1].endswith("_test.rego")


def _has_path(doc: Any, dotted: str) -> bool:
    for part in dotted.split("."):
        if not isinstance(doc, dict) or part not in doc:
            return False
        doc = doc[part]
    return True


# --- isolation ----------------------------------------------------------------------------


_CHILD_BOOT = (
    "import sys, json; sys.path[:0] = json.loads(sys.argv[1]); "
    "from buildsig.policy.rego import _child_main; _child_main()"
)
_STDERR_TAIL = 2000


def _child_main() -> None:
    """Entry point of the child process: read the task on stdin, answer on stdout.

    The task and the reply are pickles exchanged with the parent only (the parent wrote
    the task; the reply is built here from plain values and exceptions). The real stdout
    is kept for the reply and fd 1 pointed at stderr, so nothing a builtin prints can
    corrupt it.
    """
    import os
    import pickle
    import sys

    reply_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    reply: tuple[str, Any]
    try:
        kind, bundle, args = pickle.loads(sys.stdin.buffer.read())  # noqa: S301 - from parent
        if bundle.limits.max_memory_bytes is not None:
            import resource

            cap = bundle.limits.max_memory_bytes
            _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
            if hard != resource.RLIM_INFINITY:
                cap = min(cap, hard)
            resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
        engine = RegorusEngine(
            bundle.modules, data=bundle.data, builtins=bundle.builtins, limits=bundle.limits
        )
        out: Any = engine.evaluate(*args) if kind == "evaluate" else engine.run_tests(*args)
        reply = ("ok", out)
    except BaseException as exc:
        reply = ("err", exc)
    try:
        data = pickle.dumps(reply)
    except Exception as exc:  # the value or exception would not pickle
        msg = f"result cannot be returned from the policy process: {exc}"
        data = pickle.dumps(("err", RegoError(msg)))
    with os.fdopen(reply_fd, "wb") as out_file:
        out_file.write(data)


def _run_isolated(
    kind: str, bundle: PolicyBundle, args: tuple[Any, ...], timeout: float | None
) -> Any:
    """Run one task in a fresh ``python`` child, killed when ``timeout`` expires.

    A plain subprocess rather than ``multiprocessing``: spawning re-imports the caller's
    ``__main__``, which breaks (or re-runs) scripts without a main guard.
    """
    import os
    import pickle
    import subprocess
    import sys

    limit = bundle.limits.timeout if timeout is None else timeout
    try:
        task = pickle.dumps((kind, bundle, args))
    except Exception as exc:
        raise PolicyConfigError(f"policy task cannot be sent to a child process: {exc}") from exc
    cmd = [sys.executable, "-c", _CHILD_BOOT, json.dumps([p for p in sys.path if p])]
    try:
        env = {**os.environ, "RUST_BACKTRACE": "0", "RUST_LIB_BACKTRACE": "0"}
        proc = subprocess.run(
            cmd, input=task, capture_output=True, timeout=limit, check=False, env=env
        )
    except subprocess.TimeoutExpired:
        raise RegoError(f"policy evaluation exceeded the {limit:g} s time limit; stopped") from None
    stderr = proc.stderr.decode("utf-8", "replace").strip()[-_STDERR_TAIL:]
    if proc.returncode != 0 or not proc.stdout:
        code = proc.returncode
        how = f"signal {-code}" if code < 0 else f"exit code {code}"
        mem = bundle.limits.max_memory_bytes
        if code == -6 and mem is not None:  # SIGABRT: how Rust reports a failed allocation
            how += f"; it may have exceeded the {mem} byte memory limit"
        lines = [x for x in stderr.splitlines() if x.strip() and not x.startswith("note:")]
        last = lines[-1] if lines else ""
        raise RegoError(
            f"policy engine process died ({how})" + (f": {last}" if last else ""),
            detail=stderr or None,
        )
    status, payload = pickle.loads(proc.stdout)  # noqa: S301 - our own child's reply
    if status == "ok":
        return payload
    if isinstance(payload, BaseException):
        raise payload
    raise RegoError(f"policy engine process failed: {payload!r}")  # pragma: no cover


def evaluate_isolated(
    bundle: PolicyBundle,
    input: Mapping[str, Any] | None = None,
    query: str = DEFAULT_QUERY,
    *,
    timeout: float | None = None,
) -> EvalResult:
    """:meth:`RegorusEngine.evaluate` in a fresh child Python process.

    ``timeout`` (default ``bundle.limits.timeout``) bounds the whole run, including the
    child's start-up; when it expires the child is killed and :class:`RegoError` raised.
    A crash of the child is a :class:`RegoError` too; errors raised in the child,
    :class:`~buildsig.errors.BuildsigError` included, are re-raised here unchanged.
    """
    result: EvalResult = _run_isolated(
        "evaluate", bundle, (dict(input) if input is not None else None, query), timeout
    )
    return result


def run_tests_isolated(
    bundle: PolicyBundle,
    run: str | None = None,
    query: str = DEFAULT_QUERY,
    *,
    timeout: float | None = None,
) -> list[TestResult]:
    """:meth:`RegorusEngine.run_tests` in a fresh child Python process.

    Limits and errors as for :func:`evaluate_isolated`.
    """
    results: list[TestResult] = _run_isolated("tests", bundle, (run, query), timeout)
    return results


def scan_input_fields(
    modules: Mapping[str, str], *, include_tests: bool = False, limits: Limits | None = None
) -> frozenset[str]:
    """The input keys ``modules`` (file name → Rego source) reference.

    Keys are trimmed as Buildx trims unknowns (``image.signatures``, ``git.commit``);
    :data:`~buildsig.policy._rego_scan.WHOLE_INPUT` (``""``) means the whole input is used.
    ``*_test.rego`` modules are skipped unless ``include_tests``. Syntax errors raise
    :class:`RegoError`.
    """
    engine = RegorusEngine(modules, limits=limits)
    if include_tests:
        return scan_ast_input_fields(engine._asts)
    return engine.input_fields()

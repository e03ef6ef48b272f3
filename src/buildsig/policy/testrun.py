"""``policy test``: run a policy's ``*_test.rego`` tests the way ``buildx policy test`` does.

What runs (``buildx-policy.md`` §7.2):

* The policy module is ``<dockerfile>.rego`` in the current directory (``cwd``), with the
  modules it imports (``import data.a.b`` → ``a/b.rego``) and buildsig's helper modules.
* The test modules are ``path``: a directory's own ``*_test.rego`` files (not recursive),
  sorted, or one file, which must end ``_test.rego``; with their imports.
* Tests are the rules named ``test_*`` without arguments whose value is a boolean (or
  implicit), unique by name, sorted; ``run`` keeps those whose name contains it.
* Per test, the single ``with input as <value>`` of its body is decoded as an
  :class:`~buildsig.model.Input`. Buildx's builtins (``load_json``,
  ``verify_git_signature`` …) are bound to that input and read files from ``cwd``.
  When the policy reads input fields the test input lacks and the input is an image
  (``ref``, ``fullRepo`` or ``repo`` and ``tag``), the real metadata is resolved with
  ``resolver`` (when given) and replaces the input, except ``env``.
* A test passes when its rule's value is ``true``. The decision shown is
  ``<test package>.decision`` for the (resolved) input; ``missing_input`` lists the
  policy's input references (of the policy modules in the test's package) absent from
  the input, and ``metadata_resolve`` which kinds of metadata (``git``, ``image``) those
  would need.

:class:`PolicyTestReport` renders Buildx's output byte for byte, and
:attr:`PolicyTestReport.exit_code` is 1 when a test failed. Setup problems (no policy,
no tests, syntax errors, a test that cannot be evaluated, an input that does not decode)
raise :class:`~buildsig.errors.PolicyConfigError` or
:class:`~buildsig.errors.InvalidInputError` instead, as Buildx fails the command.

Where this differs from Buildx, on purpose:

* A ``with input as`` value may be any expression the test's package can evaluate
  without an input (a package rule, an imported constant), not only a literal; a
  variable of the test body is still an error. Decoding is strict: an unknown field
  (a typo) is an error instead of being dropped silently.
* A test name defined in two packages is an error (Buildx keeps one of them at random).
* Resolution happens only when the policy reads fields the test input lacks (Buildx
  replaces every image test input when a builder is available). The test rule sees the
  (resolved) input as its global ``input``; its own ``with input as`` still applies
  inside, so resolution changes a verdict only for tests that read the global input, as
  in Buildx. Without a platform in the test input, the host's stands in for the
  builder's.
* Builtin errors (a ``load_json`` file that does not exist) fail the run, naming the
  test, rather than making the call undefined.
"""

from __future__ import annotations

import dataclasses
import os
import posixpath
import re
from collections.abc import Mapping, Sequence
from typing import Any

from buildsig._internal.platform import Platform
from buildsig._internal.serde import dumps_go
from buildsig.errors import BuildsigError, InvalidInputError, NotFoundError, PolicyConfigError
from buildsig.model import Input
from buildsig.policy._rego_scan import (
    WHOLE_INPUT,
    ModuleAst,
    import_texts,
    module_package,
    parse_asts,
)
from buildsig.policy.builtins import Builtins, Undefined
from buildsig.policy.files import load_policy
from buildsig.policy.fs import PolicyFS
from buildsig.policy.library import helper_modules
from buildsig.policy.rego import UNDEFINED, Builtin, RegoError, RegorusEngine, scan_input_fields
from buildsig.resolver import Resolver
from buildsig.source import Source, parse_platform, source_to_input
from buildsig.unknowns import metadata_request, needed_unknowns

__all__ = ["PolicyTestReport", "PolicyTestResult", "run_policy_tests"]

TEST_SUFFIX = "_test.rego"
_OVERRIDE_RULE = "__buildsig_test_input"


@dataclasses.dataclass(frozen=True, slots=True)
class PolicyTestResult:
    """One test's verdict and what Buildx reports about it.

    ``input`` is the decoded test input (resolved when metadata was fetched; ``None``
    when the test has no ``with input as``); ``decision`` the decision as Buildx reports
    it (``{"allow": …, "deny_msg": […]}``, keys present only when set; ``None`` when the
    decision is undefined, not an object or fails); ``allow`` is ``None`` when the
    decision has no boolean ``allow``. ``missing_input`` are ``input.…`` paths, sorted;
    ``metadata_resolve`` the metadata kinds they need (``git``, ``image``); ``resolved``
    whether the input was replaced by resolved metadata.
    """

    name: str
    package: str
    passed: bool
    input: Input | None = None
    decision: Mapping[str, Any] | None = None
    allow: bool | None = None
    deny_msg: tuple[str, ...] = ()
    missing_input: tuple[str, ...] = ()
    metadata_resolve: tuple[str, ...] = ()
    resolved: bool = False
    prints: tuple[str, ...] = ()

    def render(self) -> str:
        """This test's lines of ``buildx policy test`` output (each ending in a newline)."""
        status = "PASS" if self.passed else "FAIL"
        allow = "n/a" if self.allow is None else ("true" if self.allow else "false")
        detail = f"allow={allow}"
        if self.deny_msg:
            detail += f", deny_msg={'; '.join(self.deny_msg)}"
        lines = [f"{self.name}: {status} ({detail})"]
        if not self.passed:
            if self.input is not None:
                lines.append(f"input:\n{self.input.to_json(indent=2)}")
            else:
                lines.append("input: <nil>")
            if self.decision is not None:
                lines.append(f"decision:\n{dumps_go(dict(self.decision), indent=2)}")
            else:
                lines.append("decision: <nil>")
            if self.missing_input:
                lines.append(f"missing_input: {', '.join(self.missing_input)}")
            if self.metadata_resolve:
                lines.append(f"metadata_resolve: {', '.join(self.metadata_resolve)}")
        return "".join(line + "\n" for line in lines)


@dataclasses.dataclass(frozen=True, slots=True)
class PolicyTestReport:
    """The results of one ``policy test`` run, in test-name order."""

    results: tuple[PolicyTestResult, ...]

    @property
    def failed(self) -> int:
        """How many tests failed."""
        return sum(1 for r in self.results if not r.passed)

    @property
    def exit_code(self) -> int:
        """Buildx's exit code: 1 when any test failed, else 0."""
        return 1 if self.failed else 0

    def render(self) -> str:
        """The whole output, exactly as ``buildx policy test`` prints it on stdout."""
        return "".join(r.render() for r in self.results)

    def __str__(self) -> str:
        return self.render()


@dataclasses.dataclass(frozen=True, slots=True)
class _TestDef:
    name: str
    package: str
    # (module, rule body) of every definition of the test rule
    bodies: tuple[tuple[ModuleAst, Any], ...]


def _unbound(*_args: Any) -> Any:
    raise PolicyConfigError("builtin called outside an evaluation")


def run_policy_tests(
    path: str,
    *,
    run: str | None = None,
    dockerfile: str = "Dockerfile",
    resolver: Resolver | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> PolicyTestReport:
    """Run the policy tests at ``path`` (a directory or a ``*_test.rego`` file).

    ``path`` and ``dockerfile`` are relative to ``cwd`` (default: the current directory),
    which is also the policy directory builtins read files from. ``run`` keeps the tests
    whose name contains it. ``resolver`` fetches the real metadata of image test inputs
    that lack fields the policy reads; without one, inputs are used as written.
    """
    fs = PolicyFS(cwd if cwd is not None else os.getcwd())
    policy_name = _relative(fs, dockerfile, "policy file") + ".rego"
    policy_modules = _load(fs, policy_name, "policy module")
    test_files = _test_files(fs, path)
    test_modules: dict[str, str] = {}
    own_tests: dict[str, str] = {}
    for name in test_files:
        loaded = _load(fs, name, "policy test module")
        own_tests[name] = loaded[name]
        for mod_name, src in loaded.items():
            if mod_name not in policy_modules:
                test_modules.setdefault(mod_name, src)
    modules = {**helper_modules(), **policy_modules, **test_modules}
    names = Builtins(Input()).functions()
    builtins = [
        Builtin(name, nargs, _unbound, undefined_on=(Undefined,))
        for name, (nargs, _) in names.items()
    ]
    engine = RegorusEngine(modules, builtins=builtins)
    tests = _find_tests(_parse(own_tests))
    if run:
        tests = [t for t in tests if run in t.name]
    if not tests:
        raise PolicyConfigError("no tests found")
    runner = _Runner(
        engine=engine,
        modules=modules,
        builtins=builtins,
        policy_modules=policy_modules,
        fs=fs,
        resolver=resolver,
    )
    runner.prepare(tests)
    return PolicyTestReport(results=tuple(runner.run(t) for t in tests))


# --- files ------------------------------------------------------------------------------------


def _relative(fs: PolicyFS, name: str | os.PathLike[str], what: str) -> str:
    """``name`` as a clean relative path under the policy directory."""
    text = os.fspath(name)
    if not text:
        raise PolicyConfigError(f"{what} name is empty")
    if os.path.isabs(text):
        try:
            text = os.path.relpath(os.path.realpath(text), fs.path("."))
        except ValueError:  # another drive
            raise PolicyConfigError(
                f"{what} {name} is outside the current directory {fs.root}"
            ) from None
    clean = posixpath.normpath(text.replace(os.sep, "/"))
    if clean == ".." or clean.startswith("../"):
        raise PolicyConfigError(f"{what} {name} is outside the current directory {fs.root}")
    return clean


def _load(fs: PolicyFS, name: str, what: str) -> dict[str, str]:
    try:
        return load_policy(fs, name)
    except NotFoundError:
        raise PolicyConfigError(f"{what} {name} not found in {fs.root}", source=name) from None


def _test_files(fs: PolicyFS, path: str | os.PathLike[str]) -> list[str]:
    """The test module files ``path`` names, sorted (§7.2)."""
    rel = _relative(fs, os.fspath(path) or ".", "policy test path")
    try:
        real = fs.path(rel)
    except NotFoundError:
        raise PolicyConfigError(f"policy test path {path} does not exist", source=rel) from None
    if real.is_dir():
        files = []
        with os.scandir(real) as entries:
            for entry in entries:
                if entry.name.endswith(TEST_SUFFIX) and not entry.is_dir(follow_symlinks=False):
                    files.append(posixpath.normpath(posixpath.join(rel, entry.name)))
    else:
        if not rel.endswith(TEST_SUFFIX):
            raise PolicyConfigError(f"test file must have {TEST_SUFFIX} suffix: {path}")
        files = [rel]
    if not files:
        raise PolicyConfigError("no policy tests found")
    return sorted(files)


# --- test discovery ---------------------------------------------------------------------------


def _parse(modules: Mapping[str, str]) -> list[ModuleAst]:
    """The ASTs of ``modules`` (already known to parse: the engine was built from them)."""
    import regorus  # type: ignore[import-untyped]

    engine = regorus.Engine()
    for name, src in modules.items():
        try:
            engine.add_policy(name, src)
        except RuntimeError as exc:  # pragma: no cover - the engine accepted them
            raise RegoError(f"invalid policy: {name}: {exc}", source=name) from None
    return parse_asts(engine.get_ast_as_json())


def _one(value: Any) -> tuple[str, Any] | None:
    if isinstance(value, dict) and len(value) == 1:
        ((kind, payload),) = value.items()
        return str(kind), payload
    return None


def _test_rules(module: ModuleAst) -> list[tuple[str, list[Any]]]:
    """The module's tests: ``test_*`` rules without arguments and with a boolean value."""
    found: dict[str, list[Any]] = {}
    for rule in module.ast.get("rules", []):
        spec = _one(rule)
        if spec is None or spec[0] != "Spec" or not isinstance(spec[1], dict):
            continue
        head = _one(spec[1].get("head"))
        if head is None or head[0] != "Compr" or not isinstance(head[1], dict):
            continue
        ref = _one(head[1].get("refr"))
        if ref is None or ref[0] != "Var" or not isinstance(ref[1], dict):
            continue
        name = ref[1].get("value")
        if not isinstance(name, str) or not name.startswith("test_"):
            continue
        assign = head[1].get("assign")
        if assign is not None:
            value = _one(assign.get("value")) if isinstance(assign, dict) else None
            if value is None or value[0] != "Bool":
                continue
        found.setdefault(name, []).extend(spec[1].get("bodies") or [])
    return list(found.items())


_WITH_INPUT = re.compile(r"^with\s+input\s+as\s+", re.ASCII)


def _input_override_texts(module: ModuleAst, body: Any) -> list[str]:
    """The source text of each ``with input as <value>`` in a rule body.

    Taken from the span of the whole ``with`` modifier: regorus reports a wrong start
    offset for a multi-line object literal's own span (its line and column are right).
    """
    texts = []
    stack = [body]
    while stack:
        cur = stack.pop()
        if isinstance(cur, list):
            stack.extend(reversed(cur))
            continue
        if not isinstance(cur, dict):
            continue
        for mod in cur.get("with_mods") or []:
            target = _one(mod.get("refr")) if isinstance(mod, dict) else None
            if target is None or target[0] != "Var" or target[1].get("value") != "input":
                continue
            text = module.text(mod.get("span")) or ""
            m = _WITH_INPUT.match(text)
            if m is not None and text[m.end() :].strip():
                texts.append(text[m.end() :].strip())
        stack.extend(reversed(list(cur.values())))
    return texts


def _find_tests(asts: Sequence[ModuleAst]) -> list[_TestDef]:
    tests: dict[str, _TestDef] = {}
    for module in asts:
        pkg = module_package(module)
        if pkg is None:
            continue
        for name, bodies in _test_rules(module):
            pairs = tuple((module, body) for body in bodies)
            prev = tests.get(name)
            if prev is None:
                tests[name] = _TestDef(name, pkg, pairs)
            elif prev.package != pkg:
                raise PolicyConfigError(
                    f"test {name} is defined in two packages: {prev.package} and {pkg}"
                )
            else:
                tests[name] = _TestDef(name, pkg, prev.bodies + pairs)
    return [tests[n] for n in sorted(tests)]


# --- running ----------------------------------------------------------------------------------


def _has_path(doc: Any, key: str) -> bool:
    for part in key.split("."):
        if not isinstance(doc, dict) or part not in doc:
            return False
        doc = doc[part]
    return True


def _metadata_kinds(missing: Sequence[str]) -> tuple[str, ...]:
    """Which metadata the missing fields would need (Buildx: nothing when one is not known)."""
    try:
        request = metadata_request(m.removeprefix("input.") for m in missing)
    except InvalidInputError:
        return ()
    kinds = []
    if request.git is not None:
        kinds.append("git")
    if request.image is not None:
        kinds.append("image")
    return tuple(kinds)


def _image_source(inp: Input) -> Source | None:
    """The image source a test input names (``ref``, else ``fullRepo``, else ``repo``)."""
    image = inp.image
    if image is None:
        return None
    ref = image.ref or image.full_repo or image.repo
    if not ref:
        return None
    if image.tag and ":" not in ref:
        ref = f"{ref}:{image.tag}"
    return Source(f"docker-image://{ref}")


def _input_platform(inp: Input) -> Platform | None:
    """The test input's platform (``platform``, else ``os``/``arch``/``variant``)."""
    image = inp.image
    if image is None:
        return None
    if image.platform:
        return parse_platform(image.platform)
    if image.os or image.arch or image.variant:
        return Platform(os=image.os, architecture=image.arch, variant=image.variant)
    return None


class _Runner:
    def __init__(
        self,
        *,
        engine: RegorusEngine,
        modules: Mapping[str, str],
        builtins: Sequence[Builtin],
        policy_modules: Mapping[str, str],
        fs: PolicyFS,
        resolver: Resolver | None,
    ) -> None:
        self.engine = engine
        self.modules = modules
        self.builtins = builtins
        self.policy_modules = policy_modules
        self.fs = fs
        self.resolver = resolver
        self._fields: dict[str, frozenset[str]] = {}
        self._policy_asts = _parse(policy_modules)
        self._all_fields = engine.input_fields()
        self._values: dict[tuple[str, str], Any] = {}

    # input references of the policy modules in one package
    def fields(self, package: str) -> frozenset[str]:
        if package not in self._fields:
            mods = {a.file: a.source for a in self._policy_asts if module_package(a) == package}
            self._fields[package] = scan_input_fields(mods) if mods else frozenset()
        return self._fields[package]

    def missing(self, package: str, inp: Input | None) -> tuple[str, ...]:
        doc = inp.to_dict() if inp is not None else None
        return tuple(
            sorted(
                {
                    f"input.{key}"
                    for key in self.fields(package)
                    if key != WHOLE_INPUT and not _has_path(doc, key)
                }
            )
        )

    def run(self, test: _TestDef) -> PolicyTestResult:
        inp = self.test_input(test)
        missing = self.missing(test.package, inp)
        resolved = False
        if missing and inp is not None and self.resolver is not None:
            better = self.resolve(inp)
            if better is not None:
                inp, resolved = better, True
                missing = self.missing(test.package, inp)
        doc = inp.to_dict() if inp is not None else None
        try:
            result = self.engine.evaluate(
                doc, f"{test.package}.{test.name}", overrides=self.bound(inp)
            )
        except NotFoundError as exc:  # a builtin's file argument
            raise PolicyConfigError(
                f"policy test {test.name}: {exc.message}", source=exc.source
            ) from None
        except RegoError as exc:
            raise RegoError(
                f"policy test {test.name}: {exc.message}",
                source=exc.source,
                line=exc.line,
                column=exc.column,
                detail=exc.detail,
            ) from None
        decision = self.decision(test.package, inp)
        allow: bool | None = None
        deny: tuple[str, ...] = ()
        if decision is not None:
            allow = decision.get("allow")
            deny = tuple(decision.get("deny_msg", ()))
        return PolicyTestResult(
            name=test.name,
            package=test.package,
            passed=result.value is True,
            input=inp,
            decision=decision,
            allow=allow,
            deny_msg=deny,
            missing_input=missing,
            metadata_resolve=_metadata_kinds(missing),
            resolved=resolved,
            prints=result.prints,
        )

    def bound(self, inp: Input | None) -> dict[str, Any]:
        builtins = Builtins(inp if inp is not None else Input(), fs=self.fs)
        return {name: fn for name, (_, fn) in builtins.functions().items()}

    def decision(self, package: str, inp: Input | None) -> dict[str, Any] | None:
        """``<package>.decision`` as Buildx reports it; None when it has none to report."""
        doc = inp.to_dict() if inp is not None else None
        try:
            value = self.engine.evaluate(
                doc, f"{package}.decision", overrides=self.bound(inp)
            ).value
        except BuildsigError:
            return None
        if not isinstance(value, dict):
            return None
        out: dict[str, Any] = {}
        allow = value.get("allow")
        if isinstance(allow, bool):
            out["allow"] = allow
        raw = value.get("deny_msg")
        msgs = [raw] if isinstance(raw, str) else [m for m in raw or () if isinstance(m, str)]
        if isinstance(raw, (str, list)) and msgs:
            out["deny_msg"] = msgs
        return out

    # --- the test input ---------------------------------------------------------------------

    def test_input(self, test: _TestDef) -> Input | None:
        values: list[Any] = []
        for module, body in test.bodies:
            for text in _input_override_texts(module, body):
                value = self.override_value(test, module, text)
                if values and value != values[0]:
                    raise PolicyConfigError(f"multiple input overrides for {test.name}")
                values.append(value)
        if not values:
            return None
        try:
            return Input.from_dict(values[0])
        except InvalidInputError as exc:
            raise InvalidInputError(
                f"failed to decode test input for {test.name}: {exc.message}"
            ) from None

    def prepare(self, tests: Sequence[_TestDef]) -> None:
        """Evaluate every test's ``with input as`` values on one engine, up front.

        Each value becomes a rule of a module in its test module's package, with that
        module's imports, so values may use the package's rules and imported packages.
        A value that does not compile (a variable of the test body, say) would break the
        shared engine, so on any error the values are evaluated one at a time instead.
        """
        pending: dict[tuple[str, str], tuple[_TestDef, ModuleAst]] = {}
        for test in tests:
            for module, body in test.bodies:
                for text in _input_override_texts(module, body):
                    pending.setdefault((module.file, text), (test, module))
        if not pending:
            return
        extra: dict[str, list[str]] = {}
        rules: dict[tuple[str, str], str] = {}
        for i, ((file, text), (test, module)) in enumerate(pending.items()):
            name = f"<test inputs of {file}>"
            if name not in extra:
                extra[name] = [
                    f"package {test.package.removeprefix('data.')}",
                    *import_texts(module),
                ]
            rules[(file, text)] = f"{test.package}.{_OVERRIDE_RULE}_{i}"
            extra[name].append(f"{_OVERRIDE_RULE}_{i} := {text}")
        try:
            engine = RegorusEngine(
                {**self.modules, **{k: "\n".join(v) + "\n" for k, v in extra.items()}},
                builtins=self.builtins,
            )
            for key, query in rules.items():
                value = engine.evaluate(None, query).value
                if value is not UNDEFINED:
                    self._values[key] = value
        except BuildsigError:
            self._values.clear()

    def override_value(self, test: _TestDef, module: ModuleAst, text: str) -> Any:
        """The value of a ``with input as`` expression, in its module's package and imports."""
        known = self._values.get((module.file, text), UNDEFINED)
        if known is not UNDEFINED:
            return known
        src = "\n".join(
            [
                f"package {test.package.removeprefix('data.')}",
                *import_texts(module),
                f"{_OVERRIDE_RULE} := {text}",
                "",
            ]
        )
        modules = {**self.modules, f"<test input of {test.name} in {module.file}>": src}
        try:
            engine = RegorusEngine(modules, builtins=self.builtins)
            value = engine.evaluate(None, f"{test.package}.{_OVERRIDE_RULE}").value
        except BuildsigError as exc:
            raise InvalidInputError(
                f"failed to decode test input for {test.name}: {exc.message}"
            ) from None
        if value is UNDEFINED:
            raise InvalidInputError(
                f"failed to decode test input for {test.name}: `{text}` is undefined"
            )
        return value

    # --- metadata ---------------------------------------------------------------------------

    def resolve(self, inp: Input) -> Input | None:
        """The image input resolved for what the policy reads; None when not an image."""
        source = _image_source(inp)
        if source is None or self.resolver is None:
            return None
        base = source_to_input(source, platform=_input_platform(inp))
        if WHOLE_INPUT in self._all_fields:
            wanted = list(base.unknowns)
        else:
            wanted = needed_unknowns([f"input.{f}" for f in self._all_fields], base.unknowns)
        [out] = self.resolver.resolve_many([(source, base)], wanted) if wanted else [base]
        if not inp.env.is_zero():
            out = dataclasses.replace(out, env=inp.env)
        return out

"""Build policies as CEL expressions, on the ``common-expression-language`` engine.

A CEL policy is a set of named expressions over ``input`` (the Buildx policy input JSON)::

    CelPolicy({
        "allow": 'has(input.local)',
        "allow_signed": 'input.image.hasProvenance && '
                        'input.image.signatures.exists(s, s.kind == "docker-github-builder")',
        "deny_msg": 'allow ? [] : ["unsigned image " + input.image.ref]',
    })

Every expression but ``deny_msg`` is an *allow rule*, a boolean; the source is allowed
when one of them holds (as several ``allow if`` bodies in Rego). ``deny_msg``, optional,
is a list of strings, evaluated with the variable ``allow`` bound to the outcome. A single
string is the policy ``{"allow": expr}``.

Buildx's builtins are CEL functions with the same names and arguments
(``verify_git_signature(input.git.tag, "key.pub")``, ``pin_image(input.image, "sha256:…")``,
``load_json("data.json")``, ``artifact_attestation``, ``github_attestation``,
``verify_http_pgp_signature``). Three outcomes stay apart:

- a rule that reads a field the input does not have, or calls a builtin that has no value
  (:class:`~buildsig.policy.builtins.Undefined`), is *undefined*: an allow rule does not
  hold, whatever ``!`` or ``? :`` surround it, and ``deny_msg`` gives no message. CEL's
  ``||``/``&&`` absorb an undefined operand when the other one decides the result;
- a builtin *error* (a malformed argument, a file outside the policy directory) is raised,
  even when ``||`` absorbed it in CEL: the policy is wrong, and says so;
- any other evaluation error (a type error, an unknown function, an allow rule that is
  not a boolean) is a :class:`~buildsig.errors.PolicyConfigError` naming the rule, as are
  compile errors.

Evaluation is :class:`~buildsig.policy.evaluate.ResolvingPolicy`'s: the ``input.x.y`` paths
the expressions mention are resolved first, runtime unknowns of the builtins re-evaluate,
and a ``pin_image`` converts the source.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

# until common-expression-language is a dependency, mypy may not find it; then unused
import cel  # type: ignore[import-not-found, unused-ignore]

from buildsig.errors import BuildsigError, PolicyConfigError
from buildsig.model import Input
from buildsig.policy.builtins import Builtins, Undefined
from buildsig.policy.evaluate import Decision, ResolvingPolicy
from buildsig.policy.fs import PolicyFS

__all__ = ["DENY_MSG", "CelPolicy", "input_paths"]

DENY_MSG = "deny_msg"
MAX_EXPRESSION_BYTES = 64 * 1024
_RULE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]*")

# A string literal (skipped) or a use of ``input`` with its selectors.
_TOKENS = re.compile(
    r"""
    (?P<string>[rRbB]{0,2}(?:\"\"\"[\s\S]*?\"\"\"|'''[\s\S]*?'''
        |"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'))
    | (?<![\w.])input\b(?P<path>(?:\s*\.\s*[A-Za-z_]\w*
        |\s*\[\s*(?:"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')\s*\])*)(?P<call>\s*\()?
    """,
    re.VERBOSE,
)
_SELECTOR = re.compile(
    r"""\s*\.\s*([A-Za-z_]\w*)|\s*\[\s*("(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')\s*\]"""
)


def input_paths(expression: str) -> frozenset[str]:
    """The ``input`` fields an expression mentions, relative to input (``image.labels``).

    ``""`` (whole input) when ``input`` is used bare (passed to a function, compared).
    A trailing method call (``input.image.host.startsWith(…)``) is not a field.
    """
    out: set[str] = set()
    for m in _TOKENS.finditer(expression):
        if m.group("string") is not None:
            continue
        parts: list[str] = []
        for sel in _SELECTOR.finditer(m.group("path") or ""):
            if sel.group(1) is not None:
                parts.append("." + sel.group(1))
            else:
                key = sel.group(2)[1:-1]
                parts.append(f'["{key}"]')
        if m.group("call") and parts and parts[-1].startswith("."):
            parts.pop()  # a method of the value, not a field
        out.add("".join(parts).removeprefix("."))
    return frozenset(out)


class _Silence(logging.Filter):
    """Drop the engine's log line for builtins that are undefined: an outcome, not a fault."""

    def filter(self, record: logging.LogRecord) -> bool:
        return f"failed: {Undefined.__name__}:" not in record.getMessage()


logging.getLogger("cel").addFilter(_Silence())


class _Outcome:
    """What the builtins did during one expression's evaluation."""

    __slots__ = ("errors", "undefined")

    def __init__(self) -> None:
        self.undefined: list[str] = []
        self.errors: list[Exception] = []


def _wrap(name: str, fn: Callable[..., Any], outcome: _Outcome) -> Callable[..., Any]:
    def call(*args: Any) -> Any:
        try:
            return fn(*args)
        except Undefined:
            outcome.undefined.append(name)
            raise
        except BuildsigError as exc:
            outcome.errors.append(exc)
            raise
        except Exception as exc:  # a wrong argument count or type
            outcome.errors.append(PolicyConfigError(f"{name}: {exc}"))
            raise

    return call


class CelPolicy(ResolvingPolicy):
    """A CEL policy (see the module docs), evaluated to the same Decision as Rego."""

    def __init__(
        self,
        rules: Mapping[str, str] | str,
        *,
        fs: PolicyFS | None = None,
        sigstore_verifier: Any = None,
        http_client: Any = None,
        github_api: str = "https://api.github.com",
    ) -> None:
        super().__init__(
            fs=fs,
            sigstore_verifier=sigstore_verifier,
            http_client=http_client,
            github_api=github_api,
        )
        if isinstance(rules, str):
            rules = {"allow": rules}
        if not isinstance(rules, Mapping):
            raise PolicyConfigError("a CEL policy is a mapping of rule names to expressions")
        self.programs: dict[str, cel.Program] = {}
        fields: set[str] = set()
        given: Mapping[Any, Any] = rules  # checked: callers may pass anything
        for name, expression in given.items():
            if not isinstance(name, str) or not _RULE_NAME.fullmatch(name):
                raise PolicyConfigError(f"invalid CEL rule name {name!r}")
            if not isinstance(expression, str):
                raise PolicyConfigError(f"CEL rule {name!r}: the expression must be a string")
            if len(expression.encode("utf-8")) > MAX_EXPRESSION_BYTES:
                raise PolicyConfigError(
                    f"CEL rule {name!r}: over {MAX_EXPRESSION_BYTES} bytes", source=name
                )
            try:
                self.programs[name] = cel.compile(expression)
            except (ValueError, RuntimeError) as exc:
                raise PolicyConfigError(
                    f"CEL rule {name!r} does not compile: {exc}", source=name
                ) from None
            fields |= input_paths(expression)
        if not any(name != DENY_MSG for name in self.programs):
            raise PolicyConfigError("a CEL policy needs at least one allow rule")
        self.fields = frozenset(fields)

    def run(self, inp: Input, builtins: Builtins) -> Decision:
        """Every allow rule, then ``deny_msg`` with ``allow`` bound."""
        variables: dict[str, Any] = {"input": inp.to_dict()}
        functions = builtins.functions()
        allow = False
        for name, program in self.programs.items():
            if name == DENY_MSG:
                continue
            value = self._run(name, program, variables, functions)
            if value is _UNDEFINED:
                continue  # every rule runs, so all runtime unknowns show in one round
            if not isinstance(value, bool):
                raise PolicyConfigError(
                    f"CEL rule {name!r} must be a boolean, got {type(value).__name__}",
                    source=name,
                )
            if value:
                allow = True
        msgs: tuple[str, ...] = ()
        deny = self.programs.get(DENY_MSG)
        if deny is not None:
            value = self._run(DENY_MSG, deny, {**variables, "allow": allow}, functions)
            if value is not _UNDEFINED:
                if not isinstance(value, list) or not all(isinstance(m, str) for m in value):
                    raise PolicyConfigError(
                        f"CEL rule {DENY_MSG!r} must be a list of strings", source=DENY_MSG
                    )
                msgs = tuple(value)
        return Decision(allow=allow, deny_msg=msgs)

    @staticmethod
    def _run(
        name: str,
        program: cel.Program,
        variables: dict[str, Any],
        functions: Mapping[str, tuple[int, Callable[..., Any]]],
    ) -> Any:
        outcome = _Outcome()
        context = cel.Context(
            variables=variables,
            functions={fn: _wrap(fn, impl, outcome) for fn, (_, impl) in functions.items()},
        )
        try:
            value = program.execute(context)
        except KeyError:  # a field or key the input does not have
            value = _UNDEFINED
        except (RuntimeError, TypeError, ValueError) as exc:
            if outcome.errors:
                raise outcome.errors[0] from None
            if outcome.undefined and "Python function call failed" in str(exc):
                value = _UNDEFINED
            else:
                raise PolicyConfigError(f"CEL rule {name!r}: {exc}", source=name) from None
        if outcome.errors:  # absorbed by || or &&, but the call itself is wrong
            raise outcome.errors[0]
        return value


_UNDEFINED: Any = object()

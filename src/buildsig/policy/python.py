"""Policies in plain Python over the typed input; the evaluation loop other engines share.

A Python policy is a callable ``(input, builtins) -> decision``::

    def policy(inp: Input, b: Builtins) -> bool:
        if inp.image is None:
            return inp.local is not None
        return inp.image.host == "ghcr.io" and any(
            s.signer is not None
            and s.signer.source_repository_uri == "https://github.com/acme/app"
            for s in inp.image.signatures or ()
        )

    PythonPolicy(policy, reads=("image.signatures",)).evaluate(source, inp, resolver=r)

It may return a :class:`~buildsig.policy.evaluate.Decision`, a ``bool`` (allow), a
``(allow, deny_msgs)`` tuple, or a decision object (a mapping, validated as Buildx
validates ``data.docker.decision``). A builtin that has no value raises
:class:`~buildsig.policy.builtins.Undefined`; escaping the policy, it denies, as an
undefined rule body does in Rego. Builtin errors propagate.

The evaluation mirrors :class:`~buildsig.policy.evaluate.PolicyEvaluator`: the unknown
fields the policy reads are resolved first (a Python function cannot be scanned, so it
declares them with ``reads``; by default every unknown field is resolved), the policy
runs, what its builtins asked for at run time is resolved and the policy runs again, and
on allow one ``pin_image`` digest converts the source.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, TypeAlias

from buildsig.errors import PolicyConfigError
from buildsig.model import Input
from buildsig.policy.builtins import Builtins, Undefined
from buildsig.policy.evaluate import MAX_RESOLVE_ROUNDS, Decision, PolicyResult, validate_decision
from buildsig.policy.fs import PolicyFS
from buildsig.source import Source

__all__ = ["WHOLE_INPUT", "PolicyFunction", "PolicyOutcome", "PythonPolicy", "ResolvingPolicy"]

#: A field name meaning "the whole input" (every unknown is needed).
WHOLE_INPUT = ""

PolicyOutcome: TypeAlias = Decision | bool | tuple[bool, Sequence[str]] | Mapping[str, Any]
PolicyFunction: TypeAlias = Callable[[Input, Builtins], PolicyOutcome]


def needed_fields(fields: Collection[str], inp: Input) -> list[str]:
    """The unknown fields of ``inp`` among ``fields`` (dotted paths relative to input)."""
    if WHOLE_INPUT in fields:
        return list(inp.unknowns)
    out: list[str] = []
    for unknown in inp.unknowns:
        for field in fields:
            if (
                unknown == field
                or unknown.startswith(field + ".")  # the policy reads a whole object
                or field.startswith((unknown + ".", unknown + "["))  # or inside one
            ):
                out.append(unknown)
                break
    return out


class ResolvingPolicy:
    """Static needs → evaluate → runtime unknowns → re-evaluate → Decision, for any engine.

    Subclasses say which input fields they read (:attr:`fields`) and how to decide once
    (:meth:`decide`).
    """

    fields: frozenset[str] = frozenset({WHOLE_INPUT})

    def __init__(
        self,
        *,
        fs: PolicyFS | None = None,
        sigstore_verifier: Any = None,
        http_client: Any = None,
        github_api: str = "https://api.github.com",
    ) -> None:
        self.fs = fs
        self._builtin_args: dict[str, Any] = {
            "sigstore_verifier": sigstore_verifier,
            "http_client": http_client,
            "github_api": github_api,
        }

    def decide(self, inp: Input, builtins: Builtins) -> Decision:
        """One evaluation over ``inp`` with ``builtins`` bound to it."""
        raise NotImplementedError

    def needed(self, inp: Input) -> list[str]:
        """The unknown fields of ``inp`` the policy reads (statically)."""
        return needed_fields(self.fields, inp)

    def evaluate(self, source: Source, inp: Input, *, resolver: Any = None) -> PolicyResult:
        """Resolve what is needed (through ``resolver``, if any), decide, pin."""
        resolved: list[str] = []
        for round_ in range(MAX_RESOLVE_ROUNDS + 1):
            builtins = Builtins(inp, fs=self.fs, **self._builtin_args)
            decision = self.decide(inp, builtins)
            pending: list[str] = []
            for field in [*self.needed(inp), *sorted(builtins.unknowns)]:
                if field not in pending and field not in resolved:
                    pending.append(field)
            if not pending or resolver is None or round_ == MAX_RESOLVE_ROUNDS:
                break  # what is still missing leaves its builtin false or undefined
            inp = _resolve(resolver, source, inp, pending, builtins)
            resolved += pending
        converted = _pinned(source, inp, builtins.pins) if decision.allow else ""
        return PolicyResult(
            source=source.identifier,
            input=inp,
            decision=decision,
            converted=converted,
            resolved=tuple(resolved),
        )


def _resolve(
    resolver: Any, source: Source, inp: Input, fields: Sequence[str], builtins: Builtins
) -> Input:
    request = builtins.checksum_request
    if request is not None and inp.http is not None:
        from buildsig.http.resolve import resolve_http_checksum

        return resolve_http_checksum(
            source,
            inp,
            client=resolver._http_client(),
            request=request,
            max_bytes=resolver.options.max_download_bytes,
            deadline=resolver.options.download_deadline,
        )
    [out] = resolver.resolve_many([(source, inp)], list(fields))
    resolved: Input = out
    return resolved


def _pinned(source: Source, inp: Input, pins: Sequence[str]) -> str:
    if not pins:
        return ""
    if len(pins) > 1:
        raise PolicyConfigError(
            f"multiple image pins set to {source.identifier}: {', '.join(pins)}"
        )
    if inp.image is None:  # pragma: no cover - pin_image is False without an image
        return ""
    name = re.sub(r"@sha\d+:[0-9a-f]+$", "", inp.image.ref)
    return f"docker-image://{name}@{pins[0]}"


def as_decision(value: Any) -> Decision:
    """A policy function's outcome as a Decision (PolicyConfigError if it is none)."""
    if isinstance(value, Decision):
        return value
    if isinstance(value, bool):
        return Decision(allow=value)
    if isinstance(value, tuple):
        if (
            len(value) == 2
            and isinstance(value[0], bool)
            and isinstance(value[1], Sequence)
            and not isinstance(value[1], str)
            and all(isinstance(m, str) for m in value[1])
        ):
            return Decision(allow=value[0], deny_msg=tuple(value[1]))
        raise PolicyConfigError("a policy tuple must be (allow: bool, deny_msgs: list[str])")
    if isinstance(value, Mapping):
        return validate_decision(value)
    raise PolicyConfigError(
        f"policy returned {type(value).__name__}; expected a Decision, bool, "
        "(bool, list[str]) or a decision object"
    )


class PythonPolicy(ResolvingPolicy):
    """A policy written as a Python callable over the typed :class:`Input`.

    ``reads`` names the input fields the function reads (``"image.signatures"``,
    ``"git.tag"``), so only those are resolved; ``None`` resolves every unknown field.
    """

    def __init__(
        self,
        func: PolicyFunction,
        *,
        reads: Collection[str] | None = None,
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
        if not callable(func):
            raise PolicyConfigError("a Python policy must be callable")
        self.func = func
        if reads is not None:
            if isinstance(reads, str):
                reads = (reads,)
            self.fields = frozenset(f.removeprefix("input").removeprefix(".") for f in reads)

    def decide(self, inp: Input, builtins: Builtins) -> Decision:
        """Call the function; an :class:`Undefined` escaping it denies."""
        try:
            outcome = self.func(inp, builtins)
        except Undefined:
            return Decision(allow=False)  # an undefined builtin never allows
        return as_decision(outcome)

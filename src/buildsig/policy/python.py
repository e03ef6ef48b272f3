"""Policies in plain Python over the typed input.

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

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, TypeAlias

from buildsig.errors import PolicyConfigError
from buildsig.model import Input
from buildsig.policy.builtins import Builtins, Undefined
from buildsig.policy.evaluate import (
    WHOLE_INPUT,
    Decision,
    ResolvingPolicy,
    validate_decision,
)
from buildsig.policy.fs import PolicyFS

__all__ = ["WHOLE_INPUT", "PolicyFunction", "PolicyOutcome", "PythonPolicy", "ResolvingPolicy"]

PolicyOutcome: TypeAlias = Decision | bool | tuple[bool, Sequence[str]] | Mapping[str, Any]
PolicyFunction: TypeAlias = Callable[[Input, Builtins], PolicyOutcome]


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

    def run(self, inp: Input, builtins: Builtins) -> Decision:
        """Call the function; an :class:`Undefined` escaping it denies."""
        try:
            outcome = self.func(inp, builtins)
        except Undefined:
            return Decision(allow=False)  # an undefined builtin never allows
        return as_decision(outcome)

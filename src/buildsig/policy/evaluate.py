"""Evaluate a Buildx policy for one source: resolve what it reads, run it, check the decision.

The steps, as Buildx takes them:

1. **Evaluate** ``data.docker.decision`` with what is known, the builtins bound to this
   input.
2. **Needs.** The fields the policy reads (its modules are scanned for ``input``
   references; a reference to a whole object, as in ``docker_github_builder(input.image,
   …)``, needs every unknown under it) and what its builtins lacked (``git.commit``
   objects, the ``http.checksum``, a ``content || trailer`` digest) are resolved together,
   in one round, so a policy that reads only ``input.image.ref`` costs no network at all
   and one download answers every HTTP digest.
3. **Evaluate again**, until nothing new is needed (a bounded number of rounds).
4. **The decision** is validated as Buildx validates it (§2.8): an object; ``allow`` a
   boolean (absent is deny); ``deny_msg`` strings; ``caps`` known and boolean.
5. **Pins.** On allow, one ``pin_image`` digest turns the decision into a conversion of
   the source to ``name[:tag]@digest``; two different pins are an error.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from buildsig.errors import PolicyConfigError
from buildsig.model import Input
from buildsig.policy.builtins import Builtins, Undefined
from buildsig.policy.fs import PolicyFS
from buildsig.policy.library import helper_modules
from buildsig.policy.rego import Builtin, RegorusEngine
from buildsig.source import Source

__all__ = [
    "WHOLE_INPUT",
    "Decision",
    "PolicyEvaluator",
    "PolicyResult",
    "ResolvingPolicy",
    "needed_fields",
    "validate_decision",
]

KNOWN_CAPS = ("exec.proxy",)
MAX_RESOLVE_ROUNDS = 4


@dataclasses.dataclass(frozen=True, slots=True)
class Decision:
    """A validated ``data.docker.decision``."""

    allow: bool
    deny_msg: tuple[str, ...] = ()
    caps: Mapping[str, bool] = dataclasses.field(default_factory=dict)


def validate_decision(value: Any) -> Decision:
    """Buildx's checks on the decision value; PolicyConfigError when it is unusable."""
    if value is None or not isinstance(value, Mapping):
        if value is None:
            raise PolicyConfigError("policy returned zero result")
        raise PolicyConfigError(f"policy decision must be an object, got {type(value).__name__}")
    allow = value.get("allow", False)
    if not isinstance(allow, bool):
        raise PolicyConfigError(
            f"invalid allow property type {type(allow).__name__}, expected boolean"
        )
    raw_msgs = value.get("deny_msg", [])
    msgs = tuple(m for m in raw_msgs if isinstance(m, str)) if isinstance(raw_msgs, list) else ()
    caps: dict[str, bool] = {}
    raw_caps = value.get("caps")
    if raw_caps is not None:
        if not isinstance(raw_caps, Mapping):
            raise PolicyConfigError("invalid caps property type, expected object")
        for key, flag in raw_caps.items():
            if key not in KNOWN_CAPS:
                raise PolicyConfigError(f'unknown policy cap "{key}"')
            if not isinstance(flag, bool):
                raise PolicyConfigError(
                    f"invalid caps.{key} property type {type(flag).__name__}, expected boolean"
                )
            caps[key] = flag
    return Decision(allow=allow, deny_msg=msgs, caps=caps)


@dataclasses.dataclass(frozen=True, slots=True)
class PolicyResult:
    """What evaluating one source produced."""

    source: str
    input: Input  # as resolved for the policy
    decision: Decision
    converted: str = ""  # the pinned identifier, when pin_image converted the source
    prints: tuple[str, ...] = ()
    resolved: tuple[str, ...] = ()  # the unknown fields that had to be resolved
    failures: tuple[str, ...] = ()  # verifications that made a builtin undefined


#: A field name meaning "the whole input" (every unknown is needed).
WHOLE_INPUT = ""


def needed_fields(fields: Collection[str], inp: Input) -> list[str]:
    """The unknown fields of ``inp`` among ``fields`` (dotted paths relative to input).

    A field needs an unknown when they are equal, when the field lies inside the unknown,
    or when the field is an object holding the unknown (``image.provenance`` needs
    ``image.provenance.materials…``). A bare top-level key (``input.image`` alone) is an
    existence check and needs nothing: the scan follows ``input.image`` into the policy's
    own functions (``docker_github_builder`` reports ``image.signatures``), and a builtin
    given a whole object records what it lacks at run time.
    """
    if WHOLE_INPUT in fields:
        return list(inp.unknowns)
    out: list[str] = []
    for unknown in inp.unknowns:
        for field in fields:
            nested = "." in field or "[" in field
            if (
                unknown == field
                or (nested and unknown.startswith(field + "."))
                or field.startswith((unknown + ".", unknown + "["))
            ):
                out.append(unknown)
                break
    return out


class ResolvingPolicy:
    """The evaluation loop every engine shares (Rego, CEL, plain Python).

    Evaluate with what is known; fetch, in one round, everything the policy showed it
    needs (the fields it reads, :attr:`fields`, and what its builtins asked for); evaluate
    again, a bounded number of times; conclude with a validated decision and, on allow,
    the ``pin_image`` conversion. Subclasses implement :meth:`run` (one evaluation) and
    may override :meth:`conclude` (turn the last run into a decision).
    """

    fields: frozenset[str] = frozenset({WHOLE_INPUT})

    def __init__(
        self,
        *,
        fs: PolicyFS | None = None,
        sigstore_verifier: Any = None,
        http_client: Any = None,
        github_api: str = "https://api.github.com",
        resolver: Any = None,
    ) -> None:
        self.fs = fs
        self.resolver = resolver
        self._builtin_args: dict[str, Any] = {
            "sigstore_verifier": sigstore_verifier,
            "http_client": http_client,
            "github_api": github_api,
        }

    def run(self, inp: Input, builtins: Builtins) -> Any:
        """One evaluation over ``inp`` with ``builtins`` bound to it (engine specific)."""
        raise NotImplementedError

    def conclude(self, outcome: Any) -> tuple[Decision, tuple[str, ...]]:
        """The decision (and print lines) of the last :meth:`run`."""
        if not isinstance(outcome, Decision):
            raise PolicyConfigError(f"policy outcome {type(outcome).__name__} is not a Decision")
        return outcome, ()

    def needed(self, inp: Input) -> list[str]:
        """The unknown fields of ``inp`` the policy reads (statically)."""
        return needed_fields(self.fields, inp)

    def evaluate(self, source: Source, inp: Input, *, resolver: Any = None) -> PolicyResult:
        """Resolve what is needed, decide, validate, pin.

        ``resolver`` defaults to the one given at construction; without any, unknown
        fields stay unknown.
        """
        resolver = resolver if resolver is not None else self.resolver
        resolved: list[str] = []
        for round_ in range(MAX_RESOLVE_ROUNDS + 1):
            builtins = Builtins(inp, fs=self.fs, **self._builtin_args)
            outcome = self.run(inp, builtins)
            pending: list[str] = []
            for field in [*self.needed(inp), *sorted(builtins.unknowns)]:
                if field not in pending and field not in resolved:
                    pending.append(field)
            if not pending or resolver is None or round_ == MAX_RESOLVE_ROUNDS:
                # what is still missing leaves its builtin false or undefined: never allow
                break
            inp = _resolve(resolver, source, inp, pending, builtins)
            resolved += pending
        decision, prints = self.conclude(outcome)
        converted = _pinned(source, inp, builtins.pins) if decision.allow else ""
        return PolicyResult(
            source=source.identifier,
            input=inp,
            decision=decision,
            converted=converted,
            prints=prints,
            resolved=tuple(resolved),
            failures=tuple(builtins.failures),
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


def _unbound(*_args: Any) -> Any:
    raise PolicyConfigError("builtin called outside an evaluation")


class PolicyEvaluator(ResolvingPolicy):
    """A Rego policy (its modules and directory), evaluated for any number of sources.

    ``resolver`` (a :class:`buildsig.resolver.Resolver`) fetches what the policy needs;
    without one, unresolved fields stay unknown and the builtins that need them are
    undefined, as in an offline evaluation of a recorded input.
    """

    def __init__(
        self,
        modules: Mapping[str, str],
        *,
        fs: PolicyFS | None = None,
        data: Mapping[str, Any] | None = None,
        resolver: Any = None,
        sigstore_verifier: Any = None,
        http_client: Any = None,
        github_api: str = "https://api.github.com",
        with_helpers: bool = True,
    ) -> None:
        super().__init__(
            fs=fs,
            sigstore_verifier=sigstore_verifier,
            http_client=http_client,
            github_api=github_api,
            resolver=resolver,
        )
        all_modules = {**(helper_modules() if with_helpers else {}), **modules}
        names = Builtins(Input()).functions()
        self.engine = RegorusEngine(
            all_modules,
            data=data,
            builtins=[
                Builtin(name, nargs, _unbound, undefined_on=(Undefined,))
                for name, (nargs, _) in names.items()
            ],
        )
        self.fields = self.engine.input_fields()

    def run(self, inp: Input, builtins: Builtins) -> Any:
        """Evaluate ``data.docker.decision`` with the builtins bound to ``inp``."""
        overrides = {name: fn for name, (_, fn) in builtins.functions().items()}
        return self.engine.evaluate(inp.to_dict(), overrides=overrides)

    def conclude(self, outcome: Any) -> tuple[Decision, tuple[str, ...]]:
        """Buildx's checks on the final ``data.docker.decision`` (undefined: zero result)."""
        value = outcome.value if outcome.defined else None
        return validate_decision(value), tuple(outcome.prints)

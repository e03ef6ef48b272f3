"""Evaluate a Buildx policy for one source: resolve what it reads, run it, check the decision.

The steps, as Buildx takes them:

1. **Static needs.** The policy's modules are scanned for the ``input`` fields they read;
   the source's unknown fields among them are resolved first (a policy that reads only
   ``input.image.ref`` costs no network at all). A reference to a whole object
   (``docker_github_builder(input.image, …)``) needs every unknown under it.
2. **Evaluate** ``data.docker.decision`` with the builtins bound to this input.
3. **Runtime needs.** Builtins that lacked metadata (``git.commit`` objects, the
   ``http.checksum``, a ``content || trailer`` digest) recorded it; it is resolved and the
   policy evaluated again, a bounded number of times.
4. **The decision** is validated as Buildx validates it (§2.8): an object; ``allow`` a
   boolean (absent is deny); ``deny_msg`` strings; ``caps`` known and boolean.
5. **Pins.** On allow, one ``pin_image`` digest turns the decision into a conversion of
   the source to ``name[:tag]@digest``; two different pins are an error.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import Any

from buildsig.errors import PolicyConfigError
from buildsig.model import Input
from buildsig.policy.builtins import Builtins, Undefined
from buildsig.policy.fs import PolicyFS
from buildsig.policy.library import helper_modules
from buildsig.policy.rego import Builtin, RegorusEngine
from buildsig.source import Source

__all__ = ["Decision", "PolicyEvaluator", "PolicyResult", "validate_decision"]

KNOWN_CAPS = ("exec.proxy",)
MAX_RESOLVE_ROUNDS = 4
_WHOLE_INPUT = ""


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


def _unbound(*_args: Any) -> Any:
    raise PolicyConfigError("builtin called outside an evaluation")


class PolicyEvaluator:
    """One policy (its modules and directory), evaluated for any number of sources.

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
        self.fs = fs
        self.resolver = resolver
        self._builtin_args = {
            "sigstore_verifier": sigstore_verifier,
            "http_client": http_client,
            "github_api": github_api,
        }
        self.fields = self.engine.input_fields()

    def needed(self, inp: Input) -> list[str]:
        """The unknown fields of ``inp`` the policy reads (statically)."""
        if _WHOLE_INPUT in self.fields:
            return list(inp.unknowns)
        out: list[str] = []
        for unknown in inp.unknowns:
            for field in self.fields:
                if (
                    unknown == field
                    or unknown.startswith(field + ".")  # the policy reads a whole object
                    or field.startswith((unknown + ".", unknown + "["))  # or inside one
                ):
                    out.append(unknown)
                    break
        return out

    def evaluate(self, source: Source, inp: Input) -> PolicyResult:
        """Resolve, evaluate and validate the decision for one source."""
        resolved: list[str] = []
        for round_ in range(MAX_RESOLVE_ROUNDS + 1):
            # Evaluate with what is known, then fetch everything the policy showed it needs
            # (fields it reads, and what its builtins asked for) in one go, and again: the
            # first pass is cheap and lets one download answer every HTTP digest at once.
            builtins = Builtins(inp, fs=self.fs, **self._builtin_args)
            overrides = {name: fn for name, (_, fn) in builtins.functions().items()}
            result = self.engine.evaluate(inp.to_dict(), overrides=overrides)
            pending: list[str] = []
            for field in [*self.needed(inp), *sorted(builtins.unknowns)]:
                if field not in pending and field not in resolved:
                    pending.append(field)
            if not pending or self.resolver is None or round_ == MAX_RESOLVE_ROUNDS:
                # what is still missing leaves its builtin false or undefined: never allow
                break
            inp = self._resolve(source, inp, pending, builtins)
            resolved += pending
        decision = validate_decision(None if not result.defined else result.value)
        converted = ""
        if decision.allow:
            converted = self._pinned(source, inp, builtins.pins)
        return PolicyResult(
            source=source.identifier,
            input=inp,
            decision=decision,
            converted=converted,
            prints=result.prints,
            resolved=tuple(resolved),
        )

    def _resolve(
        self, source: Source, inp: Input, fields: Sequence[str], builtins: Builtins | None = None
    ) -> Input:
        request = builtins.checksum_request if builtins is not None else None
        if request is not None and inp.http is not None:
            from buildsig.http.resolve import resolve_http_checksum

            return resolve_http_checksum(
                source,
                inp,
                client=self.resolver._http_client(),
                request=request,
                max_bytes=self.resolver.options.max_download_bytes,
                deadline=self.resolver.options.download_deadline,
            )
        [out] = self.resolver.resolve_many([(source, inp)], list(fields))
        resolved: Input = out
        return resolved

    @staticmethod
    def _pinned(source: Source, inp: Input, pins: Sequence[str]) -> str:
        if not pins:
            return ""
        if len(pins) > 1:
            raise PolicyConfigError(
                f"multiple image pins set to {source.identifier}: {', '.join(pins)}"
            )
        image = inp.image
        if image is None:  # pragma: no cover - pin_image is False without an image
            return ""
        name = re.sub(r"@sha\d+:[0-9a-f]+$", "", image.ref)
        return f"docker-image://{name}@{pins[0]}"

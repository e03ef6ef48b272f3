"""Check a whole Dockerfile: every source it uses, judged by every policy that applies.

This is what a build does before anything runs, done without a builder: the Dockerfile's
sources are listed as BuildKit's frontend names them (:mod:`buildsig.policy.dockerfile`),
each becomes its policy input (with the build's args, target and platform in ``env``),
and each policy evaluates it, fetching only what it reads. A source is allowed only if
every policy allows it; a pin turns it into a conversion.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence

from buildsig.errors import BuildsigError
from buildsig.model import Env
from buildsig.policy.dockerfile import DockerfileSource, dockerfile_sources
from buildsig.policy.evaluate import PolicyEvaluator, PolicyResult
from buildsig.policy.source import SourcePolicy, SourcePolicyEngine
from buildsig.source import Source, source_to_input

__all__ = ["CheckReport", "SourceVerdict", "check_dockerfile"]

MAX_DOCKERFILE_BYTES = 1024 * 1024


@dataclasses.dataclass(frozen=True, slots=True)
class SourceVerdict:
    """One source of the Dockerfile and what the policies said."""

    source: DockerfileSource
    allow: bool
    deny_msg: tuple[str, ...] = ()
    converted: str = ""
    error: str = ""  # the source could not be judged (the build would fail on it too)
    results: tuple[tuple[str, PolicyResult], ...] = ()  # (policy name, result)

    @property
    def decision(self) -> str:
        """ALLOW, DENY, CONVERT or ERROR."""
        if self.error:
            return "ERROR"
        if not self.allow:
            return "DENY"
        return "CONVERT" if self.converted else "ALLOW"


@dataclasses.dataclass(frozen=True, slots=True)
class CheckReport:
    """Every source's verdict, in Dockerfile order."""

    dockerfile: str
    verdicts: tuple[SourceVerdict, ...]

    @property
    def allowed(self) -> bool:
        """Whether the build may proceed: every source allowed (or converted)."""
        return all(v.allow and not v.error for v in self.verdicts)


def check_dockerfile(
    dockerfile: str,
    evaluators: Sequence[tuple[str, PolicyEvaluator]],
    *,
    build_args: Mapping[str, str] | None = None,
    target: str | None = None,
    platform: str | None = None,
    text: str | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    source_policies: Sequence[SourcePolicy] = (),
) -> CheckReport:
    """Judge every source of ``dockerfile`` with every ``(name, evaluator)``.

    ``source_policies`` are BuildKit source policies (``--source-policy-file``,
    ``EXPERIMENTAL_BUILDKIT_SOURCE_POLICY``); as in BuildKit they run first, so a source
    they deny is denied before any policy reads it, and a source they convert (a pin) is
    judged in its converted form.

    A source that cannot be judged (unreachable, malformed metadata) is an ``ERROR``
    verdict with the reason, not an exception: the report shows every source.
    """
    if text is None:
        with open(dockerfile, "rb") as fh:
            raw = fh.read(MAX_DOCKERFILE_BYTES + 1)
        text = raw.decode("utf-8", errors="replace")
    args = dict(build_args or {})
    sources = dockerfile_sources(text, build_args=args, target=target, platform=platform)
    env = Env(
        args=args,
        filename=os.path.basename(dockerfile) or "Dockerfile",
        target=target or "",
    )
    static = SourcePolicyEngine(source_policies) if source_policies else None
    verdicts: list[SourceVerdict] = []
    for position, found in enumerate(sources):
        if progress is not None:
            progress(position, len(sources), found.identifier)
        verdicts.append(_judge(found, evaluators, env, platform, static))
    if progress is not None:
        progress(len(sources), len(sources), "")
    return CheckReport(dockerfile=dockerfile, verdicts=tuple(verdicts))


def _judge(
    found: DockerfileSource,
    evaluators: Sequence[tuple[str, PolicyEvaluator]],
    env: Env,
    platform: str | None,
    static: SourcePolicyEngine | None = None,
) -> SourceVerdict:
    source = Source(found.identifier, attrs=dict(found.attrs))
    statically_converted = ""
    try:
        if static is not None:
            ruled = static.evaluate(source.identifier, source.attrs)
            if not ruled.allowed:
                return SourceVerdict(source=found, allow=False, deny_msg=ruled.messages[-1:])
            if ruled.identifier != source.identifier:
                statically_converted = ruled.identifier
            source = Source(ruled.identifier, attrs=ruled.attrs)
        inp = source_to_input(source, platform=found.platform or platform, env=env)
        results = tuple((name, ev.evaluate(source, inp)) for name, ev in evaluators)
    except BuildsigError as exc:
        return SourceVerdict(source=found, allow=False, error=f"{type(exc).__name__}: {exc}")
    denied = [r for _, r in results if not r.decision.allow]
    converted = next((r.converted for _, r in results if r.converted), statically_converted)
    return SourceVerdict(
        source=found,
        allow=not denied,
        deny_msg=tuple(m for r in denied for m in r.decision.deny_msg),
        converted=converted if not denied else "",
        results=results,
    )

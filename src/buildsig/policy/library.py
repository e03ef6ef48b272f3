"""The Rego modules buildsig ships: Buildx's helper functions and its default policy.

``helpers.rego`` defines, in ``package docker``, the functions every Buildx policy can
call (``docker_github_builder``, ``docker_github_builder_tag``,
``docker_github_builder_signature``, ``docker_github_builder_bundle``,
``github_release_attestation``); load it with every user policy. ``default.rego`` is
Buildx's opt-in default policy (``BUILDX_DEFAULT_POLICY``): Docker's own build images
(``docker/dockerfile``, ``moby/buildkit`` …) must carry a Docker GitHub builder signature;
it is evaluated on its own, with the helpers. Both are written for buildsig from Buildx's
documented rules (``buildx-policy.md`` §2.10 and §2.11).
"""

from __future__ import annotations

from importlib import resources

__all__ = ["DEFAULT_POLICY_FILE", "HELPERS_FILE", "default_policy_modules", "helper_modules"]

HELPERS_FILE = "buildsig/helpers.rego"
DEFAULT_POLICY_FILE = "buildsig/default.rego"


def _read(name: str) -> str:
    return (resources.files("buildsig.policy") / "lib" / name).read_text(encoding="utf-8")


def helper_modules() -> dict[str, str]:
    """The helper functions, as a module map to add to any policy's modules."""
    return {HELPERS_FILE: _read("helpers.rego")}


def default_policy_modules() -> dict[str, str]:
    """The default policy and the helpers it uses, ready to evaluate on their own."""
    return {DEFAULT_POLICY_FILE: _read("default.rego"), **helper_modules()}

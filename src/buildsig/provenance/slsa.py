"""SLSA provenance (v0.2 and v1) normalised into Buildx's ``input.image.provenance``.

BuildKit attaches SLSA provenance to the images it builds; Buildx flattens either version
into one :class:`~buildsig.model.ImageProvenance` so a policy can ask "which builder,
which frontend, which build arguments, built from what" without caring about the
version. The mapping (``shared/reference/buildx-policy.md`` §5.2, Buildx
``policy/provenance.go``):

* ``buildType``: v1 ``buildDefinition.buildType``; v0.2 ``buildType``;
* ``builderID``: v1 ``runDetails.builder.id``; v0.2 ``builder.id``;
* ``invocationID``: v1 ``runDetails.metadata.invocationId``; v0.2
  ``metadata.buildInvocationID``;
* ``startedOn``/``finishedOn``: v1 ``runDetails.metadata.startedOn``/``finishedOn``; v0.2
  ``metadata.buildStartedOn``/``buildFinishedOn``;
* ``configSource`` {uri, digest, path}: v1
  ``buildDefinition.externalParameters.configSource.{uri,digest,path}``; v0.2
  ``invocation.configSource.{uri,digest,entryPoint}``;
* ``frontend``, ``rawArgs``: v1 ``externalParameters.request.{frontend,args}``; v0.2
  ``invocation.parameters.{frontend,args}``;
* ``reproducible``: v1 ``metadata.buildkit_reproducible``; v0.2 ``metadata.reproducible``;
* ``hermetic``: v1 ``metadata.buildkit_hermetic``; v0.2
  ``metadata["https://mobyproject.org/buildkit@v1#hermetic"]``;
* ``completeness``: v1 ``metadata.buildkit_completeness`` (``request`` → parameters,
  ``resolvedDependencies`` → materials); v0.2 ``metadata.completeness`` (parameters,
  environment, materials);
* ``materials``: v1 ``buildDefinition.resolvedDependencies[]``; v0.2 ``materials[]``.

The predicate is decoded with Go's rules, because that is what Buildx does
(:mod:`buildsig.provenance._gojson`): keys match case-insensitively, and a value of the
wrong type in any field Buildx's Go types declare (a non-RFC 3339 timestamp, a number
for a string, …) means *no provenance* (``None``), not an error. Times become UTC RFC 3339
with whole seconds; ``buildArgs`` are the ``build-arg:<NAME>`` entries of ``rawArgs``;
``configSource`` is always present; ``reproducible``, ``hermetic`` and ``completeness``
are present (possibly ``false``) exactly when the metadata object is; the completeness
``environment`` claim exists only in v0.2. A predicate naming neither a build type nor a
builder is no provenance either.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, Final

from buildsig._internal.platform import Platform
from buildsig.model import ImageProvenance, ProvenanceCompleteness, ProvenanceConfigSource
from buildsig.provenance import _gojson as go
from buildsig.provenance._gojson import (
    ANY,
    BOOL,
    BYTES,
    INT,
    OPAQUE_ARRAY,
    OPAQUE_OBJECT,
    STR,
    TIME,
    GoDecodeError,
    ListOf,
    MapOf,
    Ptr,
    Struct,
)
from buildsig.provenance.materials import RawMaterial, build_materials

__all__ = [
    "PREDICATE_SLSA_V02",
    "PREDICATE_SLSA_V1",
    "PROVENANCE_PREDICATE_TYPES",
    "ProvenanceResult",
    "parse_provenance",
    "parse_provenance_result",
]

#: SLSA provenance v0.2 predicate type (BuildKit's default until early 2026).
PREDICATE_SLSA_V02: Final = "https://slsa.dev/provenance/v0.2"
#: SLSA provenance v1 predicate type.
PREDICATE_SLSA_V1: Final = "https://slsa.dev/provenance/v1"
#: The predicate types Buildx reads provenance from, newest first.
PROVENANCE_PREDICATE_TYPES: Final = (PREDICATE_SLSA_V1, PREDICATE_SLSA_V02)

_HERMETIC_V02: Final = "https://mobyproject.org/buildkit@v1#hermetic"
_METADATA_V02: Final = "https://mobyproject.org/buildkit@v1#metadata"


# --- the Go types Buildx decodes into (BuildKit provenance/types, in-toto-golang) -----------
# Struct fields shadowed by an outer field of the same JSON name are left out; the LLB
# build definition and BuildKit's metadata blob are checked only for being objects.

_RESOURCE_DESCRIPTOR = Struct(
    "ResourceDescriptor",
    {
        "uri": STR,
        "digest": MapOf(STR),
        "name": STR,
        "downloadLocation": STR,
        "mediaType": STR,
        "content": BYTES,
        "annotations": MapOf(ANY),
    },
)
_CONFIG_SOURCE_V1 = Struct(
    "ProvenanceConfigSourceSLSA1", {"uri": STR, "digest": MapOf(STR), "path": STR}
)
_PARAMETERS = Struct("Parameters")
_REQUEST_PROVENANCE = Struct(
    "RequestProvenance", {"configSource": _CONFIG_SOURCE_V1, "request": Ptr(_PARAMETERS)}
)
_PARAMETERS.fields.update(
    {
        "frontend": STR,
        "args": MapOf(STR),
        "secrets": ListOf(Ptr(Struct("Secret", {"id": STR, "optional": BOOL}))),
        "ssh": ListOf(Ptr(Struct("SSH", {"id": STR, "optional": BOOL}))),
        "locals": ListOf(Ptr(Struct("LocalSource", {"name": STR}))),
        "inputs": MapOf(Ptr(_REQUEST_PROVENANCE)),
        "root": Ptr(_REQUEST_PROVENANCE),
        "compatibilityVersion": INT,
    }
)
_BUILD_CONFIG = Struct(
    "BuildConfig",
    {
        "llbDefinition": ListOf(
            Struct(
                "BuildStep",
                {
                    "id": STR,
                    "op": OPAQUE_OBJECT,
                    "inputs": ListOf(STR),
                    "resourceUsage": OPAQUE_OBJECT,
                },
            )
        ),
        "digestMapping": MapOf(STR),
    },
)
_BUILDKIT_METADATA = Struct(
    "BuildKitMetadata",
    {
        "vcs": MapOf(STR),
        "source": OPAQUE_OBJECT,
        "layers": OPAQUE_OBJECT,
        "sysUsage": OPAQUE_ARRAY,
        "network": OPAQUE_OBJECT,
    },
)
_CUSTOM_ENV = MapOf(ANY)  # the embedded ProvenanceCustomEnv map keeps its Go type name

_PREDICATE_V1 = Struct(
    "ProvenancePredicateSLSA1",
    {
        "buildDefinition": Struct(
            "ProvenanceBuildDefinitionSLSA1",
            {
                "buildType": STR,
                "externalParameters": Struct(
                    "ProvenanceExternalParametersSLSA1",
                    {"configSource": _CONFIG_SOURCE_V1, "request": _PARAMETERS},
                ),
                "internalParameters": Struct(
                    "ProvenanceInternalParametersSLSA1",
                    {
                        "buildConfig": Ptr(_BUILD_CONFIG),
                        "builderPlatform": STR,
                        "dockerfileVersion": STR,
                        "ProvenanceCustomEnv": _CUSTOM_ENV,
                    },
                ),
                "resolvedDependencies": ListOf(_RESOURCE_DESCRIPTOR),
            },
        ),
        "runDetails": Struct(
            "ProvenanceRunDetailsSLSA1",
            {
                "builder": Struct(
                    "Builder",
                    {
                        "id": STR,
                        "version": MapOf(STR),
                        "builderDependencies": ListOf(_RESOURCE_DESCRIPTOR),
                    },
                ),
                "metadata": Ptr(
                    Struct(
                        "ProvenanceMetadataSLSA1",
                        {
                            "invocationId": STR,
                            "startedOn": TIME,
                            "finishedOn": TIME,
                            "buildkit_metadata": _BUILDKIT_METADATA,
                            "buildkit_hermetic": BOOL,
                            "buildkit_completeness": Struct(
                                "BuildKitComplete",
                                {"request": BOOL, "resolvedDependencies": BOOL},
                            ),
                            "buildkit_reproducible": BOOL,
                        },
                    )
                ),
                "byproducts": ListOf(_RESOURCE_DESCRIPTOR),
            },
        ),
    },
)

_PREDICATE_V02 = Struct(
    "ProvenancePredicateSLSA02",
    {
        "builder": Struct("ProvenanceBuilder", {"id": STR}),
        "buildType": STR,
        "invocation": Struct(
            "ProvenanceInvocationSLSA02",
            {
                "configSource": Struct(
                    "ConfigSource", {"uri": STR, "digest": MapOf(STR), "entryPoint": STR}
                ),
                "parameters": _PARAMETERS,
                "environment": Struct(
                    "Environment",
                    {
                        "platform": STR,
                        "dockerfileVersion": STR,
                        "ProvenanceCustomEnv": _CUSTOM_ENV,
                    },
                ),
            },
        ),
        "buildConfig": Ptr(_BUILD_CONFIG),
        "metadata": Ptr(
            Struct(
                "ProvenanceMetadataSLSA02",
                {
                    "buildInvocationID": STR,
                    "buildStartedOn": TIME,
                    "buildFinishedOn": TIME,
                    "completeness": Struct(
                        "ProvenanceComplete",
                        {"parameters": BOOL, "environment": BOOL, "materials": BOOL},
                    ),
                    "reproducible": BOOL,
                    _METADATA_V02: _BUILDKIT_METADATA,
                    _HERMETIC_V02: BOOL,
                },
            )
        ),
        "materials": ListOf(Struct("ProvenanceMaterial", {"uri": STR, "digest": MapOf(STR)})),
    },
)


# --- results ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class ProvenanceResult:
    """Parsed provenance plus what a resolver needs later.

    ``raw_materials[i]`` is the material behind ``provenance.materials[i]`` (Buildx keeps
    the same list hidden in ``ImageProvenance``): resolving that child means building
    :func:`~buildsig.provenance.materials.material_source` of it with its metadata.
    ``warnings`` names materials that were dropped as unsupported, for the caller to log.
    """

    provenance: ImageProvenance
    raw_materials: tuple[RawMaterial, ...] = ()
    warnings: tuple[str, ...] = ()


def _str(obj: Any, name: str) -> str:
    value = go.field(obj, name, STR)
    return value if isinstance(value, str) else ""


def _bool(obj: Any, name: str) -> bool:
    return go.field(obj, name, BOOL) is True


def _str_map(obj: Any, name: str) -> dict[str, str]:
    value = go.field(obj, name)
    return dict(value) if isinstance(value, dict) else {}


def _time(obj: Any, name: str) -> str:
    value = go.field(obj, name)
    return value if isinstance(value, str) else ""


def _build_args(raw_args: Mapping[str, str]) -> dict[str, str]:
    """``build-arg:<NAME>`` entries with the prefix removed; empty names are dropped."""
    prefix = "build-arg:"
    return {
        k[len(prefix) :]: v for k, v in raw_args.items() if k.startswith(prefix) and k != prefix
    }


def _raw_materials(items: Any) -> list[RawMaterial]:
    return [
        RawMaterial(uri=_str(item, "uri"), digest=_str_map(item, "digest"))
        for item in go.as_sequence(items)
    ]


def _decode_v1(predicate: Any) -> tuple[dict[str, Any], list[RawMaterial]] | None:
    pred = go.decode(_PREDICATE_V1, predicate)
    definition = go.field(pred, "buildDefinition", _PREDICATE_V1.fields["buildDefinition"])
    run = go.field(pred, "runDetails", _PREDICATE_V1.fields["runDetails"])
    build_type = _str(definition, "buildType")
    builder_id = _str(go.field(run, "builder"), "id")
    if not build_type and not builder_id:
        return None
    external = go.field(definition, "externalParameters")
    config = go.field(external, "configSource")
    request = go.field(external, "request")
    raw_args = _str_map(request, "args")
    fields: dict[str, Any] = {
        "predicate_type": PREDICATE_SLSA_V1,
        "build_type": build_type,
        "builder_id": builder_id,
        "config_source": ProvenanceConfigSource(
            uri=_str(config, "uri"), digest=_str_map(config, "digest"), path=_str(config, "path")
        ),
        "frontend": _str(request, "frontend"),
        "build_args": _build_args(raw_args),
        "raw_args": raw_args,
    }
    metadata = go.field(run, "metadata")
    if isinstance(metadata, dict):
        complete = go.field(metadata, "buildkit_completeness")
        fields.update(
            invocation_id=_str(metadata, "invocationId"),
            started_on=_time(metadata, "startedOn"),
            finished_on=_time(metadata, "finishedOn"),
            reproducible=_bool(metadata, "buildkit_reproducible"),
            hermetic=_bool(metadata, "buildkit_hermetic"),
            completeness=ProvenanceCompleteness(
                parameters=_bool(complete, "request"),
                materials=_bool(complete, "resolvedDependencies"),
            ),
        )
    return fields, _raw_materials(go.field(definition, "resolvedDependencies"))


def _decode_v02(predicate: Any) -> tuple[dict[str, Any], list[RawMaterial]] | None:
    pred = go.decode(_PREDICATE_V02, predicate)
    build_type = _str(pred, "buildType")
    builder_id = _str(go.field(pred, "builder"), "id")
    if not build_type and not builder_id:
        return None
    invocation = go.field(pred, "invocation")
    config = go.field(invocation, "configSource")
    parameters = go.field(invocation, "parameters")
    raw_args = _str_map(parameters, "args")
    fields: dict[str, Any] = {
        "predicate_type": PREDICATE_SLSA_V02,
        "build_type": build_type,
        "builder_id": builder_id,
        "config_source": ProvenanceConfigSource(
            uri=_str(config, "uri"),
            digest=_str_map(config, "digest"),
            path=_str(config, "entryPoint"),
        ),
        "frontend": _str(parameters, "frontend"),
        "build_args": _build_args(raw_args),
        "raw_args": raw_args,
    }
    metadata = go.field(pred, "metadata")
    if isinstance(metadata, dict):
        complete = go.field(metadata, "completeness")
        fields.update(
            invocation_id=_str(metadata, "buildInvocationID"),
            started_on=_time(metadata, "buildStartedOn"),
            finished_on=_time(metadata, "buildFinishedOn"),
            reproducible=_bool(metadata, "reproducible"),
            hermetic=_bool(metadata, _HERMETIC_V02),
            completeness=ProvenanceCompleteness(
                parameters=_bool(complete, "parameters"),
                environment=_bool(complete, "environment"),
                materials=_bool(complete, "materials"),
            ),
        )
    return fields, _raw_materials(go.field(pred, "materials"))


def _is_json_object_or_null(value: object) -> bool:
    return value is None or isinstance(value, Mapping)


def parse_provenance_result(
    predicate_type: str,
    predicate: Mapping[str, Any],
    *,
    platform: Platform | str | None = None,
    depth: int = 0,
    path_keys: Sequence[str] = (),
) -> ProvenanceResult | None:
    """Parse a SLSA predicate into :class:`ProvenanceResult`, or None for "no provenance".

    ``predicate_type`` selects the mapping (only the two SLSA provenance types are
    understood; anything else is None). ``platform`` is the platform of the image the
    provenance belongs to, inherited by image materials without a platform of their own;
    ``depth`` and ``path_keys`` place the image in a material tree (see
    :func:`~buildsig.provenance.materials.build_materials`).

    Malformed predicates never raise: Buildx treats them as absent provenance, and so
    does this. The only error is :class:`~buildsig.errors.InvalidInputError` when the
    materials would nest deeper than the limit (or ``platform`` is not a platform).
    """
    decoder = {PREDICATE_SLSA_V1: _decode_v1, PREDICATE_SLSA_V02: _decode_v02}.get(predicate_type)
    if decoder is None or not _is_json_object_or_null(predicate):
        return None
    try:
        decoded = decoder(predicate)
    except GoDecodeError:
        return None
    if decoded is None:
        return None
    fields, raw = decoded
    materials = build_materials(raw, platform, depth=depth, path_keys=path_keys)
    provenance = ImageProvenance(materials=materials.inputs, **fields)
    return ProvenanceResult(
        provenance=provenance, raw_materials=materials.raw, warnings=materials.warnings
    )


def parse_provenance(
    predicate_type: str,
    predicate: Mapping[str, Any],
    *,
    platform: Platform | str | None = None,
    depth: int = 0,
    path_keys: Sequence[str] = (),
) -> ImageProvenance | None:
    """Parse a SLSA v0.2 or v1 predicate into Buildx's ``ImageProvenance`` (None if absent).

    The same as :func:`parse_provenance_result` without the raw materials and warnings;
    use that one when a resolver may need to expand materials later.
    """
    result = parse_provenance_result(
        predicate_type, predicate, platform=platform, depth=depth, path_keys=path_keys
    )
    return None if result is None else result.provenance

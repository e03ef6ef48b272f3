"""Build provenance: in-toto statements, SLSA predicates and their materials, as Buildx sees them.

A policy can ask about the provenance BuildKit attached to an image
(``input.image.provenance``): who built it, with which frontend and arguments, and from
which materials, each of them a nested policy input of its own. This package produces
exactly that, offline, from the attestation blobs an image resolver fetched:

* :func:`parse_statement` reads and validates an in-toto Statement (v0.1 or v1);
* :func:`parse_provenance` maps a SLSA v0.2 or v1 predicate onto
  :class:`~buildsig.model.ImageProvenance` with Buildx's rules;
* :func:`materials_to_inputs` turns provenance materials into nested inputs;
* :func:`select_provenance` picks the provenance among an image's attestation blobs.

The ``*_result`` variants also return the raw materials (so a resolver can expand a
material later) and the warnings about materials that were dropped.
"""

from __future__ import annotations

from buildsig.provenance.find import (
    PREDICATE_TYPE_ANNOTATION,
    select_provenance,
    select_provenance_result,
)
from buildsig.provenance.materials import (
    MAX_MATERIAL_DEPTH,
    Materials,
    RawMaterial,
    build_materials,
    material_key,
    material_source,
    materials_to_inputs,
)
from buildsig.provenance.purl import PackageURL, parse_purl, purl_to_image_ref
from buildsig.provenance.slsa import (
    PREDICATE_SLSA_V02,
    PREDICATE_SLSA_V1,
    PROVENANCE_PREDICATE_TYPES,
    ProvenanceResult,
    parse_provenance,
    parse_provenance_result,
)
from buildsig.provenance.statement import (
    DEFAULT_MAX_STATEMENT_SIZE,
    STATEMENT_TYPE_V01,
    STATEMENT_TYPE_V1,
    STATEMENT_TYPES,
    Statement,
    Subject,
    parse_statement,
)

__all__ = [
    "DEFAULT_MAX_STATEMENT_SIZE",
    "MAX_MATERIAL_DEPTH",
    "PREDICATE_SLSA_V02",
    "PREDICATE_SLSA_V1",
    "PREDICATE_TYPE_ANNOTATION",
    "PROVENANCE_PREDICATE_TYPES",
    "STATEMENT_TYPES",
    "STATEMENT_TYPE_V01",
    "STATEMENT_TYPE_V1",
    "Materials",
    "PackageURL",
    "ProvenanceResult",
    "RawMaterial",
    "Statement",
    "Subject",
    "build_materials",
    "material_key",
    "material_source",
    "materials_to_inputs",
    "parse_provenance",
    "parse_provenance_result",
    "parse_purl",
    "parse_statement",
    "purl_to_image_ref",
    "select_provenance",
    "select_provenance_result",
]

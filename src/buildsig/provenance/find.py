"""Choosing the provenance of an image among its attestation blobs.

An image's attestation manifest holds several in-toto statements (provenance, SBOMs,
…), each layer annotated with its ``in-toto.io/predicate-type``. Buildx reads the
provenance from the first blob that parses, iterating a Go map, so which one wins is
random when an image carries both SLSA v1 and v0.2. Here the choice is deterministic:
SLSA v1 blobs first, then v0.2, each in the order given.

Like Buildx, this never fails on bad attestations: a blob that is not JSON, has no
predicate, or holds a predicate Buildx could not decode is skipped, and when none is
usable the answer is None. The statement is read leniently, as Buildx reads it (only
``predicateType`` and ``predicate``, keys matched case-insensitively, no subject
required); use :func:`~buildsig.provenance.statement.parse_statement` for strict
in-toto validation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from buildsig._internal.platform import Platform
from buildsig.errors import InvalidDocumentError
from buildsig.model import ImageProvenance
from buildsig.provenance._gojson import load_json, lookup
from buildsig.provenance.slsa import (
    PREDICATE_SLSA_V1,
    PROVENANCE_PREDICATE_TYPES,
    ProvenanceResult,
    parse_provenance_result,
)
from buildsig.provenance.statement import DEFAULT_MAX_STATEMENT_SIZE

__all__ = [
    "PREDICATE_TYPE_ANNOTATION",
    "select_provenance",
    "select_provenance_result",
]

#: The layer annotation naming an attestation blob's predicate type.
PREDICATE_TYPE_ANNOTATION: Final = "in-toto.io/predicate-type"

_MISSING: Final = object()


def _candidates(
    blobs: Sequence[tuple[Mapping[str, str], bytes]],
) -> list[tuple[str, bytes]]:
    """Provenance blobs with data, SLSA v1 before v0.2, otherwise in the given order."""
    found: list[tuple[int, int, str, bytes]] = []
    for index, (layer_annotations, data) in enumerate(blobs):
        if not data:
            continue
        annotated = layer_annotations.get(PREDICATE_TYPE_ANNOTATION, "")
        if annotated not in PROVENANCE_PREDICATE_TYPES:
            continue
        rank = 0 if annotated == PREDICATE_SLSA_V1 else 1
        found.append((rank, index, annotated, bytes(data)))
    found.sort(key=lambda item: (item[0], item[1]))
    return [(annotated, data) for _, _, annotated, data in found]


def _statement_parts(data: bytes, max_size: int) -> tuple[str, Any] | None:
    """``(predicateType, predicate)`` as Buildx's lenient statement struct reads them."""
    try:
        doc = load_json(data, max_size=max_size, lenient_utf8=True, what="attestation")
    except InvalidDocumentError:
        return None
    if doc is None:
        return None  # Go decodes null into an empty statement: no predicate
    if not isinstance(doc, dict):
        return None
    predicate_type = lookup(doc, "predicateType", "")
    if predicate_type is None:
        predicate_type = ""
    if not isinstance(predicate_type, str):
        return None
    predicate = lookup(doc, "predicate", _MISSING)
    if predicate is _MISSING:
        return None
    return predicate_type, predicate


def select_provenance_result(
    blobs: Sequence[tuple[Mapping[str, str], bytes]],
    *,
    platform: Platform | str | None = None,
    depth: int = 0,
    path_keys: Sequence[str] = (),
    max_size: int = DEFAULT_MAX_STATEMENT_SIZE,
) -> ProvenanceResult | None:
    """The first usable provenance among attestation ``blobs``, with its raw materials.

    ``blobs`` are ``(layer annotations, blob bytes)`` pairs from an attestation manifest.
    Only blobs annotated with a SLSA provenance predicate type are read; the statement's
    own ``predicateType`` decides how the predicate is parsed, falling back to the
    annotation when it has none. Blobs over ``max_size`` bytes (BuildKit's 40 MiB cap by
    default) are skipped. ``platform``, ``depth`` and ``path_keys`` are passed on to
    :func:`~buildsig.provenance.slsa.parse_provenance_result`; its depth-limit error is
    the only exception this raises.
    """
    for annotated, data in _candidates(blobs):
        parts = _statement_parts(data, max_size)
        if parts is None:
            continue
        predicate_type, predicate = parts
        result = parse_provenance_result(
            predicate_type or annotated,
            predicate,
            platform=platform,
            depth=depth,
            path_keys=path_keys,
        )
        if result is not None:
            return result
    return None


def select_provenance(
    blobs: Sequence[tuple[Mapping[str, str], bytes]],
    *,
    platform: Platform | str | None = None,
    depth: int = 0,
    path_keys: Sequence[str] = (),
    max_size: int = DEFAULT_MAX_STATEMENT_SIZE,
) -> ImageProvenance | None:
    """The image's provenance as Buildx's ``input.image.provenance``, or None.

    See :func:`select_provenance_result`, which also returns the raw materials and the
    warnings about dropped materials.
    """
    result = select_provenance_result(
        blobs, platform=platform, depth=depth, path_keys=path_keys, max_size=max_size
    )
    return None if result is None else result.provenance

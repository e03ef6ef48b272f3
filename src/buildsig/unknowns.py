"""From "which input fields does the policy need" to "what must be fetched".

Resolving a source costs network round trips: an image's config is one more request, its
attestation chain several, a git tag object a fetch. Buildx therefore builds an input
from the identifier alone, lists the fields still unknown (``Input.unknowns``), finds
which of them the policy actually reads, and asks for just the metadata those need. This
module is that last step, engine-agnostic:

- :func:`trim_key` reduces a policy reference (``input.git.tag.author.email``) to the
  field that has to be resolved (``git.tag``);
- :func:`needed_unknowns` keeps the unknowns a set of references needs, matching
  ancestors on component boundaries (``image.labels["k"]`` needs ``image.labels``);
- :func:`metadata_request` maps the needed unknowns to a :class:`MetadataRequest`, with
  Buildx's rules (config vs. attestation chain vs. provenance blobs; git objects or not).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from buildsig.errors import InvalidInputError

__all__ = [
    "GIT_UNKNOWNS",
    "IMAGE_UNKNOWNS",
    "PROVENANCE_PREDICATE_TYPES",
    "GitRequest",
    "ImageRequest",
    "MetadataRequest",
    "metadata_request",
    "needed_unknowns",
    "trim_key",
]

#: Predicate types fetched when a policy reads ``image.provenance``.
PROVENANCE_PREDICATE_TYPES = ("https://slsa.dev/provenance/v0.2", "https://slsa.dev/provenance/v1")

#: Image fields unknown until metadata is resolved, in Buildx's order.
IMAGE_UNKNOWNS = (
    "image.checksum",
    "image.labels",
    "image.user",
    "image.volumes",
    "image.workingDir",
    "image.env",
    "image.hasProvenance",
    "image.provenance",
    "image.signatures",
)
#: Git fields unknown until the ref is resolved, in Buildx's order.
GIT_UNKNOWNS = (
    "git.tagName",
    "git.branch",
    "git.ref",
    "git.checksum",
    "git.isAnnotatedTag",
    "git.commitChecksum",
    "git.isSHA256",
    "git.tag",
    "git.commit",
)


_IMAGE_CONFIG_FIELDS = frozenset(IMAGE_UNKNOWNS[:6])  # checksum and the config fields
_IMAGE_CHAIN_FIELDS = frozenset({"image.hasProvenance", "image.signatures"})
_GIT_REF_FIELDS = frozenset(GIT_UNKNOWNS[:7])
_GIT_OBJECT_FIELDS = frozenset(GIT_UNKNOWNS[7:])


@dataclasses.dataclass(frozen=True, slots=True)
class ImageRequest:
    """What to resolve for an image: config, attestation chain, attestation blobs."""

    config: bool = False
    attestation_chain: bool = False
    attestation_predicates: tuple[str, ...] = ()
    signatures: bool = False  # find and verify the signatures (implies the chain)


@dataclasses.dataclass(frozen=True, slots=True)
class GitRequest:
    """What to resolve for a git source: the ref, and optionally the tag/commit objects."""

    objects: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class MetadataRequest:
    """The metadata a resolver must fetch; empty when the policy needs nothing more."""

    image: ImageRequest | None = None
    git: GitRequest | None = None
    http_checksum: bool = False

    def __bool__(self) -> bool:
        return self.image is not None or self.git is not None or self.http_checksum


def trim_key(ref: str) -> str:
    """Reduce an input reference to the resolvable field it lives in.

    ``input.`` is dropped; material paths (``image.provenance.materials[…]…``) are kept
    whole; anything else is cut before its second ``.`` or ``[``:
    ``git.tag.author`` → ``git.tag``, ``image.labels["k"]`` → ``image.labels``.
    """
    key = ref.removeprefix("input.")
    if key.startswith("image.provenance.materials["):
        return key
    seen = 0
    for i, ch in enumerate(key):
        if ch in ".[":
            seen += 1
            if seen == 2:
                return key[:i]
    return key


def _match_self_or_parent(key: str, allowed: set[str]) -> str | None:
    if key in allowed:
        return key
    for i in range(len(key) - 1, 0, -1):
        if key[i] in ".[" and key[:i] in allowed:
            return key[:i]
    return None


def needed_unknowns(refs: Iterable[str], unknowns: Iterable[str]) -> list[str]:
    """The unknowns that the input references ``refs`` depend on, first-use order.

    A reference needs an unknown when, trimmed, it equals it or the unknown is its
    nearest ancestor on a component boundary (``foo.bar`` does not match ``foo.b``, and
    ``materials[10]`` does not match ``materials[1]``).
    """
    allowed = {trim_key(u) for u in unknowns if trim_key(u)}
    out: list[str] = []
    for ref in refs:
        key = trim_key(ref)
        if not key:
            continue
        match = _match_self_or_parent(key, allowed)
        if match is not None and match not in out:
            out.append(match)
    return out


def metadata_request(unknowns: Iterable[str]) -> MetadataRequest:
    """Map needed unknown fields (``image.labels``, ``git.commit`` …) to a request.

    Rules, as in Buildx: a config field asks for the image config; ``hasProvenance`` and
    ``signatures`` ask for the attestation chain; ``provenance`` (or anything below it)
    also asks for the SLSA provenance blobs; any git ref field asks for the ref, and
    ``git.tag``/``git.commit`` for the objects too; ``http.checksum`` asks for the
    content digest. Parent keys (``image``, ``git`` …) are ignored. An ``input.`` prefix
    or any other key is a programming error and raises ``InvalidInputError``.
    """
    config = chain = http = signatures = False
    predicates: list[str] = []
    image_wanted = False
    git: GitRequest | None = None
    for key in unknowns:
        if key in ("image", "git", "http", "local"):
            continue
        if key == "image.provenance" or key.startswith("image.provenance."):
            image_wanted = chain = True
            predicates += [p for p in PROVENANCE_PREDICATE_TYPES if p not in predicates]
        elif key in _IMAGE_CONFIG_FIELDS:
            image_wanted = config = True
        elif key in _IMAGE_CHAIN_FIELDS:
            image_wanted = chain = True
            signatures = signatures or key == "image.signatures"
        elif key == "http.checksum":
            http = True
        elif key in _GIT_REF_FIELDS:
            git = git or GitRequest()
        elif key in _GIT_OBJECT_FIELDS:
            git = GitRequest(objects=True)
        else:
            raise InvalidInputError(f"unhandled unknown property {key}", source=key)
    image = (
        ImageRequest(
            config=config,
            attestation_chain=chain,
            attestation_predicates=tuple(predicates),
            signatures=signatures,
        )
        if image_wanted
        else None
    )
    return MetadataRequest(image=image, git=git, http_checksum=http)

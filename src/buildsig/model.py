"""The policy input: frozen dataclasses whose JSON is exactly Docker Buildx's ``input``.

A ``Dockerfile.rego`` policy sees one :class:`Input` per build source. Each class here
mirrors one Go struct of Buildx's ``policy/types.go`` field for field: the JSON names, the
order and the omit rules are the same, because Rego treats an absent key as *undefined*
(``input.image.isCanonical`` is absent for a tagged reference, not ``false``). The contract
is ``shared/reference/buildx-policy.md`` §1; ``docs/input-schema.md`` lists every field.

Python names are snake_case (``full_repo``); JSON names are Buildx's (``fullRepo``).
Collections are immutable (tuples and read-only mappings) so inputs can be hashed, cached
and shared between threads. Fields Buildx keeps out of the JSON (raw git objects, the
list of still-unknown fields) are ``hidden``: carried for builtins and resolvers, never
serialised, and not part of equality.

Serialisation::

    >>> from buildsig.model import Input, Local, Env
    >>> Input(env=Env(filename="Dockerfile"), local=Local(name="context")).to_json(indent=None)
    '{"env":{"filename":"Dockerfile","depth":0},"local":{"name":"context"}}'
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any, Self

from buildsig._internal import serde
from buildsig._internal.serde import hidden, jfield
from buildsig.errors import InvalidDocumentError

__all__ = [
    "HTTP",
    "Actor",
    "AttestationSignature",
    "ChecksumResponse",
    "Commit",
    "Decision",
    "Env",
    "Git",
    "Image",
    "ImageProvenance",
    "Input",
    "Local",
    "PGPSignature",
    "ProvenanceCompleteness",
    "ProvenanceConfigSource",
    "SSHSignature",
    "SignatureKind",
    "SignatureType",
    "SignerInfo",
    "Tag",
    "Timestamp",
    "input_json_schema",
]

_MODEL: dict[str, bool] = {"frozen": True, "slots": True, "kw_only": True}


class _Model:
    """Shared behaviour: immutable collections, Go-compatible JSON, strict loading."""

    __slots__ = ()

    def __post_init__(self) -> None:
        for f in serde.fields_of(type(self)):
            if not f.collection:
                continue
            value = getattr(self, f.name)
            if isinstance(value, (dict, list)) or (
                type(value) is tuple and any(isinstance(v, (dict, list)) for v in value)
            ):
                object.__setattr__(self, f.name, serde.freeze(value))
            elif isinstance(value, serde.FrozenMap):
                continue
            elif isinstance(value, Mapping):  # some other mapping type: copy it read-only
                object.__setattr__(self, f.name, serde.freeze(dict(value)))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data with Buildx's key names, key order and omit rules."""
        return serde.to_dict(self)

    def to_json(self, *, indent: int | None = 2) -> str:
        """JSON text byte-compatible with Go's ``json.MarshalIndent(v, "", "  ")``."""
        return serde.dumps_go(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: Any) -> Self:
        """Load from decoded JSON; unknown keys and ill-typed values raise InvalidDocumentError."""
        return serde.from_dict(cls, data)

    @classmethod
    def from_json(cls, text: str | bytes) -> Self:
        """Load from JSON text (see :meth:`from_dict`)."""
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise InvalidDocumentError(f"not valid JSON: {exc}", path="") from None
        return cls.from_dict(data)

    def is_zero(self) -> bool:
        """True when every serialised field is its zero value (Go's ``omitzero`` test)."""
        return serde.is_zero(self)


# --- build environment -------------------------------------------------------------------


@dataclasses.dataclass(**_MODEL)
class Env(_Model):
    """The build's own settings, the same for every source of one build."""

    args: Mapping[str, str | None] = jfield(
        "args", default_factory=dict, doc="Build arguments (--build-arg), by name."
    )
    labels: Mapping[str, str] = jfield(
        "labels", default_factory=dict, doc="Image labels requested with --label."
    )
    filename: str = jfield(
        "filename", doc="Base name of the Dockerfile (Dockerfile if unset, '-' for stdin)."
    )
    target: str = jfield("target", doc="The build target stage (--target).")
    caps_request: bool = jfield(
        "capsRequest", default=False, doc="True only during Buildx's capability probe."
    )
    depth: int = jfield(
        "depth",
        default=0,
        omit="never",
        doc="0 for the evaluated source; N for a provenance material nested N levels deep.",
    )


# --- local -------------------------------------------------------------------------------


@dataclasses.dataclass(**_MODEL)
class Local(_Model):
    """A local source: the build context, the Dockerfile's directory or a named context."""

    name: str = jfield("name", doc="The identifier after local:// (e.g. context, dockerfile).")


# --- http --------------------------------------------------------------------------------


@dataclasses.dataclass(**_MODEL)
class ChecksumResponse(_Model):
    """A digest of ``content || suffix`` computed by the builder for an HTTP source.

    ``verify_http_pgp_signature`` needs it: the signature trailer is the suffix, so the
    digest is the OpenPGP signature hash without buildsig ever holding the content.
    """

    digest: str = jfield("digest", doc="'<alg>:<hex>' of content followed by suffix.")
    suffix: bytes = hidden(default=b"", doc="The bytes appended to the content.")


@dataclasses.dataclass(**_MODEL)
class HTTP(_Model):
    """A file downloaded over HTTP(S) by ``ADD <url>``."""

    url: str = jfield("url", doc="The identifier exactly as given, query and fragment included.")
    schema: str = jfield("schema", doc="http or https.")
    host: str = jfield("host", doc="Host, with port when the URL has one.")
    path: str = jfield("path", doc="Decoded URL path, without query or fragment.")
    query: Mapping[str, tuple[str, ...]] = jfield(
        "query", default_factory=dict, doc="Parsed query: name to the list of its values."
    )
    has_auth: bool = jfield(
        "hasAuth", default=False, doc="True when the request carries an auth header secret."
    )
    checksum: str = jfield(
        "checksum", doc="Digest of the downloaded content ('sha256:…'), once resolved."
    )
    checksum_response: ChecksumResponse | None = hidden(
        doc="Digest of content plus a signature trailer, for verify_http_pgp_signature."
    )


# --- git ---------------------------------------------------------------------------------


@dataclasses.dataclass(**_MODEL)
class Actor(_Model):
    """An author, committer or tagger line of a git object."""

    name: str = jfield("name", doc="Name, as written before the email.")
    email: str = jfield("email", doc="Email, without angle brackets.")
    when: datetime | None = jfield(
        "when", default=None, doc="Time with the object's own UTC offset (RFC 3339)."
    )


@dataclasses.dataclass(**_MODEL)
class PGPSignature(_Model):
    """What the OpenPGP signature packet on a git object says about itself (unverified)."""

    version: int = jfield("version", default=0, doc="Signature packet version (4, 5 or 6).")
    key_id: str = jfield(
        "keyID", doc="Issuer key id as 16 lowercase hex digits, when the packet names one."
    )


@dataclasses.dataclass(**_MODEL)
class SSHSignature(_Model):
    """What an SSHSIG signature on a git object says about itself (unverified)."""

    version: int = jfield("version", default=0, doc="SSHSIG format version (1).")
    pub_key: str = jfield(
        "pubKey", doc="SHA-256 fingerprint of the embedded key ('SHA256:<base64>')."
    )


@dataclasses.dataclass(**_MODEL)
class Commit(_Model):
    """A parsed git commit object."""

    tree: str = jfield("tree", doc="Tree object id.")
    parents: tuple[str, ...] = jfield("parents", default=(), doc="Parent commit ids, in order.")
    author: Actor = jfield("author", default_factory=Actor, omit="zero", doc="The author line.")
    committer: Actor = jfield(
        "committer", default_factory=Actor, omit="zero", doc="The committer line."
    )
    message: str = jfield("message", doc="The message, with one trailing newline removed.")
    pgp_signature: PGPSignature | None = jfield(
        "pgpSignature", default=None, doc="Present when the commit carries an OpenPGP signature."
    )
    ssh_signature: SSHSignature | None = jfield(
        "sshSignature", default=None, doc="Present when the commit carries an SSH signature."
    )
    raw: bytes = hidden(default=b"", doc="The object's bytes as git stores them (for verifying).")


@dataclasses.dataclass(**_MODEL)
class Tag(_Model):
    """A parsed annotated git tag object."""

    object: str = jfield("object", doc="Id of the tagged object.")
    type: str = jfield("type", doc="Type of the tagged object (normally commit).")
    tag: str = jfield("tag", doc="The tag's name as recorded inside the object.")
    tagger: Actor = jfield("tagger", default_factory=Actor, omit="zero", doc="The tagger line.")
    message: str = jfield("message", doc="The message, with one trailing newline removed.")
    pgp_signature: PGPSignature | None = jfield(
        "pgpSignature", default=None, doc="Present when the tag carries an OpenPGP signature."
    )
    ssh_signature: SSHSignature | None = jfield(
        "sshSignature", default=None, doc="Present when the tag carries an SSH signature."
    )
    raw: bytes = hidden(default=b"", doc="The object's bytes as git stores them (for verifying).")


@dataclasses.dataclass(**_MODEL)
class Git(_Model):
    """A git repository source (``ADD <git url>``, a git build context)."""

    schema: str = jfield("schema", doc="https, http, ssh (also for scp-like URLs) or git.")
    host: str = jfield("host", doc="Host, with port when the URL has one.")
    remote: str = jfield("remote", doc="Repository URL without fragment or query.")
    full_url: str = jfield("fullURL", doc="The git.fullurl attribute, when the source has one.")
    tag_name: str = jfield("tagName", doc="The ref without refs/tags/, for tag refs.")
    branch: str = jfield("branch", doc="The ref without refs/heads/, for branch refs.")
    ref: str = jfield("ref", doc="The full ref (refs/tags/v1, refs/heads/main, or a commit id).")
    sub_dir: str = jfield("subDir", doc="Subdirectory from the URL fragment, cleaned.")
    is_commit_ref: bool = jfield(
        "isCommitRef", default=False, doc="The fragment ref is a full 40- or 64-hex commit id."
    )
    is_sha256: bool = jfield(
        "isSHA256", default=False, doc="The repository uses SHA-256 object ids."
    )
    checksum: str = jfield(
        "checksum", doc="Object id the ref resolves to (the tag object for annotated tags)."
    )
    commit_checksum: str = jfield("commitChecksum", doc="Id of the commit the ref resolves to.")
    is_annotated_tag: bool = jfield(
        "isAnnotatedTag", default=False, doc="The ref names an annotated tag object."
    )
    tag: Tag | None = jfield("tag", default=None, doc="The annotated tag object, parsed.")
    commit: Commit | None = jfield("commit", default=None, doc="The commit object, parsed.")


# --- image signatures --------------------------------------------------------------------


class SignatureKind(StrEnum):
    """How Buildx classifies a verified image signature (first match wins)."""

    DOCKER_HARDENED_IMAGE = "docker-hardened-image"
    DOCKER_GITHUB_BUILDER = "docker-github-builder"
    SELF_SIGNED_GITHUB_REPO = "self-signed-github-repo"
    SELF_SIGNED = "self-signed"
    UNTRUSTED = "untrusted"


class SignatureType(StrEnum):
    """The storage format a signature was found in."""

    BUNDLE_V03 = "bundle-v0.3"
    SIMPLESIGNING_V1 = "simplesigning-v1"


@dataclasses.dataclass(**_MODEL)
class Timestamp(_Model):
    """A verified timestamp: a transparency-log integration time or an RFC 3161 token."""

    type: str = jfield("type", omit="never", doc="Tlog or TimestampAuthority.")
    uri: str = jfield("uri", omit="never", doc="The log's or the timestamp authority's URL.")
    timestamp: datetime = jfield(
        "timestamp", omit="never", required=True, doc="The verified time (RFC 3339)."
    )


@dataclasses.dataclass(**_MODEL)
class SignerInfo(_Model):
    """Who signed, from the Fulcio certificate (OIDs 1.3.6.1.4.1.57264.1.x)."""

    certificate_issuer: str = jfield(
        "certificateIssuer", omit="never", doc="Issuer DN of the signing certificate."
    )
    subject_alternative_name: str = jfield(
        "subjectAlternativeName", omit="never", doc="First URI SAN, else email, else OtherName."
    )
    issuer: str = jfield("issuer", doc="OIDC issuer (OID .8, falling back to .1).")
    build_signer_uri: str = jfield("buildSignerURI", doc="OID .9")
    build_signer_digest: str = jfield("buildSignerDigest", doc="OID .10")
    runner_environment: str = jfield("runnerEnvironment", doc="OID .11")
    source_repository_uri: str = jfield("sourceRepositoryURI", doc="OID .12")
    source_repository_digest: str = jfield("sourceRepositoryDigest", doc="OID .13")
    source_repository_ref: str = jfield("sourceRepositoryRef", doc="OID .14")
    source_repository_identifier: str = jfield("sourceRepositoryIdentifier", doc="OID .15")
    source_repository_owner_uri: str = jfield("sourceRepositoryOwnerURI", doc="OID .16")
    source_repository_owner_identifier: str = jfield(
        "sourceRepositoryOwnerIdentifier", doc="OID .17"
    )
    build_config_uri: str = jfield("buildConfigURI", doc="OID .18")
    build_config_digest: str = jfield("buildConfigDigest", doc="OID .19")
    build_trigger: str = jfield("buildTrigger", doc="OID .20")
    run_invocation_uri: str = jfield("runInvocationURI", doc="OID .21")
    source_repository_visibility_at_signing: str = jfield(
        "sourceRepositoryVisibilityAtSigning", doc="OID .22"
    )


@dataclasses.dataclass(**_MODEL)
class AttestationSignature(_Model):
    """A verified signature over an image's attestation manifest."""

    kind: str = jfield("kind", doc="A SignatureKind value.")
    type: str = jfield("type", doc="A SignatureType value.")
    timestamps: tuple[Timestamp, ...] = jfield("timestamps", default=(), doc="Verified timestamps.")
    docker_reference: str = jfield(
        "dockerReference", doc="The simple-signing docker-reference, when present."
    )
    is_dhi: bool = jfield("isDHI", default=False, doc="The image is a Docker Hardened Image.")
    signer: SignerInfo | None = jfield(
        "signer", default=None, doc="Certificate facts; absent for key-only signatures."
    )


# --- provenance --------------------------------------------------------------------------


@dataclasses.dataclass(**_MODEL)
class ProvenanceConfigSource(_Model):
    """Where the build definition came from (the Dockerfile's repository, digest, path)."""

    uri: str = jfield("uri", doc="Source URI of the build definition.")
    digest: Mapping[str, str] = jfield("digest", default_factory=dict, doc="Digests by algorithm.")
    path: str = jfield("path", doc="Path of the build definition (entry point).")


@dataclasses.dataclass(**_MODEL)
class ProvenanceCompleteness(_Model):
    """The builder's own claims of completeness (each may be absent)."""

    parameters: bool | None = jfield("parameters", default=None, doc="Parameters are complete.")
    environment: bool | None = jfield(
        "environment", default=None, doc="Environment is complete (SLSA v0.2 only)."
    )
    materials: bool | None = jfield("materials", default=None, doc="Materials are complete.")


@dataclasses.dataclass(**_MODEL)
class ImageProvenance(_Model):
    """The SLSA provenance attached to an image, normalised across SLSA v0.2 and v1."""

    predicate_type: str = jfield("predicateType", doc="The SLSA predicate type URI.")
    build_type: str = jfield("buildType", doc="The build type URI.")
    builder_id: str = jfield("builderID", doc="The builder's id.")
    invocation_id: str = jfield("invocationID", doc="The build invocation id.")
    started_on: str = jfield("startedOn", doc="Build start (RFC 3339, UTC, seconds).")
    finished_on: str = jfield("finishedOn", doc="Build end (RFC 3339, UTC, seconds).")
    config_source: ProvenanceConfigSource | None = jfield(
        "configSource", default=None, doc="The build definition's source; always an object."
    )
    frontend: str = jfield("frontend", doc="The BuildKit frontend (e.g. dockerfile.v0).")
    build_args: Mapping[str, str] = jfield(
        "buildArgs", default_factory=dict, doc="Build arguments (rawArgs 'build-arg:' keys)."
    )
    raw_args: Mapping[str, str] = jfield(
        "rawArgs", default_factory=dict, doc="All frontend arguments."
    )
    reproducible: bool | None = jfield("reproducible", default=None, doc="Claimed reproducible.")
    hermetic: bool | None = jfield("hermetic", default=None, doc="Claimed hermetic.")
    completeness: ProvenanceCompleteness | None = jfield(
        "completeness", default=None, doc="Completeness claims."
    )
    materials: tuple[Input, ...] = jfield(
        "materials", default=(), doc="The build's own inputs, each as a nested policy input."
    )


# --- image -------------------------------------------------------------------------------


@dataclasses.dataclass(**_MODEL)
class Image(_Model):
    """A container image source (``FROM``, ``COPY --from=<image>``)."""

    ref: str = jfield("ref", doc="Normalised reference, tag and digest kept.")
    host: str = jfield("host", doc="Registry domain (docker.io for Docker Hub).")
    repo: str = jfield("repo", doc="Familiar name: alpine, foo/bar, ghcr.io/a/b.")
    full_repo: str = jfield("fullRepo", doc="Domain and path: docker.io/library/alpine.")
    tag: str = jfield("tag", doc="The tag, when the reference has one.")
    platform: str = jfield("platform", doc="os/arch[/variant] the image is resolved for.")
    os: str = jfield("os", doc="Platform operating system.")
    arch: str = jfield("arch", doc="Platform architecture.")
    variant: str = jfield("variant", doc="Platform variant.")
    is_canonical: bool = jfield("isCanonical", default=False, doc="The reference pins a digest.")
    checksum: str = jfield("checksum", doc="The manifest digest (from the ref, then resolved).")
    created_time: str = jfield("createdTime", doc="Config 'created', RFC 3339 in seconds.")
    env: tuple[str, ...] = jfield("env", default=(), doc="Config environment (K=V).")
    labels: Mapping[str, str] = jfield("labels", default_factory=dict, doc="Config labels.")
    user: str = jfield("user", doc="Config user.")
    volumes: tuple[str, ...] = jfield("volumes", default=(), doc="Config volumes, sorted.")
    working_dir: str = jfield("workingDir", doc="Config working directory.")
    has_provenance: bool = jfield(
        "hasProvenance", default=False, doc="An attestation manifest or provenance is attached."
    )
    provenance: ImageProvenance | None = jfield(
        "provenance", default=None, doc="Parsed SLSA provenance."
    )
    signatures: tuple[AttestationSignature, ...] = jfield(
        "signatures",
        default=(),
        doc=(
            "Verified signatures, Buildx's attestation-manifest signature first, then "
            "cosign's (Buildx itself reports at most its one candidate)."
        ),
    )


# --- the input ---------------------------------------------------------------------------


@dataclasses.dataclass(**_MODEL)
class Input(_Model):
    """What a policy sees for one source: the environment and exactly one source kind.

    ``unknowns`` lists the fields of this node that are not resolved yet, relative to the
    node (``image.checksum``), in Buildx's order; :meth:`unknown_refs` gives them for the
    whole tree, provenance materials included, as ``input.…`` paths.
    """

    env: Env = jfield("env", default_factory=Env, omit="zero", doc="Build environment.")
    local: Local | None = jfield("local", default=None, doc="Set for local sources.")
    image: Image | None = jfield("image", default=None, doc="Set for image sources.")
    http: HTTP | None = jfield("http", default=None, doc="Set for HTTP(S) sources.")
    git: Git | None = jfield("git", default=None, doc="Set for git sources.")
    unknowns: tuple[str, ...] = hidden(
        default=(), doc="Unresolved fields of this node, e.g. image.labels."
    )

    def unknown_refs(self) -> list[str]:
        """Every unresolved field of the tree as ``input.…`` paths, materials included.

        Mirrors Buildx's ``Input.Unknowns()``: a material's fields appear as
        ``input.image.provenance.materials[<i>].<path>``.
        """
        refs: list[str] = []
        self._collect_unknowns("input", refs)
        return refs

    def _collect_unknowns(self, prefix: str, refs: list[str]) -> None:
        refs.extend(f"{prefix}.{u}" for u in self.unknowns if u)
        if self.image is None or self.image.provenance is None:
            return
        for i, material in enumerate(self.image.provenance.materials):
            material._collect_unknowns(f"{prefix}.image.provenance.materials[{i}]", refs)

    def with_env(self, env: Env, *, depth: int = 0) -> Input:
        """This input with ``env`` applied, recursively to materials at depth+1 (as Buildx)."""
        image = self.image
        if image is not None and image.provenance is not None and image.provenance.materials:
            materials = tuple(m.with_env(env, depth=depth + 1) for m in image.provenance.materials)
            image = dataclasses.replace(
                image, provenance=dataclasses.replace(image.provenance, materials=materials)
            )
        return dataclasses.replace(self, env=dataclasses.replace(env, depth=depth), image=image)


@dataclasses.dataclass(**_MODEL)
class Decision(_Model):
    """A policy's answer, ``data.docker.decision``: allow, deny messages, capabilities."""

    allow: bool | None = jfield("allow", default=None, doc="True allows; absent or false denies.")
    deny_msg: tuple[str, ...] = jfield("deny_msg", default=(), doc="Reasons for a denial.")
    caps: Mapping[str, bool] = jfield(
        "caps", default_factory=dict, doc="Requested capabilities (only exec.proxy exists)."
    )


SCHEMA_ID = "https://buildsig.dev/schemas/policy-input.json"


def input_json_schema() -> dict[str, Any]:
    """A JSON Schema (draft 2020-12) of :class:`Input`, generated from these classes."""
    return serde.json_schema(Input, title="Docker Buildx policy input", schema_id=SCHEMA_ID)

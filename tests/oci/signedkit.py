"""Signature fixtures on ImageKit images: every layout Docker, DHI and cosign store them in.

Builders take arbitrary layer bytes and annotations, so the same fixtures carry generated
stand-ins, the real cosign/Sigstore samples under ``shared/data/sigstore``, or real
signatures made by a test Sigstore. A :class:`SignedKit` collects referrers per subject
and, when written or pushed, stores them the way a pusher must for a registry without
the referrers API (distribution 2.8): an index under the ``sha256-<hex>`` tag. An OCI
layout gets the same tag (``buildsig.oci.layout`` reads it too).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.oci.imagekit import (
    ATTESTATION_ARTIFACT,
    IN_TOTO,
    OCI_CONFIG,
    OCI_EMPTY,
    OCI_INDEX,
    OCI_MANIFEST,
    SLSA_V1,
    ImageKit,
    canonical,
    digest_of,
    push_kit,
    statement,
)

SIGSTORE_BUNDLE = "application/vnd.dev.sigstore.bundle.v0.3+json"
COSIGN_SIG = "application/vnd.dev.cosign.artifact.sig.v1+json"
SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
ANN_SIGNATURE = "dev.cosignproject.cosign/signature"
ANN_CERTIFICATE = "dev.sigstore.cosign/certificate"
ANN_CHAIN = "dev.sigstore.cosign/chain"
ANN_BUNDLE = "dev.sigstore.cosign/bundle"
ANN_TIMESTAMP = "dev.sigstore.cosign/rfc3161timestamp"
PREDICATE = "in-toto.io/predicate-type"
DHI_BUILD_ID = "com.docker.dhi.build.id"

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "sigstore"
SAMPLE_BUNDLE = SHARED / "more" / "cosign" / "oci-attestation.sigstore.json"
SAMPLE_DIR_SIGNATURE = (
    SHARED / "cosign-legacy" / "dir-img-cosign-fulcio-rekor-valid" / "signature-1"
)
DIR_SIGNATURE_HEADER = b"\x00sigstore-json\n"


@dataclass(frozen=True)
class SigLayer:
    """One layer of a signature manifest: its media type, bytes and annotations."""

    media_type: str
    data: bytes
    annotations: dict[str, str] = field(default_factory=dict)


def bundle_layer(bundle: bytes, media_type: str = SIGSTORE_BUNDLE) -> SigLayer:
    """A Sigstore bundle as a layer (Docker, cosign new bundle format)."""
    return SigLayer(media_type, bundle)


def simple_signing_payload(
    manifest_digest: str,
    docker_reference: str = "registry.example/app",
    optional: dict[str, Any] | None = None,
) -> bytes:
    """A cosign simple-signing payload naming ``manifest_digest``."""
    return json.dumps(
        {
            "critical": {
                "identity": {"docker-reference": docker_reference},
                "image": {"docker-manifest-digest": manifest_digest},
                "type": "cosign container image signature",
            },
            "optional": optional,
        }
    ).encode()


def simple_signing_layer(payload: bytes, annotations: dict[str, str]) -> SigLayer:
    """A simple-signing layer; the signature material sits in ``annotations``."""
    return SigLayer(SIMPLE_SIGNING, payload, dict(annotations))


def read_dir_signature(path: Path) -> SigLayer:
    """A signature in containers/image's ``dir:`` format (``\\0sigstore-json\\n`` + JSON)."""
    raw = path.read_bytes()
    if not raw.startswith(DIR_SIGNATURE_HEADER):
        raise ValueError(f"{path} is not a containers/image sigstore signature")
    doc = json.loads(raw[len(DIR_SIGNATURE_HEADER) :])
    return SigLayer(
        doc["mimeType"], base64.b64decode(doc["payload"]), dict(doc.get("annotations") or {})
    )


def sample_bundle() -> bytes | None:
    """A real cosign v0.3 bundle (DSSE), or None without ``shared/data``."""
    return SAMPLE_BUNDLE.read_bytes() if SAMPLE_BUNDLE.is_file() else None


def sample_simple_signing() -> SigLayer | None:
    """A real keyless cosign signature (payload + annotations), or None without the data."""
    return read_dir_signature(SAMPLE_DIR_SIGNATURE) if SAMPLE_DIR_SIGNATURE.is_file() else None


def descriptor(desc: dict[str, Any]) -> dict[str, Any]:
    """The three fields a ``subject`` holds."""
    return {k: desc[k] for k in ("mediaType", "digest", "size")}


@dataclass
class BuildkitImage:
    """What :meth:`SignedKit.buildkit_image` made: descriptors of every part."""

    index: dict[str, Any]
    platforms: dict[str, dict[str, Any]]  # "linux/amd64" -> manifest descriptor
    attestations: dict[str, dict[str, Any]]  # "linux/amd64" -> attestation descriptor


@dataclass
class SignedKit:
    """An ImageKit plus the referrers it must publish under the referrers tag."""

    kit: ImageKit = field(default_factory=ImageKit)
    referrers: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    # --- images ------------------------------------------------------------------------

    def buildkit_image(
        self,
        tag: str,
        platforms: tuple[str, ...] = ("linux/amd64", "linux/arm64/v8"),
        *,
        form: str = "artifact",
        predicate_type: str = SLSA_V1,
        dhi: bool = False,
        labels: dict[str, str] | None = None,
    ) -> BuildkitImage:
        """A multi-platform OCI index with one attestation manifest per platform.

        BuildKit's layout by default (attestation manifests in the index; ``form`` as in
        :meth:`ImageKit.attestation`). ``dhi=True`` makes a Docker Hardened Image instead:
        build-id annotations on every entry, a ``dhi/`` title, and each attestation an
        in-toto referrer of its platform manifest.
        """
        manifests: dict[str, dict[str, Any]] = {}
        attestations: dict[str, dict[str, Any]] = {}
        for platform in platforms:
            os_, arch, *rest = platform.split("/")
            manifests[platform] = self.kit.image(
                os_, arch, rest[0] if rest else "", labels=labels or {"tag": tag}
            )
        entries: list[dict[str, Any]] = []
        for platform, desc in manifests.items():
            stmt = statement(predicate_type, desc["digest"], {"builder": {"id": tag}})
            if dhi:
                attestations[platform] = self.dhi_attestation(desc, [(predicate_type, stmt)])
                build = {"annotations": {DHI_BUILD_ID: f"build-{tag}-{platform}"}}
                entries.append({**desc, **build})
            else:
                attestations[platform] = self.kit.attestation(
                    desc, [(predicate_type, stmt)], form=form
                )
                entries.append(desc)
        if not dhi:
            entries += list(attestations.values())
        annotations = {"org.opencontainers.image.title": f"dhi/{tag}"} if dhi else None
        index = self.kit.index(entries, annotations=annotations)
        self.kit.tag(tag, index)
        return BuildkitImage(index, manifests, attestations)

    def dhi_attestation(
        self, subject: dict[str, Any], statements: list[tuple[str, bytes]]
    ) -> dict[str, Any]:
        """A DHI attestation: an in-toto referrer of the platform manifest."""
        layers = [SigLayer(IN_TOTO, data, {PREDICATE: ptype}) for ptype, data in statements]
        return self.signature(
            subject,
            layers,
            artifact_type=IN_TOTO,
            annotations={PREDICATE: statements[0][0]},
        )

    # --- signature manifests -----------------------------------------------------------

    def signature(
        self,
        subject: dict[str, Any],
        layers: list[SigLayer],
        *,
        artifact_type: str | None = SIGSTORE_BUNDLE,
        config: dict[str, Any] | None = None,
        subject_field: dict[str, Any] | None = None,
        annotations: dict[str, str] | None = None,
        listed_as: str | None = None,
        refer: bool = True,
        edit: Any = None,
    ) -> dict[str, Any]:
        """An OCI artifact manifest referring to ``subject``; its descriptor.

        ``artifact_type=None`` leaves ``artifactType`` out; ``config`` defaults to the
        empty descriptor; ``subject_field`` replaces the ``subject`` written (to build
        mismatches) while the referrers tag still lists it under ``subject``;
        ``listed_as`` is the artifactType the referrers tag claims (by default what a
        registry would report: ``artifactType``, else the config media type);
        ``edit(obj)`` may change the manifest object before it is serialised;
        ``refer=False`` keeps it out of the referrers tag.
        """
        cfg = config or self.kit.blob(b"{}", OCI_EMPTY)
        obj: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": cfg,
            "layers": [
                self.kit.blob(layer.data, layer.media_type, annotations=layer.annotations)
                if layer.annotations
                else self.kit.blob(layer.data, layer.media_type)
                for layer in layers
            ],
            "subject": subject_field if subject_field is not None else descriptor(subject),
        }
        if artifact_type is not None:
            obj["artifactType"] = artifact_type
        if annotations:
            obj["annotations"] = annotations
        if edit is not None:
            edit(obj)
        desc = self.kit.manifest(obj)
        listed = listed_as if listed_as is not None else (artifact_type or cfg["mediaType"])
        entry = {**desc, "artifactType": listed}
        if annotations:
            entry["annotations"] = annotations
        if refer:
            self.refer(subject["digest"], entry)
        return entry

    def docker_signature(
        self, attestation: dict[str, Any], layer: SigLayer, **kwargs: Any
    ) -> dict[str, Any]:
        """What Docker's signer pushes: a referrer of the attestation manifest.

        A bundle layer gives artifactType Sigstore bundle; a simple-signing layer the
        cosign signature type (DHI, older signers).
        """
        kwargs.setdefault(
            "artifact_type", COSIGN_SIG if layer.media_type == SIMPLE_SIGNING else SIGSTORE_BUNDLE
        )
        return self.signature(attestation, [layer], **kwargs)

    def cosign_bundle(
        self, image: dict[str, Any], bundle: bytes, *, v3: bool = False, **kwargs: Any
    ) -> dict[str, Any]:
        """cosign's new bundle format: a referrer of the image with one bundle layer.

        ``v3=True``: listed with artifactType ``application/vnd.oci.empty.v1+json``, as
        cosign v3 does (Buildx does not find these).
        """
        kwargs.setdefault("artifact_type", OCI_EMPTY if v3 else SIGSTORE_BUNDLE)
        kwargs.setdefault(
            "annotations",
            {
                "dev.sigstore.bundle.content": "dsse-envelope",
                "dev.sigstore.bundle.predicateType": "https://sigstore.dev/cosign/sign/v1",
            },
        )
        return self.signature(image, [bundle_layer(bundle)], **kwargs)

    def cosign_sig_referrer(
        self, image: dict[str, Any], layers: list[SigLayer], **kwargs: Any
    ) -> dict[str, Any]:
        """cosign's experimental OCI mode: simple-signing layers as a referrer of the image."""
        kwargs.setdefault("artifact_type", COSIGN_SIG)
        return self.signature(image, layers, **kwargs)

    def legacy_sig(
        self, subject_digest: str, layers: list[SigLayer], *, tag: str | None = None
    ) -> dict[str, Any]:
        """cosign's tag layout: an image manifest at ``sha256-<hex>.sig``, one layer each."""
        descs = [
            self.kit.blob(layer.data, layer.media_type, annotations=layer.annotations)
            for layer in layers
        ]
        config = self.kit.blob(
            canonical(
                {
                    "architecture": "",
                    "os": "",
                    "config": {},
                    "rootfs": {"type": "layers", "diff_ids": [d["digest"] for d in descs]},
                }
            ),
            OCI_CONFIG,
        )
        desc = self.kit.manifest(
            {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": descs}
        )
        self.kit.tags[tag or subject_digest.replace(":", "-") + ".sig"] = desc["digest"]
        return desc

    def raw_manifest(self, raw: bytes, media_type: str = OCI_MANIFEST) -> dict[str, Any]:
        """Arbitrary bytes stored as a manifest (for malformed JSON; layouts only)."""
        digest = digest_of(raw)
        self.kit.manifests[digest] = (media_type, raw)
        return {"mediaType": media_type, "digest": digest, "size": len(raw)}

    def refer(self, subject_digest: str, entry: dict[str, Any]) -> None:
        """List ``entry`` among the referrers of ``subject_digest`` (true or not)."""
        self.referrers.setdefault(subject_digest, []).append(entry)

    # --- output ------------------------------------------------------------------------

    def seal(self) -> ImageKit:
        """Write the referrers tags (an index per subject); the kit, ready to publish."""
        for subject, entries in self.referrers.items():
            self.kit.referrers_tag(subject, entries)
        return self.kit

    def write_layout(self, path: Path) -> Path:
        """Everything as an OCI image layout."""
        return self.seal().write_layout(path)

    def push(self, client: Any, repo: Any) -> None:
        """Everything to a registry (children first, referrers tags last)."""
        push_kit(self.seal(), client, repo)


__all__ = [
    "ANN_BUNDLE",
    "ANN_CERTIFICATE",
    "ANN_CHAIN",
    "ANN_SIGNATURE",
    "ANN_TIMESTAMP",
    "ATTESTATION_ARTIFACT",
    "COSIGN_SIG",
    "OCI_INDEX",
    "SIGSTORE_BUNDLE",
    "SIMPLE_SIGNING",
    "BuildkitImage",
    "SigLayer",
    "SignedKit",
    "bundle_layer",
    "read_dir_signature",
    "sample_bundle",
    "sample_simple_signing",
    "simple_signing_layer",
    "simple_signing_payload",
]

"""Build image content for tests: blobs, manifests, indexes, attestations, signatures.

One builder produces the exact bytes; they can be written as an OCI image layout or
pushed to a real registry, so offline and online resolution are tested on the same
images. JSON is written canonically (sorted keys, no spaces), so digests are stable.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
IN_TOTO = "application/vnd.in-toto+json"
DSSE = "application/vnd.dsse.envelope.v1+json"
ATTESTATION_ARTIFACT = "application/vnd.docker.attestation.manifest.v1+json"
SLSA_V1 = "https://slsa.dev/provenance/v1"
SLSA_V02 = "https://slsa.dev/provenance/v0.2"


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class ImageKit:
    """Content-addressed objects plus tags, ready to write or push."""

    blobs: dict[str, bytes] = field(default_factory=dict)
    manifests: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # digest -> (type, raw)
    tags: dict[str, str] = field(default_factory=dict)  # tag -> digest

    def blob(self, data: bytes, media_type: str, **extra: Any) -> dict[str, Any]:
        digest = digest_of(data)
        self.blobs[digest] = data
        return {"mediaType": media_type, "digest": digest, "size": len(data), **extra}

    def manifest(self, obj: dict[str, Any], **extra: Any) -> dict[str, Any]:
        raw = canonical(obj)
        digest = digest_of(raw)
        self.manifests[digest] = (obj["mediaType"], raw)
        return {"mediaType": obj["mediaType"], "digest": digest, "size": len(raw), **extra}

    def image(
        self,
        os: str = "linux",
        arch: str = "amd64",
        variant: str = "",
        *,
        labels: dict[str, str] | None = None,
        docker: bool = False,
        created: str = "2024-05-06T07:08:09.123456789Z",
    ) -> dict[str, Any]:
        """An image manifest (OCI or Docker v2) with a real config; returns its descriptor."""
        config = {
            "architecture": arch,
            "os": os,
            **({"variant": variant} if variant else {}),
            "created": created,
            "config": {
                "Env": ["PATH=/usr/local/bin:/usr/bin", f"ARCH={arch}"],
                "Labels": labels
                or {"org.opencontainers.image.vendor": "Example Corp", "arch": arch},
                "User": "65532:65532",
                "Volumes": {"/var/lib/b": {}, "/data": {}},
                "WorkingDir": "/app",
            },
            "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "0" * 64]},
        }
        cfg = self.blob(canonical(config), DOCKER_CONFIG if docker else OCI_CONFIG)
        layer = self.blob(
            f"layer {os}/{arch}/{variant}".encode(),
            OCI_LAYER if not docker else "application/vnd.docker.image.rootfs.diff.tar.gzip",
        )
        kind = DOCKER_MANIFEST if docker else OCI_MANIFEST
        platform = {"os": os, "architecture": arch, **({"variant": variant} if variant else {})}
        return self.manifest(
            {"schemaVersion": 2, "mediaType": kind, "config": cfg, "layers": [layer]},
            platform=platform,
        )

    def index(
        self,
        entries: list[dict[str, Any]],
        *,
        docker: bool = False,
        annotations: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": DOCKER_LIST if docker else OCI_INDEX,
            "manifests": entries,
        }
        if annotations:
            obj["annotations"] = annotations
        return self.manifest(obj)

    def attestation(
        self,
        subject: dict[str, Any],
        statements: list[tuple[str, bytes]],
        *,
        form: str = "artifact",
    ) -> dict[str, Any]:
        """A BuildKit attestation manifest for ``subject`` (legacy image form or OCI artifact)."""
        layers = [
            self.blob(data, IN_TOTO, annotations={"in-toto.io/predicate-type": ptype})
            for ptype, data in statements
        ]
        subj = {k: subject[k] for k in ("mediaType", "digest", "size")}
        if form == "artifact":
            empty = self.blob(b"{}", OCI_EMPTY)
            obj = {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "artifactType": ATTESTATION_ARTIFACT,
                "config": empty,
                "layers": layers,
                "subject": subj,
            }
        else:
            cfg = self.blob(
                canonical(
                    {
                        "architecture": "unknown",
                        "os": "unknown",
                        "config": {},
                        "rootfs": {"type": "layers", "diff_ids": []},
                    }
                ),
                OCI_CONFIG,
            )
            obj = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": cfg, "layers": layers}
        return self.manifest(
            obj,
            platform={"os": "unknown", "architecture": "unknown"},
            annotations={
                "vnd.docker.reference.type": "attestation-manifest",
                "vnd.docker.reference.digest": subject["digest"],
            },
        )

    def referrer(
        self,
        subject: dict[str, Any],
        artifact_type: str,
        layers: list[tuple[str, bytes, dict[str, str]]],
    ) -> dict[str, Any]:
        """An OCI 1.1 artifact manifest with ``subject`` (referrers API / tag fallback)."""
        empty = self.blob(b"{}", OCI_EMPTY)
        descs = [self.blob(data, mt, annotations=ann) for mt, data, ann in layers]
        subj = {k: subject[k] for k in ("mediaType", "digest", "size")}
        desc = self.manifest(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "artifactType": artifact_type,
                "config": empty,
                "layers": descs,
                "subject": subj,
            }
        )
        return {**desc, "artifactType": artifact_type}

    def referrers_tag(self, subject_digest: str, referrers: list[dict[str, Any]]) -> None:
        """The distribution-spec fallback: an index of referrers at tag sha256-<hex>."""
        idx = self.index(referrers)
        self.tags[subject_digest.replace(":", "-")] = idx["digest"]

    def cosign_att(self, subject_digest: str, predicate_type: str, statement: bytes) -> None:
        """A cosign attestation at tag sha256-<hex>.att: a DSSE envelope layer."""
        envelope = canonical(
            {
                "payloadType": "application/vnd.in-toto+json",
                "payload": base64.b64encode(statement).decode(),
                "signatures": [],
            }
        )
        cfg = self.blob(
            canonical(
                {
                    "architecture": "",
                    "os": "",
                    "config": {},
                    "rootfs": {"type": "layers", "diff_ids": []},
                }
            ),
            OCI_CONFIG,
        )
        layer = self.blob(envelope, DSSE, annotations={"predicateType": predicate_type})
        desc = self.manifest(
            {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": cfg, "layers": [layer]}
        )
        self.tags[subject_digest.replace(":", "-") + ".att"] = desc["digest"]

    def tag(self, name: str, desc: dict[str, Any]) -> None:
        self.tags[name] = desc["digest"]

    def write_layout(self, path: Path) -> Path:
        """Write everything as an OCI image layout; tags become ref.name annotations."""
        (path / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        (path / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
        for digest, data in list(self.blobs.items()) + [
            (d, raw) for d, (_, raw) in self.manifests.items()
        ]:
            (path / "blobs" / "sha256" / digest.split(":")[1]).write_bytes(data)
        entries = []
        for name, digest in self.tags.items():
            media_type, raw = self.manifests[digest]
            entries.append(
                {
                    "mediaType": media_type,
                    "digest": digest,
                    "size": len(raw),
                    "annotations": {"org.opencontainers.image.ref.name": name},
                }
            )
        (path / "index.json").write_bytes(
            canonical({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries})
        )
        return path


def statement(predicate_type: str, subject_digest: str, predicate: dict[str, Any]) -> bytes:
    """A minimal in-toto statement (v1) for generated tests."""
    return canonical(
        {
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": "_", "digest": {"sha256": subject_digest.split(":")[1]}}],
            "predicateType": predicate_type,
            "predicate": predicate,
        }
    )


def push_kit(kit: ImageKit, client: Any, repo: Any) -> None:
    """Push every blob, manifest and tag of ``kit`` to a registry (children before parents)."""
    for data in kit.blobs.values():
        client.push_blob(repo, data)
    for media_type, raw in kit.manifests.values():
        client.push_manifest(repo, raw, media_type)
    for tag, digest in kit.tags.items():
        media_type, raw = kit.manifests[digest]
        client.push_manifest(repo, raw, media_type, tag=tag)

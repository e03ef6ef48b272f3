"""Build the inputs of the offline example under ``examples/build/`` (deterministic).

Run with the interpreter that has buildsig installed (``python3 -m nox -s example`` does
it). Everything is made from fixed seeds and dates, so two runs write the same bytes:

- ``build/oci-layout/``: what ``docker buildx build --output type=oci`` and a registry
  copy leave on disk for two images of the Acme organisation:

  * ``ghcr.io/acme/builder:1.4``, linux/amd64 and linux/arm64, each platform with a
    BuildKit SLSA provenance attestation manifest in the index, and each attestation
    manifest signed by *Docker's GitHub builder* building ``acme/images`` on a
    GitHub-hosted runner (a Sigstore bundle stored as a referrer of the attestation
    manifest, as Docker's signer stores it);
  * ``ghcr.io/acme/runtime:2.0``, with provenance but no signature at all.

- ``build/trusted_root.json``: the Sigstore trust root the signatures chain to. It is a
  *test* Sigstore (``buildsig.testing.TestSigstore``) that runs offline, in place of
  Sigstore's public-good instance.
- ``build/downloads/get-acme.sh``: the convenience script the Dockerfile downloads without
  a checksum; ``nox -s example`` serves ``build/downloads`` on http://127.0.0.1:8419.
- ``build/git/acme/tools.git``: a bare repository with the annotated tag ``v1.0``
  SSH-signed by the maintainer (public key: ``keys/maintainer.pub``, written here too)
  and the lightweight (unsigned) tag ``v1.1-rc1``. ``nox -s example`` serves ``build/git``
  with ``git daemon`` on 127.0.0.1:9418 so the Dockerfile's ``git://`` source resolves
  without leaving the machine.

Needs ``git`` and ``ssh-keygen`` (Debian: git, openssh-client).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from buildsig.testing import TestSigstore

HERE = Path(__file__).resolve().parent
BUILD = HERE / "build"
LAYOUT = BUILD / "oci-layout"
TRUSTED_ROOT = BUILD / "trusted_root.json"
GIT_ROOT = BUILD / "git"
DOWNLOADS = BUILD / "downloads"
MAINTAINER_PUB = HERE / "keys" / "maintainer.pub"

SIGNED_IMAGE = "ghcr.io/acme/builder:1.4"
UNSIGNED_IMAGE = "ghcr.io/acme/runtime:2.0"
PLATFORMS = (("linux", "amd64", ""), ("linux", "arm64", "v8"))

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
IN_TOTO = "application/vnd.in-toto+json"
DOCKER_ATTESTATION = "application/vnd.docker.attestation.manifest.v1+json"
SIGSTORE_BUNDLE = "application/vnd.dev.sigstore.bundle.v0.3+json"
SLSA_PROVENANCE = "https://slsa.dev/provenance/v1"
REF_NAME = "org.opencontainers.image.ref.name"
CREATED = "2025-12-31T12:00:00Z"

# Docker's GitHub builder (reusable workflow of docker/github-builder) building acme/images
# at tag v1.4 on a GitHub-hosted runner: the Fulcio certificate extensions it gets.
BUILDER_WORKFLOW = (
    "https://github.com/docker/github-builder/.github/workflows/build.yml@refs/heads/main"
)
BUILDER_IDENTITY = {
    ".9": BUILDER_WORKFLOW,  # build signer URI
    ".10": "3f1c0e7d5b9a4c2e8d6f0a1b2c3d4e5f6a7b8c9d",  # build signer digest
    ".11": "github-hosted",  # runner environment
    ".12": "https://github.com/acme/images",  # source repository
    ".13": "9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c",  # source repository digest
    ".14": "refs/tags/v1.4",  # source repository ref
    ".15": "712345678",
    ".16": "https://github.com/acme",
    ".17": "81234567",
    ".18": "https://github.com/acme/images/.github/workflows/release.yml@refs/tags/v1.4",
    ".19": "9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c",
    ".20": "push",
    ".21": "https://github.com/acme/images/actions/runs/1234/attempts/1",
    ".22": "public",
}


def canonical(obj: Any) -> bytes:
    """JSON as manifests are stored: sorted keys, no spaces (stable digests)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


class Layout:
    """Content-addressed blobs and the entries of ``index.json``."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.entries: list[dict[str, Any]] = []

    def add(self, data: bytes, media_type: str, **extra: Any) -> dict[str, Any]:
        """Store ``data``; its descriptor (plus ``extra`` fields)."""
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        self.blobs[digest] = data
        return {"mediaType": media_type, "digest": digest, "size": len(data), **extra}

    def raw(self, desc: dict[str, Any]) -> bytes:
        """The bytes a descriptor names."""
        return self.blobs[desc["digest"]]

    def write(self, path: Path) -> None:
        """Write the layout (``oci-layout``, ``index.json``, ``blobs/sha256/``) at ``path``."""
        (path / "blobs" / "sha256").mkdir(parents=True)
        (path / "oci-layout").write_bytes(canonical({"imageLayoutVersion": "1.0.0"}))
        for digest, data in sorted(self.blobs.items()):
            (path / "blobs" / "sha256" / digest.removeprefix("sha256:")).write_bytes(data)
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": self.entries}
        (path / "index.json").write_bytes(canonical(index))


def layer_tar(files: dict[str, bytes]) -> tuple[bytes, bytes]:
    """A deterministic tar of ``files`` and its gzip (fixed mtimes, no gzip timestamp)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 1767182400, 0o755
            tar.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    return raw, gzip.compress(raw, mtime=0)


def platform_image(layout: Layout, name: str, os_: str, arch: str, variant: str) -> dict[str, Any]:
    """One platform's image manifest (config + one layer)."""
    raw, gz = layer_tar({f"usr/local/bin/{name.split('/')[-1].split(':')[0]}": b"#!/bin/sh\n"})
    layer = layout.add(gz, OCI_LAYER)
    platform = {"os": os_, "architecture": arch, **({"variant": variant} if variant else {})}
    config = {
        "architecture": arch,
        "os": os_,
        **({"variant": variant} if variant else {}),
        "created": CREATED,
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Labels": {
                "org.opencontainers.image.source": "https://github.com/acme/images",
                "org.opencontainers.image.vendor": "Acme",
            },
        },
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(raw).hexdigest()]},
    }
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": layout.add(canonical(config), OCI_CONFIG),
        "layers": [layer],
    }
    return layout.add(canonical(manifest), OCI_MANIFEST, platform=platform)


def provenance(layout: Layout, name: str, subject: dict[str, Any]) -> dict[str, Any]:
    """BuildKit's attestation manifest for ``subject``: an SLSA v1 provenance statement."""
    statement = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [
            {
                "name": f"pkg:docker/{name.replace(':', '@')}",
                "digest": {"sha256": subject["digest"].removeprefix("sha256:")},
            }
        ],
        "predicateType": SLSA_PROVENANCE,
        "predicate": {
            "buildDefinition": {
                "buildType": "https://github.com/moby/buildkit/blob/master/docs/attestations/slsa-definitions.md",
                "externalParameters": {
                    "configSource": {"uri": "https://github.com/acme/images.git#refs/tags/v1.4"},
                    "request": {"frontend": "dockerfile.v0"},
                },
            },
            "runDetails": {
                "builder": {"id": "https://github.com/acme/images/actions/runs/1234/attempts/1"},
                "metadata": {"invocationID": "example", "startedOn": CREATED},
            },
        },
    }
    layer = layout.add(
        canonical(statement), IN_TOTO, annotations={"in-toto.io/predicate-type": SLSA_PROVENANCE}
    )
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": DOCKER_ATTESTATION,
        "config": layout.add(b"{}", OCI_EMPTY),
        "layers": [layer],
        "subject": {k: subject[k] for k in ("mediaType", "digest", "size")},
    }
    return layout.add(
        canonical(manifest),
        OCI_MANIFEST,
        platform={"os": "unknown", "architecture": "unknown"},
        annotations={
            "vnd.docker.reference.type": "attestation-manifest",
            "vnd.docker.reference.digest": subject["digest"],
        },
    )


def image(layout: Layout, name: str, sigstore: TestSigstore | None) -> None:
    """A multi-platform image with provenance; with ``sigstore``, signed by the builder."""
    entries: list[dict[str, Any]] = []
    attestations: list[dict[str, Any]] = []
    for os_, arch, variant in PLATFORMS:
        manifest = platform_image(layout, name, os_, arch, variant)
        entries.append(manifest)
        attestations.append(provenance(layout, name, manifest))
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries + attestations}
    desc = layout.add(canonical(index), OCI_INDEX)
    layout.entries.append({**desc, "annotations": {REF_NAME: name}})
    if sigstore is None:
        return
    for attestation in attestations:
        # Docker's signer: a message signature over the attestation manifest, logged in
        # Rekor and timestamped, pushed as a Sigstore-bundle referrer of that manifest.
        bundle = sigstore.sign_artifact(
            layout.raw(attestation),
            identity=BUILDER_WORKFLOW,
            issuer="https://token.actions.githubusercontent.com",
            extensions=BUILDER_IDENTITY,
            timestamp=True,
        )
        signature = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": SIGSTORE_BUNDLE,
            "config": layout.add(b"{}", OCI_EMPTY),
            "layers": [layout.add(bundle, SIGSTORE_BUNDLE)],
            "subject": {k: attestation[k] for k in ("mediaType", "digest", "size")},
        }
        layout.entries.append(
            layout.add(canonical(signature), OCI_MANIFEST, artifactType=SIGSTORE_BUNDLE)
        )


# --- git --------------------------------------------------------------------------------


def ssh_key(seed: str, path: Path) -> str:
    """A deterministic Ed25519 key written as an OpenSSH private key; its public line."""
    key = ed25519.Ed25519PrivateKey.from_private_bytes(
        hashlib.sha256(b"buildsig example " + seed.encode()).digest()
    )
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return public.decode() + f" {seed}\n"


def git(work: Path, *args: str, date: str) -> None:
    """Run git in ``work``, isolated from the user's configuration, at a fixed date."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(work),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": "Ada Maintainer",
        "GIT_AUTHOR_EMAIL": "ada@acme.example",
        "GIT_COMMITTER_NAME": "Ada Maintainer",
        "GIT_COMMITTER_EMAIL": "ada@acme.example",
        "GIT_AUTHOR_DATE": date,
        "GIT_COMMITTER_DATE": date,
    }
    subprocess.run(["git", *args], cwd=work, env=env, check=True, capture_output=True)


def git_repository(keys: Path) -> str:
    """``build/git/acme/tools.git`` with a maintainer-signed tag and an unsigned one."""
    maintainer = keys / "maintainer"
    public = ssh_key("maintainer@acme.example", maintainer)
    work = keys / "tools"
    work.mkdir()
    git(work, "init", "-q", "-b", "main", ".", date="2025-12-01T10:00:00Z")
    (work / "install.sh").write_text("#!/bin/sh\necho 'installing acme tools 1.0'\n")
    git(work, "add", "install.sh", date="2025-12-01T10:00:00Z")
    git(work, "commit", "-q", "-m", "acme tools 1.0", date="2025-12-01T10:00:00Z")
    sign = ["-c", "gpg.format=ssh", "-c", f"user.signingKey={maintainer}"]
    git(work, *sign, "tag", "-s", "-m", "acme tools v1.0", "v1.0", date="2025-12-01T11:00:00Z")
    (work / "install.sh").write_text("#!/bin/sh\necho 'installing acme tools 1.1-rc1'\n")
    git(work, "commit", "-q", "-am", "acme tools 1.1-rc1", date="2025-12-15T10:00:00Z")
    git(work, "tag", "v1.1-rc1", date="2025-12-15T11:00:00Z")  # lightweight: nothing signed
    bare = GIT_ROOT / "acme" / "tools.git"
    bare.parent.mkdir(parents=True)
    git(work, "clone", "-q", "--bare", str(work), str(bare), date="2025-12-15T11:00:00Z")
    git(bare, "remote", "remove", "origin", date="2025-12-15T11:00:00Z")  # a temporary path
    # let clients fetch just the tag and commit (git daemon honours the filter when allowed)
    git(bare, "config", "uploadpack.allowFilter", "true", date="2025-12-15T11:00:00Z")
    return public


def main() -> int:
    """Rebuild ``examples/build/`` from scratch."""
    for tool in ("git", "ssh-keygen"):
        if shutil.which(tool) is None:
            print(f"make_example: {tool} is missing (apt-get install git openssh-client)")
            return 1
    shutil.rmtree(BUILD, ignore_errors=True)
    BUILD.mkdir()
    (BUILD / ".gitignore").write_text("*\n")

    sigstore = TestSigstore(seed=2026)
    layout = Layout()
    image(layout, SIGNED_IMAGE, sigstore)
    image(layout, UNSIGNED_IMAGE, None)
    layout.write(LAYOUT)
    TRUSTED_ROOT.write_bytes(sigstore.trusted_root_json())

    DOWNLOADS.mkdir()
    (DOWNLOADS / "get-acme.sh").write_bytes(
        b"#!/bin/sh\n# fetch and run the acme installer\necho acme\n"
    )

    with tempfile.TemporaryDirectory(prefix="buildsig-example-") as tmp:
        public = git_repository(Path(tmp))
    MAINTAINER_PUB.parent.mkdir(exist_ok=True)
    if not MAINTAINER_PUB.is_file() or MAINTAINER_PUB.read_text() != public:
        MAINTAINER_PUB.write_text(public)
    print(f"make_example: wrote {BUILD.relative_to(HERE.parent)}/ and keys/maintainer.pub")
    return 0


if __name__ == "__main__":
    sys.exit(main())

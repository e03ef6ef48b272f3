"""Signed images end to end: built, signed with a test Sigstore, pushed, resolved, verified.

Every scenario is one tagged BuildKit-style image (OCI index, platform manifests, an
attestation manifest with SLSA provenance per platform) signed by
:class:`buildsig.testing.TestSigstore` in one of the layouts signatures live in: Docker's
(a referrer of the attestation manifest: a bundle, or a simple signature), Docker Hardened
Images' (key-signed), cosign's new bundle format (v2 lists it as a bundle, v3 as an empty
artifact) and cosign's ``.sig`` tag. The same bytes are pushed to Debian's docker-registry
2.8 (no referrers API: the referrers-tag fallback) and written as an OCI layout, and every
assertion is made through the public paths -- :class:`~buildsig.resolver.Resolver`,
:class:`~buildsig.oci.images.ImageResolver`, ``buildsig inspect --fields image.signatures``
and ``buildsig verify image --json`` -- against the exact ``AttestationSignature`` JSON a
policy would see. Verification always uses the test Sigstore's trust root (a
``--trusted-root`` file or a ``TrustRoot``), never the public-good one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from buildsig import source_to_input
from buildsig._internal.platform import parse_platform
from buildsig._internal.reference import parse_image_reference
from buildsig.cli import main
from buildsig.errors import DigestMismatchError
from buildsig.model import Input
from buildsig.oci.images import ImageResolver
from buildsig.oci.layout import OCILayout
from buildsig.oci.registry import RegistryClient
from buildsig.oci.resolve import ImageResolution, resolve_image
from buildsig.oci.signatures import (
    LAYOUT_COSIGN_BUNDLE,
    LAYOUT_COSIGN_LEGACY,
    LAYOUT_DHI,
    LAYOUT_DOCKER,
)
from buildsig.oci.store import ImageStore
from buildsig.resolver import ResolveOptions, Resolver
from buildsig.sigstore import ImageSignatureVerifier, TrustRoot, Verifier
from buildsig.source import Source
from buildsig.testing import Signer, SimpleSigningSignature, TestFulcio, TestSigstore
from buildsig.unknowns import ImageRequest
from tests.oci.registryd import RunningRegistry, docker_registry
from tests.oci.signedkit import (
    COSIGN_SIG,
    SIGSTORE_BUNDLE,
    SigLayer,
    SignedKit,
    bundle_layer,
    simple_signing_layer,
)

AMD64 = "linux/amd64"
ARM64 = "linux/arm64/v8"
REPO = "signed/app"
#: Layout references name a registry that does not exist: a miss would fail loudly.
LAYOUT_HOST = "layout.buildsig.test"
COSIGN_SIGN = "https://sigstore.dev/cosign/sign/v1"
SIGNATURES = ImageRequest(attestation_chain=True, signatures=True)

# --- identities ------------------------------------------------------------------------------

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
BUILDER_WORKFLOW = (
    "https://github.com/docker/github-builder/.github/workflows/build.yml@refs/heads/main"
)
#: Docker's GitHub builder signing for acme/app: every Fulcio extension Buildx reports.
BUILDER_EXTENSIONS = {
    ".2": "push",  # deprecated raw GitHub fields: never reported
    ".3": "0" * 40,
    ".9": BUILDER_WORKFLOW,
    ".10": "a" * 40,
    ".11": "github-hosted",
    ".12": "https://github.com/acme/app",
    ".13": "b" * 40,
    ".14": "refs/tags/v1.2.3",
    ".15": "123456789",
    ".16": "https://github.com/acme",
    ".17": "987654",
    ".18": "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.2.3",
    ".19": "c" * 40,
    ".20": "push",
    ".21": "https://github.com/acme/app/actions/runs/42/attempts/1",
    ".22": "public",
}
BUILDER_SIGNER = {
    "certificateIssuer": "CN=sigstore-intermediate,O=sigstore.dev",
    "subjectAlternativeName": BUILDER_WORKFLOW,
    "issuer": GITHUB_ISSUER,
    "buildSignerURI": BUILDER_WORKFLOW,
    "buildSignerDigest": "a" * 40,
    "runnerEnvironment": "github-hosted",
    "sourceRepositoryURI": "https://github.com/acme/app",
    "sourceRepositoryDigest": "b" * 40,
    "sourceRepositoryRef": "refs/tags/v1.2.3",
    "sourceRepositoryIdentifier": "123456789",
    "sourceRepositoryOwnerURI": "https://github.com/acme",
    "sourceRepositoryOwnerIdentifier": "987654",
    "buildConfigURI": "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.2.3",
    "buildConfigDigest": "c" * 40,
    "buildTrigger": "push",
    "runInvocationURI": "https://github.com/acme/app/actions/runs/42/attempts/1",
    "sourceRepositoryVisibilityAtSigning": "public",
}
REPO_WORKFLOW = "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v2"
#: acme/app signing its own image from its own workflow.
REPO_EXTENSIONS = {
    ".9": REPO_WORKFLOW,
    ".11": "github-hosted",
    ".12": "https://github.com/acme/app",
    ".14": "refs/tags/v2",
}
REPO_SIGNER = {
    "certificateIssuer": "CN=sigstore-intermediate,O=sigstore.dev",
    "subjectAlternativeName": REPO_WORKFLOW,
    "issuer": GITHUB_ISSUER,
    "buildSignerURI": REPO_WORKFLOW,
    "runnerEnvironment": "github-hosted",
    "sourceRepositoryURI": "https://github.com/acme/app",
    "sourceRepositoryRef": "refs/tags/v2",
}
EMAIL = "alice@example.com"
GOOGLE = "https://accounts.google.com"
EMAIL_SIGNER = {
    "certificateIssuer": "CN=sigstore-intermediate,O=sigstore.dev",
    "subjectAlternativeName": EMAIL,
    "issuer": GOOGLE,
}

# --- the test Sigstore's endpoints, as reported in timestamps --------------------------------

REKOR_V1 = "https://rekor.buildsig.test"
TSA = "https://timestamp.buildsig.test/api/v1/timestamp"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(hours: int) -> datetime:
    """Signing time of a scenario (each its own hour, so times say which one is which)."""
    return T0 + timedelta(hours=hours)


def rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def tlog(signed: datetime) -> dict[str, str]:
    """Rekor v1's integration time: one second after signing, in the test Sigstore."""
    return {"type": "Tlog", "uri": REKOR_V1, "timestamp": rfc3339(signed + timedelta(seconds=1))}


def tsa(signed: datetime) -> dict[str, str]:
    return {
        "type": "TimestampAuthority",
        "uri": TSA,
        "timestamp": rfc3339(signed + timedelta(seconds=1)),
    }


def signature(
    kind: str, type_: str, timestamps: list[dict[str, str]], **rest: Any
) -> dict[str, Any]:
    """An ``AttestationSignature`` as JSON (``rest``: dockerReference, isDHI, signer)."""
    return {"kind": kind, "type": type_, "timestamps": timestamps, **rest}


def layer_of(simple: SimpleSigningSignature) -> SigLayer:
    """A simple signature as the layer cosign (or Docker's signer) pushes."""
    return simple_signing_layer(simple.payload, dict(simple.annotations))


# --- the images ----------------------------------------------------------------------------


@dataclass
class World:
    """Every scenario, signed; what each should verify to; the trust to verify with."""

    kit: SignedKit
    sigstore: TestSigstore
    dhi_key: ec.EllipticCurvePrivateKey
    root_json: bytes
    d: dict[str, Any] = field(default_factory=dict)  # named descriptors
    #: tag -> platform -> the exact ``input.image.signatures`` JSON
    expected: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)
    #: the layer whose stored bytes are corrupted after publishing
    tampered_blob: str = ""
    #: its bytes before, and the attestation manifest digest they sign
    tampered_original: tuple[bytes, str] = (b"", "")

    def raw(self, desc: dict[str, Any]) -> bytes:
        """The exact bytes of a manifest in the kit (what a signer hashes)."""
        return self.kit.kit.manifests[desc["digest"]][1]


def build() -> World:
    sig = TestSigstore(seed=11)
    # A second Fulcio, trusted by the root but not named like Sigstore's intermediate:
    # its certificates verify and are classified "untrusted".
    elsewhere = TestFulcio(seed=23, organization="example.test", ctlog=sig.ctlog)
    dhi_key = sig.new_key()
    sk = SignedKit()
    w = World(
        sk,
        sig,
        dhi_key,
        sig.trusted_root_json(certificate_authorities=[sig.fulcio, elsewhere]),
    )
    d, expected = w.d, w.expected

    def signs(digest: str) -> bytes:
        """cosign's statement about ``digest`` (``cosign sign`` in the new bundle format)."""
        return sig.statement(subject_digest=digest, predicate_type=COSIGN_SIGN, predicate={})

    # 1. Docker's GitHub builder: message signature over the amd64 attestation manifest
    #    (Rekor v1 + TSA), DSSE statement naming the arm64 one (Rekor v2 + TSA)
    img = sk.buildkit_image("github-builder")
    att = img.attestations[AMD64]
    bundle = sig.sign_artifact(
        w.raw(att),
        identity=BUILDER_WORKFLOW,
        extensions=BUILDER_EXTENSIONS,
        timestamp=True,
        when=at(1),
    )
    d["github-builder.amd64"] = sk.docker_signature(att, bundle_layer(bundle))
    arm = img.attestations[ARM64]
    statement = signs(arm["digest"])
    bundle = sig.sign_dsse(
        statement, identity=BUILDER_WORKFLOW, extensions=BUILDER_EXTENSIONS, rekor="v2", when=at(2)
    )
    d["github-builder.arm64"] = sk.docker_signature(arm, bundle_layer(bundle))
    expected["github-builder"] = {
        AMD64: [
            signature(
                "docker-github-builder",
                "bundle-v0.3",
                [tsa(at(1)), tlog(at(1))],
                signer=BUILDER_SIGNER,
            )
        ],
        ARM64: [
            signature("docker-github-builder", "bundle-v0.3", [tsa(at(2))], signer=BUILDER_SIGNER)
        ],
    }

    # 2. a repository signing its own image from its own workflow: a DSSE statement over
    #    the attestation manifest, on Rekor v1 (a dsse entry)
    img = sk.buildkit_image("github-repo")
    att = img.attestations[AMD64]
    statement = signs(att["digest"])
    bundle = sig.sign_dsse(
        statement, identity=REPO_WORKFLOW, extensions=REPO_EXTENSIONS, when=at(3)
    )
    d["github-repo"] = sk.docker_signature(att, bundle_layer(bundle))
    expected["github-repo"] = {
        AMD64: [
            signature("self-signed-github-repo", "bundle-v0.3", [tlog(at(3))], signer=REPO_SIGNER)
        ]
    }

    # 3. a person (email identity, Google): self-signed
    img = sk.buildkit_image("self-signed")
    att = img.attestations[AMD64]
    bundle = sig.sign_artifact(
        w.raw(att), identity=EMAIL, san_kind="email", issuer=GOOGLE, when=at(4)
    )
    d["self-signed"] = sk.docker_signature(att, bundle_layer(bundle))
    expected["self-signed"] = {
        AMD64: [signature("self-signed", "bundle-v0.3", [tlog(at(4))], signer=EMAIL_SIGNER)]
    }

    # 4. a certificate the root trusts, from a CA that is not Sigstore's intermediate: even
    #    with the GitHub builder's identity, it is "untrusted"
    img = sk.buildkit_image("untrusted")
    att = img.attestations[AMD64]
    key = sig.new_key()
    cert = elsewhere.issue(
        key.public_key(),
        identity=BUILDER_WORKFLOW,
        extensions=BUILDER_EXTENSIONS,
        not_before=at(5),
    )
    bundle = sig.sign_artifact(w.raw(att), signer=Signer(key, cert), timestamp=True, when=at(5))
    d["untrusted"] = sk.docker_signature(att, bundle_layer(bundle))
    expected["untrusted"] = {
        AMD64: [
            signature(
                "untrusted",
                "bundle-v0.3",
                [tsa(at(5)), tlog(at(5))],
                signer={
                    **BUILDER_SIGNER,
                    "certificateIssuer": "CN=sigstore-intermediate,O=example.test",
                },
            )
        ]
    }

    # 5. Docker's layout with a simple signature (simplesigning-v1): the docker reference is
    #    reported, and a simple signature is never "docker-github-builder" (bundles only)
    img = sk.buildkit_image("simplesigning")
    att = img.attestations[AMD64]
    simple = sig.simple_signing(
        manifest_digest=att["digest"],
        docker_reference="registry.example/acme/app:v1",
        identity=BUILDER_WORKFLOW,
        extensions=BUILDER_EXTENSIONS,
        when=at(6),
    )
    d["simplesigning"] = sk.docker_signature(att, layer_of(simple))
    expected["simplesigning"] = {
        AMD64: [
            signature(
                "self-signed",
                "simplesigning-v1",
                [tlog(at(6))],
                dockerReference="registry.example/acme/app:v1",
                signer=BUILDER_SIGNER,
            )
        ]
    }

    # 6. cosign v2: a bundle referrer of the index (DSSE, cosign's sign predicate)
    img = sk.buildkit_image("cosign-v2")
    statement = signs(img.index["digest"])
    bundle = sig.sign_dsse(
        statement, identity=REPO_WORKFLOW, extensions=REPO_EXTENSIONS, when=at(7)
    )
    d["cosign-v2"] = sk.cosign_bundle(img.index, bundle)
    expected["cosign-v2"] = {
        AMD64: [
            signature("self-signed-github-repo", "bundle-v0.3", [tlog(at(7))], signer=REPO_SIGNER)
        ]
    }

    # 7. cosign v3: listed with the empty artifact type (Buildx misses these), Rekor v2
    img = sk.buildkit_image("cosign-v3")
    statement = signs(img.index["digest"])
    bundle = sig.sign_dsse(
        statement, identity=EMAIL, san_kind="email", issuer=GOOGLE, rekor="v2", when=at(8)
    )
    d["cosign-v3"] = sk.cosign_bundle(img.index, bundle, v3=True)
    expected["cosign-v3"] = {
        AMD64: [signature("self-signed", "bundle-v0.3", [tsa(at(8))], signer=EMAIL_SIGNER)]
    }

    # 8. cosign's .sig tag on the index: a keyless simple signature
    img = sk.buildkit_image("legacy")
    simple = sig.simple_signing(
        manifest_digest=img.index["digest"],
        docker_reference="registry.example/acme/app",
        identity=EMAIL,
        san_kind="email",
        issuer=GOOGLE,
        when=at(9),
    )
    d["legacy"] = sk.legacy_sig(img.index["digest"], [layer_of(simple)])
    expected["legacy"] = {
        AMD64: [
            signature(
                "self-signed",
                "simplesigning-v1",
                [tlog(at(9))],
                dockerReference="registry.example/acme/app",
                signer=EMAIL_SIGNER,
            )
        ]
    }

    # 9. Docker Hardened Images, signed with a test key standing in for Docker's
    img = sk.buildkit_image("dhi", dhi=True)
    att = img.attestations[AMD64]
    simple = sig.simple_signing(
        manifest_digest=att["digest"],
        docker_reference="dhi.io/python:3.13",
        key=dhi_key,
        when=at(10),
    )
    d["dhi"] = sk.docker_signature(att, layer_of(simple))
    # arm64: the same key on a bundle, which carries no docker reference: "untrusted"
    arm = img.attestations[ARM64]
    keyed = sig.sign_with_key(w.raw(arm), key=dhi_key, when=at(11))
    d["dhi.arm64"] = sk.docker_signature(arm, bundle_layer(keyed.bundle))
    expected["dhi"] = {
        AMD64: [
            signature(
                "docker-hardened-image",
                "simplesigning-v1",
                [tlog(at(10))],
                dockerReference="dhi.io/python:3.13",
                isDHI=True,
            )
        ],
        ARM64: [signature("untrusted", "bundle-v0.3", [tlog(at(11))], isDHI=True)],
    }
    # without log evidence a DHI signature needs no timestamp (as in Buildx), and a
    # signature from before the key's window (2025-04-02) is refused
    img = sk.buildkit_image("dhi-unlogged", dhi=True)
    att = img.attestations[AMD64]
    simple = sig.simple_signing(
        manifest_digest=att["digest"], docker_reference="dhi.io/node:22", key=dhi_key, rekor=False
    )
    d["dhi-unlogged"] = sk.docker_signature(att, layer_of(simple))
    expected["dhi-unlogged"] = {
        AMD64: [
            # no verified time: the key is absent (omitempty), not an empty list
            {
                "kind": "docker-hardened-image",
                "type": "simplesigning-v1",
                "dockerReference": "dhi.io/node:22",
                "isDHI": True,
            }
        ]
    }
    img = sk.buildkit_image("dhi-early", dhi=True)
    att = img.attestations[AMD64]
    simple = sig.simple_signing(
        manifest_digest=att["digest"],
        docker_reference="dhi.io/go:1",
        key=dhi_key,
        when=datetime(2025, 3, 1, tzinfo=UTC),
    )
    d["dhi-early"] = sk.docker_signature(att, layer_of(simple))
    expected["dhi-early"] = {AMD64: []}

    # --- what must not verify ---------------------------------------------------------------

    # 10. signatures over something else: a Docker bundle over the platform manifest (not
    #     the attestation manifest), a cosign statement naming the arm64 manifest but
    #     attached to the index, a .sig payload naming the arm64 manifest
    img = sk.buildkit_image("wrong-subject")
    att, amd64, arm64 = img.attestations[AMD64], img.platforms[AMD64], img.platforms[ARM64]
    d["wrong-subject.index"], d["wrong-subject.att"] = img.index, att
    d["wrong-subject.amd64"], d["wrong-subject.arm64"] = amd64, arm64
    bundle = sig.sign_artifact(w.raw(amd64), identity=EMAIL, san_kind="email", when=at(12))
    d["wrong-subject.docker"] = sk.docker_signature(att, bundle_layer(bundle))
    statement = signs(arm64["digest"])
    bundle = sig.sign_dsse(statement, when=at(12))
    d["wrong-subject.cosign"] = sk.cosign_bundle(img.index, bundle)
    simple = sig.simple_signing(
        manifest_digest=arm64["digest"], docker_reference="registry.example/acme/app", when=at(12)
    )
    d["wrong-subject.sig"] = sk.legacy_sig(img.index["digest"], [layer_of(simple)])
    expected["wrong-subject"] = {AMD64: []}

    # 11. a valid bundle from another Sigstore instance (its CA, CT log and Rekor are not
    #     in the trust root), and a certificate that expired before the log saw it
    img = sk.buildkit_image("foreign")
    att = img.attestations[AMD64]
    bundle = TestSigstore(seed=99).sign_artifact(w.raw(att), when=at(13))
    d["foreign"] = sk.docker_signature(att, bundle_layer(bundle))
    expected["foreign"] = {AMD64: []}
    img = sk.buildkit_image("expired")
    att = img.attestations[AMD64]
    stale = sig.new_signer(identity=REPO_WORKFLOW, extensions=REPO_EXTENSIONS, when=at(13))
    bundle = sig.sign_artifact(w.raw(att), signer=stale, when=at(14))  # 50 min after expiry
    d["expired"] = sk.docker_signature(att, bundle_layer(bundle))
    expected["expired"] = {AMD64: []}

    # 12. a good signature whose stored bytes are corrupted after publishing
    img = sk.buildkit_image("tampered")
    att = img.attestations[AMD64]
    bundle = sig.sign_artifact(w.raw(att), identity=EMAIL, san_kind="email", when=at(15))
    d["tampered"] = sk.docker_signature(att, bundle_layer(bundle))
    w.tampered_blob = "sha256:" + hashlib.sha256(bundle).hexdigest()
    w.tampered_original = (bundle, att["digest"])

    # 13. a validly signed chain Buildx cannot use: the attestation manifest has no subject
    img = sk.buildkit_image("legacy-attestation", form="legacy")
    att = img.attestations[AMD64]
    bundle = sig.sign_artifact(w.raw(att), identity=EMAIL, san_kind="email", when=at(16))
    d["legacy-attestation"] = sk.docker_signature(att, bundle_layer(bundle))
    d["legacy-attestation.att"] = att
    expected["legacy-attestation"] = {AMD64: []}

    # 14. unsigned
    sk.buildkit_image("unsigned")
    expected["unsigned"] = {AMD64: [], ARM64: []}

    # --- several at once ----------------------------------------------------------------------

    # 15. Buildx's pick fails (a foreign bundle), a cosign bundle verifies
    img = sk.buildkit_image("mixed")
    att = img.attestations[AMD64]
    bundle = TestSigstore(seed=99).sign_artifact(w.raw(att), when=at(17))
    d["mixed.docker"] = sk.docker_signature(att, bundle_layer(bundle))
    statement = signs(img.index["digest"])
    bundle = sig.sign_dsse(
        statement, identity=REPO_WORKFLOW, extensions=REPO_EXTENSIONS, when=at(18)
    )
    d["mixed.cosign"] = sk.cosign_bundle(img.index, bundle)
    expected["mixed"] = {
        AMD64: [
            signature("self-signed-github-repo", "bundle-v0.3", [tlog(at(18))], signer=REPO_SIGNER)
        ]
    }

    # 16. every layout on one image: Buildx's first (bundle preferred), then cosign's
    img = sk.buildkit_image("everything")
    att, index = img.attestations[AMD64], img.index
    simple = sig.simple_signing(
        manifest_digest=att["digest"], docker_reference="registry.example/acme/app:v3", when=at(19)
    )
    d["everything.docker-simple"] = sk.docker_signature(att, layer_of(simple))
    bundle = sig.sign_artifact(
        w.raw(att), identity=BUILDER_WORKFLOW, extensions=BUILDER_EXTENSIONS, when=at(20)
    )
    d["everything.docker-bundle"] = sk.docker_signature(att, bundle_layer(bundle))
    statement = signs(index["digest"])
    bundle = sig.sign_dsse(statement, identity=EMAIL, san_kind="email", issuer=GOOGLE, when=at(21))
    d["everything.cosign-v3"] = sk.cosign_bundle(index, bundle, v3=True)
    simple = sig.simple_signing(
        manifest_digest=index["digest"],
        docker_reference="registry.example/acme/app:v3",
        identity=EMAIL,
        san_kind="email",
        issuer=GOOGLE,
        when=at(22),
    )
    d["everything.sig"] = sk.legacy_sig(index["digest"], [layer_of(simple)])
    default_signer = {
        "certificateIssuer": "CN=sigstore-intermediate,O=sigstore.dev",
        "subjectAlternativeName": "https://github.com/o/r/.github/workflows/w.yml@refs/heads/main",
        "issuer": GITHUB_ISSUER,
    }
    expected["everything"] = {
        AMD64: [
            signature(
                "docker-github-builder", "bundle-v0.3", [tlog(at(20))], signer=BUILDER_SIGNER
            ),
            signature(
                "self-signed",
                "simplesigning-v1",
                [tlog(at(19))],
                dockerReference="registry.example/acme/app:v3",
                signer=default_signer,
            ),
            signature("self-signed", "bundle-v0.3", [tlog(at(21))], signer=EMAIL_SIGNER),
            signature(
                "self-signed",
                "simplesigning-v1",
                [tlog(at(22))],
                dockerReference="registry.example/acme/app:v3",
                signer=EMAIL_SIGNER,
            ),
        ]
    }
    return w


#: Every (tag, platform) the public paths are checked on, with what they must report.
CASES = [
    ("github-builder", AMD64),
    ("github-builder", ARM64),
    ("github-repo", AMD64),
    ("self-signed", AMD64),
    ("untrusted", AMD64),
    ("simplesigning", AMD64),
    ("cosign-v2", AMD64),
    ("cosign-v3", AMD64),
    ("legacy", AMD64),
    ("wrong-subject", AMD64),
    ("foreign", AMD64),
    ("expired", AMD64),
    ("legacy-attestation", AMD64),
    ("unsigned", AMD64),
    ("unsigned", ARM64),
    ("mixed", AMD64),
    ("everything", AMD64),
]
#: Signed with the test DHI key: only a verifier given that key (``dhi_key=``) accepts them.
DHI_CASES = [("dhi", AMD64), ("dhi", ARM64), ("dhi-unlogged", AMD64), ("dhi-early", AMD64)]


# --- publishing: a real registry and an OCI layout with the same bytes -------------------------


@dataclass
class Published:
    world: World
    registry: RunningRegistry
    layout: Path
    root_path: Path


@pytest.fixture(scope="module")
def world() -> World:
    return build()


@pytest.fixture(scope="module")
def published(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Published]:
    base = tmp_path_factory.mktemp("signed-images")
    with docker_registry(base / "registry") as registry:
        with RegistryClient(timeout=10.0) as client:
            world.kit.push(client, registry.repo(REPO))
        layout = world.kit.write_layout(base / "layout")
        root_path = base / "trusted_root.json"
        root_path.write_bytes(world.root_json)
        # corrupt one stored layer in both stores, keeping its size: one byte flipped
        hexpart = world.tampered_blob.removeprefix("sha256:")
        stored = (
            registry.root / "data" / "docker" / "registry" / "v2" / "blobs" / "sha256",
            layout / "blobs" / "sha256",
        )
        for path in (stored[0] / hexpart[:2] / hexpart / "data", stored[1] / hexpart):
            data = bytearray(path.read_bytes())
            data[len(data) // 2] ^= 0x01
            path.write_bytes(bytes(data))
        yield Published(world, registry, layout, root_path)


@dataclass
class Where:
    """One store, and how every public path is pointed at it."""

    name: str
    published: Published

    @property
    def host(self) -> str:
        return self.published.registry.host if self.name == "registry" else LAYOUT_HOST

    @property
    def layouts(self) -> tuple[Path, ...]:
        return (self.published.layout,) if self.name == "layout" else ()

    @property
    def root_path(self) -> Path:
        return self.published.root_path

    def ref(self, tag: str) -> str:
        return f"{self.host}/{REPO}:{tag}"

    def cli_args(self) -> list[str]:
        layout = ["--oci-layout", str(self.published.layout)] if self.name == "layout" else []
        return ["--trusted-root", str(self.root_path), *layout]

    @contextlib.contextmanager
    def store(self) -> Iterator[ImageStore]:
        if self.name == "layout":
            yield OCILayout(self.published.layout)
            return
        with RegistryClient(timeout=10.0) as client:
            yield client

    def resolve(self, tag: str, platform: str, verifier: ImageSignatureVerifier) -> ImageResolution:
        """``resolve_image`` with a given verifier (for a DHI key or a fixed ``now``)."""
        with self.store() as store:
            return resolve_image(
                store,
                parse_image_reference(self.ref(tag)),
                parse_platform(platform),
                request=SIGNATURES,
                signature_verifier=verifier,
            )


@pytest.fixture(params=["registry", "layout"])
def where(request: pytest.FixtureRequest, published: Published) -> Where:
    return Where(request.param, published)


def trust(where: Where) -> TrustRoot:
    return TrustRoot.from_file(where.root_path)


# --- the public paths ----------------------------------------------------------------------


def image_input(where: Where, tag: str, platform: str) -> tuple[Source, Input]:
    source = Source(f"docker-image://{where.ref(tag)}")
    return source, source_to_input(source, platform=platform)


def via_resolver(where: Where, tag: str, platform: str) -> list[dict[str, Any]]:
    source, inp = image_input(where, tag, platform)
    assert "image.signatures" in inp.unknowns
    options = ResolveOptions(timeout=10.0, oci_layouts=where.layouts, trust_root=where.root_path)
    with Resolver(options) as resolver:
        [out] = resolver.resolve_many([(source, inp)], ["image.signatures"])
    assert out.image is not None
    assert "image.signatures" not in out.unknowns
    return [s.to_dict() for s in out.image.signatures]


def via_image_resolver(where: Where, tag: str, platform: str) -> list[dict[str, Any]]:
    _, inp = image_input(where, tag, platform)
    with ImageResolver(
        trust_root=trust(where), layouts=where.layouts, registry_options={"timeout": 10.0}
    ) as images:
        out = images.resolve_input(inp, SIGNATURES)
    assert out.image is not None and "image.signatures" not in out.unknowns
    return [s.to_dict() for s in out.image.signatures]


def run_cli(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def via_inspect(
    where: Where, tag: str, platform: str, capsys: pytest.CaptureFixture[str]
) -> list[dict[str, Any]]:
    argv = ["inspect", "--fields", "image.signatures", "--platform", platform, *where.cli_args()]
    code, out, err = run_cli(capsys, [*argv, f"docker-image://{where.ref(tag)}"])
    assert code == 0, err
    assert "image.signatures" not in err  # resolved, even when there are none
    image = json.loads(out)["image"]
    assert image["platform"] == platform.removesuffix("/v8")  # normalised, as in Buildx
    signatures: list[dict[str, Any]] = image.get("signatures", [])
    if not signatures:
        assert "signatures" not in image  # omitempty, as in Buildx
    return signatures


def verify_image(
    where: Where,
    tag: str,
    capsys: pytest.CaptureFixture[str],
    platform: str = AMD64,
    *,
    as_json: bool = True,
) -> tuple[int, Any, str]:
    """``buildsig verify image``: exit code, the report (JSON parsed, or text), stderr."""
    argv = ["verify", "image", where.ref(tag), "--platform", platform, *where.cli_args()]
    code, out, err = run_cli(capsys, [*argv, "--json"] if as_json else argv)
    return code, json.loads(out) if as_json and out else out, err


def via_verify(
    where: Where, tag: str, platform: str, capsys: pytest.CaptureFixture[str]
) -> list[dict[str, Any]]:
    code, report, err = verify_image(where, tag, capsys, platform)
    verified = [v["signature"] for v in report["signatures"] if v["verified"]]
    assert code == (0 if verified else 1), err
    assert report["image"] == where.ref(tag)
    return verified


# --- what each path reports --------------------------------------------------------------


def test_cases_cover_every_scenario(world: World) -> None:
    scenarios = {(tag, p) for tag, platforms in world.expected.items() for p in platforms}
    assert scenarios == set(CASES) | set(DHI_CASES)


@pytest.mark.parametrize(("tag", "platform"), CASES, ids=[f"{t}-{p}" for t, p in CASES])
@pytest.mark.parametrize("path", ["resolver", "image-resolver", "inspect", "verify"])
def test_public_paths_report_the_exact_signatures(
    where: Where,
    world: World,
    capsys: pytest.CaptureFixture[str],
    path: str,
    tag: str,
    platform: str,
) -> None:
    if path == "resolver":
        got = via_resolver(where, tag, platform)
    elif path == "image-resolver":
        got = via_image_resolver(where, tag, platform)
    elif path == "inspect":
        got = via_inspect(where, tag, platform, capsys)
    else:
        got = via_verify(where, tag, platform, capsys)
    assert got == world.expected[tag][platform]


@pytest.mark.parametrize(("tag", "platform"), DHI_CASES, ids=[f"{t}-{p}" for t, p in DHI_CASES])
def test_dhi_with_the_test_key(where: Where, world: World, tag: str, platform: str) -> None:
    verifier = ImageSignatureVerifier(trust(where), dhi_key=world.dhi_key.public_key())
    result = where.resolve(tag, platform, verifier).signatures
    assert result is not None
    assert result.discovery.is_dhi
    assert [s.to_dict() for s in result.signatures] == world.expected[tag][platform]
    (verdict,) = result.verdicts
    attestation = result.discovery.attestation_manifest
    assert attestation is not None
    assert (verdict.layout, verdict.subject) == (LAYOUT_DHI, attestation.digest)
    assert result.discovery.buildx_choice == verdict.manifest
    if tag == "dhi-early":
        assert verdict.reason == (
            "signed at 2025-03-01T00:00:01+00:00, before the DHI key was valid"
        )
    else:
        assert result.buildx is not None and result.buildx.is_dhi


def test_dhi_key_is_docker_s_by_default(
    where: Where, world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    # the public paths embed Docker's key: a test-key signature is found, and refused
    code, report, _ = verify_image(where, "dhi", capsys)
    assert code == 1
    assert report["isDHI"] is True
    (verdict,) = report["signatures"]
    assert verdict["layout"] == LAYOUT_DHI and verdict["verified"] is False
    assert verdict["manifest"] == world.d["dhi"]["digest"]
    assert verdict["reason"] == "signature does not verify for the artifact"
    assert via_resolver(where, "dhi", AMD64) == []


def test_registry_and_layout_give_the_same_reports(
    published: Published, capsys: pytest.CaptureFixture[str]
) -> None:
    registry, layout = Where("registry", published), Where("layout", published)
    for tag, platform in CASES + DHI_CASES:
        reports = []
        for where in (registry, layout):
            code, report, _ = verify_image(where, tag, capsys, platform)
            reports.append((code, {k: v for k, v in report.items() if k != "image"}))
        assert reports[0] == reports[1], (tag, platform)


# --- buildsig verify image: verdicts, reasons, skipped candidates, exit codes ----------------


def test_verify_image_reports_why_signatures_fail(
    where: Where, world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    d = world.d
    code, report, _ = verify_image(where, "wrong-subject", capsys)
    assert code == 1
    index_digest = d["wrong-subject.index"]["digest"]
    attestation, arm64 = d["wrong-subject.att"]["digest"], d["wrong-subject.arm64"]["digest"]
    assert report["digest"] == index_digest
    assert report["platformManifest"] == d["wrong-subject.amd64"]["digest"]
    assert report["isDHI"] is False
    assert report["skipped"] == []
    assert report["signatures"] == [
        {
            "layout": LAYOUT_DOCKER,
            "manifest": d["wrong-subject.docker"]["digest"],
            "subject": attestation,
            "type": "bundle-v0.3",
            "verified": False,
            "reason": "bundle's message digest does not match the artifact",
        },
        {
            "layout": LAYOUT_COSIGN_BUNDLE,
            "manifest": d["wrong-subject.cosign"]["digest"],
            "subject": index_digest,
            "type": "bundle-v0.3",
            "verified": False,
            "reason": f"no in-toto subject has digest {index_digest}",
        },
        {
            "layout": LAYOUT_COSIGN_LEGACY,
            "manifest": d["wrong-subject.sig"]["digest"],
            "subject": index_digest,
            "type": "simplesigning-v1",
            "verified": False,
            "reason": f"simple signature is for {arm64}, not {index_digest}",
        },
    ]


@pytest.mark.parametrize(
    ("tag", "reason"),
    [
        # another instance's certificate: the same CA names, not the same keys
        ("foreign", "signing certificate does not chain to a trusted CA"),
        # ten minutes of validity, logged fifty minutes after it ended
        ("expired", "not valid at"),
    ],
)
def test_verify_image_refuses_untrusted_material(
    where: Where, world: World, capsys: pytest.CaptureFixture[str], tag: str, reason: str
) -> None:
    code, report, _ = verify_image(where, tag, capsys)
    assert code == 1
    (verdict,) = report["signatures"]
    assert verdict["manifest"] == world.d[tag]["digest"]
    assert verdict["verified"] is False and "signature" not in verdict
    assert reason in verdict["reason"]


def test_verify_image_lists_skipped_candidates(
    where: Where, world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    att = world.d["legacy-attestation.att"]["digest"]
    problem = (
        f"attestation manifest {att} has no subject (Buildx verifies only OCI-artifact "
        "attestations, e.g. BuildKit's oci-artifact=true)"
    )
    code, report, _ = verify_image(where, "legacy-attestation", capsys)
    assert code == 1
    assert report["signatures"] == []
    assert report["skipped"] == [
        {"layout": LAYOUT_DOCKER, "digest": att, "reason": problem},
        {
            "layout": LAYOUT_DOCKER,
            "digest": world.d["legacy-attestation"]["digest"],
            "reason": f"its attestation manifest fails: {problem}",
        },
    ]
    code, text, _ = verify_image(where, "legacy-attestation", capsys, as_json=False)
    assert code == 1
    lines = text.splitlines()
    assert lines[0] == f"{where.ref('legacy-attestation')} ({report['digest']})"
    assert [line.split()[:2] for line in lines[1:]] == [["skipped", "docker"]] * 2
    assert lines[2].endswith(f"its attestation manifest fails: {problem}")
    assert "no signatures found" not in text


def test_verify_image_exit_codes_and_text(
    where: Where, world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report, _ = verify_image(where, "unsigned", capsys)
    assert (code, report["signatures"], report["skipped"]) == (1, [], [])
    code, text, _ = verify_image(where, "unsigned", capsys, as_json=False)
    assert code == 1 and text.splitlines()[1:] == ["no signatures found"]

    # one verified signature among failures is enough
    code, report, _ = verify_image(where, "mixed", capsys)
    assert code == 0
    assert [(v["layout"], v["verified"]) for v in report["signatures"]] == [
        (LAYOUT_DOCKER, False),
        (LAYOUT_COSIGN_BUNDLE, True),
    ]
    code, text, _ = verify_image(where, "mixed", capsys, as_json=False)
    assert code == 0
    failed, verified = text.splitlines()[1:]
    assert failed.split()[:3] == ["FAILED", "docker", "bundle-v0.3"]
    assert world.d["mixed.docker"]["digest"][:19] in failed
    assert "signing certificate does not chain to a trusted CA" in failed
    assert verified.split()[:3] == ["verified", "cosign-bundle", "bundle-v0.3"]
    assert verified.endswith(f"self-signed-github-repo: {REPO_WORKFLOW} [2026-01-01T18:00:01Z]")


def test_tampered_layer_is_a_store_error(
    where: Where, world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    # the one good signature's bundle was corrupted in storage: never a verified signature
    bundle, attestation = world.tampered_original
    assert Verifier(trust(where)).verify_artifact(bundle, attestation).signer is not None
    with pytest.raises(DigestMismatchError) as caught:
        via_resolver(where, "tampered", AMD64)
    assert caught.value.expected == world.tampered_blob
    code, out, err = verify_image(where, "tampered", capsys)
    assert (code, out) == (1, "")
    assert err.startswith("error: ") and "hashes to" in err
    code, out, err = run_cli(
        capsys,
        ["inspect", "--fields", "image.signatures", *where.cli_args(), where.ref("tampered")],
    )
    assert (code, out) == (1, "")
    assert err.startswith("error: ")


# --- the verifier's choices, through resolve_image ------------------------------------------


def test_buildx_choice_and_order(where: Where, world: World) -> None:
    d = world.d
    verifier = ImageSignatureVerifier(trust(where))

    result = where.resolve("everything", AMD64, verifier).signatures
    assert result is not None
    # the bundle is Buildx's pick although the simple signature was pushed first
    assert result.discovery.buildx_choice == d["everything.docker-bundle"]["digest"]
    assert [(v.layout, v.manifest) for v in result.verdicts] == [
        (LAYOUT_DOCKER, d["everything.docker-bundle"]["digest"]),
        (LAYOUT_DOCKER, d["everything.docker-simple"]["digest"]),
        (LAYOUT_COSIGN_BUNDLE, d["everything.cosign-v3"]["digest"]),
        (LAYOUT_COSIGN_LEGACY, d["everything.sig"]["digest"]),
    ]
    assert result.buildx == result.signatures[0]
    assert result.signatures[0].kind == "docker-github-builder"

    # Buildx's pick failed: it would report nothing, the cosign signature still counts
    result = where.resolve("mixed", AMD64, verifier).signatures
    assert result is not None
    assert result.discovery.buildx_choice == d["mixed.docker"]["digest"]
    assert result.buildx is None and len(result.signatures) == 1

    # cosign v3 lists its bundle with the empty artifact type: Buildx does not see it
    result = where.resolve("cosign-v3", AMD64, verifier).signatures
    assert result is not None
    assert result.discovery.buildx_choice == "" and result.buildx is None
    (candidate,) = result.discovery.candidates
    assert (candidate.layout, candidate.artifact_type) == (
        LAYOUT_COSIGN_BUNDLE,
        "application/vnd.oci.empty.v1+json",
    )
    assert result.signatures[0].kind == "self-signed"

    # the cosign bundle of v2 is listed as a bundle, the Docker simple signature as cosign's
    v2 = where.resolve("cosign-v2", AMD64, verifier).signatures
    assert v2 is not None and v2.discovery.candidates[0].artifact_type == SIGSTORE_BUNDLE
    simple = where.resolve("simplesigning", AMD64, verifier).signatures
    assert simple is not None and simple.discovery.candidates[0].artifact_type == COSIGN_SIG


def test_fixed_now(where: Where, world: World) -> None:
    root = trust(where)
    signed = world.expected["github-builder"][AMD64]
    # years later: still valid (certificates are checked at the verified times, not now)
    later = ImageSignatureVerifier(root, now=datetime(2035, 6, 1, tzinfo=UTC))
    result = where.resolve("github-builder", AMD64, later).signatures
    assert result is not None and [s.to_dict() for s in result.signatures] == signed
    # a day before it was signed: its times are in the future
    before = ImageSignatureVerifier(root, now=at(1) - timedelta(days=1))
    result = where.resolve("github-builder", AMD64, before).signatures
    assert result is not None and result.signatures == ()
    (verdict,) = result.verdicts
    assert verdict.reason == "TimestampAuthority time 2026-01-01T01:00:01+00:00 is in the future"


def test_unsigned_image_resolves_everything(
    where: Where, capsys: pytest.CaptureFixture[str]
) -> None:
    # every field of an unsigned image resolves: no signatures, and nothing left unresolved
    source, inp = image_input(where, "unsigned", AMD64)
    options = ResolveOptions(timeout=10.0, oci_layouts=where.layouts, trust_root=where.root_path)
    with Resolver(options) as resolver:
        [out] = resolver.resolve_many([(source, inp)])
    assert out.unknowns == ()
    assert out.image is not None
    assert out.image.signatures == () and out.image.has_provenance
    argv = ["inspect", "--platform", AMD64, *where.cli_args(), where.ref("unsigned")]
    code, stdout, err = run_cli(capsys, argv)
    assert (code, err) == (0, "")
    image = json.loads(stdout)["image"]
    assert image["hasProvenance"] is True and "signatures" not in image


def test_resolver_takes_a_dhi_key(where: Where, world: World) -> None:
    """``ResolveOptions(dhi_key=…)`` replaces Docker's key (e.g. after a key rotation)."""
    from cryptography.hazmat.primitives import serialization

    pem = world.dhi_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    source, inp = image_input(where, "dhi", AMD64)
    options = ResolveOptions(
        timeout=10.0, oci_layouts=where.layouts, trust_root=where.root_path, dhi_key=pem
    )
    with Resolver(options) as resolver:
        [out] = resolver.resolve_many([(source, inp)], ["image.signatures"])
    assert out.image is not None
    [signature] = out.image.signatures
    assert signature.kind == "docker-hardened-image"
    assert signature.is_dhi and signature.signer is None
    assert signature.docker_reference == "dhi.io/python:3.13"

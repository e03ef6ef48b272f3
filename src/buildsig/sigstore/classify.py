"""Turn a verified signature into Buildx's ``AttestationSignature``, kind included.

The kind is the first thing a policy checks ("was this built by Docker's GitHub builder?",
"is this a Docker Hardened Image?"), so the rules are Buildx's exactly (reference §3.4,
``types/name.go`` in moby/policy-helpers), first match wins:

1. ``docker-hardened-image``: a DHI chain with a docker reference;
2. ``docker-github-builder``: a bundle from Docker's github-builder workflows on GitHub-hosted
   runners, with at least one timestamp;
3. ``self-signed-github-repo``: a GitHub Actions identity whose workflow lives in the
   repository it built;
4. ``self-signed``: any certificate from the Sigstore public-good intermediate;
5. ``untrusted``: everything else.
"""

from __future__ import annotations

import dataclasses

from buildsig.model import AttestationSignature, SignatureKind, SignatureType, SignerInfo, Timestamp
from buildsig.sigstore.verify import VerifiedBundle

__all__ = ["attestation_signature", "classify"]

SIGSTORE_INTERMEDIATE = "CN=sigstore-intermediate,O=sigstore.dev"
GITHUB = "https://github.com/"
GITHUB_ACTIONS_ISSUER = "https://token.actions.githubusercontent.com"
DOCKER_BUILDER_PREFIXES = (
    GITHUB + "docker/github-builder/.github/workflows/",
    GITHUB + "docker/github-builder-experimental/.github/workflows/",
)


def _github_builder(sig: AttestationSignature) -> bool:
    s = sig.signer
    return (
        s is not None
        and s.certificate_issuer == SIGSTORE_INTERMEDIATE
        and s.build_signer_uri.startswith(DOCKER_BUILDER_PREFIXES)
        and s.subject_alternative_name.startswith(DOCKER_BUILDER_PREFIXES)
        and s.issuer == GITHUB_ACTIONS_ISSUER
        and s.source_repository_uri.startswith(GITHUB)
        and s.runner_environment == "github-hosted"
        and len(sig.timestamps) > 0
        and sig.type == SignatureType.BUNDLE_V03
    )


def _github_self_signed(signer: SignerInfo | None) -> bool:
    if signer is None:
        return False
    workflows = signer.source_repository_uri + "/.github/workflows/"
    return (
        signer.certificate_issuer == SIGSTORE_INTERMEDIATE
        and signer.issuer == GITHUB_ACTIONS_ISSUER
        and signer.source_repository_uri.startswith(GITHUB)
        and signer.build_signer_uri.startswith(workflows)
        and signer.subject_alternative_name.startswith(workflows)
        and signer.runner_environment == "github-hosted"
    )


def classify(sig: AttestationSignature) -> SignatureKind:
    """The Buildx kind of a signature (its ``kind`` field is ignored)."""
    if sig.is_dhi and sig.docker_reference:
        return SignatureKind.DOCKER_HARDENED_IMAGE
    if _github_builder(sig):
        return SignatureKind.DOCKER_GITHUB_BUILDER
    if _github_self_signed(sig.signer):
        return SignatureKind.SELF_SIGNED_GITHUB_REPO
    if sig.signer is not None and sig.signer.certificate_issuer == SIGSTORE_INTERMEDIATE:
        return SignatureKind.SELF_SIGNED
    return SignatureKind.UNTRUSTED


def attestation_signature(
    verified: VerifiedBundle,
    *,
    type: SignatureType,
    docker_reference: str = "",
    is_dhi: bool = False,
) -> AttestationSignature:
    """The policy-input object for a verified signature, classified."""
    sig = AttestationSignature(
        kind="",
        type=type.value,
        timestamps=tuple(
            Timestamp(type=t.type, uri=t.uri, timestamp=t.time) for t in verified.timestamps
        ),
        docker_reference=docker_reference,
        is_dhi=is_dhi,
        signer=verified.signer,
    )
    return dataclasses.replace(sig, kind=classify(sig).value)

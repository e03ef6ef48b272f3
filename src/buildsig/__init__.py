"""buildsig: supply-chain verification primitives for container builds.

buildsig gathers trustworthy facts about every input of a container build (images, git
sources, HTTP downloads, the local context) and exposes them as frozen dataclasses whose
JSON is exactly Docker Buildx's policy input, so any policy engine can judge them.

The public API is what ``__all__`` lists; modules and names starting with ``_`` carry no
stability promise. Heavy dependencies (sigstore, dulwich, gnupg, oras) are imported only
by the modules that need them, so ``import buildsig`` stays cheap.
"""

from typing import TYPE_CHECKING, Any

from buildsig._version import __version__

if TYPE_CHECKING:  # pragma: no cover - static view of the lazily loaded names
    from buildsig.errors import (
        BuildsigError,
        DigestMismatchError,
        HTTPStatusError,
        InvalidDocumentError,
        InvalidInputError,
        InvalidPlatformError,
        InvalidReferenceError,
        InvalidSourceError,
        NetworkError,
        NetworkTimeoutError,
        NotFoundError,
        PolicyConfigError,
        RateLimitedError,
        RegistryError,
        UnresolvedFieldError,
        UnsupportedSchemeError,
        UntrustedError,
        VerificationError,
    )
    from buildsig.git.audit import audit_repository
    from buildsig.git.info import GitInfo, git_info
    from buildsig.git.resolve import resolve_git_source
    from buildsig.git.result import Reason, SignatureCheck, SignerIdentity
    from buildsig.git.verify import TrustedKeys, verify_git_object, verify_git_signature
    from buildsig.model import (
        HTTP,
        Actor,
        AttestationSignature,
        ChecksumResponse,
        Commit,
        Decision,
        Env,
        Git,
        Image,
        ImageProvenance,
        Input,
        Local,
        PGPSignature,
        ProvenanceCompleteness,
        ProvenanceConfigSource,
        SignatureKind,
        SignatureType,
        SignerInfo,
        SSHSignature,
        Tag,
        Timestamp,
        input_json_schema,
    )
    from buildsig.oci.images import ImageResolver
    from buildsig.oci.layout import OCILayout
    from buildsig.oci.registry import RegistryClient
    from buildsig.oci.signatures import find_signatures
    from buildsig.policy.builtins import Builtins
    from buildsig.policy.cel import CelPolicy
    from buildsig.policy.check import check_dockerfile
    from buildsig.policy.dockerfile import dockerfile_sources
    from buildsig.policy.evaluate import PolicyEvaluator, PolicyResult
    from buildsig.policy.fs import PolicyFS
    from buildsig.policy.pin import (
        PinCheck,
        PinCheckReport,
        PinEntry,
        PinReport,
        check_pins,
        pin_dockerfile,
        write_source_policy,
    )
    from buildsig.policy.python import PythonPolicy
    from buildsig.policy.source import (
        SourcePolicy,
        SourcePolicyEngine,
        SourcePolicyError,
        SourcePolicyResult,
        load_source_policy,
        parse_source_policy,
    )
    from buildsig.policy.testrun import run_policy_tests
    from buildsig.provenance import parse_provenance, parse_statement, select_provenance
    from buildsig.resolver import ResolveOptions, Resolver
    from buildsig.sigstore.artifact import artifact_attestation, github_attestation
    from buildsig.sigstore.batch import verify_batch
    from buildsig.sigstore.bundle import parse_bundle
    from buildsig.sigstore.image import ImageSignatures, ImageSignatureVerifier
    from buildsig.sigstore.simplesigning import verify_simple_signing
    from buildsig.sigstore.trust import TrustRoot
    from buildsig.sigstore.verify import Identity, VerifiedBundle, Verifier
    from buildsig.source import (
        ImageReference,
        Platform,
        Source,
        host_platform,
        parse_image_reference,
        parse_platform,
        source_to_input,
    )
    from buildsig.unknowns import MetadataRequest, metadata_request, needed_unknowns

__all__ = [
    "HTTP",
    "Actor",
    "AttestationSignature",
    "BuildsigError",
    "Builtins",
    "CelPolicy",
    "ChecksumResponse",
    "Commit",
    "Decision",
    "DigestMismatchError",
    "Env",
    "Git",
    "GitInfo",
    "HTTPStatusError",
    "Identity",
    "Image",
    "ImageProvenance",
    "ImageReference",
    "ImageResolver",
    "ImageSignatureVerifier",
    "ImageSignatures",
    "Input",
    "InvalidDocumentError",
    "InvalidInputError",
    "InvalidPlatformError",
    "InvalidReferenceError",
    "InvalidSourceError",
    "Local",
    "MetadataRequest",
    "NetworkError",
    "NetworkTimeoutError",
    "NotFoundError",
    "OCILayout",
    "PGPSignature",
    "PinCheck",
    "PinCheckReport",
    "PinEntry",
    "PinReport",
    "Platform",
    "PolicyConfigError",
    "PolicyEvaluator",
    "PolicyFS",
    "PolicyResult",
    "ProvenanceCompleteness",
    "ProvenanceConfigSource",
    "PythonPolicy",
    "RateLimitedError",
    "Reason",
    "RegistryClient",
    "RegistryError",
    "ResolveOptions",
    "Resolver",
    "SSHSignature",
    "SignatureCheck",
    "SignatureKind",
    "SignatureType",
    "SignerIdentity",
    "SignerInfo",
    "Source",
    "SourcePolicy",
    "SourcePolicyEngine",
    "SourcePolicyError",
    "SourcePolicyResult",
    "Tag",
    "Timestamp",
    "TrustRoot",
    "TrustedKeys",
    "UnresolvedFieldError",
    "UnsupportedSchemeError",
    "UntrustedError",
    "VerificationError",
    "VerifiedBundle",
    "Verifier",
    "__version__",
    "artifact_attestation",
    "audit_repository",
    "check_dockerfile",
    "check_pins",
    "dockerfile_sources",
    "find_signatures",
    "git_info",
    "github_attestation",
    "host_platform",
    "input_json_schema",
    "load_source_policy",
    "metadata_request",
    "needed_unknowns",
    "parse_bundle",
    "parse_image_reference",
    "parse_platform",
    "parse_provenance",
    "parse_source_policy",
    "parse_statement",
    "pin_dockerfile",
    "resolve_git_source",
    "run_policy_tests",
    "select_provenance",
    "source_to_input",
    "verify_batch",
    "verify_git_object",
    "verify_git_signature",
    "verify_simple_signing",
    "write_source_policy",
]

# Where each public name lives. Loading is deferred to first use so that `import buildsig`
# costs almost nothing; `buildsig.Input` imports the model the first time it is touched.
_LAZY: dict[str, str] = {
    "Actor": "buildsig.model",
    "AttestationSignature": "buildsig.model",
    "BuildsigError": "buildsig.errors",
    "Builtins": "buildsig.policy.builtins",
    "CelPolicy": "buildsig.policy.cel",
    "ChecksumResponse": "buildsig.model",
    "Commit": "buildsig.model",
    "Decision": "buildsig.model",
    "DigestMismatchError": "buildsig.errors",
    "Env": "buildsig.model",
    "Git": "buildsig.model",
    "GitInfo": "buildsig.git.info",
    "HTTP": "buildsig.model",
    "HTTPStatusError": "buildsig.errors",
    "Identity": "buildsig.sigstore.verify",
    "Image": "buildsig.model",
    "ImageProvenance": "buildsig.model",
    "ImageReference": "buildsig.source",
    "ImageResolver": "buildsig.oci.images",
    "ImageSignatureVerifier": "buildsig.sigstore.image",
    "ImageSignatures": "buildsig.sigstore.image",
    "Input": "buildsig.model",
    "InvalidDocumentError": "buildsig.errors",
    "InvalidInputError": "buildsig.errors",
    "InvalidPlatformError": "buildsig.errors",
    "InvalidReferenceError": "buildsig.errors",
    "InvalidSourceError": "buildsig.errors",
    "Local": "buildsig.model",
    "MetadataRequest": "buildsig.unknowns",
    "NetworkError": "buildsig.errors",
    "NetworkTimeoutError": "buildsig.errors",
    "NotFoundError": "buildsig.errors",
    "OCILayout": "buildsig.oci.layout",
    "PGPSignature": "buildsig.model",
    "PinCheck": "buildsig.policy.pin",
    "PinCheckReport": "buildsig.policy.pin",
    "PinEntry": "buildsig.policy.pin",
    "PinReport": "buildsig.policy.pin",
    "Platform": "buildsig.source",
    "PolicyConfigError": "buildsig.errors",
    "PolicyEvaluator": "buildsig.policy.evaluate",
    "PolicyFS": "buildsig.policy.fs",
    "PolicyResult": "buildsig.policy.evaluate",
    "ProvenanceCompleteness": "buildsig.model",
    "ProvenanceConfigSource": "buildsig.model",
    "PythonPolicy": "buildsig.policy.python",
    "SourcePolicy": "buildsig.policy.source",
    "SourcePolicyEngine": "buildsig.policy.source",
    "SourcePolicyError": "buildsig.policy.source",
    "SourcePolicyResult": "buildsig.policy.source",
    "load_source_policy": "buildsig.policy.source",
    "parse_source_policy": "buildsig.policy.source",
    "RateLimitedError": "buildsig.errors",
    "Reason": "buildsig.git.result",
    "RegistryClient": "buildsig.oci.registry",
    "RegistryError": "buildsig.errors",
    "ResolveOptions": "buildsig.resolver",
    "Resolver": "buildsig.resolver",
    "SSHSignature": "buildsig.model",
    "SignatureCheck": "buildsig.git.result",
    "SignatureKind": "buildsig.model",
    "SignatureType": "buildsig.model",
    "SignerIdentity": "buildsig.git.result",
    "SignerInfo": "buildsig.model",
    "Source": "buildsig.source",
    "Tag": "buildsig.model",
    "Timestamp": "buildsig.model",
    "TrustRoot": "buildsig.sigstore.trust",
    "TrustedKeys": "buildsig.git.verify",
    "UnresolvedFieldError": "buildsig.errors",
    "UnsupportedSchemeError": "buildsig.errors",
    "UntrustedError": "buildsig.errors",
    "VerificationError": "buildsig.errors",
    "VerifiedBundle": "buildsig.sigstore.verify",
    "Verifier": "buildsig.sigstore.verify",
    "artifact_attestation": "buildsig.sigstore.artifact",
    "audit_repository": "buildsig.git.audit",
    "check_dockerfile": "buildsig.policy.check",
    "check_pins": "buildsig.policy.pin",
    "dockerfile_sources": "buildsig.policy.dockerfile",
    "find_signatures": "buildsig.oci.signatures",
    "git_info": "buildsig.git.info",
    "github_attestation": "buildsig.sigstore.artifact",
    "host_platform": "buildsig.source",
    "input_json_schema": "buildsig.model",
    "metadata_request": "buildsig.unknowns",
    "needed_unknowns": "buildsig.unknowns",
    "parse_bundle": "buildsig.sigstore.bundle",
    "parse_image_reference": "buildsig.source",
    "parse_platform": "buildsig.source",
    "parse_provenance": "buildsig.provenance",
    "parse_statement": "buildsig.provenance",
    "pin_dockerfile": "buildsig.policy.pin",
    "resolve_git_source": "buildsig.git.resolve",
    "run_policy_tests": "buildsig.policy.testrun",
    "select_provenance": "buildsig.provenance",
    "source_to_input": "buildsig.source",
    "verify_batch": "buildsig.sigstore.batch",
    "verify_git_object": "buildsig.git.verify",
    "verify_git_signature": "buildsig.git.verify",
    "verify_simple_signing": "buildsig.sigstore.simplesigning",
    "write_source_policy": "buildsig.policy.pin",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'buildsig' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

"""Artifact attestations of HTTP sources: Buildx's artifact_attestation and github_attestation.

A file fetched by ``ADD <url>`` has no registry to carry signatures; what vouches for it
is an in-toto SLSA provenance attestation, signed with Sigstore, whose subject is the
file's digest. Buildx offers two builtins for that (reference ``buildx-policy.md`` §2.5,
§2.6, §3.5), and this module gathers and verifies the same facts:

- :func:`artifact_attestation`: a bundle the policy ships, verified against
  ``input.http.checksum``;
- :func:`github_attestation`: the bundles GitHub's attestation API lists for that digest
  in a repository, each tried in turn.

What "verified" means is Buildx's ``VerifyArtifact``: the Sigstore public-good root (or
the given :class:`~buildsig.sigstore.verify.Verifier`'s), at least one SCT, one log entry
and one verified time, **any** identity (who signed is the policy's call, through
``signer`` and ``kind``), a Fulcio certificate (a key-signed bundle fails), and a DSSE
in-toto statement naming the digest as a subject whose ``predicateType`` is SLSA
provenance v0.2 or v1. A plain message signature over the digest fails too: it says the
bytes were signed, not how they were built, and Buildx never accepts one here.

Outcomes follow Buildx: a bundle that does not verify gives ``None`` (undefined in Rego,
not an error), while a missing ``input.http.checksum`` raises
:class:`UnresolvedFieldError`, which the policy layer turns into Buildx's runtime
unknown (the check is re-run once BuildKit has hashed the download). The ``verify_*``
variants return the reasons as well, for CLIs and logs.

Bounds, since bundles and API answers come from outside: a bundle is at most 8 MiB
(Buildx's read cap), at most :data:`MAX_CANDIDATES` candidates are tried per call and at
most :data:`MAX_FETCHED_BYTES` are downloaded for them, and a Snappy-compressed bundle may
not decompress beyond the bundle cap.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import urllib.parse
from typing import TYPE_CHECKING, Any, Final

from buildsig.errors import (
    BuildsigError,
    InvalidInputError,
    NotFoundError,
    PolicyConfigError,
    UnresolvedFieldError,
    VerificationError,
)
from buildsig.model import HTTP, AttestationSignature, SignatureType
from buildsig.sigstore.bundle import parse_bundle
from buildsig.sigstore.classify import attestation_signature
from buildsig.sigstore.verify import Verifier
from buildsig.unknowns import PROVENANCE_PREDICATE_TYPES

if TYPE_CHECKING:
    from buildsig.http.client import HTTPClient

__all__ = [
    "GITHUB_API",
    "GITHUB_PREDICATE_TYPE",
    "MAX_API_RESPONSE_BYTES",
    "MAX_BUNDLE_BYTES",
    "MAX_CANDIDATES",
    "MAX_FETCHED_BYTES",
    "ArtifactVerdict",
    "GitHubAttestations",
    "artifact_attestation",
    "github_attestation",
    "verify_artifact_attestation",
    "verify_github_attestation",
]

#: Largest bundle read (Buildx's cap for the bundle file, applied to fetched ones too).
MAX_BUNDLE_BYTES: Final = 8 * 1024 * 1024
#: Largest GitHub API answer read (it may inline several bundles).
MAX_API_RESPONSE_BYTES: Final = 16 * 1024 * 1024
#: Most candidate bundles tried per github_attestation call.
MAX_CANDIDATES: Final = 32
#: Most bytes downloaded for ``bundle_url`` candidates per call.
MAX_FETCHED_BYTES: Final = 64 * 1024 * 1024
#: GitHub's REST API.
GITHUB_API: Final = "https://api.github.com"
#: The predicate type Buildx asks GitHub for.
GITHUB_PREDICATE_TYPE: Final = "https://slsa.dev/provenance/v1"

_DIGEST_LENGTHS: Final = {"sha256": 64, "sha384": 96, "sha512": 128}
_DIGEST: Final = re.compile(r"([a-z0-9]+):([0-9a-f]+)")
_OWNER: Final = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})"
_REPO: Final = re.compile(rf"({_OWNER})/([A-Za-z0-9._-]{{1,100}})")
_SNAPPY_SUFFIX: Final = ".json.sn"


@dataclasses.dataclass(frozen=True, slots=True)
class ArtifactVerdict:
    """The decision on one candidate bundle: the signature object, or why not.

    ``source`` says where the bundle came from (``bundle``, ``attestations[0].bundle``,
    ``attestations[1].bundle_url (<url>)``); ``predicate_type`` is the verified
    statement's, when verification got that far.
    """

    source: str
    signature: AttestationSignature | None
    reason: str = ""
    predicate_type: str = ""

    @property
    def verified(self) -> bool:
        """Whether this candidate verified."""
        return self.signature is not None


@dataclasses.dataclass(frozen=True, slots=True)
class GitHubAttestations:
    """What a GitHub attestation lookup found: a verdict per candidate tried.

    Candidates are tried in Buildx's order (inline bundles, then bundle URLs) and the first
    that verifies ends the search, so at most the last verdict is a success. ``reason``
    explains an empty ``verdicts`` (no attestations, an unreadable answer).
    """

    url: str  # the API URL asked
    verdicts: tuple[ArtifactVerdict, ...]
    reason: str = ""

    @property
    def signature(self) -> AttestationSignature | None:
        """The verified signature (what ``github_attestation`` returns), or None."""
        for verdict in self.verdicts:
            if verdict.signature is not None:
                return verdict.signature
        return None

    @property
    def failures(self) -> tuple[ArtifactVerdict, ...]:
        """The candidates that did not verify, with their reasons."""
        return tuple(v for v in self.verdicts if v.signature is None)


@functools.lru_cache(maxsize=1)
def _production_verifier() -> Verifier:
    """The public-good verifier with Buildx's thresholds, built once (trust work is costly)."""
    return Verifier()


def _checksum(http: HTTP, builtin: str) -> str:
    """``http.checksum``, checked: UnresolvedFieldError if absent, InvalidInputError if odd."""
    if not isinstance(http, HTTP):
        raise InvalidInputError(f"{builtin}: expected the input's http object")
    checksum = http.checksum
    if not checksum:
        raise UnresolvedFieldError(
            f"{builtin}: http.checksum is unresolved (the download has not been hashed yet)",
            unknown="http.checksum",
            source=http.url or None,
        )
    match = _DIGEST.fullmatch(checksum)
    if match is None or _DIGEST_LENGTHS.get(match.group(1)) != len(match.group(2)):
        raise InvalidInputError(
            f"{builtin}: http.checksum {checksum[:100]!r} is not a digest", source=http.url or None
        )
    return checksum


def _verify(bundle: bytes | str, digest: str, verifier: Verifier, source: str) -> ArtifactVerdict:
    """Buildx's ``VerifyArtifact`` on one bundle, as a verdict (never raises for the bundle).

    PolicyConfigError still propagates: an unusable trust configuration is the caller's
    problem, never evidence about the bundle.
    """
    data = bundle.encode("utf-8") if isinstance(bundle, str) else bundle
    if len(data) > MAX_BUNDLE_BYTES:
        return ArtifactVerdict(
            source, None, f"bundle is larger than {MAX_BUNDLE_BYTES} bytes ({len(data)})"
        )
    if not digest.startswith("sha256:"):
        return ArtifactVerdict(
            source, None, f"cannot verify against a {digest.partition(':')[0]} digest"
        )
    predicate_type = ""
    try:
        parsed = parse_bundle(data)
        if parsed.certificate is None:
            raise VerificationError(
                "bundle is signed with a key; artifact attestations need a Fulcio certificate"
            )
        verified = verifier.verify_artifact(parsed, digest)
        if verified.certificate is None:  # pragma: no cover - refused above and by the verifier
            raise VerificationError("bundle is signed with a key")
        if not verified.payload_type:
            raise VerificationError(
                "bundle is a message signature, not an in-toto attestation (no predicate type)"
            )
        predicate_type = verified.predicate_type
        if predicate_type not in PROVENANCE_PREDICATE_TYPES:
            raise VerificationError(f"unexpected predicate type {json.dumps(predicate_type)}")
    except PolicyConfigError:
        raise
    except BuildsigError as exc:
        return ArtifactVerdict(source, None, str(exc), predicate_type)
    signature = attestation_signature(verified, type=SignatureType.BUNDLE_V03)
    return ArtifactVerdict(source, signature, "", predicate_type)


# --- artifact_attestation ------------------------------------------------------------------


def verify_artifact_attestation(
    http: HTTP, bundle: bytes | str, *, verifier: Verifier | None = None
) -> ArtifactVerdict:
    """:func:`artifact_attestation` with the reason when the bundle does not verify.

    Raises :class:`UnresolvedFieldError` when ``http.checksum`` is not set yet and
    InvalidInputError when it is not a digest.
    """
    digest = _checksum(http, "artifact_attestation")
    return _verify(bundle, digest, verifier or _production_verifier(), "bundle")


def artifact_attestation(
    http: HTTP, bundle: bytes | str, *, verifier: Verifier | None = None
) -> AttestationSignature | None:
    """Buildx's ``artifact_attestation(input.http, bundlefile)``.

    Verifies ``bundle`` (a Sigstore bundle's JSON, at most 8 MiB) against
    ``http.checksum`` as described in the module docstring and returns the
    ``AttestationSignature`` (type ``bundle-v0.3``, kind per Buildx's classification), or
    None when it does not verify. ``verifier`` defaults to the public-good root with
    Buildx's thresholds; pass one built on another trust root with the same thresholds.
    Raises :class:`UnresolvedFieldError` while the checksum is unknown.
    """
    return verify_artifact_attestation(http, bundle, verifier=verifier).signature


# --- github_attestation --------------------------------------------------------------------


def _check_repo(repo: str) -> str:
    if not isinstance(repo, str):
        raise InvalidInputError("github_attestation: repository must be a string 'owner/repo'")
    match = _REPO.fullmatch(repo)
    if match is None or match.group(2) in (".", ".."):
        raise InvalidInputError(
            f"github_attestation: invalid repository {repo[:140]!r}, expected 'owner/repo'",
            source=repo[:140],
        )
    return repo


def _api_url(api_base: str, repo: str, digest: str) -> str:
    parts = urllib.parse.urlsplit(api_base)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
        raise InvalidInputError(f"github_attestation: invalid API base URL {api_base[:140]!r}")
    predicate = urllib.parse.quote(GITHUB_PREDICATE_TYPE, safe="")
    base = api_base.rstrip("/")
    return f"{base}/repos/{repo}/attestations/{digest}?predicate_type={predicate}"


def _candidates(body: bytes) -> tuple[list[tuple[str, bytes]], list[tuple[str, str]], str]:
    """Inline bundles and bundle URLs from the API answer, in order, and why there are none.

    Invalid JSON or an unexpected shape gives no candidates (Buildx: "no bundles").
    Entries that are ``null``, empty or whitespace are skipped; an inline bundle that is
    an object is re-serialised (its signatures are over base64 content inside it, so the
    JSON layout does not matter), a string is taken as the bundle's text.
    """
    try:
        doc: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return [], [], "the API answer is not valid JSON"
    entries = doc.get("attestations") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        return [], [], "the API answer has no attestations list"
    inline: list[tuple[str, bytes]] = []
    urls: list[tuple[str, str]] = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            continue
        bundle = entry.get("bundle")
        if isinstance(bundle, str):
            if bundle.strip():
                inline.append((f"attestations[{i}].bundle", bundle.strip().encode("utf-8")))
        elif bundle is not None:
            raw = json.dumps(bundle, separators=(",", ":"), ensure_ascii=False)
            inline.append((f"attestations[{i}].bundle", raw.encode("utf-8")))
        url = entry.get("bundle_url")
        if isinstance(url, str) and url.strip() and url.strip() != "null":
            urls.append((f"attestations[{i}].bundle_url", url.strip()))
    if not inline and not urls:
        return [], [], "the API answer lists no bundles"
    return inline, urls, ""


def _decode_snappy(data: bytes) -> bytes:
    """Snappy *block* format (GitHub's ``.json.sn``), refusing to inflate past the cap.

    The block format starts with the uncompressed length, so the cap is checked before
    any memory is spent on the output.
    """
    import cramjam

    corrupt = VerificationError("snappy-compressed bundle is corrupt")
    try:
        size = cramjam.snappy.decompress_raw_len(data)
    except cramjam.DecompressionError:
        raise corrupt from None
    if size > MAX_BUNDLE_BYTES:
        raise VerificationError(
            f"snappy-compressed bundle would decompress to {size} bytes, "
            f"more than {MAX_BUNDLE_BYTES}"
        )
    try:
        decoded = bytes(cramjam.snappy.decompress_raw(data, output_len=size))
    except cramjam.DecompressionError:
        raise corrupt from None
    if len(decoded) != size:  # the decoder enforces the header; this keeps the cap honest
        raise corrupt
    return decoded


def verify_github_attestation(
    http: HTTP,
    repo: str,
    *,
    client: HTTPClient | None = None,
    api_base: str = GITHUB_API,
    verifier: Verifier | None = None,
    token: str | None = None,
) -> GitHubAttestations:
    """:func:`github_attestation` with every candidate's verdict and the API URL.

    A 404 from the API (GitHub's answer when nothing is attested) gives no verdicts and a
    reason; other failures to reach the API raise (NetworkError, HTTPStatusError): a rate
    limit or an outage is no evidence either way, and the caller decides. A candidate URL
    that cannot be fetched is a failed candidate, and the search goes on.
    """
    from buildsig.http.client import HTTPClient, display_url

    digest = _checksum(http, "github_attestation")
    _check_repo(repo)
    url = _api_url(api_base, repo, digest)
    shown = display_url(url)
    if not digest.startswith("sha256:"):
        reason = f"cannot verify against a {digest.partition(':')[0]} digest"
        return GitHubAttestations(shown, (), reason)
    chosen = verifier or _production_verifier()
    owned = client is None
    http_client = HTTPClient() if client is None else client
    try:
        headers = {"Accept": "application/vnd.github+json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"  # to the API origin only
        try:
            answer = http_client.get(url, headers=headers, max_bytes=MAX_API_RESPONSE_BYTES)
        except NotFoundError:
            return GitHubAttestations(shown, (), f"no attestations for {digest} in {repo}")
        inline, urls, reason = _candidates(answer.body)
        # (source, inline bytes, URL): exactly one of the last two is set.
        candidates: list[tuple[str, bytes | None, str | None]] = [
            (source, data, None) for source, data in inline
        ]
        candidates += [(source, None, target) for source, target in urls]
        if len(candidates) > MAX_CANDIDATES:
            reason = f"only the first {MAX_CANDIDATES} of {len(candidates)} candidates are tried"
        verdicts: list[ArtifactVerdict] = []
        budget = MAX_FETCHED_BYTES
        for source, data, target in candidates[:MAX_CANDIDATES]:
            if data is not None:
                verdict = _verify(data, digest, chosen, source)
            elif target is not None:
                if budget <= 0:
                    reason = f"stopped after downloading {MAX_FETCHED_BYTES} bytes of bundles"
                    break
                verdict, used = _fetch_and_verify(
                    http_client, target, digest, chosen, source, budget
                )
                budget -= used
            else:  # pragma: no cover - built above with one of the two set
                continue
            verdicts.append(verdict)
            if verdict.verified:
                break
        return GitHubAttestations(shown, tuple(verdicts), reason)
    finally:
        if owned:
            http_client.close()


def _fetch_and_verify(
    client: HTTPClient, url: str, digest: str, verifier: Verifier, source: str, budget: int
) -> tuple[ArtifactVerdict, int]:
    """Download one ``bundle_url`` (decoding ``.json.sn``) and verify it; bytes used."""
    from buildsig.http.client import display_url

    label = f"{source} ({display_url(url)})"
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return ArtifactVerdict(label, None, "malformed bundle URL"), 0
    if parts.scheme not in ("http", "https"):
        return ArtifactVerdict(label, None, "bundle URL is not an http(s) URL"), 0
    cap = min(MAX_BUNDLE_BYTES, budget)
    try:
        response = client.get(url, max_bytes=cap)
    except InvalidInputError as exc:  # over the size cap (or a URL the client refuses)
        return ArtifactVerdict(label, None, str(exc)), cap
    except BuildsigError as exc:
        return ArtifactVerdict(label, None, str(exc)), 0
    data = response.body
    if parts.path.endswith(_SNAPPY_SUFFIX):
        try:
            data = _decode_snappy(data)
        except VerificationError as exc:
            return ArtifactVerdict(label, None, str(exc)), len(response.body)
    return _verify(data, digest, verifier, label), len(response.body)


def github_attestation(
    http: HTTP,
    repo: str,
    *,
    client: HTTPClient | None = None,
    api_base: str = GITHUB_API,
    verifier: Verifier | None = None,
    token: str | None = None,
) -> AttestationSignature | None:
    """Buildx's ``github_attestation(input.http, "owner/repo")``.

    Asks ``{api_base}/repos/<repo>/attestations/<checksum>?predicate_type=<SLSA v1>``
    (``Accept: application/vnd.github+json``; unauthenticated unless ``token`` is given,
    which only raises the rate limit and goes to the API host alone), then verifies the
    inline bundles and then the ``bundle_url`` downloads (Snappy-decoded for ``.json.sn``)
    as :func:`artifact_attestation` does, returning the first that verifies, or None.

    ``client`` is reused when given (else one is made and closed); ``verifier`` defaults
    to the public-good root. Raises :class:`UnresolvedFieldError` while the checksum is
    unknown, InvalidInputError for a malformed ``repo``, and NetworkError when the API
    cannot be asked (see :func:`verify_github_attestation`).
    """
    return verify_github_attestation(
        http, repo, client=client, api_base=api_base, verifier=verifier, token=token
    ).signature

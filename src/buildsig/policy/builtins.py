"""Buildx's policy builtins, for any engine: plain Python over the policy input.

Each method implements one builtin of ``buildx-policy.md`` §2 with Buildx's semantics,
and is what a Rego, CEL or Python policy calls. Three outcomes matter and are kept apart,
because conflating them is how a policy ends up allowing what it should not:

- a **value** (``True``/``False``, a signature object);
- **undefined** (:class:`Undefined`): the builtin has nothing to say, as when an
  attestation does not verify; a rule that depends on it does not hold;
- an **error** (a :class:`~buildsig.errors.BuildsigError`): the call itself is wrong (an
  argument that is not the input's object, a file outside the policy directory, a
  malformed signature). Buildx turns builtin errors into undefined as well; an engine
  adapter may do the same, but must report them.

Some answers need metadata the input does not have yet (``git.commit`` objects, the HTTP
``checksum``, a ``content || trailer`` digest). Like Buildx, the builtin then records a
*runtime unknown* (:attr:`Builtins.unknowns`, :attr:`Builtins.checksum_request`) and
returns ``False``/undefined; the caller resolves what was asked and evaluates again.
``pin_image`` records the digests a policy pins images to (:attr:`Builtins.pins`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from buildsig.errors import InvalidInputError, PolicyConfigError, VerificationError
from buildsig.http.resolve import ChecksumRequest
from buildsig.model import HTTP, Image, Input
from buildsig.policy.fs import PolicyFS

__all__ = ["Builtins", "Undefined"]

LOAD_JSON_MAX_BYTES = 4 * 1024 * 1024
GIT_KEY_MAX_BYTES = 128 * 1024
PGP_FILE_MAX_BYTES = 512 * 1024
BUNDLE_MAX_BYTES = 8 * 1024 * 1024
_DIGEST_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}
_DIGEST = re.compile(r"(sha256|sha384|sha512):([0-9a-f]+)")


class Undefined(Exception):  # named for the Rego term: it is an outcome, not an error
    """The builtin has no value for these arguments (Rego: the call is undefined)."""


def _as_json(value: Any) -> Any:
    """A model object as its JSON form (what a Rego engine passes around)."""
    to_dict = getattr(value, "to_dict", None)
    return to_dict() if callable(to_dict) else value


class Builtins:
    """The builtins of one evaluation over one input."""

    def __init__(
        self,
        inp: Input,
        *,
        fs: PolicyFS | None = None,
        sigstore_verifier: Any = None,  # a buildsig.sigstore.Verifier; public good if None
        http_client: Any = None,
        github_api: str = "https://api.github.com",
        github_token: str | None = None,
    ) -> None:
        self.input = inp
        self.fs = fs
        self._verifier = sigstore_verifier
        self._http = http_client
        self.github_api = github_api
        self._github_token = github_token
        #: Runtime unknowns the builtins asked for (``git.commit``, ``http.checksum``).
        self.unknowns: set[str] = set()
        #: The ``content || trailer`` digest ``verify_http_pgp_signature`` needs, if any.
        self.checksum_request: ChecksumRequest | None = None
        #: Digests ``pin_image`` pinned the image to (distinct, in call order).
        self.pins: list[str] = []
        #: Verification failures that made a builtin undefined (``verify_git_signature``
        #: on a bad signature), for reports: Buildx logs them the same way.
        self.failures: list[str] = []
        self._json: dict[str, Any] = {}

    # --- engine glue ---------------------------------------------------------------------

    def functions(self) -> dict[str, tuple[int, Callable[..., Any]]]:
        """Name → (arity, callable), for an engine to register.

        ``verify_git_signature`` is registered so that a failed verification is
        *undefined* (recorded in :attr:`failures`), as Buildx makes it: a policy can then
        deny with its own message (``not verify_git_signature(…)``). Errors in the call
        itself (a file outside the policy directory, an argument that is not the input's
        object) still raise.
        """
        return {
            "load_json": (1, self.load_json),
            "verify_git_signature": (2, self._verify_git_signature_or_undefined),
            "verify_http_pgp_signature": (3, self.verify_http_pgp_signature),
            "pin_image": (2, self.pin_image),
            "artifact_attestation": (2, self.artifact_attestation),
            "github_attestation": (2, self.github_attestation),
        }

    def _read(self, builtin: str, name: Any, max_bytes: int) -> bytes:
        if self.fs is None:
            raise PolicyConfigError(f"{builtin}: no policy directory to read {name!r} from")
        if not isinstance(name, str):
            raise InvalidInputError(f"{builtin}: the file name must be a string")
        return self.fs.read(name, max_bytes=max_bytes)

    def _same(self, builtin: str, what: str, value: Any, actual: HTTP | Image) -> None:
        if value is actual or _as_json(value) == actual.to_dict():
            return
        raise InvalidInputError(f"{builtin}: the first argument must be input.{what}")

    # --- the builtins --------------------------------------------------------------------

    def load_json(self, path: str) -> Any:
        """``load_json(path)``: a JSON file of the policy directory (≤ 4 MiB, memoised)."""
        if path not in self._json:
            data = self._read("load_json", path, LOAD_JSON_MAX_BYTES)
            try:
                self._json[path] = json.loads(data)
            except (ValueError, RecursionError):
                raise PolicyConfigError(f'load_json: invalid JSON in "{path}"') from None
        return self._json[path]

    def verify_git_signature(self, obj: Any, keyfile: str) -> bool:
        """``verify_git_signature(obj, keyfile)``: §2.2, via :mod:`buildsig.git.verify`."""
        from buildsig.git.verify import verify_git_signature

        git = self.input.git
        if git is None:
            return False
        if git.commit is None:
            self.unknowns.add("git.commit")
            return False
        key = self._read("verify_git_signature", keyfile, GIT_KEY_MAX_BYTES)
        return verify_git_signature(git, _as_json(obj), key, unknowns=self.unknowns)

    def _verify_git_signature_or_undefined(self, obj: Any, keyfile: str) -> bool:
        try:
            return self.verify_git_signature(obj, keyfile)
        except VerificationError as exc:
            self.failures.append(str(exc))
            raise Undefined(str(exc)) from None

    def verify_http_pgp_signature(self, http: Any, sigfile: str, keyfile: str) -> bool:
        """``verify_http_pgp_signature(http, sigfile, keyfile)``: §2.3.

        The download is never needed here: the signature's trailer is requested as a
        checksum suffix, and the signature is checked against ``H(content || trailer)``.
        Unlike Buildx, key validity (expiry, revocation, weak keys) is judged as for git.
        """
        from buildsig.git.openpgp import (
            OpenPGPKeyring,
            checksum_request,
            verify_openpgp_prehashed,
        )

        actual = self.input.http
        if actual is None:
            return False
        self._same("verify_http_pgp_signature", "http", http, actual)
        signature = self._read("verify_http_pgp_signature", sigfile, PGP_FILE_MAX_BYTES)
        keys = self._read("verify_http_pgp_signature", keyfile, PGP_FILE_MAX_BYTES)
        algorithm, trailer = checksum_request(signature)
        response = actual.checksum_response
        if (
            response is None
            or response.suffix != trailer
            or not response.digest.startswith(algorithm + ":")
        ):
            self.checksum_request = ChecksumRequest(algorithm=algorithm, suffix=trailer)
            self.unknowns.add("http.checksum")
            return False
        try:
            keyring = OpenPGPKeyring.from_armored(keys, max_bytes=PGP_FILE_MAX_BYTES)
        except PolicyConfigError as exc:
            raise PolicyConfigError(f"verify_http_pgp_signature: {exc}") from None
        digest = bytes.fromhex(response.digest.partition(":")[2])
        return verify_openpgp_prehashed(signature, digest, keyring).verified

    def pin_image(self, image: Any, digest: Any) -> bool:
        """``pin_image(image, digest)``: §2.4; the pin is recorded in :attr:`pins`."""
        actual = self.input.image
        if actual is None:
            return False
        self._same("pin_image", "image", image, actual)
        m = _DIGEST.fullmatch(digest) if isinstance(digest, str) else None
        if m is None or len(m.group(2)) != _DIGEST_LENGTHS[m.group(1)]:
            raise InvalidInputError(f"pin_image: invalid digest {digest!r}")
        if digest != actual.checksum and digest not in self.pins:
            self.pins.append(digest)
        return True

    def _checksum(self, builtin: str, http: Any) -> HTTP:
        actual = self.input.http
        if actual is None:
            raise Undefined(f"{builtin}: no input.http")
        self._same(builtin, "http", http, actual)
        if not actual.checksum:
            self.unknowns.add("http.checksum")
            raise Undefined(f"{builtin}: input.http.checksum is not resolved yet")
        return actual

    def artifact_attestation(self, http: Any, bundlefile: str) -> Mapping[str, Any]:
        """``artifact_attestation(http, bundlefile)``: §2.5; undefined unless it verifies."""
        from buildsig.sigstore.artifact import verify_artifact_attestation

        actual = self._checksum("artifact_attestation", http)
        bundle = self._read("artifact_attestation", bundlefile, BUNDLE_MAX_BYTES)
        verdict = verify_artifact_attestation(actual, bundle, verifier=self._verifier)
        if verdict.signature is None:
            raise Undefined(f"artifact_attestation: {verdict.reason}")
        result: Mapping[str, Any] = verdict.signature.to_dict()
        return result

    def github_attestation(self, http: Any, repo: str) -> Mapping[str, Any]:
        """``github_attestation(http, "owner/repo")``: §2.6; undefined unless one verifies."""
        from buildsig.sigstore.artifact import verify_github_attestation

        actual = self._checksum("github_attestation", http)
        if not isinstance(repo, str):
            raise InvalidInputError("github_attestation: the repository must be a string")
        found = verify_github_attestation(
            actual,
            repo,
            client=self._http,
            api_base=self.github_api,
            verifier=self._verifier,
            token=self._github_token,
        )
        if found.signature is None:
            raise Undefined(f"github_attestation: {found.reason or 'no attestation verified'}")
        result: Mapping[str, Any] = found.signature.to_dict()
        return result

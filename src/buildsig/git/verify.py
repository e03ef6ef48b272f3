"""Verify git tag and commit signatures in-process, with one entry point for both formats.

:func:`verify_git_object` takes the bytes ``git cat-file`` prints and a :class:`TrustedKeys`
(an OpenPGP keyring, SSH keys, an allowed-signers file, a revocation list) and returns a
:class:`~buildsig.git.result.SignatureCheck`: the format is chosen by the signature's
armor, exactly as git does, and no subprocess is started.

:func:`verify_git_signature` is Buildx's policy builtin of the same name, for any engine:
the object must be the input's own tag or commit, and the key file is read as Buildx reads
it (armored OpenPGP blocks for PGP signatures; the first authorized-keys line for SSH).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, MutableSet
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from buildsig.errors import InvalidInputError, PolicyConfigError, VerificationError
from buildsig.git.objects import GitObject, object_id, parse_git_object
from buildsig.git.result import Reason, SignatureCheck
from buildsig.model import Commit, Git, Tag

if TYPE_CHECKING:
    from buildsig.git.allowed_signers import AllowedSigners, RevocationList
    from buildsig.git.openpgp import OpenPGPKeyring
    from buildsig.git.sshsig import SSHPublicKey

__all__ = [
    "KEY_FILE_MAX_BYTES",
    "MAX_SIGNATURE_BYTES",
    "ObjectVerification",
    "TrustedKeys",
    "verify_git_object",
    "verify_git_signature",
]

#: Buildx reads a verify_git_signature key file up to this size.
KEY_FILE_MAX_BYTES = 128 * 1024
#: A signature block larger than this is rejected as malformed (real ones are < 8 KiB).
MAX_SIGNATURE_BYTES = 64 * 1024

_ARMORED_KEY = re.compile(
    rb"-----BEGIN PGP (PUBLIC|PRIVATE) KEY BLOCK-----.*?-----END PGP \1 KEY BLOCK-----[^\n]*\n?",
    re.DOTALL,
)


@dataclasses.dataclass(frozen=True, slots=True)
class TrustedKeys:
    """Everything a verification may trust. Parse once, verify many objects with it."""

    openpgp: OpenPGPKeyring | None = None
    ssh_keys: tuple[SSHPublicKey, ...] = ()
    allowed_signers: AllowedSigners | None = None
    revoked: RevocationList | None = None

    @classmethod
    def from_key_file(cls, data: bytes, *, source: str = "<keys>") -> TrustedKeys:
        """A file of armored OpenPGP key blocks and/or SSH public keys (authorized-keys lines).

        Every key in it is trusted. A file with neither raises PolicyConfigError.
        """
        from buildsig.git.sshsig import SSHPublicKey

        blocks = [m.group(0) for m in _ARMORED_KEY.finditer(data)]
        keyring = None
        if blocks:
            from buildsig.git.openpgp import OpenPGPKeyring

            keyring = OpenPGPKeyring.from_armored(b"".join(blocks))
        rest = _ARMORED_KEY.sub(b"", data).decode("utf-8", "replace")
        ssh: list[SSHPublicKey] = []
        for number, line in enumerate(rest.splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            try:
                ssh.append(SSHPublicKey.from_authorized_line(line))
            except (InvalidInputError, PolicyConfigError, ValueError) as exc:
                raise PolicyConfigError(
                    f"{source}:{number}: not an SSH public key ({exc})", source=source
                ) from None
        if keyring is None and not ssh:
            raise PolicyConfigError(
                f"{source}: no OpenPGP key blocks or SSH keys found", source=source
            )
        return cls(openpgp=keyring, ssh_keys=tuple(ssh))

    @classmethod
    def from_files(
        cls,
        *,
        keys: str | Path | None = None,
        allowed_signers: str | Path | None = None,
        revocation_file: str | Path | None = None,
        max_bytes: int = 1024 * 1024,
    ) -> TrustedKeys:
        """Load a key file and/or an allowed-signers file (plus revocations) from disk."""
        from buildsig.git.allowed_signers import AllowedSigners, RevocationList

        trusted = cls()
        if keys is not None:
            trusted = cls.from_key_file(_read_capped(keys, max_bytes), source=str(keys))
        if allowed_signers is not None:
            trusted = dataclasses.replace(
                trusted, allowed_signers=AllowedSigners.from_file(allowed_signers)
            )
        if revocation_file is not None:
            trusted = dataclasses.replace(
                trusted, revoked=RevocationList.from_file(revocation_file)
            )
        return trusted


def _read_capped(path: str | Path, max_bytes: int) -> bytes:
    try:
        with open(path, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise PolicyConfigError(f"cannot read {path}: {exc.strerror}", source=str(path)) from None
    if len(data) > max_bytes:
        raise PolicyConfigError(f"{path} is larger than {max_bytes} bytes", source=str(path))
    return data


@dataclasses.dataclass(frozen=True, slots=True)
class ObjectVerification:
    """One object's verdict, with what identifies the object."""

    type: str
    id: str
    check: SignatureCheck

    def to_dict(self) -> dict[str, Any]:
        """``{"type", "id", "verified", "reason", "detail", "signer"}``."""
        return {"type": self.type, "id": self.id, **self.check.to_dict()}


def _fail(reason: Reason, detail: str) -> SignatureCheck:
    return SignatureCheck(verified=False, reason=reason, detail=detail)


def verify_git_object(
    obj: bytes | GitObject,
    keys: TrustedKeys,
    *,
    allow_sha1: bool = False,
    now: datetime | None = None,
    object_format: str | None = None,
) -> SignatureCheck:
    """Verify the signature on one tag or commit against ``keys``.

    Unsigned objects, unknown keys, bad signatures and policy refusals are results
    (``verified=False`` with a reason); bytes that are not a git object at all raise
    InvalidInputError.
    """
    if isinstance(obj, bytes):
        obj = parse_git_object(obj, object_format=object_format)
    if obj.signature is None:
        return _fail(Reason.UNSIGNED, f"the {obj.type} carries no signature")
    if len(obj.signature) > MAX_SIGNATURE_BYTES:
        return _fail(
            Reason.MALFORMED, f"signature block is larger than {MAX_SIGNATURE_BYTES} bytes"
        )
    fmt = obj.signature_format
    if fmt == "x509":
        return _fail(Reason.UNSUPPORTED_FORMAT, "x509 (gpgsm/gitsign) signatures are not supported")
    if fmt is None:
        return _fail(Reason.MALFORMED, "unrecognised signature armor")
    if fmt == "openpgp":
        if keys.openpgp is None:
            return _fail(Reason.UNKNOWN_KEY, "OpenPGP signature, but no OpenPGP keys are trusted")
        from buildsig.git.openpgp import verify_openpgp

        return verify_openpgp(
            obj.payload, obj.signature, keys.openpgp, allow_sha1=allow_sha1, now=now
        )
    if keys.allowed_signers is None and not keys.ssh_keys:
        return _fail(
            Reason.UNKNOWN_KEY, "SSH signature, but no SSH keys or allowed signers are trusted"
        )
    from buildsig.git.sshsig import verify_sshsig

    return verify_sshsig(
        obj.payload,
        obj.signature,
        allowed_signers=keys.allowed_signers,
        keys=keys.ssh_keys,
        signer_time=obj.signer_time,
        revoked=keys.revoked,
    )


def verify_git_signature(
    git: Git | None,
    obj: Commit | Tag | Mapping[str, Any],
    key_data: bytes,
    *,
    unknowns: MutableSet[str] | None = None,
    allow_sha1: bool = False,
) -> bool:
    """Buildx's ``verify_git_signature(obj, keyfile)`` builtin, for any policy engine.

    - no ``input.git``: ``False``;
    - ``input.git.commit`` not resolved yet: adds ``git.commit`` to ``unknowns`` (so the
      caller fetches the objects and evaluates again) and returns ``False``;
    - ``obj`` must equal ``input.git.commit`` or ``input.git.tag`` (as a model object or as
      its JSON form), else InvalidInputError "object is neither commit nor tag";
    - key data is read as Buildx does: armored OpenPGP key blocks for a PGP signature, the
      first authorized-keys line for an SSH signature; over 128 KiB is a PolicyConfigError
      (Buildx silently truncates);
    - success is ``True``; any verification failure raises VerificationError whose
      ``check`` attribute holds the full result (Buildx makes the call undefined).
    """
    if git is None:
        return False
    if git.commit is None:
        if unknowns is not None:
            unknowns.add("git.commit")
        return False
    target = _same_object(obj, git)
    if not target.raw:
        raise InvalidInputError("verify_git_signature: the object's raw bytes are not available")
    if len(key_data) > KEY_FILE_MAX_BYTES:
        raise PolicyConfigError(
            f"verify_git_signature: key file is larger than {KEY_FILE_MAX_BYTES} bytes"
        )
    kind: Literal["commit", "tag"] = "tag" if isinstance(target, Tag) else "commit"
    parsed = parse_git_object(target.raw, kind, object_format="sha256" if git.is_sha256 else "sha1")
    keys = _builtin_keys(parsed, key_data)
    check = verify_git_object(parsed, keys, allow_sha1=allow_sha1)
    if not check.verified:
        err = VerificationError(
            f"verify_git_signature: verification failed: {check.reason}: {check.detail}",
            source=object_id(kind, target.raw, "sha256" if git.is_sha256 else "sha1"),
        )
        err.check = check  # type: ignore[attr-defined]
        try:
            raise err
        finally:
            del err  # no frame <-> exception cycle: callers' frames are freed promptly
    return True


def _same_object(obj: Commit | Tag | Mapping[str, Any] | None, git: Git) -> Commit | Tag:
    if obj is None:  # e.g. input.git.tag of a lightweight tag
        raise InvalidInputError("verify_git_signature: object is neither commit nor tag")
    candidates = [c for c in (git.commit, git.tag) if c is not None]
    for candidate in candidates:
        if isinstance(obj, (Commit, Tag)):
            if obj == candidate:
                return candidate
        elif dict(obj) == candidate.to_dict():
            return candidate
    raise InvalidInputError("verify_git_signature: object is neither commit nor tag")


def _builtin_keys(obj: GitObject, key_data: bytes) -> TrustedKeys:
    if obj.signature_format == "openpgp":
        blocks = [m.group(0) for m in _ARMORED_KEY.finditer(key_data)]
        if not blocks:
            raise PolicyConfigError("verify_git_signature: failed to read armored keyring")
        from buildsig.git.openpgp import OpenPGPKeyring

        return TrustedKeys(openpgp=OpenPGPKeyring.from_armored(b"".join(blocks)))
    if obj.signature_format == "ssh":
        from buildsig.git.sshsig import load_authorized_key

        return TrustedKeys(ssh_keys=(load_authorized_key(key_data),))
    return TrustedKeys()

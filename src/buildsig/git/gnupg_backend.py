"""OpenPGP verification through GnuPG, for users who want its keyring and trust model.

Why this exists next to :mod:`buildsig.git.openpgp`: some deployments already keep their
trusted keys in a GnuPG home (with ownertrust, designated revokers, refreshed revocations)
or must be able to say "GnuPG checked this". :class:`GnuPGVerifier` runs ``gpg`` through
python-gnupg and returns the same :class:`~buildsig.git.result.SignatureCheck` verdicts,
with the same policy, as the in-process verifier, so the two can be swapped and compared.

How it decides, and why it does not simply trust gpg:

* Only gpg's machine-readable status lines are read (``NEWSIG``, ``VALIDSIG``,
  ``BADSIG``, ``ERRSIG``/``NO_PUBKEY``, ``EXPSIG``, ``EXPKEYSIG``, ``REVKEYSIG``,
  ``TRUST_*``), plus ``--with-colons`` key listings for key size, expiry and revocation.
  gpg's human log is sent to the null device so no text a signer controls can be
  mistaken for a status line, and neither python-gnupg's ``status`` text nor gpg's exit
  code is used: gpg exits 0 for expired *and revoked* keys.
* Expired keys follow the in-process rule: a signature made before the key expired
  verifies (gpg reports ``EXPKEYSIG`` either way), one made after is ``EXPIRED_KEY``.
* SHA-1 data signatures are ``WEAK_HASH`` unless ``allow_sha1``; DSA, RSA < 2048 bits and
  Elgamal signing keys (or a subkey under such a primary) are ``WEAK_KEY``; a signature
  more than 5 minutes in the future or past its own expiration is ``BAD_SIGNATURE``.
* ``min_trust`` optionally requires a GnuPG validity level (like git's
  ``gpg.minTrustLevel``); below it the verdict is ``NOT_ALLOWED``.

Each verifier owns one private temporary directory (mode 0700). Built from key bytes,
the keys are imported once into a GnuPG home inside it; built from an existing home,
buildsig only reads it. ``gpg`` runs with ``--no-autostart --batch``, so verification never
spawns a gpg-agent. :meth:`GnuPGVerifier.close` (or leaving the ``with`` block) removes
the directory, killing an agent first if one was started there anyway.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import weakref
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Self

from buildsig.errors import PolicyConfigError
from buildsig.git.result import Reason, SignatureCheck, SignerIdentity

if TYPE_CHECKING:
    import gnupg  # type: ignore[import-untyped]  # python-gnupg ships no type information

__all__ = ["TRUST_LEVELS", "GnuPGVerifier"]

#: GnuPG validity levels from lowest to highest, as git names them (``gpg.minTrustLevel``).
TRUST_LEVELS: Final = ("undefined", "never", "marginal", "fully", "ultimate")

_MAX_SIGNATURE_BYTES: Final = 128 * 1024  # same cap as the in-process verifier
_FUTURE_SKEW_SECONDS: Final = 300
_GPG_OPTIONS: Final = ("--no-autostart", "--batch", "--log-file", os.devnull)
_HASH_NAMES: Final = {
    1: "md5",
    2: "sha1",
    3: "ripemd160",
    8: "sha256",
    9: "sha384",
    10: "sha512",
    11: "sha224",
    12: "sha3-256",
    14: "sha3-512",
}
_STRONG_HASHES: Final = frozenset({8, 9, 10, 11, 12, 14})
_NO_PUBKEY_RC: Final = 9  # GPG_ERR_NO_PUBKEY in ERRSIG
_GOOD_STATUSES: Final = ("GOODSIG", "EXPSIG", "EXPKEYSIG", "REVKEYSIG")


def _find_gpgconf(gpg_binary: str) -> str | None:
    """Path of gpgconf: next to the gpg binary when that is a path, else on PATH."""
    if os.sep in gpg_binary:
        candidate = Path(gpg_binary).with_name("gpgconf")
        if candidate.exists():
            return str(candidate)
    return shutil.which("gpgconf")


def _kill_agent(home: Path, gpg_binary: str) -> None:
    """Stop daemons gpg may have left in ``home`` (only if their sockets exist)."""
    if not any(home.glob("S.*")):
        return
    gpgconf = _find_gpgconf(gpg_binary)
    if gpgconf is None:
        return
    subprocess.run(
        [gpgconf, "--homedir", str(home), "--kill", "all"],
        check=False,
        capture_output=True,
        timeout=30,
    )


def _cleanup(workdir: str, home: str | None, gpg_binary: str) -> None:
    """Finaliser: kill a stray agent in our own home, then delete our directory."""
    try:
        if home is not None:
            _kill_agent(Path(home), gpg_binary)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _status_lines(stderr: str) -> list[tuple[str, list[str]]]:
    """``[GNUPG:] KEYWORD args…`` lines as (keyword, args); everything else is ignored."""
    out: list[tuple[str, list[str]]] = []
    for line in stderr.splitlines():
        if line.startswith("[GNUPG:] "):
            parts = line[9:].split(" ")
            out.append((parts[0], parts[1:]))
    return out


_COLON_ESCAPE = re.compile(r"\\x([0-9a-fA-F]{2})")


def _colon_text(value: str) -> str:
    r"""A ``--with-colons`` user id as text.

    python-gnupg decodes gpg's output as Latin-1 (which never fails) and keeps gpg's
    ``\xNN`` escapes; undo both to get the UTF-8 user id back.
    """
    raw = _COLON_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), value)
    return raw.encode("latin-1", "replace").decode("utf-8", "replace")


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _algorithm_label(pk_algo: int, length: int | None, curve: str) -> str:
    curve = curve.lower()
    if curve.startswith("nistp"):
        curve = "p" + curve[5:]
    if pk_algo in (1, 2, 3):
        return f"rsa{length or ''}"
    if pk_algo == 17:
        return f"dsa{length or ''}"
    if pk_algo in (16, 20):
        return f"elgamal{length or ''}"
    if pk_algo == 19:
        return f"ecdsa-{curve}"
    if pk_algo in (22, 27):
        return curve or "ed25519"
    if pk_algo == 28:
        return "ed448"
    return f"algorithm{pk_algo}"


def _weak_key(pk_algo: int, length: int | None, label: str) -> str:
    if pk_algo == 17:
        return f"DSA keys are not allowed ({label})"
    if pk_algo in (16, 20):
        return f"Elgamal signing keys are not allowed ({label})"
    if pk_algo in (1, 2, 3) and (length or 0) < 2048:
        return f"RSA keys shorter than 2048 bits are not allowed ({label})"
    return ""


def _fmt(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _fail(reason: Reason, detail: str, signer: SignerIdentity | None = None) -> SignatureCheck:
    return SignatureCheck(verified=False, reason=reason, detail=detail, signer=signer)


class GnuPGVerifier:
    """Verify git PGP signatures with ``gpg`` and buildsig's policy.

    Build one with :meth:`from_armored` (keys imported into a private temporary home) or
    :meth:`from_home` (an existing GnuPG home, read only), keep it for many
    verifications, and :meth:`close` it (or use it as a context manager). ``min_trust``
    (one of :data:`TRUST_LEVELS`) requires that GnuPG's validity for the signing key
    reaches that level; None, the default, ignores trust as git does by default.
    """

    def __init__(
        self,
        *,
        home: str | os.PathLike[str] | None = None,
        keys: bytes | None = None,
        gpg_binary: str = "gpg",
        min_trust: str | None = None,
        max_key_bytes: int = 512 * 1024,
    ) -> None:
        """Prefer :meth:`from_armored` / :meth:`from_home`; exactly one of ``home``/``keys``."""
        if (home is None) == (keys is None):
            raise ValueError("give exactly one of home= or keys=")
        if min_trust is not None and min_trust not in TRUST_LEVELS:
            raise PolicyConfigError(
                f"unknown trust level {min_trust!r}; expected one of {', '.join(TRUST_LEVELS)}"
            )
        import gnupg  # lazy: buildsig must import fast

        self.min_trust: str | None = min_trust
        """Required GnuPG validity level (one of :data:`TRUST_LEVELS`), or None."""
        self._gpg_binary = gpg_binary
        self._workdir = Path(tempfile.mkdtemp(prefix="buildsig-gpg-"))
        own_home = home is None
        self._home = self._workdir / "home" if home is None else Path(home)
        self._finalizer = weakref.finalize(
            self,
            _cleanup,
            str(self._workdir),
            str(self._home) if own_home else None,
            gpg_binary,
        )
        self._key_cache: dict[str, dict[str, Any]] = {}
        self._cache_keys = own_home  # an existing home may change under us
        try:
            if own_home:
                self._home.mkdir(mode=0o700)
            elif not self._home.is_dir():
                raise PolicyConfigError(f"GnuPG home {str(self._home)!r} is not a directory")
            try:
                self._gpg: gnupg.GPG = gnupg.GPG(
                    gnupghome=str(self._home), gpgbinary=gpg_binary, options=list(_GPG_OPTIONS)
                )
            except (OSError, ValueError) as exc:
                raise PolicyConfigError(f"cannot run gpg ({gpg_binary}): {exc}") from exc
            self.fingerprints: tuple[str, ...] = ()
            """Primary fingerprints of the keys gpg imported (or holds), uppercase hex."""
            if keys is not None:
                self.fingerprints = self._import(keys, max_key_bytes)
            else:
                self.fingerprints = tuple(k["fingerprint"] for k in self._gpg.list_keys())
        except BaseException:
            self._finalizer()
            raise

    @classmethod
    def from_armored(
        cls,
        data: bytes,
        *,
        max_bytes: int = 512 * 1024,
        gpg_binary: str = "gpg",
        min_trust: str | None = None,
    ) -> Self:
        """Import armored key blocks into a private temporary GnuPG home.

        Accepts exactly what :meth:`OpenPGPKeyring.from_armored
        <buildsig.git.openpgp.OpenPGPKeyring.from_armored>` accepts (and raises the same
        :class:`PolicyConfigError` otherwise); only the public parts are handed to gpg.
        """
        return cls(keys=data, gpg_binary=gpg_binary, min_trust=min_trust, max_key_bytes=max_bytes)

    @classmethod
    def from_home(
        cls,
        home: str | os.PathLike[str],
        *,
        gpg_binary: str = "gpg",
        min_trust: str | None = None,
    ) -> Self:
        """Use an existing GnuPG home: its keys, revocations and ownertrust.

        buildsig puts nothing there (signatures go to its own temporary directory), though
        gpg itself may refresh the home's trust database as it always does.
        """
        return cls(home=home, gpg_binary=gpg_binary, min_trust=min_trust)

    @property
    def home(self) -> Path:
        """The GnuPG home in use (inside the private temporary directory for imported keys)."""
        return self._home

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` ran: the temporary directory is gone."""
        return not self._finalizer.alive

    def close(self) -> None:
        """Remove the temporary directory (and any agent started in our own home)."""
        self._finalizer()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else str(self._home)
        return f"GnuPGVerifier({state}, {len(self.fingerprints)} keys)"

    # -- setup ---------------------------------------------------------------------------

    def _import(self, data: bytes, max_bytes: int) -> tuple[str, ...]:
        from buildsig.git.openpgp import OpenPGPKeyring

        keyring = OpenPGPKeyring.from_armored(data, max_bytes=max_bytes)
        result = self._gpg.import_keys(keyring.public_packets())
        imported: list[str] = []
        for keyword, args in _status_lines(result.stderr):
            if keyword == "IMPORT_OK" and len(args) >= 2 and args[1] not in imported:
                imported.append(args[1].upper())
        if not imported:
            raise PolicyConfigError("gpg imported none of the keys")
        return tuple(imported)

    # -- verification --------------------------------------------------------------------

    def verify(
        self,
        payload: bytes,
        armored_signature: bytes,
        *,
        allow_sha1: bool = False,
        now: datetime | None = None,
    ) -> SignatureCheck:
        """Verify a detached armored signature over ``payload``; the policy is the module's.

        ``now`` (default: the current time) only drives the future-signature and
        signature-expiration checks, as in :func:`buildsig.git.openpgp.verify_openpgp`.
        Never raises for bad signatures; raises :class:`PolicyConfigError` if the
        verifier is closed or gpg cannot be run.
        """
        if self.closed:
            raise PolicyConfigError("GnuPGVerifier is closed")
        signature = bytes(armored_signature)
        if len(signature) > _MAX_SIGNATURE_BYTES:
            return _fail(Reason.MALFORMED, "signature block is too large")
        if not signature.lstrip().startswith(b"-----BEGIN PGP "):
            # gpg would also accept binary signatures; git never produces them
            return _fail(Reason.MALFORMED, "not an ASCII-armored OpenPGP signature")
        fd, sig_path = tempfile.mkstemp(dir=self._workdir, suffix=".sig")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(signature)
            try:
                result = self._gpg.verify_data(sig_path, bytes(payload))
            except (OSError, ValueError) as exc:
                raise PolicyConfigError(f"cannot run gpg: {exc}") from exc
        finally:
            os.unlink(sig_path)
        if now is None:
            now = datetime.now(UTC)
        elif now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        return self._decide(_status_lines(result.stderr), allow_sha1, int(now.timestamp()))

    def _list_key(self, primary_fpr: str) -> dict[str, Any] | None:
        cached = self._key_cache.get(primary_fpr)
        if cached is not None:
            return cached
        keys = self._gpg.list_keys(keys=[primary_fpr])
        for key in keys:
            if key.get("fingerprint", "").upper() == primary_fpr:
                if self._cache_keys:
                    self._key_cache[primary_fpr] = key
                return dict(key)
        return None

    def _decide(
        self, statuses: Sequence[tuple[str, list[str]]], allow_sha1: bool, now: int
    ) -> SignatureCheck:
        seen: dict[str, list[str]] = {}
        newsig = 0
        for keyword, args in statuses:
            if keyword == "NEWSIG":
                newsig += 1
            seen.setdefault(keyword, args)
        if newsig > 1:
            return _fail(
                Reason.MALFORMED,
                f"{newsig} signatures in one block; exactly one is expected",
            )
        if "BADSIG" in seen:
            args = seen["BADSIG"]
            hint = SignerIdentity(format="openpgp", key_id=args[0].upper()) if args else None
            return _fail(Reason.BAD_SIGNATURE, "bad signature: gpg reports BADSIG", hint)
        if "ERRSIG" in seen:
            return self._errsig(seen)
        if "VALIDSIG" not in seen or not any(k in seen for k in _GOOD_STATUSES):
            what = ", ".join(sorted(seen)) or "no status"
            return _fail(Reason.MALFORMED, f"gpg could not read the signature ({what})")
        return self._valid(seen, allow_sha1, now)

    def _errsig(self, seen: dict[str, list[str]]) -> SignatureCheck:
        # ERRSIG <keyid> <pkalgo> <hashalgo> <sig_class> <time> <rc> [<fpr>]
        args = seen["ERRSIG"] + [""] * 7
        keyid = args[0].upper()
        hint = SignerIdentity(format="openpgp", key_id=keyid) if keyid else None
        rc = _int(args[5])
        hash_algo = _int(args[2]) or 0
        if rc == _NO_PUBKEY_RC or "NO_PUBKEY" in seen:
            return _fail(Reason.UNKNOWN_KEY, f"no key in the keyring matches issuer {keyid}", hint)
        if hash_algo in (1, 3):
            name = _HASH_NAMES[hash_algo]
            return _fail(Reason.WEAK_HASH, f"{name} data signatures are never accepted", hint)
        return _fail(Reason.MALFORMED, f"gpg cannot check the signature (error code {rc})", hint)

    def _valid(self, seen: dict[str, list[str]], allow_sha1: bool, now: int) -> SignatureCheck:
        # VALIDSIG <fpr> <date> <sig_ts> <expire_ts> <version> <reserved> <pkalgo> <hashalgo>
        #          <class> [<primary fpr>]
        v = seen["VALIDSIG"] + [""] * 10
        signing_fpr = v[0].upper()
        primary_fpr = (v[9] or v[0]).upper()
        sig_ts = _int(v[2]) or 0
        sig_expires = _int(v[3]) or 0
        pk_algo = _int(v[6]) or 0
        hash_algo = _int(v[7]) or 0
        sig_class = v[8].lower()
        key = self._list_key(primary_fpr)
        primary_info: dict[str, Any] = key or {}
        sub_info: dict[str, Any] = primary_info
        key_id = signing_fpr[-16:]
        if signing_fpr != primary_fpr:
            sub_info = (primary_info.get("subkey_info") or {}).get(key_id, {})
        length = _int(sub_info.get("length"))
        label = _algorithm_label(pk_algo, length, str(sub_info.get("curve") or ""))
        uids = primary_info.get("uids") or []
        who = SignerIdentity(
            format="openpgp",
            primary_fingerprint=primary_fpr,
            signing_fingerprint=signing_fpr,
            key_id=key_id,
            user_id=_colon_text(uids[0]) if uids else "",
            algorithm=label,
            hash_algorithm=_HASH_NAMES.get(hash_algo, f"hash{hash_algo}"),
            signed_at=datetime.fromtimestamp(sig_ts, UTC),
        )
        if sig_class not in ("00", "01"):
            return _fail(
                Reason.MALFORMED, f"signature class 0x{sig_class} is not a document signature"
            )
        if sig_ts > now + _FUTURE_SKEW_SECONDS:
            return _fail(
                Reason.BAD_SIGNATURE, f"signature made in the future ({_fmt(sig_ts)})", who
            )
        if "EXPSIG" in seen or (sig_expires and sig_expires <= now):
            return _fail(Reason.BAD_SIGNATURE, f"signature expired at {_fmt(sig_expires)}", who)
        # Revocation: the key listing's validity field, since gpg reports EXPKEYSIG rather
        # than REVKEYSIG for a key that is both expired and revoked.
        if primary_info.get("trust") == "r":
            return _fail(Reason.REVOKED_KEY, "primary key is revoked", who)
        if "REVKEYSIG" in seen or (signing_fpr != primary_fpr and sub_info.get("trust") == "r"):
            what = "signing subkey" if signing_fpr != primary_fpr else "primary key"
            return _fail(Reason.REVOKED_KEY, f"{what} {key_id} is revoked", who)
        for what, info in (("primary key", primary_info), (f"key {key_id}", sub_info)):
            expires = _int(info.get("expires"))
            if expires and sig_ts >= expires:
                return _fail(
                    Reason.EXPIRED_KEY,
                    f"signature made {_fmt(sig_ts)}, after the {what} expired ({_fmt(expires)})",
                    who,
                )
        if "EXPKEYSIG" in seen and key is None:
            return _fail(Reason.EXPIRED_KEY, "gpg reports an expired key it cannot list", who)
        if hash_algo not in _STRONG_HASHES and not (allow_sha1 and hash_algo == 2):
            hint = " (pass allow_sha1=True to accept them)" if hash_algo == 2 else ""
            return _fail(
                Reason.WEAK_HASH,
                f"{who.hash_algorithm} data signatures are not accepted{hint}",
                who,
            )
        weak = _weak_key(pk_algo, length, label)
        if not weak and signing_fpr != primary_fpr:
            p_algo = _int(primary_info.get("algo")) or 0
            p_len = _int(primary_info.get("length"))
            p_weak = _weak_key(
                p_algo, p_len, _algorithm_label(p_algo, p_len, str(primary_info.get("curve") or ""))
            )
            weak = f"primary key: {p_weak}" if p_weak else ""
        if weak:
            return _fail(Reason.WEAK_KEY, weak, who)
        if self.min_trust is not None:
            level = "undefined"
            for name in TRUST_LEVELS:
                if f"TRUST_{name.upper()}" in seen:
                    level = name
            if TRUST_LEVELS.index(level) < TRUST_LEVELS.index(self.min_trust):
                return _fail(
                    Reason.NOT_ALLOWED,
                    f"GnuPG trust level {level} is below the required {self.min_trust}",
                    who,
                )
        signer = "primary key" if signing_fpr == primary_fpr else "subkey"
        detail = (
            f"good signature from {who.user_id or primary_fpr!r} with {label} {signer} "
            f"{key_id}, {who.hash_algorithm}, made {_fmt(sig_ts)} (checked by gpg)"
        )
        return SignatureCheck(verified=True, detail=detail, signer=who)

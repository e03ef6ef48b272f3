"""Hostile input to the Sigstore parsers and verifier: only BuildsigError may come out, quickly."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from buildsig.errors import BuildsigError
from buildsig.sigstore import TrustRoot, Verifier, parse_bundle
from buildsig.testing import TestSigstore

ARTIFACT = b"buildsig fuzz artifact\n"
DIGEST = "sha256:" + hashlib.sha256(ARTIFACT).hexdigest()
LIMIT = 2.0  # seconds any single call may take

SIG = TestSigstore(seed=0)
ROOT = SIG.trusted_root_json()
VERIFIER = Verifier(TrustRoot.from_json(ROOT), now=SIG.now + timedelta(hours=1))
BUNDLE = SIG.sign_artifact(ARTIFACT, timestamp=True)


def outcome(call: Callable[[], Any]) -> Any:
    """The call's result, or None when it raised a BuildsigError (anything else fails)."""
    started = time.monotonic()
    try:
        return call()
    except BuildsigError as exc:
        if not str(exc):  # an error must say what was wrong
            raise AssertionError(f"{type(exc).__name__} without a message") from exc
        return None
    finally:
        assert time.monotonic() - started < LIMIT


def test_out_of_range_numbers_are_refused_cleanly() -> None:
    for value in ("--5", "\u00b2", "-", "", "1" * 21, "18446744073709551616"):
        doc = json.loads(BUNDLE)
        doc["verificationMaterial"]["tlogEntries"][0]["logIndex"] = value
        text = json.dumps(doc)
        assert outcome(lambda: parse_bundle(text)) is None, value  # noqa: B023

"""The error hierarchy: families by cause, structured fields, pickling."""

from __future__ import annotations

import inspect
import pickle

import pytest

import buildsig
from buildsig import errors


def all_error_classes() -> list[type[errors.BuildsigError]]:
    return [
        obj
        for _, obj in inspect.getmembers(errors, inspect.isclass)
        if issubclass(obj, errors.BuildsigError)
    ]


def test_every_error_is_exported_and_rooted() -> None:
    classes = all_error_classes()
    assert len(classes) == len(errors.__all__)
    for cls in classes:
        assert cls.__name__ in errors.__all__
        assert getattr(buildsig, cls.__name__) is cls
        assert cls.__doc__


def test_parse_errors_are_value_errors() -> None:
    for cls in (
        errors.InvalidInputError,
        errors.InvalidSourceError,
        errors.InvalidReferenceError,
        errors.InvalidPlatformError,
        errors.InvalidDocumentError,
        errors.UnsupportedSchemeError,
    ):
        assert issubclass(cls, ValueError)
    assert not issubclass(errors.NetworkError, ValueError)


@pytest.mark.parametrize(
    "err",
    [
        errors.BuildsigError("boom", source="s"),
        errors.UnsupportedSchemeError("unsupported source scheme: x", scheme="x", source="x://y"),
        errors.InvalidDocumentError("expected a string", path="image.ref"),
        errors.DigestMismatchError("mismatch", expected="sha256:a", actual="sha256:b"),
        errors.RateLimitedError("slow down", retry_after=2.5, source="registry"),
        errors.RegistryError("nope", status=500),
        errors.PolicyConfigError("no allowed signers file"),
    ],
)
def test_errors_pickle_with_their_fields(err: errors.BuildsigError) -> None:
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is type(err)
    assert str(back) == str(err)
    assert back.__dict__ == err.__dict__
    assert back.diagnostics() == err.diagnostics()


def test_structured_fields_and_diagnostics() -> None:
    err = errors.RateLimitedError("slow down", retry_after=2.5, source="ghcr.io")
    assert err.status == 429
    assert err.fields() == {"source": "ghcr.io", "status": 429, "retry_after": 2.5}
    assert err.diagnostics().splitlines() == [
        "RateLimitedError: slow down",
        "  retry_after: 2.5",
        "  source: ghcr.io",
        "  status: 429",
    ]
    doc = errors.InvalidDocumentError("expected a string, got a number", path="image.ref")
    assert str(doc) == "image.ref: expected a string, got a number"
    assert doc.path == "image.ref"


def test_hierarchy_matches_the_docstring_tree() -> None:
    tree = errors.__doc__ or ""
    for cls in all_error_classes():
        assert cls.__name__ in tree
        parent = cls.__mro__[1]
        if cls is not errors.BuildsigError:
            assert issubclass(parent, errors.BuildsigError)

"""CEL policies: the blog's registry-gatekeeper and paranoid policies rewritten in CEL give
the same decisions as the Rego originals on the same inputs; the builtins as CEL functions
over real material (a policy directory, an SSH-signed tag made by git, an OCI layout).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from buildsig.errors import InvalidInputError, PolicyConfigError
from buildsig.policy.cel import CelPolicy, input_paths
from buildsig.policy.evaluate import Decision, PolicyEvaluator
from buildsig.policy.fs import PolicyFS
from buildsig.resolver import ResolveOptions, Resolver
from buildsig.source import Source, source_to_input
from tests.git.gpgkit import GpgHome
from tests.http import LocalServer, body
from tests.oci.imagekit import ImageKit
from tests.policy.test_python_policy import (
    ALPINE_PIN,
    GATEKEEPER_REGO,
    GOLANG_PIN,
    PARANOID_REGO,
    cases,
    image,
    signed_repo,
)

# --- the registry gatekeeper ------------------------------------------------------------------

CANONICAL = "has(input.image.isCanonical) && input.image.isCanonical"

GATEKEEPER_CEL = {
    "local": "has(input.local)",
    "image": 'input.image.host in ["registry.company.com", "docker.io", "ghcr.io"]'
    " && input.image.isCanonical",
    "https": 'input.http.schema == "https"',
    "git": "has(input.git)",
    "deny_msg": f"""allow ? [] :
        (has(input.image) && !({CANONICAL})
            ? ["Image " + input.image.ref + " must use a digest reference (e.g., @sha256:...)."
               + " Tags alone are not allowed."] : [])
        + (has(input.image) && {CANONICAL}
            ? ["Registry " + input.image.host + " is not in the approved list."] : [])
        + (has(input.http) && input.http.schema != "https"
            ? ["All HTTP downloads must use HTTPS. Plain HTTP is not allowed."] : [])
    """,
}

# --- the paranoid production lockdown ---------------------------------------------------------

PARANOID_CEL = {
    "local": "has(input.local)",
    "internal": 'input.image.host == "registry.company.com" && input.image.isCanonical'
    " && input.image.hasProvenance",
    "dhi": 'input.image.host == "dhi.io" && input.image.isCanonical && input.image.hasProvenance',
    # the pins come from the policy directory, through load_json
    "dockerhub": 'input.image.host == "docker.io" && input.image.repo in load_json("pins.json")'
    ' && load_json("pins.json")[input.image.repo] == input.image.checksum',
    "download": 'input.http.schema == "https"'
    ' && input.http.host in ["releases.internal.com", "artifacts.company.com"]',
    "internal_git": 'input.git.remote.startsWith("https://github.com/our-org/")',
    "signed_git": '!input.git.remote.startsWith("https://github.com/our-org/")'
    ' && input.git.tagName != ""'
    ' && verify_git_signature(input.git.tag, "maintainer.pub")',
    "deny_msg": """allow ? [] :
        (has(input.image) && input.image.host == "registry.company.com"
            && !(has(input.image.hasProvenance) && input.image.hasProvenance)
            ? ["Internal image " + input.image.ref + " requires provenance attestations."]
            : [])
        + (has(input.http) ? ["Download from " + input.http.host + " is not allowed."] : [])
        + (has(input.git) && !input.git.remote.startsWith("https://github.com/our-org/")
            ? ["External Git repo " + input.git.remote + " requires a signed tag."] : [])
    """,
}


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    root = tmp_path / "policy"
    root.mkdir()
    (root / "pins.json").write_text(json.dumps({"golang": GOLANG_PIN, "alpine": ALPINE_PIN}))
    return root


@pytest.mark.parametrize("case", sorted(cases()))
def test_gatekeeper_matches_rego(case: str) -> None:
    source, inp = cases()[case]
    rego = PolicyEvaluator({"Dockerfile.rego": GATEKEEPER_REGO}).evaluate(source, inp)
    ours = CelPolicy(GATEKEEPER_CEL).evaluate(source, inp)
    assert ours.decision == rego.decision
    assert ours.converted == rego.converted == ""


@pytest.mark.parametrize("case", sorted(cases()))
def test_paranoid_matches_rego(case: str, policy_dir: Path) -> None:
    source, inp = cases()[case]
    fs = PolicyFS(policy_dir)
    rego = PolicyEvaluator({"Dockerfile.rego": PARANOID_REGO}, fs=fs).evaluate(source, inp)
    ours = CelPolicy(PARANOID_CEL, fs=fs).evaluate(source, inp)
    assert ours.decision == rego.decision


def test_the_decisions_themselves(policy_dir: Path) -> None:
    """Not only equal to Rego's: what the blog says they should be."""
    all_cases = cases()
    gatekeeper = CelPolicy(GATEKEEPER_CEL)
    paranoid = CelPolicy(PARANOID_CEL, fs=PolicyFS(policy_dir))
    allowed = {n for n, c in all_cases.items() if gatekeeper.evaluate(*c).decision.allow}
    assert allowed == {
        "local",
        "hub by digest",
        "internal with provenance",
        "internal without provenance",
        "internal, provenance unknown",
        "pinned golang",
        "golang, other digest",
        "approved download",
        "other https download",
        "internal git",
        "external git, unresolved",
    }
    assert gatekeeper.evaluate(*all_cases["tag only"]).decision.deny_msg == (
        "Image docker.io/library/node:20 must use a digest reference (e.g., @sha256:...)."
        " Tags alone are not allowed.",
    )
    allowed = {n for n, c in all_cases.items() if paranoid.evaluate(*c).decision.allow}
    assert allowed == {
        "local",
        "internal with provenance",
        "dhi",
        "pinned golang",
        "approved download",
        "internal git",
    }
    assert paranoid.evaluate(*all_cases["internal, provenance unknown"]).decision == Decision(
        allow=False,
        deny_msg=(
            f"Internal image registry.company.com/base/golang:1.23@sha256:{'c' * 64}"
            " requires provenance attestations.",
        ),
    )


# --- the builtins from CEL --------------------------------------------------------------------


def test_signed_tag_through_the_resolver(tmp_path: Path, policy_dir: Path) -> None:
    repo = signed_repo(tmp_path, policy_dir)
    fs = PolicyFS(policy_dir)
    policy = CelPolicy(PARANOID_CEL, fs=fs)
    rego = PolicyEvaluator({"Dockerfile.rego": PARANOID_REGO}, fs=fs)
    source = Source.parse(f"{repo}#v1")
    inp = source_to_input(source)
    # offline, the tag is unknown: never allowed
    assert policy.evaluate(source, inp).decision.allow is False
    with Resolver() as resolver:
        result = policy.evaluate(source, inp, resolver=resolver)
    assert result.decision == Decision(allow=True)
    assert "git.tag" in result.resolved
    assert rego.evaluate(source, inp).decision.allow is False
    rego_resolved = PolicyEvaluator(
        {"Dockerfile.rego": PARANOID_REGO}, fs=fs, resolver=Resolver()
    ).evaluate(source, inp)
    assert rego_resolved.decision == result.decision

    # a signature by a key the policy does not trust is undefined (as in Buildx): denied,
    # with the verification failure reported
    stranger = CelPolicy({"allow": 'verify_git_signature(input.git.tag, "stranger.pub")'}, fs=fs)
    with Resolver() as resolver:
        refused = stranger.evaluate(source, inp, resolver=resolver)
    assert refused.decision.allow is False
    assert refused.failures and "unknown-key" in refused.failures[0]


def test_pin_image_converts_the_source() -> None:
    pin = "sha256:" + hashlib.sha256(b"rebuilt").hexdigest()
    source, inp = image("alpine:3.20")
    result = CelPolicy(f'pin_image(input.image, "{pin}")').evaluate(source, inp)
    assert result.decision.allow is True
    assert result.converted == f"docker-image://docker.io/library/alpine:3.20@{pin}"
    # a pin inside a rule that does not hold still records (as in Rego); two are an error
    two = CelPolicy(
        {
            "a": f'pin_image(input.image, "{pin}")',
            "b": f'pin_image(input.image, "sha256:{"f" * 64}")',
        }
    )
    with pytest.raises(PolicyConfigError, match="multiple image pins"):
        two.evaluate(source, inp)


def test_builtin_errors_are_errors_even_when_absorbed() -> None:
    source, inp = image("alpine:3.20")
    # a short-circuited call is never made, so there is nothing to report
    assert CelPolicy('true || pin_image(input.image, "sha256:abc")').evaluate(
        source, inp
    ).decision == Decision(allow=True)
    with pytest.raises(InvalidInputError, match="invalid digest"):
        CelPolicy('pin_image(input.image, "sha256:abc") || true').evaluate(source, inp)
    with pytest.raises(InvalidInputError, match=r"must be input\.image"):
        CelPolicy('pin_image({"ref": "x"}, "sha256:' + "a" * 64 + '")').evaluate(source, inp)
    with pytest.raises(PolicyConfigError, match="no policy directory"):
        CelPolicy('load_json("x.json").ok').evaluate(source, inp)
    with pytest.raises(PolicyConfigError, match="pin_image"):
        CelPolicy("pin_image(input.image)").evaluate(source, inp)


def test_load_json_and_the_policy_directory(policy_dir: Path, tmp_path: Path) -> None:
    (policy_dir / "allowed.json").write_text('{"hosts": ["docker.io"], "n": 2}')
    (tmp_path / "secret.json").write_text("{}")
    fs = PolicyFS(policy_dir)
    source, inp = image("alpine:3.20")
    ok = CelPolicy(
        'input.image.host in load_json("allowed.json").hosts && load_json("allowed.json").n == 2',
        fs=fs,
    )
    assert ok.evaluate(source, inp).decision.allow is True
    with pytest.raises(PolicyConfigError, match="outside"):
        CelPolicy('has(load_json("../secret.json").x)', fs=fs).evaluate(source, inp)


def test_undefined_is_false_whatever_surrounds_it(tmp_path: Path) -> None:
    source = Source("https://example.com/tool.tgz")
    inp = source_to_input(source)  # checksum unknown: the attestation builtins are undefined
    (tmp_path / "b.json").write_text("{}")
    fs = PolicyFS(tmp_path)
    for expression in (
        'has(artifact_attestation(input.http, "b.json").kind)',
        '!has(artifact_attestation(input.http, "b.json").kind)',
        'github_attestation(input.http, "o/r") == null ? false : true',
        'has(github_attestation(input.http, "o/r").kind) ? false : true',
        "!input.image.isCanonical",  # a field the input does not have
        '!(input.image.labels["x"] == "y")',
    ):
        result = CelPolicy(expression, fs=fs).evaluate(source, inp)
        assert result.decision == Decision(allow=False), expression
    # || and && decide around an undefined operand, as CEL specifies
    either = CelPolicy('has(artifact_attestation(input.http, "b.json").kind) || true', fs=fs)
    assert either.evaluate(source, inp).decision.allow is True
    # and undefined in deny_msg gives no message
    msgs = CelPolicy({"allow": "false", "deny_msg": '["no " + input.image.ref]'})
    assert msgs.evaluate(source, inp).decision == Decision(allow=False)


def test_config_errors_name_the_rule() -> None:
    with pytest.raises(PolicyConfigError, match="'allow' does not compile"):
        CelPolicy("input.image.host ==")
    with pytest.raises(PolicyConfigError, match="'deny_msg' does not compile"):
        CelPolicy({"allow": "true", "deny_msg": "[1,"})
    with pytest.raises(PolicyConfigError, match="at least one allow rule"):
        CelPolicy({"deny_msg": "[]"})
    with pytest.raises(PolicyConfigError, match="invalid CEL rule name"):
        CelPolicy({"has space": "true"})
    source, inp = image("alpine:3.20")
    with pytest.raises(PolicyConfigError, match="'allow' must be a boolean"):
        CelPolicy("input.image.host").evaluate(source, inp)
    with pytest.raises(PolicyConfigError, match=r"'typo'.*nosuchfn"):
        CelPolicy({"typo": "nosuchfn(input.image)"}).evaluate(source, inp)
    with pytest.raises(PolicyConfigError, match="'sum'"):
        CelPolicy({"sum": "input.image.host + 1 == 2"}).evaluate(source, inp)
    with pytest.raises(PolicyConfigError, match="list of strings"):
        CelPolicy({"allow": "false", "deny_msg": "[1]"}).evaluate(source, inp)


def test_input_paths() -> None:
    assert input_paths(
        'input.image.host.startsWith("x") && input.image.labels["a.b"] == "input.git.tag"'
        " && input.image.signatures.exists(s, s.kind == 'x')"
    ) == {"image.host", 'image.labels["a.b"]', "image.signatures"}
    assert input_paths("f(input)") == {""}
    assert input_paths("myinput.x == notinput.y") == frozenset()


VENDOR = "org.opencontainers.image.vendor"


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    kit = ImageKit()
    kit.tag(
        "app:1",
        kit.index(
            [kit.image("linux", "amd64", labels={"org.opencontainers.image.vendor": "Acme"})]
        ),
    )
    kit.tag("plain:1", kit.index([kit.image("linux", "amd64", labels={"other": "x"})]))
    return kit.write_layout(tmp_path / "layout")


def test_static_needs_are_resolved_from_an_oci_layout(layout: Path) -> None:
    policy = CelPolicy(
        {
            "allow": 'input.image.labels["org.opencontainers.image.vendor"] == "Acme"',
            "deny_msg": 'allow ? [] : [input.image.ref + ": vendor label missing"]',
        }
    )
    with Resolver(ResolveOptions(oci_layouts=(layout,))) as resolver:
        ok = policy.evaluate(*image("app:1"), resolver=resolver)
        assert ok.decision == Decision(allow=True)
        assert ok.resolved == ("image.labels",)
        assert "image.signatures" in ok.input.unknowns  # never fetched: not read
        denied = policy.evaluate(*image("plain:1"), resolver=resolver)
    assert denied.decision == Decision(
        allow=False, deny_msg=("docker.io/library/plain:1: vendor label missing",)
    )
    # offline, the label is unknown, so the rule is undefined, and deny_msg still speaks
    offline = policy.evaluate(*image("app:1"))
    assert offline.decision.allow is False
    assert offline.resolved == ()


def test_runtime_unknowns_are_resolved_and_the_policy_runs_again(tmp_path: Path) -> None:
    content = b"tool binary\n" * 300
    home = GpgHome(tmp_path / "gpg")
    key = home.gen_key("Maintainer <m@example.com>", "ed25519")
    policy_dir = tmp_path / "policy"
    policy_dir.mkdir()
    (policy_dir / "tool.asc").write_bytes(home.sign(key, content, digest="SHA512"))
    (policy_dir / "maintainer.asc").write_bytes(home.export(key))
    policy = CelPolicy(
        'verify_http_pgp_signature(input.http, "tool.asc", "maintainer.asc")',
        fs=PolicyFS(policy_dir),
    )
    with LocalServer() as server:
        server.routes["/tool"] = body(content)
        source = Source(server.url("/tool"))
        assert policy.evaluate(source, source_to_input(source)).decision.allow is False
        with Resolver(ResolveOptions(timeout=10.0)) as resolver:
            result = policy.evaluate(source, source_to_input(source), resolver=resolver)
        assert result.decision == Decision(allow=True)
        assert result.resolved == ("http.checksum",)
        assert len(server.hits("/tool")) == 1
        server.routes["/tool"] = body(content + b"!")
        with Resolver(ResolveOptions(timeout=10.0)) as resolver:
            tampered = policy.evaluate(source, source_to_input(source), resolver=resolver)
        assert tampered.decision.allow is False

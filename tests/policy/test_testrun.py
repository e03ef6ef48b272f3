"""``policy test`` (reference §7.2) on the real engine: discovery, verdicts, Buildx's output,
builtins bound to each test's input, and metadata resolution from an OCI layout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from buildsig.errors import InvalidInputError, PolicyConfigError
from buildsig.policy.rego import RegoError
from buildsig.policy.testrun import PolicyTestReport, run_policy_tests
from buildsig.resolver import ResolveOptions, Resolver
from tests.oci.imagekit import ImageKit

POLICY = """\
package docker

default allow := false

allow if input.local

allow if {
    input.image.repo == "alpine"
    input.image.isCanonical
}

deny_msg contains msg if {
    not allow
    input.image
    msg := sprintf("%s must be pinned", [input.image.ref])
}

deny_msg contains "only alpine" if {
    not allow
    input.image.repo != "alpine"
}

decision := {"allow": allow, "deny_msg": deny_msg}
"""

TESTS = """\
package docker

test_local_allowed if {
    decision.allow with input as {"local": {"name": "context"}}
}

test_pinned_alpine if {
    decision.allow with input as {"image": {
        "ref": "docker.io/library/alpine@sha256:%s",
        "repo": "alpine",
        "isCanonical": true,
    }}
}

test_busybox_allowed if {
    decision.allow with input as {"image": {
        "ref": "docker.io/library/busybox:1",
        "repo": "busybox",
    }}
}

test_constant := true

test_not_a_test := 5

helper(x) := x
""" % ("0" * 64)


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write(tmp_path, {"Dockerfile.rego": POLICY, "Dockerfile_test.rego": TESTS})


def test_verdicts_and_exact_output(project: Path) -> None:
    report = run_policy_tests(".", cwd=str(project))
    assert isinstance(report, PolicyTestReport)
    assert [(r.name, r.passed) for r in report.results] == [
        ("test_busybox_allowed", False),
        ("test_constant", True),
        ("test_local_allowed", True),
        ("test_pinned_alpine", True),
    ]
    assert report.failed == 1 and report.exit_code == 1
    assert report.render() == (
        "test_busybox_allowed: FAIL (allow=false, deny_msg="
        "docker.io/library/busybox:1 must be pinned; only alpine)\n"
        "input:\n"
        "{\n"
        '  "image": {\n'
        '    "ref": "docker.io/library/busybox:1",\n'
        '    "repo": "busybox"\n'
        "  }\n"
        "}\n"
        "decision:\n"
        "{\n"
        '  "allow": false,\n'
        '  "deny_msg": [\n'
        '    "docker.io/library/busybox:1 must be pinned",\n'
        '    "only alpine"\n'
        "  ]\n"
        "}\n"
        "missing_input: input.image.isCanonical, input.local\n"
        "test_constant: PASS (allow=false)\n"
        "test_local_allowed: PASS (allow=true)\n"
        "test_pinned_alpine: PASS (allow=true)\n"
    )
    assert str(report) == report.render()
    busybox = report.results[0]
    assert busybox.package == "data.docker"
    assert busybox.allow is False
    assert busybox.metadata_resolve == ()  # isCanonical comes from the ref: nothing to fetch
    assert report.results[1].input is None


def test_run_filter(project: Path) -> None:
    report = run_policy_tests(".", run="allowed", cwd=str(project))
    assert [r.name for r in report.results] == ["test_busybox_allowed", "test_local_allowed"]
    report = run_policy_tests(".", run="local", cwd=str(project))
    assert report.render() == "test_local_allowed: PASS (allow=true)\n"
    assert report.exit_code == 0
    with pytest.raises(PolicyConfigError, match=r"^no tests found$"):
        run_policy_tests(".", run="nothing-matches", cwd=str(project))


def test_single_string_deny_msg_and_nil_values(tmp_path: Path) -> None:
    policy = """\
package docker

default allow := false

decision := {"allow": allow, "deny_msg": "never & <nothing>"} if input.image

decision := {"allow": "yes"} if input.git
"""
    tests = """\
package docker

test_denied if {
    decision.allow with input as {"image": {"ref": "docker.io/library/a:1"}}
}

test_bad_allow if {
    decision.allow == true with input as {"git": {"remote": "https://example.com/r.git"}}
}

test_undefined if {
    decision.allow
}
"""
    write(tmp_path, {"Dockerfile.rego": policy, "Dockerfile_test.rego": tests})
    report = run_policy_tests("Dockerfile_test.rego", cwd=str(tmp_path))
    assert report.render() == (
        "test_bad_allow: FAIL (allow=n/a)\n"
        "input:\n"
        "{\n"
        '  "git": {\n'
        '    "remote": "https://example.com/r.git"\n'
        "  }\n"
        "}\n"
        "decision:\n"
        "{}\n"
        "missing_input: input.image\n"
        "test_denied: FAIL (allow=false, deny_msg=never & <nothing>)\n"
        "input:\n"
        "{\n"
        '  "image": {\n'
        '    "ref": "docker.io/library/a:1"\n'
        "  }\n"
        "}\n"
        "decision:\n"
        "{\n"
        '  "allow": false,\n'
        '  "deny_msg": [\n'
        '    "never \\u0026 \\u003cnothing\\u003e"\n'
        "  ]\n"
        "}\n"
        "missing_input: input.git\n"
        "test_undefined: FAIL (allow=n/a)\n"
        "input: <nil>\n"
        "decision: <nil>\n"
        "missing_input: input.git, input.image\n"
    )


def test_directory_and_single_file_paths(tmp_path: Path) -> None:
    other = "package docker\n\ntest_other if { true }\n"
    nested = "package docker\n\ntest_nested if { true }\n"
    write(
        tmp_path,
        {
            "Dockerfile.rego": POLICY,
            "policy/a_test.rego": TESTS,
            "policy/b_test.rego": other,
            "policy/notes.rego": "package notes\n\ntest_ignored if { false }\n",
            "policy/deeper/c_test.rego": nested,
        },
    )
    names = [r.name for r in run_policy_tests("policy", cwd=str(tmp_path)).results]
    assert names == [
        "test_busybox_allowed",
        "test_constant",
        "test_local_allowed",
        "test_other",
        "test_pinned_alpine",
    ]
    assert [r.name for r in run_policy_tests("policy/", cwd=str(tmp_path)).results] == names
    single = run_policy_tests("policy/b_test.rego", cwd=str(tmp_path))
    assert [r.name for r in single.results] == ["test_other"]
    deeper = run_policy_tests(str(tmp_path / "policy" / "deeper"), cwd=str(tmp_path))
    assert [r.name for r in deeper.results] == ["test_nested"]


def test_discovery_errors(tmp_path: Path) -> None:
    write(
        tmp_path,
        {"Dockerfile.rego": POLICY, "policy.rego": TESTS, "empty/README": "", "x/a_test.rego": ""},
    )
    with pytest.raises(
        PolicyConfigError, match=r"^test file must have _test\.rego suffix: policy\.rego$"
    ):
        run_policy_tests("policy.rego", cwd=str(tmp_path))
    with pytest.raises(PolicyConfigError, match=r"^no policy tests found$"):
        run_policy_tests("empty", cwd=str(tmp_path))
    with pytest.raises(PolicyConfigError, match=r"^no policy tests found$"):
        run_policy_tests(".", cwd=str(tmp_path))  # policy.rego is not a test module
    with pytest.raises(PolicyConfigError, match="policy test path missing does not exist"):
        run_policy_tests("missing", cwd=str(tmp_path))
    with pytest.raises(PolicyConfigError, match="outside the current directory"):
        run_policy_tests("../elsewhere", cwd=str(tmp_path))
    (tmp_path / "x" / "a_test.rego").write_text("package docker\n\nhelper := 1\n")
    with pytest.raises(PolicyConfigError, match=r"^no tests found$"):
        run_policy_tests("x", cwd=str(tmp_path))
    with pytest.raises(
        PolicyConfigError, match=r"^policy module app\.Dockerfile\.rego not found in "
    ):
        run_policy_tests("x", dockerfile="app.Dockerfile", cwd=str(tmp_path))
    (tmp_path / "x" / "a_test.rego").write_text("package docker\n\ntest_same if { true }\n")
    (tmp_path / "x" / "b_test.rego").write_text("package other\n\ntest_same if { true }\n")
    with pytest.raises(PolicyConfigError, match="test test_same is defined in two packages"):
        run_policy_tests("x", cwd=str(tmp_path))


def test_syntax_error_in_a_test_file(project: Path) -> None:
    (project / "broken_test.rego").write_text("package docker\n\ntest_x if {\n    1 +\n}\n")
    with pytest.raises(RegoError) as ei:
        run_policy_tests(".", cwd=str(project))
    assert ei.value.source == "broken_test.rego"
    assert ei.value.line is not None
    assert "broken_test.rego:" in ei.value.message


def test_a_failing_test_evaluation_is_an_error(project: Path) -> None:
    (project / "Dockerfile_test.rego").write_text(
        "package docker\n\ntest_div if {\n    x := 0\n    1 / x == 1\n}\n"
    )
    with pytest.raises(RegoError, match=r"^policy test test_div: .*divide by zero"):
        run_policy_tests(".", cwd=str(project))


def test_input_override_errors(project: Path) -> None:
    (project / "Dockerfile_test.rego").write_text(
        "package docker\n\n"
        "test_two if {\n"
        '    decision.allow with input as {"local": {"name": "a"}}\n'
        '    decision.allow with input as {"local": {"name": "b"}}\n'
        "}\n"
    )
    with pytest.raises(PolicyConfigError, match=r"^multiple input overrides for test_two$"):
        run_policy_tests(".", cwd=str(project))
    (project / "Dockerfile_test.rego").write_text(
        'package docker\n\ntest_typo if {\n    decision.allow with input as {"imgae": {}}\n}\n'
    )
    with pytest.raises(InvalidInputError, match="failed to decode test input for test_typo: imgae"):
        run_policy_tests(".", cwd=str(project))


def test_input_from_a_package_rule_and_tests_in_their_own_package(project: Path) -> None:
    tests = """\
package docker_test

import data.docker

local_input := {"local": {"name": "context"}}

test_via_rule if {
    docker.decision.allow with input as local_input
}
"""
    (project / "Dockerfile_test.rego").write_text(tests)
    report = run_policy_tests(".", cwd=str(project))
    [result] = report.results
    assert result.passed and result.package == "data.docker_test"
    assert result.input is not None and result.input.local is not None
    # as in Buildx, the decision shown is the test package's own (none here)
    assert report.render() == "test_via_rule: PASS (allow=n/a)\n"


def test_missing_input_and_metadata_resolve(tmp_path: Path) -> None:
    policy = """\
package docker

default allow := false

allow if input.image.labels["org.opencontainers.image.vendor"] == "Example Corp"

allow if {
    input.git.tag.tagger.email == "maintainer@example.com"
}

decision := {"allow": allow}
"""
    tests = """\
package docker

test_image_vendor if {
    decision.allow with input as {"image": {"ref": "docker.io/library/app:1", "repo": "app"}}
}

test_git_tag if {
    decision.allow with input as {"git": {"remote": "https://github.com/a/b.git"}}
}
"""
    write(tmp_path, {"Dockerfile.rego": policy, "Dockerfile_test.rego": tests})
    report = run_policy_tests(".", cwd=str(tmp_path))
    git, image = report.results
    assert git.missing_input == ("input.git.tag", "input.image.labels")
    assert git.metadata_resolve == ("git", "image")
    assert image.missing_input == ("input.git.tag", "input.image.labels")
    assert report.render().splitlines()[-2:] == [
        "missing_input: input.git.tag, input.image.labels",
        "metadata_resolve: git, image",
    ]
    assert not image.resolved


def test_load_json_reads_the_policy_directory(tmp_path: Path) -> None:
    policy = """\
package docker

default allow := false

allow if input.image.repo in load_json("data/allowed.json").repos

decision := {"allow": allow}
"""
    tests = """\
package docker

test_allowed if {
    decision.allow with input as {"image": {"ref": "docker.io/library/alpine:3", "repo": "alpine"}}
}

test_other if {
    not decision.allow with input as {"image": {"ref": "docker.io/library/evil:3", "repo": "evil"}}
}
"""
    write(
        tmp_path,
        {
            "Dockerfile.rego": policy,
            "Dockerfile_test.rego": tests,
            "data/allowed.json": json.dumps({"repos": ["alpine"]}),
        },
    )
    report = run_policy_tests(".", cwd=str(tmp_path))
    assert report.render() == "test_allowed: PASS (allow=true)\ntest_other: PASS (allow=false)\n"
    (tmp_path / "data" / "allowed.json").unlink()
    with pytest.raises(PolicyConfigError, match=r"allowed\.json"):
        run_policy_tests(".", cwd=str(tmp_path))


def test_builtins_are_bound_to_each_test_input(tmp_path: Path) -> None:
    digest = "sha256:" + "ab" * 32
    policy = f"""\
package docker

default allow := false

allow if pin_image(input.image, "{digest}")

decision := {{"allow": allow}}
"""
    tests = """\
package docker

test_first if {
    decision.allow with input as {"image": {"ref": "docker.io/library/a:1"}}
}

test_second if {
    decision.allow with input as {"image": {"ref": "docker.io/library/b:2"}}
}

test_git if {
    not decision.allow with input as {"git": {"remote": "https://example.com/r.git"}}
}
"""
    write(tmp_path, {"Dockerfile.rego": policy, "Dockerfile_test.rego": tests})
    report = run_policy_tests(".", cwd=str(tmp_path))
    assert [(r.name, r.passed, r.allow) for r in report.results] == [
        ("test_first", True, True),
        ("test_git", True, False),
        ("test_second", True, True),
    ]


def test_other_policy_filename_and_imports(tmp_path: Path) -> None:
    policy = """\
package docker

import data.lib.repos

decision := {"allow": input.image.repo in repos.allowed}
"""
    tests = """\
package docker

test_app if {
    decision.allow with input as {"image": {"ref": "docker.io/library/app:1", "repo": "app"}}
}
"""
    write(
        tmp_path,
        {
            "sub/app.Dockerfile.rego": policy,
            "lib/repos.rego": 'package lib.repos\n\nallowed := {"app"}\n',
            "t/app_test.rego": tests,
        },
    )
    report = run_policy_tests("t", dockerfile="sub/app.Dockerfile", cwd=str(tmp_path))
    assert report.render() == "test_app: PASS (allow=true)\n"


# --- metadata resolution ---------------------------------------------------------------------

RESOLVE_POLICY = """\
package docker

default allow := false

allow if input.image.labels["org.opencontainers.image.vendor"] == "Example Corp"

deny_msg contains sprintf("%s: wrong vendor", [input.image.ref]) if not allow

decision := {"allow": allow, "deny_msg": deny_msg}
"""

RESOLVE_TESTS = """\
package docker

test_app if {
    decision.allow with input as {
        "env": {"filename": "app.Dockerfile"},
        "image": {"fullRepo": "docker.io/library/app", "tag": "1", "platform": "linux/amd64"},
    }
}

test_local if {
    not decision.allow with input as {"local": {"name": "context"}}
}
"""


@pytest.fixture
def layout_project(tmp_path: Path) -> tuple[Path, Path]:
    kit = ImageKit()
    kit.tag("app:1", kit.index([kit.image("linux", "amd64"), kit.image("linux", "arm64")]))
    layout = kit.write_layout(tmp_path / "layout")
    root = write(
        tmp_path / "project",
        {"Dockerfile.rego": RESOLVE_POLICY, "Dockerfile_test.rego": RESOLVE_TESTS},
    )
    return root, layout


def test_image_metadata_is_resolved_from_an_oci_layout(layout_project: tuple[Path, Path]) -> None:
    root, layout = layout_project
    unresolved = run_policy_tests(".", cwd=str(root))
    app = unresolved.results[0]
    assert not app.passed and not app.resolved
    assert app.missing_input == ("input.image.labels", "input.image.ref")
    # as in Buildx, a field no metadata request covers (image.ref) leaves it empty
    assert app.metadata_resolve == ()

    with Resolver(ResolveOptions(oci_layouts=(str(layout),))) as resolver:
        report = run_policy_tests(".", cwd=str(root), resolver=resolver)
    app, local = report.results
    assert (app.name, app.passed, app.resolved, app.allow) == ("test_app", False, True, True)
    # the test's own `with input as` still decides its verdict; the resolved input is
    # what the decision, missing_input and the report show
    assert app.input is not None and app.input.image is not None
    assert app.input.image.ref == "docker.io/library/app:1"
    assert app.input.image.labels["org.opencontainers.image.vendor"] == "Example Corp"
    assert app.input.image.checksum.startswith("sha256:")
    assert app.input.image.platform == "linux/amd64"
    assert app.input.env.filename == "app.Dockerfile"  # the test's env is kept
    assert app.missing_input == () and app.metadata_resolve == ()
    assert app.decision == {"allow": True}
    assert local.passed and not local.resolved  # not an image: nothing to resolve
    text = report.render()
    assert text.startswith("test_app: FAIL (allow=true)\ninput:\n{\n")
    assert '"labels": {' in text and "missing_input" not in text


def test_resolution_makes_an_image_test_pass(layout_project: tuple[Path, Path]) -> None:
    root, layout = layout_project
    # the override only names the image; the rule reads the (resolved) global input
    (root / "Dockerfile_test.rego").write_text(
        "package docker\n\n"
        "test_input_from_builder if {\n"
        '    true with input as {"image": {"ref": "app:1", "os": "linux", "arch": "arm64"}}\n'
        "    decision.allow\n"
        '    input.image.user == "65532:65532"\n'
        "}\n"
    )
    with Resolver(ResolveOptions(oci_layouts=(str(layout),))) as resolver:
        report = run_policy_tests(".", cwd=str(root), resolver=resolver)
    [result] = report.results
    assert result.passed and result.resolved and result.allow is True
    assert result.input is not None and result.input.image is not None
    assert result.input.image.arch == "arm64"
    assert result.input.image.labels["arch"] == "arm64"
    with pytest.raises(PolicyConfigError, match=r"^no tests found$"):
        run_policy_tests(".", run="x", cwd=str(root))
    assert run_policy_tests(".", cwd=str(root)).exit_code == 1  # no resolver: fails


def test_an_input_from_a_body_variable_cannot_be_decoded(project: Path) -> None:
    (project / "Dockerfile_test.rego").write_text(
        "package docker\n\n"
        "test_a_fine if {\n"
        '    decision.allow with input as {"local": {"name": "context"}}\n'
        "}\n\n"
        "test_local_variable if {\n"
        '    inp := {"local": {"name": "context"}}\n'
        "    decision.allow with input as inp\n"
        "}\n"
    )
    assert run_policy_tests(".", run="fine", cwd=str(project)).exit_code == 0
    with pytest.raises(InvalidInputError, match="failed to decode test input for test_local_var"):
        run_policy_tests(".", cwd=str(project))

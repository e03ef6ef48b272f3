"""The Docker blog's two example policies, Buildx's default policy and ``policy test``,
end to end: every input is produced by buildsig's real resolvers from real servers on
127.0.0.1, and every decision and deny message is asserted exactly.

What serves the inputs:

* Debian's ``docker-registry`` (``tests.oci.registryd.docker_registry``), holding images
  built with :class:`~tests.oci.signedkit.SignedKit`: one with BuildKit provenance, one
  without, the "Docker Hub" stand-ins, and ``moby/buildkit`` images signed by a
  :class:`buildsig.testing.TestSigstore` as Docker's GitHub builder signs them.
* ``git http-backend`` (``tests.git.servers.git_http_backend``) serving an "internal"
  repository and an "external" one whose tags are PGP-signed by real ``gpg``: by the
  trusted maintainer, by a stranger, and a lightweight (unsigned) tag.
* :class:`tests.http.LocalServer` over plain HTTP and over HTTPS.

The blog's policies name public hosts (``registry.company.com``, ``docker.io``,
``releases.internal.com``, ``https://github.com/our-org/``). Nothing here may touch the
internet, so each policy below is the blog's text with *only those host and repository
strings* replaced by the local servers' (see :func:`gatekeeper` and :func:`paranoid`);
the rules, their logic and the messages are the blog's, word for word.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from buildsig.cli import main
from buildsig.policy.evaluate import PolicyEvaluator, PolicyResult
from buildsig.policy.fs import PolicyFS
from buildsig.policy.library import default_policy_modules
from buildsig.resolver import ResolveOptions, Resolver
from buildsig.source import ATTR_GIT_FULL_URL, Source, source_to_input
from buildsig.testing import TestSigstore
from tests.git.gpgkit import GitRepo, GpgHome
from tests.git.servers import git_daemon, git_http_backend
from tests.http import LocalServer, body, make_tls
from tests.oci.registryd import RunningRegistry, docker_registry
from tests.oci.signedkit import SignedKit, bundle_layer

PLATFORM = "linux/amd64"

# --- the blog's policies, as written; only the hosts are parameters --------------------------

#: The blog's two policies, as published (examples/policies/).
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "policies"
#: Example 1, "The Enterprise Registry Gatekeeper" (only the registry list is swapped).
GATEKEEPER = (EXAMPLES / "registry-gatekeeper.rego").read_text()
#: Example 2, "The Paranoid Production Lockdown" (only hosts and pins are swapped).
PARANOID = (EXAMPLES / "production-lockdown.rego").read_text()


def _swap(text: str, replacements: dict[str, str]) -> str:
    for old, new in replacements.items():
        assert old in text, old
        text = text.replace(old, new)
    return text


# --- the local world ----------------------------------------------------------------------

#: Docker's GitHub builder workflow, signing moby/buildkit's release v0.27.0.
BUILDER_WORKFLOW = (
    "https://github.com/docker/github-builder/.github/workflows/build.yml@refs/heads/main"
)
BUILDKIT_RELEASE = "v0.27.0"
BUILDKIT_EXTENSIONS = {
    ".9": BUILDER_WORKFLOW,
    ".11": "github-hosted",
    ".12": "https://github.com/moby/buildkit",
    ".14": f"refs/tags/{BUILDKIT_RELEASE}",
}
SIGNED_AT = datetime(2026, 1, 1, 12, tzinfo=UTC)


@dataclass
class World:
    registry: RunningRegistry
    #: the same registry reached under a second name: the "other" registry host
    alias: str
    digests: dict[str, str]  # "repo:tag" -> index digest
    root_path: Path  # the test Sigstore's trusted_root.json
    git_port: int
    daemon_port: int  # the same repositories over git's own protocol
    git_ids: dict[str, str]
    policy_dir: Path  # holds trusted-maintainers.asc
    http: LocalServer
    https: LocalServer
    ca_pem: Path  # the HTTPS server's CA (trusted through SSL_CERT_FILE)

    @property
    def host(self) -> str:
        return self.registry.host

    def options(self) -> ResolveOptions:
        return ResolveOptions(
            timeout=10.0,
            insecure_registries=(self.host, self.alias),
            trust_root=self.root_path,
        )

    def git_url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.git_port}/{path}"


def _push(kit: SignedKit, registry: RunningRegistry, repo: str) -> None:
    from buildsig.oci.registry import RegistryClient

    with RegistryClient(timeout=10.0) as client:
        kit.push(client, registry.repo(repo))


def _images(registry: RunningRegistry, sigstore: TestSigstore) -> dict[str, str]:
    digests: dict[str, str] = {}

    # registry.company.com/base/golang:1.23, built with --provenance=true
    golang = SignedKit()
    img = golang.buildkit_image("1.23", platforms=(PLATFORM,))
    digests["base/golang:1.23"] = img.index["digest"]
    _push(golang, registry, "base/golang")

    # registry.company.com/base/distroless:latest, built without provenance
    plain = SignedKit()
    index = plain.kit.index([plain.kit.image("linux", "amd64", labels={"tag": "latest"})])
    plain.kit.tag("latest", index)
    digests["base/distroless:latest"] = index["digest"]
    _push(plain, registry, "base/distroless")

    # the "Docker Hub" images of the paranoid policy's pins
    for name in ("alpine", "golang"):
        hub = SignedKit()
        img = hub.buildkit_image("3.20" if name == "alpine" else "1.23", platforms=(PLATFORM,))
        digests[f"library/{name}"] = img.index["digest"]
        _push(hub, registry, f"library/{name}")

    # moby/buildkit: the release signed by Docker's GitHub builder, one left unsigned
    buildkit = SignedKit()
    signed = buildkit.buildkit_image(BUILDKIT_RELEASE, platforms=(PLATFORM,))
    att = signed.attestations[PLATFORM]
    raw = buildkit.kit.manifests[att["digest"]][1]
    bundle = sigstore.sign_artifact(
        raw,
        identity=BUILDER_WORKFLOW,
        extensions=BUILDKIT_EXTENSIONS,
        timestamp=True,
        when=SIGNED_AT,
    )
    buildkit.docker_signature(att, bundle_layer(bundle))
    digests[f"moby/buildkit:{BUILDKIT_RELEASE}"] = signed.index["digest"]
    unsigned = buildkit.buildkit_image("v0.28.0", platforms=(PLATFORM,))
    digests["moby/buildkit:v0.28.0"] = unsigned.index["digest"]
    _push(buildkit, registry, "moby/buildkit")
    return digests


def _git(root: Path, work: Path, gpg: GpgHome) -> tuple[dict[str, str], bytes]:
    maintainer = gpg.gen_key("Maintainer <maintainer@company.com>", "ed25519")
    stranger = gpg.gen_key("Stranger <stranger@evil.example>", "ed25519")
    ids: dict[str, str] = {}
    for path in ("our-org/svc", "other/lib"):
        repo = GitRepo(work / path)
        if path == "other/lib":
            repo.signed_tag("v1.0", gpg, maintainer)
            repo.signed_tag("v1.1", gpg, stranger)
            repo.git("tag", "v0.9")  # lightweight: no tag object, no signature
        bare = root / f"{path}.git"
        bare.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["git", "clone", "-q", "--bare", str(repo.path), str(bare)],
            check=True,
            capture_output=True,
            timeout=120,
        )
        for key in ("uploadpack.allowFilter", "uploadpack.allowAnySHA1InWant"):
            subprocess.run(["git", "-C", str(bare), "config", key, "true"], check=True)
        ids[path] = repo.git("rev-parse", "HEAD").decode().strip()
    return ids, gpg.export(maintainer)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    base = tmp_path_factory.mktemp("blog")
    sigstore = TestSigstore(seed=2026)
    root_path = base / "trusted_root.json"
    root_path.write_bytes(sigstore.trusted_root_json())
    policy_dir = base / "policy"
    policy_dir.mkdir()
    git_root = base / "git"
    git_ids, keyring = _git(git_root, base / "work", GpgHome(base / "gnupg"))
    (policy_dir / "trusted-maintainers.asc").write_bytes(keyring)
    (base / "tls").mkdir()
    tls = make_tls(base / "tls")
    with (
        docker_registry(base / "registry") as registry,
        git_http_backend(git_root) as git_port,
        git_daemon(git_root) as daemon_port,
        LocalServer() as http,
        LocalServer(tls=tls.server_context) as https,
    ):
        digests = _images(registry, sigstore)
        for server in (http, https):
            server.routes["/config-v2.1.tar.gz"] = body(b"config\n")
        yield World(
            registry=registry,
            alias=f"localhost:{registry.port}",
            digests=digests,
            root_path=root_path,
            git_port=git_port,
            daemon_port=daemon_port,
            git_ids=git_ids,
            policy_dir=policy_dir,
            http=http,
            https=https,
            ca_pem=tls.ca_pem,
        )


@pytest.fixture(autouse=True)
def _local_only(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """The HTTPS server's CA is the one trusted; no proxy may reroute 127.0.0.1."""
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.setenv(name, str(world.ca_pem))
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("ALL_PROXY", raising=False)


# --- the two policies, adapted to the local hosts ------------------------------------------


def gatekeeper(world: World) -> str:
    """Example 1 with the local registry standing in for registry.company.com.

    The list keeps the blog's three hosts and adds the local registry; the same registry
    reached as ``localhost:<port>`` is then a registry *not* on the list.
    """
    return _swap(
        GATEKEEPER,
        {'    "ghcr.io"\n]': f'    "ghcr.io",\n    "{world.host}"\n]'},
    )


def approved(world: World) -> str:
    """The gatekeeper's list as its ``%v`` renders it."""
    return json.dumps(["registry.company.com", "docker.io", "ghcr.io", world.host])


def paranoid(world: World) -> str:
    """Example 2 with local stand-ins, its rules unchanged.

    * ``registry.company.com`` is the local registry as ``127.0.0.1:<port>``;
    * ``docker.io`` is the same registry as ``localhost:<port>``, whose repositories are
      named in full (``localhost:<port>/library/golang``) in ``input.image.repo``, so the
      pins are keyed by that name, and pinned to real digests: alpine to the digest the
      registry serves, golang to one it does not;
    * ``releases.internal.com`` is the HTTPS LocalServer (``127.0.0.1:<port>``);
    * ``https://github.com/our-org/`` is the git server's ``http://127.0.0.1:<port>/our-org/``.
    """
    hub = world.alias
    return _swap(
        PARANOID,
        {
            '"registry.company.com"': f'"{world.host}"',
            'input.image.host == "docker.io"': f'input.image.host == "{hub}"',
            '"golang": "sha256:def456abc789...",': f'"{hub}/library/golang": "{WRONG_PIN}",',
            '"alpine": "sha256:4b7ce07002c6...",': (
                f'"{hub}/library/alpine": "{world.digests["library/alpine"]}",'
            ),
            '"releases.internal.com",': f'"127.0.0.1:{world.https.port}",',
            "https://github.com/our-org/": world.git_url("our-org/"),
        },
    )


WRONG_PIN = "sha256:" + "0" * 64


def downloads(world: World) -> str:
    return json.dumps([f"127.0.0.1:{world.https.port}", "artifacts.company.com"])


def evaluate(world: World, modules: dict[str, str], identifier: str | Source) -> PolicyResult:
    """``identifier`` judged by ``modules``, resolving what they read from the local servers."""
    return _evaluate(world, modules, identifier)


def _evaluate(world: World, modules: dict[str, str], identifier: str | Source) -> PolicyResult:
    source = identifier if isinstance(identifier, Source) else Source.parse(identifier)
    with Resolver(world.options()) as resolver:
        evaluator = PolicyEvaluator(modules, fs=PolicyFS(world.policy_dir), resolver=resolver)
        return evaluator.evaluate(source, source_to_input(source, platform=PLATFORM))


def decided(result: PolicyResult) -> tuple[bool, list[str]]:
    return result.decision.allow, list(result.decision.deny_msg)


# --- Example 1: the registry gatekeeper ---------------------------------------------------


def test_gatekeeper_local_context_and_git(world: World) -> None:
    modules = {"Dockerfile.rego": gatekeeper(world)}
    assert decided(evaluate(world, modules, "local://context")) == (True, [])
    result = evaluate(world, modules, world.git_url("other/lib.git") + "#v1.0")
    assert decided(result) == (True, [])


def test_gatekeeper_images(world: World) -> None:
    modules = {"Dockerfile.rego": gatekeeper(world)}
    digest = world.digests["base/golang:1.23"]
    pinned = f"{world.host}/base/golang:1.23@{digest}"
    assert decided(evaluate(world, modules, f"docker-image://{pinned}")) == (True, [])

    tagged = f"{world.host}/base/golang:1.23"
    assert decided(evaluate(world, modules, f"docker-image://{tagged}")) == (
        False,
        [
            f"Image {tagged} must use a digest reference (e.g., @sha256:...). "
            "Tags alone are not allowed."
        ],
    )

    elsewhere = f"{world.alias}/base/golang:1.23@{digest}"
    assert decided(evaluate(world, modules, f"docker-image://{elsewhere}")) == (
        False,
        [f"Registry {world.alias} is not in the approved list. Allowed: {approved(world)}"],
    )


def test_gatekeeper_downloads(world: World) -> None:
    modules = {"Dockerfile.rego": gatekeeper(world)}
    secure = evaluate(world, modules, world.https.url("/config-v2.1.tar.gz"))
    assert decided(secure) == (True, [])
    plain = evaluate(world, modules, world.http.url("/config-v2.1.tar.gz"))
    assert decided(plain) == (
        False,
        ["All HTTP downloads must use HTTPS. Plain HTTP is not allowed."],
    )


# --- Example 2: the paranoid production lockdown --------------------------------------------


def test_paranoid_internal_images_need_digest_and_provenance(world: World) -> None:
    modules = {"Dockerfile.rego": paranoid(world)}
    golang = f"{world.host}/base/golang:1.23@{world.digests['base/golang:1.23']}"
    result = evaluate(world, modules, f"docker-image://{golang}")
    assert decided(result) == (True, [])
    assert result.input.image is not None and result.input.image.has_provenance is True
    assert "image.hasProvenance" in result.resolved  # asked of the registry, not assumed

    distroless = f"{world.host}/base/distroless:latest@{world.digests['base/distroless:latest']}"
    result = evaluate(world, modules, f"docker-image://{distroless}")
    assert decided(result) == (
        False,
        [
            f"Internal image {distroless} requires provenance attestations. "
            "Rebuild with --provenance=true"
        ],
    )

    # provenance but only a tag: denied, and the blog wrote no message for it
    tagged = evaluate(world, modules, f"docker-image://{world.host}/base/golang:1.23")
    assert decided(tagged) == (False, [])


def test_paranoid_hub_images_pinned_to_exact_digests(world: World) -> None:
    modules = {"Dockerfile.rego": paranoid(world)}
    hub = world.alias
    # the tag resolves to the pinned digest
    alpine = evaluate(world, modules, f"docker-image://{hub}/library/alpine:3.20")
    assert decided(alpine) == (True, [])
    assert alpine.input.image is not None
    assert alpine.input.image.checksum == world.digests["library/alpine"]
    # golang's pin is not what the registry serves; no message covers it in the blog
    golang = evaluate(world, modules, f"docker-image://{hub}/library/golang:1.23")
    assert decided(golang) == (False, [])
    assert golang.input.image is not None
    assert golang.input.image.checksum == world.digests["library/golang"]
    # an image not in the pin list at all
    other = evaluate(world, modules, f"docker-image://{hub}/base/golang:1.23")
    assert decided(other) == (False, [])


def test_paranoid_downloads(world: World) -> None:
    modules = {"Dockerfile.rego": paranoid(world)}
    secure = evaluate(world, modules, world.https.url("/config-v2.1.tar.gz"))
    assert decided(secure) == (True, [])
    plain = evaluate(world, modules, world.http.url("/config-v2.1.tar.gz"))
    assert decided(plain) == (
        False,
        [
            f"Download from 127.0.0.1:{world.http.port} is not allowed. "
            f"Approved hosts: {downloads(world)}"
        ],
    )


def test_paranoid_git(world: World) -> None:
    modules = {"Dockerfile.rego": paranoid(world)}
    internal = evaluate(world, modules, world.git_url("our-org/svc.git") + "#main")
    assert decided(internal) == (True, [])

    lib = world.git_url("other/lib.git")
    refused = [f"External Git repo {lib} requires a signed tag from a trusted maintainer"]
    trusted = evaluate(world, modules, f"{lib}#v1.0")
    assert decided(trusted) == (True, [])
    assert trusted.input.git is not None and trusted.input.git.tag_name == "v1.0"

    stranger = evaluate(world, modules, f"{lib}#v1.1")
    assert decided(stranger) == (False, refused)
    [failure] = stranger.failures  # the signature was checked, and by the stranger's key
    assert failure.startswith(
        "verify_git_signature: verification failed: unknown-key: "
        "no key in the keyring matches issuer "
    )

    lightweight = evaluate(world, modules, f"{lib}#v0.9")
    assert decided(lightweight) == (False, refused)
    assert lightweight.input.git is not None
    assert lightweight.input.git.tag_name == "v0.9" and lightweight.input.git.tag is None
    assert lightweight.failures == ()  # no tag object: nothing to verify, undefined

    branch = evaluate(world, modules, f"{lib}#main")
    assert decided(branch) == (False, refused)


def test_paranoid_git_over_the_git_protocol(world: World) -> None:
    """The external repository from ``git daemon`` (``ADD git://…`` in a Dockerfile)."""
    modules = {"Dockerfile.rego": paranoid(world)}
    remote = f"git://127.0.0.1:{world.daemon_port}/other/lib.git"

    def source(tag: str) -> Source:  # as the Dockerfile frontend names a git:// URL
        return Source(f"{remote}#{tag}", {ATTR_GIT_FULL_URL: f"{remote}#{tag}"})

    trusted = evaluate(world, modules, source("v1.0"))
    assert decided(trusted) == (True, [])
    assert trusted.input.git is not None and trusted.input.git.remote == remote
    refused = [f"External Git repo {remote} requires a signed tag from a trusted maintainer"]
    assert decided(evaluate(world, modules, source("v1.1"))) == (False, refused)
    assert decided(evaluate(world, modules, source("v0.9"))) == (False, refused)


# --- Buildx's default policy on a signed moby/buildkit ---------------------------------------


def relabelled(world: World, tag: str, as_tag: str) -> tuple[Source, Any]:
    """The local ``moby/buildkit:<tag>`` resolved for the default policy, named as Hub's.

    The default policy protects ``docker.io/moby/buildkit``, which the local registry
    cannot be. So the input is produced by resolving the local image (its provenance and
    its Sigstore signatures verified against the test Sigstore's trust root), and only
    then re-labelled with ``dataclasses.replace`` as ``docker.io/moby/buildkit:<as_tag>``;
    the resolved ``hasProvenance`` and ``signatures`` are kept as they are.
    """
    source = Source.parse(f"docker-image://{world.host}/moby/buildkit:{tag}")
    inp = source_to_input(source, platform=PLATFORM)
    with Resolver(world.options()) as resolver:
        [resolved] = resolver.resolve_many(
            [(source, inp)], ["image.hasProvenance", "image.signatures"]
        )
    assert resolved.image is not None
    hub_ref = f"docker.io/moby/buildkit:{as_tag}"
    image = dataclasses.replace(
        resolved.image,
        ref=hub_ref,
        host="docker.io",
        repo="moby/buildkit",
        full_repo="docker.io/moby/buildkit",
        tag=as_tag,
    )
    return Source.parse(f"docker-image://{hub_ref}"), dataclasses.replace(resolved, image=image)


def default_decision(world: World, tag: str, as_tag: str) -> tuple[bool, list[str]]:
    source, inp = relabelled(world, tag, as_tag)
    evaluator = PolicyEvaluator(default_policy_modules(), with_helpers=False)
    return decided(evaluator.evaluate(source, inp))


def default_denied(tag: str) -> str:
    return (
        f"image docker.io/moby/buildkit:{tag} is not allowed by default policy: "
        f"a verified docker-github-builder signature is required for {tag} tag"
    )


def test_default_policy_signed_release(world: World) -> None:
    _, inp = relabelled(world, BUILDKIT_RELEASE, BUILDKIT_RELEASE)
    assert inp.image.has_provenance is True
    [sig] = inp.image.signatures
    assert sig.to_dict()["kind"] == "docker-github-builder"
    assert sig.to_dict()["signer"]["sourceRepositoryRef"] == f"refs/tags/{BUILDKIT_RELEASE}"
    assert default_decision(world, BUILDKIT_RELEASE, BUILDKIT_RELEASE) == (True, [])
    # a floating tag needs any moby/buildkit signature by the builder
    assert default_decision(world, BUILDKIT_RELEASE, "latest") == (True, [])


def test_default_policy_denies_unsigned_or_other_release(world: World) -> None:
    assert default_decision(world, "v0.28.0", "v0.28.0") == (False, [default_denied("v0.28.0")])
    assert default_decision(world, "v0.28.0", "latest") == (False, [default_denied("latest")])
    # signed, but for v0.27.0: it does not vouch for v0.27.1
    assert default_decision(world, BUILDKIT_RELEASE, "v0.27.1") == (
        False,
        [default_denied("v0.27.1")],
    )
    # releases before v0.27 pass unsigned
    assert default_decision(world, "v0.28.0", "v0.26.0") == (True, [])


# --- buildsig check: the blog's Dockerfiles, with the policies beside them -------------------


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def project(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The paranoid example's Dockerfile, its sources moved to the local servers."""
    golang = f"{world.host}/base/golang:1.23@{world.digests['base/golang:1.23']}"
    distroless = f"{world.host}/base/distroless:latest@{world.digests['base/distroless:latest']}"
    lib = world.git_url("other/lib.git")
    (tmp_path / "Dockerfile").write_text(
        f"FROM {golang} AS builder\n"
        f"ADD {world.https.url('/config-v2.1.tar.gz')} /config/\n"
        f"ADD {world.http.url('/config-v2.1.tar.gz')} /config-http/\n"
        f"ADD {lib}#v1.0 /lib/\n"
        f"ADD {lib}#v1.1 /lib-rc/\n"
        "COPY . .\n"
        "RUN go build -o /app ./cmd/server\n"
        f"FROM {distroless}\n"
        "COPY --from=builder /app /app\n"
        f"COPY --from={world.alias}/library/alpine:3.20 /etc/alpine-release /etc/\n"
        'ENTRYPOINT ["/app"]\n'
    )
    (tmp_path / "trusted-maintainers.asc").write_bytes(
        (world.policy_dir / "trusted-maintainers.asc").read_bytes()
    )
    monkeypatch.chdir(tmp_path)
    return tmp_path


def check(world: World, capsys: pytest.CaptureFixture[str]) -> tuple[int, Any]:
    code, out, _ = run(
        capsys,
        "check",
        "--json",
        "--platform",
        PLATFORM,
        "--insecure-registry",
        world.host,
        "--insecure-registry",
        world.alias,
        "--trusted-root",
        str(world.root_path),
        "--timeout",
        "10",
    )
    report = json.loads(out)
    return code, {r["source"]: (r["line"], r["decision"], r["reasons"]) for r in report["sources"]}


def rows_expected(world: World) -> dict[str, Any]:
    golang = f"{world.host}/base/golang:1.23@{world.digests['base/golang:1.23']}"
    distroless = f"{world.host}/base/distroless:latest@{world.digests['base/distroless:latest']}"
    lib = f"git://127.0.0.1:{world.git_port}/other/lib.git"  # LLB's identifier for the remote
    return {
        "golang": f"docker-image://{golang}",
        "https": world.https.url("/config-v2.1.tar.gz"),
        "http": world.http.url("/config-v2.1.tar.gz"),
        "v1.0": f"{lib}#v1.0",
        "v1.1": f"{lib}#v1.1",
        "context": "local://context",
        "distroless": f"docker-image://{distroless}",
        "alpine": f"docker-image://{world.alias}/library/alpine:3.20",
        "distroless-ref": distroless,
    }


def test_check_paranoid(world: World, project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "Dockerfile.rego").write_text(paranoid(world))
    code, rows = check(world, capsys)
    x = rows_expected(world)
    assert code == 1
    assert rows == {
        x["golang"]: (1, "ALLOW", []),
        x["https"]: (2, "ALLOW", []),
        x["http"]: (
            3,
            "DENY",
            [
                f"Download from 127.0.0.1:{world.http.port} is not allowed. "
                f"Approved hosts: {downloads(world)}"
            ],
        ),
        x["v1.0"]: (4, "ALLOW", []),
        x["v1.1"]: (
            5,
            "DENY",
            [
                f"External Git repo {world.git_url('other/lib.git')} requires a signed tag "
                "from a trusted maintainer"
            ],
        ),
        x["context"]: (6, "ALLOW", []),
        x["distroless"]: (
            8,
            "DENY",
            [
                f"Internal image {x['distroless-ref']} requires provenance attestations. "
                "Rebuild with --provenance=true"
            ],
        ),
        x["alpine"]: (10, "ALLOW", []),
    }


def test_check_gatekeeper(world: World, project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "Dockerfile.rego").write_text(gatekeeper(world))
    code, rows = check(world, capsys)
    x = rows_expected(world)
    assert code == 1
    assert rows == {
        x["golang"]: (1, "ALLOW", []),
        x["https"]: (2, "ALLOW", []),
        x["http"]: (3, "DENY", ["All HTTP downloads must use HTTPS. Plain HTTP is not allowed."]),
        x["v1.0"]: (4, "ALLOW", []),
        x["v1.1"]: (5, "ALLOW", []),  # the gatekeeper allows every git repository
        x["context"]: (6, "ALLOW", []),
        x["distroless"]: (8, "ALLOW", []),  # pinned, approved registry: no provenance asked
        x["alpine"]: (
            10,
            "DENY",
            [
                f"Image {world.alias}/library/alpine:3.20 must use a digest reference "
                "(e.g., @sha256:...). Tags alone are not allowed."
            ],
        ),
    }


# --- policy test: unit tests for the paranoid policy, as the blog recommends ------------------

PARANOID_TESTS = """\
package docker

test_local_allowed if {
    decision.allow with input as {"local": {"name": "context"}}
}

test_internal_image_with_provenance if {
    decision.allow with input as {"image": {
        "ref": "@HOST@/base/golang:1.23@@DIGEST@",
        "host": "@HOST@",
        "isCanonical": true,
        "hasProvenance": true,
    }}
}

test_internal_image_without_provenance if {
    not decision.allow with input as {"image": {
        "ref": "@HOST@/base/golang:1.23@@DIGEST@",
        "host": "@HOST@",
        "isCanonical": true,
    }}
}

test_plain_http_denied if {
    msgs := deny_msg with input as {"http": {"schema": "http", "host": "example.com"}}
    msgs == {`Download from example.com is not allowed. Approved hosts: @DOWNLOADS@`}
}

test_hub_golang_at_its_served_digest if {
    decision.allow with input as {"image": {
        "ref": "@HUB@/library/golang:1.23",
        "host": "@HUB@",
        "repo": "@HUB@/library/golang",
        "checksum": "@GOLANG@",
    }}
}
"""


def test_policy_test_of_the_paranoid_policy(
    world: World,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "Dockerfile.rego").write_text(paranoid(world))
    tests = PARANOID_TESTS
    for key, value in {
        "@HOST@": world.host,
        "@HUB@": world.alias,
        "@DIGEST@": world.digests["base/golang:1.23"],
        "@GOLANG@": world.digests["library/golang"],
        "@DOWNLOADS@": downloads(world),
    }.items():
        tests = tests.replace(key, value)
    (tmp_path / "Dockerfile_test.rego").write_text(tests)
    monkeypatch.chdir(tmp_path)
    code, out, err = run(
        capsys,
        "policy",
        "test",
        "--insecure-registry",
        world.host,
        "--insecure-registry",
        world.alias,
        "--trusted-root",
        str(world.root_path),
        ".",
    )
    assert (code, err) == (1, "")
    hub = world.alias
    # The failing test's input lacked fields the policy reads, so it was resolved from the
    # registry (Buildx's behaviour): the served golang is not at the policy's pin.
    resolved = {
        "image": {
            "ref": f"{hub}/library/golang:1.23",
            "host": hub,
            "repo": f"{hub}/library/golang",
            "fullRepo": f"{hub}/library/golang",
            "tag": "1.23",
            "platform": PLATFORM,
            "os": "linux",
            "arch": "amd64",
            "checksum": world.digests["library/golang"],
            "createdTime": "2024-05-06T07:08:09Z",
            "env": ["PATH=/usr/local/bin:/usr/bin", "ARCH=amd64"],
            "labels": {"tag": "1.23"},
            "user": "65532:65532",
            "volumes": ["/data", "/var/lib/b"],
            "workingDir": "/app",
            "hasProvenance": True,
        }
    }
    assert out == (
        "test_hub_golang_at_its_served_digest: FAIL (allow=false)\n"
        "input:\n"
        f"{json.dumps(resolved, indent=2)}\n"
        "decision:\n"
        '{\n  "allow": false\n}\n'
        "missing_input: input.git, input.git.remote, input.git.tag, input.git.tagName, "
        "input.http, input.http.host, input.http.schema, input.image.isCanonical, input.local\n"
        "test_internal_image_with_provenance: PASS (allow=true)\n"
        # passes on its own input (no hasProvenance); the decision shown is for the input
        # resolved from the registry, where the image has provenance
        "test_internal_image_without_provenance: PASS (allow=true)\n"
        "test_local_allowed: PASS (allow=true)\n"
        "test_plain_http_denied: PASS (allow=false, deny_msg=Download from example.com is not "
        f"allowed. Approved hosts: {downloads(world)})\n"
    )

    # only the passing ones: exit code 0 (127.0.0.1 is reached over plain HTTP even
    # without --insecure-registry, as Docker treats loopback registries)
    code, out, err = run(
        capsys, "policy", "test", "--trusted-root", str(world.root_path), "--run", "internal", "."
    )
    assert (code, err) == (0, "")
    assert out == (
        "test_internal_image_with_provenance: PASS (allow=true)\n"
        "test_internal_image_without_provenance: PASS (allow=true)\n"
    )


def test_both_policies_through_policy_eval(
    world: World,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The blog's policies as files next to a Dockerfile, run by `buildsig policy eval`."""
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "Dockerfile.rego").write_text(gatekeeper(world))
    (tmp_path / "paranoid.rego").write_text(paranoid(world))
    (tmp_path / "trusted-maintainers.asc").write_bytes(
        (world.policy_dir / "trusted-maintainers.asc").read_bytes()
    )
    monkeypatch.chdir(tmp_path)
    flags = [
        "--insecure-registry",
        world.host,
        "--insecure-registry",
        world.alias,
        "--trusted-root",
        str(world.root_path),
        "--platform",
        "linux/amd64",
    ]

    def policy_eval(*argv: str) -> tuple[int, str]:
        capsys.readouterr()
        code = main(["policy", "eval", *flags, *argv])
        return code, capsys.readouterr().err

    golang = f"{world.host}/base/golang:1.23"
    pinned = f"docker-image://{golang}@{world.digests['base/golang:1.23']}"
    # the automatic policy (the gatekeeper), and with it the paranoid one: both must allow
    assert policy_eval(pinned) == (0, "")
    assert policy_eval("--policy", "paranoid.rego", pinned) == (0, "")
    assert policy_eval(f"docker-image://{golang}") == (
        1,
        f"error: policy denied: Image {golang} must use a digest reference (e.g., "
        "@sha256:...). Tags alone are not allowed.\n",
    )
    lib = world.git_url("other/lib.git")
    code, err = policy_eval("-f", "none", "--policy", "paranoid.rego", f"{lib}#v1.1")
    assert code == 1
    assert err == (
        f"error: policy denied: External Git repo {lib} requires a signed tag from a trusted "
        "maintainer\n"
    )
    assert policy_eval("-f", "none", "--policy", "paranoid.rego", f"{lib}#v1.0") == (0, "")

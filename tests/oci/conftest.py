"""Session-wide registries for the registry client tests (started once, stopped by PID).

Three real ``docker-registry`` processes (anonymous, htpasswd Basic, token auth with the
test token service), the misbehaving servers, and the images pushed into them. Nothing
here is autouse: other test modules in this directory do not pay for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from buildsig.oci.auth import Credentials, CredentialStore
from buildsig.oci.registry import RegistryClient
from tests.oci.registryd import (
    ATTESTATION_ARTIFACT,
    SIGSTORE_BUNDLE,
    BadRegistry,
    HungServer,
    PushedImage,
    RunningRegistry,
    TokenService,
    docker_registry,
    ensure_registry_tools,
    push_image,
    push_referrer,
)

BASIC_USER, BASIC_PASSWORD = "alice", "alice-pass-7f3e91"
TOKEN_USER, TOKEN_PASSWORD = "bob", "bob-pass-41c2d8"


@pytest.fixture(scope="session")
def registry_tools() -> None:
    ensure_registry_tools()


@pytest.fixture(scope="session")
def registry_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("registries")


@pytest.fixture(scope="session")
def anon_registry(registry_tools: None, registry_root: Path) -> Iterator[RunningRegistry]:
    with docker_registry(registry_root / "anon") as reg:
        yield reg


@pytest.fixture(scope="session")
def basic_registry(registry_tools: None, registry_root: Path) -> Iterator[RunningRegistry]:
    with docker_registry(
        registry_root / "basic", auth="basic", users={BASIC_USER: BASIC_PASSWORD}
    ) as reg:
        yield reg


@pytest.fixture(scope="session")
def token_service(registry_root: Path) -> Iterator[TokenService]:
    with TokenService(registry_root / "tokens", users={TOKEN_USER: TOKEN_PASSWORD}) as service:
        yield service


@pytest.fixture(scope="session")
def token_registry(
    registry_tools: None, registry_root: Path, token_service: TokenService
) -> Iterator[RunningRegistry]:
    with docker_registry(
        registry_root / "token",
        auth="token",
        users={TOKEN_USER: TOKEN_PASSWORD},
        tokens=token_service,
    ) as reg:
        yield reg


@pytest.fixture
def tokens(token_service: TokenService) -> Iterator[TokenService]:
    """The token service, with default settings and an empty request log."""
    token_service.reset()
    yield token_service
    token_service.reset()


def admin_client(registry: RunningRegistry) -> RegistryClient:
    """A client with the registry's credentials given directly (for pushing fixtures)."""
    static = {}
    if registry.users:
        user, password = next(iter(registry.users.items()))
        static[registry.host] = Credentials(user, password)
    return RegistryClient(credentials=CredentialStore(static=static, read_docker_config=False))


@dataclass
class Pushed:
    """The images every read test uses, in the anonymous registry."""

    single: PushedImage
    multi: PushedImage
    docker_list: PushedImage
    bundle_referrer: Any
    attestation_referrer: Any


@pytest.fixture(scope="session")
def pushed(anon_registry: RunningRegistry) -> Pushed:
    with admin_client(anon_registry) as client:
        single = push_image(
            client,
            anon_registry.repo("app/single"),
            "v1",
            labels={"org.opencontainers.image.source": "https://example.com/app", "tier": "web"},
            seed="single",
        )
        multi = push_image(
            client,
            anon_registry.repo("app/multi"),
            "v1",
            platforms=("linux/amd64", "linux/arm64/v8", "linux/arm/v7"),
            seed="multi",
        )
        docker_list = push_image(
            client,
            anon_registry.repo("app/dockerlist"),
            "v1",
            platforms=("linux/amd64", "linux/arm64/v8"),
            docker=True,
            seed="docker",
        )
        bundle = push_referrer(
            client, single.repo, single.descriptor, SIGSTORE_BUNDLE, b'{"bundle": 1}'
        )
        attestation = push_referrer(
            client,
            single.repo,
            single.descriptor,
            ATTESTATION_ARTIFACT,
            b'{"_type": "https://in-toto.io/Statement/v1"}',
            layer_type="application/vnd.in-toto+json",
            annotations={"vnd.docker.reference.type": "attestation-manifest"},
        )
    return Pushed(single, multi, docker_list, bundle, attestation)


@pytest.fixture(scope="session")
def basic_image(basic_registry: RunningRegistry) -> PushedImage:
    with admin_client(basic_registry) as client:
        return push_image(client, basic_registry.repo("private/app"), "v1", seed="basic")


@pytest.fixture(scope="session")
def token_image(token_registry: RunningRegistry, token_service: TokenService) -> PushedImage:
    with admin_client(token_registry) as client:
        return push_image(
            client,
            token_registry.repo("team/app"),
            "v1",
            platforms=("linux/amd64", "linux/arm64/v8"),
            seed="token",
        )


@pytest.fixture(scope="session")
def bad() -> Iterator[BadRegistry]:
    with BadRegistry() as server:
        yield server


@pytest.fixture
def bad_server(bad: BadRegistry) -> BadRegistry:
    bad.reset()
    return bad


@pytest.fixture(scope="session")
def hung() -> Iterator[HungServer]:
    with HungServer() as server:
        yield server


@pytest.fixture
def make_client() -> Iterator[Callable[..., RegistryClient]]:
    """Build clients (anonymous by default, short timeouts); all closed at teardown."""
    made: list[RegistryClient] = []

    def factory(**kwargs: Any) -> RegistryClient:
        kwargs.setdefault("credentials", CredentialStore.anonymous())
        kwargs.setdefault("timeout", 5.0)
        client = RegistryClient(**kwargs)
        made.append(client)
        return client

    yield factory
    for client in made:
        client.close()

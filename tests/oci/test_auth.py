"""Credentials (Docker config, credential helpers) and registry authentication end to end.

Credential helpers are real executables written by the tests and found on PATH, as the
Docker CLI finds them. Registries are real (htpasswd Basic and token auth); the token
service is a real one whose JWTs the registry verifies.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from buildsig._internal.httputil import parse_retry_after
from buildsig.errors import NetworkError, PolicyConfigError, RegistryError
from buildsig.oci.auth import (
    DOCKER_HUB_CONFIG_KEY,
    Credentials,
    CredentialStore,
    default_docker_config_path,
)
from buildsig.oci.registry import (
    RegistryClient,
    _merge_scopes,
    _parse_challenges,
)
from buildsig.oci.store import Repository
from tests.oci.conftest import BASIC_PASSWORD, BASIC_USER, TOKEN_PASSWORD, TOKEN_USER
from tests.oci.registryd import (
    GOOD_MANIFEST,
    BadRegistry,
    PushedImage,
    RecordingServer,
    RunningRegistry,
    TokenService,
    non_loopback_address,
    push_image,
    skopeo,
)

MakeClient = Callable[..., RegistryClient]


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def write_config(path: Path, config: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(config if isinstance(config, str) else json.dumps(config))
    return path


@pytest.fixture
def helper_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory on PATH for docker-credential-* executables."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    return bindir


def write_helper(bindir: Path, name: str, body: str) -> Path:
    """``docker-credential-<name>``: a shell script; ``$server`` holds what came on stdin."""
    path = bindir / f"docker-credential-{name}"
    log = bindir / f"{name}.log"
    path.write_text(
        "#!/bin/sh\n"
        '[ "$1" = get ] || exit 2\n'
        "IFS= read -r server || true\n"
        f'printf "%s\\n" "$server" >> "{log}"\n' + body
    )
    path.chmod(0o755)
    return path


def helper_log(bindir: Path, name: str) -> list[str]:
    log = bindir / f"{name}.log"
    return log.read_text().splitlines() if log.exists() else []


def answering(username: str, secret: str) -> str:
    return (
        f'printf \'{{"ServerURL":"%s","Username":"{username}","Secret":"{secret}"}}\' "$server"\n'
    )


# --- Docker config files -----------------------------------------------------------------


def test_auths_with_base64_auth(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "config.json",
        {"auths": {"https://registry.example.com:5000": {"auth": b64("ann:pa:ss")}}},
    )
    store = CredentialStore(config_path=config)
    for name in ("registry.example.com:5000", "REGISTRY.example.com:5000"):
        assert store.get(name) == Credentials("ann", "pa:ss")
    assert store.get("registry.example.com") is None
    assert store.get("other.example.com") is None


def test_auths_with_username_password_and_identity_token(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "config.json",
        {
            "auths": {
                "a.example.com": {"username": "u", "password": "p"},
                "http://b.example.com/v2/": {"identitytoken": "refresh-me"},
                "c.example.com": {},
            }
        },
    )
    store = CredentialStore(config_path=config)
    assert store.get("a.example.com") == Credentials("u", "p")
    assert store.get("b.example.com") == Credentials(identity_token="refresh-me")
    assert store.get("c.example.com") is None  # an empty entry: docker login used a store


def test_docker_hub_key(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "config.json", {"auths": {DOCKER_HUB_CONFIG_KEY: {"auth": b64("hub:pw")}}}
    )
    store = CredentialStore(config_path=config)
    for name in ("docker.io", "index.docker.io", "registry-1.docker.io"):
        assert store.get(name) == Credentials("hub", "pw")


def test_config_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("DOCKER_CONFIG", raising=False)
    assert default_docker_config_path() == home / ".docker" / "config.json"
    write_config(home / ".docker" / "config.json", {"auths": {"h.example": {"auth": b64("a:b")}}})
    assert CredentialStore().get("h.example") == Credentials("a", "b")
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "elsewhere"))
    write_config(
        tmp_path / "elsewhere" / "config.json", {"auths": {"h.example": {"auth": b64("c:d")}}}
    )
    assert CredentialStore().get("h.example") == Credentials("c", "d")


def test_missing_and_empty_config(tmp_path: Path) -> None:
    assert CredentialStore(config_path=tmp_path / "nope.json").get("x.example") is None
    assert CredentialStore(config_path=write_config(tmp_path / "e.json", "")).get("x") is None
    assert CredentialStore.anonymous().get("x.example") is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"auths": {"x.example": {"auth": "c2VjcmV0LXB3"', "is not valid JSON"),
        ('["not", "an", "object"]', "is not a JSON object"),
        ('{"auths": ["x"]}', "'auths' must be an object"),
        ('{"credsStore": 7}', "'credsStore' must be a string"),
        ('{"auths": {"x.example": {"auth": "%%%secret-pw%%%"}}}', "is not base64"),
        ('{"auths": {"x.example": {"auth": "' + b64("no-colon-secret-pw") + '"}}}', "no ':'"),
        ('{"auths": {"x.example": "secret-pw"}}', "must be an object"),
    ],
)
def test_unusable_config_is_a_config_error(tmp_path: Path, content: str, message: str) -> None:
    path = write_config(tmp_path / "config.json", content)
    with pytest.raises(PolicyConfigError, match=message) as err:
        CredentialStore(config_path=path).get("x.example")
    assert str(path) in err.value.message
    assert "secret" not in err.value.message and "c2VjcmV0" not in err.value.message


def test_malformed_config_surfaces_when_credentials_are_needed(
    basic_image: PushedImage, tmp_path: Path, make_client: MakeClient
) -> None:
    path = write_config(tmp_path / "config.json", "{oops")
    client = make_client(credentials=CredentialStore(config_path=path))
    with pytest.raises(PolicyConfigError, match="is not valid JSON"):
        client.get_manifest(basic_image.repo, "v1")


def test_credentials_never_show_secrets() -> None:
    creds = Credentials("user", "hunter2-pw", identity_token="tok-123456")
    assert "hunter2" not in repr(creds) and "tok-123" not in repr(creds)
    assert "user" in repr(creds)
    assert "hunter2" not in str([creds])


def test_static_entries_win(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.json", {"auths": {"r.example": {"auth": b64("file:pw")}}})
    store = CredentialStore(
        config_path=config,
        static={"https://r.example": Credentials("s", "t"), "index.docker.io": Credentials("h")},
    )
    assert store.get("r.example") == Credentials("s", "t")
    assert store.get("docker.io") == Credentials("h")


# --- credential helpers ------------------------------------------------------------------


def test_creds_store_helper(tmp_path: Path, helper_dir: Path) -> None:
    write_helper(helper_dir, "teststore", answering("helper-user", "helper-secret"))
    config = write_config(tmp_path / "c.json", {"credsStore": "teststore"})
    store = CredentialStore(config_path=config)
    assert store.get("127.0.0.1:5000") == Credentials("helper-user", "helper-secret")
    assert store.get("docker.io") == Credentials("helper-user", "helper-secret")
    assert store.get("127.0.0.1:5000") == Credentials("helper-user", "helper-secret")
    # Docker's server addresses on stdin; each registry asked once
    assert helper_log(helper_dir, "teststore") == ["127.0.0.1:5000", DOCKER_HUB_CONFIG_KEY]


def test_cred_helpers_per_registry_override_the_store(tmp_path: Path, helper_dir: Path) -> None:
    write_helper(helper_dir, "general", answering("general", "g-secret"))
    write_helper(helper_dir, "special", answering("special", "s-secret"))
    config = write_config(
        tmp_path / "c.json",
        {"credsStore": "general", "credHelpers": {"special.example.com": "special"}},
    )
    store = CredentialStore(config_path=config)
    assert store.get("special.example.com") == Credentials("special", "s-secret")
    assert store.get("other.example.com") == Credentials("general", "g-secret")
    assert helper_log(helper_dir, "special") == ["special.example.com"]
    assert helper_log(helper_dir, "general") == ["other.example.com"]


def test_identity_token_from_a_helper(tmp_path: Path, helper_dir: Path) -> None:
    write_helper(helper_dir, "tokens", answering("<token>", "refresh-xyz"))
    store = CredentialStore(config_path=write_config(tmp_path / "c.json", {"credsStore": "tokens"}))
    assert store.get("r.example") == Credentials(identity_token="refresh-xyz")


@pytest.mark.parametrize(
    ("body", "log_text"),
    [
        (None, "is not on PATH"),
        ('echo "credentials not found in native keychain"; exit 1\n', "exited 1"),
        ("echo 'this is { not json'\n", "not JSON"),
        ('echo \'{"Username": "u"}\'\n', "no usable Username/Secret"),
    ],
)
def test_broken_helpers_mean_no_credentials(
    tmp_path: Path,
    helper_dir: Path,
    caplog: pytest.LogCaptureFixture,
    body: str | None,
    log_text: str,
) -> None:
    if body is not None:
        write_helper(helper_dir, "broken", body)
    config = write_config(
        tmp_path / "c.json",
        {"credsStore": "broken", "auths": {"fallback.example": {"auth": b64("f:pw")}}},
    )
    store = CredentialStore(config_path=config)
    with caplog.at_level(logging.DEBUG, logger="buildsig.oci.auth"):
        assert store.get("r.example") is None
        assert store.get("fallback.example") == Credentials("f", "pw")  # auths still count
    assert log_text in caplog.text


def test_hanging_helper_is_cut_off(
    tmp_path: Path, helper_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_helper(helper_dir, "slow", "sleep 30\n" + answering("late", "late-secret"))
    config = write_config(tmp_path / "c.json", {"credsStore": "slow"})
    store = CredentialStore(config_path=config, helper_timeout=0.5)
    start = time.monotonic()
    with caplog.at_level(logging.DEBUG, logger="buildsig.oci.auth"):
        assert store.get("r.example") is None
    assert time.monotonic() - start < 3
    assert "timed out" in caplog.text


# --- Basic auth against a real registry --------------------------------------------------


def test_basic_auth_from_docker_config(
    basic_registry: RunningRegistry,
    basic_image: PushedImage,
    tmp_path: Path,
    make_client: MakeClient,
) -> None:
    config = write_config(
        tmp_path / "c.json",
        {"auths": {basic_registry.host: {"auth": b64(f"{BASIC_USER}:{BASIC_PASSWORD}")}}},
    )
    client = make_client(credentials=CredentialStore(config_path=config))
    manifest = client.get_manifest(basic_image.repo, "v1")
    assert manifest.raw == skopeo(basic_registry, "private/app:v1", "--raw") == basic_image.raw
    assert manifest.digest == basic_image.digest
    config_digest = json.loads(manifest.raw)["config"]["digest"]
    assert client.get_blob(basic_image.repo, config_digest, max_bytes=1 << 20)
    # the first request learnt the challenge; afterwards credentials go up front
    assert client.stats.total == 3


def test_basic_auth_without_credentials(
    basic_registry: RunningRegistry, basic_image: PushedImage, make_client: MakeClient
) -> None:
    client = make_client()
    with pytest.raises(RegistryError, match="no credentials are configured") as err:
        client.get_manifest(basic_image.repo, "v1")
    assert err.value.status == 401
    assert client.stats.total == 1


def test_basic_auth_with_a_wrong_password(
    basic_registry: RunningRegistry, basic_image: PushedImage, make_client: MakeClient
) -> None:
    wrong = "wrong-password-5521"
    store = CredentialStore(static={basic_registry.host: Credentials(BASIC_USER, wrong)})
    client = make_client(credentials=store)
    start = time.monotonic()
    with pytest.raises(RegistryError, match="authentication failed") as err:
        client.get_manifest(basic_image.repo, "v1")
    assert time.monotonic() - start < 2
    assert err.value.status == 401
    assert client.stats.total == 2  # one retry after authenticating, no loop
    text = err.value.diagnostics()
    assert wrong not in text and b64(f"{BASIC_USER}:{wrong}") not in text


def test_basic_auth_through_a_credential_helper(
    basic_registry: RunningRegistry,
    basic_image: PushedImage,
    tmp_path: Path,
    helper_dir: Path,
    make_client: MakeClient,
) -> None:
    write_helper(helper_dir, "keychain", answering(BASIC_USER, BASIC_PASSWORD))
    config = write_config(tmp_path / "c.json", {"credHelpers": {basic_registry.host: "keychain"}})
    client = make_client(credentials=CredentialStore(config_path=config))
    assert client.get_manifest(basic_image.repo, "v1").raw == basic_image.raw
    assert helper_log(helper_dir, "keychain") == [basic_registry.host]


# --- token auth against a real registry --------------------------------------------------


def test_anonymous_tokens_are_fetched_once_and_reused(
    token_registry: RunningRegistry,
    token_image: PushedImage,
    tokens: TokenService,
    make_client: MakeClient,
) -> None:
    client = make_client()
    for _ in range(5):
        assert client.get_manifest(token_image.repo, "v1").raw == token_image.raw
    for digest, blob in token_image.blobs.items():
        assert client.get_blob(token_image.repo, digest, max_bytes=1 << 20) == blob
    assert tokens.count() == 1 and tokens.count(user=None) == 1
    assert tokens.requests[0].scopes == ["repository:team/app:pull"]
    # one 401 to learn the challenge, then the token is sent up front
    assert client.stats.snapshot() == {
        "manifest": 6,
        "blob": len(token_image.blobs),
        "token": 1,
        "total": 7 + len(token_image.blobs),
    }
    raw = skopeo(token_registry, "team/app:v1", "--raw")
    assert raw == token_image.raw


def test_tokens_are_per_repository_scope(
    token_registry: RunningRegistry,
    token_image: PushedImage,
    tokens: TokenService,
    make_client: MakeClient,
) -> None:
    client = make_client()
    client.get_manifest(token_image.repo, "v1")
    with pytest.raises(Exception, match="not found"):
        client.get_manifest(token_registry.repo("team/other"), "v1")
    assert [r.scopes for r in tokens.requests] == [
        ["repository:team/app:pull"],
        ["repository:team/other:pull"],
    ]
    # the second repository's token was fetched up front from the remembered challenge
    assert client.stats.count("manifest") == 3


def test_credentials_from_a_helper_are_used_for_tokens(
    token_registry: RunningRegistry,
    token_image: PushedImage,
    tokens: TokenService,
    tmp_path: Path,
    helper_dir: Path,
    make_client: MakeClient,
) -> None:
    """docker/buildx#3984: with `docker login` credentials, never settle for anonymous."""
    tokens.allow_anonymous = False
    write_helper(helper_dir, "login", answering(TOKEN_USER, TOKEN_PASSWORD))
    config = write_config(tmp_path / "c.json", {"credsStore": "login"})
    client = make_client(credentials=CredentialStore(config_path=config))
    assert client.get_manifest(token_image.repo, "v1").digest == token_image.digest
    assert [(r.user, r.grant) for r in tokens.requests] == [(TOKEN_USER, "basic")]


def test_token_service_refusing_anonymous(
    token_registry: RunningRegistry,
    token_image: PushedImage,
    tokens: TokenService,
    make_client: MakeClient,
) -> None:
    tokens.allow_anonymous = False
    client = make_client()
    with pytest.raises(RegistryError, match="refused anonymous access") as err:
        client.get_manifest(token_image.repo, "v1")
    assert err.value.status == 401
    assert tokens.count() == 1


def test_token_service_refusing_a_wrong_password(
    token_registry: RunningRegistry,
    token_image: PushedImage,
    tokens: TokenService,
    make_client: MakeClient,
) -> None:
    wrong = "not-bobs-password-8812"
    client = make_client(
        credentials=CredentialStore(static={token_registry.host: Credentials(TOKEN_USER, wrong)})
    )
    with pytest.raises(RegistryError, match="refused the configured credentials") as err:
        client.get_manifest(token_image.repo, "v1")
    assert wrong not in err.value.diagnostics()
    assert b64(f"{TOKEN_USER}:{wrong}") not in err.value.diagnostics()


def test_expired_tokens_are_renewed(
    token_registry: RunningRegistry,
    token_image: PushedImage,
    tokens: TokenService,
    make_client: MakeClient,
) -> None:
    tokens.expires_in = 1
    client = make_client()
    client.get_manifest(token_image.repo, "v1")
    client.get_manifest(token_image.repo, "v1")
    assert tokens.count() == 1
    time.sleep(1.0)
    client.get_manifest(token_image.repo, "v1")
    assert tokens.count() == 2


def test_access_token_field(
    token_registry: RunningRegistry,
    token_image: PushedImage,
    tokens: TokenService,
    make_client: MakeClient,
) -> None:
    tokens.token_field = "access_token"
    client = make_client()
    assert client.get_manifest(token_image.repo, "v1").raw == token_image.raw
    assert tokens.count() == 1


def test_identity_token_is_exchanged_with_oauth2(
    token_registry: RunningRegistry,
    token_image: PushedImage,
    tokens: TokenService,
    tmp_path: Path,
    make_client: MakeClient,
) -> None:
    tokens.allow_anonymous = False
    tokens.refresh_tokens["refresh-for-bob-0d1e"] = TOKEN_USER
    config = write_config(
        tmp_path / "c.json",
        {"auths": {token_registry.host: {"identitytoken": "refresh-for-bob-0d1e"}}},
    )
    client = make_client(credentials=CredentialStore(config_path=config))
    assert client.get_manifest(token_image.repo, "v1").digest == token_image.digest
    assert [(r.method, r.user, r.grant) for r in tokens.requests] == [
        ("POST", TOKEN_USER, "refresh_token")
    ]


def test_push_needs_push_access(
    token_registry: RunningRegistry,
    token_image: PushedImage,
    tokens: TokenService,
    make_client: MakeClient,
) -> None:
    """An anonymous token only grants pull: the push fails after one re-authentication."""
    client = make_client()
    start = time.monotonic()
    with pytest.raises(RegistryError, match="authentication failed") as err:
        push_image(client, token_registry.repo("team/anon-push"), "v1", seed="anon")
    assert time.monotonic() - start < 2
    assert err.value.status == 401
    assert tokens.count() <= 2
    assert client.stats.total <= 6


def test_pushing_with_credentials(
    token_registry: RunningRegistry, tokens: TokenService, make_client: MakeClient
) -> None:
    store = CredentialStore(static={token_registry.host: Credentials(TOKEN_USER, TOKEN_PASSWORD)})
    client = make_client(credentials=store)
    pushed = push_image(client, token_registry.repo("team/pushed"), "v2", seed="pushed")
    assert tokens.count() == 1
    assert tokens.requests[0].scopes == ["repository:team/pushed:pull,push"]
    assert skopeo(token_registry, "team/pushed:v2", "--raw") == pushed.raw


# --- auth misbehaviour -------------------------------------------------------------------


def test_a_401_loop_ends_at_once(bad_server: BadRegistry, make_client: MakeClient) -> None:
    client = make_client(retries=3)
    start = time.monotonic()
    with pytest.raises(RegistryError, match=r"token service .* refused anonymous access") as err:
        client.get_manifest(bad_server.repo("loop"), "v1")
    assert time.monotonic() - start < 1
    assert err.value.status == 401
    assert bad_server.count("/v2/loop/") == 1
    assert bad_server.count("/loop-token") == 1


def test_rejected_tokens_are_not_retried_forever(
    bad_server: BadRegistry, make_client: MakeClient
) -> None:
    client = make_client(retries=3)
    with pytest.raises(RegistryError, match=r"authentication failed: .* rejected the token"):
        client.get_manifest(bad_server.repo("reject"), "v1")
    assert bad_server.count("/v2/reject/") == 2
    assert bad_server.count("/ok-token") == 1
    assert bad_server.seen[-1].headers["Authorization"] == "Bearer opaque-token-abc123"


def test_echoed_credentials_are_redacted(bad_server: BadRegistry, make_client: MakeClient) -> None:
    password = "echo-password-77a1"
    store = CredentialStore(static={bad_server.host: Credentials("echo-user", password)})
    client = make_client(credentials=store)
    with pytest.raises(RegistryError) as err:
        client.get_manifest(bad_server.repo("echo"), "v1")
    assert err.value.status == 400
    assert "<redacted>" in err.value.message
    assert password not in err.value.diagnostics()
    assert b64(f"echo-user:{password}") not in err.value.diagnostics()


# --- where credentials may go ------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "base"),
    [
        ("docker.io", "https://registry-1.docker.io"),
        ("index.docker.io", "https://registry-1.docker.io"),
        ("ghcr.io", "https://ghcr.io"),
        ("registry.example.com:5000", "https://registry.example.com:5000"),
        ("localhost:5000", "http://localhost:5000"),
        ("127.0.0.1:5000", "http://127.0.0.1:5000"),
        ("127.9.8.7", "http://127.9.8.7"),
        ("[::1]:5000", "http://[::1]:5000"),
        ("insecure.example.com:5000", "http://insecure.example.com:5000"),
        ("plain.example.com:8080", "http://plain.example.com:8080"),
        ("plain.example.com:9090", "http://plain.example.com:9090"),
        ("secure.example.com", "https://secure.example.com"),
    ],
)
def test_scheme_per_registry(name: str, base: str) -> None:
    with RegistryClient(
        insecure_registries=["insecure.example.com:5000", "http://plain.example.com"],
        credentials=CredentialStore.anonymous(),
    ) as client:
        endpoint = client._endpoint(name)
        assert endpoint.base == base
        assert endpoint.name == ("docker.io" if "docker.io" in name else name)


def test_plain_http_realm_elsewhere_gets_no_credentials(
    bad_server: BadRegistry, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    address = non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback address to serve a remote realm on")
    password = "must-not-travel-31"
    store = CredentialStore(static={bad_server.host: Credentials("someone", password)})
    with RecordingServer(address, "token") as realm:
        bad_server.remote_realm = f"http://{realm.host}/token"
        client = make_client(credentials=store)
        with caplog.at_level(logging.WARNING, logger="buildsig.oci.registry"):
            assert client.get_manifest(bad_server.repo("remote-realm"), "v1").raw == GOOD_MANIFEST
        assert len(realm.seen) == 1
        assert "Authorization" not in realm.seen[0].headers
        assert "not sending credentials" in caplog.text
        # listed as insecure, the same realm may have them
        trusted = make_client(credentials=store, insecure_registries=[realm.host])
        trusted.get_manifest(bad_server.repo("remote-realm"), "v1")
        assert realm.seen[-1].headers["Authorization"].startswith("Basic ")


def test_non_loopback_registries_need_https_unless_insecure(make_client: MakeClient) -> None:
    address = non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback address to serve a registry on")
    with RecordingServer(address, "basic-registry") as remote:
        store = CredentialStore(static={remote.host: Credentials("someone", "secret-pw-0a")})
        client = make_client(credentials=store, retries=0, timeout=2)
        with pytest.raises(NetworkError):  # HTTPS to an HTTP server: nothing is sent in clear
            client.get_manifest(Repository(remote.host, "x"), "v1")
        assert remote.seen == []
        insecure = make_client(credentials=store, insecure_registries=[remote.host])
        assert insecure.get_manifest(Repository(remote.host, "x"), "v1").raw == GOOD_MANIFEST
        assert [bool(s.headers.get("Authorization")) for s in remote.seen] == [False, True]


# --- parsing details ---------------------------------------------------------------------


def test_challenge_parsing() -> None:
    [bearer] = _parse_challenges(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:library/alpine:pull,push"'
    )
    assert bearer.scheme == "bearer"
    assert bearer.params == {
        "realm": "https://auth.docker.io/token",
        "service": "registry.docker.io",
        "scope": "repository:library/alpine:pull,push",
    }
    several = _parse_challenges(
        'Basic realm="a \\"quoted\\" realm", Bearer realm=https://t/x, error=x'
    )
    assert [(c.scheme, c.params) for c in several] == [
        ("basic", {"realm": 'a "quoted" realm'}),
        ("bearer", {"realm": "https://t/x", "error": "x"}),
    ]
    assert _parse_challenges("") == []


def test_scope_merging() -> None:
    ours = ("repository:a/b:pull,push",)
    assert _merge_scopes(ours, ["repository:a/b:pull"]) == ours
    assert _merge_scopes(ours, ["repository:c:pull"]) == (*ours, "repository:c:pull")
    assert _merge_scopes(("repository:a/b:pull",), ["repository:a/b:pull,push"]) == (
        "repository:a/b:pull",
        "repository:a/b:pull,push",
    )


def test_retry_after_parsing() -> None:
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    later = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 600))
    value = parse_retry_after(later)
    assert value is not None and 595 < value <= 600


@given(st.text(max_size=300))
def test_challenge_parser_accepts_anything(value: str) -> None:
    for challenge in _parse_challenges(value):
        assert challenge.scheme == challenge.scheme.lower()


@given(
    st.dictionaries(
        st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True),
        st.text(st.characters(exclude_categories=("Cs",)), max_size=40),
        max_size=4,
    )
)
def test_quoted_challenge_parameters_round_trip(params: dict[str, str]) -> None:
    def quote(v: str) -> str:
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'

    header = "Bearer " + ", ".join(f"{k}={quote(v)}" for k, v in params.items())
    [challenge] = _parse_challenges(header)
    assert challenge.params == params

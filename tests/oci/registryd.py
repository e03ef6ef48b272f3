"""Real registries and deliberately broken servers on 127.0.0.1, for the registry tests.

Nothing here is a mock:

- :func:`docker_registry` runs Debian's ``docker-registry`` (distribution 2.8) with its
  own config, storage directory and port, anonymous, with htpasswd Basic auth, or with
  distribution's ``auth.token`` pointing at :class:`TokenService`;
- :class:`TokenService` is a small but real token server: it checks Basic credentials or
  an OAuth2 refresh token and issues ES256 JWTs signed by a key whose certificate chains
  to a test CA, which the registry is configured to trust; the registry verifies them;
- :class:`BadRegistry` is an HTTP server that speaks the distribution API badly on
  purpose (tampered bytes, oversized bodies, HTML error pages, 401 loops, 429 storms,
  redirects that would leak credentials …), and :class:`HungServer` accepts connections
  and never answers;
- :func:`skopeo` runs Debian's ``skopeo`` as the oracle for digests and raw bytes.

Every process is started by a fixture and stopped by PID.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import email.utils
import gzip
import hashlib
import json
import os
import secrets
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from buildsig.oci.registry import RegistryClient, referrers_tag
from buildsig.oci.store import Descriptor, Repository
from tests.conftest import ensure_tools

#: executable -> Debian package
REGISTRY_TOOLS = {
    "docker-registry": "docker-registry",
    "skopeo": "skopeo",
    "htpasswd": "apache2-utils",
}

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
SIGSTORE_BUNDLE = "application/vnd.dev.sigstore.bundle.v0.3+json"
ATTESTATION_ARTIFACT = "application/vnd.docker.attestation.manifest.v1+json"


def ensure_registry_tools() -> None:
    ensure_tools(REGISTRY_TOOLS)


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_http(url: str, timeout: float = 15.0) -> None:
    """Until ``url`` answers at all (any status)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - loopback test URL
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing answers at {url}") from None
            time.sleep(0.05)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class QuietServer(ThreadingHTTPServer):
    """A threading HTTP server that does not print clients hanging up on it."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


# --- a token service -------------------------------------------------------------------


@dataclass
class TokenRequest:
    method: str
    user: str | None  # None: anonymous
    grant: str  # "basic", "anonymous", "refresh_token", "password"
    scopes: list[str]


class TokenService:
    """Docker's token protocol: GET with Basic (or anonymous), POST with a refresh token.

    Tokens are ES256 JWTs with an ``x5c`` header holding a leaf certificate signed by the
    service's CA; :attr:`ca_path` is the ``rootcertbundle`` a registry trusts.
    Settings may be changed between tests (``expires_in``, ``token_field``,
    ``allow_anonymous``, ``anonymous_actions``); :attr:`requests` records every call.
    """

    service = "buildsig-test-registry"
    issuer = "buildsig-test-issuer"

    def __init__(self, workdir: Path, *, users: dict[str, str]) -> None:
        self.users = dict(users)
        self.refresh_tokens: dict[str, str] = {}  # refresh token -> user
        self.allow_anonymous = True
        self.anonymous_actions: set[str] = {"pull"}
        self.expires_in = 300
        self.token_field = "token"  # or "access_token" or "both"
        self.requests: list[TokenRequest] = []
        self._lock = threading.Lock()
        workdir.mkdir(parents=True, exist_ok=True)
        self.ca_path = workdir / "token-ca.pem"
        self._make_keys()
        self.ca_path.write_bytes(self._ca_cert.public_bytes(serialization.Encoding.PEM))
        self.port = free_port()
        self._server = QuietServer(("127.0.0.1", self.port), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    def __enter__(self) -> TokenService:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
        self.allow_anonymous = True
        self.anonymous_actions = {"pull"}
        self.expires_in = 300
        self.token_field = "token"

    def count(self, *, user: str | bool | None = False) -> int:
        """Token requests so far (optionally only those by ``user``; None = anonymous)."""
        with self._lock:
            if user is False:
                return len(self.requests)
            return sum(1 for r in self.requests if r.user == user)

    def _make_keys(self) -> None:
        now = datetime.datetime.now(datetime.UTC)
        self._ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "buildsig test token CA")])
        self._ca_cert = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(self._ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(self._ca_key, hashes.SHA256())
        )
        self._key = ec.generate_private_key(ec.SECP256R1())
        self._cert = (
            x509.CertificateBuilder()
            .subject_name(
                x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "buildsig test token signer")])
            )
            .issuer_name(ca_name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(self._ca_key, hashes.SHA256())
        )

    def issue(self, user: str | None, scopes: list[str]) -> str:
        """A signed JWT granting ``user`` (anonymous: only ``anonymous_actions``) the scopes."""
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            wanted = [a for a in actions.split(",") if a]
            granted = (
                wanted if user is not None else [a for a in wanted if a in self.anonymous_actions]
            )
            if granted:
                access.append({"type": kind, "name": name, "actions": granted})
        now = int(time.time())
        header = {
            "typ": "JWT",
            "alg": "ES256",
            "x5c": [base64.b64encode(self._cert.public_bytes(serialization.Encoding.DER)).decode()],
        }
        claims = {
            "iss": self.issuer,
            "sub": user or "",
            "aud": self.service,
            "exp": now + max(self.expires_in, 60),
            "nbf": now - 10,
            "iat": now,
            "jti": secrets.token_hex(8),
            "access": access,
        }
        signing_input = f"{b64url(canonical(header))}.{b64url(canonical(claims))}".encode()
        der = self._key.sign(signing_input, ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return f"{signing_input.decode()}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        service = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # no 40 ms delayed-ACK stalls on keep-alive

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _reply(self, status: int, body: dict[str, Any]) -> None:
                raw = canonical(body)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                if status == 401:
                    self.send_header("WWW-Authenticate", 'Basic realm="token"')
                self.end_headers()
                self.wfile.write(raw)

            def _grant(self, method: str, user: str | None, grant: str, scopes: list[str]) -> None:
                with service._lock:
                    service.requests.append(TokenRequest(method, user, grant, scopes))
                token = service.issue(user, scopes)
                body: dict[str, Any] = {"expires_in": service.expires_in}
                if service.token_field in ("token", "both"):
                    body["token"] = token
                if service.token_field in ("access_token", "both"):
                    body["access_token"] = token
                body["issued_at"] = datetime.datetime.now(datetime.UTC).isoformat()
                self._reply(200, body)

            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                query = urllib.parse.parse_qs(url.query)
                if url.path != "/token":
                    self._reply(404, {"error": "not found"})
                    return
                if query.get("service", [""])[0] != service.service:
                    self._reply(400, {"error": "unknown service"})
                    return
                scopes = [s for v in query.get("scope", []) for s in v.split(" ") if s]
                auth = self.headers.get("Authorization", "")
                if auth.startswith("Basic "):
                    user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
                    if service.users.get(user) != password:
                        with service._lock:
                            service.requests.append(TokenRequest("GET", user, "rejected", scopes))
                        self._reply(401, {"details": "invalid username or password"})
                        return
                    self._grant("GET", user, "basic", scopes)
                    return
                if not service.allow_anonymous:
                    with service._lock:
                        service.requests.append(TokenRequest("GET", None, "rejected", scopes))
                    self._reply(401, {"details": "authentication required"})
                    return
                self._grant("GET", None, "anonymous", scopes)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = urllib.parse.parse_qs(self.rfile.read(length).decode())
                grant = form.get("grant_type", [""])[0]
                scopes = [s for v in form.get("scope", []) for s in v.split(" ") if s]
                if form.get("service", [""])[0] != service.service:
                    self._reply(400, {"error": "unknown service"})
                    return
                if grant == "refresh_token":
                    user = service.refresh_tokens.get(form.get("refresh_token", [""])[0])
                elif grant == "password":
                    name = form.get("username", [""])[0]
                    ok = service.users.get(name) == form.get("password", [""])[0]
                    user = name if ok else None
                else:
                    self._reply(400, {"error": "unsupported_grant_type"})
                    return
                if user is None:
                    with service._lock:
                        service.requests.append(TokenRequest("POST", None, "rejected", scopes))
                    self._reply(401, {"error": "invalid_grant"})
                    return
                self._grant("POST", user, grant, scopes)

        return Handler


# --- docker-registry -------------------------------------------------------------------


@dataclass
class RunningRegistry:
    """A ``docker-registry serve`` process on 127.0.0.1."""

    port: int
    root: Path
    auth: str  # "none", "basic", "token"
    pid: int
    users: dict[str, str] = field(default_factory=dict)
    token_service: TokenService | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def repo(self, path: str) -> Repository:
        return Repository(self.host, path)

    def skopeo_creds(self) -> list[str]:
        if not self.users:
            return ["--no-creds"]
        user, password = next(iter(self.users.items()))
        return ["--creds", f"{user}:{password}"]


def _registry_config(
    root: Path, port: int, auth: str, htpasswd: Path | None, tokens: TokenService | None
) -> str:
    lines = [
        "version: 0.1",
        "log:",
        "  level: error",
        "  accesslog:",
        "    disabled: true",
        "storage:",
        "  cache:",  # as in distribution's stock config.yml (and Debian's)
        "    blobdescriptor: inmemory",
        "  filesystem:",
        f"    rootdirectory: {root / 'data'}",
        "  delete:",
        "    enabled: true",
        "http:",
        f"  addr: 127.0.0.1:{port}",
        f"  secret: {secrets.token_hex(16)}",
    ]
    if auth == "basic":
        assert htpasswd is not None
        lines += ["auth:", "  htpasswd:", "    realm: basic-realm", f"    path: {htpasswd}"]
    elif auth == "token":
        assert tokens is not None
        lines += [
            "auth:",
            "  token:",
            f"    realm: {tokens.realm}",
            f"    service: {tokens.service}",
            f"    issuer: {tokens.issuer}",
            f"    rootcertbundle: {tokens.ca_path}",
        ]
    return "\n".join(lines) + "\n"


def htpasswd_line(user: str, password: str) -> str:
    """A bcrypt htpasswd entry made by apache2-utils' ``htpasswd -Bbn``."""
    return subprocess.run(
        ["htpasswd", "-Bbn", user, password], check=True, capture_output=True, text=True, timeout=30
    ).stdout.strip()


@contextlib.contextmanager
def docker_registry(
    workdir: Path,
    *,
    auth: str = "none",
    users: dict[str, str] | None = None,
    tokens: TokenService | None = None,
) -> Iterator[RunningRegistry]:
    """``docker-registry serve`` on a free loopback port; stopped by PID on exit."""
    ensure_registry_tools()
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    htpasswd = None
    if auth == "basic":
        htpasswd = workdir / "htpasswd"
        htpasswd.write_text("\n".join(htpasswd_line(u, p) for u, p in (users or {}).items()) + "\n")
    config = workdir / "config.yml"
    config.write_text(_registry_config(workdir, port, auth, htpasswd, tokens))
    log = (workdir / "registry.log").open("wb")
    proc = subprocess.Popen(
        ["docker-registry", "serve", str(config)], stdout=log, stderr=subprocess.STDOUT
    )
    try:
        try:
            wait_for_http(f"http://127.0.0.1:{port}/v2/")
        except RuntimeError:
            proc.kill()
            raise RuntimeError(
                "docker-registry did not start:\n" + (workdir / "registry.log").read_text()
            ) from None
        yield RunningRegistry(
            port=port,
            root=workdir,
            auth=auth,
            pid=proc.pid,
            users=dict(users or {}),
            token_service=tokens,
        )
    finally:
        os.kill(proc.pid, 15)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


def skopeo(registry: RunningRegistry, ref: str, *args: str) -> bytes:
    """``skopeo inspect --tls-verify=false <args> docker://<host>/<ref>`` → stdout."""
    ensure_registry_tools()
    env = dict(os.environ, HOME=str(registry.root), XDG_RUNTIME_DIR=str(registry.root))
    result = subprocess.run(
        [
            "skopeo",
            "inspect",
            "--tls-verify=false",
            *registry.skopeo_creds(),
            *args,
            f"docker://{registry.host}/{ref}",
        ],
        capture_output=True,
        timeout=120,
        env=env,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(f"skopeo failed: {result.stderr.decode(errors='replace')}")
    return result.stdout


# --- images ----------------------------------------------------------------------------


@dataclass
class PushedImage:
    """What :func:`push_image` stored: the top manifest (or index) and its parts."""

    repo: Repository
    tag: str
    digest: str
    media_type: str
    raw: bytes
    manifests: dict[str, bytes] = field(default_factory=dict)  # digest -> raw (children)
    configs: dict[str, bytes] = field(default_factory=dict)  # platform -> config bytes
    platform_digests: dict[str, str] = field(default_factory=dict)  # platform -> digest
    blobs: dict[str, bytes] = field(default_factory=dict)  # digest -> bytes

    @property
    def descriptor(self) -> Descriptor:
        return Descriptor(self.media_type, self.digest, len(self.raw))


def image_config(os_: str, arch: str, variant: str, layer: bytes, labels: dict[str, str]) -> bytes:
    config = {
        "architecture": arch,
        "os": os_,
        **({"variant": variant} if variant else {}),
        "created": "2024-05-06T07:08:09.123456789Z",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin", f"ARCH={arch}"],
            "Labels": labels,
            "User": "65532:65532",
            "Volumes": {"/data": {}, "/var/cache/app": {}},
            "WorkingDir": "/srv/app",
        },
        "rootfs": {"type": "layers", "diff_ids": [sha256(gzip.decompress(layer))]},
    }
    return canonical(config)


def push_image(
    client: RegistryClient,
    repo: Repository,
    tag: str,
    *,
    platforms: tuple[str, ...] = ("linux/amd64",),
    docker: bool = False,
    index: bool | None = None,
    labels: dict[str, str] | None = None,
    seed: str = "",
) -> PushedImage:
    """Push a single-platform image or a multi-platform index (OCI or Docker v2)."""
    children: list[dict[str, Any]] = []
    result = PushedImage(repo=repo, tag=tag, digest="", media_type="", raw=b"")
    for platform in platforms:
        os_, arch, *rest = platform.split("/")
        variant = rest[0] if rest else ""
        payload = f"layer {seed} {platform}\n".encode() * 50
        layer = gzip.compress(payload, mtime=0)
        config = image_config(
            os_, arch, variant, layer, labels or {"org.opencontainers.image.title": "fixture"}
        )
        layer_desc = client.push_blob(repo, layer, media_type=DOCKER_LAYER if docker else OCI_LAYER)
        config_desc = client.push_blob(
            repo, config, media_type=DOCKER_CONFIG if docker else OCI_CONFIG
        )
        media_type = DOCKER_MANIFEST if docker else OCI_MANIFEST
        manifest = canonical(
            {
                "schemaVersion": 2,
                "mediaType": media_type,
                "config": _desc(config_desc),
                "layers": [_desc(layer_desc)],
            }
        )
        want_index = index if index is not None else len(platforms) > 1
        desc = client.push_manifest(repo, manifest, media_type, tag=None if want_index else tag)
        result.blobs[layer_desc.digest] = layer
        result.blobs[config_desc.digest] = config
        result.configs[platform] = config
        result.platform_digests[platform] = desc.digest
        result.manifests[desc.digest] = manifest
        plat = {"os": os_, "architecture": arch, **({"variant": variant} if variant else {})}
        children.append({**_desc(desc), "platform": plat})
        if not want_index:
            result.digest, result.media_type, result.raw = desc.digest, media_type, manifest
    if result.digest:
        return result
    media_type = DOCKER_LIST if docker else OCI_INDEX
    raw = canonical({"schemaVersion": 2, "mediaType": media_type, "manifests": children})
    desc = client.push_manifest(repo, raw, media_type, tag=tag)
    result.digest, result.media_type, result.raw = desc.digest, media_type, raw
    return result


def _desc(d: Descriptor) -> dict[str, Any]:
    return {"mediaType": d.media_type, "digest": d.digest, "size": d.size}


def push_referrer(
    client: RegistryClient,
    repo: Repository,
    subject: Descriptor,
    artifact_type: str,
    payload: bytes,
    *,
    layer_type: str = "application/octet-stream",
    annotations: dict[str, str] | None = None,
    update_tag: bool = True,
) -> Descriptor:
    """An OCI 1.1 artifact whose ``subject`` is ``subject``, plus the referrers-tag index.

    distribution 2.8 keeps no referrers index itself (no ``OCI-Subject`` on the PUT), so
    the pusher maintains the fallback tag, as the distribution spec says.
    """
    empty = client.push_blob(repo, b"{}", media_type=OCI_EMPTY)
    layer = client.push_blob(repo, payload, media_type=layer_type)
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": _desc(empty),
        "layers": [_desc(layer)],
        "subject": _desc(subject),
    }
    if annotations:
        manifest["annotations"] = annotations
    desc = client.push_manifest(repo, canonical(manifest), OCI_MANIFEST)
    if update_tag:
        tag = referrers_tag(subject.digest)
        entries: list[dict[str, Any]] = []
        with contextlib.suppress(Exception):
            current = client.get_manifest(repo, tag)
            entries = json.loads(current.raw).get("manifests", [])
        entry = {**_desc(desc), "artifactType": artifact_type}
        if annotations:
            entry["annotations"] = annotations
        entries.append(entry)
        index = canonical({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries})
        client.push_manifest(repo, index, OCI_INDEX, tag=tag)
    return Descriptor(OCI_MANIFEST, desc.digest, desc.size, artifact_type=artifact_type)


# --- servers that misbehave ----------------------------------------------------------------

#: What the bad registry serves when it serves something correct.
GOOD_BLOB = b"the blob a registry should have served\n" * 20
TAMPERED_BLOB = b"the blob an attacker would like you to run\n" * 20
GOOD_MANIFEST = canonical(
    {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": sha256(GOOD_BLOB), "size": len(GOOD_BLOB)},
        "layers": [],
    }
)
TAMPERED_MANIFEST = GOOD_MANIFEST.replace(b'"layers":[]', b'"layers":[ ]')
HTML_PAGE = (
    b"<!DOCTYPE html><html><head><title>500 Internal Server Error</title>"
    b"<style>body{font-family:sans-serif}</style></head><body><h1>Oops</h1>"
    + b"<p>"
    + b"stack trace line<br>" * 500
    + b"</p></body></html>"
)


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    peer: int = 0  # the client's port: one per TCP connection


class HungServer:
    """Accepts TCP connections and never answers (a wedged proxy or registry)."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.port = int(self._sock.getsockname()[1])
        self._conns: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        self._sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            self._conns.append(conn)

    def __enter__(self) -> HungServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for conn in self._conns:
            conn.close()
        self._sock.close()


class BadRegistry:
    """One loopback server, many misbehaviours, chosen by the repository name.

    ``/v2/<case>/...``: see :meth:`_route`. A second server on another port plays the
    blob storage a registry redirects to, recording whether credentials arrived.
    """

    basic_user = "bad-user"
    basic_password = "bad-password-9c1f"

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.storage_seen: list[Seen] = []
        self.remote_realm = "http://192.0.2.1/token"
        self._counters: dict[str, int] = {}
        self._lock = threading.Lock()
        self._server = QuietServer(("127.0.0.1", 0), self._handler(storage=False))
        self._server.daemon_threads = True
        self._storage = QuietServer(("127.0.0.1", 0), self._handler(storage=True))
        self._storage.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self.storage_port = int(self._storage.server_address[1])
        self._threads = [
            threading.Thread(target=s.serve_forever, daemon=True)
            for s in (self._server, self._storage)
        ]

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def repo(self, case: str) -> Repository:
        return Repository(self.host, case)

    def __enter__(self) -> BadRegistry:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for s in (self._server, self._storage):
            s.shutdown()
            s.server_close()

    def reset(self) -> None:
        with self._lock:
            self.seen.clear()
            self.storage_seen.clear()
            self._counters.clear()

    def count(self, prefix: str) -> int:
        with self._lock:
            return sum(1 for s in self.seen if s.path.startswith(prefix))

    def _bump(self, key: str) -> int:
        with self._lock:
            self._counters[key] = self._counters.get(key, 0) + 1
            return self._counters[key]

    @property
    def basic_header(self) -> str:
        raw = f"{self.basic_user}:{self.basic_password}".encode()
        return "Basic " + base64.b64encode(raw).decode()

    def _handler(self, *, storage: bool) -> type[BaseHTTPRequestHandler]:
        bad = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # no 40 ms delayed-ACK stalls on keep-alive

            def log_message(self, format: str, *args: object) -> None:
                pass

            def send(
                self,
                status: int,
                body: bytes = b"",
                headers: dict[str, str] | None = None,
                *,
                length: int | None = None,
            ) -> None:
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body) if length is None else length))
                self.end_headers()
                if self.command != "HEAD":
                    with contextlib.suppress(OSError):
                        self.wfile.write(body)

            def error_json(self, status: int, code: str, message: str) -> None:
                body = canonical({"errors": [{"code": code, "message": message, "detail": {}}]})
                self.send(status, body, {"Content-Type": "application/json"})

            def handle_any(self) -> None:
                record = Seen(
                    self.command, self.path, dict(self.headers.items()), self.client_address[1]
                )
                with bad._lock:
                    (bad.storage_seen if storage else bad.seen).append(record)
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                if storage:
                    self.send(200, GOOD_BLOB, {"Content-Type": "application/octet-stream"})
                    return
                bad._route(self)

            do_GET = handle_any
            do_HEAD = handle_any
            do_POST = handle_any
            do_PUT = handle_any

        return Handler

    def _route(self, h: Any) -> None:
        url = urllib.parse.urlsplit(h.path)
        path = url.path
        query = urllib.parse.parse_qs(url.query)
        parts = path.split("/")
        # /v2/<case>/<kind>/<ref>
        if path.startswith("/loop-token"):
            h.send(
                401,
                b'{"details":"no"}',
                {
                    "Content-Type": "application/json",
                    "WWW-Authenticate": f'Bearer realm="http://{self.host}/loop-token"',
                },
            )
            return
        if path.startswith("/ok-token"):
            body = canonical({"access_token": "opaque-token-abc123", "expires_in": 300})
            h.send(200, body, {"Content-Type": "application/json"})
            return
        if path.startswith("/store/"):
            with self._lock:
                self.storage_seen.append(Seen(h.command, h.path, dict(h.headers.items())))
            h.send(200, GOOD_BLOB, {"Content-Type": "application/octet-stream"})
            return
        if path.startswith("/store-tampered/"):
            h.send(200, TAMPERED_BLOB, {"Content-Type": "application/octet-stream"})
            return
        if len(parts) < 5 or parts[1] != "v2":
            h.send(404, b"404 page not found\n", {"Content-Type": "text/plain; charset=utf-8"})
            return
        case, kind, ref = parts[2], parts[3], "/".join(parts[4:])
        manifest_headers = {
            "Content-Type": OCI_MANIFEST,
            "Docker-Content-Digest": sha256(GOOD_MANIFEST),
        }

        if case == "tampered":
            if kind == "blobs":
                h.send(200, TAMPERED_BLOB, {"Content-Type": "application/octet-stream"})
            elif ref.startswith("sha256:"):
                h.send(200, TAMPERED_MANIFEST, {"Content-Type": OCI_MANIFEST})
            else:  # by tag: the header names the good digest, the body is different
                h.send(200, TAMPERED_MANIFEST, manifest_headers)
        elif case == "liar-head":  # HEAD names a digest; GET by that digest serves other bytes
            if h.command == "HEAD":
                h.send(200, b"", manifest_headers, length=len(GOOD_MANIFEST))
            else:
                h.send(200, TAMPERED_MANIFEST, {"Content-Type": OCI_MANIFEST})
        elif case == "nodigest":
            h.send(200, GOOD_MANIFEST, {"Content-Type": OCI_MANIFEST})
        elif case == "big":
            if kind == "blobs":
                h.send(200, b"x" * (2 * 1024 * 1024), {"Content-Type": "application/octet-stream"})
            elif ref == "chunked":
                self._stream_forever(h)
            else:
                body = b'{"schemaVersion":2,"pad":"' + b"p" * (5 * 1024 * 1024) + b'"}'
                h.send(
                    200, body, {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": sha256(body)}
                )
        elif case == "malformed":
            body = b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json"'
            if kind == "referrers":
                h.send(200, body, {"Content-Type": OCI_INDEX})
            else:
                h.send(
                    200, body, {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": sha256(body)}
                )
        elif case == "badjsonerror":
            h.send(
                400,
                b'{"errors": [{"code": "MANIFEST_INVALID", "mess',
                {"Content-Type": "application/json"},
            )
        elif case == "html500":
            h.send(500, HTML_PAGE, {"Content-Type": "text/html; charset=utf-8"})
        elif case == "html404":
            h.send(
                404,
                HTML_PAGE.replace(b"500 Internal Server Error", b"404 Not Found"),
                {"Content-Type": "text/html"},
            )
        elif case == "unknown":
            h.error_json(404, "NAME_UNKNOWN", "repository name not known to registry")
        elif case == "denied":
            h.error_json(403, "DENIED", "requested access to the resource is denied")
        elif case == "loop":
            h.send(
                401,
                b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}',
                {
                    "Content-Type": "application/json",
                    "WWW-Authenticate": f'Bearer realm="http://{self.host}/loop-token",'
                    f'service="bad",scope="repository:loop:pull"',
                },
            )
        elif case == "reject":  # issues tokens, then rejects them all
            h.send(
                401,
                b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}',
                {
                    "Content-Type": "application/json",
                    "WWW-Authenticate": f'Bearer realm="http://{self.host}/ok-token",service="bad"',
                },
            )
        elif case == "remote-realm":  # a token realm somewhere else, over plain HTTP
            if h.headers.get("Authorization", "").startswith("Bearer "):
                h.send(200, GOOD_MANIFEST, manifest_headers)
            else:
                h.send(
                    401,
                    b"",
                    {"WWW-Authenticate": f'Bearer realm="{self.remote_realm}",service="bad"'},
                )
        elif case == "echo":  # an error body that echoes the Authorization header back
            auth = h.headers.get("Authorization")
            if not auth:
                h.send(401, b"", {"WWW-Authenticate": 'Basic realm="echo"'})
            else:
                h.error_json(400, "UNSUPPORTED", f"cannot handle request with Authorization {auth}")
        elif case in ("storm", "flaky503"):
            n = self._bump(f"{case}:{path}")
            if n <= 2:
                if case == "storm":
                    h.send(429, b"slow down", {"Content-Type": "text/plain", "Retry-After": "1"})
                else:
                    h.send(
                        503,
                        b"<html><title>503 Service Unavailable</title></html>",
                        {"Content-Type": "text/html"},
                    )
            else:
                h.send(200, GOOD_MANIFEST, manifest_headers)
        elif case == "slowdown":
            body = canonical(
                {"errors": [{"code": "TOOMANYREQUESTS", "message": "too many requests"}]}
            )
            h.send(429, body, {"Content-Type": "application/json", "Retry-After": "3600"})
        elif case == "slowdate":
            when = email.utils.format_datetime(
                datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1), usegmt=True
            )
            h.send(429, b"", {"Retry-After": when})
        elif case == "broken-body":  # announces more than it sends the first time
            n = self._bump(f"{case}:{path}")
            if n == 1:
                h.send_response(200)
                h.send_header("Content-Type", OCI_MANIFEST)
                h.send_header("Docker-Content-Digest", sha256(GOOD_MANIFEST))
                h.send_header("Content-Length", str(len(GOOD_MANIFEST)))
                h.send_header("Connection", "close")
                h.end_headers()
                h.wfile.write(GOOD_MANIFEST[:40])
                h.wfile.flush()
                h.close_connection = True
                with contextlib.suppress(OSError):
                    h.connection.shutdown(socket.SHUT_RDWR)
            else:
                h.send(200, GOOD_MANIFEST, manifest_headers)
        elif case.startswith("redirect"):
            hop = "hop" in query  # a followed redirect: never carries credentials
            if not hop and h.headers.get("Authorization") != self.basic_header:
                h.send(401, b"", {"WWW-Authenticate": 'Basic realm="bad"'})
                return
            target = {
                "redirect": f"http://127.0.0.1:{self.storage_port}/blob/{ref}",
                "redirect-same": f"/store/{ref}",
                "redirect-tampered": f"/store-tampered/{ref}",
                "redirect-loop": f"/v2/{case}/blobs/{ref}?hop={self._bump(case)}",
            }[case]
            h.send(307, b"", {"Location": target})
        elif case == "record":  # a mirror that has nothing
            h.error_json(
                404, "MANIFEST_UNKNOWN" if kind == "manifests" else "BLOB_UNKNOWN", "unknown"
            )
        elif case.startswith("referrers"):
            self._referrers(h, case, ref, query)
        else:
            h.send(404, b"404 page not found\n", {"Content-Type": "text/plain; charset=utf-8"})

    def _referrers(self, h: Any, case: str, ref: str, query: dict[str, list[str]]) -> None:
        entries = [
            {
                "mediaType": OCI_MANIFEST,
                "digest": sha256(b"a"),
                "size": 10,
                "artifactType": SIGSTORE_BUNDLE,
            },
            {
                "mediaType": OCI_MANIFEST,
                "digest": sha256(b"b"),
                "size": 11,
                "artifactType": ATTESTATION_ARTIFACT,
            },
        ]
        headers = {"Content-Type": OCI_INDEX}
        wanted = query.get("artifactType", [None])[0]
        if case == "referrers-api" and wanted:
            entries = [e for e in entries if e["artifactType"] == wanted]
            headers["OCI-Filters-Applied"] = "artifactType"
        if case == "referrers-paged":
            page = query.get("page", ["1"])[0]
            if page == "1":
                entries = entries[:1]
                headers["Link"] = f'</v2/{case}/referrers/{ref}?page=2>; rel="next"'
            else:
                entries = entries[1:]
        if case == "referrers-bad-entry":
            entries = [{"mediaType": OCI_MANIFEST, "digest": "md5:abc", "size": 1}]
        body = canonical({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries})
        h.send(200, body, headers)

    def _stream_forever(self, h: Any) -> None:
        """A chunked manifest that never ends; records how much got written."""
        h.send_response(200)
        h.send_header("Content-Type", OCI_MANIFEST)
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        chunk = b"z" * 65536
        sent = 0
        try:
            while sent < 256 * 1024 * 1024:
                h.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
        except OSError:
            pass
        with self._lock:
            self._counters["streamed"] = sent
        h.close_connection = True

    def streamed(self) -> int:
        with self._lock:
            return self._counters.get("streamed", -1)


# --- a server on a non-loopback address ------------------------------------------------------


def non_loopback_address() -> str | None:
    """An address of this machine that is not loopback (None when there is none).

    A UDP "connect" only picks the route; no packet is sent.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))
            address = str(s.getsockname()[0])
        except OSError:
            return None
    if address.startswith("127.") or address == "0.0.0.0":  # noqa: S104 - a comparison
        return None
    try:
        with socket.socket() as probe:
            probe.bind((address, 0))
    except OSError:
        return None
    return address


class RecordingServer:
    """A server on any address that records requests; ``mode`` says what it plays.

    ``token``: a token endpoint that hands out a fixed token. ``basic-registry``: a
    registry that wants Basic credentials and then serves :data:`GOOD_MANIFEST`.
    """

    def __init__(self, address: str, mode: str) -> None:
        self.mode = mode
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._server = QuietServer((address, 0), self._handler())
        self._server.daemon_threads = True
        self.address = address
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def host(self) -> str:
        return f"{self.address}:{self.port}"

    def __enter__(self) -> RecordingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        rec = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # no 40 ms delayed-ACK stalls on keep-alive

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                with rec._lock:
                    rec.seen.append(Seen(self.command, self.path, dict(self.headers.items())))
                headers: dict[str, str]
                if rec.mode == "token":
                    status, body = 200, canonical({"token": "remote-token-123", "expires_in": 300})
                    headers = {"Content-Type": "application/json"}
                elif self.headers.get("Authorization", "").startswith("Basic "):
                    status, body = 200, GOOD_MANIFEST
                    headers = {
                        "Content-Type": OCI_MANIFEST,
                        "Docker-Content-Digest": sha256(GOOD_MANIFEST),
                    }
                else:
                    status, body = 401, b""
                    headers = {"WWW-Authenticate": 'Basic realm="remote"'}
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_HEAD = do_GET

        return Handler

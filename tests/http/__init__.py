"""A real HTTP(S) server on 127.0.0.1 for tests of buildsig's HTTP clients.

Tests install *routes* (a function per path that writes the whole response by hand), so
a route can misbehave the way real servers do: stall, trickle, lie about its length,
redirect, fail a few times and then succeed. Every request is recorded with its raw
target and headers, so tests can assert what was actually sent on the wire.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class Request:
    """One request as the server saw it."""

    method: str
    target: str  # as sent: "/path?query", or "http://host/path" through a proxy
    headers: Mapping[str, str]  # lower-case names
    peer: tuple[str, int] = ("", 0)  # the client's address: same port, same connection

    @property
    def path(self) -> str:
        return urlsplit(self.target).path


Route = Callable[["Handler", Request], None]


class Handler(BaseHTTPRequestHandler):
    """Looks the request up in the server's routes (full target first, then path)."""

    protocol_version = "HTTP/1.1"  # keep-alive, so connection reuse is exercised
    server: LocalServer._Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        request = Request(
            self.command,
            self.path,
            {k.lower(): v for k, v in self.headers.items()},
            (str(self.client_address[0]), int(self.client_address[1])),
        )
        owner = self.server.owner
        with owner.lock:
            owner.requests.append(request)
            route = owner.routes.get(self.path) or owner.routes.get(request.path)
        if route is None:
            send(self, 404, b"no route\n")
        else:
            route(self, request)

    def send_raw(self, data: bytes) -> None:
        self.wfile.write(data)
        self.wfile.flush()


def send(
    handler: BaseHTTPRequestHandler,
    status: int,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
) -> None:
    """A complete response with a correct Content-Length."""
    handler.send_response(status)
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)
    handler.wfile.flush()


def body(data: bytes, status: int = 200, headers: Mapping[str, str] | None = None) -> Route:
    """A route answering ``data`` with ``status``."""
    return lambda handler, _request: send(handler, status, data, headers)


def redirect(location: str, status: int = 302) -> Route:
    """A route redirecting to ``location``."""
    return lambda handler, _request: send(handler, status, b"", {"Location": location})


def sequence(*routes: Route) -> Route:
    """A route that answers with ``routes[0]`` first, then the next; the last repeats."""
    lock = threading.Lock()
    calls = [0]

    def route(handler: Handler, request: Request) -> None:
        with lock:
            index = min(calls[0], len(routes) - 1)
            calls[0] += 1
        routes[index](handler, request)

    return route


class LocalServer:
    """A threading HTTP (or, with ``tls``, HTTPS) server on 127.0.0.1 and a free port."""

    class _Server(ThreadingHTTPServer):
        daemon_threads = True
        owner: LocalServer

        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # clients hanging up on stalled or oversized responses are expected

        def get_request(self) -> tuple[Any, Any]:
            with self.owner.lock:
                self.owner.connections += 1  # counted before a TLS handshake can fail
            return super().get_request()

    def __init__(self, *, tls: ssl.SSLContext | None = None) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[Request] = []
        #: connections accepted (or attempted, for TLS handshakes that failed)
        self.connections = 0
        self.lock = threading.Lock()
        #: set when the server stops: stalling routes wait on it so they end promptly
        self.stopping = threading.Event()
        self._server = self._Server(("127.0.0.1", 0), Handler)
        self._server.owner = self
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.scheme = "https" if tls is not None else "http"
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def url(self, target: str) -> str:
        return self.base_url + target

    def hits(self, path: str) -> list[Request]:
        """The requests made for ``path`` (query ignored)."""
        with self.lock:
            return [r for r in self.requests if r.path == path]

    def start(self) -> LocalServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class TLSFiles:
    """A throwaway CA and a server certificate for 127.0.0.1 signed by it."""

    ca_pem: Path
    server_context: ssl.SSLContext


def make_tls(directory: Path) -> TLSFiles:
    """Write a CA certificate to ``directory`` and build a server context trusting it."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "buildsig test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_pem = directory / "ca.pem"
    ca_pem.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_pem = directory / "server.pem"
    cert_pem.write_bytes(
        leaf.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_pem)
    return TLSFiles(ca_pem=ca_pem, server_context=context)


def chunks(handler: Handler, parts: Iterator[bytes]) -> None:
    """Send ``parts`` with chunked transfer encoding (no Content-Length)."""
    handler.send_response(200)
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    for part in parts:
        handler.send_raw(f"{len(part):x}\r\n".encode() + part + b"\r\n")
    handler.send_raw(b"0\r\n\r\n")

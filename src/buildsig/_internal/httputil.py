"""HTTP helpers shared by the registry client and the general HTTP client.

Both clients read proxies from the environment the way Go's ``http.ProxyFromEnvironment``
does (including ``NO_PROXY`` with CIDRs and ports), reach them the same way (Basic proxy
auth from the proxy URL's user info), trust the same CA bundle and honour
``Retry-After``; one copy of those rules keeps them from drifting apart.
"""

from __future__ import annotations

import base64
import email.utils
import importlib.util
import ipaddress
import os
import urllib.parse
import urllib.request
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import urllib3

__all__ = [
    "bypasses_proxy",
    "default_ca_bundle",
    "environ_ca_bundle",
    "environ_proxy",
    "parse_retry_after",
    "proxy_pool_manager",
]

#: Environment variables naming a CA bundle, in the order requests and curl read them.
CA_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE")


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP date; None if absent."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def bypasses_proxy(parts: urllib.parse.SplitResult) -> bool:
    """Whether ``NO_PROXY`` exempts this URL's host, with the rules ``requests`` applies.

    Entries match a host exactly or as a domain suffix (with or without the port); an
    IPv4 host also matches an entry that is its address or a CIDR network holding it;
    then the standard library's own ``no_proxy`` rules (``*`` and the like) apply.
    """
    host = parts.hostname
    if host is None:
        return True
    no_proxy = os.environ.get("no_proxy") or os.environ.get("NO_PROXY")
    if no_proxy:
        entries = [e for e in no_proxy.replace(" ", "").split(",") if e]
        try:
            address: ipaddress.IPv4Address | None = ipaddress.IPv4Address(host)
        except ValueError:
            address = None
        if address is not None:
            for entry in entries:
                if "/" in entry:
                    try:
                        network = ipaddress.IPv4Network(entry, strict=False)
                    except ValueError:
                        continue
                    if network.prefixlen > 0 and address in network:
                        return True
                elif entry == host:
                    return True
        else:
            with_port = f"{host}:{parts.port}" if parts.port else host
            for entry in entries:
                name = entry.lstrip(".")
                if name in (host, with_port):
                    return True
                if host.endswith("." + name) or with_port.endswith("." + name):
                    return True
    try:
        return bool(urllib.request.proxy_bypass(host))
    except (TypeError, OSError):
        return False


def environ_proxy(url: str) -> str | None:
    """The proxy URL the environment names for ``url``, or None for a direct connection."""
    parts = urllib.parse.urlsplit(url)
    if bypasses_proxy(parts):
        return None
    proxies = urllib.request.getproxies()
    host = parts.hostname or ""
    for key in (f"{parts.scheme}://{host}", parts.scheme, f"all://{host}", "all"):
        if key in proxies:
            proxy = proxies[key]
            return proxy if "://" in proxy else "http://" + proxy
    return None


def default_ca_bundle() -> str | None:
    """Certifi's CA bundle (what ``requests`` trusts by default), else None: the system's."""
    try:
        import certifi
    except ImportError:  # pragma: no cover - certifi comes with the sigstore dependency
        return None
    return str(certifi.where())


def environ_ca_bundle() -> str | None:
    """The CA bundle the environment names (``REQUESTS_CA_BUNDLE`` …), else certifi's."""
    for variable in CA_BUNDLE_VARIABLES:
        value = os.environ.get(variable)
        if value:
            return value
    return default_ca_bundle()


def proxy_pool_manager(
    proxy: str, pool_kw: Mapping[str, Any], *, socks: bool = True
) -> urllib3.PoolManager:
    """A pool manager that reaches servers through ``proxy``.

    The proxy URL's user info becomes Basic ``Proxy-Authorization`` (UTF-8, as curl and
    Go send it) and is not kept in the URL. ``socks5://`` and friends need PySocks, and
    ``socks=False`` refuses them. Raises ValueError for a proxy that cannot be used.
    """
    import urllib3

    split = urllib.parse.urlsplit(proxy)
    if not split.hostname:
        raise ValueError("malformed proxy URL")
    scheme = split.scheme.lower()
    username = urllib.parse.unquote(split.username or "")
    password = urllib.parse.unquote(split.password or "")
    bare = urllib.parse.urlunsplit(split._replace(netloc=split.netloc.rpartition("@")[2]))
    if scheme.startswith("socks"):
        if not socks:
            raise ValueError(f"{scheme} proxies are not supported")
        if importlib.util.find_spec("socks") is None:  # urllib3 would warn, then fail
            raise ValueError("SOCKS proxies need PySocks")
        from urllib3.contrib.socks import SOCKSProxyManager

        return SOCKSProxyManager(
            proxy, username=username or None, password=password or None, **pool_kw
        )
    if scheme not in ("http", "https"):
        raise ValueError(f"{scheme or 'schemeless'} proxies are not supported")
    headers = {}
    if split.username is not None:
        token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        headers["Proxy-Authorization"] = f"Basic {token}"
    return urllib3.ProxyManager(bare, proxy_headers=headers, **pool_kw)

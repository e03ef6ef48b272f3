"""HTTP helpers shared by the registry client and the general HTTP client.

Both clients read proxies from the environment the way Go's ``http.ProxyFromEnvironment``
does (including ``NO_PROXY`` with CIDRs and ports) and honour ``Retry-After``; one copy
of those rules keeps them from drifting apart.
"""

from __future__ import annotations

import email.utils
import ipaddress
import os
import urllib.parse
import urllib.request
from datetime import UTC, datetime

__all__ = ["bypasses_proxy", "environ_proxy", "parse_retry_after"]


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

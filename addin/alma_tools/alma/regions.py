"""Where Alma is: regional API gateways and the checks on an explicit base URL.

The key decides the institution, the gateway only the region; choosing the wrong region gives "Invalid API
Key". There is deliberately no default region: a silent default would send a European key to North America
and report a confusing key error, so a missing setting is a :class:`ConfigError` that names it.
"""

from __future__ import annotations

import ipaddress
import os
from urllib.parse import urlsplit, urlunsplit

from alma_tools.errors import ConfigError

API_PATH = "/almaws/v1"

#: Gateway of each region. China's host differs between sources; most clients use ``.com.cn``; anyone whose
#: institution uses another can give it as an explicit base URL.
REGIONS: dict[str, str] = {
    "na": "https://api-na.hosted.exlibrisgroup.com",
    "eu": "https://api-eu.hosted.exlibrisgroup.com",
    "ap": "https://api-ap.hosted.exlibrisgroup.com",
    "ca": "https://api-ca.hosted.exlibrisgroup.com",
    "cn": "https://api-cn.hosted.exlibrisgroup.com.cn",
}

BASE_URL_ENV = "ALMA_BASE_URL"


def is_loopback_host(host: str) -> bool:
    """True for ``localhost``, 127.0.0.0/8 and ::1: the only hosts plain http may be used with."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_base_url(base_url: str | None = None, region: str | None = None) -> str:
    """Return the API root (ending in ``/almaws/v1``, no trailing slash) from the settings given.

    Order: an explicit *base_url*, else a *region* code, else the ``ALMA_BASE_URL`` environment variable.
    Giving both a base URL and a region is refused because one of them would be silently ignored.
    """
    if base_url and region:
        raise ConfigError(
            "Both an Alma base URL and a region were given; give only one (the region picks the URL)."
        )
    if region:
        code = region.strip().lower()
        if code not in REGIONS:
            raise ConfigError(
                f"Unknown Alma region {region!r}. Use one of {', '.join(sorted(REGIONS))}, "
                "or give the API base URL itself."
            )
        return REGIONS[code] + API_PATH
    if not base_url:
        base_url = os.environ.get(BASE_URL_ENV, "").strip()
        if not base_url:
            raise ConfigError(
                "No Alma server is set. Choose your region (na, eu, ap, ca or cn: the host in your Alma "
                f"Developer Network key page), or set the {BASE_URL_ENV} environment variable to the API "
                "base URL, e.g. https://api-eu.hosted.exlibrisgroup.com."
            )
    return normalise_base_url(base_url)


def normalise_base_url(base_url: str) -> str:
    """Check an explicit base URL and return it ending in ``/almaws/v1``.

    Refused: anything but http(s); plain http to a host that is not this machine (the key would cross the
    network in clear); a query string or credentials in the URL (a key must never be part of a URL).
    """
    text = base_url.strip()
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"The Alma base URL {text!r} is not a web address; it should look like "
            "https://api-eu.hosted.exlibrisgroup.com (optionally followed by /almaws/v1)."
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigError(
            "The Alma base URL must be only the server address (and /almaws/v1): remove the part after "
            "'?' or '#' and any name or password; the API key is set separately."
        )
    if scheme == "http" and not is_loopback_host(parts.hostname):
        raise ConfigError(
            f"The Alma base URL uses plain http:// to {parts.hostname}; the API key would travel "
            "unencrypted. "
            "Use https:// (plain http is only allowed for a simulator on this computer)."
        )
    path = parts.path.rstrip("/")
    if not path.endswith(API_PATH):
        path += API_PATH
    return urlunsplit((scheme, parts.netloc.lower(), path, "", ""))

"""Who a request comes from: the client's address (through trusted proxies only) and the user its token names."""

import hashlib
import ipaddress
from functools import cache

from crm_kernel.config import env


@cache
def _networks(setting: str) -> tuple:
    return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in setting.split(",") if part.strip())


def trusted_proxies() -> tuple:
    """`CRM_TRUSTED_PROXIES`: comma-separated addresses or networks (CIDR) of the proxies in front."""
    return _networks(env("CRM_TRUSTED_PROXIES", ""))


def _trusted(address: str, proxies: tuple) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in proxies)


def client_address(request) -> str:
    """The address of the client: the peer, unless the peer is a trusted proxy; then the right-most
    `X-Forwarded-For` hop that is not a trusted proxy (every hop left of it could be forged)."""
    address = request.remote_addr or ""
    proxies = trusted_proxies()
    if not proxies or not _trusted(address, proxies):
        return address
    hops = [hop.strip() for line in request.headers.getlist("X-Forwarded-For") for hop in line.split(",")]
    for hop in reversed([hop for hop in hops if hop]):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return address  # not written by a proxy we trust: the last trusted hop is all we know
        if not _trusted(hop, proxies):
            return hop
        address = hop
    return address


def login_keys(email: str, address: str) -> list[str]:
    """The throttle keys of a login attempt: the (account, address) pair, so that failures from one
    place never lock the account for everyone else, and the address, so that one place cannot try
    many accounts. Hashed: a key never holds what was typed into the e-mail field."""
    pair = hashlib.sha256(f"{email}\n{address}".encode()).hexdigest()
    return [f"pair:{pair}", f"address:{address}"]

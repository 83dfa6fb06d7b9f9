"""The egress rule (SPEC §11): an organisation's delivery server never reaches the operator's network.

A feed's ``delivery_server`` is written by an organisation. It is resolved
once per attempt; when any address it resolves to lies in a denied network,
the attempt fails at once and for good, before any connection, naming the
rule; otherwise the connection goes to the address that was checked, so a
second lookup cannot answer differently (DNS rebinding). Every spelling of an
address is caught because the check is on what the name resolves to
(``localhost``, ``127.1``, ``2130706433``, ``0x7f000001``, ``[::1]``,
``::ffff:127.0.0.1``). ``delivery.allow_networks`` exempts CIDRs; the
operator's own targets (``[smtp]``, ``[sitc]``, the alert webhook) are not
subject to the rule.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable

from .errors import DeliveryError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: (network, the rule's name) denied by default
DENIED: tuple[tuple[Network, str], ...] = tuple(
    (ipaddress.ip_network(cidr), name)
    for cidr, name in [
        ("127.0.0.0/8", "loopback"), ("::1/128", "loopback"),
        ("0.0.0.0/8", "unspecified"), ("::/128", "unspecified"),
        ("10.0.0.0/8", "private"), ("172.16.0.0/12", "private"), ("192.168.0.0/16", "private"),
        ("fc00::/7", "private"),
        ("169.254.0.0/16", "link-local"), ("fe80::/10", "link-local"),
        ("100.64.0.0/10", "shared address space"),
        ("224.0.0.0/4", "multicast"), ("ff00::/8", "multicast"),
        ("255.255.255.255/32", "broadcast"),
    ]
)


def parse_networks(cidrs: Iterable[str]) -> tuple[Network, ...]:
    """``delivery.allow_networks`` as networks; ValueError names a bad entry."""
    networks = []
    for cidr in cidrs:
        try:
            networks.append(ipaddress.ip_network(cidr.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{cidr!r} is not a network such as 192.0.2.0/24") from None
    return tuple(networks)


def _plain(address: IPAddress) -> IPAddress:
    """An IPv4 address written as IPv6 (``::ffff:127.0.0.1``) is judged as the IPv4 address it is."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
    return address


def denied_by(address: IPAddress, allowed: tuple[Network, ...] = ()) -> str | None:
    """The rule that denies ``address``, or None when it may be connected to."""
    address = _plain(address)
    if any(address.version == net.version and address in net for net in allowed):
        return None
    for network, name in DENIED:
        if address.version == network.version and address in network:
            return f"{name} ({network})"
    return None


def resolve(host: str, port: int, allowed: tuple[Network, ...] = ()) -> str:
    """The address to connect to for ``host``: resolved once, every address checked.

    Raises a permanent DeliveryError when any address is denied; a failed
    lookup is transient (DNS may come back).
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise DeliveryError(f"the host name {host!r} could not be resolved ({exc.strerror})", transient=True,
                            reason="host not found") from None
    addresses = []
    for info in infos:
        text = str(info[4][0]).split("%", 1)[0]
        address = ipaddress.ip_address(text)
        rule = denied_by(address, allowed)
        if rule is not None:
            shown = host if host == text else f"{host} ({text})"
            raise DeliveryError(
                f"{shown} is in a denied network: {rule}; an organisation's delivery server may not reach the "
                "operator's own network (exempt it with delivery.allow_networks if it is really meant)",
                reason="address refused",
            )
        addresses.append(text)
    if not addresses:
        raise DeliveryError(f"the host name {host!r} has no address", transient=True, reason="host not found")
    return addresses[0]


def is_loopback(host: str) -> bool:
    """Whether a host name or address given in the settings is this machine's loopback (no DNS lookup)."""
    host = host.strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False

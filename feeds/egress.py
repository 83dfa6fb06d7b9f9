"""The egress rule (SPEC §11): an organisation's delivery server never reaches the operator's network.

A feed's ``delivery_server`` is written by an organisation. It is resolved
once per attempt; when any address it resolves to is denied, the attempt
fails at once and for good, before any connection, naming the rule;
otherwise the connection goes to the address that was checked, so a second
lookup cannot answer differently (DNS rebinding). Every spelling of an
address is caught because the check is on what the name resolves to
(``localhost``, ``127.1``, ``2130706433``, ``0x7f000001``, ``[::1]``,
``::ffff:127.0.0.1``).

What is denied: every address that is not globally routable. ``DENIED``
names the networks of the IANA special-purpose address registries (IPv4 and
IPv6) and the other blocks that are not global unicast (multicast, the IPv6
space the IETF keeps reserved outside 2000::/3); first match names the rule.
``GLOBAL`` are the few special-purpose networks the registries mark globally
reachable inside a denied block (2001::/23), which are allowed. Python's
``is_global`` is the backstop for anything the tables miss.

An IPv6 address that carries an IPv4 address is judged by that IPv4 address
(``carried``): IPv4-mapped ``::ffff:a.b.c.d``, IPv4-translated
``::ffff:0:a.b.c.d``, IPv4-compatible ``::a.b.c.d`` (but ``::`` and ``::1``
are themselves), NAT64 ``64:ff9b::/96`` (RFC 6052: the last 32 bits), 6to4
``2002::/16`` and Teredo ``2001::/32`` (both the server's and the client's
de-obfuscated address must pass). The local-use NAT64 prefix
``64:ff9b:1::/48`` (RFC 8215) is denied as a whole: it is not globally
routable, and where the IPv4 address sits in it depends on the prefix length
an operator chose, which an address alone does not tell.

``delivery.allow_networks`` exempts CIDRs. An exemption matches the address
as resolved or the IPv4 address it carries: ``10.0.0.0/8`` exempts
``10.1.2.3``, ``::ffff:10.1.2.3`` and ``64:ff9b::a01:203`` alike (they all
end up at 10.1.2.3), and ``64:ff9b::/96`` exempts every NAT64 address. The
operator's own targets (``[smtp]``, ``[sitc]``, the alert webhook) are not
subject to the rule.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass

from .errors import DeliveryError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _table(rows: list[tuple[str, str]]) -> tuple[tuple[Network, str], ...]:
    return tuple((ipaddress.ip_network(cidr), name) for cidr, name in rows)


#: (network, the rule's name) denied by default; the first match names the rule, so specific networks
#: come before the blocks that hold them
DENIED: tuple[tuple[Network, str], ...] = _table([
    # IPv4 (IANA IPv4 Special-Purpose Address Registry, multicast, broadcast)
    ("127.0.0.0/8", "loopback"),
    ("0.0.0.0/8", "unspecified"),
    ("10.0.0.0/8", "private"), ("172.16.0.0/12", "private"), ("192.168.0.0/16", "private"),
    ("169.254.0.0/16", "link-local"),
    ("100.64.0.0/10", "shared address space"),
    ("224.0.0.0/4", "multicast"),
    ("255.255.255.255/32", "broadcast"),
    ("192.0.0.0/29", "IPv4 service continuity (DS-Lite)"),
    ("192.0.0.8/32", "IPv4 dummy address"),
    ("192.0.0.170/31", "NAT64/DNS64 discovery"),
    # anycast to "the nearest" PCP or TURN server (192.0.0.9, 192.0.0.10) is the operator's own network
    ("192.0.0.0/24", "IETF protocol assignments"),
    ("192.0.2.0/24", "documentation"), ("198.51.100.0/24", "documentation"), ("203.0.113.0/24", "documentation"),
    ("198.18.0.0/15", "benchmarking"),
    ("240.0.0.0/4", "reserved"),
    # IPv6 (IANA IPv6 Special-Purpose Address Registry, multicast, the IETF's reserved space)
    ("::1/128", "loopback"),
    ("::/128", "unspecified"),
    ("fc00::/7", "private"),
    ("fe80::/10", "link-local"),
    ("ff00::/8", "multicast"),
    ("fec0::/10", "site-local"),
    ("64:ff9b:1::/48", "local-use IPv4/IPv6 translation"),
    ("100::/64", "discard-only"),
    ("100:0:0:1::/64", "dummy IPv6 prefix"),
    ("2001:db8::/32", "documentation"), ("3fff::/20", "documentation"),
    ("2001:2::/48", "benchmarking"),
    ("2001:10::/28", "deprecated ORCHID"),
    ("2001:20::/28", "ORCHIDv2 identifiers"),
    # PCP, TURN and DNS-SD SRP anycast (2001:1::1-3) reach "the nearest" server: the operator's own network
    ("2001::/23", "IETF protocol assignments"),
    # outside 2000::/3, the global unicast space, IPv6 is reserved by the IETF
    ("::/8", "reserved"), ("100::/8", "reserved"), ("200::/7", "reserved"), ("400::/6", "reserved"),
    ("800::/5", "reserved"), ("1000::/4", "reserved"), ("4000::/3", "reserved"), ("6000::/3", "reserved"),
    ("8000::/3", "reserved"), ("a000::/3", "reserved"), ("c000::/3", "reserved"), ("e000::/4", "reserved"),
    ("f000::/5", "reserved"), ("f800::/6", "reserved"), ("fe00::/9", "reserved"),
])

#: special-purpose networks inside a denied block that the IANA registry marks globally reachable
GLOBAL: tuple[tuple[Network, str], ...] = _table([
    ("2001:3::/32", "AMT"), ("2001:4:112::/48", "AS112-v6"), ("2001:30::/28", "Drone Remote ID (DET)"),
])

#: the words for an address's own network when only ``is_global`` (the backstop) denies it
NOT_GLOBAL = "not globally routable (an IANA special-purpose address)"

_IPV4_MAPPED = ipaddress.ip_network("::ffff:0:0/96")
_IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SIXTOFOUR = ipaddress.ip_network("2002::/16")
_TEREDO = ipaddress.ip_network("2001::/32")


def parse_networks(cidrs: Iterable[str]) -> tuple[Network, ...]:
    """``delivery.allow_networks`` as networks; ValueError names a bad entry."""
    networks = []
    for cidr in cidrs:
        try:
            networks.append(ipaddress.ip_network(cidr.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{cidr!r} is not a network such as 192.0.2.0/24") from None
    return tuple(networks)


def carried(address: IPAddress) -> tuple[tuple[ipaddress.IPv4Address, str], ...]:
    """The IPv4 addresses an IPv6 address carries, each with how it is carried; () when none.

    ``::`` and ``::1`` carry nothing (they are unspecified and loopback), nor
    does ``64:ff9b:1::/48`` (denied as a whole, see the module's text).
    """
    if not isinstance(address, ipaddress.IPv6Address):
        return ()
    low32 = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _IPV4_MAPPED:
        return ((low32, f"IPv4-mapped, {_IPV4_MAPPED}"),)
    if address in _IPV4_TRANSLATED:
        return ((low32, f"IPv4-translated, {_IPV4_TRANSLATED}"),)
    if address in _IPV4_COMPATIBLE:
        if int(address) <= 1:
            return ()
        return ((low32, f"IPv4-compatible, {_IPV4_COMPATIBLE}"),)
    if address in _NAT64:
        return ((low32, f"NAT64, {_NAT64}"),)
    if address in _SIXTOFOUR:
        assert address.sixtofour is not None
        return ((address.sixtofour, f"6to4, {_SIXTOFOUR}"),)
    if address in _TEREDO:
        assert address.teredo is not None
        server, client = address.teredo
        return ((server, f"Teredo server, {_TEREDO}"), (client, f"Teredo client, {_TEREDO}"))
    return ()


def _rule(address: IPAddress) -> str | None:
    """The rule that denies an address taken as it is (nothing it carries), or None."""
    for network, _ in GLOBAL:
        if address.version == network.version and address in network:
            return None
    for network, name in DENIED:
        if address.version == network.version and address in network:
            return f"{name} ({network})"
    if not address.is_global:
        return NOT_GLOBAL
    return None


def _exempt(address: IPAddress, allowed: tuple[Network, ...]) -> bool:
    return any(address.version == net.version and address in net for net in allowed)


@dataclass(frozen=True)
class Refusal:
    """Why an address is denied: the rule, and the IPv4 address it carries when that is what is denied."""

    rule: str  #: e.g. "loopback (127.0.0.0/8)"
    ipv4: ipaddress.IPv4Address | None = None  #: the carried IPv4 address that is denied
    how: str = ""  #: how it is carried, e.g. "NAT64, 64:ff9b::/96"

    def __str__(self) -> str:
        if self.ipv4 is None:
            return self.rule
        return f"{self.rule}, carried as {self.ipv4} ({self.how})"

    def sentence(self, shown: str) -> str:
        """What is refused and why, for ``shown`` (the name, and the address when they differ)."""
        if self.ipv4 is None:
            return f"{shown} is in a denied network: {self.rule}"
        return f"{shown} carries {self.ipv4} ({self.how}), which is in a denied network: {self.rule}"


def refusal(address: IPAddress, allowed: tuple[Network, ...] = ()) -> Refusal | None:
    """Why ``address`` may not be connected to, or None when it may."""
    if _exempt(address, allowed):
        return None
    inside = carried(address)
    if inside:
        for ipv4, how in inside:
            if _exempt(ipv4, allowed):
                continue
            rule = _rule(ipv4)
            if rule is not None:
                return Refusal(rule, ipv4, how)
        return None
    rule = _rule(address)
    return None if rule is None else Refusal(rule)


def denied_by(address: IPAddress, allowed: tuple[Network, ...] = ()) -> str | None:
    """The rule that denies ``address`` (and the IPv4 address it carries, if that is denied), or None."""
    found = refusal(address, allowed)
    return None if found is None else str(found)


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
        found = refusal(address, allowed)
        if found is not None:
            shown = host if host == text else f"{host} ({text})"
            raise DeliveryError(
                f"{found.sentence(shown)}; an organisation's delivery server may not reach the "
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

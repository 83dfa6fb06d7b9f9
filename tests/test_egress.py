"""The egress rule (SPEC §11): every address that is not globally routable is refused, in every form.

Every refusal here is proven to come before any socket is opened: the
``no_sockets`` fixture fails the test on any connection. Names are answered
by a patched ``socket.getaddrinfo`` (no real DNS); global addresses are only
ever given to ``egress.denied_by``, never connected to.
"""

from __future__ import annotations

import ipaddress
import socket

import pytest

from feeds import egress
from feeds.errors import DeliveryError

from delivery_helpers import BASE_FEED, make_settings, run, sandbox_with

NO_EXEMPTION = {"allow_networks": []}


@pytest.fixture
def no_sockets(monkeypatch):
    """Fails the test if anything opens a connection: refusals must come before any socket."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"a connection was attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def answering(monkeypatch, names: dict[str, list[str]]) -> None:
    """``socket.getaddrinfo`` answers ``names`` with their addresses (no DNS); other hosts as before."""
    real = socket.getaddrinfo

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        if host not in names:
            return real(host, port, family, type, proto, flags)
        infos = []
        for text in names[host]:
            if ":" in text:
                infos.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (text, port, 0, 0)))
            else:
                infos.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (text, port)))
        return infos

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def feed_to(host: str, port: int = 21, protocol: str = "FTP") -> dict:
    return {**BASE_FEED, "delivery_method": "FTP", "delivery_procotol": protocol, "delivery_server": host,
            "delivery_port": port, "delivery_user": "reseller", "delivery_password": "reseller-pass"}


def teredo(server: str, client: str, port: int = 0x1234) -> str:
    """The Teredo address (2001::/32) of ``client`` behind ``server``: client and port obfuscated (RFC 4380)."""
    value = (0x20010000 << 96) | (int(ipaddress.IPv4Address(server)) << 64) | ((port ^ 0xFFFF) << 32) \
        | (int(ipaddress.IPv4Address(client)) ^ 0xFFFFFFFF)
    return str(ipaddress.IPv6Address(value))


# (address, the rule named, the IPv4 address it carries when that is what is denied)
PLAIN = [
    # the networks denied before; their names and messages stay
    ("127.0.0.1", "loopback (127.0.0.0/8)", None),
    ("::1", "loopback (::1/128)", None),
    ("0.0.0.0", "unspecified (0.0.0.0/8)", None),
    ("::", "unspecified (::/128)", None),
    ("10.1.2.3", "private (10.0.0.0/8)", None),
    ("172.16.5.4", "private (172.16.0.0/12)", None),
    ("192.168.0.10", "private (192.168.0.0/16)", None),
    ("fd00::1", "private (fc00::/7)", None),
    ("169.254.169.254", "link-local (169.254.0.0/16)", None),
    ("fe80::1", "link-local (fe80::/10)", None),
    ("100.64.0.1", "shared address space (100.64.0.0/10)", None),
    ("224.0.0.1", "multicast (224.0.0.0/4)", None),
    ("ff02::1", "multicast (ff00::/8)", None),
    ("255.255.255.255", "broadcast (255.255.255.255/32)", None),
    # IPv4 special-purpose
    ("198.18.0.1", "benchmarking (198.18.0.0/15)", None),
    ("198.19.255.254", "benchmarking (198.18.0.0/15)", None),
    ("240.0.0.1", "reserved (240.0.0.0/4)", None),
    ("255.255.255.254", "reserved (240.0.0.0/4)", None),
    ("192.0.0.170", "NAT64/DNS64 discovery (192.0.0.170/31)", None),
    ("192.0.0.171", "NAT64/DNS64 discovery (192.0.0.170/31)", None),
    ("192.0.0.1", "IPv4 service continuity (DS-Lite) (192.0.0.0/29)", None),
    ("192.0.0.8", "IPv4 dummy address (192.0.0.8/32)", None),
    ("192.0.0.9", "IETF protocol assignments (192.0.0.0/24)", None),  # PCP anycast: "the nearest" server
    ("192.0.0.10", "IETF protocol assignments (192.0.0.0/24)", None),  # TURN anycast
    ("192.0.0.200", "IETF protocol assignments (192.0.0.0/24)", None),
    ("192.0.2.1", "documentation (192.0.2.0/24)", None),
    ("198.51.100.7", "documentation (198.51.100.0/24)", None),
    ("203.0.113.9", "documentation (203.0.113.0/24)", None),
    # IPv6 special-purpose and reserved
    ("fec0::1", "site-local (fec0::/10)", None),
    ("feff::1", "site-local (fec0::/10)", None),
    ("64:ff9b:1::a00:1", "local-use IPv4/IPv6 translation (64:ff9b:1::/48)", None),
    ("64:ff9b:1:ffff::808:808", "local-use IPv4/IPv6 translation (64:ff9b:1::/48)", None),
    ("100::1", "discard-only (100::/64)", None),
    ("100:0:0:1::1", "dummy IPv6 prefix (100:0:0:1::/64)", None),
    ("2001:db8::1", "documentation (2001:db8::/32)", None),
    ("3fff::1", "documentation (3fff::/20)", None),
    ("2001:2::1", "benchmarking (2001:2::/48)", None),
    ("2001:10::1", "deprecated ORCHID (2001:10::/28)", None),
    ("2001:20::1", "ORCHIDv2 identifiers (2001:20::/28)", None),
    ("2001:1::1", "IETF protocol assignments (2001::/23)", None),  # PCP anycast
    ("2001:1::2", "IETF protocol assignments (2001::/23)", None),  # TURN anycast
    ("2001:100::1", "IETF protocol assignments (2001::/23)", None),
    ("::1:0:0:1", "reserved (::/8)", None),
    ("64:ff9b:2::1", "reserved (::/8)", None),
    ("400::1", "reserved (400::/6)", None),
    ("fe00::1", "reserved (fe00::/9)", None),
]

CARRIED = [
    # IPv4-mapped
    ("::ffff:127.0.0.1", "loopback (127.0.0.0/8)", "127.0.0.1"),
    ("::ffff:a9fe:a9fe", "link-local (169.254.0.0/16)", "169.254.169.254"),
    ("::ffff:198.18.0.1", "benchmarking (198.18.0.0/15)", "198.18.0.1"),
    # IPv4-translated (RFC 2765)
    ("::ffff:0:7f00:1", "loopback (127.0.0.0/8)", "127.0.0.1"),
    ("::ffff:0:a00:1", "private (10.0.0.0/8)", "10.0.0.1"),
    # IPv4-compatible (deprecated)
    ("::127.0.0.1", "loopback (127.0.0.0/8)", "127.0.0.1"),
    ("::10.0.0.1", "private (10.0.0.0/8)", "10.0.0.1"),
    ("::0.0.0.2", "unspecified (0.0.0.0/8)", "0.0.0.2"),
    # NAT64, well-known prefix (RFC 6052: the last 32 bits)
    ("64:ff9b::a9fe:a9fe", "link-local (169.254.0.0/16)", "169.254.169.254"),
    ("64:ff9b::7f00:1", "loopback (127.0.0.0/8)", "127.0.0.1"),
    ("64:ff9b::c0a8:1", "private (192.168.0.0/16)", "192.168.0.1"),
    ("64:ff9b::c000:aa", "NAT64/DNS64 discovery (192.0.0.170/31)", "192.0.0.170"),
    ("64:ff9b::f000:1", "reserved (240.0.0.0/4)", "240.0.0.1"),
    # 6to4
    ("2002:7f00:1::1", "loopback (127.0.0.0/8)", "127.0.0.1"),
    ("2002:a00:1::1", "private (10.0.0.0/8)", "10.0.0.1"),
    ("2002:a9fe:a9fe::1", "link-local (169.254.0.0/16)", "169.254.169.254"),
    # Teredo: the client's address obfuscated; the server's too must pass
    (teredo("8.8.8.8", "127.0.0.1"), "loopback (127.0.0.0/8)", "127.0.0.1"),
    (teredo("8.8.8.8", "10.0.0.1"), "private (10.0.0.0/8)", "10.0.0.1"),
    (teredo("8.8.8.8", "169.254.169.254"), "link-local (169.254.0.0/16)", "169.254.169.254"),
    (teredo("192.168.1.1", "8.8.4.4"), "private (192.168.0.0/16)", "192.168.1.1"),
]

HOW = {"::ffff:0:0/96": "IPv4-mapped", "::ffff:0:0:0/96": "IPv4-translated", "::/96": "IPv4-compatible",
       "64:ff9b::/96": "NAT64", "2002::/16": "6to4", "2001::/32": "Teredo"}


def kind(address: str) -> str:
    """How ``address`` carries its IPv4 address, by the same networks as the rule (for the messages)."""
    value = ipaddress.IPv6Address(address)
    for cidr, how in HOW.items():
        if value in ipaddress.ip_network(cidr):
            return how
    raise AssertionError(address)


@pytest.mark.parametrize("address, rule, ipv4", PLAIN + CARRIED)
def test_the_rule_refuses_every_address_that_is_not_global(no_sockets, address, rule, ipv4):
    found = egress.denied_by(ipaddress.ip_address(address))
    assert found is not None and found.startswith(rule), found
    with pytest.raises(DeliveryError) as raised:
        egress.resolve(address, 21)
    error = raised.value
    assert not error.transient and error.reason == "address refused"
    assert str(error).startswith(address)  # then the address as getaddrinfo writes it, if that differs
    if ipv4 is None:
        assert f"is in a denied network: {rule};" in str(error)
    else:
        assert f"carries {ipv4} ({kind(address)}" in str(error)
        assert f"which is in a denied network: {rule};" in str(error)
    assert "delivery.allow_networks" in str(error)


@pytest.mark.parametrize("address, rule, ipv4", PLAIN + CARRIED)
def test_a_feed_to_an_address_that_is_not_global_fails_before_any_socket(tmp_path, no_sockets, address, rule, ipv4):
    settings = make_settings(tmp_path, delivery=NO_EXEMPTION)
    result, _, attempts = run(settings, sandbox_with(feed_to(address)))
    assert result.status == "failed" and f"denied network: {rule}" in result.error, result.error
    if ipv4 is not None:
        assert f"carries {ipv4}" in result.error
    assert len(attempts) == 1  # permanent: not retried


def test_the_messages_name_the_carried_address_and_how_it_is_carried(no_sockets):
    with pytest.raises(DeliveryError) as raised:
        egress.resolve("64:ff9b::7f00:1", 21)
    assert str(raised.value).startswith("64:ff9b::7f00:1 carries 127.0.0.1 (NAT64, 64:ff9b::/96), which is in a "
                                        "denied network: loopback (127.0.0.0/8); ")
    assert egress.denied_by(ipaddress.ip_address("64:ff9b::7f00:1")) == \
        "loopback (127.0.0.0/8), carried as 127.0.0.1 (NAT64, 64:ff9b::/96)"
    assert egress.denied_by(ipaddress.ip_address("127.0.0.1")) == "loopback (127.0.0.0/8)"
    client = teredo("8.8.8.8", "10.0.0.1")
    assert egress.denied_by(ipaddress.ip_address(client)) == \
        "private (10.0.0.0/8), carried as 10.0.0.1 (Teredo client, 2001::/32)"
    server = teredo("10.0.0.1", "8.8.8.8")
    assert egress.denied_by(ipaddress.ip_address(server)) == \
        "private (10.0.0.0/8), carried as 10.0.0.1 (Teredo server, 2001::/32)"


@pytest.mark.parametrize("protocol", ["FTP", "FTPS", "SFTP"])
def test_a_name_answering_nat64_loopback_is_refused_before_any_socket(tmp_path, monkeypatch, no_sockets, protocol):
    answering(monkeypatch, {"files.reseller.example": ["64:ff9b::7f00:1"]})
    with pytest.raises(DeliveryError, match=r"files\.reseller\.example \(64:ff9b::7f00:1\) carries 127\.0\.0\.1 "
                                            r"\(NAT64, 64:ff9b::/96\), which is in a denied network: loopback"):
        egress.resolve("files.reseller.example", 21)
    settings = make_settings(tmp_path, delivery=NO_EXEMPTION, sftp={"host_key_policy": "insecure"})
    result, _, attempts = run(settings, sandbox_with(feed_to("files.reseller.example", 21, protocol)))
    assert result.status == "failed" and "(64:ff9b::7f00:1) carries 127.0.0.1" in result.error, result.error
    assert "denied network: loopback (127.0.0.0/8)" in result.error and len(attempts) == 1


@pytest.mark.parametrize("addresses", [
    ["8.8.8.8", "64:ff9b::7f00:1"],
    ["2001:4860:4860::8888", "::ffff:0:a9fe:a9fe"],
    ["2a00:1450::1", "fec0::1"],
    ["64:ff9b::a00:1", "8.8.8.8"],
])
def test_every_address_a_name_answers_is_checked(tmp_path, monkeypatch, no_sockets, addresses):
    answering(monkeypatch, {"mixed.reseller.example": addresses})
    with pytest.raises(DeliveryError, match="denied network"):
        egress.resolve("mixed.reseller.example", 21)
    settings = make_settings(tmp_path, delivery=NO_EXEMPTION)
    result, _, attempts = run(settings, sandbox_with(feed_to("mixed.reseller.example")))
    assert result.status == "failed" and "denied network" in result.error and len(attempts) == 1


GLOBAL = [
    "8.8.8.8", "1.1.1.1", "9.9.9.9", "193.0.14.129", "100.63.255.255", "100.128.0.1", "172.32.0.1", "198.17.255.255",
    "198.20.0.1", "223.255.255.254", "192.0.1.1", "192.0.3.1",
    "2001:4860:4860::8888", "2a00:1450::1", "2606:4700:4700::1111", "2620:fe::fe",
    "2001:3::1", "2001:4:112::1", "2001:200::1",  # AMT and AS112 anycast, and the first RIR block after 2001::/23
    # IPv6 forms of global IPv4 addresses are judged by them
    "::ffff:8.8.8.8", "::ffff:0:8.8.8.8", "::8.8.8.8", "64:ff9b::808:808", "2002:808:808::1",
    teredo("65.54.227.120", "8.8.8.8"),
]


@pytest.mark.parametrize("address", GLOBAL)
def test_global_addresses_are_not_denied(address):
    assert egress.denied_by(ipaddress.ip_address(address)) is None


def test_addresses_that_stay_themselves():
    """``::`` and ``::1`` are not IPv4-compatible forms of 0.0.0.0 and 0.0.0.1."""
    assert egress.carried(ipaddress.ip_address("::")) == ()
    assert egress.carried(ipaddress.ip_address("::1")) == ()
    assert egress.carried(ipaddress.ip_address("64:ff9b:1::a00:1")) == ()  # denied as a whole, not extracted
    zero_two = ipaddress.IPv4Address("0.0.0.2")
    assert egress.carried(ipaddress.ip_address("::2")) == ((zero_two, "IPv4-compatible, ::/96"),)


# --- delivery.allow_networks -----------------------------------------------------------------------


@pytest.mark.parametrize("address, exemption", [
    ("10.1.2.3", "10.0.0.0/8"),
    # the IPv4 network exempts every IPv6 form of its addresses
    ("::ffff:10.1.2.3", "10.0.0.0/8"), ("::ffff:0:a01:203", "10.0.0.0/8"), ("::10.1.2.3", "10.0.0.0/8"),
    ("64:ff9b::a01:203", "10.0.0.0/8"), ("2002:a01:203::1", "10.0.0.0/8"),
    (teredo("8.8.8.8", "10.1.2.3"), "10.0.0.0/8"),
    # the IPv6 form may be exempted as such
    ("64:ff9b::a01:203", "64:ff9b::/96"), ("::ffff:127.0.0.1", "::ffff:0:0/96"),
    ("64:ff9b:1::a00:1", "64:ff9b:1::/48"), ("fec0::1", "fec0::/10"), ("198.18.0.1", "198.18.0.0/15"),
])
def test_allow_networks_exempts_either_form(no_sockets, address, exemption):
    assert egress.denied_by(ipaddress.ip_address(address)) is not None
    assert egress.denied_by(ipaddress.ip_address(address), egress.parse_networks([exemption])) is None


@pytest.mark.parametrize("address, exemption", [
    ("64:ff9b::7f00:1", "10.0.0.0/8"),
    ("64:ff9b::7f00:1", "64:ff9b::/112"),  # another part of the NAT64 prefix
    ("64:ff9b:1::a00:1", "10.0.0.0/8"),  # the local-use prefix is not extracted: exempt it as such
    (teredo("192.168.1.1", "10.1.2.3"), "10.0.0.0/8"),  # the client is exempt, the server is not
    ("::ffff:169.254.169.254", "169.254.0.0/24"),
])
def test_an_exemption_covers_nothing_else(no_sockets, address, exemption):
    assert egress.denied_by(ipaddress.ip_address(address), egress.parse_networks([exemption])) is not None


def test_a_feed_to_an_exempt_nat64_address_gets_past_the_rule(tmp_path, monkeypatch):
    """With 10.0.0.0/8 exempt, ``64:ff9b::a00:1`` is allowed: the run gets as far as connecting (here: refused)."""
    tried = []

    def refuse(address, *args, **kwargs):
        tried.append(address)
        raise ConnectionRefusedError("refused")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", lambda self, address: refuse(address))
    settings = make_settings(tmp_path, delivery={"allow_networks": ["10.0.0.0/8"], "retry_wait": 0.0})
    result, _, _ = run(settings, sandbox_with(feed_to("64:ff9b::a00:1")))
    assert result.status == "failed" and "denied network" not in result.error, result.error
    assert tried and tried[0][0] == "64:ff9b::a00:1"

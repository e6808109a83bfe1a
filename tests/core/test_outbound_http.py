"""The outbound address rule: every spelling of a refused address is refused, before connecting.

The forms are judged as the address the resolver and the kernel would connect to; the paths
that use the rule (OAuth discovery, SSO, sinks, webhooks, client metadata) are in
test_outbound_paths.py.
"""

import asyncio
import ipaddress
import socket

import pytest
import requests

from core import outbound_http
from core.outbound_http import address_allowed

REFUSED = [
    # loopback, private, link-local, unspecified, shared, multicast, reserved, documentation
    "127.0.0.1",
    "127.255.255.254",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.1.1",
    "0.0.0.0",
    "0.1.2.3",
    "100.64.0.1",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "192.0.2.1",
    "198.18.0.1",
    "::1",
    "::",
    "fe80::1",
    "fe80::1%eth0",
    "[fe80::1%25lo]",
    "fc00::1",
    "fd12:3456::1",
    "fec0::1",
    "ff02::1",
    "ff0e::1",
    "2001:db8::1",
    "100::1",
    # IPv4 carried in IPv6: mapped, compatible, NAT64 (well-known and local-use), 6to4, teredo
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "[::ffff:7f00:1]",
    "::127.0.0.1",
    "::10.0.0.1",
    "64:ff9b::7f00:1",
    "64:ff9b::a00:1",
    "64:ff9b:1::808:808",
    "2002:7f00:1::",
    "2002:a00:1::1",
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # teredo, client 127.0.0.1
    "2001:0:7f00:1:8000:63bf:f7f7:f7f7",  # teredo, relay 127.0.0.1
    # not addresses at all
    "localhost",
    "",
    "2130706433",
]
METADATA = [
    "169.254.169.254",
    "169.254.170.2",
    "169.254.170.23",
    "fd00:ec2::254",
    "fd00:ec2::23",
    "100.100.100.200",
    "192.0.0.192",
    "168.63.129.16",
    "::ffff:169.254.169.254",
    "::169.254.169.254",
    "64:ff9b::a9fe:a9fe",
    "2002:a9fe:a9fe::",
    "::ffff:168.63.129.16",
    "64:ff9b:1::a9fe:a9fe",  # NAT64, local-use prefix
    "::ffff:0:a9fe:a9fe",  # SIIT, IPv4-translated
    "2001:0:a9fe:a9fe:8000:63bf:f7f7:f7f7",  # teredo, relay 169.254.169.254
]
PUBLIC = [
    "8.8.8.8",
    "93.184.216.34",
    "2606:4700::1111",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
    "2002:808:808::1",
    "2001:0:4136:e378:8000:63bf:f7f7:f7f7",  # teredo, client 8.8.8.8
]
LOOPBACK = [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")]


@pytest.mark.parametrize("address", REFUSED + METADATA)
def test_it_refuses_non_public_addresses_in_every_form(address):
    assert address_allowed(address) is False


@pytest.mark.parametrize("address", PUBLIC)
def test_it_allows_public_addresses_in_every_form(address):
    assert address_allowed(address) is True


@pytest.mark.parametrize("address", [a for a in REFUSED if outbound_http.parse_address(a)])
def test_allow_private_allows_every_other_address(address):
    assert address_allowed(address, allow_private=True) is True


@pytest.mark.parametrize("address", METADATA)
def test_cloud_metadata_is_refused_even_where_private_addresses_are_allowed(address):
    assert outbound_http.is_metadata(address)
    assert address_allowed(address, allow_private=True) is False
    everything = [ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0")]
    assert address_allowed(address, networks=everything) is False


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("127.0.0.1", True),
        ("::ffff:127.0.0.1", True),  # judged by the IPv4 it carries
        ("64:ff9b::7f00:1", True),
        ("::1", True),
        ("10.0.0.1", False),
        ("::ffff:10.0.0.1", False),
        ("fe80::1", False),
        ("8.8.8.8", True),
    ],
)
def test_listed_networks_allow_the_addresses_inside_them(address, allowed):
    assert address_allowed(address, networks=LOOPBACK) is allowed
    assert outbound_http.address_listed(address, LOOPBACK) is (allowed and address != "8.8.8.8")


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),  # decimal
        ("0177.0.0.1", "127.0.0.1"),  # octal
        ("0x7f.1", "127.0.0.1"),  # hex, short
        ("0x7f000001", "127.0.0.1"),
        ("127.1", "127.0.0.1"),  # short
        ("localhost", "127.0.0.1"),
        ("LOCALHOST.", "127.0.0.1"),
        ("api.localhost", "127.0.0.1"),
        ("[::1]", "::1"),
        ("[::ffff:127.0.0.1]", "::ffff:127.0.0.1"),
        ("fe80::1%eth0", "fe80::1"),
        ("[fe80::1%25lo]", "fe80::1"),
        ("example.com", None),
        ("127.0.0.1.example.com", None),
    ],
)
def test_a_literal_host_is_read_as_the_resolver_reads_it(host, address):
    found = outbound_http.literal_address(host)
    if address is None:
        assert found is None
    else:
        assert ipaddress.ip_address(found) == ipaddress.ip_address(address)


SPELLED_LOOPBACK = [
    "127.0.0.1",
    "2130706433",
    "0177.0.0.1",
    "0x7f.1",
    "127.1",
    "localhost",
    "::1",
    "[::1]",
    "::ffff:127.0.0.1",
    "::127.0.0.1",
    "64:ff9b::7f00:1",
    "2002:7f00:1::",
    "2001:0:4136:e378:8000:63bf:80ff:fffe",
    "fe80::1%lo",
    "[fe80::1%25lo]",
]


@pytest.mark.parametrize("host", SPELLED_LOOPBACK + METADATA)
def test_resolve_refuses_every_form_and_names_the_address(host):
    with pytest.raises(outbound_http.HostRefused) as refused:
        outbound_http.resolve(host, 443)
    assert "resolves to a refused address" in refused.value.message
    assert refused.value.addresses
    for address in refused.value.addresses:
        assert not address_allowed(address)
        assert address in refused.value.message


@pytest.mark.parametrize("host", SPELLED_LOOPBACK + METADATA)
def test_the_async_resolution_refuses_the_same(host):
    with pytest.raises(outbound_http.HostRefused, match="resolves to a refused address"):
        asyncio.run(outbound_http.resolve_async(host, 443))


def test_resolve_returns_the_allowed_addresses():
    assert outbound_http.resolve("8.8.8.8", 443) == ["8.8.8.8"]
    assert outbound_http.resolve("[::1]", 443, networks=LOOPBACK) == ["::1"]
    assert outbound_http.resolve("2130706433", 443, networks=LOOPBACK) == ["127.0.0.1"]
    assert outbound_http.resolve("10.0.0.1", 443, allow_private=True) == ["10.0.0.1"]
    assert asyncio.run(outbound_http.resolve_async("8.8.8.8", 443)) == ["8.8.8.8"]


def test_a_host_that_does_not_resolve_is_refused():
    with pytest.raises(outbound_http.HostUnresolvable, match="cannot resolve nowhere.invalid"):
        outbound_http.resolve("nowhere.invalid", 443)


def test_plain_text_transports_need_every_address_listed():
    with pytest.raises(outbound_http.HostRefused, match="only allowed to an 'allow_private'"):
        outbound_http.resolve("8.8.8.8", 514, networks=LOOPBACK, listed_only=True)
    assert outbound_http.resolve("127.1", 514, networks=LOOPBACK, listed_only=True) == ["127.0.0.1"]


@pytest.mark.parametrize(
    ("host", "message"),
    [
        ("2130706433", "'2130706433' (127.0.0.1) is a private, loopback or link-local address"),
        ("10.0.0.5", "'10.0.0.5' is a private, loopback or link-local address"),
        ("169.254.169.254", "'169.254.169.254' is a cloud metadata address"),
    ],
)
def test_check_literal_says_which_address_is_refused(host, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        outbound_http.check_literal(host, networks=[])
    outbound_http.check_literal("siem.example.com", networks=[])  # a name is judged later


def test_parse_networks_names_a_bad_entry():
    assert outbound_http.parse_networks(["10.0.0.1/8"]) == [ipaddress.ip_network("10.0.0.0/8")]
    with pytest.raises(ValueError, match="'nope' is not an IP network"):
        outbound_http.parse_networks(["nope"])
    with pytest.raises(ValueError, match="must be a list"):
        outbound_http.parse_networks("10.0.0.0/8")


# -- connections ------------------------------------------------------------------------------


@pytest.mark.parametrize("host", SPELLED_LOOPBACK)
def test_connect_refuses_before_connecting(tripwire, host):
    with pytest.raises(outbound_http.HostRefused):
        outbound_http.connect(host, tripwire.port, timeout=2)
    assert not tripwire.touched


def test_connect_reaches_a_listed_network(tripwire):
    with outbound_http.connect("127.1", tripwire.port, timeout=2, networks=LOOPBACK) as sock:
        sock.sendall(b"hello")
    assert tripwire.touched and tripwire.connections == 1 and tripwire.received == b"hello"


@pytest.mark.parametrize("host", SPELLED_LOOPBACK)
def test_the_guarded_session_refuses_before_connecting(tripwire, host):
    url = f"http://{_url_host(host)}:{tripwire.port}/"
    session = outbound_http.guarded_session(timeout=2, max_bytes=1000, allow_private=False)
    with session, pytest.raises(requests.ConnectionError, match="not a public address"):
        session.get(url)
    assert not tripwire.touched


def test_the_guarded_session_refuses_cloud_metadata_even_when_private_is_allowed():
    session = outbound_http.guarded_session(timeout=2, max_bytes=1000, allow_private=True)
    with session, pytest.raises(requests.ConnectionError, match="a cloud metadata address"):
        session.get("http://[::ffff:169.254.169.254]/latest/meta-data/")


def test_a_second_dns_answer_cannot_rebind_the_guarded_session(tripwire, monkeypatch):
    """The name is public when judged and loopback when connected: the peer check refuses it
    before a byte is sent."""
    plain = socket.getaddrinfo
    answers = iter(["93.184.216.34"])

    def rebinding(host, port, *args, **kwargs):
        if host != "rebind.test":
            return plain(host, port, *args, **kwargs)
        address = next(answers, "127.0.0.1")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    session = outbound_http.guarded_session(timeout=2, max_bytes=1000, allow_private=False)
    with session, pytest.raises(requests.ConnectionError, match="127.0.0.1 is not a public"):
        session.get(f"http://rebind.test:{tripwire.port}/")
    assert tripwire.received == b""


def _url_host(host: str) -> str:
    if ":" in host and not host.startswith("["):
        return f"[{host.replace('%', '%25')}]"
    return host

"""Which Host headers the web page answers (the rule itself; test_web_and_predict checks it on a real page)."""

import socket

import pytest

from app.server import allowed_hosts


@pytest.mark.parametrize(
    ("bound", "header", "answered"),
    [
        ("127.0.0.1", "127.0.0.1:8000", True),
        ("127.0.0.1", "localhost:8000", True),
        ("127.0.0.1", "LOCALHOST:8000", True),  # names are case-insensitive
        ("127.0.0.1", "[::1]:8000", True),
        ("127.0.0.1", "attacker.example:8000", False),  # DNS rebinding: the attacker's name, our address
        ("127.0.0.1", "127.0.0.1:8001", False),  # another port is another origin
        ("127.0.0.1", "127.0.0.1", False),  # no port: 80
        ("::1", "[::1]", False),
        ("127.0.0.1", "", False),
        ("127.0.0.1", "10.0.0.5:8000", False),
        ("::1", "[::1]:8000", True),
        ("192.168.1.4", "192.168.1.4:8000", True),
        # Bound to every interface: any IP address and this machine's own names, still no other name.
        ("0.0.0.0", "10.0.0.5:8000", True),
        ("0.0.0.0", "[fe80::1]:8000", True),
        ("0.0.0.0", f"{socket.gethostname()}:8000", True),
        ("0.0.0.0", "attacker.example:8000", False),
        ("0.0.0.0", "10.0.0.5.attacker.example:8000", False),
        ("0.0.0.0", "10.0.0.5:9999", False),
    ],
)
def test_host_rule(bound, header, answered):
    assert allowed_hosts(bound, 8000)(header) is answered


def test_port_80_may_go_unsaid():
    assert allowed_hosts("127.0.0.1", 80)("localhost")
    assert allowed_hosts("::1", 80)("[::1]")
    assert not allowed_hosts("127.0.0.1", 80)("attacker.example")


def test_the_refusal_names_the_address_to_use():
    assert allowed_hosts("127.0.0.1", 8000).address == "http://127.0.0.1:8000/"
    assert allowed_hosts("0.0.0.0", 8000).address == "http://127.0.0.1:8000/"
    assert allowed_hosts("::1", 8000).address == "http://[::1]:8000/"

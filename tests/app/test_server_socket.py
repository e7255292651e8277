"""The listening socket app.server.bind makes: the connections it accepts send small answers at once."""

import asyncio
import socket

import pytest

from app.server import bind


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_accepted_connections_have_nodelay(host):
    """Without TCP_NODELAY an answer's head and body, written separately, wait on the client's
    delayed ACK: every request paid ~40 ms. asyncio sets it only on sockets that name IPPROTO_TCP."""
    if host == "::1" and not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    listening = bind(host, 0, "SERVE_PORT")
    seen = []

    async def main():
        def accepted(reader, writer):
            seen.append(writer.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(accepted, sock=listening)
        port = listening.getsockname()[1]
        _, writer = await asyncio.open_connection(host, port)
        for _ in range(100):
            if seen:
                break
            await asyncio.sleep(0.01)
        writer.close()
        server.close()

    asyncio.run(main())
    assert seen, "no connection was accepted"
    assert seen[0] != 0


def test_busy_port_is_one_line():
    first = bind("127.0.0.1", 0, "SERVE_PORT")
    try:
        with pytest.raises(ValueError, match=r"already in use .*SERVE_PORT=<port>"):
            bind("127.0.0.1", first.getsockname()[1], "SERVE_PORT")
    finally:
        first.close()

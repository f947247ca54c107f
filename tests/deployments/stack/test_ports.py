"""The one free-port probe, shared by `stack up` and the tests' own servers."""

from __future__ import annotations

import socket

from deployments.stack.ports import free_ports, port_free
from deployments.stack.settings import LOOPBACK


def test_a_port_someone_listens_on_is_taken_and_free_again_once_closed() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind((LOOPBACK, 0))
        listener.listen()
        port = listener.getsockname()[1]

        assert not port_free(port)
    assert port_free(port)


def test_free_ports_are_distinct_and_free() -> None:
    ports = free_ports(30)

    assert len(set(ports)) == 30
    assert all(port_free(port) for port in ports)

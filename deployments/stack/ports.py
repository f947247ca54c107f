"""Loopback ports: whether one is free, and free ones to listen on (the stack's and the tests' servers)."""

from __future__ import annotations

import contextlib
import socket

from deployments.stack.processes import StackError
from deployments.stack.settings import LOOPBACK


def port_free(port: int) -> bool:
    """True when nothing listens on `port` of 127.0.0.1 (a port left in TIME_WAIT counts as free)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def require_free(port: int, what: str, setting: str) -> None:
    """One `StackError` line naming the port and the setting that moves it, when the port is taken."""
    if not port_free(port):
        raise StackError(
            f"{what}: port {port} on {LOOPBACK} is taken by another process: stop it, or set {setting} "
            "to a free port"
        )


def free_ports(count: int) -> list[int]:
    """`count` distinct loopback ports nobody listens on right now, chosen by the OS.

    The sockets stay bound until all are chosen, so the OS never hands out one port twice; another
    process can still take a port between here and the server's own bind.
    """
    with contextlib.ExitStack() as held:
        ports = []
        for _ in range(count):
            sock = held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((LOOPBACK, 0))
            ports.append(sock.getsockname()[1])
        return ports


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    (port,) = free_ports(1)
    return port

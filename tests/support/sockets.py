"""Sockets in tests that run functions: the functions run in processes of their own and
reach the embedded moto on a loopback port served by the test process, so the test
process may listen and connect on 127.0.0.1, and nowhere else."""

from __future__ import annotations

from pytest_socket import socket_allow_hosts


def loopback_only() -> None:
    socket_allow_hosts(["127.0.0.1"], allow_unix_socket=True)

"""The pieces of `auralis serve --workers N` that need no server: the shared port and the setting."""

from __future__ import annotations

import socket

import pytest
from pydantic import ValidationError

from auralis.cli import build_parser
from auralis.server.settings import Settings
from auralis.server.workers import check_port_free, reuseport_socket


def test_workers_share_one_port_and_a_taken_port_is_refused() -> None:
    first = reuseport_socket("127.0.0.1", 0)
    port = first.getsockname()[1]
    second = reuseport_socket("127.0.0.1", port)  # a second worker joins the same port
    try:
        assert second.getsockname()[1] == port
        with pytest.raises(OSError):
            check_port_free("127.0.0.1", port)  # the supervisor does not start on a taken port
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass  # the kernel hands the connection to one of the two
    finally:
        first.close()
        second.close()
    check_port_free("127.0.0.1", port)  # free again once both are closed


def test_the_workers_setting_and_flag() -> None:
    assert Settings().workers == 1
    assert Settings(workers=4).workers == 4
    for bad in (0, 65, -1):
        with pytest.raises(ValidationError, match="workers"):
            Settings(workers=bad)
    args = build_parser().parse_args(["serve", "--workers", "3"])
    assert args.workers == 3
    assert build_parser().parse_args(["serve"]).workers is None  # the environment decides

"""A connection that goes while a command starts is a lost host, never a failed task.

CI once reported a host cut off mid-run as `FAILED ... EOFError`: paramiko raised
from the new shell's exec_command, after the channel had opened.
"""

from __future__ import annotations

import paramiko
import pytest

from k8sboot.connection.ssh import SSHConnection
from k8sboot.errors import UnreachableError


class ChannelOfAGoneHost:
    closed = False

    def __init__(self, error: BaseException):
        self.error = error

    def exec_command(self, command: str) -> None:
        raise self.error

    def sendall(self, data: bytes) -> None:
        raise self.error

    def close(self) -> None:
        self.closed = True


class TransportThatOpensThenLoses:
    def __init__(self, error: BaseException):
        self.channels: list[ChannelOfAGoneHost] = []
        self.error = error

    def is_active(self) -> bool:
        return True

    def open_session(self, **_: object) -> ChannelOfAGoneHost:
        chan = ChannelOfAGoneHost(self.error)
        self.channels.append(chan)
        return chan

    def close(self) -> None:
        pass


@pytest.mark.parametrize("error", [EOFError(), paramiko.SSHException("Channel closed."),
                                   OSError("Socket is closed")], ids=["eof", "ssh", "os"])
def test_a_shell_that_cannot_start_means_the_host_is_lost(error: BaseException) -> None:
    conn = SSHConnection("wk1", "192.0.2.7")
    transport = TransportThatOpensThenLoses(error)
    conn._transport = transport  # type: ignore[assignment]
    with pytest.raises(UnreachableError) as lost:
        conn.run("true")
    assert "connection lost" in str(lost.value) and "wk1" in str(lost.value)
    assert str(lost.value).rstrip().endswith(str(error) or type(error).__name__)
    # the half-made shell is not kept for the next command, and its channel is closed
    assert conn._shells == [] and all(c.closed for c in transport.channels)

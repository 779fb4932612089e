"""How k8sboot reaches hosts: one paramiko SSH connection per host per run."""

from k8sboot.connection.result import CommandResult
from k8sboot.connection.ssh import SSHConnection
from k8sboot.connection.pool import ConnectionPool

__all__ = ["CommandResult", "SSHConnection", "ConnectionPool"]

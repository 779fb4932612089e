"""The error types every layer raises, and the exit code each maps to.

Exit codes (the CLI contract): 0 success, 1 a run failed on a host, 2 bad input.
"""

from __future__ import annotations


class K8sbootError(Exception):
    """Base of all errors k8sboot reports to the user as one clear message."""

    exit_code = 1


class InputError(K8sbootError):
    """Bad input: inventory, flags, files, binaries. Raised before any host is touched."""

    exit_code = 2

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None):
        self.file = file
        self.line = line
        where = ""
        if file:
            where = f"{file}:{line}: " if line else f"{file}: "
        super().__init__(f"{where}{message}")


class RunError(K8sbootError):
    """A run failed on one or more hosts (a task failed, a host was unreachable, ...)."""

    exit_code = 1


class UnreachableError(RunError):
    """A host could not be reached over SSH."""

    def __init__(self, host: str, address: str, port: int, reason: str):
        self.host = host
        self.address = address
        self.reason = reason
        super().__init__(f"{host}: unreachable at {address}:{port}: {reason}")


class HostKeyChangedError(RunError):
    """The host presented a key other than the ones recorded on first contact.

    `address` is spelled as in known_hosts (`[addr]:port` off port 22); `recorded`
    and `offered` read "type SHA256:..." as OpenSSH prints fingerprints.
    """

    def __init__(self, host: str, address: str, recorded: list[str], offered: str,
                 known_hosts: str):
        self.host = host
        self.address = address
        self.recorded = recorded
        self.offered = offered
        self.known_hosts = known_hosts
        super().__init__(
            f"{host}: the host key of {address} changed: it now offers {offered}, but "
            f"{known_hosts} records {', '.join(recorded)}. Someone may be intercepting the "
            f"connection, or the machine was reinstalled. If it was reinstalled on purpose, "
            f"rerun with --accept-new-host-keys (this replaces the recorded keys of "
            f"{address} in {known_hosts})."
        )


class Interrupted(K8sbootError):
    """The user stopped the run (Ctrl-C): says what each host was in the middle of."""

    exit_code = 130

    def __init__(self, in_flight: list[str]):
        self.in_flight = in_flight
        where = "".join(f"\n  {line}" for line in in_flight) or "\n  (no task was running)"
        super().__init__(f"interrupted; at that moment:{where}\n"
                         "every step is idempotent: run the same command again to finish")

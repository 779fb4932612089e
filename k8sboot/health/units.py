"""Shared by the checks: is a systemd unit active and enabled, what listens where."""

from __future__ import annotations

from testinfra.host import Host as InfraHost


def assert_unit_running_and_enabled(host: InfraHost, unit: str) -> None:
    active = host.run("systemctl is-active %s", unit).stdout.strip() or "unknown"
    assert active == "active", f"{unit} is {active}"
    enabled = host.run("systemctl is-enabled %s", unit).stdout.strip() or "unknown"
    assert enabled == "enabled", f"{unit} is running but {enabled} (it will not start at boot)"


def listening_ports(host: InfraHost) -> set[int]:
    """TCP ports something listens on, on any address."""
    ports: set[int] = set()
    for spec in host.socket.get_listening_sockets():
        if spec.startswith("tcp://"):
            ports.add(int(spec.rsplit(":", 1)[1]))
    return ports


def assert_listening(host: InfraHost, port: int, who: str) -> None:
    ports = listening_ports(host)
    assert port in ports, (
        f"nothing listens on tcp port {port} ({who}); listening: "
        f"{', '.join(str(p) for p in sorted(ports)) or 'none'}"
    )

"""libvirt VMs for the inventory's `provider: libvirt` hosts.

    k8sboot provision -i inventory/lab.yml      # -> LibvirtProvider().provision(...)

Per cluster: one isolated network (network.py), and per VM an overlay on the base
image and a seed disk (disks.py) and a definition that boots the image's kernel
directly (domain_xml.py), at an address the inventory gives or that is allocated
(addresses.py). Every machine is recorded in the cluster state. Settings:
settings.py.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import libvirt

from k8sboot.connection.known_hosts import KnownHosts
from k8sboot.errors import RunError
from k8sboot.inventory.model import Host, Inventory
from k8sboot.machine import LibvirtExtra, Machine, Machines
from k8sboot.providers.addresses import allocate_addresses
from k8sboot.providers.base import (
    Log,
    Provider,
    cluster_key_for,
    forget_host_keys,
    public_key_of,
    wait_for_ssh,
)
from k8sboot.providers.libvirt.connection import connect
from k8sboot.providers.libvirt.disks import VmFiles, make_overlay, make_seed, publish_base
from k8sboot.providers.libvirt.domain_xml import domain_xml
from k8sboot.providers.libvirt.names import cluster_dir, domain_name, mac_address, network_name
from k8sboot.providers.libvirt.network import ensure_network, remove_network
from k8sboot.providers.libvirt.settings import (
    DEFAULT_DISK_GIB,
    PROVIDER,
    LibvirtSettings,
    choose_accelerator,
)
from k8sboot.state import ClusterState
from k8sboot.vm_image import ensure_base_image

SHUTDOWN_TIMEOUT = 60.0
SSH_PORT = 22
USER = "root"
A = TypeVar("A")
T = TypeVar("T")

_STATE_NAMES = {
    libvirt.VIR_DOMAIN_RUNNING: "running", libvirt.VIR_DOMAIN_BLOCKED: "running",
    libvirt.VIR_DOMAIN_PAUSED: "paused", libvirt.VIR_DOMAIN_SHUTDOWN: "shutting down",
    libvirt.VIR_DOMAIN_SHUTOFF: "shut off", libvirt.VIR_DOMAIN_CRASHED: "crashed",
}


def _lookup_domain(conn: libvirt.virConnect, name: str) -> libvirt.virDomain | None:
    try:
        return conn.lookupByName(name)
    except libvirt.libvirtError:
        return None


def _parallel(fn: Callable[[A], T], items: list[A]) -> list[T]:
    if not items:
        return []
    with ThreadPoolExecutor(max_workers=min(16, len(items))) as pool:
        return list(pool.map(fn, items))


class LibvirtProvider(Provider):
    name = PROVIDER

    def provision(self, inventory: Inventory, state: ClusterState, log: Log = print) -> Machines:
        """Create (or start) a VM per libvirt host; wait for SSH; record the machines.

        Running VMs are left alone; stopped ones are started; missing ones are made.
        """
        hosts = self.hosts(inventory)
        if not hosts:
            return {}
        settings = LibvirtSettings.from_inventory(inventory)
        state.ensure()
        machines = state.machines()
        addresses = allocate_addresses(hosts, settings.network, machines)
        with connect(settings.uri) as conn:
            pins = {h.name: (mac_address(inventory, h), addresses[h.name]) for h in hosts}
            ensure_network(conn, inventory, settings, pins, log)
            missing = [h for h in hosts if _lookup_domain(conn, domain_name(inventory, h)) is None]
            if missing:
                self._define(conn, missing, inventory, state, settings, log)
                forget_host_keys(state, {addresses[h.name] for h in missing})
            for host in hosts:  # one by one: each start takes well under a second
                domain = conn.lookupByName(domain_name(inventory, host))
                if domain.isActive():
                    log(f"{host.name}: {domain.name()} already running")
                    continue
                log(f"{host.name}: starting {domain.name()} at {addresses[host.name]}")
                try:
                    domain.create()
                except libvirt.libvirtError as exc:
                    raise RunError(f"{host.name}: cannot start {domain.name()}: "
                                   f"{exc.get_error_message()}") from None

        # record before waiting: an interrupted wait must not lose track of the VMs
        keys = {h.name: cluster_key_for(h, state) for h in hosts}
        for host in hosts:
            files = VmFiles.of(settings, inventory, host)
            machines[host.name] = Machine(
                name=host.name, address=addresses[host.name], port=SSH_PORT, user=USER,
                key=str(keys[host.name]), provider=PROVIDER,
                extra=LibvirtExtra(domain=domain_name(inventory, host), disk=str(files.overlay),
                                   seed=str(files.seed), console_log=str(files.console),
                                   network=network_name(inventory), uri=settings.uri))
        state.save_machines(machines)
        store = KnownHosts(state.known_hosts, on_new_key=log)

        def wait(host: Host) -> None:
            address = addresses[host.name]
            took = wait_for_ssh(host.name, address, SSH_PORT, USER, keys[host.name],
                                settings.ssh_timeout, log, known_hosts=store)
            log(f"{host.name}: SSH answers at {address} ({took:.0f} s)")

        _parallel(wait, hosts)
        return {h.name: machines[h.name] for h in hosts}

    def _define(self, conn: libvirt.virConnect, hosts: list[Host], inventory: Inventory,
                state: ClusterState, settings: LibvirtSettings, log: Log) -> None:
        """Disks (in parallel) and a domain definition for each VM that does not exist."""
        accelerator = choose_accelerator(settings.accelerator)
        # only a VM being made needs the image: starting stopped ones never rebuilds it
        boot = publish_base(ensure_base_image(log=log), settings)
        directory = cluster_dir(settings, inventory)
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o755)
        log(f"libvirt: defining {len(hosts)} VM(s) on {settings.uri}, accelerator {accelerator}")

        def disks(host: Host) -> None:
            files = VmFiles.of(settings, inventory, host)
            files.overlay.unlink(missing_ok=True)  # a leftover of a VM undefined by hand
            make_overlay(boot.disk, files.overlay, int(host.vars.get("disk", DEFAULT_DISK_GIB)))
            make_seed(files.seed, public_key_of(cluster_key_for(host, state)), host.name)

        _parallel(disks, hosts)
        for host in hosts:
            files = VmFiles.of(settings, inventory, host)
            conn.defineXML(domain_xml(domain_name(inventory, host), host, inventory, accelerator,
                                      files, boot))

    def stop(self, inventory: Inventory, state: ClusterState, log: Log = print,
             timeout: float = SHUTDOWN_TIMEOUT) -> None:
        """Shut the VMs down cleanly (ACPI power button), forcing them off after `timeout`."""
        settings = LibvirtSettings.from_inventory(inventory)
        with connect(settings.uri) as conn:
            def shut(host: Host) -> None:
                domain = _lookup_domain(conn, domain_name(inventory, host))
                if domain is None or not domain.isActive():
                    return
                log(f"{host.name}: shutting down")
                deadline = time.monotonic() + timeout
                pressed = 0.0
                while domain.isActive() and time.monotonic() < deadline:
                    # press the power button again now and then: a press that comes
                    # before logind runs (a VM still booting) is lost
                    if time.monotonic() - pressed >= 10:
                        try:
                            domain.shutdown()
                        except libvirt.libvirtError:
                            pass  # it went off meanwhile
                        pressed = time.monotonic()
                    time.sleep(0.5)
                if domain.isActive():
                    log(f"{host.name}: no clean shutdown after {timeout:.0f} s, powering off")
                    domain.destroy()

            _parallel(shut, self.hosts(inventory))

    def destroy(self, inventory: Inventory, state: ClusterState, log: Log = print) -> None:
        """Remove the VMs, their disks and the cluster's network; forget the machines."""
        settings = LibvirtSettings.from_inventory(inventory)
        machines = state.machines()
        hosts = self.hosts(inventory)
        names = {h.name for h in hosts}
        gone = {n: m for n, m in machines.items() if m.provider == PROVIDER}
        domains = {domain_name(inventory, h) for h in hosts}
        # machines recorded earlier whose hosts have left the inventory go too
        for name, m in gone.items():
            if name not in names and isinstance(m.extra, LibvirtExtra) and m.extra.domain:
                domains.add(m.extra.domain)
        with connect(settings.uri) as conn:
            def remove(name: str) -> None:
                domain = _lookup_domain(conn, name)
                if domain is None:
                    return
                log(f"libvirt: removing {name}")
                if domain.isActive():
                    domain.destroy()  # ~2 s each (qemu gets SIGTERM): done in parallel
                domain.undefine()

            _parallel(remove, sorted(domains))
            remove_network(conn, network_name(inventory), log)
        for m in gone.values():
            if isinstance(m.extra, LibvirtExtra):
                for path in (m.extra.disk, m.extra.seed, m.extra.console_log):
                    if path:
                        Path(path).unlink(missing_ok=True)
        directory = cluster_dir(settings, inventory)
        if directory.exists():
            shutil.rmtree(directory)
        forget_host_keys(state, {m.address for m in gone.values() if m.address})
        state.save_machines({n: m for n, m in machines.items() if n not in gone})

    def state(self, inventory: Inventory, state: ClusterState | None = None) -> dict[str, str]:
        """host -> "running", "shut off", ..., or "absent" (no domain)."""
        settings = LibvirtSettings.from_inventory(inventory)
        out: dict[str, str] = {}
        with connect(settings.uri) as conn:
            for host in self.hosts(inventory):
                domain = _lookup_domain(conn, domain_name(inventory, host))
                out[host.name] = "absent" if domain is None else \
                    _STATE_NAMES.get(domain.state()[0], "unknown")
        return out


_DEFAULT = LibvirtProvider()
# the provider's functions as module functions, as before the class existed
provision = _DEFAULT.provision
start = _DEFAULT.start
stop = _DEFAULT.stop
destroy = _DEFAULT.destroy
libvirt_host_state = _DEFAULT.state

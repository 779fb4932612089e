"""System containers for the inventory's `provider: lxc` hosts.

    k8sboot up                                  # the default cluster: one container
    k8sboot up -i my.yml                        # any host with `provider: lxc`

Per cluster: a bridge with the gateway address (network.py) and a directory of
containers (names.py). Per host: a copy of the template rootfs (rootfs.py) with
its name, static address and the cluster's SSH key, and an LXC configuration
(config.py). Every machine is recorded in the cluster state before the wait for
SSH, so an interrupted `up` still knows what to remove.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from k8sboot.connection.known_hosts import KnownHosts
from k8sboot.errors import InputError, RunError
from k8sboot.inventory.model import Host, Inventory
from k8sboot.machine import LxcExtra, Machine, Machines
from k8sboot.providers.addresses import allocate_addresses
from k8sboot.providers.base import (
    Log,
    Provider,
    cluster_key_for,
    forget_host_keys,
    public_key_of,
    wait_for_ssh,
)
from k8sboot.providers.lxc.config import Nic, container_config, network_file, write_veth_script
from k8sboot.providers.lxc.names import bridge_name, container_name, lxc_path, mac_of, veth_name
from k8sboot.providers.lxc.network import ensure_bridge, gateway_of, remove_bridge
from k8sboot.providers.lxc.rootfs import (
    copy_template,
    ensure_template,
    install_cgroup_fix,
    write_sysctl_files,
)
from k8sboot.providers.lxc.settings import PROVIDER, LxcSettings
from k8sboot.providers.lxc.tools import lxc, lxc_start, lxc_state, require_tools
from k8sboot.state import ClusterState
from k8sboot.vm_image import ensure_base_image

SSH_PORT = 22
USER = "root"
STOP_TIMEOUT = 30  # seconds of clean systemd shutdown before LXC kills the container
A = TypeVar("A")
T = TypeVar("T")


def _parallel(fn: Callable[[A], T], items: list[A]) -> list[T]:
    if not items:
        return []
    with ThreadPoolExecutor(max_workers=min(32, len(items))) as pool:
        return list(pool.map(fn, items))


# systemd in each container takes inotify instances from one per-user pool; at the
# default 128 the twentieth or so container stalls before sshd (LAB.md)
INOTIFY_LIMITS = {"fs/inotify/max_user_instances": 8192, "fs/inotify/max_user_watches": 1048576}


def _raise_inotify_limits(log: Log) -> None:
    for rel, wanted in INOTIFY_LIMITS.items():
        path = Path("/proc/sys") / rel
        try:
            current = int(path.read_text())
            if current < wanted:
                path.write_text(f"{wanted}\n")
                log(f"lxc: raised {rel.replace('/', '.')} from {current} to {wanted} "
                    "(systemd in many containers needs it)")
        except (OSError, ValueError):
            pass  # not ours to insist on: containers may still start


def _require_root() -> None:
    if os.geteuid() != 0:
        raise InputError("the lxc provider makes privileged system containers: run k8sboot "
                         "as root (sudo), or give the hosts another provider")


class LxcProvider(Provider):
    name = PROVIDER

    def provision(self, inventory: Inventory, state: ClusterState, log: Log = print) -> Machines:
        """Make (or start) a container per lxc host; wait for SSH; record the machines.

        Running containers are left alone; stopped ones are started; missing ones are made.
        """
        hosts = self.hosts(inventory)
        if not hosts:
            return {}
        settings = LxcSettings.from_inventory(inventory)
        require_tools()
        _require_root()
        state.ensure()
        machines = state.machines()
        addresses = allocate_addresses(hosts, settings.network, machines)
        lxcpath = lxc_path(settings, inventory)
        lxcpath.mkdir(parents=True, exist_ok=True)
        bridge = bridge_name(inventory)
        ensure_bridge(bridge, settings.network)
        keys = {h.name: cluster_key_for(h, state) for h in hosts}
        missing = [h for h in hosts
                   if lxc_state(lxcpath, container_name(inventory, h)) == "absent"]
        if missing:
            self._make(missing, inventory, settings, addresses, keys, log)
            forget_host_keys(state, {addresses[h.name] for h in missing})

        # record before starting: an interrupted wait must not lose track of them
        for host in hosts:
            machines[host.name] = Machine(
                name=host.name, address=addresses[host.name], port=SSH_PORT, user=USER,
                key=str(keys[host.name]), provider=PROVIDER,
                extra=LxcExtra(container=container_name(inventory, host), lxcpath=str(lxcpath),
                               bridge=bridge))
        state.save_machines(machines)

        def boot(host: Host) -> None:
            name = container_name(inventory, host)
            if lxc_state(lxcpath, name) == "RUNNING":
                log(f"{host.name}: {name} already running")
                return
            log(f"{host.name}: starting {name} at {addresses[host.name]}")
            lxc_start(lxcpath, name)

        if any(lxc_state(lxcpath, container_name(inventory, h)) != "RUNNING" for h in hosts):
            _raise_inotify_limits(log)
        _parallel(boot, hosts)
        store = KnownHosts(state.known_hosts, on_new_key=log)

        def wait(host: Host) -> None:
            address = addresses[host.name]
            took = wait_for_ssh(host.name, address, SSH_PORT, USER, keys[host.name],
                                settings.ssh_timeout, log, known_hosts=store)
            log(f"{host.name}: SSH answers at {address} ({took:.1f} s)")

        _parallel(wait, hosts)
        return {h.name: machines[h.name] for h in hosts}

    def _make(self, hosts: list[Host], inventory: Inventory, settings: LxcSettings,
              addresses: dict[str, str], keys: dict[str, Path], log: Log) -> None:
        """A rootfs and a configuration for each container that does not exist."""
        image = ensure_base_image(log=log)  # only a container being made needs it
        template = ensure_template(image.rootfs_dir, image.recipe_hash,
                                   settings.path / "templates", install_cgroup_fix, log)
        lxcpath = lxc_path(settings, inventory)
        sysctls = write_sysctl_files(lxcpath / "sysctl")
        up_script = write_veth_script(lxcpath / "veth-up.sh", bridge_name(inventory))
        gateway = str(gateway_of(settings.network))
        started = time.monotonic()

        def make(host: Host) -> None:
            name = container_name(inventory, host)
            cdir = lxcpath / name
            shutil.rmtree(cdir, ignore_errors=True)  # a half-made one from an interrupted run
            cdir.mkdir(parents=True)
            rootfs = cdir / "rootfs"
            copy_template(template, rootfs)
            _personalise(rootfs, host.name, addresses[host.name], settings.network.prefixlen,
                         gateway, public_key_of(keys[host.name]))
            nic = Nic(veth=veth_name(lxcpath, name), mac=mac_of(addresses[host.name]),
                      up_script=up_script)
            (cdir / "config").write_text(container_config(name, rootfs, [nic], sysctls, cdir))

        log(f"lxc: making {len(hosts)} container(s) in {lxcpath}")
        _parallel(make, hosts)
        log(f"lxc: {len(hosts)} container(s) made in {time.monotonic() - started:.1f} s")

    def stop(self, inventory: Inventory, state: ClusterState, log: Log = print) -> None:
        """Shut the containers down cleanly (systemd's halt signal); they keep their disks."""
        settings = LxcSettings.from_inventory(inventory)
        lxcpath = lxc_path(settings, inventory)

        def shut(host: Host) -> None:
            name = container_name(inventory, host)
            if lxc_state(lxcpath, name) != "RUNNING":
                return
            log(f"{host.name}: shutting down {name}")
            lxc("lxc-stop", lxcpath, name, "-t", str(STOP_TIMEOUT), timeout=STOP_TIMEOUT + 30)

        _parallel(shut, self.hosts(inventory))

    def destroy(self, inventory: Inventory, state: ClusterState, log: Log = print) -> None:
        """Remove the containers, their root filesystems and the bridge; forget them."""
        settings = LxcSettings.from_inventory(inventory)
        lxcpath = lxc_path(settings, inventory)
        machines = state.machines()
        gone = {n: m for n, m in machines.items() if m.provider == PROVIDER}
        names = {container_name(inventory, h) for h in self.hosts(inventory)}
        # machines recorded earlier whose hosts have left the inventory go too
        names |= {m.extra.container for m in gone.values()
                  if isinstance(m.extra, LxcExtra) and m.extra.container}

        def remove(name: str) -> None:
            if lxc_state(lxcpath, name) == "absent":
                shutil.rmtree(lxcpath / name, ignore_errors=True)
                return
            log(f"lxc: removing {name}")
            lxc("lxc-stop", lxcpath, name, "-k", check=False)
            lxc("lxc-destroy", lxcpath, name, check=False)
            shutil.rmtree(lxcpath / name, ignore_errors=True)
            if (lxcpath / name).exists():
                raise RunError(f"lxc: could not remove {lxcpath / name}")

        _parallel(remove, sorted(names))
        if lxcpath.exists() and not any(p.is_dir() and p.name != "sysctl"
                                        for p in lxcpath.iterdir()):
            shutil.rmtree(lxcpath)
            if remove_bridge(bridge_name(inventory)):
                log(f"lxc: removed the bridge {bridge_name(inventory)}")
        forget_host_keys(state, {m.address for m in gone.values() if m.address})
        state.save_machines({n: m for n, m in machines.items() if n not in gone})

    def state(self, inventory: Inventory, state: ClusterState | None = None) -> dict[str, str]:
        """host -> "running", "stopped", ... or "absent" (no container)."""
        settings = LxcSettings.from_inventory(inventory)
        lxcpath = lxc_path(settings, inventory)
        return {h.name: lxc_state(lxcpath, container_name(inventory, h)).lower()
                for h in self.hosts(inventory)}


def _personalise(rootfs: Path, hostname: str, address: str, prefixlen: int, gateway: str,
                 public_key: str) -> None:
    """Name, static address and the key root logs in with."""
    (rootfs / "etc/hostname").write_text(hostname + "\n")
    with open(rootfs / "etc/hosts", "a") as fh:
        fh.write(f"127.0.1.1 {hostname}\n")
    (rootfs / "etc/systemd/network/10-k8sboot.network").write_text(
        network_file("eth0", address, prefixlen, gateway))
    ssh = rootfs / "root/.ssh"
    ssh.mkdir(mode=0o700, exist_ok=True)
    authorized = ssh / "authorized_keys"
    authorized.write_text(public_key + "\n")
    authorized.chmod(0o600)

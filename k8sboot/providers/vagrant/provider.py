"""Vagrant machines for the inventory's `provider: vagrant` hosts.

    k8sboot image build --format vagrant-libvirt   # once: the box, made from the base image
    k8sboot up -i inventory/vagrant.yml            # -> VagrantProvider().provision(), roles

Vagrant does the machine work with the shipped ``vagrant/Vagrantfile``, which
defines one machine per vagrant host from a spec k8sboot writes (see
spec.py). Per cluster, Vagrant runs in ``<state dir>/vagrant/`` (its
``.vagrant`` records, the spec, the serial console logs), so clusters never mix.
After ``vagrant up`` (parallel: vagrant-libvirt allows it), ``vagrant ssh-config``
says how to log in; each machine is recorded in the cluster state like a libvirt
VM, at its private address, as the box's user with become.

Settings: see settings.py (``cluster.provider: {type: vagrant, ...}``); host
sizes from host vars ``cpus`` (2), ``memory`` in MiB (2048), ``disk`` in GiB (10).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from k8sboot.connection.known_hosts import KnownHosts
from k8sboot.errors import InputError, RunError
from k8sboot.inventory.model import Host, Inventory
from k8sboot.machine import Machine, Machines, VagrantExtra
from k8sboot.paths import DATA_ROOT
from k8sboot.providers.base import Log, Provider, forget_host_keys, wait_for_ssh
from k8sboot.providers.vagrant.cli import Vagrant, find_vagrant
from k8sboot.providers.vagrant.netcheck import check_ranges
from k8sboot.providers.vagrant.settings import (
    DEFAULT_BOX,
    PROVIDER,
    VagrantSettings,
    domain_name,
    management_network_name,
    network_name,
    workdir,
)
from k8sboot.providers.vagrant.spec import build_spec, write_spec
from k8sboot.providers.vagrant.sshconfig import parse_ssh_config
from k8sboot.state import ClusterState

VAGRANTFILE = DATA_ROOT / "vagrant" / "Vagrantfile"
SSH_TIMEOUT = 120.0  # after `vagrant up`, which already waited for SSH itself
SSH_PORT = 22


def _vagrant_for(state: ClusterState) -> Vagrant:
    if not VAGRANTFILE.is_file():
        raise InputError(f"the shipped Vagrantfile is missing: {VAGRANTFILE}")
    wd = workdir(state.root)
    return Vagrant(workdir=wd, vagrantfile=VAGRANTFILE, spec=wd / "spec.json")


def _prepare(inventory: Inventory, state: ClusterState,
             settings: VagrantSettings) -> tuple[Vagrant, dict[str, Any]]:
    """Write the spec the Vagrantfile reads; every vagrant command needs it."""
    state.ensure()
    vagrant = _vagrant_for(state)
    spec = build_spec(inventory, state.machines(), console_dir=vagrant.workdir,
                      settings=settings)
    write_spec(vagrant.spec, spec)
    return vagrant, spec


def _check_hosts(hosts: list[Host]) -> None:
    lacking = [h.name for h in hosts if not h.become]
    if lacking:
        raise InputError(f"{', '.join(lacking)}: Vagrant machines are logged into as the box's "
                         "`vagrant` user, which needs sudo: set `become: true` for these hosts "
                         "(e.g. `defaults: {become: true}`)")


def _check_box(settings: VagrantSettings) -> None:
    from k8sboot.vm_image.vagrant_box import box_installed

    if box_installed(settings.box):
        return
    if settings.box == DEFAULT_BOX:
        raise InputError(f"the Vagrant box {settings.box} is not installed: run "
                         "`k8sboot image build --format vagrant-libvirt` (it builds the box from "
                         "the base image, no download, and adds it)")
    raise InputError(f"the Vagrant box {settings.box} is not installed for libvirt: add it with "
                     f"`vagrant box add --name {settings.box} <box file or URL>`")


def _machine_ids(vagrant: Vagrant, names: list[str], provider: str) -> dict[str, str]:
    """Vagrant's id (the libvirt domain UUID) per machine; a new id means a new VM."""
    out: dict[str, str] = {}
    for name in names:
        path = vagrant.dotfile_dir / "machines" / name / provider / "id"
        if path.exists():
            out[name] = path.read_text().strip()
    return out


class VagrantProvider(Provider):
    name = PROVIDER

    def provision(self, inventory: Inventory, state: ClusterState, log: Log = print) -> Machines:
        """`vagrant up` every vagrant host (made, started or left running); record them."""
        hosts = self.hosts(inventory)
        if not hosts:
            return {}
        _check_hosts(hosts)
        settings = VagrantSettings.from_inventory(inventory)
        find_vagrant()
        _check_box(settings)
        if settings.vagrant_provider == "libvirt":
            check_ranges(settings.uri, {
                network_name(inventory): ("cluster.provider.network", settings.network),
                management_network_name(inventory): ("cluster.provider.management_network",
                                                     settings.management_network)})
        vagrant, spec = _prepare(inventory, state, settings)
        names = [h.name for h in hosts]
        before = _machine_ids(vagrant, names, settings.vagrant_provider)

        started = time.monotonic()
        log(f"vagrant: up {', '.join(names)} (box {settings.box}, driver {spec['driver']}, "
            f"in {vagrant.workdir})")
        vagrant.run(["up", "--provider", settings.vagrant_provider, "--parallel", *names], log,
                    what="vagrant up")
        log(f"vagrant: up took {time.monotonic() - started:.0f} s")
        ssh = parse_ssh_config(vagrant.run(["ssh-config", *names], what="vagrant ssh-config"))
        after = _machine_ids(vagrant, names, settings.vagrant_provider)

        machines = state.machines()
        by_name = {m["name"]: m for m in spec["machines"]}
        renewed: set[str] = set()
        logins: dict[str, tuple[str, str, str]] = {}  # name -> (address, user, key)
        for host in hosts:
            cfg = ssh.get(host.name)
            if cfg is None:
                raise RunError(f"vagrant ssh-config said nothing about {host.name}")
            if cfg.key is None:
                raise RunError(f"vagrant ssh-config gave no IdentityFile for {host.name}")
            address = str(by_name[host.name]["address"])
            if before.get(host.name) != after.get(host.name):
                renewed.add(address)
            logins[host.name] = (address, cfg.user, cfg.key)
            # the private address: the one the inventory (or k8sboot) chose for the node;
            # Vagrant's own SSH goes through the management network
            machines[host.name] = Machine(
                name=host.name, address=address, port=SSH_PORT, user=cfg.user, key=cfg.key,
                provider=PROVIDER,
                extra=VagrantExtra(
                    domain=domain_name(inventory, host.name), machine_id=after.get(host.name),
                    management_address=cfg.address, management_port=cfg.port,
                    network=network_name(inventory),
                    management_network=management_network_name(inventory),
                    uri=settings.uri, storage_pool=settings.storage_pool,
                    console_log=by_name[host.name].get("console_log"),
                    workdir=str(vagrant.workdir)))
        forget_host_keys(state, renewed)
        state.save_machines(machines)
        store = KnownHosts(state.known_hosts, on_new_key=log)
        for host in hosts:
            address, user, key = logins[host.name]
            wait_for_ssh(host.name, address, SSH_PORT, user, Path(key), SSH_TIMEOUT, log,
                         known_hosts=store)
            log(f"{host.name}: SSH answers at {address} as {user}")
        return {h.name: machines[h.name] for h in hosts}

    def stop(self, inventory: Inventory, state: ClusterState, log: Log = print) -> None:
        """`vagrant halt`: a clean shutdown through the guest, forced if it hangs."""
        hosts = self.hosts(inventory)
        if not hosts:
            return
        settings = VagrantSettings.from_inventory(inventory)
        vagrant, _ = _prepare(inventory, state, settings)
        if not vagrant.dotfile_dir.exists():
            return  # never brought up
        vagrant.run(["halt", *[h.name for h in hosts]], log, what="vagrant halt")

    def destroy(self, inventory: Inventory, state: ClusterState, log: Log = print) -> None:
        """`vagrant destroy -f`, then remove what it leaves of this cluster; forget the machines."""
        from k8sboot.providers.vagrant.cleanup import remove_leftovers

        settings = VagrantSettings.from_inventory(inventory)
        machines = state.machines()
        hosts = self.hosts(inventory)
        recorded = {n: m for n, m in machines.items() if m.provider == PROVIDER}
        wd = workdir(state.root)
        if hosts and (wd / ".vagrant").exists():
            if shutil.which("vagrant") is None:
                log("vagrant: the vagrant command is gone; removing the machines through libvirt")
            else:
                vagrant, _ = _prepare(inventory, state, settings)
                try:
                    vagrant.run(["destroy", "-f", *[h.name for h in hosts]], log,
                                what="vagrant destroy")
                except RunError as exc:  # what it could not remove, libvirt can
                    log(f"vagrant: {exc}; removing the rest through libvirt")
        domains = {domain_name(inventory, h.name) for h in hosts}
        # machines recorded earlier whose hosts have left the inventory go too
        domains |= {m.extra.domain for m in recorded.values()
                    if isinstance(m.extra, VagrantExtra) and m.extra.domain}
        if domains or recorded:
            remove_leftovers(settings.uri, domains,
                             [network_name(inventory), management_network_name(inventory)],
                             settings.storage_pool, log)
        if wd.exists():
            shutil.rmtree(wd)
        forget_host_keys(state, {m.address for m in recorded.values() if m.address})
        if recorded:
            state.save_machines({n: m for n, m in machines.items() if n not in recorded})

    def state(self, inventory: Inventory, state: ClusterState) -> dict[str, str]:
        """host -> Vagrant's state name ("running", "shutoff", "not_created", ...)."""
        hosts = self.hosts(inventory)
        if not hosts:
            return {}
        settings = VagrantSettings.from_inventory(inventory)
        vagrant, _ = _prepare(inventory, state, settings)
        out = vagrant.run(["status", "--machine-readable", *[h.name for h in hosts]],
                          what="vagrant status")
        states: dict[str, str] = {}
        for line in out.splitlines():
            fields = line.split(",", 3)
            if len(fields) == 4 and fields[2] == "state" and fields[1]:
                states[fields[1]] = fields[3]
        return {h.name: states.get(h.name, "unknown") for h in hosts}

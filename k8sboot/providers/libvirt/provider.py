"""libvirt VMs for the inventory's `provider: libvirt` hosts.

    k8sboot provision -i inventory/lab.yml      # -> provision(inventory, state, log)

Per cluster: one isolated network ``k8sboot-<cluster>`` (a bridge with DHCP that
pins one address per MAC; no <forward>, so nothing is routed or NATed anywhere) and
a directory ``<pool_dir>/<cluster>/`` holding, per VM, a qcow2 overlay on the base
image, a tiny seed disk (label K8SBOOT-SEED: root's authorized_keys and the
hostname, picked up by the image's seed unit) and the serial console log. VMs boot
the image's kernel directly. Every machine is recorded in the cluster state.

Cluster settings (``cluster.provider``: "libvirt" or a mapping)::

    provider: {type: libvirt, uri: qemu:///system, accelerator: auto,
               network: 192.168.150.0/24, pool_dir: /var/lib/libvirt/images/k8sboot}

Host sizes come from host vars: ``cpus`` (2), ``memory`` in MiB (2048), ``disk`` in GiB (10).
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
import shutil
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import libvirt

from k8sboot.connection.known_hosts import KnownHosts
from k8sboot.errors import InputError, RunError
from k8sboot.image import BaseImage, ensure_base_image
from k8sboot.image.recipe import DISK_SIZE, SEED_LABEL
from k8sboot.inventory.model import Host, Inventory
from k8sboot.providers.base import Log, Machines, ensure_keypair, public_key_of, wait_for_ssh
from k8sboot.providers.libvirt.connection import connect
from k8sboot.state import ClusterState

PROVIDER = "libvirt"
DEFAULT_CPUS = 2
DEFAULT_MEMORY_MIB = 2048
DEFAULT_DISK_GIB = 10
FIRST_HOST = 11  # .1 is the bridge; allocated addresses start at .11
SHUTDOWN_TIMEOUT = 60.0
DEFAULT_NETWORK = ipaddress.IPv4Network("192.168.150.0/24")
A = TypeVar("A")
T = TypeVar("T")


@dataclass(frozen=True)
class LibvirtSettings:
    uri: str = "qemu:///system"
    accelerator: str = "auto"  # auto | kvm | tcg
    network: ipaddress.IPv4Network = DEFAULT_NETWORK
    pool_dir: Path = Path("/var/lib/libvirt/images/k8sboot")
    ssh_timeout: float = 300.0

    @classmethod
    def from_inventory(cls, inventory: Inventory) -> LibvirtSettings:
        raw = inventory.cluster.get("provider")
        if raw is None or isinstance(raw, str):
            return cls()
        if not isinstance(raw, dict):
            raise InputError(f"cluster.provider must be a name or a mapping, not {raw!r}")
        accelerator = str(raw.get("accelerator", "auto"))
        if accelerator not in ("auto", "kvm", "tcg"):
            raise InputError(f"cluster.provider.accelerator: {accelerator!r} is not "
                             "one of auto, kvm, tcg")
        try:
            network = ipaddress.IPv4Network(str(raw.get("network", cls.network)))
        except ValueError as exc:
            raise InputError(f"cluster.provider.network: {exc}") from None
        if network.num_addresses < 16:
            raise InputError(f"cluster.provider.network: {network} is too small")
        return cls(uri=str(raw.get("uri", cls.uri)), accelerator=accelerator,
                   network=network,
                   pool_dir=Path(str(raw.get("pool_dir", cls.pool_dir))).expanduser(),
                   ssh_timeout=float(raw.get("ssh_timeout", cls.ssh_timeout)))


def choose_accelerator(setting: str) -> str:
    """kvm or tcg. `auto` avoids KVM when it is unusable or the PVM flavour.

    PVM's /dev/kvm runs SeaBIOS but no stock Linux kernel (see LAB.md), so its
    presence alone proves nothing.
    """
    if setting in ("kvm", "tcg"):
        return setting
    kvm = Path("/dev/kvm")
    if kvm.exists() and os.access(kvm, os.R_OK | os.W_OK) and \
            not Path("/sys/module/kvm_pvm").exists():
        return "kvm"
    return "tcg"


# -- names, paths, addresses --------------------------------------------------------

def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "-", name)


def network_name(inventory: Inventory) -> str:
    return f"k8sboot-{_safe(inventory.name)}"


def domain_name(inventory: Inventory, host: Host) -> str:
    return f"k8sboot-{_safe(inventory.name)}-{_safe(host.name)}"


def _bridge_name(inventory: Inventory) -> str:
    # Linux caps interface names at 15 characters; a digest keeps clusters apart
    return "k8sv" + hashlib.sha256(inventory.name.encode()).hexdigest()[:8]


def _mac(inventory: Inventory, host: Host) -> str:
    digest = hashlib.sha256(f"{inventory.name}/{host.name}".encode()).hexdigest()
    return "52:54:00:" + ":".join(digest[i:i + 2] for i in (0, 2, 4))


def _cluster_dir(settings: LibvirtSettings, inventory: Inventory) -> Path:
    return settings.pool_dir / _safe(inventory.name)


def libvirt_hosts(inventory: Inventory) -> list[Host]:
    return [h for h in inventory.hosts.values() if h.provider == PROVIDER]


def _allocate_addresses(inventory: Inventory, settings: LibvirtSettings,
                        known: Machines) -> dict[str, str]:
    """The inventory's address if given, else the one recorded, else the lowest free."""
    net = settings.network
    gateway = net.network_address + 1
    hosts = libvirt_hosts(inventory)
    out: dict[str, str] = {}
    for host in hosts:
        if host.address:
            try:
                ip = ipaddress.IPv4Address(host.address)
            except ValueError:
                raise InputError(f"{host.name}: address {host.address!r} is not an IPv4 "
                                 "address (libvirt hosts need one, or none)") from None
            if ip not in net or ip in (net.network_address, net.broadcast_address, gateway):
                raise InputError(f"{host.name}: address {ip} is not usable in {net}")
            out[host.name] = str(ip)
        elif known.get(host.name, {}).get("address"):
            out[host.name] = str(known[host.name]["address"])
    taken = set(out.values())
    free = (str(ip) for ip in net.hosts() if int(ip) - int(net.network_address) >= FIRST_HOST)
    for host in hosts:
        if host.name in out:
            continue
        for candidate in free:
            if candidate not in taken:
                out[host.name] = candidate
                break
        else:
            raise InputError(f"no free address left in {net}")
    if len(set(out.values())) != len(out):
        raise InputError("two libvirt hosts share one address")
    return out


def _key_for(host: Host, state: ClusterState) -> Path:
    """The inventory's key if it names one, else the cluster's own pair."""
    if host.key:
        key = Path(host.key).expanduser()
        if not key.exists():
            raise InputError(f"{host.name}: key {key} does not exist")
        return key
    return ensure_keypair(state.root / "id_ed25519", comment=f"k8sboot-{state.root.name}")


# -- libvirt plumbing -----------------------------------------------------------------



def _lookup_domain(conn: libvirt.virConnect, name: str) -> libvirt.virDomain | None:
    try:
        return conn.lookupByName(name)
    except libvirt.libvirtError:
        return None


def _lookup_network(conn: libvirt.virConnect, name: str) -> libvirt.virNetwork | None:
    try:
        return conn.networkLookupByName(name)
    except libvirt.libvirtError:
        return None


def _network_xml(inventory: Inventory, settings: LibvirtSettings,
                 hosts: dict[str, tuple[str, str]]) -> str:
    """An isolated network: no <forward>. DHCP serves only the pinned hosts."""
    net = settings.network
    gateway = str(net.network_address + 1)
    ns = "http://libvirt.org/schemas/network/dnsmasq/1.0"
    ET.register_namespace("dnsmasq", ns)
    root = ET.Element("network")
    ET.SubElement(root, "name").text = network_name(inventory)
    ET.SubElement(root, "bridge", name=_bridge_name(inventory), stp="off", delay="0")
    ET.SubElement(root, "dns", enable="no")
    ip = ET.SubElement(root, "ip", address=gateway, netmask=str(net.netmask))
    dhcp = ET.SubElement(ip, "dhcp")
    for name, (mac, address) in hosts.items():
        ET.SubElement(dhcp, "host", mac=mac, name=name, ip=address)
    # Kubernetes components pick their address from the default route: give the VMs
    # one, to the bridge. It leads nowhere (the lab namespace has no way out).
    options = ET.SubElement(root, f"{{{ns}}}options")
    ET.SubElement(options, f"{{{ns}}}option", value=f"dhcp-option=option:router,{gateway}")
    return ET.tostring(root, encoding="unicode")


def _ensure_network(conn: libvirt.virConnect, inventory: Inventory, settings: LibvirtSettings,
                    hosts: dict[str, tuple[str, str]], log: Log) -> None:
    name = network_name(inventory)
    network = _lookup_network(conn, name)
    if network is None:
        log(f"libvirt: network {name} ({settings.network}, isolated)")
        network = conn.networkDefineXML(_network_xml(inventory, settings, hosts))
    else:
        _add_dhcp_hosts(network, hosts, log)
    if not network.isActive():
        try:
            network.create()
        except libvirt.libvirtError as exc:
            raise RunError(f"cannot start network {name} ({settings.network}): "
                           f"{exc.get_error_message()} (another network on this range? "
                           "set cluster.provider.network)") from None


def _add_dhcp_hosts(network: libvirt.virNetwork, hosts: dict[str, tuple[str, str]],
                    log: Log) -> None:
    """Pin hosts that are new to an existing network (live and persistent)."""
    have = {h.get("mac", "").lower() for h in ET.fromstring(network.XMLDesc()).iter("host")}
    flags = libvirt.VIR_NETWORK_UPDATE_AFFECT_CONFIG
    if network.isActive():
        flags |= libvirt.VIR_NETWORK_UPDATE_AFFECT_LIVE
    for name, (mac, address) in hosts.items():
        if mac.lower() in have:
            continue
        log(f"libvirt: pinning {name} to {address} in {network.name()}")
        entry = ET.tostring(ET.Element("host", mac=mac, name=name, ip=address), encoding="unicode")
        network.update(libvirt.VIR_NETWORK_UPDATE_COMMAND_ADD_LAST,
                       libvirt.VIR_NETWORK_SECTION_IP_DHCP_HOST, -1, entry, flags)


def _domain_xml(name: str, host: Host, inventory: Inventory, accelerator: str,
                files: _VmFiles, boot: _BootFiles) -> str:
    cpus = int(host.vars.get("cpus", DEFAULT_CPUS))
    memory = int(host.vars.get("memory", DEFAULT_MEMORY_MIB))
    root = ET.Element("domain", type="kvm" if accelerator == "kvm" else "qemu")
    ET.SubElement(root, "name").text = name
    ET.SubElement(root, "memory", unit="MiB").text = str(memory)
    ET.SubElement(root, "vcpu").text = str(cpus)
    os_el = ET.SubElement(root, "os")
    ET.SubElement(os_el, "type", arch="x86_64").text = "hvm"
    ET.SubElement(os_el, "kernel").text = str(boot.kernel)
    ET.SubElement(os_el, "initrd").text = str(boot.initrd)
    ET.SubElement(os_el, "cmdline").text = "root=/dev/vda rw console=ttyS0"
    features = ET.SubElement(root, "features")
    ET.SubElement(features, "acpi")  # the power button: graceful shutdown
    ET.SubElement(features, "apic")
    if accelerator == "kvm":
        # under TCG no <cpu>: host-passthrough asserts in qemu (LAB.md)
        ET.SubElement(root, "cpu", mode="host-passthrough")
    ET.SubElement(root, "clock", offset="utc")
    ET.SubElement(root, "on_poweroff").text = "destroy"
    ET.SubElement(root, "on_reboot").text = "restart"
    ET.SubElement(root, "on_crash").text = "destroy"
    devices = ET.SubElement(root, "devices")
    disk = ET.SubElement(devices, "disk", type="file", device="disk")
    ET.SubElement(disk, "driver", name="qemu", type="qcow2", discard="unmap")
    ET.SubElement(disk, "source", file=str(files.overlay))
    ET.SubElement(disk, "target", dev="vda", bus="virtio")
    seed = ET.SubElement(devices, "disk", type="file", device="disk")
    ET.SubElement(seed, "driver", name="qemu", type="raw")
    ET.SubElement(seed, "source", file=str(files.seed))
    ET.SubElement(seed, "target", dev="vdb", bus="virtio")
    ET.SubElement(seed, "readonly")
    nic = ET.SubElement(devices, "interface", type="network")
    ET.SubElement(nic, "mac", address=_mac(inventory, host))
    ET.SubElement(nic, "source", network=network_name(inventory))
    ET.SubElement(nic, "model", type="virtio")
    serial = ET.SubElement(devices, "serial", type="pty")
    ET.SubElement(serial, "log", file=str(files.console), append="off")
    ET.SubElement(serial, "target", port="0")
    console = ET.SubElement(devices, "console", type="pty")
    ET.SubElement(console, "target", type="serial", port="0")
    rng = ET.SubElement(devices, "rng", model="virtio")  # entropy for sshd's first keys
    ET.SubElement(rng, "backend", model="random").text = "/dev/urandom"
    ET.SubElement(devices, "memballoon", model="none")
    return ET.tostring(root, encoding="unicode")


# -- files ----------------------------------------------------------------------------

@dataclass(frozen=True)
class _BootFiles:
    disk: Path
    kernel: Path
    initrd: Path


@dataclass(frozen=True)
class _VmFiles:
    overlay: Path
    seed: Path
    console: Path

    @classmethod
    def of(cls, settings: LibvirtSettings, inventory: Inventory, host: Host) -> _VmFiles:
        d = _cluster_dir(settings, inventory)
        n = _safe(host.name)
        return cls(overlay=d / f"{n}.qcow2", seed=d / f"{n}-seed.img",
                   console=d / f"{n}-console.log")


def _publish_base(image: BaseImage, settings: LibvirtSettings) -> _BootFiles:
    """Put the base disk, kernel and initrd where qemu (libvirt-qemu) can read them.

    The cache lives in the user's home, which qemu cannot read. A hard link costs
    nothing when both are on one filesystem; otherwise copy once per image.
    """
    target = settings.pool_dir / "base" / image.recipe_hash
    boot = _BootFiles(disk=target / "disk.qcow2", kernel=target / "vmlinuz",
                      initrd=target / "initrd.img")
    if all(p.exists() for p in (boot.disk, boot.kernel, boot.initrd)):
        return boot
    target.mkdir(parents=True, exist_ok=True)
    for d in (settings.pool_dir, settings.pool_dir / "base", target):
        d.chmod(0o755)
    for src, dst in ((image.disk, boot.disk), (image.kernel, boot.kernel),
                     (image.initrd, boot.initrd)):
        if dst.exists():
            continue
        tmp = dst.with_name(f".{dst.name}.{os.getpid()}")
        tmp.unlink(missing_ok=True)
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)
        tmp.chmod(0o644)
        os.replace(tmp, dst)
    return boot


def _make_overlay(base: Path, overlay: Path, size_gib: int) -> None:
    base_gib = int(DISK_SIZE.rstrip("G"))
    size = max(size_gib, base_gib)
    _run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(base),
          str(overlay), f"{size}G"])


def _make_seed(seed: Path, authorized_key: str, hostname: str) -> None:
    """A small ext4 disk holding authorized_keys and hostname (mkfs -d: no mount)."""
    with tempfile.TemporaryDirectory(prefix="k8sboot-seed-") as tmp:
        Path(tmp, "authorized_keys").write_text(authorized_key.strip() + "\n")
        Path(tmp, "hostname").write_text(hostname + "\n")
        part = seed.with_name(f".{seed.name}.{os.getpid()}")
        _run(["mkfs.ext4", "-q", "-F", "-L", SEED_LABEL, "-d", tmp, str(part), "8M"])
        part.chmod(0o644)
        os.replace(part, seed)


def _run(cmd: list[str]) -> None:
    done = subprocess.run(cmd, check=False, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise RunError(f"{' '.join(cmd)} failed: {(done.stderr or done.stdout).strip()}")


def _parallel(fn: Callable[[A], T], items: list[A]) -> list[T]:
    if not items:
        return []
    with ThreadPoolExecutor(max_workers=min(16, len(items))) as pool:
        return list(pool.map(fn, items))


def _forget_host_keys(state: ClusterState, addresses: set[str]) -> None:
    """A recreated machine makes new host keys: drop the old ones for its address."""
    store = KnownHosts(state.known_hosts)  # the one store: locked, atomic, 0600
    for address in addresses:
        store.forget(address, 22)


# -- the provider API -----------------------------------------------------------------

def provision(inventory: Inventory, state: ClusterState, log: Log = print) -> Machines:
    """Create (or start) a VM per libvirt host; wait for SSH; record the machines.

    Running VMs are left alone; stopped ones are started; missing ones are made.
    """
    hosts = libvirt_hosts(inventory)
    if not hosts:
        return {}
    settings = LibvirtSettings.from_inventory(inventory)
    state.ensure()
    machines = state.machines()
    addresses = _allocate_addresses(inventory, settings, machines)
    with connect(settings.uri) as conn:
        pins = {h.name: (_mac(inventory, h), addresses[h.name]) for h in hosts}
        _ensure_network(conn, inventory, settings, pins, log)
        missing = [h for h in hosts if _lookup_domain(conn, domain_name(inventory, h)) is None]
        if missing:
            _define(conn, missing, inventory, state, settings, log)
            _forget_host_keys(state, {addresses[h.name] for h in missing})
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
    for host in hosts:
        files = _VmFiles.of(settings, inventory, host)
        machines[host.name] = {
            "address": addresses[host.name], "port": 22, "user": "root",
            "key": str(_key_for(host, state)), "provider": PROVIDER,
            "domain": domain_name(inventory, host), "disk": str(files.overlay),
            "seed": str(files.seed), "console_log": str(files.console),
            "network": network_name(inventory), "uri": settings.uri,
        }
    state.save_machines(machines)
    _wait_for(hosts, machines, settings, log, KnownHosts(state.known_hosts, on_new_key=log))
    return {h.name: machines[h.name] for h in hosts}


def _define(conn: libvirt.virConnect, hosts: list[Host], inventory: Inventory,
            state: ClusterState, settings: LibvirtSettings, log: Log) -> None:
    """Disks (in parallel) and a domain definition for each VM that does not exist."""
    accelerator = choose_accelerator(settings.accelerator)
    # only a VM being made needs the image: starting stopped ones never rebuilds it
    boot = _publish_base(ensure_base_image(log=log), settings)
    cluster_dir = _cluster_dir(settings, inventory)
    cluster_dir.mkdir(parents=True, exist_ok=True)
    cluster_dir.chmod(0o755)
    log(f"libvirt: defining {len(hosts)} VM(s) on {settings.uri}, accelerator {accelerator}")

    def disks(host: Host) -> None:
        files = _VmFiles.of(settings, inventory, host)
        files.overlay.unlink(missing_ok=True)  # a leftover of a VM undefined by hand
        _make_overlay(boot.disk, files.overlay, int(host.vars.get("disk", DEFAULT_DISK_GIB)))
        _make_seed(files.seed, public_key_of(_key_for(host, state)), host.name)

    _parallel(disks, hosts)
    for host in hosts:
        name = domain_name(inventory, host)
        files = _VmFiles.of(settings, inventory, host)
        conn.defineXML(_domain_xml(name, host, inventory, accelerator, files, boot))


def _wait_for(hosts: list[Host], machines: Machines, settings: LibvirtSettings,
              log: Log, known_hosts: KnownHosts) -> None:
    def wait(host: Host) -> None:
        m = machines[host.name]
        took = wait_for_ssh(host.name, m["address"], int(m["port"]), m["user"],
                            Path(m["key"]), settings.ssh_timeout, log, known_hosts=known_hosts)
        log(f"{host.name}: SSH answers at {m['address']} ({took:.0f} s)")

    _parallel(wait, hosts)


def stop(inventory: Inventory, state: ClusterState, log: Log = print,
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

        _parallel(shut, libvirt_hosts(inventory))


def start(inventory: Inventory, state: ClusterState, log: Log = print) -> Machines:
    """Start stopped VMs again (and make any that are missing)."""
    return provision(inventory, state, log)


def destroy(inventory: Inventory, state: ClusterState, log: Log = print) -> None:
    """Remove the VMs, their disks and the cluster's network; forget the machines."""
    settings = LibvirtSettings.from_inventory(inventory)
    machines = state.machines()
    hosts = libvirt_hosts(inventory)
    names = {h.name for h in hosts}
    domains = {domain_name(inventory, h) for h in hosts}
    # machines recorded earlier whose hosts have left the inventory go too
    for name, m in machines.items():
        if m.get("provider") == PROVIDER and name not in names and m.get("domain"):
            domains.add(str(m["domain"]))
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
        network = _lookup_network(conn, network_name(inventory))
        if network is not None:
            log(f"libvirt: removing network {network.name()}")
            if network.isActive():
                network.destroy()
            network.undefine()
    gone = {n: m for n, m in machines.items() if m.get("provider") == PROVIDER}
    for m in gone.values():
        for key in ("disk", "seed", "console_log"):
            if m.get(key):
                Path(m[key]).unlink(missing_ok=True)
    cluster_dir = _cluster_dir(settings, inventory)
    if cluster_dir.exists():
        shutil.rmtree(cluster_dir)
    _forget_host_keys(state, {str(m["address"]) for m in gone.values() if m.get("address")})
    state.save_machines({n: m for n, m in machines.items() if n not in gone})


def libvirt_host_state(inventory: Inventory, state: ClusterState | None = None) -> dict[str, str]:
    """host -> "running", "shut off", ..., or "absent" (no domain)."""
    settings = LibvirtSettings.from_inventory(inventory)
    names = {
        libvirt.VIR_DOMAIN_RUNNING: "running", libvirt.VIR_DOMAIN_BLOCKED: "running",
        libvirt.VIR_DOMAIN_PAUSED: "paused", libvirt.VIR_DOMAIN_SHUTDOWN: "shutting down",
        libvirt.VIR_DOMAIN_SHUTOFF: "shut off", libvirt.VIR_DOMAIN_CRASHED: "crashed",
    }
    out: dict[str, str] = {}
    with connect(settings.uri) as conn:
        for host in libvirt_hosts(inventory):
            domain = _lookup_domain(conn, domain_name(inventory, host))
            out[host.name] = "absent" if domain is None else \
                names.get(domain.state()[0], "unknown")
    return out

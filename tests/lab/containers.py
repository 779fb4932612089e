"""System containers (LXC) booting the base image: fast stand-ins for physical hosts.

    with ContainerLab() as lab:
        hosts = lab.start(["node1", "node2"])   # LabHost(name, address, port, key_path, ...)

    # an isolated network: the controller reaches the bastion only
    with ContainerLab() as lab:
        bastion = lab.start_bastion("jump")       # eth0 10.123.0.x, eth1 10.124.0.2
        nodes = lab.start(["n1", "n2"], network="inner")   # 10.124.0.11, .12, ...

Run inside the lab's network namespace (``scripts/lab-netns.sh exec ...``): the
bridge, the veths and every address live there and nowhere else. Each container
runs systemd from a private copy of the base rootfs (no kernel, no modules), is
reached over SSH as root or as ``admin`` (passwordless sudo) with the lab key, and
carries the fixes LAB.md lists for running a kubelet inside it.

The inner bridge k8sblab1 (10.124.0.0/24) has no address in the netns, so the
controller has no route to the containers on it ("inner" containers): only a
bastion, which has a second NIC there (10.124.0.2), reaches them. Their default
route points at the bastion (which does not forward): it exists because the
kubelet and the apiserver take the default-route interface's address as theirs.
"""

from __future__ import annotations

import fcntl
import hashlib
import ipaddress
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal, Self

import paramiko

from k8sboot.providers.base import ensure_keypair, public_key_of, wait_for_ssh
from k8sboot.providers.lxc.config import Nic, container_config, network_file, write_veth_script
from k8sboot.providers.lxc.network import ensure_bridge
from k8sboot.providers.lxc.rootfs import (
    copy_template,
    ensure_template,
    flock,
    install_cgroup_fix,
    write_sysctl_files,
)
from k8sboot.vm_image import BaseImage, ensure_base_image

Log = Callable[[str], None]

LAB_ROOT = Path("/var/lib/k8sboot-lab")
BRIDGE = "k8sblab0"
NETWORK = ipaddress.IPv4Network("10.123.0.0/24")
GATEWAY = ipaddress.ip_address("10.123.0.1")  # the bridge; a dead end: no route out
FIRST_HOST = 11
# The inner network: reached from the bastion only (see the module docstring).
INNER_BRIDGE = "k8sblab1"
INNER_NETWORK = ipaddress.IPv4Network("10.124.0.0/24")
BASTION_INNER = ipaddress.ip_address("10.124.0.2")  # the bastion's eth1, inner hosts' gateway
# MAC prefixes per network (the rest is the address's last three bytes)
MAC_PREFIX = {BRIDGE: "02:6b:38:", INNER_BRIDGE: "02:6b:39:"}
Network = Literal["outer", "inner"]
ADMIN_UID = 1000
ADMIN_UID = 1000


def default_key_path() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "k8sboot" / "lab" / "id_ed25519"


@dataclass(frozen=True)
class LabHost:
    name: str
    address: str
    port: int = 22
    key_path: Path = Path()
    root_user: str = "root"
    sudo_user: str = "admin"
    # a bastion's address on the inner network (its eth1); None on other hosts
    inner_address: str | None = None

    @property
    def is_inner(self) -> bool:
        """On the inner network: reachable through the bastion only."""
        return ipaddress.ip_address(self.address) in INNER_NETWORK


class LabError(RuntimeError):
    pass


class ContainerLab:
    """Privileged LXC system containers on the bridge k8sblab0 (10.123.0.0/24),
    and, behind a bastion, on the isolated bridge k8sblab1 (10.124.0.0/24)."""

    def __init__(self, root: Path = LAB_ROOT, image: BaseImage | None = None,
                 key_path: Path | None = None, log: Log = print,
                 ssh_timeout: float = 120.0) -> None:
        self.root = root
        self.lxcpath = root / "containers"
        self._image = image
        self.key_path = key_path or default_key_path()
        self.log = log
        self.ssh_timeout = ssh_timeout
        self._started: list[str] = []

    # -- the context-manager form: destroys what this lab started -----------------
    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.destroy(list(self._started))

    # -- public API ---------------------------------------------------------------
    def start(self, names: list[str], network: Network = "outer") -> list[LabHost]:
        """Boot fresh containers (destroying any leftovers of the same names).

        network="inner": on k8sblab1, default route via the bastion, which must be
        running (start_bastion): their SSH is awaited through it.
        """
        if network not in ("outer", "inner"):
            raise ValueError(f"network must be 'outer' or 'inner', not {network!r}")
        started = time.monotonic()
        self._prepare()
        template = self._template()
        if network == "inner":
            self._bastion()  # fail before booting anything
        # other test runs may start containers in the same lab at the same time:
        # claim the addresses (a directory with an address file) under a lock
        with flock(self.root / "allocate.lock", fcntl.LOCK_EX):
            self.destroy(names)
            addresses = self._allocate(names, INNER_NETWORK if network == "inner" else NETWORK)
            for name in names:
                (self.lxcpath / name).mkdir(parents=True)
                (self.lxcpath / name / "address").write_text(addresses[name] + "\n")
        self._started.extend(n for n in names if n not in self._started)
        with ThreadPoolExecutor(max_workers=max(1, len(names))) as pool:
            list(pool.map(lambda n: self._create_and_boot(n, addresses[n], template), names))
        hosts = self._wait_all(names)
        self.log(f"lab: {len(names)} container(s) answer SSH after "
                 f"{time.monotonic() - started:.1f} s")
        return hosts

    def start_bastion(self, name: str) -> LabHost:
        """Boot a fresh bastion: eth0 on k8sblab0 (the usual allocation), eth1 on
        k8sblab1 with 10.124.0.2/24 and no gateway. One per lab (the address is fixed)."""
        started = time.monotonic()
        self._prepare()
        template = self._template()
        with flock(self.root / "allocate.lock", fcntl.LOCK_EX):
            self.destroy([name])
            other = self._find_bastion()
            if other is not None:
                raise LabError(f"{other} already holds the bastion address {BASTION_INNER}")
            address = self._allocate([name], NETWORK)[name]
            cdir = self.lxcpath / name
            cdir.mkdir(parents=True)
            (cdir / "address").write_text(address + "\n")
            (cdir / "inner_address").write_text(f"{BASTION_INNER}\n")
        if name not in self._started:
            self._started.append(name)
        self._create_and_boot(name, address, template, inner_address=str(BASTION_INNER))
        host = self._wait_all([name])[0]
        self.log(f"lab: bastion {name} answers SSH after {time.monotonic() - started:.1f} s")
        return host

    def start_existing(self, name: str) -> LabHost:
        """Start a stopped container again, keeping its disk."""
        if not (self.lxcpath / name / "config").exists():
            raise LabError(f"no container {name} in {self.lxcpath}")
        if not self.is_running(name):
            self._lxc_start(name)
        return self._wait_all([name])[0]

    def stop(self, name: str, timeout: int = 30) -> None:
        """Shut down cleanly (systemd gets SIGRTMIN+3), killing it after `timeout` s."""
        self._lxc("lxc-stop", name, "-t", str(timeout), check=False)

    def kill(self, name: str) -> None:
        """Pull the plug: every process SIGKILLed at once, no shutdown (a machine that dies)."""
        self._lxc("lxc-stop", name, "-k", check=False)

    def destroy(self, names: Iterable[str]) -> None:
        names = list(names)
        with ThreadPoolExecutor(max_workers=max(1, len(names))) as pool:
            list(pool.map(self._destroy_one, names))
        self._started = [n for n in self._started if n not in names]

    def destroy_all(self) -> None:
        if self.lxcpath.is_dir():
            self.destroy(sorted(p.name for p in self.lxcpath.iterdir() if p.is_dir()))

    def attach(self, name: str, *command: str) -> None:
        """Run a command inside the container without its network (lxc-attach): works while it is cut off."""
        self._lxc("lxc-attach", name, "--", *command)

    def is_running(self, name: str) -> bool:
        done = self._lxc("lxc-info", name, "-s", "-H", check=False)
        return done.stdout.strip() == "RUNNING"

    def host(self, name: str) -> LabHost:
        address = (self.lxcpath / name / "address").read_text().strip()
        inner = self.lxcpath / name / "inner_address"
        return LabHost(name=name, address=address, key_path=self.key_path,
                       inner_address=inner.read_text().strip() if inner.exists() else None)

    def bastion(self) -> LabHost:
        """The running bastion (LabError when there is none)."""
        return self.host(self._bastion())

    # -- preparation, once per lab ------------------------------------------------
    def _prepare(self) -> None:
        if os.readlink("/proc/self/ns/net") == os.readlink("/proc/2/ns/net"):
            raise LabError("refusing to build the lab in the host's network namespace: "
                           "run under `scripts/lab-netns.sh exec ...`")
        self.lxcpath.mkdir(parents=True, exist_ok=True)
        ensure_keypair(self.key_path, comment="k8sboot-lab")
        ensure_bridge(BRIDGE, NETWORK)  # GATEWAY (.1) on it: the controller's way in
        self._ensure_inner_bridge()
        self._sysctls = write_sysctl_files(self.root / "sysctl")
        for bridge in (BRIDGE, INNER_BRIDGE):
            write_veth_script(self._veth_script(bridge), bridge, isolated=bridge == INNER_BRIDGE)

    def _veth_script(self, bridge: str) -> Path:
        return self.root / f"veth-up-{bridge}.sh"

    def _ensure_inner_bridge(self) -> None:
        """k8sblab1: no address (no IPv4 route, no IPv6 link-local): the netns has no way in."""
        missing = subprocess.run(["ip", "link", "show", INNER_BRIDGE], check=False,
                                 capture_output=True).returncode
        if missing:
            _run(["ip", "link", "add", INNER_BRIDGE, "type", "bridge"])
        Path(f"/proc/sys/net/ipv6/conf/{INNER_BRIDGE}/disable_ipv6").write_text("1\n")
        _run(["ip", "addr", "flush", "dev", INNER_BRIDGE])
        _run(["ip", "link", "set", INNER_BRIDGE, "up"])

    @property
    def image(self) -> BaseImage:
        if self._image is None:
            self._image = ensure_base_image(log=self.log)
        return self._image

    def _template(self) -> Path:
        """The base rootfs minus kernel and modules, plus the lab's users and units
        (made once per image, shared with other test runs: see rootfs.ensure_template)."""
        image = self.image
        return ensure_template(image.rootfs_dir, image.recipe_hash, self.root / "templates",
                               _customise_template, self.log)

    def _allocate(self, names: list[str],
                  network: ipaddress.IPv4Network | ipaddress.IPv6Network = NETWORK,
                  ) -> dict[str, str]:
        """Lowest free addresses of `network` from .11 up, in the order given
        (deterministic). Each network has its own: an address file holds the
        container's own (outer or inner) address."""
        taken = set()
        if self.lxcpath.is_dir():
            for f in self.lxcpath.glob("*/address"):
                taken.add(f.read_text().strip())
        out: dict[str, str] = {}
        candidates = (str(network.network_address + i) for i in range(FIRST_HOST, 255))
        for name in names:
            for addr in candidates:
                if addr not in taken:
                    out[name] = addr
                    break
            else:
                raise LabError(f"no free address left in {network}")
        return out

    def _find_bastion(self) -> str | None:
        if self.lxcpath.is_dir():
            for f in sorted(self.lxcpath.glob("*/inner_address")):
                if f.read_text().strip() == str(BASTION_INNER):
                    return f.parent.name
        return None

    def _bastion(self) -> str:
        name = self._find_bastion()
        if name is None or not self.is_running(name):
            raise LabError("inner containers need a running bastion: call start_bastion() first")
        return name

    # -- one container ------------------------------------------------------------
    def _create_and_boot(self, name: str, address: str, template: Path,
                         inner_address: str | None = None) -> None:
        cdir = self.lxcpath / name
        rootfs = cdir / "rootfs"
        copy_template(template, rootfs)
        self._personalise(rootfs, name, address, inner_address)
        (cdir / "config").write_text(self._config(name, address, rootfs, inner_address))
        self._lxc_start(name)

    def _personalise(self, rootfs: Path, name: str, address: str,
                     inner_address: str | None = None) -> None:
        (rootfs / "etc/hostname").write_text(name + "\n")
        with open(rootfs / "etc/hosts", "a") as fh:
            fh.write(f"127.0.1.1 {name}\n")
        # the static address wins over the image's DHCP file (networkd: first match)
        inner = ipaddress.ip_address(address) in INNER_NETWORK
        network, gateway = (INNER_NETWORK, BASTION_INNER) if inner else (NETWORK, GATEWAY)
        (rootfs / "etc/systemd/network/10-k8sboot-lab.network").write_text(
            network_file("eth0", address, network.prefixlen, str(gateway)))
        if inner_address is not None:  # the bastion's leg on the inner network
            (rootfs / "etc/systemd/network/10-k8sboot-lab-eth1.network").write_text(
                network_file("eth1", inner_address, INNER_NETWORK.prefixlen, None))
        pub = public_key_of(self.key_path) + "\n"
        for home, uid in ((rootfs / "root", 0), (rootfs / "home/admin", ADMIN_UID)):
            ssh = home / ".ssh"
            ssh.mkdir(mode=0o700, exist_ok=True)
            (ssh / "authorized_keys").write_text(pub)
            (ssh / "authorized_keys").chmod(0o600)
            for p in (ssh, ssh / "authorized_keys"):
                os.chown(p, uid, uid)

    def _config(self, name: str, address: str, rootfs: Path,
                inner_address: str | None = None) -> str:
        digest = hashlib.sha256(f"{self.lxcpath}/{name}".encode()).hexdigest()
        bridge = INNER_BRIDGE if ipaddress.ip_address(address) in INNER_NETWORK else BRIDGE
        nics = [self._nic(f"k8sb{digest[:10]}", address, bridge)]
        if inner_address is not None:
            nics.append(self._nic(f"k8si{digest[:10]}", inner_address, INNER_BRIDGE))
        return container_config(name, rootfs, nics, self._sysctls, self.lxcpath / name)

    def _nic(self, pair: str, address: str, bridge: str) -> Nic:
        # the MAC follows the address, not the name: when an address passes to a new
        # container, ARP caches that still hold it stay right (else SSH stalls ~30 s)
        mac = MAC_PREFIX[bridge] + ":".join(
            f"{b:02x}" for b in ipaddress.ip_address(address).packed[1:])
        return Nic(veth=pair, mac=mac, up_script=self._veth_script(bridge))

    def _lxc_start(self, name: str) -> None:
        err = self.lxcpath / name / "lxc-start.err"
        with open(err, "w") as fh:
            # -d: the monitor daemonises; its stdio must not hold our pipes open
            done = subprocess.run(["lxc-start", "-P", str(self.lxcpath), "-n", name, "-d"],
                                  check=False, stdin=subprocess.DEVNULL, stdout=fh, stderr=fh)
        if done.returncode != 0:
            log_tail = _tail(self.lxcpath / name / "lxc.log")
            raise LabError(f"lxc-start {name} failed: {err.read_text().strip()}\n{log_tail}")

    def _wait_all(self, names: list[str]) -> list[LabHost]:
        hosts = [self.host(n) for n in names]
        outer = [h for h in hosts if not h.is_inner]
        inner = [h for h in hosts if h.is_inner]
        with ThreadPoolExecutor(max_workers=max(1, len(outer))) as pool:
            list(pool.map(lambda h: wait_for_ssh(h.name, h.address, h.port, h.root_user,
                                                 self.key_path, self.ssh_timeout, self.log),
                          outer))
        if inner:
            self._wait_through_bastion(inner)
        return hosts

    def _wait_through_bastion(self, hosts: list[LabHost]) -> None:
        """Until each inner host's sshd accepts the lab key, over the bastion's
        direct-tcpip channels (the netns has no route to them)."""
        bastion = self.bastion()
        with self.jump(bastion) as transport:
            started = time.monotonic()
            last_log = started
            waiting = list(hosts)
            while waiting:
                waiting = [h for h in waiting if not self._inner_ssh_answers(transport, h)]
                now = time.monotonic()
                if not waiting:
                    break
                if now - started > self.ssh_timeout:
                    raise LabError(f"no SSH through {bastion.name} after {self.ssh_timeout:.0f} s "
                                   f"from: {', '.join(h.name for h in waiting)}")
                if now - last_log >= 10:
                    self.log(f"lab: waiting for SSH through {bastion.name} at "
                             f"{', '.join(h.address for h in waiting)} ({now - started:.0f} s)")
                    last_log = now
                time.sleep(0.3)

    def _inner_ssh_answers(self, transport: paramiko.Transport, host: LabHost) -> bool:
        try:
            channel = transport.open_channel("direct-tcpip", (host.address, host.port),
                                             ("127.0.0.1", 0), timeout=5)
        except (paramiko.SSHException, OSError):
            return False  # not up yet (no address, no sshd): the bastion could not connect
        inner = paramiko.Transport(channel)
        try:
            inner.start_client(timeout=5)
            inner.auth_publickey(host.root_user,
                                 paramiko.Ed25519Key.from_private_key_file(str(self.key_path)))
            return inner.is_authenticated()
        except (paramiko.SSHException, OSError, EOFError):
            return False
        finally:
            inner.close()
            channel.close()

    @contextmanager
    def jump(self, bastion: LabHost | None = None, timeout: float = 10.0,
             ) -> Iterator[paramiko.Transport]:
        """An authenticated SSH transport to the bastion (root, lab key): open
        "direct-tcpip" channels on it to reach inner hosts."""
        bastion = bastion or self.bastion()
        sock = socket.create_connection((bastion.address, bastion.port), timeout=timeout)
        transport = paramiko.Transport(sock)
        try:
            transport.start_client(timeout=timeout)
            transport.auth_publickey(bastion.root_user,
                                     paramiko.Ed25519Key.from_private_key_file(str(self.key_path)))
            yield transport
        finally:
            transport.close()

    def _destroy_one(self, name: str) -> None:
        cdir = self.lxcpath / name
        if not cdir.exists():
            return
        self._lxc("lxc-stop", name, "-k", check=False)
        self._lxc("lxc-destroy", name, check=False)
        shutil.rmtree(cdir, ignore_errors=True)

    def _lxc(self, tool: str, name: str, *args: str,
             check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [tool, "-P", str(self.lxcpath), "-n", name, *args]
        done = subprocess.run(cmd, check=False, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL)
        if check and done.returncode != 0:
            raise LabError(f"{' '.join(cmd)}: {done.stderr.strip()}")
        return done


def _customise_template(root: Path) -> None:
    """What every lab container shares: the admin user and the cgroup mounts."""
    with open(root / "etc/passwd", "a") as fh:
        fh.write(f"admin:x:{ADMIN_UID}:{ADMIN_UID}:k8sboot lab admin:/home/admin:/bin/bash\n")
    with open(root / "etc/group", "a") as fh:
        fh.write(f"admin:x:{ADMIN_UID}:\n")
    with open(root / "etc/shadow", "a") as fh:
        fh.write("admin:*:19000:0:99999:7:::\n")  # no password; key logins only
    with open(root / "etc/gshadow", "a") as fh:
        fh.write("admin:!::\n")
    home = root / "home/admin"
    home.mkdir(parents=True, exist_ok=True)
    os.chown(home, ADMIN_UID, ADMIN_UID)
    home.chmod(0o750)
    sudoers = root / "etc/sudoers.d/k8sboot-admin"
    sudoers.write_text("admin ALL=(ALL:ALL) NOPASSWD: ALL\n")
    sudoers.chmod(0o440)

    install_cgroup_fix(root)


def _run(cmd: list[str]) -> None:
    done = subprocess.run(cmd, check=False, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise LabError(f"{' '.join(cmd)} failed: {(done.stderr or done.stdout).strip()}")


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""

"""Hosts reached as operators reach them: through a bastion, with an agent's key, sudo with a password.

The controller's netns reaches only the bastion container; the three cluster
hosts sit on a second bridge that only the bastion reaches (tests/lab/containers.py).
One cluster, brought up twice: first from a kubespray-style INI inventory (a
`[bastion]` group), then from a native inventory (`defaults.bastion`) that must
find nothing to change. bas-n1 is given no key: only an ssh-agent the test starts
holds it. bas-n2's user needs a password for sudo, given by the environment.
The steps depend on each other and run in order.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest
import yaml

from tests.e2e.helpers import BINARIES, REPO
from tests.e2e.test_engine_on_hosts import recap
from tests.lab.containers import ContainerLab, LabHost

pytestmark = pytest.mark.lab

BASTION = "bas-jump"
INNER = ["bas-cp1", "bas-n1", "bas-n2"]
# quotes, a dollar and spaces: it must reach sudo as bytes on stdin, never through a shell
PASSWORD = "it's a \"$ecret\" pass"
LEFTOVERS = "ls -d /usr/local/bin/kubelet /etc/kubernetes /etc/systemd/system/kubelet.service 2>/dev/null; true"


def run_via(jump: paramiko.Transport, host: LabHost, command: str, stdin: bytes = b"") -> tuple[int, str]:
    """`command` as root on an inner host, over the bastion (not through k8sboot)."""
    channel = jump.open_channel("direct-tcpip", (host.address, host.port), ("127.0.0.1", 0), timeout=10)
    transport = paramiko.Transport(channel)
    try:
        transport.start_client(timeout=10)
        transport.auth_publickey("root", paramiko.Ed25519Key.from_private_key_file(str(host.key_path)))
        session = transport.open_session(timeout=10)
        session.settimeout(60)
        session.exec_command(command)
        if stdin:
            session.sendall(stdin)
        session.shutdown_write()
        out = session.makefile("rb").read() + session.makefile_stderr("rb").read()
        return session.recv_exit_status(), out.decode(errors="replace")
    finally:
        transport.close()


class Net:
    def __init__(self, lab: ContainerLab, bastion: LabHost, hosts: dict[str, LabHost], home: Path,
                 agent_sock: str):
        self.lab, self.bastion, self.hosts, self.home = lab, bastion, hosts, home
        self.key = bastion.key_path
        self.agent_sock = agent_sock

    def on(self, name: str, command: str, stdin: bytes = b"") -> tuple[int, str]:
        with self.lab.jump(self.bastion) as jump:
            return run_via(jump, self.hosts[name], command, stdin)

    def k8sboot(self, *args: str, password: str | None = None) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k not in ("K8SBOOT_BECOME_PASSWORD", "SSH_AUTH_SOCK")}
        env.update(K8SBOOT_HOME=str(self.home), SSH_AUTH_SOCK=self.agent_sock, NO_COLOR="1")
        env.pop("COLUMNS", None)  # a log's width: nothing says how wide, so nothing may be wrapped
        if password is not None:
            env["K8SBOOT_BECOME_PASSWORD"] = password
        return subprocess.run([sys.executable, "-m", "k8sboot", *args], capture_output=True, text=True,
                              env=env, cwd=REPO, timeout=900, stdin=subprocess.DEVNULL)

    def ini_inventory(self) -> Path:
        """kubespray's bastion pattern: a [bastion] group; settings in group_vars/all.yml."""
        d = self.home / "ini"
        (d / "group_vars").mkdir(parents=True, exist_ok=True)
        (d / "group_vars" / "all.yml").write_text(yaml.safe_dump(
            {"k8sboot_cluster": {"name": "bastion", "binaries": BINARIES}}))
        h = self.hosts
        key = f"ansible_ssh_private_key_file={self.key}"
        (d / "hosts.ini").write_text(f"""
[bastion]
bastion ansible_host={self.bastion.address} ansible_user=root {key}

[kube_control_plane]
bas-cp1 ansible_host={h['bas-cp1'].address} ansible_user=root {key}

[etcd]
bas-cp1

[kube_node]
bas-cp1
bas-n1 ansible_host={h['bas-n1'].address} ansible_user=root
bas-n2 ansible_host={h['bas-n2'].address} ansible_user=pwuser ansible_become=true {key}

[k8s_cluster:children]
kube_control_plane
kube_node
""")
        return d / "hosts.ini"

    def native_inventory(self) -> Path:
        h = self.hosts
        path = self.home / "native.yml"
        path.write_text(yaml.safe_dump({
            "cluster": {"name": "bastion", "binaries": BINARIES},
            "defaults": {"user": "root",
                         "bastion": {"address": self.bastion.address, "user": "root", "key": str(self.key)}},
            "hosts": {
                "bas-cp1": {"address": h["bas-cp1"].address, "key": str(self.key),
                            "groups": ["etcd", "control_plane", "nodes"]},
                "bas-n1": {"address": h["bas-n1"].address, "groups": ["nodes"]},  # the agent's key
                "bas-n2": {"address": h["bas-n2"].address, "user": "pwuser", "become": True,
                           "key": str(self.key), "groups": ["nodes"]},
            },
        }, sort_keys=False))
        return path


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    lab = ContainerLab()
    home = tmp_path_factory.mktemp("bastion-home")
    agent = None
    try:
        bastion = lab.start_bastion(BASTION)
        hosts = {h.name: h for h in lab.start(INNER, network="inner")}
        # an agent holding the lab key: the only way in to bas-n1 (its inventory entry has no key)
        sock = str(home / "agent.sock")
        agent = subprocess.Popen(["ssh-agent", "-D", "-a", sock], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        for _ in range(100):
            if Path(sock).exists():
                break
            subprocess.run(["sleep", "0.05"], check=True)
        subprocess.run(["ssh-add", str(bastion.key_path)], env={**os.environ, "SSH_AUTH_SOCK": sock},
                       check=True, capture_output=True, timeout=30)
        n = Net(lab, bastion, hosts, home, sock)
        # a user sudo asks a password of; the password reaches chpasswd on stdin only
        code, out = n.on("bas-n2", "useradd -m -s /bin/sh pwuser && chpasswd && "
                         "mkdir -p ~pwuser/.ssh && cp /root/.ssh/authorized_keys ~pwuser/.ssh/ && "
                         "chown -R pwuser ~pwuser/.ssh && "
                         "echo 'pwuser ALL=(ALL:ALL) ALL' > /etc/sudoers.d/pwuser && chmod 440 /etc/sudoers.d/pwuser",
                         f"pwuser:{PASSWORD}\n".encode())
        assert code == 0, out
        yield n
    finally:
        if agent is not None:
            agent.send_signal(signal.SIGTERM)
            agent.wait(timeout=10)
        lab.destroy([BASTION, *INNER])


def test_1_the_controller_has_no_route_to_the_cluster_hosts(net: Net):
    import socket
    for host in net.hosts.values():
        with pytest.raises(OSError):
            socket.create_connection((host.address, 22), timeout=2).close()


def test_2_sudo_wanting_a_password_not_given_is_one_clear_error_and_nothing_changes(net: Net):
    r = net.k8sboot("up", "-i", str(net.ini_inventory()))
    assert r.returncode != 0
    assert "Traceback" not in r.stderr, r.stderr
    assert "bas-n2" in r.stderr and "K8SBOOT_BECOME_PASSWORD" in r.stderr and "--ask-become-pass" in r.stderr, r.stderr
    for name in INNER:
        code, out = net.on(name, LEFTOVERS)
        assert out.strip() == "", (name, out)


def test_3_up_through_the_bastion_from_a_kubespray_ini_inventory(net: Net):
    r = net.k8sboot("up", "-i", str(net.ini_inventory()), password=PASSWORD)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr
    # a log: the nodes table is never folded, one line per node (stdout is a pipe here)
    for name in INNER:
        assert any(name in line and " Ready" in line for line in r.stdout.splitlines()), r.stdout[-3000:]
    # the controller reaches the API through the bastion too
    s = net.k8sboot("status", "-i", str(net.ini_inventory()), "-o", "json", password=PASSWORD)
    assert s.returncode == 0, s.stdout + s.stderr
    status = json.loads(s.stdout)
    assert {n["name"]: n["ready"] for n in status["nodes"]} == {n: True for n in INNER}
    assert all(isinstance(n["nodeInfo"]["kubeletVersion"], str) for n in status["nodes"])
    assert status["api"]["url"] == f"https://{net.hosts['bas-cp1'].address}:6443"  # the server, not the tunnel
    for host in status["hosts"]:  # bas-n2's `systemctl is-active` ran through sudo with the password
        assert host["services"] and set(host["services"].values()) == {"active"}, host
    # the password shows nowhere: output, state directory
    assert PASSWORD not in r.stdout + r.stderr + s.stdout + s.stderr
    grep = subprocess.run(["grep", "-rlF", PASSWORD, str(net.home / "clusters")], capture_output=True, text=True)
    assert grep.stdout == "", grep.stdout
    # host keys of the bastion and of every host behind it are recorded like any other
    known = (net.home / "clusters" / "bastion" / "known_hosts").read_text()
    for address in [net.bastion.address, *(h.address for h in net.hosts.values())]:
        assert address in known, known


def test_4_verify_checks_the_hosts_behind_the_bastion(net: Net):
    r = net.k8sboot("verify", "-i", str(net.ini_inventory()), password=PASSWORD)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr
    assert PASSWORD not in r.stdout + r.stderr
    e = net.k8sboot("etcd", "status", "-i", str(net.ini_inventory()), "-o", "json")
    assert e.returncode == 0, e.stdout + e.stderr
    assert json.loads(e.stdout)["quorum"]["healthy"] == 1, e.stdout


def test_5_the_native_inventory_describes_the_same_cluster_nothing_changes(net: Net):
    r = net.k8sboot("up", "-i", str(net.native_inventory()), password=PASSWORD)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr
    assert {h: c["changed"] for h, c in recap(r.stdout).items()} == {n: 0 for n in INNER}, r.stdout[-3000:]


def test_6_a_wrong_password_is_refused_before_any_change(net: Net):
    r = net.k8sboot("up", "-i", str(net.native_inventory()), password="not it")
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    assert "bas-n2" in r.stderr and "did not accept the become password" in r.stderr, r.stderr
    assert "not it" not in r.stdout + r.stderr

"""Preflight decisions from a host's facts (the facts themselves are gathered for real in the lab tests)."""

from k8sboot.inventory.model import Host
from k8sboot.phases.preflight import check_host

GOOD = {
    "init": "systemd", "distribution": "debian", "distribution_version": "12", "architecture": "x86_64",
    "swap_devices": "0", "listening": {22: "sshd"}, "br_netfilter": "builtin", "overlay": "module",
    "has_containerd": "yes", "has_ctr": "yes", "has_runc": "yes", "has_iptables": "yes", "has_ip": "yes",
    "has_cni": "yes", "has_python3": "yes",
}


def node(groups=("etcd", "control_plane", "nodes"), **vars_) -> Host:
    return Host("h1", "10.0.0.1", groups=list(groups), vars=dict(vars_))


def test_a_fit_host_has_no_problems():
    assert check_host(node(), GOOD) == []


def test_swap_on_a_node_is_refused_with_the_fix():
    problems = check_host(node(), {**GOOD, "swap_devices": "1"})
    assert len(problems) == 1 and "swap is on" in problems[0] and "swapoff -a" in problems[0]


def test_swap_on_a_pure_etcd_host_is_fine():
    assert check_host(node(groups=("etcd",)), {**GOOD, "swap_devices": "1"}) == []


def test_missing_kernel_module_and_runtime_are_named():
    problems = check_host(node(), {**GOOD, "br_netfilter": "missing", "has_containerd": "no"})
    assert any("br_netfilter is missing" in p for p in problems)
    assert any("containerd is not installed" in p for p in problems)


def test_a_node_without_python3_is_refused_for_the_pod_routes_agent():
    problems = check_host(node(), {**GOOD, "has_python3": "no"})
    assert len(problems) == 1 and "python3 is not installed" in problems[0] and "routes agent" in problems[0]
    assert check_host(node(groups=("etcd", "control_plane")), {**GOOD, "has_python3": "no"}) == []


def test_unsupported_os_and_init_are_refused_unless_skipped():
    problems = check_host(node(), {**GOOD, "distribution": "alpine", "init": "openrc"})
    assert any("unsupported OS alpine" in p for p in problems)
    assert any("PID 1 is 'openrc'" in p for p in problems)
    assert not any("alpine" in p for p in check_host(node(k8sboot_skip_os_check=True),
                                                       {**GOOD, "distribution": "alpine"}))


def test_a_port_held_by_another_program_is_refused_but_our_own_is_not():
    assert check_host(node(), {**GOOD, "listening": {6443: "kube-apiserver", 2379: "etcd"}}) == []
    problems = check_host(node(), {**GOOD, "listening": {6443: "nginx"}})
    assert problems == ["port 6443 (kube-apiserver) is in use by nginx"]


def test_another_architecture_is_refused():
    assert any("architecture aarch64" in p for p in check_host(node(), {**GOOD, "architecture": "aarch64"}))


def test_become_without_sudo_is_refused():
    assert any("sudo" in p for p in check_host(node(), {**GOOD, "sudo_ok": False}))


def test_diagnosis_keeps_the_error_line_a_usage_text_would_bury():
    from k8sboot.phases.wait_ready import relevant_lines

    journal = "Started kubelet\nError: unknown flag: --no-such-flag\n" + "\n".join(
        f"      --flag-{i}   some help text" for i in range(100))
    lines = relevant_lines(journal)
    assert lines[0] == "Error: unknown flag: --no-such-flag"
    assert lines[-1].strip().startswith("--flag-99")

"""DIR/site.yml: `k8sboot up`'s steps on the hosts, as plays in its order.

etcd, control plane, rbac, nodes, wait for nodes Ready, pod network routes
(phases/sequences.py; the plays are named after those phases). Every play:
- one role only: k8sboot's `meta: flush_handlers` flushes the handlers of
  the role it is in; Ansible's flushes the whole play's;
- gather_facts: false: the roles need no facts, and gathered ones would
  outrank the plan's ansible_virtualization_* in host_vars;
- any_errors_fatal: true: a phase of k8sboot stops the run when it fails on
  any host; Ansible would otherwise carry on with the hosts left;
- become: true only when a host of the play logs in as another user than
  root (k8sboot then uses sudo; a container without sudo must not need it).
"""

from __future__ import annotations

from typing import Any

from k8sboot import cluster_layout as layout
from k8sboot.export import api_steps
from k8sboot.export.inventory_file import host_pattern
from k8sboot.inventory.model import Host
from k8sboot.plan import ClusterPlan

ROLES_USED = ["etcd", "control_plane", "node", "pod_routes"]


def _play(name: str, hosts: list[Host], pattern: str, **body: Any) -> dict[str, Any]:
    play: dict[str, Any] = {"name": name, "hosts": pattern, "gather_facts": False, "any_errors_fatal": True}
    if any(h.user != "root" for h in hosts):
        play["become"] = True
    play.update(body)
    return play


def plays(plan: ClusterPlan, known_groups: set[str]) -> list[dict[str, Any]]:
    inv = plan.inventory

    def role_play(title: str, group: str, role: str) -> list[dict[str, Any]]:
        hosts = inv.hosts_in(group)
        return [_play(title, hosts, host_pattern(inv, group, known_groups), roles=[role])] if hosts else []

    # the API steps run once, on the first control plane (k8sboot's admin kubeconfig names it too)
    first = plan.control_planes[0]

    def api_play(title: str, steps: tuple[dict[str, Any], list[dict[str, Any]]]) -> dict[str, Any]:
        play_vars, tasks = steps
        settings = api_steps.api_play_settings()
        return _play(title, [first], first.name, vars={**settings["vars"], **play_vars},
                     module_defaults=settings["module_defaults"], tasks=tasks)

    out = role_play("Etcd", layout.ETCD, "etcd")
    out += role_play("Control plane", layout.CONTROL_PLANE, "control_plane")
    out.append(api_play("RBAC: apiserver -> kubelet", api_steps.rbac_tasks()))
    if plan.nodes:
        out += role_play("Nodes", layout.NODES, "node")
        out.append(api_play("Wait for nodes Ready", api_steps.nodes_ready_tasks(plan)))
        out += role_play("Pod network routes", layout.NODES, "pod_routes")
    return out


def header(plan: ClusterPlan, command: str, in_containers: bool) -> str:
    lines = [
        f"Written by `k8sboot export` for cluster {plan.inventory.name} ({plan.inventory.path}).",
        "It does on the hosts what `k8sboot up` does, with the same roles, templates, PKI and vars.",
        "",
        "Run it (ansible.cfg: pipelining on, forks >= hosts, roles_path=roles):",
        f"  {command}",
        "Add -K when sudo on the hosts asks for a password.",
        "",
        "Plays, in `k8sboot up`'s order: etcd, control plane, rbac (apiserver -> kubelet), nodes,",
        "wait for nodes Ready (each node's pod CIDR, the control-plane label), pod network routes.",
        "host_vars/<host>.yml hold each host's vars (the plan's and the inventory's, resolved by",
        "k8sboot); files/ the PKI files and image archives; k8sboot_binaries names the binaries",
        "where k8sboot found them on this machine (not copied: they must stay there).",
        "Facts were not gathered: every host is taken to be "
        + ("a system container (--in-containers)." if in_containers else "a VM or a machine, not a container."),
        "",
        "Not done by this playbook (use `k8sboot up`): preflight checks of the hosts, etcd members",
        "joining a running etcd one at a time, changes rolled over running control planes and",
        "nodes one at a time (with drains), re-encrypting Secrets written before encryption at rest.",
        "Export again after changing the inventory: the vars here are the plan at export time.",
    ]
    return "".join(f"# {line}".rstrip() + "\n" for line in lines) + "\n"

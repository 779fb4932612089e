"""The steps `up` takes in Python against the API, as Ansible tasks on the first control plane.

- rbac (phases/api_access.py, cluster_api.ensure_kubelet_api_rbac): the
  ClusterRole and ClusterRoleBinding that let the apiserver reach kubelets,
  created when missing, replaced when the part k8sboot owns (rules, subjects)
  differs; nothing written otherwise, so a run after `up` changes nothing.
- wait for nodes Ready (phases/wait_ready.py): each node registered, given the
  pod CIDR k8sboot allocated when its spec has none, Ready; then the control
  planes that are nodes labelled node-role.kubernetes.io/control-plane.

The tasks call the apiserver on the control plane's loopback with
`ansible.builtin.uri`. The credential is the one system:masters client
certificate the control plane holds as files, apiserver-kubelet-client (the
admin's is only embedded in admin.kubeconfig, and no kubectl is installed on
the hosts): no file is added to a host for these steps.
"""

from __future__ import annotations

import math
from typing import Any

from k8sboot.cluster_layout import (
    CONTROL_PLANE,
    CONTROL_PLANE_LABEL,
    KUBELET_API_ROLE,
    KUBELET_API_USER,
)
from k8sboot.plan import ClusterPlan

RBAC_API = "/apis/rbac.authorization.k8s.io/v1"
MANAGED_BY = {"app.kubernetes.io/managed-by": "k8sboot"}
POLL_DELAY = 2  # seconds between two looks at a node (k8sboot polls every second)


def kubelet_api_rbac() -> list[dict[str, Any]]:
    """The two objects ensure_kubelet_api_rbac writes, as the API serializes them, and the part compared."""
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": KUBELET_API_ROLE, "labels": dict(MANAGED_BY)},
        "rules": [{"apiGroups": [""],
                   "resources": ["nodes/proxy", "nodes/stats", "nodes/log", "nodes/spec", "nodes/metrics"],
                   "verbs": ["*"]}],
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": KUBELET_API_ROLE, "labels": dict(MANAGED_BY)},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": KUBELET_API_ROLE},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": KUBELET_API_USER}],
    }
    return [{"collection": f"{RBAC_API}/clusterroles", "owned": "rules", "object": role},
            {"collection": f"{RBAC_API}/clusterrolebindings", "owned": "subjects", "object": binding}]


def api_play_settings() -> dict[str, Any]:
    """The play keywords every API play shares: where the API is, and the client certificate."""
    return {
        "vars": {"k8sboot_api": "https://127.0.0.1:{{ apiserver_port }}"},
        "module_defaults": {"ansible.builtin.uri": {
            "ca_path": "{{ k8s_pki_dir }}/ca.crt",
            "client_cert": "{{ k8s_pki_dir }}/apiserver-kubelet-client.crt",
            "client_key": "{{ k8s_pki_dir }}/apiserver-kubelet-client.key",
            "timeout": 10,
        }},
    }


def rbac_tasks() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(play vars, tasks) of the rbac step."""
    item_url = "{{ k8sboot_api }}{{ item.item.collection }}/{{ item.item.object.metadata.name }}"
    tasks: list[dict[str, Any]] = [
        {"name": "Read the apiserver -> kubelet RBAC objects",
         "ansible.builtin.uri": {
             "url": "{{ k8sboot_api }}{{ item.collection }}/{{ item.object.metadata.name }}",
             "status_code": [200, 404]},
         "loop": "{{ k8sboot_kubelet_api_rbac }}",
         "loop_control": {"label": "{{ item.object.kind }}"},
         "register": "k8sboot_rbac_current"},
        {"name": "Create the ones missing",
         "ansible.builtin.uri": {
             "url": "{{ k8sboot_api }}{{ item.item.collection }}", "method": "POST",
             "body_format": "json", "body": "{{ item.item.object }}", "status_code": [201]},
         "loop": "{{ k8sboot_rbac_current.results }}",
         "loop_control": {"label": "{{ item.item.object.kind }}"},
         "when": "item.status == 404",
         "changed_when": True},
        {"name": "Replace the ones whose rules or subjects differ",
         "ansible.builtin.uri": {
             "url": item_url, "method": "PUT",
             "body_format": "json", "body": "{{ item.item.object }}", "status_code": [200]},
         "loop": "{{ k8sboot_rbac_current.results }}",
         "loop_control": {"label": "{{ item.item.object.kind }}"},
         "when": ("item.status == 200 and "
                  "(item.json[item.item.owned] | default([])) != item.item.object[item.item.owned]"),
         "changed_when": True},
    ]
    return {"k8sboot_kubelet_api_rbac": kubelet_api_rbac()}, tasks


def api_nodes(plan: ClusterPlan) -> list[dict[str, Any]]:
    """Every node as the API names it, its allocated pod CIDR, and whether it is a control plane."""
    return [{"name": h.node_name, "pod_cidr": plan.pod_cidrs.get(h.node_name, ""),
             "control_plane": h.in_group(CONTROL_PLANE)} for h in plan.nodes]


def ready_timeout(plan: ClusterPlan) -> float:
    inv = plan.inventory
    return float(inv.vars.get("ready_timeout") or inv.cluster.get("ready_timeout", 300))


def nodes_ready_tasks(plan: ClusterPlan) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(play vars, tasks) of the wait-for-Ready step."""
    retries = max(1, math.ceil(ready_timeout(plan) / POLL_DELAY))
    node_url = "{{ k8sboot_api }}/api/v1/nodes/{{ item.name }}"
    result_url = "{{ k8sboot_api }}/api/v1/nodes/{{ item.item.name }}"
    merge_patch = {"Content-Type": "application/merge-patch+json"}
    # Ansible's undefined chains: a failed look (the apiserver restarting) has no body, and is retried
    ready = ("(k8sboot_node_ready.json.status.conditions | default([]) | selectattr('type', '==', 'Ready')"
             " | map(attribute='status') | list) == ['True']")
    tasks: list[dict[str, Any]] = [
        {"name": "Wait until every node has registered",
         "ansible.builtin.uri": {"url": node_url, "status_code": [200, 404]},
         "loop": "{{ k8sboot_nodes }}",
         "loop_control": {"label": "{{ item.name }}"},
         "register": "k8sboot_node_registered",
         "until": "k8sboot_node_registered.status == 200",
         "retries": retries, "delay": POLL_DELAY},
        # the kubelet watches its Node: containerd gets the CIDR, the CNI config follows, then Ready
        {"name": "Give each node the pod CIDR k8sboot allocated it (set once: a node that has one keeps it)",
         "ansible.builtin.uri": {
             "url": result_url, "method": "PATCH", "headers": merge_patch, "body_format": "json",
             "body": {"spec": {"podCIDR": "{{ item.item.pod_cidr }}", "podCIDRs": ["{{ item.item.pod_cidr }}"]}},
             "status_code": [200]},
         "loop": "{{ k8sboot_node_registered.results }}",
         "loop_control": {"label": "{{ item.item.name }}"},
         "when": "item.item.pod_cidr != '' and (item.json.spec.podCIDR | default('')) == ''",
         "changed_when": True},
        {"name": "Wait until every node is Ready",
         "ansible.builtin.uri": {"url": node_url},
         "loop": "{{ k8sboot_nodes }}",
         "loop_control": {"label": "{{ item.name }}"},
         "register": "k8sboot_node_ready",
         "until": ready,
         "retries": retries, "delay": POLL_DELAY},
        {"name": f"Label the control planes that are nodes too ({CONTROL_PLANE_LABEL})",
         "ansible.builtin.uri": {
             "url": result_url, "method": "PATCH", "headers": merge_patch, "body_format": "json",
             "body": {"metadata": {"labels": {CONTROL_PLANE_LABEL: ""}}}, "status_code": [200]},
         "loop": "{{ k8sboot_node_ready.results }}",
         "loop_control": {"label": "{{ item.item.name }}"},
         "when": (f"item.item.control_plane and ((item.json.metadata.labels | default({{}}))"
                  f"['{CONTROL_PLANE_LABEL}'] | default('absent')) != ''"),
         "changed_when": True},
    ]
    return {"k8sboot_nodes": api_nodes(plan)}, tasks

"""Cluster-wide settings: free-form, but the name and the provider are checked.

The name names the state directory and shows up in kubeconfigs, so it must be a
DNS label. Ansible inventories have no `cluster:` section; there the settings
come from the `k8sboot_cluster` var and kubespray's own variable names.
"""

from __future__ import annotations

import re
from typing import Any

from k8sboot.errors import InputError
from k8sboot.inventory.validate import require_mapping, short, suggest
from k8sboot.inventory.values import check_var, single_line
from k8sboot.inventory.yaml_lines import line_of

DEFAULT_NAME = "k8sboot"
# Providers that create the machine (and so assign its address).
PROVISIONING_PROVIDERS = ("libvirt", "lxc", "vagrant")
# used with fullmatch: `$` would also accept a name that ends in a newline
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
# settings naming local directories (one path, or a list of paths for the *_dir ones)
_PATH_SETTINGS = ("state_dir", "templates_dir", "roles_dir")
_SETTINGS_CHECKED_ELSEWHERE = ("name", "provider", "binaries", "images")

# kubespray variable -> k8sboot cluster setting, for inventories brought over from kubespray.
KUBESPRAY_SETTINGS = {
    "kube_pods_subnet": "pod_cidr",
    "kube_service_addresses": "service_cidr",
    "dns_domain": "cluster_domain",
}


def check_cluster(value: Any, file: str, line: int | None) -> dict[str, Any]:
    """Validate the `cluster:` mapping and fill in the default name."""
    cluster = require_mapping(value, "cluster", file, line)
    name = cluster.get("name", DEFAULT_NAME)
    if not isinstance(name, str) or not _DNS_LABEL.fullmatch(name):
        raise InputError(
            f"cluster name {short(name)} must be a DNS label: lower-case letters, digits and '-', "
            f"starting and ending with a letter or digit, at most 63 characters",
            file=file, line=line_of(cluster, "name") if "name" in cluster else line)
    if "provider" in cluster:
        provider_type(cluster["provider"], "cluster.provider", file, line_of(cluster, "provider"))
    for key, setting in cluster.items():
        where = line_of(cluster, key) or line
        if key in _PATH_SETTINGS:
            _check_paths(key, setting, file, where)
        elif key == "ready_timeout":
            _check_seconds(setting, f"cluster.{key}", file, where)
        elif key == "ssh_persist":
            _check_seconds(setting, f"cluster.{key}", file, where, zero=True)
        elif isinstance(key, str) and key not in _SETTINGS_CHECKED_ELSEWHERE:
            check_var(key, setting, f"cluster.{key}", file, where)
    cluster["name"] = name
    return cluster


def _check_paths(key: str, value: Any, file: str, line: int | None) -> None:
    """state_dir is one path; templates_dir and roles_dir may be a list of them."""
    items = value if isinstance(value, list) and key != "state_dir" else [value]
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise InputError(f"cluster.{key} must be a directory path (a string), not "
                             f"{short(item)}", file=file, line=line)
        single_line(item, f"cluster.{key}", file, line)


def _check_seconds(value: Any, what: str, file: str, line: int | None, zero: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not (0 <= value if zero else 0 < value) or not value < 1e7:
        raise InputError(f"{what} must be a number of seconds{' (0: off)' if zero else ''}, not {short(value)}",
                         file=file, line=line)


def provider_type(value: Any, what: str, file: str, line: int | None) -> str | None:
    """A provider given as "libvirt" or as {type: libvirt, ...settings}; None means none."""
    if isinstance(value, dict):
        if "type" not in value:
            raise InputError(f"{what} needs a 'type' (one of {', '.join(PROVISIONING_PROVIDERS)})",
                             file=file, line=line)
        value = value["type"]
    if value is None or value == "none":
        return None
    if value not in PROVISIONING_PROVIDERS:
        raise InputError(
            f"unknown {what} {short(value)}{suggest(value, PROVISIONING_PROVIDERS)} "
            f"(known: {', '.join(PROVISIONING_PROVIDERS)}; leave it out for machines that "
            f"already exist)",
            file=file, line=line)
    return str(value)


def cluster_from_ansible_vars(all_vars: dict[str, Any], file: str) -> dict[str, Any]:
    """Settings for an Ansible inventory: `k8sboot_cluster` wins over kubespray's names."""
    explicit = all_vars.get("k8sboot_cluster")
    line = line_of(all_vars, "k8sboot_cluster")
    cluster = dict(require_mapping(explicit, "k8sboot_cluster", file, line))
    for kubespray_name, setting in KUBESPRAY_SETTINGS.items():
        value = all_vars.get(kubespray_name)
        # a Jinja expression (kubespray's dns_domain is "{{ cluster_name }}") is not a value yet
        if isinstance(value, str) and "{{" not in value and setting not in cluster:
            cluster[setting] = value
    return check_cluster(cluster, file, line)

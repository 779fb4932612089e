"""Checks on names and var values that end up in file paths and systemd units.

Host and group names become file names (host_vars/NAME.yml, checksums/NAME.json),
and many vars are written verbatim into unit files (`ExecStart=... --flag={{ v }}`):
a `/` in a name escapes the state directory, and a newline in a value adds a line
to a unit. So these are checked where each value is read, naming file and key.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any

from k8sboot.errors import InputError
from k8sboot.inventory.validate import as_bool, as_port, short
from k8sboot.inventory.yaml_lines import line_of

# Inventory names of hosts and groups: they name files, so no '/', no leading '.'.
SAFE_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,252}")
_DNS_LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
# Kubernetes node names: an RFC 1123 subdomain (lower case, dot-separated labels).
DNS_SUBDOMAIN = re.compile(rf"(?=.{{1,253}}\Z){_DNS_LABEL}(\.{_DNS_LABEL})*")
_HOST_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOSTNAME = re.compile(rf"(?=.{{1,253}}\Z){_HOST_LABEL}(\.{_HOST_LABEL})*\.?")
# Control characters (C0, DEL, C1) and the Unicode line/paragraph separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_FLAG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")

# Vars interpolated into unit files and config lines by the shipped templates
# (templates/*/*.j2), or read as connection settings: their values are one line.
SINGLE_LINE_VARS = frozenset({
    "address", "ansible_host", "ansible_ssh_host", "ansible_user", "ansible_ssh_user",
    "ansible_ssh_private_key_file", "ansible_private_key_file", "ip", "access_ip",
    "node_ip", "node_name", "etcd_name", "etcd_member_name", "etcd_initial_cluster",
    "etcd_servers", "etcd_heartbeat_interval", "etcd_election_timeout", "kube_version",
    "k8sboot_cluster_name", "cgroup_driver", "sandbox_image", "node_cidr_mask_size",
    "control_plane_count", "cluster_domain", "dns_domain", "api_endpoint", "api_server_url",
    "pod_cidr", "service_cidr", "kube_pods_subnet", "kube_service_addresses", "extra_sans",
    "kubernetes_service_ip", "cluster_dns_ip",
})
# ... and every var named like these (k8s_pki_dir, etcd_client_port, containerd_socket, ...)
SINGLE_LINE_SUFFIXES = ("_dir", "_port", "_socket", "_ip", "_cidr", "_name", "_extra_args")
BOOL_VARS = frozenset({"ansible_become", "containerd_restrict_oom_score_adj"})
PORT_VARS = frozenset({"ansible_port", "ansible_ssh_port", "apiserver_port", "apiserver_lb_port",
                       "etcd_client_port", "etcd_peer_port"})
CGROUP_DRIVERS = ("cgroupfs", "systemd")
# connection vars are named as the setting they make ("host 'cp1' port must be ...")
_CONNECTION = {"ansible_port": "port", "ansible_ssh_port": "port", "ansible_become": "become",
               "ansible_host": "address", "ansible_ssh_host": "address"}


def check_name(name: Any, what: str, file: str, line: int | None) -> str:
    """A host or group name: letters, digits, '-', '_', '.', not starting with '.'."""
    if not isinstance(name, str) or not SAFE_NAME.fullmatch(name):
        raise InputError(
            f"{what} name {name!r} is not allowed: use letters, digits, '-', '_' and '.', "
            f"not starting with '.', at most 253 characters (it names files such as "
            f"host_vars/NAME.yml)", file=file, line=line)
    return name


def check_vars(mapping: Any, what: str, file: str, line: int | None = None) -> None:
    """Check every var of one layer (all, a group, a host, a vars file, -e)."""
    if not isinstance(mapping, dict):
        return
    for key, value in mapping.items():
        where = line_of(mapping, key) or line
        if not isinstance(key, str) or not key or _CONTROL.search(key):
            raise InputError(f"{what}: var name {key!r} must be a non-empty string without "
                             f"control characters", file=file, line=where)
        label = f"{what} {_CONNECTION[key]}" if key in _CONNECTION else f"{what}: {key}"
        check_var(key, value, label, file, where)


def check_var(key: str, value: Any, what: str, file: str, line: int | None) -> None:
    """One var's value, by its name; `what` names it in the error ("host 'x': node_name")."""
    if value is None:
        return
    if key in BOOL_VARS:
        as_bool(value, what, file, line)
        return
    if key in PORT_VARS:
        if not _templated(value):
            as_port(value, what, file, line)
        return
    check_simple = _VALUE_CHECKS.get(key)
    if key.endswith("_extra_args"):
        _check_extra_args(value, what, file, line)
    elif check_simple is not None or key in SINGLE_LINE_VARS or key.endswith(SINGLE_LINE_SUFFIXES):
        single_line(value, what, file, line)
        if check_simple is not None and not _templated(value):
            check_simple(value, what, file, line)


def single_line(value: Any, what: str, file: str, line: int | None) -> None:
    """A value (or every string inside a list of values) without newlines or other
    control characters; such a value would add lines to a unit file."""
    items = value if isinstance(value, list) else [value]
    for item in items:
        if isinstance(item, (dict, list)):
            raise InputError(f"{what} must be a single value, not {type(item).__name__} "
                             f"{short(item)}", file=file, line=line)
        if isinstance(item, str) and _CONTROL.search(item):
            raise InputError(f"{what} must be one line without control characters (a newline "
                             f"would add lines to a unit file), not {short(item)}",
                             file=file, line=line)


def as_cidr(value: Any, what: str, file: str, line: int | None) -> str:
    problem = "not a string"
    if isinstance(value, str):
        try:
            ipaddress.ip_network(value, strict=True)
            return value
        except ValueError as exc:
            problem = str(exc)
    raise InputError(f"{what} must be a network in CIDR notation like 10.244.0.0/16, "
                     f"not {short(value)} ({short(problem)[1:-1]})", file=file, line=line)


def as_dns_name(value: Any, what: str, file: str, line: int | None) -> str:
    if not isinstance(value, str) or not HOSTNAME.fullmatch(value):
        raise InputError(f"{what} must be a DNS name like cluster.local, not {short(value)}",
                         file=file, line=line)
    return value


def as_node_name(value: Any, what: str, file: str, line: int | None) -> str:
    if not isinstance(value, str) or not DNS_SUBDOMAIN.fullmatch(value):
        raise InputError(f"{what} {short(value)} must be a Kubernetes node name: lower-case "
                         f"letters, digits, '-' and '.', starting and ending with a letter or "
                         f"digit, at most 253 characters", file=file, line=line)
    return value


def as_address(value: Any, what: str, file: str, line: int | None) -> str:
    """An IP address or a host name (what SSH and the components are given)."""
    if isinstance(value, str) and not _CONTROL.search(value) and (
            is_ip(value) or HOSTNAME.fullmatch(value)):
        return value
    raise InputError(f"{what} must be an IP address or a host name, not {short(value)}",
                     file=file, line=line)


def is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        return False


def _as_safe_name(value: Any, what: str, file: str, line: int | None) -> str:
    if not isinstance(value, str) or not SAFE_NAME.fullmatch(value):
        raise InputError(f"{what} {short(value)} must use only letters, digits, '-', '_' and "
                         f"'.', not starting with '.' (it names files)", file=file, line=line)
    return value


def _as_cgroup_driver(value: Any, what: str, file: str, line: int | None) -> str:
    if value not in CGROUP_DRIVERS:
        raise InputError(f"{what} must be one of {', '.join(CGROUP_DRIVERS)}, not "
                         f"{short(value)}", file=file, line=line)
    return str(value)


def _check_extra_args(value: Any, what: str, file: str, line: int | None) -> None:
    """`--{{ flag }}={{ value }}` lines: flag names and scalar one-line values."""
    if not isinstance(value, dict):
        if _templated(value):
            return
        raise InputError(f"{what} must be a mapping of flag: value (e.g. {{v: 2}}), not "
                         f"{short(value)}", file=file, line=line)
    for flag, arg in value.items():
        where = line_of(value, flag) or line
        if not isinstance(flag, str) or not _FLAG.fullmatch(flag):
            raise InputError(f"{what}: {flag!r} is not a flag name (letters, digits, '-', '_', "
                             f"'.'; without the leading --)", file=file, line=where)
        if isinstance(arg, list):
            raise InputError(f"{what}.{flag} must be a single value (join lists with ',')",
                             file=file, line=where)
        single_line(arg, f"{what}.{flag}", file, where)


def _templated(value: Any) -> bool:
    """A Jinja expression (kubespray writes `{{ ... }}` values) is not a value yet."""
    return isinstance(value, str) and "{{" in value


_VALUE_CHECKS: dict[str, Callable[[Any, str, str, int | None], Any]] = {
    "pod_cidr": as_cidr,
    "service_cidr": as_cidr,
    "kube_pods_subnet": as_cidr,
    "kube_service_addresses": as_cidr,
    "cluster_domain": as_dns_name,
    "dns_domain": as_dns_name,
    "node_name": as_node_name,
    "ansible_host": as_address,
    "ansible_ssh_host": as_address,
    "ip": as_address,
    "access_ip": as_address,
    "node_ip": as_address,
    "etcd_member_name": _as_safe_name,
    "cgroup_driver": _as_cgroup_driver,
}

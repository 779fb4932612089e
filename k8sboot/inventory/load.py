"""`load_inventory`: find the dialect, parse, resolve vars, check, warn.

Dialects: a `.ini`/`.cfg` file, or one without a YAML extension whose content
reads as INI, is an Ansible INI inventory; YAML whose top level is `all:` (or
only Ansible group nodes) is an Ansible YAML inventory; any other YAML is the
native format. A directory (kubespray's `inventory/mycluster/`) is read through
the one inventory file it holds.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from k8sboot.errors import InputError
from k8sboot.inventory.ansible import GROUP_KEYS, parse_ansible_ini, parse_ansible_yaml
from k8sboot.inventory.extra_vars import parse_extra_vars
from k8sboot.inventory.ini import looks_like_ini
from k8sboot.inventory.model import Inventory
from k8sboot.inventory.native import TOP_KEYS, parse_native
from k8sboot.inventory.raw import RawInventory
from k8sboot.inventory.resolve import resolve
from k8sboot.inventory.validate import check_roles, role_warnings
from k8sboot.inventory.yaml_lines import load_yaml_text, read_text

_INI_SUFFIXES = (".ini", ".cfg")
_YAML_SUFFIXES = (".yml", ".yaml", ".json")
_NOT_INVENTORY = ("group_vars", "host_vars")


def load_inventory(path: str | Path, extra_vars: Iterable[str] = ()) -> Inventory:
    """Load, resolve and check an inventory; the first problem raises InputError."""
    if isinstance(extra_vars, str):
        extra_vars = [extra_vars]  # one -e value passed bare, not as a list
    inventory_file = _inventory_file(Path(path))
    raw = parse_file(inventory_file)
    inventory = resolve(raw, inventory_file, parse_extra_vars(extra_vars))
    check_roles(inventory, {n: h.line for n, h in raw.hosts.items()}, raw.file)
    inventory.warnings.extend(role_warnings(inventory))
    return inventory


def parse_file(path: Path) -> RawInventory:
    file = str(path)
    text = read_text(path, " the inventory")
    dialect = detect_dialect(path, text)
    if dialect == "ansible-ini":
        return parse_ansible_ini(text, file)
    doc = load_yaml_text(text, file)
    if doc is None:
        raise InputError("the inventory is empty: add a 'hosts:' section", file=file)
    return parse_ansible_yaml(doc, file) if dialect == "ansible-yaml" else parse_native(doc, file)


def detect_dialect(path: Path, text: str) -> str:
    """"native", "ansible-ini" or "ansible-yaml"."""
    suffix = path.suffix.lower()
    if suffix in _INI_SUFFIXES:
        return "ansible-ini"
    if suffix not in _YAML_SUFFIXES and looks_like_ini(text):
        return "ansible-ini"
    try:
        doc = load_yaml_text(text, str(path))
    except InputError:
        return "native"  # not INI-looking either: parse it again later to report the YAML error
    if suffix not in _YAML_SUFFIXES and not isinstance(doc, dict):
        return "ansible-ini"  # e.g. a file that is just host names, one per line
    return "ansible-yaml" if isinstance(doc, dict) and _is_ansible_yaml(doc) else "native"


def _is_ansible_yaml(doc: dict[str, Any]) -> bool:
    if "all" in doc:
        return True
    # Ansible also allows top-level groups without `all:`; the native format never
    # has a key outside TOP_KEYS, so group-shaped mappings only mean Ansible.
    return bool(doc) and not set(doc) & set(TOP_KEYS) and all(
        isinstance(node, dict) and set(node) <= set(GROUP_KEYS) for node in doc.values())


def _inventory_file(path: Path) -> Path:
    if not path.exists():
        raise InputError("inventory not found: pass the path of an inventory file with -i",
                         file=str(path))
    if not path.is_dir():
        return path
    candidates = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")
                        and p.name not in _NOT_INVENTORY
                        and p.suffix.lower() in _INI_SUFFIXES + _YAML_SUFFIXES + ("",))
    if len(candidates) != 1:
        found = ", ".join(p.name for p in candidates) or "none"
        raise InputError(f"a directory inventory must hold exactly one inventory file "
                         f"(found: {found}); pass the file itself", file=str(path))
    return candidates[0]

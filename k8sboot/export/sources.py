"""DIR/roles and DIR/templates: what k8sboot would use, resolved through its own search order.

k8sboot looks for a role in the user's roles dirs (--roles-path, cluster.roles_dir)
before the shipped ones, and for a template in the user's templates dirs
(--templates, cluster.templates_dir), then the role's own templates/, then the
shipped top level (CommandContext.roles_dirs / templates_dirs, Templar.env_for_role).
Ansible searches a role's templates/ before the playbook's templates/, so a
user template that k8sboot prefers over a role's own is also written into
that role's copy.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from k8sboot.engine.roles import find_role

# Python packaging leftovers in an installed k8sboot's data dirs: no part of a role or template
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "__init__.py")


def _files(root: Path) -> list[Path]:
    return sorted(p.relative_to(root) for p in root.rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts and p.name != "__init__.py"
                  and not p.name.endswith(".pyc"))


def copy_roles(names: list[str], roles_dirs: list[Path], dest: Path) -> dict[str, Path]:
    """Each role copied from the first dir that has it; name -> where it came from."""
    found: dict[str, Path] = {}
    for name in names:
        found[name] = find_role(name, roles_dirs)
        shutil.copytree(found[name], dest / name, ignore=_IGNORED)
    return found


def copy_templates(templates_dirs: list[Path], dest: Path) -> int:
    """Every template, each from the first dir that has it; returns how many."""
    taken: set[Path] = set()
    for directory in templates_dirs:
        for rel in _files(directory):
            if rel not in taken:
                taken.add(rel)
                (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(directory / rel, dest / rel)
    return len(taken)


def user_templates_over_roles(user_dirs: list[Path], roles_dest: Path) -> None:
    """A role's own template that a user dir also has: the user's, as k8sboot picks it."""
    for role_templates in sorted(roles_dest.glob("*/templates")):
        for rel in _files(role_templates):
            user = next((d / rel for d in user_dirs if (d / rel).is_file()), None)
            if user is not None:
                shutil.copyfile(user, role_templates / rel)

"""The modules roles can use, under Ansible's names (also as ansible.builtin.<name>)."""

from k8sboot.engine.modules import command, copy, file, stat, systemd, template, uri, wait_for
from k8sboot.engine.modules.base import ModuleContext, ModuleResult, ModuleSpec

MODULES: dict[str, ModuleSpec] = {
    spec.name: spec
    for spec in (
        template.SPEC, copy.SPEC, file.SPEC, command.COMMAND, command.SHELL,
        systemd.SPEC, wait_for.SPEC, uri.SPEC, stat.SPEC,
    )
}

__all__ = ["MODULES", "ModuleContext", "ModuleResult", "ModuleSpec"]

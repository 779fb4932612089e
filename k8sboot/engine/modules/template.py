"""ansible.builtin.template: render a Jinja2 file locally, write it if its checksum differs."""

from __future__ import annotations

import hashlib
from typing import Any

from k8sboot.engine.modules.base import ModuleContext, ModuleResult, ModuleSpec, module_bool
from k8sboot.engine.modules.remote_file import dest_probes, ensure_file


def run(ctx: ModuleContext, args: dict[str, Any]) -> ModuleResult:
    text = ctx.templar.render_file(str(args["src"]), ctx.vars, ctx.role_dir)
    data = text.encode()
    return ensure_file(
        ctx, str(args["dest"]), data, hashlib.sha256(data).hexdigest(),
        args.get("mode"), args.get("owner"), args.get("group"), text_for_diff=text,
        force=module_bool(args, "force", default=True),
    )


SPEC = ModuleSpec("template", run, frozenset({"src", "dest", "mode", "owner", "group", "force"}),
                  frozenset({"src", "dest"}), probes=dest_probes)

"""`k8sboot binaries build|list`: build components from source, or show what an inventory uses."""

from __future__ import annotations

import argparse
from pathlib import Path

from k8sboot.binaries import (
    KUBE_BUILDABLE,
    build_from_source,
    default_cache_dir,
    kubernetes_version,
    resolve_binaries,
)


def run(args: argparse.Namespace) -> int:
    if args.binaries_command == "build":
        return _build(args)
    return _list(args)


def _build(args: argparse.Namespace) -> int:
    components = args.component or list(KUBE_BUILDABLE)
    out = Path(args.out) if args.out else None

    def log(line: str) -> None:
        # verbatim and unwrapped: make's lines hold [brackets] and long paths
        print(line, flush=True)

    bin_dir = build_from_source(Path(args.src_dir), components, out, log,
                                fix_reflect2=args.fix_reflect2)
    print(f"binaries: {', '.join(components)} in {bin_dir}")
    return 0


def _list(args: argparse.Namespace) -> int:
    from k8sboot.commands.context import build_context  # loads the whole inventory stack

    ctx = build_context(args)
    inv = ctx.inventory
    base_dir = inv.path.parent if inv.path is not None else None
    resolved = resolve_binaries(inv.cluster.get("binaries"), default_cache_dir(), base_dir)
    rows = [("COMPONENT", "VERSION", "SHA256", "SOURCE")]
    rows += [(b.component, b.version, b.sha256[:12], b.source) for b in resolved.values()]
    # plain aligned columns, never truncated: paths stay whole for grep and copy-paste
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        print("  ".join(r[i].ljust(widths[i]) for i in range(3)) + "  " + r[3])
    print(f"Kubernetes {kubernetes_version(resolved)}")
    return 0

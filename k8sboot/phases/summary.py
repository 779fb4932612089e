"""Phase: the nodes as `kubectl get nodes -o wide` shows them, and where the kubeconfig is."""

from __future__ import annotations

from datetime import UTC, datetime

from k8sboot import ui
from k8sboot.phases.base import RunContext


def _age(ts: datetime | None) -> str:
    if ts is None:
        return "?"
    secs = int((datetime.now(UTC) - ts).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size:
            return f"{secs // size}{unit}"
    return f"{secs}s"


def node_rows(views: dict) -> list[list[str]]:
    rows = [["NAME", "STATUS", "ROLES", "AGE", "VERSION", "INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE",
             "KERNEL-VERSION", "CONTAINER-RUNTIME"]]
    for name in sorted(views):
        n = views[name].raw
        roles = sorted(k.split("/", 1)[1] for k in (n.metadata.labels or {})
                       if k.startswith("node-role.kubernetes.io/")) or ["<none>"]
        addrs = {a.type: a.address for a in n.status.addresses or []}
        info = n.status.node_info
        rows.append([
            name, "Ready" if views[name].is_ready else "NotReady", ",".join(roles),
            _age(n.metadata.creation_timestamp), info.kubelet_version, addrs.get("InternalIP", "<none>"),
            addrs.get("ExternalIP", "<none>"), info.os_image, info.kernel_version,
            info.container_runtime_version,
        ])
    return rows


def format_table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("   ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


class Summary:
    title = "summary"

    def run(self, ctx: RunContext) -> None:
        views = ctx.learned.nodes
        if views:
            ui.console.print(format_table(node_rows(views)), markup=False, highlight=False)
        ui.info(f"\nadmin kubeconfig: {ctx.state.admin_kubeconfig}")
        ui.info(f"  kubectl --kubeconfig {ctx.state.admin_kubeconfig} get nodes")

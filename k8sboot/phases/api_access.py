"""Phase: what the cluster needs through its API before nodes join: RBAC for kubelet access."""

from __future__ import annotations

from k8sboot import ui
from k8sboot.api_retry import call_api
from k8sboot.cluster_layout import CONTROL_PLANE
from k8sboot.phases.base import RunContext


class ApiAccess:
    title = "rbac"

    def run(self, ctx: RunContext) -> None:
        if not ctx.hosts_in(CONTROL_PLANE):
            return  # up --limit on nodes: the control plane's settings are a full run's business
        if ctx.options.check:
            ui.info("  (check mode: the API is not changed)")
            return
        # the kubernetes client loads slowly: imported by the phases that use it, when they run
        from k8sboot.cluster_api import ensure_kubelet_api_rbac

        api = ctx.api()
        changed = call_api(lambda: ensure_kubelet_api_rbac(api), "rbac (apiserver -> kubelet access)",
                           api.configuration.host)
        ui.info(f"  apiserver -> kubelet RBAC {'applied' if changed else 'already in place'}")
        ctx.learned.api = api

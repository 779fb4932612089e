"""Phase: what the cluster needs through its API before nodes join: RBAC for kubelet access."""

from __future__ import annotations

from k8sboot import ui
from k8sboot.cluster_api import api_client, ensure_kubelet_api_rbac
from k8sboot.phases.base import RunContext
from k8sboot.plan import apiserver_urls


class ApiAccess:
    title = "rbac"

    def run(self, ctx: RunContext) -> None:
        if ctx.options.check:
            ui.info("  (check mode: the API is not changed)")
            return
        api = api_client(ctx.state.admin_kubeconfig, apiserver_urls(ctx.inventory))
        changed = ensure_kubelet_api_rbac(api)
        ui.info(f"  apiserver -> kubelet RBAC {'applied' if changed else 'already in place'}")
        ctx.learned.api = api

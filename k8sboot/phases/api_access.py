"""Phase: what the cluster needs through its API before nodes join: RBAC for kubelet access."""

from __future__ import annotations

import time

from k8sboot import ui
from k8sboot.errors import RunError
from k8sboot.phases.base import RunContext

# An apiserver that has just said ready may still answer 5xx while it warms up (a
# software-emulated VM: "request did not complete within 1m0s"): retry those for a while.
TRANSIENT_FOR = 300.0
RETRY_EVERY = 5.0


class ApiAccess:
    title = "rbac"

    def run(self, ctx: RunContext) -> None:
        if ctx.options.check:
            ui.info("  (check mode: the API is not changed)")
            return
        # the kubernetes client loads slowly: imported by the phases that use it, when they run
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        from k8sboot.cluster_api import ensure_kubelet_api_rbac

        api = ctx.api()
        deadline = time.monotonic() + TRANSIENT_FOR
        while True:
            try:
                changed = ensure_kubelet_api_rbac(api)
                break
            except (ApiException, HTTPError, OSError) as e:
                status = getattr(e, "status", None)
                transient = not isinstance(e, ApiException) or status == 429 or (status or 0) >= 500
                what = f"{status} {getattr(e, 'reason', '')}".strip() if status else type(e).__name__
                if not transient or time.monotonic() > deadline:
                    raise RunError(f"rbac: the apiserver at {api.configuration.host} did not accept the "
                                   f"apiserver -> kubelet RBAC ({what}); run `k8sboot up` again once "
                                   "it answers") from None
                ui.info(f"  the apiserver is not answering yet ({what}); retrying")
                time.sleep(RETRY_EVERY)
        ui.info(f"  apiserver -> kubelet RBAC {'applied' if changed else 'already in place'}")
        ctx.learned.api = api

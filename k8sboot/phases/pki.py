"""Phase: the certificates and kubeconfigs, made locally and reused on rerun."""

from __future__ import annotations

from k8sboot import ui
from k8sboot.phases.base import RunContext
from k8sboot.pki import ensure_pki
from k8sboot.pki.expiry import expiring_soon
from k8sboot.pki.files import PRIVATE_MODE, write_atomic


class Pki:
    title = "pki"

    def run(self, ctx: RunContext) -> None:
        result = ensure_pki(ctx.plan.pki_spec(), ctx.state.pki_dir, ctx.plan.api_server_url,
                            admin_server_url=ctx.plan.admin_server_url,
                            local_server_url=ctx.plan.local_server_url)
        for w in result.warnings:
            ui.warn(w)
        ui.info(f"  {result.summary()}")
        soon = expiring_soon(ctx.state.pki_dir)
        if soon:  # leaves were re-issued above; what is left is a CA, or one of its own certs
            ui.warn(f"certificates expiring within 30 days: {', '.join(soon)} "
                    f"(`k8sboot certs check-expiration` shows them all)")
        # the admin kubeconfig users are pointed at
        admin = ctx.state.pki_dir / "kubeconfigs" / "admin.kubeconfig"
        target = ctx.state.admin_kubeconfig
        data = admin.read_bytes()
        if not target.exists() or target.read_bytes() != data:
            write_atomic(target, data, PRIVATE_MODE)  # 0600 from its first byte

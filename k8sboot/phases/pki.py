"""Phase: the certificates and kubeconfigs, made locally and reused on rerun."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from k8sboot import ui
from k8sboot.phases.base import RunContext
from k8sboot.pki import ensure_pki
from k8sboot.pki.expiry import DEFAULT_WARN_DAYS, cert_name
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
        # from the certificates ensure_pki just read or made (reading the directory again cost
        # 50 ms of every 30-host rerun, before any host was touched)
        now = datetime.now(UTC)
        soon = [cert_name(stem, ca=ca) for stem, ca in result.expiring(timedelta(days=DEFAULT_WARN_DAYS), now)]
        if soon:  # leaves were re-issued above; what is left is a CA, or one of its own certs
            ui.warn(f"certificates expiring within 30 days: {', '.join(soon)} "
                    f"(`k8sboot certs check-expiration` shows them all)")
        # the admin kubeconfig users are pointed at
        admin = ctx.state.pki_dir / "kubeconfigs" / "admin.kubeconfig"
        target = ctx.state.admin_kubeconfig
        data = admin.read_bytes()
        if not target.exists() or target.read_bytes() != data:
            write_atomic(target, data, PRIVATE_MODE)  # 0600 from its first byte

"""Phase: Secrets already in etcd rewritten once encryption at rest is on (CIS 1.2.33).

The apiserver encrypts what it writes from the moment it runs with an
encryption config; what was written before stays plain text in etcd until
it is written again. So, after the control planes run with the config, every
Secret is read and written back unchanged (an update the API accepts as a
no-op for its content). The state directory records the config this was done
for, so reruns skip it, and a new config (a new key) does it again. A run that
made etcd anew skips it: its apiservers wrote every Secret with the config.
"""

from __future__ import annotations

import hashlib

from k8sboot import ui
from k8sboot.cluster_layout import CONTROL_PLANE
from k8sboot.errors import RunError
from k8sboot.phases.base import RunContext
from k8sboot.pki.encryption import FILE_NAME
from k8sboot.plan import hardening_settings

MARKER = "secrets-encrypted.json"  # under the state directory
REQUEST_TIMEOUT = 30


class EncryptSecrets:
    title = "encrypt secrets"

    def run(self, ctx: RunContext) -> None:
        if ctx.options.check or not hardening_settings(ctx.plan.settings)["encrypt_secrets"]:
            return
        if not ctx.hosts_in(CONTROL_PLANE):
            return  # up --limit on nodes: the apiservers (which encrypt) are not in this run
        config = ctx.state.pki_dir / FILE_NAME
        digest = hashlib.sha256(config.read_bytes()).hexdigest()
        marker = ctx.state.root / MARKER
        if ctx.state.read_json(marker, {}) == {"config_sha256": digest}:
            return
        if ctx.learned.etcd_created:
            # etcd was made empty by this run and its apiservers started with this config: every
            # Secret in it was encrypted as it was written (rewriting took 2-8 s of a cold `up`)
            ctx.state.write_json(marker, {"config_sha256": digest})
            ui.info("  Secrets encrypted from the start (etcd is new)")
            return
        rewritten = rewrite_secrets(ctx.api())
        ctx.state.write_json(marker, {"config_sha256": digest})
        ui.info(f"  {rewritten} Secret(s) written again, now encrypted in etcd")


def rewrite_secrets(api: object) -> int:
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    core = client.CoreV1Api(api)
    count = 0
    for secret in core.list_secret_for_all_namespaces(_request_timeout=REQUEST_TIMEOUT).items:
        meta = secret.metadata
        if meta is None or not meta.name or not meta.namespace:
            continue
        ns, name = str(meta.namespace), str(meta.name)
        for attempt in range(3):
            try:
                core.replace_namespaced_secret(name, ns, secret, _request_timeout=REQUEST_TIMEOUT)
                count += 1
                break
            except ApiException as e:
                if e.status == 404:  # deleted meanwhile: nothing left to encrypt
                    break
                if e.status != 409 or attempt == 2:
                    raise RunError(f"cannot rewrite Secret {ns}/{name} to encrypt it: {e.status} {e.reason}") from None
                secret = core.read_namespaced_secret(name, ns, _request_timeout=REQUEST_TIMEOUT)
    return count


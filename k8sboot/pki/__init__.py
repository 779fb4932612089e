"""The cluster PKI: CAs, certificates, keys and kubeconfigs, kept in ``state.pki_dir``.

``ensure_pki`` is idempotent: files that already fit the spec are left
untouched (not even rewritten), a leaf whose subject, SANs or usages no
longer fit, or that expires within ``spec.renew_before``, is re-issued with
its existing key by the existing CA, and missing files are created. The CAs
and the service-account key are never replaced automatically.

Local file names are in :mod:`k8sboot.pki.layout`, which host gets which
file (and the remote paths) in :mod:`k8sboot.pki.distribution`, why there
are two CAs and one kubelet cert per node in :mod:`k8sboot.pki.catalog`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from k8sboot.errors import InputError
from k8sboot.pki import layout
from k8sboot.pki.authority import Authority, ensure_authority
from k8sboot.pki.catalog import Endpoint, Issuer, kubeconfig_profiles, leaf_profiles
from k8sboot.pki.distribution import (
    ROLE_CONTROL_PLANE,
    ROLE_ETCD,
    ROLE_NODES,
    Upload,
    files_for_host,
    read_for_upload,
    remote_mode,
    uploads_for_host,
)
from k8sboot.pki.kubeconfig import render_kubeconfig
from k8sboot.pki.leaves import LeafFiles, ensure_leaf
from k8sboot.pki.result import PkiResult
from k8sboot.pki.sans import parse_ip
from k8sboot.pki.encryption import ensure_encryption_config
from k8sboot.pki.service_account import ensure_service_account_keys
from k8sboot.pki.spec import ControlPlane, EtcdMember, Node, PkiSpec
from k8sboot.pki.store import PkiStore

__all__ = [
    "ROLE_CONTROL_PLANE",
    "ROLE_ETCD",
    "ROLE_NODES",
    "ControlPlane",
    "EtcdMember",
    "Node",
    "PkiResult",
    "PkiSpec",
    "Upload",
    "default_api_server_url",
    "ensure_pki",
    "files_for_host",
    "kubeconfig_path",
    "read_for_upload",
    "remote_mode",
    "render_kubeconfig",
    "uploads_for_host",
]

API_PORT = 6443
LOCAL_API_SERVER_URL = f"https://127.0.0.1:{API_PORT}"


def default_api_server_url(spec: PkiSpec) -> str:
    """https://<first address of the first control plane>:6443."""
    for cp in spec.control_planes:
        if cp.addresses:
            address = cp.addresses[0]
            ip = parse_ip(address)
            host = f"[{address}]" if ip is not None and ip.version == 6 else address
            return f"https://{host}:{API_PORT}"
    raise InputError("no control plane with an address: pass api_server_url explicitly")


def kubeconfig_path(pki_dir: Path, name: str) -> Path:
    """Local kubeconfig: name is admin, controller-manager, scheduler, kube-proxy, kubelet-<node>."""
    return layout.PkiLayout(pki_dir).kubeconfig(name)


def ensure_pki(
    spec: PkiSpec,
    pki_dir: Path,
    api_server_url: str | None = None,
    *,
    admin_server_url: str | None = None,
    local_server_url: str = LOCAL_API_SERVER_URL,
    now: datetime | None = None,
) -> PkiResult:
    """Create or update the PKI under `pki_dir` for `spec`; report what changed.

    api_server_url: what kubelets and kube-proxy dial (default: first control
    plane, https://ADDR:6443). admin_server_url: the admin kubeconfig's server
    (default: api_server_url). local_server_url: controller-manager and
    scheduler, which run beside the apiserver. `now` is for tests.
    """
    now = now or datetime.now(UTC)
    api_server_url = api_server_url or default_api_server_url(spec)
    urls = {
        Endpoint.ADMIN: admin_server_url or api_server_url,
        Endpoint.LOCAL: local_server_url,
        Endpoint.CLUSTER: api_server_url,
    }
    store = PkiStore(pki_dir)
    store.prepare()

    cas: dict[Issuer, Authority] = {
        Issuer.CLUSTER: ensure_authority(
            store, layout.CA, f"{spec.cluster_name}-ca", now, spec.ca_validity, spec.renew_before
        ),
        Issuer.ETCD: ensure_authority(
            store,
            layout.ETCD_CA,
            f"{spec.cluster_name}-etcd-ca",
            now,
            spec.ca_validity,
            spec.renew_before,
        ),
        Issuer.FRONT_PROXY: ensure_authority(
            store,
            layout.FRONT_PROXY_CA,
            f"{spec.cluster_name}-aggr-ca",  # the aggregation layer; as long as "-etcd-ca"
            now,
            spec.ca_validity,
            spec.renew_before,
        ),
    }
    ensure_service_account_keys(store)
    ensure_encryption_config(store)

    leaves: dict[str, tuple[LeafFiles, str]] = {}
    for profile in leaf_profiles(spec):
        files = ensure_leaf(
            store, profile, cas[profile.issuer], now, spec.leaf_validity, spec.renew_before
        )
        leaves[profile.stem] = (files, profile.common_name)

    ca_pem = cas[Issuer.CLUSTER].cert_pem
    for kc in kubeconfig_profiles(spec):
        files, user = leaves[kc.cert_stem]
        text = render_kubeconfig(
            urls[kc.endpoint], ca_pem, files.cert_pem, files.key_pem, user, spec.cluster_name
        )
        store.save(
            store.layout.kubeconfig(kc.name),
            text.encode(),
            private=True,
            reason="certificate or server URL changed",
        )
    return store.result

"""CIS Kubernetes Benchmark v1.6, section 2: etcd, from the flags of the running etcd.

etcd takes a flag it was not given on its command line from ETCD_<NAME> in its
environment (the unit's EnvironmentFile): those count too, the command line first.
"""

from __future__ import annotations

import pytest

from k8sboot import cluster_layout as layout
from k8sboot.health.cis.audit import (
    CLUSTER_CA,
    ETCD,
    AuditError,
    expect,
    fail,
    read_file,
    stat_file,
)
from k8sboot.health.cis.flags import want_bool, want_set
from k8sboot.health.cis.rules import ConfigError, shared_certificates
from k8sboot.pki import layout as pki_layout

pytestmark = pytest.mark.group(layout.ETCD)


def test_2_1_cert_file(procs):
    """2.1 etcd --cert-file and --key-file set"""
    expect(want_set(procs.flags(ETCD), "cert-file", "key-file"))


def test_2_2_client_cert_auth(procs):
    """2.2 etcd --client-cert-auth=true"""
    expect(want_bool(procs.flags(ETCD), "client-cert-auth", want=True, default=False))


def test_2_3_auto_tls(procs):
    """2.3 etcd --auto-tls not true"""
    expect(want_bool(procs.flags(ETCD), "auto-tls", want=False, default=False))


def test_2_4_peer_cert_file(procs):
    """2.4 etcd --peer-cert-file and --peer-key-file set"""
    expect(want_set(procs.flags(ETCD), "peer-cert-file", "peer-key-file"))


def test_2_5_peer_client_cert_auth(procs):
    """2.5 etcd --peer-client-cert-auth=true"""
    expect(want_bool(procs.flags(ETCD), "peer-client-cert-auth", want=True, default=False))


def test_2_6_peer_auto_tls(procs):
    """2.6 etcd --peer-auto-tls not true"""
    expect(want_bool(procs.flags(ETCD), "peer-auto-tls", want=False, default=False))


def _cluster_ca(host, cluster_state) -> tuple[bytes, str]:
    """The cluster CA certificate: the host's copy when it has one (a control plane or a node),
    else the one in the local state dir (an etcd-only host holds no cluster CA)."""
    try:
        if stat_file(host, CLUSTER_CA) is not None:
            return read_file(host, CLUSTER_CA), f"{CLUSTER_CA} on the host"
    except AuditError as e:
        fail(str(e))
    local = pki_layout.PkiLayout(cluster_state.pki_dir).crt(pki_layout.CA)
    try:
        return local.read_bytes(), str(local)
    except OSError as e:
        fail(f"no cluster CA to compare with: none at {CLUSTER_CA} on the host, and {local}: "
             f"{e.strerror or e}")


def test_2_7_unique_ca(host, procs, cluster_state):
    """2.7 etcd --trusted-ca-file is not the cluster CA"""
    f = procs.flags(ETCD)
    path = f.value("trusted-ca-file")
    if not path:
        fail("etcd: --trusted-ca-file not set (client certificates are checked against no CA)")
    try:
        etcd_ca = read_file(host, path)
    except AuditError as e:
        fail(str(e))
    cluster_ca, where = _cluster_ca(host, cluster_state)
    try:
        shared = shared_certificates(etcd_ca, cluster_ca, path, where)
    except ConfigError as e:
        fail(f"cannot compare etcd's CA with the cluster CA: {e}")
    if shared:
        fail(f"etcd {f.show('trusted-ca-file')} holds the cluster CA ({', '.join(shared)}, "
             f"as {where}): any certificate the cluster CA signs is an etcd client")

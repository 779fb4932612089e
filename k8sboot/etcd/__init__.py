"""etcd operations: a client for etcd's v3 JSON gateway and the quorum report.

    k8sboot etcd status -i my.yml     # members, leader, DB size, raft index; exit 1 without quorum
    k8sboot etcd snapshot -i my.yml   # a snapshot in the state dir, named with a UTC timestamp

The client speaks HTTPS with the local PKI's etcd health-check client certificate
(:func:`local_tls`), so it needs nothing on the hosts and no etcdctl here.
"""

from __future__ import annotations

from k8sboot.etcd.client import (
    EtcdClient,
    EtcdError,
    EtcdTLS,
    EtcdUnavailable,
    Member,
    MemberStatus,
    local_tls,
    quorum,
)
from k8sboot.etcd.report import QuorumReport, quorum_report

__all__ = [
    "EtcdClient",
    "EtcdError",
    "EtcdTLS",
    "EtcdUnavailable",
    "Member",
    "MemberStatus",
    "QuorumReport",
    "local_tls",
    "quorum",
    "quorum_report",
]

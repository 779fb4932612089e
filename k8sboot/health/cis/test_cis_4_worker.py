"""CIS Kubernetes Benchmark v1.6, section 4: worker nodes (every host of the nodes group).

The kubelet's settings are read as the kubelet reads them: the config file its
--config names, with a flag of the same meaning on its command line winning, and
the KubeletConfiguration defaults for what neither sets.
"""

from __future__ import annotations

import pytest

from k8sboot import cluster_layout as layout
from k8sboot.health.cis.audit import (
    KUBE_PROXY,
    KUBELET,
    ROOT_OWNED,
    container_type,
    exception,
    expect,
    expect_file,
    fail,
    kubeconfig,
    mode_at_most,
    unit_file,
)
from k8sboot.health.cis.flags import parse_bool
from k8sboot.health.cis.rules import go_duration_seconds

pytestmark = pytest.mark.group(layout.NODES)

MODE_644 = mode_at_most(0o644)

# -- 4.1 files ----------------------------------------------------------------------------------

FIXED_FILES = [
    ("4.1.1", unit_file(KUBELET), MODE_644),
    ("4.1.2", unit_file(KUBELET), ROOT_OWNED),
    ("4.1.3", kubeconfig(KUBE_PROXY), MODE_644),
    ("4.1.4", kubeconfig(KUBE_PROXY), ROOT_OWNED),
]


@pytest.mark.parametrize("item,path,want", FIXED_FILES, ids=[f[0] for f in FIXED_FILES])
def test_node_file(host, item, path, want):
    """{item} {path} {want}"""
    expect_file(host, path, want)


@pytest.mark.parametrize("item,want", [("4.1.5", MODE_644), ("4.1.6", ROOT_OWNED)],
                         ids=["4.1.5", "4.1.6"])
def test_kubelet_kubeconfig(host, procs, item, want):
    """{item} kubelet --kubeconfig file {want}"""
    flags = procs.running(KUBELET)
    path = (flags.value("kubeconfig") if flags else None) or kubeconfig(KUBELET)
    expect_file(host, path, want)


@pytest.mark.parametrize("item,want", [("4.1.7", MODE_644), ("4.1.8", ROOT_OWNED)],
                         ids=["4.1.7", "4.1.8"])
def test_kubelet_client_ca_file(host, procs, item, want):
    """{item} kubelet client CA file (authentication.x509.clientCAFile) {want}"""
    r = procs.kubelet_files().setting("authentication.x509.clientCAFile")
    if not r.value:
        fail(f"kubelet: {r.source}: no client CA file to check (see 4.2.3)")
    expect_file(host, str(r.value), want)


@pytest.mark.parametrize("item,want", [("4.1.9", MODE_644), ("4.1.10", ROOT_OWNED)],
                         ids=["4.1.9", "4.1.10"])
def test_kubelet_config_file(host, procs, item, want):
    """{item} kubelet --config file {want}"""
    view = procs.kubelet_files()
    if view.config_path is None:
        fail("kubelet runs without --config: no config file to check")
    expect_file(host, view.config_path, want)


# -- 4.2 the kubelet's settings ---------------------------------------------------------------------

def test_4_2_1_anonymous_auth(procs):
    """4.2.1 kubelet authentication.anonymous.enabled false"""
    expect(procs.kubelet().want_bool("authentication.anonymous.enabled", False))


def test_4_2_2_authorization_mode(procs):
    """4.2.2 kubelet authorization.mode not AlwaysAllow"""
    r = procs.kubelet().setting("authorization.mode")
    if r.value == "AlwaysAllow":
        fail(f"kubelet: {r.source}; wanted Webhook")


def test_4_2_3_client_ca_file(procs):
    """4.2.3 kubelet authentication.x509.clientCAFile set"""
    expect(procs.kubelet().want_set("authentication.x509.clientCAFile"))


def test_4_2_4_read_only_port(procs):
    """4.2.4 kubelet readOnlyPort 0"""
    r = procs.kubelet().setting("readOnlyPort")
    if r.value != 0 or isinstance(r.value, bool):
        fail(f"kubelet: {r.source}; wanted 0 (the read-only port serves without authentication)")


def test_4_2_5_streaming_connection_idle_timeout(procs):
    """4.2.5 kubelet streamingConnectionIdleTimeout not 0"""
    r = procs.kubelet().setting("streamingConnectionIdleTimeout")
    seconds = go_duration_seconds(str(r.value))
    if seconds is None:
        fail(f"kubelet: {r.source} is not a duration")
    if seconds == 0:
        fail(f"kubelet: {r.source}; wanted a timeout (0 keeps idle streams open forever)")


def test_4_2_6_protect_kernel_defaults(host, procs):
    """4.2.6 kubelet protectKernelDefaults true"""
    problem = procs.kubelet().want_bool("protectKernelDefaults", True)
    if not problem:
        return
    kind = container_type(host)
    if kind and kind != "none":
        exception(problem, f"this host is a container ({kind}), which cannot set the kernel "
                           "settings the kubelet would insist on (kernel.panic and others): "
                           "k8sboot turns it off there (kubelet_protect_kernel_defaults: auto)")
        return
    fail(problem if kind else f"{problem} (and systemd-detect-virt could not tell whether this "
                              "host is a container)")


def test_4_2_7_make_iptables_util_chains(procs):
    """4.2.7 kubelet makeIPTablesUtilChains not false"""
    expect(procs.kubelet().want_bool("makeIPTablesUtilChains", True))


def test_4_2_10_tls_certificate(procs):
    """4.2.10 kubelet tlsCertFile and tlsPrivateKeyFile set"""
    expect(procs.kubelet().want_set("tlsCertFile", "tlsPrivateKeyFile"))


def test_4_2_11_rotate_certificates(procs):
    """4.2.11 kubelet rotateCertificates true"""
    exception(
        procs.kubelet().want_bool("rotateCertificates", True),
        "the kubelet's client certificate comes from k8sboot's PKI, and "
        "`k8sboot certs renew` re-issues it",
    )


def test_4_2_12_rotate_server_certificate(procs):
    """4.2.12 kubelet RotateKubeletServerCertificate and serverTLSBootstrap"""
    view = procs.kubelet()
    gates = view.setting("featureGates")
    gate = gates.value.get("RotateKubeletServerCertificate") if gates.value else None
    problem = view.want_bool("serverTLSBootstrap", True)
    if gate is not None and parse_bool(gate) is False:
        problem = f"kubelet: RotateKubeletServerCertificate={gate} ({gates.source})"
    exception(
        problem,
        "the kubelet's serving certificate comes from k8sboot's PKI (no CSR approver runs), and "
        "`k8sboot certs renew` re-issues it",
    )


def test_4_2_13_tls_cipher_suites(procs):
    """4.2.13 kubelet tlsCipherSuites only strong suites"""
    expect(procs.kubelet().cipher_suites())

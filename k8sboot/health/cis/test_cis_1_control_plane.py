"""CIS Kubernetes Benchmark v1.6, section 1: control plane files and components.

Read as an auditor reads them: the modes and owners of the files on the host, and
the flags of the running processes (/proc/<MainPID>/cmdline of each unit), never
k8sboot's templates. The exceptions k8sboot makes on purpose (as kubeadm does)
WARN with their reason when unmet; docs/cis.md has the table.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from k8sboot import cluster_layout as layout
from k8sboot.health.cis.audit import (
    APISERVER,
    CONTROLLER_MANAGER,
    ETCD,
    ROOT_OWNED,
    SCHEDULER,
    AuditError,
    exception,
    expect,
    expect_file,
    fail,
    is_dir,
    kube_version,
    kubeconfig,
    mode_at_most,
    read_file,
    stat_tree,
    unit_file,
)
from k8sboot.health.cis.flags import (
    Flags,
    want_at_least,
    want_bool,
    want_gate_not_false,
    want_in_list,
    want_not_in_list,
    want_not_value,
    want_set,
    want_unset,
    want_value,
)
from k8sboot.health.cis.rules import (
    cipher_suites_problem,
    encryption_problem,
    mode_problem,
    owner_problem,
)

pytestmark = pytest.mark.group(layout.CONTROL_PLANE)

MODE_644 = mode_at_most(0o644)
MODE_600 = mode_at_most(0o600)
MODE_700 = mode_at_most(0o700)

# -- 1.1 files ------------------------------------------------------------------------------

CONTROL_PLANE_FILES = [
    ("1.1.1", unit_file(APISERVER), MODE_644),
    ("1.1.2", unit_file(APISERVER), ROOT_OWNED),
    ("1.1.3", unit_file(CONTROLLER_MANAGER), MODE_644),
    ("1.1.4", unit_file(CONTROLLER_MANAGER), ROOT_OWNED),
    ("1.1.5", unit_file(SCHEDULER), MODE_644),
    ("1.1.6", unit_file(SCHEDULER), ROOT_OWNED),
]
ETCD_FILES = [
    ("1.1.7", unit_file(ETCD), MODE_644),
    ("1.1.8", unit_file(ETCD), ROOT_OWNED),
]
# CIS asks 644 for these; a kubeconfig holds a private key, so k8sboot keeps them 600
KUBECONFIGS = [
    ("1.1.13", kubeconfig("admin"), MODE_600),
    ("1.1.14", kubeconfig("admin"), ROOT_OWNED),
    ("1.1.15", kubeconfig("scheduler"), MODE_600),
    ("1.1.16", kubeconfig("scheduler"), ROOT_OWNED),
    ("1.1.17", kubeconfig("controller-manager"), MODE_600),
    ("1.1.18", kubeconfig("controller-manager"), ROOT_OWNED),
]


def _ids(items: Sequence[tuple[str, str, object]]) -> list[str]:
    return [i[0] for i in items]


@pytest.mark.parametrize("item,path,want", CONTROL_PLANE_FILES, ids=_ids(CONTROL_PLANE_FILES))
def test_control_plane_unit_file(host, item, path, want):
    """{item} {path} {want}"""
    expect_file(host, path, want)


@pytest.mark.group(layout.ETCD)
@pytest.mark.parametrize("item,path,want", ETCD_FILES, ids=_ids(ETCD_FILES))
def test_etcd_unit_file(host, item, path, want):
    """{item} {path} {want}"""
    expect_file(host, path, want)


def _etcd_data_dir(procs) -> str:
    """etcd's --data-dir as it runs (ETCD_DATA_DIR in its environment too), else k8sboot's."""
    flags = procs.running(ETCD)
    return (flags.value("data-dir") if flags else None) or layout.ETCD_DATA_DIR


@pytest.mark.group(layout.ETCD)
def test_1_1_11_etcd_data_dir_mode(host, procs):
    """1.1.11 etcd data directory mode 700 or stricter"""
    expect_file(host, _etcd_data_dir(procs), MODE_700)


@pytest.mark.group(layout.ETCD)
def test_1_1_12_etcd_data_dir_owner(host, procs):
    """1.1.12 etcd data directory owned by root:root (k8sboot runs etcd as root)"""
    expect_file(host, _etcd_data_dir(procs), ROOT_OWNED)


@pytest.mark.parametrize("item,path,want", KUBECONFIGS, ids=_ids(KUBECONFIGS))
def test_kubeconfig_file(host, item, path, want):
    """{item} {path} {want}"""
    expect_file(host, path, want)


def _pki_dirs(host, inventory_host) -> list[str]:
    """The PKI directories of this host's roles: the cluster's, and etcd's on an etcd member."""
    wanted = []
    if inventory_host.in_group(layout.CONTROL_PLANE):
        wanted.append(layout.K8S_PKI_DIR)
    if inventory_host.in_group(layout.ETCD):
        wanted.append(layout.ETCD_PKI_DIR)
    missing = [d for d in wanted if not is_dir(host, d)]
    if missing:
        fail(f"no directory {' nor '.join(missing)}")
    return wanted


@pytest.mark.group(layout.CONTROL_PLANE, layout.ETCD)
def test_1_1_19_pki_owner(host, inventory_host):
    """1.1.19 PKI directories and everything in them owned by root:root"""
    try:
        found = stat_tree(host, _pki_dirs(host, inventory_host))
    except AuditError as e:
        fail(str(e))
    wrong = [p for f in found if (p := owner_problem(f.path, f.user, f.group))]
    expect("; ".join(wrong))


@pytest.mark.group(layout.CONTROL_PLANE, layout.ETCD)
def test_1_1_20_certificate_modes(host, inventory_host):
    """1.1.20 PKI certificate files (*.crt) mode 644 or stricter"""
    try:
        found = stat_tree(host, _pki_dirs(host, inventory_host), "-type f -name '*.crt'")
    except AuditError as e:
        fail(str(e))
    wrong = [p for f in found if (p := mode_problem(f.path, f.mode, 0o644))]
    expect("; ".join(wrong))


@pytest.mark.group(layout.CONTROL_PLANE, layout.ETCD)
def test_1_1_21_key_modes(host, inventory_host):
    """1.1.21 PKI key files (*.key) mode 600 or stricter"""
    try:
        found = stat_tree(host, _pki_dirs(host, inventory_host), "-type f -name '*.key'")
    except AuditError as e:
        fail(str(e))
    wrong = [p for f in found if (p := mode_problem(f.path, f.mode, 0o600))]
    expect("; ".join(wrong))


# -- 1.2 kube-apiserver ------------------------------------------------------------------------

AUTHORIZATION_DEFAULT = ("AlwaysAllow",)  # kube-apiserver 1.16-1.20 without --authorization-mode
# the plugins kube-apiserver enables without being asked (1.16-1.20), among those CIS names
ADMISSION_DEFAULT = ("NamespaceLifecycle", "ServiceAccount")

ANONYMOUS_REASON = (
    "as kubeadm: the unauthenticated /healthz and /readyz probes and the node-local "
    "apiserver load balancer's health checks need anonymous requests (RBAC still limits them)"
)


def _admission_enabled(f: Flags) -> Flags:
    """--enable-admission-plugins, with the deprecated --admission-control's words added."""
    words = f.items("enable-admission-plugins") + f.items("admission-control")
    if not words:
        return f
    given = dict(f.given)
    given["enable-admission-plugins"] = (",".join(words),)
    return Flags(f.process, f.argv, given, f.env, f.env_prefix, f.pid)


def test_1_2_1_anonymous_auth(procs):
    """1.2.1 kube-apiserver --anonymous-auth=false"""
    f = procs.flags(APISERVER)
    exception(want_bool(f, "anonymous-auth", want=False, default=True), ANONYMOUS_REASON)


def test_1_2_2_basic_auth_file(procs):
    """1.2.2 kube-apiserver --basic-auth-file not set"""
    expect(want_unset(procs.flags(APISERVER), "basic-auth-file"))


def test_1_2_3_token_auth_file(procs):
    """1.2.3 kube-apiserver --token-auth-file not set"""
    expect(want_unset(procs.flags(APISERVER), "token-auth-file"))


def test_1_2_4_kubelet_https(procs):
    """1.2.4 kube-apiserver --kubelet-https not false"""
    expect(want_bool(procs.flags(APISERVER), "kubelet-https", want=True, default=True))


def test_1_2_5_kubelet_client_certificate(procs):
    """1.2.5 kube-apiserver --kubelet-client-certificate and --kubelet-client-key set"""
    expect(want_set(procs.flags(APISERVER), "kubelet-client-certificate", "kubelet-client-key"))


def test_1_2_6_kubelet_certificate_authority(procs):
    """1.2.6 kube-apiserver --kubelet-certificate-authority set"""
    expect(want_set(procs.flags(APISERVER), "kubelet-certificate-authority"))


def test_1_2_7_authorization_not_always_allow(procs):
    """1.2.7 kube-apiserver --authorization-mode without AlwaysAllow"""
    f = procs.flags(APISERVER)
    expect(want_not_in_list(f, "authorization-mode", "AlwaysAllow", AUTHORIZATION_DEFAULT))


def test_1_2_8_authorization_node(procs):
    """1.2.8 kube-apiserver --authorization-mode includes Node"""
    f = procs.flags(APISERVER)
    expect(want_in_list(f, "authorization-mode", "Node", AUTHORIZATION_DEFAULT))


def test_1_2_9_authorization_rbac(procs):
    """1.2.9 kube-apiserver --authorization-mode includes RBAC"""
    f = procs.flags(APISERVER)
    expect(want_in_list(f, "authorization-mode", "RBAC", AUTHORIZATION_DEFAULT))


def test_1_2_10_event_rate_limit(procs):
    """1.2.10 kube-apiserver admission plugin EventRateLimit"""
    f = _admission_enabled(procs.flags(APISERVER))
    exception(
        want_in_list(f, "enable-admission-plugins", "EventRateLimit"),
        "as kubeadm: it needs an --admission-control-config-file with limits sized for the "
        "cluster (apiserver_extra_args)",
    )


def test_1_2_11_always_admit(procs):
    """1.2.11 kube-apiserver --enable-admission-plugins without AlwaysAdmit"""
    f = _admission_enabled(procs.flags(APISERVER))
    expect(want_not_in_list(f, "enable-admission-plugins", "AlwaysAdmit"))


def test_1_2_12_always_pull_images(procs):
    """1.2.12 kube-apiserver admission plugin AlwaysPullImages"""
    f = _admission_enabled(procs.flags(APISERVER))
    exception(
        want_in_list(f, "enable-admission-plugins", "AlwaysPullImages"),
        "as kubeadm: it breaks images imported into containerd that no registry serves "
        "(k8sboot's own pause and smoke images)",
    )


def test_1_2_13_security_context_deny(procs):
    """1.2.13 kube-apiserver admission plugin SecurityContextDeny (unless PodSecurityPolicy)"""
    f = _admission_enabled(procs.flags(APISERVER))
    if want_in_list(f, "enable-admission-plugins", "PodSecurityPolicy") is None:
        return
    exception(
        want_in_list(f, "enable-admission-plugins", "SecurityContextDeny"),
        "as kubeadm: it refuses pods that set securityContext fields many workloads need",
    )


def test_1_2_14_service_account_plugin(procs):
    """1.2.14 kube-apiserver admission plugin ServiceAccount not disabled"""
    expect(want_not_in_list(procs.flags(APISERVER), "disable-admission-plugins", "ServiceAccount"))


def test_1_2_15_namespace_lifecycle(procs):
    """1.2.15 kube-apiserver admission plugin NamespaceLifecycle not disabled"""
    f = procs.flags(APISERVER)
    expect(want_not_in_list(f, "disable-admission-plugins", "NamespaceLifecycle"))


def test_1_2_16_pod_security_policy(procs):
    """1.2.16 kube-apiserver admission plugin PodSecurityPolicy"""
    f = _admission_enabled(procs.flags(APISERVER))
    exception(
        want_in_list(f, "enable-admission-plugins", "PodSecurityPolicy"),
        "as kubeadm: with no policies in place first it refuses every pod",
    )


def test_1_2_17_node_restriction(procs):
    """1.2.17 kube-apiserver admission plugin NodeRestriction"""
    f = _admission_enabled(procs.flags(APISERVER))
    expect(want_in_list(f, "enable-admission-plugins", "NodeRestriction")
           or want_not_in_list(f, "disable-admission-plugins", "NodeRestriction"))


def test_1_2_18_insecure_bind_address(procs):
    """1.2.18 kube-apiserver --insecure-bind-address not set"""
    expect(want_unset(procs.flags(APISERVER), "insecure-bind-address"))


def test_1_2_19_insecure_port(host, procs):
    """1.2.19 kube-apiserver --insecure-port=0"""
    f = procs.flags(APISERVER)
    if f.has("insecure-port"):
        expect(want_value(f, "insecure-port", "0", None))
        return
    try:
        version, shown = kube_version(host, f)
    except AuditError as e:
        fail(f"--insecure-port not set, and {e}")
    if version >= (1, 24):
        pytest.skip(f"kube-apiserver {shown} has no --insecure-port (removed in v1.24)")
    fail(f"kube-apiserver {shown}: --insecure-port not set (wanted 0)")


def test_1_2_20_secure_port(procs):
    """1.2.20 kube-apiserver --secure-port not 0"""
    expect(want_not_value(procs.flags(APISERVER), "secure-port", "0"))


def test_1_2_21_profiling(procs):
    """1.2.21 kube-apiserver --profiling=false"""
    expect(want_bool(procs.flags(APISERVER), "profiling", want=False, default=True))


def test_1_2_22_audit_log_path(procs):
    """1.2.22 kube-apiserver --audit-log-path set"""
    expect(want_set(procs.flags(APISERVER), "audit-log-path"))


def test_1_2_23_audit_log_maxage(procs):
    """1.2.23 kube-apiserver --audit-log-maxage 30 or more"""
    expect(want_at_least(procs.flags(APISERVER), "audit-log-maxage", 30))


def test_1_2_24_audit_log_maxbackup(procs):
    """1.2.24 kube-apiserver --audit-log-maxbackup 10 or more"""
    expect(want_at_least(procs.flags(APISERVER), "audit-log-maxbackup", 10))


def test_1_2_25_audit_log_maxsize(procs):
    """1.2.25 kube-apiserver --audit-log-maxsize 100 or more"""
    expect(want_at_least(procs.flags(APISERVER), "audit-log-maxsize", 100))


def test_1_2_27_service_account_lookup(procs):
    """1.2.27 kube-apiserver --service-account-lookup not false"""
    expect(want_bool(procs.flags(APISERVER), "service-account-lookup", want=True, default=True))


def test_1_2_28_service_account_key_file(procs):
    """1.2.28 kube-apiserver --service-account-key-file set"""
    expect(want_set(procs.flags(APISERVER), "service-account-key-file"))


def test_1_2_29_etcd_client_certificate(procs):
    """1.2.29 kube-apiserver --etcd-certfile and --etcd-keyfile set"""
    expect(want_set(procs.flags(APISERVER), "etcd-certfile", "etcd-keyfile"))


def test_1_2_30_tls_certificate(procs):
    """1.2.30 kube-apiserver --tls-cert-file and --tls-private-key-file set"""
    expect(want_set(procs.flags(APISERVER), "tls-cert-file", "tls-private-key-file"))


def test_1_2_31_client_ca_file(procs):
    """1.2.31 kube-apiserver --client-ca-file set"""
    expect(want_set(procs.flags(APISERVER), "client-ca-file"))


def test_1_2_32_etcd_cafile(procs):
    """1.2.32 kube-apiserver --etcd-cafile set"""
    expect(want_set(procs.flags(APISERVER), "etcd-cafile"))


def test_1_2_33_encryption_provider_config(procs):
    """1.2.33 kube-apiserver --encryption-provider-config set"""
    expect(want_set(procs.flags(APISERVER), "encryption-provider-config"))


def test_1_2_34_encryption_providers(host, procs):
    """1.2.34 encryption config: secrets written with aescbc, kms or secretbox"""
    f = procs.flags(APISERVER)
    path = f.value("encryption-provider-config")
    if not path:
        fail("kube-apiserver: --encryption-provider-config not set (secrets are not encrypted)")
    try:
        text = read_file(host, path).decode(errors="replace")
    except AuditError as e:
        fail(str(e))
    expect(encryption_problem(text, path))


def test_1_2_35_tls_cipher_suites(procs):
    """1.2.35 kube-apiserver --tls-cipher-suites only strong suites"""
    f = procs.flags(APISERVER)
    expect(cipher_suites_problem(f.items("tls-cipher-suites"),
                                 "kube-apiserver --tls-cipher-suites"))


# -- 1.3 kube-controller-manager ----------------------------------------------------------------

def test_1_3_1_terminated_pod_gc_threshold(procs):
    """1.3.1 kube-controller-manager --terminated-pod-gc-threshold set"""
    expect(want_set(procs.flags(CONTROLLER_MANAGER), "terminated-pod-gc-threshold"))


def test_1_3_2_profiling(procs):
    """1.3.2 kube-controller-manager --profiling=false"""
    expect(want_bool(procs.flags(CONTROLLER_MANAGER), "profiling", want=False, default=True))


def test_1_3_3_service_account_credentials(procs):
    """1.3.3 kube-controller-manager --use-service-account-credentials=true"""
    f = procs.flags(CONTROLLER_MANAGER)
    expect(want_bool(f, "use-service-account-credentials", want=True, default=False))


def test_1_3_4_service_account_private_key_file(procs):
    """1.3.4 kube-controller-manager --service-account-private-key-file set"""
    expect(want_set(procs.flags(CONTROLLER_MANAGER), "service-account-private-key-file"))


def test_1_3_5_root_ca_file(procs):
    """1.3.5 kube-controller-manager --root-ca-file set"""
    expect(want_set(procs.flags(CONTROLLER_MANAGER), "root-ca-file"))


def test_1_3_6_rotate_kubelet_server_certificate(procs):
    """1.3.6 kube-controller-manager RotateKubeletServerCertificate not disabled"""
    expect(want_gate_not_false(procs.flags(CONTROLLER_MANAGER), "RotateKubeletServerCertificate"))


def test_1_3_7_bind_address(procs):
    """1.3.7 kube-controller-manager --bind-address=127.0.0.1"""
    f = procs.flags(CONTROLLER_MANAGER)
    expect(want_value(f, "bind-address", "127.0.0.1", "0.0.0.0"))


# -- 1.4 kube-scheduler ---------------------------------------------------------------------------

def test_1_4_1_profiling(procs):
    """1.4.1 kube-scheduler --profiling=false"""
    expect(want_bool(procs.flags(SCHEDULER), "profiling", want=False, default=True))


def test_1_4_2_bind_address(procs):
    """1.4.2 kube-scheduler --bind-address=127.0.0.1"""
    expect(want_value(procs.flags(SCHEDULER), "bind-address", "127.0.0.1", "0.0.0.0"))

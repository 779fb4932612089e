"""Hardening by default (docs/cis.md): the flags each version renders, the kubelet's kernel
defaults by host kind, the encryption config and audit policy, and settings that are refused."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml

from k8sboot.errors import InputError
from k8sboot.pki.encryption import encryption_config, ensure_encryption_config
from k8sboot.pki.store import PkiStore
from k8sboot.plan import hardening_settings
from tests.unit.test_ha_templates import THREE, plan_of, render

VERSIONS = ["v1.20.2", "v1.27.4"]


def flags(unit: str) -> dict[str, str]:
    """--name=value of a rendered unit's ExecStart."""
    out = {}
    for line in unit.splitlines():
        line = line.strip().rstrip("\\").strip()
        if line.startswith("--") and "=" in line:
            name, _, value = line[2:].partition("=")
            out[name] = value
    return out


@pytest.mark.parametrize("version", VERSIONS)
def test_the_control_plane_renders_the_cis_flags(version: str):
    plan = plan_of(THREE)
    plan.kube_version = version
    api = flags(render("kube-apiserver/kube-apiserver.service.j2", "control_plane", plan, "cp1"))
    assert api["profiling"] == "false"
    assert api["audit-log-path"] == "/var/log/kubernetes/audit/audit.log"
    assert (api["audit-log-maxage"], api["audit-log-maxbackup"], api["audit-log-maxsize"]) == ("30", "10", "100")
    assert api["audit-policy-file"] == "/etc/kubernetes/audit-policy.yaml"
    assert api["encryption-provider-config"] == "/etc/kubernetes/pki/encryption-config.yaml"
    assert api["tls-min-version"] == "VersionTLS12"
    assert all(s.startswith("TLS_ECDHE_") for s in api["tls-cipher-suites"].split(","))
    assert api["service-account-lookup"] == "true"
    # the aggregation layer (metrics-server and other extension apiservers)
    assert api["requestheader-client-ca-file"] == "/etc/kubernetes/pki/front-proxy-ca.crt"
    assert api["proxy-client-cert-file"] == "/etc/kubernetes/pki/front-proxy-client.crt"
    assert api["requestheader-allowed-names"] == "front-proxy-client"
    assert ("insecure-port" in api) == (version == "v1.20.2")
    cm = flags(render("kube-controller-manager/kube-controller-manager.service.j2", "control_plane", plan, "cp1"))
    assert (cm["profiling"], cm["terminated-pod-gc-threshold"], cm["bind-address"]) == ("false", "1000", "127.0.0.1")
    assert (cm["kube-api-qps"], cm["kube-api-burst"]) == ("100", "200")  # not 1.20's 20/30: a slow first start
    sched = flags(render("kube-scheduler/kube-scheduler.service.j2", "control_plane", plan, "cp1"))
    assert (sched["profiling"], sched["bind-address"]) == ("false", "127.0.0.1")
    etcd = flags(render("etcd/etcd.service.j2", "etcd", plan, "cp1"))
    assert etcd["cipher-suites"] == api["tls-cipher-suites"]


def test_audit_and_encryption_can_be_turned_off_from_the_inventory():
    plan = plan_of(THREE, cluster={"encrypt_secrets": False})
    api = flags(render("kube-apiserver/kube-apiserver.service.j2", "control_plane", plan, "cp1", audit_log=False))
    assert "encryption-provider-config" not in api and "audit-log-path" not in api


@pytest.mark.parametrize(("virt", "setting", "expected"), [
    ("kvm", "auto", True), ("none", "auto", True), ("lxc", "auto", False), ("lxc", True, True),
    ("kvm", False, False), ("kvm", "no", False),
])
def test_the_kubelet_protects_kernel_defaults_except_in_containers(virt: str, setting: object, expected: bool):
    plan = plan_of(THREE, cluster={"kubelet_protect_kernel_defaults": setting})
    plan.facts = {"cp1": {"virtualization_type": virt}}
    config = yaml.safe_load(render("kubelet/config.yaml.j2", "node", plan, "cp1"))
    assert config["protectKernelDefaults"] is expected
    assert config["readOnlyPort"] == 0
    assert config["tlsMinVersion"] == "VersionTLS12" and len(config["tlsCipherSuites"]) == 6
    sysctls = render("node/sysctl.conf.j2", "node", plan, "cp1")
    assert ("kernel.panic = 10" in sysctls) is expected  # what the kubelet then insists on


@pytest.mark.parametrize(("key", "value", "words"), [
    ("tls_cipher_suites", ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 --v=9"], "cipher suite"),
    ("tls_cipher_suites", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "cipher suite"),
    ("tls_cipher_suites", [], "cipher suite"),
    ("tls_min_version", "VersionTLS10", "tls_min_version"),
    ("kubelet_protect_kernel_defaults", "sometimes", "auto, true or false"),
    ("encrypt_secrets", "maybe", "encrypt_secrets"),
])
def test_bad_hardening_settings_are_refused(key: str, value: object, words: str):
    plan = plan_of(THREE, cluster={key: value})
    with pytest.raises(InputError, match=words):
        hardening_settings(plan.settings)


def test_the_encryption_config_holds_a_32_byte_aescbc_key_first_and_is_kept(tmp_path: Path):
    config = yaml.safe_load(encryption_config(b"k" * 32))
    providers = config["resources"][0]["providers"]
    assert config["resources"][0]["resources"] == ["secrets"]
    assert list(providers[0]) == ["aescbc"] and providers[1] == {"identity": {}}
    assert base64.b64decode(providers[0]["aescbc"]["keys"][0]["secret"]) == b"k" * 32
    store = PkiStore(tmp_path)
    store.prepare()
    ensure_encryption_config(store)
    first = (tmp_path / "encryption-config.yaml").read_bytes()
    assert (tmp_path / "encryption-config.yaml").stat().st_mode & 0o777 == 0o600
    ensure_encryption_config(PkiStore(tmp_path))  # a rerun never makes a new key
    assert (tmp_path / "encryption-config.yaml").read_bytes() == first


def test_the_audit_policy_never_logs_secret_bodies():
    plan = plan_of(THREE)
    policy = yaml.safe_load(render("kube-apiserver/audit-policy.yaml.j2", "control_plane", plan, "cp1"))
    assert policy["kind"] == "Policy"
    for rule in policy["rules"]:
        touches_secrets = any("secrets" in r.get("resources", []) for r in rule.get("resources", []))
        if touches_secrets:
            assert rule["level"] in ("None", "Metadata")
    assert policy["rules"][-1] == {"level": "Metadata"}  # the catch-all


def test_certificate_lifetimes_are_inventory_settings():
    from datetime import timedelta

    spec = plan_of(THREE, cluster={"cert_validity_days": 90, "ca_validity_days": 1825}).pki_spec()
    assert (spec.leaf_validity, spec.ca_validity) == (timedelta(days=90), timedelta(days=1825))
    default = plan_of(THREE).pki_spec()
    assert (default.leaf_validity, default.ca_validity) == (timedelta(days=365), timedelta(days=3650))
    with pytest.raises(InputError, match="cert_validity_days"):
        plan_of(THREE, cluster={"cert_validity_days": "a year"}).pki_spec()

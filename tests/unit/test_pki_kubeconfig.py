"""Kubeconfigs: valid YAML, embedded material matches the files, per-consumer URLs."""

from __future__ import annotations

import base64
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from k8sboot.errors import InputError
from k8sboot.pki import PkiSpec, default_api_server_url, ensure_pki, kubeconfig_path
from k8sboot.pki.kubeconfig import render_kubeconfig

SPEC = PkiSpec(
    "demo",
    control_planes=[("cp1", ["10.0.0.11"]), ("cp2", ["10.0.0.12"])],
    etcd_members=[("cp1", ["10.0.0.11"])],
    nodes=[("n1", ["10.0.0.21"])],
)


def parse(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def embedded(config: dict) -> tuple[bytes, bytes, bytes]:
    cluster = config["clusters"][0]["cluster"]
    user = config["users"][0]["user"]
    return (
        base64.b64decode(cluster["certificate-authority-data"]),
        base64.b64decode(user["client-certificate-data"]),
        base64.b64decode(user["client-key-data"]),
    )


def server(config: dict) -> str:
    return config["clusters"][0]["cluster"]["server"]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("kc") / "pki"
    ensure_pki(SPEC, root)
    return root


def test_render_is_a_complete_kubeconfig() -> None:
    text = render_kubeconfig("https://h:6443", b"CA", "CERT", b"KEY", "alice", "demo")
    config = yaml.safe_load(text)
    assert config["apiVersion"] == "v1" and config["kind"] == "Config"
    assert config["current-context"] == "alice@demo"
    assert config["contexts"] == [
        {"name": "alice@demo", "context": {"cluster": "demo", "user": "alice"}}
    ]
    assert config["clusters"][0]["name"] == "demo"
    assert config["users"][0]["name"] == "alice"
    assert server(config) == "https://h:6443"
    assert embedded(config) == (b"CA", b"CERT", b"KEY")
    # deterministic, so reruns can compare text
    assert text == render_kubeconfig("https://h:6443", b"CA", "CERT", b"KEY", "alice", "demo")


@pytest.mark.parametrize(
    ("name", "stem", "user"),
    [
        ("admin", "admin", "kubernetes-admin"),
        ("controller-manager", "controller-manager", "system:kube-controller-manager"),
        ("scheduler", "scheduler", "system:kube-scheduler"),
        ("kube-proxy", "kube-proxy", "system:kube-proxy"),
        ("kubelet-n1", "kubelet/n1", "system:node:n1"),
    ],
)
def test_embedded_material_matches_the_files(pki: Path, name: str, stem: str, user: str) -> None:
    path = kubeconfig_path(pki, name)
    config = parse(path)
    ca, cert, key = embedded(config)
    assert ca == (pki / "ca.crt").read_bytes()
    assert cert == (pki / f"{stem}.crt").read_bytes()
    assert key == (pki / f"{stem}.key").read_bytes()
    parsed = x509.load_pem_x509_certificate(cert)
    assert load_pem_private_key(key, None).public_key() == parsed.public_key()
    parsed.verify_directly_issued_by(x509.load_pem_x509_certificate(ca))
    assert config["users"][0]["name"] == user
    assert config["current-context"] == f"{user}@demo"


@pytest.mark.parametrize(
    ("name", "url"),
    [
        ("admin", "https://10.0.0.11:6443"),
        ("controller-manager", "https://127.0.0.1:6443"),
        ("scheduler", "https://127.0.0.1:6443"),
        ("kube-proxy", "https://10.0.0.11:6443"),
        ("kubelet-n1", "https://10.0.0.11:6443"),
    ],
)
def test_default_server_urls(pki: Path, name: str, url: str) -> None:
    assert server(parse(kubeconfig_path(pki, name))) == url


def test_urls_are_inputs_and_changing_one_rewrites_only_its_consumers(tmp_path: Path) -> None:
    root = tmp_path / "pki"
    ensure_pki(SPEC, root)
    result = ensure_pki(
        SPEC, root, "https://lb.example.com:6443", admin_server_url="https://admin:6443"
    )
    assert {p.name for p in result.changed} == {
        "admin.kubeconfig",
        "kube-proxy.kubeconfig",
        "kubelet-n1.kubeconfig",
    }
    assert server(parse(kubeconfig_path(root, "kubelet-n1"))) == "https://lb.example.com:6443"
    assert server(parse(kubeconfig_path(root, "admin"))) == "https://admin:6443"
    assert server(parse(kubeconfig_path(root, "scheduler"))) == "https://127.0.0.1:6443"


def test_default_url_brackets_ipv6() -> None:
    spec = replace(SPEC, control_planes=(("cp1", ("fd00::11",)),))
    assert default_api_server_url(spec) == "https://[fd00::11]:6443"


def test_no_control_plane_address_needs_an_explicit_url(tmp_path: Path) -> None:
    spec = PkiSpec("demo", nodes=[("n1", [])])
    with pytest.raises(InputError):
        ensure_pki(spec, tmp_path / "pki")
    ensure_pki(spec, tmp_path / "pki", "https://api:6443")
    assert server(parse(kubeconfig_path(tmp_path / "pki", "kubelet-n1"))) == "https://api:6443"

"""The issued certificates: names, SANs, usages, chains."""

from __future__ import annotations

import ipaddress
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from k8sboot.pki import PkiSpec, ensure_pki
from k8sboot.pki.catalog import leaf_profiles
from k8sboot.pki.keys import load_private_key

SERVER = ExtendedKeyUsageOID.SERVER_AUTH
CLIENT = ExtendedKeyUsageOID.CLIENT_AUTH

SPEC = PkiSpec(
    "demo",
    service_cidr="10.96.0.0/12",
    extra_sans=["api.example.com", "192.0.2.10"],
    control_planes=[("cp1", ["10.0.0.11"], ["cp1.lan"])],
    etcd_members=[("cp1", ["10.0.0.11"])],
    nodes=[("n1", ["10.0.0.21"]), ("n2", ["10.0.0.22"]), ("n3", ["10.0.0.23"])],
)

CLUSTER_LEAVES = [
    "apiserver",
    "apiserver-kubelet-client",
    "admin",
    "controller-manager",
    "scheduler",
    "kube-proxy",
    "kubelet/n1",
    "kubelet/n2",
    "kubelet/n3",
]
ETCD_LEAVES = [
    "apiserver-etcd-client",
    "etcd/cp1-server",
    "etcd/cp1-peer",
    "etcd/healthcheck-client",
]
FRONT_PROXY_LEAVES = ["front-proxy-client"]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pki") / "pki"
    ensure_pki(SPEC, root)
    return root


def cert(pki: Path, stem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate((pki / f"{stem}.crt").read_bytes())


def ext(c: x509.Certificate, kind: type):
    return c.extensions.get_extension_for_class(kind)


def cn(c: x509.Certificate) -> str:
    return c.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value


def orgs(c: x509.Certificate) -> list[str]:
    return [a.value for a in c.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]


def test_whole_pki_for_three_nodes_is_fast(tmp_path: Path) -> None:
    start = time.perf_counter()
    ensure_pki(SPEC, tmp_path / "pki")
    assert time.perf_counter() - start < 1.0


def test_catalog_matches_the_expected_set_of_leaves() -> None:
    assert sorted(p.stem for p in leaf_profiles(SPEC)) == sorted(CLUSTER_LEAVES + ETCD_LEAVES + FRONT_PROXY_LEAVES)


def test_the_front_proxy_client_chains_to_its_own_ca_only(pki: Path) -> None:
    c = cert(pki, "front-proxy-client")
    assert c.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == "front-proxy-client"
    aki = ext(c, x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == ext(cert(pki, "front-proxy-ca"), x509.SubjectKeyIdentifier).value.digest
    assert aki.key_identifier != ext(cert(pki, "ca"), x509.SubjectKeyIdentifier).value.digest


def test_apiserver_sans(pki: Path) -> None:
    sans = ext(cert(pki, "apiserver"), x509.SubjectAlternativeName).value
    assert set(sans.get_values_for_type(x509.DNSName)) == {
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
        "localhost",
        "cp1",
        "cp1.lan",
        "api.example.com",
    }
    assert set(sans.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address(a) for a in ("127.0.0.1", "10.96.0.1", "10.0.0.11", "192.0.2.10")
    }


def test_etcd_and_kubelet_sans(pki: Path) -> None:
    def names(stem: str) -> set[str]:
        sans = ext(cert(pki, stem), x509.SubjectAlternativeName).value
        return set(sans.get_values_for_type(x509.DNSName)) | {
            str(ip) for ip in sans.get_values_for_type(x509.IPAddress)
        }

    assert names("etcd/cp1-server") == {"cp1", "10.0.0.11", "localhost", "127.0.0.1"}
    assert names("etcd/cp1-peer") == {"cp1", "10.0.0.11"}
    assert names("kubelet/n2") == {"n2", "10.0.0.22"}


@pytest.mark.parametrize("stem", ["ca", "etcd/ca"])
def test_ca_extensions(pki: Path, stem: str) -> None:
    c = cert(pki, stem)
    bc = ext(c, x509.BasicConstraints)
    assert bc.critical and bc.value.ca
    ku = ext(c, x509.KeyUsage).value
    assert ku.key_cert_sign and ku.crl_sign and ku.digital_signature
    ext(c, x509.SubjectKeyIdentifier)
    c.verify_directly_issued_by(c)  # self-signed
    validity = c.not_valid_after_utc - c.not_valid_before_utc
    assert 3649 <= validity.days <= 3651


@pytest.mark.parametrize(
    ("stem", "usages"),
    [
        ("apiserver", {SERVER}),
        ("apiserver-kubelet-client", {CLIENT}),
        ("apiserver-etcd-client", {CLIENT}),
        ("etcd/healthcheck-client", {CLIENT}),
        ("etcd/cp1-server", {SERVER, CLIENT}),
        ("etcd/cp1-peer", {SERVER, CLIENT}),
        ("admin", {CLIENT}),
        ("controller-manager", {CLIENT}),
        ("scheduler", {CLIENT}),
        ("kube-proxy", {CLIENT}),
        ("kubelet/n1", {SERVER, CLIENT}),
    ],
)
def test_leaf_usages(pki: Path, stem: str, usages: set) -> None:
    c = cert(pki, stem)
    bc = ext(c, x509.BasicConstraints)
    assert bc.critical and not bc.value.ca
    ku = ext(c, x509.KeyUsage).value
    assert ku.digital_signature and not ku.key_cert_sign
    # EC keys: keyEncipherment must not be set.
    assert isinstance(c.public_key(), ec.EllipticCurvePublicKey)
    assert not ku.key_encipherment
    assert set(ext(c, x509.ExtendedKeyUsage).value) == usages
    ext(c, x509.SubjectKeyIdentifier)
    aki = ext(c, x509.AuthorityKeyIdentifier).value
    issuer = cert(pki, "etcd/ca" if stem in ETCD_LEAVES else "ca")
    assert aki.key_identifier == ext(issuer, x509.SubjectKeyIdentifier).value.digest
    validity = c.not_valid_after_utc - c.not_valid_before_utc
    assert 365 <= validity.days <= 366


@pytest.mark.parametrize("stem", CLUSTER_LEAVES)
def test_cluster_leaves_chain_to_the_cluster_ca_only(pki: Path, stem: str) -> None:
    cert(pki, stem).verify_directly_issued_by(cert(pki, "ca"))
    with pytest.raises((ValueError, InvalidSignature)):
        cert(pki, stem).verify_directly_issued_by(cert(pki, "etcd/ca"))


@pytest.mark.parametrize("stem", ETCD_LEAVES)
def test_etcd_leaves_chain_to_the_etcd_ca_only(pki: Path, stem: str) -> None:
    cert(pki, stem).verify_directly_issued_by(cert(pki, "etcd/ca"))
    with pytest.raises((ValueError, InvalidSignature)):
        cert(pki, stem).verify_directly_issued_by(cert(pki, "ca"))


@pytest.mark.parametrize("stem", ["ca", "etcd/ca", *CLUSTER_LEAVES, *ETCD_LEAVES])
def test_every_cert_matches_its_key(pki: Path, stem: str) -> None:
    key = load_private_key(pki / f"{stem}.key")
    assert key.public_key() == cert(pki, stem).public_key()


@pytest.mark.parametrize(
    ("stem", "common_name", "organizations"),
    [
        ("apiserver", "kube-apiserver", []),
        ("apiserver-kubelet-client", "kube-apiserver-kubelet-client", ["system:masters"]),
        ("admin", "kubernetes-admin", ["system:masters"]),
        ("controller-manager", "system:kube-controller-manager", []),
        ("scheduler", "system:kube-scheduler", []),
        ("kube-proxy", "system:kube-proxy", []),
        ("kubelet/n3", "system:node:n3", ["system:nodes"]),
        ("etcd/cp1-server", "cp1", []),
    ],
)
def test_subjects(pki: Path, stem: str, common_name: str, organizations: list[str]) -> None:
    c = cert(pki, stem)
    assert cn(c) == common_name
    assert orgs(c) == organizations


def test_service_account_key_pair_is_rsa_2048(pki: Path) -> None:
    key = load_private_key(pki / "sa.key")
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    assert load_pem_public_key((pki / "sa.pub").read_bytes()) == key.public_key()


def test_a_rerun_derives_the_same_sa_pub_from_sa_key_without_the_rsa_check(pki: Path) -> None:
    # the rerun loads sa.key unchecked (it only derives sa.pub); the key and its public half are
    # those the checked load gives, and a lost sa.pub comes back the same
    checked, unchecked = load_private_key(pki / "sa.key"), load_private_key(pki / "sa.key", check_rsa=False)
    assert checked.private_numbers() == unchecked.private_numbers()  # type: ignore[union-attr]
    sa_pub = (pki / "sa.pub").read_bytes()
    (pki / "sa.pub").unlink()
    from k8sboot.pki.service_account import ensure_service_account_keys
    from k8sboot.pki.store import PkiStore

    ensure_service_account_keys(PkiStore(pki))
    assert (pki / "sa.pub").read_bytes() == sa_pub

"""PkiSpec validation and the values derived from it."""

from __future__ import annotations

import ipaddress
from datetime import timedelta

import pytest

from k8sboot.errors import InputError
from k8sboot.pki import ControlPlane, Node, PkiSpec
from k8sboot.pki.catalog import apiserver_sans


def test_first_service_ip_is_the_kubernetes_service_ip() -> None:
    assert str(PkiSpec("c", service_cidr="10.96.0.0/12").kubernetes_service_ip) == "10.96.0.1"
    assert str(PkiSpec("c", service_cidr="10.32.0.0/24").kubernetes_service_ip) == "10.32.0.1"


def test_dual_stack_service_cidr_gives_one_ip_per_family() -> None:
    spec = PkiSpec("c", service_cidr="10.96.0.0/12,fd00:10:96::/112")
    assert [str(ip) for ip in spec.service_ips] == ["10.96.0.1", "fd00:10:96::1"]


def test_tuples_are_coerced_and_hostnames_may_be_one_string() -> None:
    spec = PkiSpec(
        "c",
        control_planes=[("cp1", ["10.0.0.1"], "cp1.example.com")],
        nodes=[("n1", ["10.0.0.5"])],
        extra_sans=["api.example.com"],
    )
    assert spec.control_planes == (ControlPlane("cp1", ("10.0.0.1",), ("cp1.example.com",)),)
    assert spec.nodes == (Node("n1", ("10.0.0.5",)),)
    assert spec.extra_sans == ("api.example.com",)
    hash(spec)  # frozen and fully hashable


@pytest.mark.parametrize(
    "kwargs",
    [
        {"service_cidr": "10.96.0.0/33"},
        {"service_cidr": "10.96.0.1/32"},
        {"cluster_domain": "bad_domain"},
        {"extra_sans": ["not a name"]},
        {"nodes": [("../evil", [])]},
        {"nodes": [("n1", []), ("n1", [])]},
        {"etcd_members": [("e1", ["10.0.0.1/24"])]},
        {"nodes": [("n1", ["300.1.1.1"])]},
        {"renew_before": timedelta(days=400)},
        {"leaf_validity": timedelta(0)},
        {"nodes": [("n" * 53, [])]},  # system:node:<name> would exceed 64 characters
        {"etcd_members": [("e" * 65, [])]},
    ],
)
def test_bad_input_is_an_input_error(kwargs: dict) -> None:
    with pytest.raises(InputError):
        PkiSpec("c", **kwargs)


def test_longest_allowed_names_work(tmp_path) -> None:
    from k8sboot.pki import ensure_pki

    spec = PkiSpec("c" * 56, nodes=[("n" * 52, [])], etcd_members=[("e" * 63, [])])
    ensure_pki(spec, tmp_path / "pki", "https://api:6443")
    with pytest.raises(InputError):
        PkiSpec("c" * 57)


def test_apiserver_sans_cover_every_required_name() -> None:
    spec = PkiSpec(
        "c",
        cluster_domain="corp.local",
        control_planes=[("cp1", ["10.0.0.1"], ["cp1.lan"]), ("cp2", ["10.0.0.2", "fd00::2"])],
        extra_sans=["LB.example.com", "192.0.2.10"],
    )
    sans = apiserver_sans(spec)
    assert sans.dns == {
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.corp.local",
        "localhost",
        "cp1",
        "cp1.lan",
        "cp2",
        "lb.example.com",
    }
    assert sans.ips == {
        ipaddress.ip_address(a)
        for a in ("127.0.0.1", "10.96.0.1", "10.0.0.1", "10.0.0.2", "fd00::2", "192.0.2.10")
    }

"""Expiry of the local PKI: every CA, leaf and kubeconfig, its issuer (name and signature), time left."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509

from k8sboot.pki import PkiSpec, ensure_pki
from k8sboot.pki import layout as L
from k8sboot.pki.authority import create_ca
from k8sboot.pki.catalog import Issuer, kubeconfig_profiles, leaf_profiles
from k8sboot.pki.certs import cert_pem, issue_leaf, load_cert
from k8sboot.pki.expiry import (
    CA,
    KUBECONFIG,
    LEAF,
    SELF_SIGNED,
    cert_name,
    expiring_soon,
    read_pki,
    residual,
)
from k8sboot.pki.keys import load_private_key, new_ec_key

SPEC = PkiSpec(
    "demo",
    control_planes=[("cp1", ["10.0.0.11"]), ("cp2", ["10.0.0.12"])],
    etcd_members=[("cp1", ["10.0.0.11"]), ("cp2", ["10.0.0.12"]), ("e3", ["10.0.0.13"])],
    nodes=[("n1", ["10.0.0.21"]), ("n2", ["10.0.0.22"])],
)
# the CAs every cluster has, by the names check-expiration gives them
KNOWN_CAS = {Issuer.CLUSTER: "ca", Issuer.ETCD: "etcd-ca"}


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("state") / "pki"
    ensure_pki(SPEC, root)
    return root


@pytest.fixture
def own_pki(tmp_path: Path) -> Path:
    """A PKI this test may change."""
    root = tmp_path / "pki"
    ensure_pki(SPEC, root)
    return root


def reissue(pki: Path, stem: str, now: datetime, validity: timedelta, ca: str = L.CA) -> None:
    """Re-issue one leaf of the catalog (its key, its CA) with the given validity."""
    profile = next(p for p in leaf_profiles(SPEC) if p.stem == stem)
    key = load_private_key(pki / f"{stem}.key")
    cert = issue_leaf(profile, key.public_key(), load_cert(pki / f"{ca}.crt"),
                      load_private_key(pki / f"{ca}.key"), now, validity)
    (pki / f"{stem}.crt").write_bytes(cert_pem(cert))


def test_names_follow_kubeadm_where_it_has_them() -> None:
    assert cert_name(L.CA, ca=True) == "ca"
    assert cert_name(L.ETCD_CA, ca=True) == "etcd-ca"
    assert cert_name("front-proxy-ca", ca=True) == "front-proxy-ca"
    assert cert_name(L.APISERVER) == "apiserver"
    assert cert_name(L.APISERVER_ETCD_CLIENT) == "apiserver-etcd-client"
    assert cert_name(L.APISERVER_KUBELET_CLIENT) == "apiserver-kubelet-client"
    assert cert_name(L.ETCD_HEALTHCHECK_CLIENT) == "etcd-healthcheck-client"
    assert cert_name(L.etcd_server("cp1")) == "etcd-server/cp1"
    assert cert_name(L.etcd_peer("cp1")) == "etcd-peer/cp1"
    assert cert_name(L.kubelet("n1")) == "kubelet/n1"
    # a member whose own name ends like a suffix
    assert cert_name(L.etcd_server("db-peer")) == "etcd-server/db-peer"


def test_every_leaf_of_the_catalog_has_a_name_of_its_own() -> None:
    names = [cert_name(p.stem) for p in leaf_profiles(SPEC)]
    assert len(set(names)) == len(names)


def test_every_ca_leaf_and_kubeconfig_is_listed_with_its_issuer(pki: Path) -> None:
    now = datetime.now(UTC)
    records = read_pki(pki)
    by_name = {r.name: r for r in records}
    assert len(by_name) == len(records)

    cas = [r for r in records if r.kind == CA]
    assert {"ca", "etcd-ca"} <= {r.name for r in cas}
    for r in cas:
        assert r.issuer == SELF_SIGNED and r.error is None

    for profile in leaf_profiles(SPEC):
        r = by_name[cert_name(profile.stem)]
        assert r.kind == LEAF and r.path == pki / f"{profile.stem}.crt"
        assert r.cert is not None and r.cert.subject.get_attributes_for_oid(
            x509.oid.NameOID.COMMON_NAME)[0].value == profile.common_name
        if profile.issuer in KNOWN_CAS:
            assert r.issuer == KNOWN_CAS[profile.issuer], r.name
        ca = by_name[r.issuer or ""]
        assert ca.kind == CA and ca.cert is not None
        r.cert.verify_directly_issued_by(ca.cert)  # the named CA really signed it
    leaves = {r.name for r in records if r.kind == LEAF}
    assert leaves == {cert_name(p.stem) for p in leaf_profiles(SPEC)}

    kubeconfigs = {r.name: r for r in records if r.kind == KUBECONFIG}
    assert set(kubeconfigs) == {f"{kc.name}.kubeconfig" for kc in kubeconfig_profiles(SPEC)}
    for kc in kubeconfig_profiles(SPEC):
        r = kubeconfigs[f"{kc.name}.kubeconfig"]
        leaf = by_name[cert_name(kc.cert_stem)]
        assert r.serial == leaf.serial and r.issuer == "ca"  # the leaf it embeds

    for r in records:
        left = r.seconds_left(now)
        assert left is not None and left > 300 * 86400, r.name
        assert residual(left).endswith("d")
    # CAs first, then leaves, then kubeconfigs
    kinds = [r.kind for r in records]
    assert kinds == sorted(kinds, key=[CA, LEAF, KUBECONFIG].index)


def test_the_issuer_is_proven_by_signature_not_by_name(own_pki: Path) -> None:
    # a leaf from another CA that has the very same name (a CA replaced by hand)
    impostor_key = new_ec_key()
    impostor = create_ca("demo-ca", impostor_key, datetime.now(UTC), timedelta(days=10))
    profile = next(p for p in leaf_profiles(SPEC) if p.stem == L.SCHEDULER)
    key = load_private_key(own_pki / "scheduler.key")
    cert = issue_leaf(profile, key.public_key(), impostor, impostor_key, datetime.now(UTC),
                      timedelta(days=100))
    (own_pki / "scheduler.crt").write_bytes(cert_pem(cert))
    by_name = {r.name: r for r in read_pki(own_pki)}
    assert by_name["scheduler"].issuer is None
    assert by_name["scheduler"].issuer_subject == "CN=demo-ca"
    assert by_name["controller-manager"].issuer == "ca"


def test_expiring_soon_names_a_leaf_that_ends_in_ten_days(own_pki: Path) -> None:
    now = datetime.now(UTC)
    reissue(own_pki, L.APISERVER, now, timedelta(days=10))
    assert expiring_soon(own_pki, now=now) == ["apiserver"]
    assert expiring_soon(own_pki, days=30) == ["apiserver"]
    assert expiring_soon(own_pki, days=9, now=now) == []
    record = next(r for r in read_pki(own_pki) if r.name == "apiserver")
    assert residual(record.seconds_left(now)) in ("9d", "10d")


def test_expiring_soon_names_an_expired_kubeconfig_and_its_leaf(own_pki: Path) -> None:
    now = datetime.now(UTC)
    reissue(own_pki, L.ADMIN, now - timedelta(days=40), timedelta(days=35))  # ended 5 days ago
    ensure_pki(SPEC, own_pki, now=now - timedelta(days=40))  # rewrites admin.kubeconfig around it
    soon = expiring_soon(own_pki, now=now)
    assert soon == ["admin", "admin.kubeconfig"]
    record = next(r for r in read_pki(own_pki) if r.name == "admin.kubeconfig")
    assert residual(record.seconds_left(now)) == "expired"


def test_a_ca_near_its_end_is_named(own_pki: Path) -> None:
    now = datetime.now(UTC)
    assert expiring_soon(own_pki, days=3650 + 1, now=now)[:2] == ["ca", "etcd-ca"]


def test_unreadable_files_are_rows_with_an_error(own_pki: Path) -> None:
    (own_pki / "kube-proxy.crt").write_text("garbage")
    (own_pki / "kubeconfigs" / "scheduler.kubeconfig").write_text("users: [{user: {}}]\n")
    by_name = {r.name: r for r in read_pki(own_pki)}
    assert by_name["kube-proxy"].cert is None and "cannot load" in (by_name["kube-proxy"].error or "")
    assert by_name["scheduler.kubeconfig"].error is not None
    assert "kube-proxy" not in expiring_soon(own_pki)


def test_temporary_files_and_a_missing_dir_are_ignored(own_pki: Path, tmp_path: Path) -> None:
    (own_pki / ".apiserver.crt.tmp").write_bytes((own_pki / "apiserver.crt").read_bytes())
    (own_pki / ".half.crt").write_text("x")
    assert not any(r.name.startswith(".") for r in read_pki(own_pki))
    assert expiring_soon(tmp_path / "nowhere") == []


@pytest.mark.parametrize(("seconds", "text"), [
    (365 * 86400, "365d"), (86400, "1d"), (86399, "23h"), (3600, "1h"), (3599, "59m"), (60, "1m"),
    (59, "<1m"), (0, "expired"), (-5, "expired"), (None, "-"),
])
def test_residual_time(seconds: int | None, text: str) -> None:
    assert residual(seconds) == text


def test_ensure_pki_reports_what_ends_soon_from_the_certificates_it_read(own_pki: Path) -> None:
    # `up` warns from this rather than reading the directory again
    now = datetime.now(UTC)
    reissue(own_pki, L.APISERVER, now, timedelta(days=10))
    seven = dataclasses.replace(SPEC, renew_before=timedelta(days=7))  # 10 days left: kept
    result = ensure_pki(seven, own_pki, now=now)
    assert [cert_name(s, ca=ca) for s, ca in result.expiring(timedelta(days=30), now)] == ["apiserver"]
    assert result.expiring(timedelta(days=9), now) == []
    assert len(result.not_after) == len(leaf_profiles(SPEC)) + 3  # every leaf, and the three CAs
    # with the default 30 days it is re-issued, and nothing is left to warn about
    assert ensure_pki(SPEC, own_pki, now=now).expiring(timedelta(days=30), now) == []
    # a CA near its end comes first
    late = now + timedelta(days=3650 - 5)
    names = [cert_name(s, ca=ca) for s, ca in ensure_pki(SPEC, own_pki, now=late).expiring(timedelta(days=30), late)]
    assert names[:2] == ["ca", "etcd-ca"], names

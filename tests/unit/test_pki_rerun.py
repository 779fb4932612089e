"""Reruns: modes, idempotence, and re-issuing exactly what changed."""

from __future__ import annotations

import os
import stat
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509

from k8sboot.errors import InputError
from k8sboot.pki import ControlPlane, Node, PkiSpec, ensure_pki
from k8sboot.pki.catalog import leaf_profiles
from k8sboot.pki.certs import cert_pem, issue_leaf
from k8sboot.pki.keys import load_private_key

SPEC = PkiSpec(
    "demo",
    control_planes=[("cp1", ["10.0.0.11"])],
    etcd_members=[("cp1", ["10.0.0.11"])],
    nodes=[("n1", ["10.0.0.21"]), ("n2", ["10.0.0.22"])],
)
OLD = 1_000_000_000  # an mtime far in the past, so any rewrite is visible


def snapshot(root: Path) -> dict[Path, tuple[int, bytes]]:
    return {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in root.rglob("*") if p.is_file()}


def age_files(root: Path) -> None:
    for p in root.rglob("*"):
        if p.is_file():
            os.utime(p, (OLD, OLD))


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    root = tmp_path / "state" / "pki"
    ensure_pki(SPEC, root)
    age_files(root)
    return root


def test_modes(pki: Path) -> None:
    for d in (pki, pki / "etcd", pki / "kubelet", pki / "kubeconfigs"):
        assert mode(d) == 0o700, d
    files = [p for p in pki.rglob("*") if p.is_file()]
    assert files
    for p in files:
        private = p.suffix in (".key", ".kubeconfig") or p.name == "encryption-config.yaml"
        expected = 0o600 if private else 0o644
        assert mode(p) == expected, p


def test_modes_hold_under_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        ensure_pki(SPEC, tmp_path / "pki")
    finally:
        os.umask(old)
    assert mode(tmp_path / "pki") == 0o700
    assert mode(tmp_path / "pki" / "ca.key") == 0o600


def test_first_run_reports_everything_written(tmp_path: Path) -> None:
    result = ensure_pki(SPEC, tmp_path / "pki")
    on_disk = {p for p in (tmp_path / "pki").rglob("*") if p.is_file()}
    assert set(result.written) == on_disk
    assert result.reissued == [] and result.reused == []


def test_rerun_changes_nothing(pki: Path) -> None:
    before = snapshot(pki)
    result = ensure_pki(SPEC, pki)
    assert result.written == [] and result.reissued == [] and result.changed == []
    assert set(result.reused) == set(before)
    assert snapshot(pki) == before


def test_rerun_with_equivalent_spec_changes_nothing(pki: Path) -> None:
    """Order of SANs, name case and validity settings do not force re-issuing."""
    before = snapshot(pki)
    spec = replace(SPEC, leaf_validity=timedelta(days=200), nodes=tuple(reversed(SPEC.nodes)))
    assert ensure_pki(spec, pki).changed == []
    assert snapshot(pki) == before


def test_adding_a_control_plane_reissues_only_the_apiserver_cert(pki: Path) -> None:
    before = snapshot(pki)
    ca = load(pki / "ca.crt")
    spec = replace(
        SPEC, control_planes=SPEC.control_planes + (ControlPlane("cp2", ("10.0.0.12",)),)
    )
    result = ensure_pki(spec, pki)
    assert result.written == []
    assert result.reissued == [pki / "apiserver.crt"]
    assert "SANs changed" in result.reasons[pki / "apiserver.crt"]
    after = snapshot(pki)
    assert {p for p in after if after[p] != before[p]} == {pki / "apiserver.crt"}
    new = load(pki / "apiserver.crt")
    new.verify_directly_issued_by(ca)
    sans = new.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "cp2" in sans.get_values_for_type(x509.DNSName)
    # the key is kept
    assert load_private_key(pki / "apiserver.key").public_key() == new.public_key()


def test_changing_extra_sans_reissues_only_the_apiserver_cert(pki: Path) -> None:
    result = ensure_pki(replace(SPEC, extra_sans=("lb.example.com",)), pki)
    assert result.changed == [pki / "apiserver.crt"]


def test_new_node_address_reissues_only_that_kubelet(pki: Path) -> None:
    spec = replace(SPEC, nodes=(SPEC.nodes[0], Node("n2", ("10.0.0.99",))))
    result = ensure_pki(spec, pki)
    assert result.written == []
    assert set(result.reissued) == {
        pki / "kubelet" / "n2.crt",
        pki / "kubeconfigs" / "kubelet-n2.kubeconfig",
    }


def test_new_node_writes_only_its_files(pki: Path) -> None:
    spec = replace(SPEC, nodes=SPEC.nodes + (Node("n3", ("10.0.0.23",)),))
    result = ensure_pki(spec, pki)
    assert result.reissued == []
    assert set(result.written) == {
        pki / "kubelet" / "n3.crt",
        pki / "kubelet" / "n3.key",
        pki / "kubeconfigs" / "kubelet-n3.kubeconfig",
    }


def _backdate(pki: Path, stem: str, days: int) -> None:
    """Replace a leaf with one issued `days` ago by the same CA and key."""
    profile = next(p for p in leaf_profiles(SPEC) if p.stem == stem)
    key = load_private_key(pki / f"{stem}.key")
    then = datetime.now(UTC) - timedelta(days=days)
    old = issue_leaf(
        profile,
        key.public_key(),
        load(pki / "ca.crt"),
        load_private_key(pki / "ca.key"),
        then,
        SPEC.leaf_validity,
    )
    (pki / f"{stem}.crt").write_bytes(cert_pem(old))
    age_files(pki)


def test_near_expiry_leaf_is_reissued(pki: Path) -> None:
    _backdate(pki, "admin", days=340)  # 25 days left
    result = ensure_pki(SPEC, pki)
    assert set(result.reissued) == {pki / "admin.crt", pki / "kubeconfigs" / "admin.kubeconfig"}
    assert "expires" in result.reasons[pki / "admin.crt"]
    remaining = load(pki / "admin.crt").not_valid_after_utc - datetime.now(UTC)
    assert remaining > timedelta(days=360)


def test_leaf_with_more_than_30_days_left_is_kept(pki: Path) -> None:
    _backdate(pki, "admin", days=300)  # 65 days left
    result = ensure_pki(SPEC, pki)
    # the kubeconfig follows the (swapped) cert on disk; the cert itself stays
    assert result.changed == [pki / "kubeconfigs" / "admin.kubeconfig"]


def test_whole_pki_near_expiry_reissues_every_leaf_but_no_ca(tmp_path: Path) -> None:
    root = tmp_path / "pki"
    ensure_pki(SPEC, root, now=datetime.now(UTC) - timedelta(days=340))
    result = ensure_pki(SPEC, root)
    reissued = {p.relative_to(root).as_posix() for p in result.reissued}
    assert {f"{p.stem}.crt" for p in leaf_profiles(SPEC)} <= reissued
    assert not any(name.endswith(".key") for name in reissued)
    assert "ca.crt" not in reissued and "etcd/ca.crt" not in reissued


def test_leaves_capped_at_ca_expiry_do_not_churn(tmp_path: Path) -> None:
    spec = replace(SPEC, ca_validity=timedelta(days=10))
    ensure_pki(spec, tmp_path / "pki")
    ca_end = load(tmp_path / "pki" / "ca.crt").not_valid_after_utc
    assert load(tmp_path / "pki" / "admin.crt").not_valid_after_utc == ca_end
    result = ensure_pki(spec, tmp_path / "pki")
    assert result.changed == []
    assert any("rotate the CA" in w for w in result.warnings)


def test_missing_cert_is_reissued_with_the_existing_key(pki: Path) -> None:
    key_before = (pki / "scheduler.key").read_bytes()
    (pki / "scheduler.crt").unlink()
    result = ensure_pki(SPEC, pki)
    assert result.written == [pki / "scheduler.crt"]
    assert (pki / "scheduler.key").read_bytes() == key_before


def test_missing_key_gets_a_new_key_and_cert(pki: Path) -> None:
    (pki / "kube-proxy.key").unlink()
    result = ensure_pki(SPEC, pki)
    assert result.written == [pki / "kube-proxy.key"]
    assert set(result.reissued) == {
        pki / "kube-proxy.crt",
        pki / "kubeconfigs" / "kube-proxy.kubeconfig",
    }
    assert result.reasons[pki / "kube-proxy.crt"] == "does not match its private key"


def test_new_cluster_ca_reissues_cluster_leaves_only(pki: Path) -> None:
    (pki / "ca.crt").unlink()
    (pki / "ca.key").unlink()
    result = ensure_pki(SPEC, pki)
    changed = {p.relative_to(pki).as_posix() for p in result.changed}
    assert "apiserver.crt" in changed and "kubelet/n1.crt" in changed
    assert not any(name.startswith("etcd/") for name in changed)
    assert "apiserver-etcd-client.crt" not in changed


def test_half_a_ca_is_refused(pki: Path) -> None:
    (pki / "etcd" / "ca.key").unlink()
    with pytest.raises(InputError, match="half a CA"):
        ensure_pki(SPEC, pki)


def test_loose_key_mode_is_tightened_without_rewriting(pki: Path) -> None:
    (pki / "admin.key").chmod(0o644)
    before = snapshot(pki)
    result = ensure_pki(SPEC, pki)
    assert result.changed == []
    assert mode(pki / "admin.key") == 0o600
    assert snapshot(pki) == before


def test_corrupt_leaf_key_is_replaced(pki: Path) -> None:
    (pki / "scheduler.key").write_text("garbage")
    result = ensure_pki(SPEC, pki)
    assert set(result.reissued) == {
        pki / "scheduler.key",
        pki / "scheduler.crt",
        pki / "kubeconfigs" / "scheduler.kubeconfig",
    }
    new = load(pki / "scheduler.crt")
    assert load_private_key(pki / "scheduler.key").public_key() == new.public_key()


def test_corrupt_leaf_is_reissued(pki: Path) -> None:
    (pki / "admin.crt").write_text("garbage")
    result = ensure_pki(SPEC, pki)
    assert result.reasons[pki / "admin.crt"] == "unreadable"

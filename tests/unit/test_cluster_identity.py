"""`up` refuses hosts that hold another cluster's CA or keys (a lost or wrong state directory).

The facts script's part is run for real by a local shell here (quoting, sha256sum's
lines); the lab test runs `up` with a second state directory against a live cluster.
"""

import hashlib
from pathlib import Path

from k8sboot.inventory.model import Host
from k8sboot.phases.connect import gather_facts
from k8sboot.phases.cluster_identity import foreign_files
from k8sboot.plan import identity_files
from tests.unit.local_shell import LocalShell


def host(groups=("etcd", "control_plane", "nodes"), **vars_) -> Host:
    return Host("h1", "10.0.0.1", groups=list(groups), vars=dict(vars_))


def test_identity_files_follow_groups_and_moved_dirs():
    pki = Path("/state/pki")
    assert identity_files(host(["nodes"]), pki) == {"/etc/kubernetes/pki/ca.crt": pki / "ca.crt"}
    assert identity_files(host(["etcd"]), pki) == {"/etc/etcd/pki/ca.crt": pki / "etcd/ca.crt"}
    moved = identity_files(host(k8s_pki_dir="/srv/k8s"), pki)
    assert moved["/srv/k8s/encryption-config.yaml"] == pki / "encryption-config.yaml"
    assert moved["/srv/k8s/sa.pub"] == pki / "sa.pub"
    assert moved["/srv/k8s/front-proxy-ca.crt"] == pki / "front-proxy-ca.crt"
    assert not any(p.endswith(".key") for p in moved)  # nothing secret is read to be compared


def test_facts_carry_the_sums_of_the_files_that_exist(tmp_path):
    odd = tmp_path / "it's a dir" / "ca.crt"  # quoting: a space and a quote in the path
    odd.parent.mkdir()
    odd.write_bytes(b"CA one\n")
    missing = tmp_path / "none" / "sa.pub"
    facts = gather_facts(LocalShell(), [str(odd), str(missing)])
    assert facts["identity_sha256"] == {str(odd): hashlib.sha256(b"CA one\n").hexdigest()}
    assert facts["distribution"]  # the rest of the facts still parsed
    assert gather_facts(LocalShell(), [str(missing)])["identity_sha256"] == {}


def test_same_files_pass_other_or_missing_ones_are_named(tmp_path):
    pki = tmp_path / "pki"
    pki.mkdir()
    (pki / "ca.crt").write_bytes(b"ours")
    ours = hashlib.sha256(b"ours").hexdigest()
    theirs = hashlib.sha256(b"theirs").hexdigest()
    node = host(["nodes"])
    assert foreign_files(node, {}, pki) == []  # a fresh host
    assert foreign_files(node, {"/etc/kubernetes/pki/ca.crt": ours}, pki) == []
    [problem] = foreign_files(node, {"/etc/kubernetes/pki/ca.crt": theirs}, pki)
    assert "/etc/kubernetes/pki/ca.crt is another cluster's" in problem and theirs[:12] in problem
    # a state directory without a CA would make a new one: that host's is still another cluster's
    [problem] = foreign_files(node, {"/etc/kubernetes/pki/ca.crt": theirs}, tmp_path / "empty")
    assert "this state has no" in problem

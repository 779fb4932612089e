"""The installed binaries' sha256 (the roll plan's question) comes with connect's facts, not in a round trip of its own."""

import hashlib

from k8sboot.phases.connect import gather_facts
from tests.unit.local_shell import LocalShell


def test_the_binaries_checksums_come_with_the_facts_and_are_remembered(tmp_path):
    kubelet, proxy = tmp_path / "kube let; true", tmp_path / "kube-proxy"  # quoted: a space and a ;
    kubelet.write_bytes(b"build 1")
    conn = LocalShell()
    facts = gather_facts(conn, binary_paths=[str(kubelet), str(proxy)])
    assert facts["binary_sha256"] == {str(kubelet): hashlib.sha256(b"build 1").hexdigest(), str(proxy): None}
    assert len(conn.scripts) == 1 and facts["distribution"] and facts["kubelet_state"] is not None
    assert not any(k.startswith("binary_sha256 ") for k in facts)  # its lines are not facts of their own
    assert str(kubelet) in conn.checksums

    # unchanged since: the memo answers, sha256sum does not read it again
    again = gather_facts(conn, binary_paths=[str(kubelet)])
    assert again["binary_sha256"] == {str(kubelet): hashlib.sha256(b"build 1").hexdigest()}
    kubelet.unlink()
    kubelet.write_bytes(b"build 22")  # a new build: a new inode and size, hashed again
    assert gather_facts(conn, binary_paths=[str(kubelet)])["binary_sha256"][str(kubelet)] == \
        hashlib.sha256(b"build 22").hexdigest()


def test_no_binaries_no_checksums():
    assert "binary_sha256" not in gather_facts(LocalShell())

"""Whether an etcd host has member data is a fact of connect's round trip, not a round trip of its own."""

from k8sboot.phases.connect import gather_facts, member_data_script
from tests.unit.local_shell import LocalShell


def test_the_member_dir_is_asked_with_the_facts(tmp_path):
    data = tmp_path / "etcd data; rm -rf x"  # quoted: a space and a ; in the inventory's path
    data.mkdir()
    assert gather_facts(LocalShell(), extra=member_data_script(str(data)))["etcd_member_data"] == "no"
    (data / "member").mkdir()
    facts = gather_facts(LocalShell(), extra=member_data_script(str(data) + "/"))
    assert facts["etcd_member_data"] == "yes"
    assert facts["kubelet_state"] is not None  # the other facts still come

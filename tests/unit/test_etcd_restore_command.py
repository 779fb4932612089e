"""The command `etcd restore` runs on each member: every value one quoted word, the old data kept."""

from __future__ import annotations

import shlex
from types import SimpleNamespace

from k8sboot.phases.etcd_restore import UPLOAD, restore_command
from tests.unit.test_plan_ha import inventory, plan_of


def test_restore_command_quotes_every_value_and_keeps_the_previous_data():
    inv = inventory(control_planes=3)
    cp1 = inv.hosts["cp1"]
    cp1.vars["etcd_data_dir"] = "/var/lib/my etcd"  # a space: must stay one word
    plan = plan_of(inv)
    ctx = SimpleNamespace(plan=plan)
    cmd = restore_command(ctx, cp1, "ha-etcd-restored-20261201T000000Z", "20261201T000000Z")  # type: ignore[arg-type]
    words = shlex.split(cmd)
    assert "--data-dir=/var/lib/my etcd.restoring" in words
    assert "--name=cp1" in words and "--initial-cluster-token=ha-etcd-restored-20261201T000000Z" in words
    cluster = next(w for w in words if w.startswith("--initial-cluster="))
    assert cluster.count("https://") == 3 and "cp1=https://10.0.0.11:2380" in cluster
    assert "--initial-advertise-peer-urls=https://10.0.0.11:2380" in words
    assert UPLOAD in words
    # the old data dir is moved aside, never deleted, and only after the restore succeeded (set -e)
    assert cmd.startswith("set -e;")
    assert "mv '/var/lib/my etcd' '/var/lib/my etcd.before-restore'" in cmd
    assert cmd.index("snapshot restore") < cmd.index("mv '/var/lib/my etcd' ")

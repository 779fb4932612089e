"""Which libvirt volumes destroy takes: a cluster's domains' disks, never the shared box."""

from __future__ import annotations

from k8sboot.providers.vagrant.cleanup import volume_belongs


def test_volumes_of_a_domain_and_nothing_else():
    domains = {"k8sboot-demo-cp1"}
    assert volume_belongs("k8sboot-demo-cp1.img", domains)
    assert volume_belongs("k8sboot-demo-cp1-vdb.qcow2", domains)
    assert not volume_belongs("k8sboot-demo-cp10.img", domains)
    assert not volume_belongs("k8sboot-VAGRANTSLASH-bookworm_vagrant_box_image_0_box.img", domains)
    assert not volume_belongs("k8sboot-other-cp1.img", domains)

"""Address ranges other libvirt networks hold are refused before vagrant-libvirt takes them."""

from __future__ import annotations

import ipaddress

from k8sboot.providers.vagrant.netcheck import conflicts, ipv4_of

N = ipaddress.IPv4Network
WANTED = {"k8sboot-c-private": ("cluster.provider.network", N("192.168.56.0/24")),
          "k8sboot-c-mgmt": ("cluster.provider.management_network", N("192.168.121.0/24"))}


def test_the_ipv4_range_of_a_network_definition():
    xml = ("<network><name>default</name><bridge name='virbr0'/><forward/>"
           "<ip address='192.168.122.1' netmask='255.255.255.0'><dhcp/></ip></network>")
    assert ipv4_of(xml) == N("192.168.122.0/24")
    assert ipv4_of("<network><name>v6</name><ip family='ipv6' address='fd00::1' prefix='64'/>"
                   "<ip address='10.1.2.1' prefix='16'/></network>") == N("10.1.0.0/16")
    assert ipv4_of("<network><name>bare</name><bridge name='br0'/></network>") is None


def test_free_ranges_and_our_own_networks_pass():
    existing = {"default": N("192.168.122.0/24"), "k8sboot-c-mgmt": N("192.168.121.0/24"),
                "k8sboot-lab": N("192.168.150.0/24"), "bridged": None}
    assert conflicts(existing, WANTED) == []


def test_a_range_another_network_holds_is_refused_with_its_name():
    problems = conflicts({"default": N("192.168.121.0/24")}, WANTED)
    assert len(problems) == 1
    assert "management_network 192.168.121.0/24 overlaps the libvirt network 'default'" in problems[0]


def test_an_overlap_that_is_not_equal_counts_too():
    assert conflicts({"wide": N("192.168.0.0/16")}, WANTED)[0].count("overlaps") == 1
    assert len(conflicts({"wide": N("192.168.0.0/16")}, WANTED)) == 2


def test_our_network_with_another_range_asks_for_a_destroy_first():
    problems = conflicts({"k8sboot-c-private": N("192.168.57.0/24")}, WANTED)
    assert problems == [("cluster.provider.network is 192.168.56.0/24, but this cluster's network "
                        "k8sboot-c-private already exists with 192.168.57.0/24: destroy the "
                        "cluster first, or keep 192.168.57.0/24")]

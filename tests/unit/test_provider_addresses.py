"""Which address each host a provider makes gets: the inventory's, else the recorded one, else the
lowest free from .11 on (pure)."""

from __future__ import annotations

import ipaddress

import pytest

from k8sboot.errors import InputError
from k8sboot.inventory.model import Host
from k8sboot.providers.addresses import FIRST_HOST, allocate_addresses
from k8sboot.machine import Machine

NET = ipaddress.IPv4Network("192.168.150.0/24")


def hosts(*specs: tuple[str, str | None]) -> list[Host]:
    return [Host(name=n, address=a, provider="libvirt") for n, a in specs]


def test_free_addresses_start_at_11_in_inventory_order():
    out = allocate_addresses(hosts(("cp1", None), ("wk1", None), ("wk2", None)), NET, {})
    assert out == {"cp1": "192.168.150.11", "wk1": "192.168.150.12", "wk2": "192.168.150.13"}
    assert FIRST_HOST == 11


def test_the_inventorys_address_is_used_and_skipped_by_the_others():
    out = allocate_addresses(hosts(("a", None), ("b", "192.168.150.11"), ("c", None)), NET, {})
    assert out == {"a": "192.168.150.12", "b": "192.168.150.11", "c": "192.168.150.13"}


def test_addresses_below_11_may_be_given_but_are_never_allocated():
    out = allocate_addresses(hosts(("a", "192.168.150.5"), ("b", None)), NET, {})
    assert out == {"a": "192.168.150.5", "b": "192.168.150.11"}


def test_a_recorded_address_is_kept():
    known = {"b": Machine("b", address="192.168.150.40", provider="libvirt")}
    out = allocate_addresses(hosts(("a", None), ("b", None)), NET, known)
    assert out == {"a": "192.168.150.11", "b": "192.168.150.40"}


def test_a_recorded_address_does_not_block_another_hosts_allocation_twice():
    # the recorded .11 is taken first; the new host gets the next free one
    known = {"b": Machine("b", address="192.168.150.11")}
    out = allocate_addresses(hosts(("a", None), ("b", None)), NET, known)
    assert out == {"a": "192.168.150.12", "b": "192.168.150.11"}


def test_the_inventory_wins_over_the_record():
    known = {"a": Machine("a", address="192.168.150.40")}
    assert allocate_addresses(hosts(("a", "192.168.150.50")), NET, known) == \
        {"a": "192.168.150.50"}


def test_a_record_without_an_address_is_ignored():
    known = {"a": Machine("a", user="root")}
    assert allocate_addresses(hosts(("a", None)), NET, known) == {"a": "192.168.150.11"}


def test_allocation_is_stable():
    specs = (("x", None), ("y", "192.168.150.11"), ("z", None))
    assert allocate_addresses(hosts(*specs), NET, {}) == allocate_addresses(hosts(*specs), NET, {})


@pytest.mark.parametrize("address", ["10.0.0.1", "192.168.150.0", "192.168.150.1",
                                     "192.168.150.255"])
def test_addresses_outside_the_network_or_reserved_are_refused(address):
    with pytest.raises(InputError, match="not usable in 192.168.150.0/24"):
        allocate_addresses(hosts(("a", address)), NET, {})


def test_a_name_is_not_an_address():
    with pytest.raises(InputError, match="not an IPv4 address"):
        allocate_addresses(hosts(("a", "cp1.example.com")), NET, {})


def test_two_hosts_on_one_address_are_refused():
    with pytest.raises(InputError, match="share one address"):
        allocate_addresses(hosts(("a", "192.168.150.20"), ("b", "192.168.150.20")), NET, {})


def test_a_full_network_is_reported():
    tiny = ipaddress.IPv4Network("192.168.150.0/28")  # .11 to .14 are allocatable
    assert len(allocate_addresses(hosts(*[(f"h{i}", None) for i in range(4)]), tiny, {})) == 4
    with pytest.raises(InputError, match="no free address left in 192.168.150.0/28"):
        allocate_addresses(hosts(*[(f"h{i}", None) for i in range(5)]), tiny, {})


def test_two_hosts_given_one_address_are_refused_for_every_provider():
    with pytest.raises(InputError, match=r"two hosts share one address \(192.168.150.20\)"):
        allocate_addresses(hosts(("a", "192.168.150.20"), ("b", "192.168.150.20")), NET, {})

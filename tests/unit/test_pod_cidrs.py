"""Pod CIDRs allocated by k8sboot: stable, adopted from the API, refused when they do not fit."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from k8sboot.errors import InputError
from k8sboot.pod_cidrs import allocate


def test_new_nodes_get_the_lowest_free_subnets_in_order():
    assert allocate("10.244.0.0/16", 24, ["a", "b", "c"], {}) == {
        "a": "10.244.0.0/24", "b": "10.244.1.0/24", "c": "10.244.2.0/24"}


def test_recorded_allocations_are_kept_and_a_new_node_takes_the_gap():
    got = allocate("10.244.0.0/16", 24, ["a", "b", "new"], {"a": "10.244.0.0/24", "b": "10.244.2.0/24"})
    assert got == {"a": "10.244.0.0/24", "b": "10.244.2.0/24", "new": "10.244.1.0/24"}


def test_what_the_api_shows_wins_over_the_record():
    got = allocate("10.244.0.0/16", 24, ["a", "b"], {"a": "10.244.0.0/24", "b": "10.244.1.0/24"},
                   observed={"b": "10.244.0.0/24"})
    assert got == {"b": "10.244.0.0/24", "a": "10.244.1.0/24"}


def test_a_record_for_another_pod_cidr_or_mask_is_made_anew():
    assert allocate("10.32.0.0/16", 24, ["a"], {"a": "10.244.0.0/24"}) == {"a": "10.32.0.0/24"}
    assert allocate("10.244.0.0/16", 25, ["a"], {"a": "10.244.0.0/24"}) == {"a": "10.244.0.0/25"}
    assert allocate("10.244.0.0/16", 24, ["a"], {"a": "garbage"}) == {"a": "10.244.0.0/24"}


def test_a_pool_too_small_and_a_bad_mask_are_input_errors():
    with pytest.raises(InputError, match="no room"):
        allocate("10.244.0.0/23", 24, ["a", "b", "c"], {})
    with pytest.raises(InputError, match="node_cidr_mask_size"):
        allocate("10.244.0.0/16", 8, ["a"], {})
    with pytest.raises(InputError, match="pod_cidr"):
        allocate("nonsense", 24, ["a"], {})


def test_ipv6():
    assert allocate("fd00:10:244::/56", 64, ["a", "b"], {}) == {"a": "fd00:10:244::/64", "b": "fd00:10:244:1::/64"}


@given(st.lists(st.sampled_from([f"n{i}" for i in range(20)]), max_size=20),
       st.dictionaries(st.sampled_from([f"n{i}" for i in range(20)]),
                       st.integers(0, 255).map(lambda i: f"10.244.{i}.0/24"), max_size=20))
def test_allocations_never_overlap_and_all_nodes_get_one(nodes: list[str], recorded: dict[str, str]):
    got = allocate("10.244.0.0/16", 24, nodes, recorded)
    assert set(got) == set(nodes)
    nets = [ipaddress.ip_network(c) for c in got.values()]
    assert len(set(nets)) == len(nets)
    for node, cidr in got.items():  # a valid record is kept unless another node's claims it first
        if node in recorded and list(recorded.values()).count(recorded[node]) == 1:
            assert cidr == recorded[node]

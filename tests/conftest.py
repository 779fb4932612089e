"""Test order for the whole suite: the emulated-VM tests first.

A software-emulated (TCG) VM runs every instruction on this machine's CPUs. Later in the
session the shared lab cluster (tests/e2e/conftest.py) and other modules' containers run
beside it: in a whole `make test` the VM cluster's test took 530 s against ~200 s on an
idle machine. At the start nothing else runs yet. The sort is stable: every other test
keeps its order, and each module's tests stay together.
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: 0 if item.get_closest_marker("vm") else 1)

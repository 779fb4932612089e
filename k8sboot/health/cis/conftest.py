"""Fixtures of the CIS checks: the hosts' running processes, read once per host and unit."""

from __future__ import annotations

from typing import Any

import pytest

from k8sboot.health.cis.audit import (
    KUBELET,
    KUBELET_CONFIG,
    AuditError,
    fail,
    read_kubelet,
    read_process,
)
from k8sboot.health.cis.flags import Flags
from k8sboot.health.cis.rules import KubeletView


class Processes:
    """One host's units as they run. A unit that is not running fails the check asking for it,
    with a message naming the unit (and every later check asking the same, without asking again).
    """

    def __init__(self, host: Any, host_name: str, cache: dict[tuple[str, str], Any]):
        self.host = host
        self.host_name = host_name
        self.cache = cache

    def read(self, unit: str) -> Flags:
        key = (self.host_name, unit)
        if key not in self.cache:
            try:
                self.cache[key] = read_process(self.host, unit)
            except AuditError as e:
                self.cache[key] = e
        found = self.cache[key]
        if isinstance(found, AuditError):
            raise found
        assert isinstance(found, Flags)
        return found

    def flags(self, unit: str) -> Flags:
        """The unit's flags; the check fails when they cannot be read."""
        try:
            return self.read(unit)
        except AuditError as e:
            fail(str(e))

    def running(self, unit: str) -> Flags | None:
        """The unit's flags, or None when it is not running (file checks fall back to defaults)."""
        try:
            return self.read(unit)
        except AuditError:
            return None

    def kubelet_files(self) -> KubeletView:
        """For the file checks: the running kubelet's settings, or those of its default config
        file (k8sboot's path) when it is not running, so the files are checked all the same."""
        if self.running(KUBELET) is not None:
            return self.kubelet()
        key = (self.host_name, "kubelet default config")
        if key not in self.cache:
            stopped = Flags.parse(KUBELET, [KUBELET, f"--config={KUBELET_CONFIG}"])
            try:
                self.cache[key] = read_kubelet(self.host, stopped)
            except AuditError as e:
                self.cache[key] = e
        found = self.cache[key]
        if isinstance(found, AuditError):
            fail(f"kubelet is not running, and {found}")
        assert isinstance(found, KubeletView)
        return found

    def kubelet(self) -> KubeletView:
        """The running kubelet's settings: its config file under its command line."""
        key = (self.host_name, "kubelet config")
        if key not in self.cache:
            try:
                self.cache[key] = read_kubelet(self.host, self.read(KUBELET))
            except AuditError as e:
                self.cache[key] = e
        found = self.cache[key]
        if isinstance(found, AuditError):
            fail(str(found))
        assert isinstance(found, KubeletView)
        return found


@pytest.fixture(scope="session")
def _cis_cache() -> dict[tuple[str, str], Any]:
    return {}


@pytest.fixture
def procs(host: Any, host_name: str, _cis_cache: dict[tuple[str, str], Any]) -> Processes:
    return Processes(host, host_name, _cis_cache)

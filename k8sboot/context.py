"""What every command starts from: the inventory, the state dir, connections, templates."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from k8sboot import ui
from k8sboot.engine.forks import DEFAULT_FORKS
from k8sboot.engine.pending_handlers import PendingHandlers
from k8sboot.inventory.model import Inventory
from k8sboot.paths import user_cache_dir
from k8sboot.state import ClusterState

# paramiko and jinja2 load slowly: imported by the methods below, so that the commands that
# only read the inventory or the state directory (inventory, kubeconfig) never load them
if TYPE_CHECKING:
    from k8sboot.connection.kept import KeeperClient
    from k8sboot.connection.pool import ConnectionPool
    from k8sboot.engine.runner import RunOptions
    from k8sboot.engine.templating import Templar


@dataclass
class CommandContext:
    inventory: Inventory
    state: ClusterState
    templates_dirs: list[Path]  # user overrides first, shipped templates last
    roles_dirs: list[Path]
    accept_new_host_keys: bool = False
    connect_timeout: float = 10.0
    forks: int = DEFAULT_FORKS
    _templar: Templar | None = field(default=None, init=False, repr=False, compare=False)

    def pool(self) -> ConnectionPool:
        # rich markup would eat "[host]:port" (known_hosts' spelling off port 22)
        from rich.markup import escape

        from k8sboot.connection.known_hosts import KnownHosts
        from k8sboot.connection.pool import ConnectionPool

        kh = KnownHosts(
            self.state.ensure().known_hosts,
            accept_changed=self.accept_new_host_keys,
            on_new_key=lambda msg: ui.info(escape(msg)),
            on_changed_key=ui.warn,  # prints its text as it is
        )
        return ConnectionPool(kh, self.connect_timeout, self.forks, self.state.root / "checksums",
                              keeper=self.keeper())

    def keeper(self) -> KeeperClient | None:
        """Who holds this cluster's connections between runs (cluster.ssh_persist seconds; 0: nobody)."""
        from k8sboot.connection.kept import DEFAULT_PERSIST, KeeperClient

        persist = float(self.inventory.cluster.get("ssh_persist", DEFAULT_PERSIST))
        return KeeperClient.for_cluster(self.state.root, persist)

    def run_options(self, **options: Any) -> RunOptions:
        """Options of a run on this cluster: handlers an earlier run owes are in its state dir."""
        from k8sboot.engine.runner import RunOptions

        return RunOptions(**options, pending=PendingHandlers(self.state.root / "pending-handlers.json"))

    def templar(self) -> Templar:
        """One per command: every play then reuses the templates it compiled (same directories)."""
        if self._templar is None:
            from k8sboot.engine.templating import Templar

            self._templar = Templar(self.templates_dirs, cache_dir=user_cache_dir())
        return self._templar

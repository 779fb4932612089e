"""Run independent chains of phases at the same time.

The nodes need nothing from the control plane until their kubelet registers
(it retries on its own), so preparing and starting them while etcd and the
apiserver come up saves the whole node phase from the critical path.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from k8sboot import ui
from k8sboot.errors import RunError
from k8sboot.phases.base import Phase, RunContext, run_phase


@dataclass
class ConcurrentChains:
    """Chains of phases run at the same time; each chain runs its phases in order."""

    title: str
    chains: list[list[Phase]]

    def run(self, ctx: RunContext) -> None:
        def run_chain(chain: list[Phase]) -> None:
            # each chain reports on its own lines: a live display cannot be shared
            local = replace(ctx, reporter=ui.Reporter(verbose=ctx.reporter.verbose, diff=ctx.reporter.diff,
                                                      live=False))
            for phase in chain:
                run_phase(phase, local)

        with ThreadPoolExecutor(max_workers=len(self.chains)) as ex:
            futures = [ex.submit(run_chain, c) for c in self.chains]
            try:
                errors = [e for e in (f.exception() for f in futures) if e is not None]
            except KeyboardInterrupt:
                ctx.options.control.cancel()
                ctx.pool.abort()
                raise
        if len(errors) == 1:
            raise errors[0]
        if errors:
            # every chain that failed is reported, not only the first
            raise RunError("\n".join(str(e) for e in errors))

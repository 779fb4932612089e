"""Run independent chains of phases at the same time.

The nodes need nothing from the control plane until their kubelet registers
(it retries on its own), so preparing and starting them while etcd and the
apiserver come up saves the whole node phase from the critical path.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from k8sboot import ui
from k8sboot.phases.base import Phase, RunContext


@dataclass
class Together:
    title: str
    chains: list[list[Phase]]

    def run(self, ctx: RunContext) -> None:
        def run_chain(chain: list[Phase]) -> None:
            # each chain reports on its own lines: a live display cannot be shared
            local = replace(ctx, reporter=ui.Reporter(verbose=ctx.reporter.verbose, diff=ctx.reporter.diff,
                                                      live=False))
            for phase in chain:
                started = time.monotonic()
                try:
                    phase.run(local)
                finally:
                    ctx.timings.append((phase.title, time.monotonic() - started))

        with ThreadPoolExecutor(max_workers=len(self.chains)) as ex:
            futures = [ex.submit(run_chain, c) for c in self.chains]
            errors = [f.exception() for f in futures]
        for e in errors:
            if e is not None:
                raise e

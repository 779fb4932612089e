"""Phase: the hosts hold this state's certificate authorities and keys, or nothing is touched.

Connect reads the sha256 of each host's identity files (pki/distribution.py's
CLUSTER_IDENTITY) with its facts. A host holding files another state made
belongs to another cluster, or to this one under a lost or different state
directory: writing this state's CA, service-account key or encryption key
over them breaks every certificate, token and encrypted Secret that cluster
has. `up` checks this in its preflight, beside the other checks;
`etcd restore`, which runs no preflight, with this phase before it stops anything.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from k8sboot.errors import RunError
from k8sboot.inventory.model import Host
from k8sboot.phases.base import RunContext
from k8sboot.phases.learned import Learned
from k8sboot.plan import identity_files

FOREIGN_HINT = (
    "\nThese hosts hold another cluster's certificate authority or keys: replacing them would "
    "break that cluster (its certificates, service-account tokens and the Secrets encrypted in "
    "etcd). Run with the state directory that brought them up (K8SBOOT_HOME, or ~/.k8sboot), "
    "or take them down with that state first (`k8sboot down`).")


def foreign_files(host: Host, on_host: dict[str, str], pki_dir: Path) -> list[str]:
    """The identity files (CAs, keys) this host holds that are not this state's, one line each.

    on_host: {remote path: sha256} of those that exist there. Replacing one would break
    the cluster that made it, so `up` stops instead; a file absent here (a fresh state
    directory) counts as different: `pki` would make a new one.
    """
    problems = []
    for remote, local in sorted(identity_files(host, pki_dir).items()):
        there = on_host.get(remote)
        if there is None:
            continue
        here = hashlib.sha256(local.read_bytes()).hexdigest() if local.is_file() else None
        if here != there:
            problems.append(f"{remote} is another cluster's (sha256 {there[:12]}; "
                            + (f"this state's {local} is {here[:12]})" if here else f"this state has no {local})"))
    return problems


def foreign_report(ctx: RunContext) -> list[str]:
    """foreign_files for every target host, each line naming its host."""
    facts = Learned.need(ctx.learned.facts, "the hosts' facts", "connect")
    return [f"{host.name} ({host.address}): {p}" for host in ctx.targets()
            for p in foreign_files(host, facts[host.name].get("identity_sha256", {}), ctx.state.pki_dir)]


class CheckClusterIdentity:
    title = "cluster identity"

    def run(self, ctx: RunContext) -> None:
        report = foreign_report(ctx)
        if report:
            raise RunError("these hosts are not this state's cluster, nothing was changed:\n  "
                           + "\n  ".join(report) + FOREIGN_HINT)

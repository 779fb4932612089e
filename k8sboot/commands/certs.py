"""`k8sboot certs check-expiration | renew [all|NAME...]`: the cluster's certificates.

    k8sboot certs check-expiration -i my.yml          # a table: expiry, time left, CA, hosts
    k8sboot certs check-expiration -i my.yml -o json  # the same data for scripts
    k8sboot certs renew -i my.yml apiserver           # new key and certificate, installed, restarted
    k8sboot certs renew -i my.yml                     # every leaf (never the CAs or sa.key)

check-expiration reads every CA, leaf and kubeconfig of the state directory's
PKI (k8sboot/pki/expiry.py names them), and on every host reads the sha256 of
the copies it should hold (one command per host, all hosts at once): a host
whose copy differs, is missing or that cannot be asked is named in the row.
Exit 1 when a certificate is expired or ends within 30 days, a leaf has no CA
of this PKI behind it, a file cannot be read, or a host's copy is not ours.

renew re-issues leaves locally (k8sboot/pki/renewal.py: new keys, same
subjects and SANs, new serials), then runs `up` to install them: the roles copy
the files that changed and restart the components their handlers name,
running control planes and etcd members one at a time; on nodes the kubelet and
kube-proxy restart without a drain (their pods run on through a restart).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table

from k8sboot import ui
from k8sboot.commands.context import build_context
from k8sboot.commands.up import roll_options, run_and_report
from k8sboot.connection.digests import file_sha256s
from k8sboot.connection.pool import ConnectionPool
from k8sboot.context import CommandContext
from k8sboot.engine.forks import DEFAULT_FORKS
from k8sboot.errors import InputError, K8sbootError, UnreachableError
from k8sboot.inventory.model import Host
from k8sboot.phases.base import RunContext
from k8sboot.phases.pki import Pki
from k8sboot.phases.sequences import certs_renew_phases
from k8sboot.pki import expiry, renewal
from k8sboot.pki.expiry import CertRecord
from k8sboot.pki.layout import CA, PkiLayout
from k8sboot.plan import ClusterPlan, cluster_settings

WARN_DAYS = expiry.DEFAULT_WARN_DAYS
REMOTE_TIMEOUT = 60.0  # seconds to hash one host's PKI files
OK, DIFFERS, MISSING, UNREACHABLE = "ok", "differs", "missing", "unreachable"


def pki_plan(command: CommandContext) -> ClusterPlan:
    """A plan for PKI questions only: which leaves exist (pki_spec) and which host holds which
    file where (pki_files, the very list the roles install). Neither reads the version, the
    binaries or the facts, so none are needed: nothing is resolved, no host is asked."""
    inv = command.inventory
    return ClusterPlan(inventory=inv, settings=cluster_settings(inv), kube_version="", binaries={},
                       pki_dir=command.state.pki_dir)


def _need_pki(command: CommandContext) -> Path:
    pki_dir = command.state.pki_dir
    if not PkiLayout(pki_dir).crt(CA).exists():
        raise InputError(f"cluster {command.inventory.name} has no PKI yet ({pki_dir}): "
                         f"`k8sboot up` makes it")
    return pki_dir


# -- check-expiration: pure ---------------------------------------------------------
def host_files(plan: ClusterPlan, hosts: Iterable[Host]) -> dict[str, dict[str, Path]]:
    """host -> {remote path: local file} of every host that holds PKI files, in inventory order."""
    out: dict[str, dict[str, Path]] = {}
    for host in hosts:
        files = {f["dest"]: Path(f["src"]) for group in plan.pki_files(host).values() for f in group}
        if files:
            out[host.name] = files
    return out


def wanted_paths(records: Sequence[CertRecord], files_by_host: Mapping[str, Mapping[str, Path]]
                 ) -> dict[str, list[str]]:
    """host -> the remote paths to hash there: the copies of the records' files (not sa.key & co)."""
    ours = {p for r in records for p in r.files}
    wanted = {host: [dest for dest, src in files.items() if src in ours]
              for host, files in files_by_host.items()}
    return {host: paths for host, paths in wanted.items() if paths}


def sha256_file(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def host_statuses(records: Sequence[CertRecord], files_by_host: Mapping[str, Mapping[str, Path]],
                  remote: Mapping[str, Mapping[str, str | None] | str]) -> dict[Path, dict[str, str]]:
    """record path -> {host: ok | differs | missing | unreachable: WHY} for the hosts that should
    hold that record's files. remote: host -> {remote path: sha256 or None (absent)}, or why the
    host could not be asked."""
    local = {p: sha256_file(p) for r in records for p in r.files}
    out: dict[Path, dict[str, str]] = {}
    for record in records:
        mine = set(record.files)
        row: dict[str, str] = {}
        for host, files in files_by_host.items():
            dests = [dest for dest, src in files.items() if src in mine]
            if not dests:
                continue
            got = remote.get(host)
            if got is None or isinstance(got, str):
                row[host] = f"{UNREACHABLE}: {got or 'not asked'}"
                continue
            states = {MISSING if got.get(d) is None else OK if got[d] == local[files[d]] else DIFFERS
                      for d in dests}
            row[host] = MISSING if MISSING in states else DIFFERS if DIFFERS in states else OK
        out[record.path] = row
    return out


def _iso(when: datetime | None) -> str | None:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if when else None


def check_rows(pki_dir: Path, records: Sequence[CertRecord], statuses: Mapping[Path, Mapping[str, str]],
               now: datetime, days: int = WARN_DAYS) -> list[dict[str, Any]]:
    """One row per certificate: what the table shows and `-o json` prints."""
    rows = []
    for r in records:
        left = r.seconds_left(now)
        rows.append({
            "name": r.name,
            "kind": r.kind,
            "file": r.path.relative_to(pki_dir).as_posix(),
            "subject": r.subject,
            "serial": r.serial,
            "not_before": _iso(r.not_before),
            "expires": _iso(r.not_after),
            "seconds_left": left,
            "residual": expiry.residual(left),
            "expiring": r.expires_within(days, now),
            "issuer": r.issuer,
            "issuer_subject": r.issuer_subject,
            "error": r.error,
            "hosts": dict(statuses.get(r.path, {})),
        })
    return rows


def problems(rows: Sequence[Mapping[str, Any]], days: int = WARN_DAYS) -> list[str]:
    """Why check-expiration exits 1, one line each (an unreachable host once, not per file)."""
    out: list[str] = []
    unreachable: dict[str, str] = {}
    for r in rows:
        if r["error"]:
            out.append(f"{r['name']}: {r['error']}")
            continue
        if r["expiring"]:
            left = r["seconds_left"]
            when = r["expires"].replace("T", " ").replace("Z", " UTC")
            out.append(f"{r['name']} expired {when}" if left <= 0 else
                       f"{r['name']} expires {when}, in {expiry.residual(left)} (within {days} days)")
        if r["kind"] != expiry.CA and r["issuer"] is None:
            out.append(f"{r['name']}: signed by no CA of this PKI (issuer {r['issuer_subject']})")
        for host, status in r["hosts"].items():
            if status.startswith(UNREACHABLE):
                unreachable.setdefault(host, status)
            elif status != OK:
                out.append(f"{host}: {r['name']} {status}")
    out += [f"{host}: {status}" for host, status in unreachable.items()]
    return out


def check_data(cluster: str, pki_dir: Path, now: datetime, rows: list[dict[str, Any]],
               trouble: list[str], days: int = WARN_DAYS) -> dict[str, Any]:
    """What `-o json` prints."""
    return {
        "cluster": cluster,
        "pki_dir": str(pki_dir),
        "checked_at": _iso(now),
        "warn_days": days,
        "certificates": rows,
        "problems": trouble,
        "ok": not trouble,
    }


def hosts_text(hosts: Mapping[str, str]) -> str:
    """'3 ok'; the hosts that are not ok by name: 'wk1 differs, cp2 unreachable; 1 ok'; '-' for none."""
    if not hosts:
        return "-"
    bad = [f"[red]{escape(h)} {escape(s.split(':', 1)[0])}[/]" for h, s in hosts.items() if s != OK]
    good = sum(1 for s in hosts.values() if s == OK)
    if not bad:
        return f"{good} ok"
    return ", ".join(bad) + (f"; {good} ok" if good else "")


def check_table(rows: Sequence[Mapping[str, Any]]) -> Table:
    t = Table(pad_edge=False)
    for col in ("CERTIFICATE", "EXPIRES (UTC)", "RESIDUAL TIME", "CERTIFICATE AUTHORITY", "HOSTS"):
        t.add_column(col, no_wrap=col != "HOSTS")
    for r in rows:
        if r["error"]:
            t.add_row(escape(r["name"]), "[red]unreadable[/]", "-", "-", hosts_text(r["hosts"]))
            continue
        residual = escape(r["residual"])
        issuer = r["issuer"]
        if issuer is None:
            who = escape(r["issuer_subject"] or "?")
            issuer_text = f"-  ({who})" if r["kind"] == expiry.CA else f"[red]none ({who})[/]"
        else:
            issuer_text = escape(issuer)
        t.add_row(
            escape(r["name"]),
            r["expires"].replace("T", " ")[:16],
            f"[red]{residual}[/]" if r["expiring"] else residual,
            issuer_text,
            hosts_text(r["hosts"]),
        )
    return t


# -- check-expiration: I/O --------------------------------------------------------------
def _why(host: str, exc: K8sbootError) -> str:
    if isinstance(exc, UnreachableError):
        return exc.reason
    text = str(exc)
    return text[len(host) + 2:] if text.startswith(f"{host}: ") else text


def remote_digests(pool: ConnectionPool, hosts: Sequence[Host], paths: Mapping[str, list[str]],
                   timeout: float = REMOTE_TIMEOUT) -> dict[str, dict[str, str | None] | str]:
    """host -> {remote path: sha256 or None}, or why the host could not be asked: one command
    per host (connection/digests.py, every path quoted), every host at once."""
    asked = [h for h in hosts if h.name in paths]

    def one(host: Host) -> dict[str, str | None] | str:
        try:
            return file_sha256s(pool.get(host), paths[host.name], timeout)
        except K8sbootError as exc:
            return _why(host.name, exc)

    if not asked:
        return {}
    with ThreadPoolExecutor(max_workers=max(1, min(pool.forks, len(asked)))) as ex:
        return dict(zip([h.name for h in asked], ex.map(one, asked)))


def check_expiration(args: argparse.Namespace) -> int:
    command = build_context(args)
    pki_dir = _need_pki(command)
    now = datetime.now(UTC)
    records = expiry.read_pki(pki_dir)
    files = host_files(pki_plan(command), command.inventory.hosts.values())
    paths = wanted_paths(records, files)
    remote: dict[str, dict[str, str | None] | str] = {}
    if paths:
        pool = command.pool()
        try:
            remote = remote_digests(pool, list(command.inventory.hosts.values()), paths)
        finally:
            pool.close()
    rows = check_rows(pki_dir, records, host_statuses(records, files, remote), now)
    trouble = problems(rows)
    if getattr(args, "output", "table") == "json":
        print(json.dumps(check_data(command.inventory.name, pki_dir, now, rows, trouble), indent=2))
    else:
        ui.console.print(check_table(rows))
        if trouble:
            for line in trouble:
                ui.console.print(f"[red]{escape(line)}[/]", soft_wrap=True)
        else:
            hosts = len(files)
            ui.console.print(f"[green]all {len(rows)} certificates valid for more than {WARN_DAYS} days; "
                             f"the copies on {hosts} host(s) match[/]", soft_wrap=True)
    return 1 if trouble else 0


# -- renew -------------------------------------------------------------------------------
def renewed_table(renewed: Sequence[renewal.Renewed]) -> Table:
    t = Table(pad_edge=False)
    for col in ("RENEWED", "OLD SERIAL", "NEW SERIAL", "EXPIRES (UTC)"):
        t.add_column(col, no_wrap=True)
    for r in renewed:
        t.add_row(escape(r.name), r.old_serial or "(none)", r.new_serial, f"{r.not_after:%Y-%m-%d %H:%M}")
    return t


class RenewCertificates:
    """`up`'s pki phase, the chosen leaves renewed first (pki/renewal.py: their keys removed, then
    Pki's ensure_pki makes new keys, re-issues the certificates and rewrites the kubeconfigs)."""

    def __init__(self, stems: Sequence[str]):
        self.stems = list(stems)
        self.renewed: list[renewal.Renewed] = []
        self.title = f"pki: renew {len(self.stems)} certificate(s)"

    def run(self, ctx: RunContext) -> None:
        before = renewal.prepare(ctx.plan.pki_spec(), ctx.state.pki_dir, self.stems)
        Pki().run(ctx)
        self.renewed = renewal.outcome(ctx.state.pki_dir, before)
        ui.console.print(renewed_table(self.renewed))


def renew(args: argparse.Namespace) -> int:
    started = time.monotonic()
    command = build_context(args)
    pki_dir = _need_pki(command)
    stems = renewal.resolve(pki_plan(command).pki_spec(), args.names or [])  # before any host
    names = [expiry.cert_name(s) for s in stems]
    ui.info(f"renewing {len(stems)} certificate(s), each with a new key: {escape(', '.join(names))}")
    phase = RenewCertificates(stems)
    ctx = RunContext(command, command.pool(), command.run_options(forks=getattr(args, "forks", DEFAULT_FORKS)),
                     ui.Reporter(verbose=getattr(args, "verbose", 0)), roll=roll_options(args, command.inventory))
    failed, total = run_and_report(certs_renew_phases(phase), ctx, started)
    if failed:
        if phase.renewed:
            ui.warn(f"the renewed certificates are already in {pki_dir}, and the old ones stay valid until "
                    f"they expire: `k8sboot up` installs the new ones where this run did not (`certs renew` "
                    f"again would renew them once more)")
        raise failed
    ui.info(f"[green]{len(phase.renewed)} certificate(s) renewed and installed[/]: "
            f"{escape(', '.join(r.name for r in phase.renewed))} ({total:.1f}s)")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.certs_command == "check-expiration":
        return check_expiration(args)
    if args.certs_command == "renew":
        return renew(args)
    raise InputError(f"unknown certs action {args.certs_command!r}")

"""The `k8sboot` command line: argument parsing and output only.

Exit codes: 0 success, 1 a run failed on a host, 2 bad input (inventory, flags, files).
"""

from __future__ import annotations

import argparse
import gc
import importlib
import sys
from typing import Any, Callable

from k8sboot import __version__, ui
from k8sboot.engine.forks import DEFAULT_FORKS
from k8sboot.errors import K8sbootError

EPILOG = "Exit codes: 0 success, 1 a run failed on a host, 2 bad input (inventory, flags, files)."


class _Formatter(argparse.RawDescriptionHelpFormatter):
    pass


def _lazy(module: str, func: str = "run") -> Callable[[Any], int]:
    # commands import their heavy dependencies (libvirt, kubernetes) only when used
    def call(args: Any) -> int:
        return getattr(importlib.import_module(f"k8sboot.commands.{module}"), func)(args)

    return call


def _inventory_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("-i", "--inventory", metavar="FILE",
                   help="inventory file: native k8sboot YAML, or an Ansible/kubespray INI or YAML "
                        "(default: the shipped inventory/local.yml, one local system container)")
    p.add_argument("-e", "--extra-vars", action="append", metavar="KEY=VALUE|@FILE",
                   help="extra vars, highest precedence (repeatable; @FILE.yml reads a YAML file)")


def _timeout_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--connect-timeout", type=float, default=10.0, metavar="SECONDS",
                   help="SSH connect timeout (default 10)")


def _play_args(p: argparse.ArgumentParser) -> None:
    """What `up` and `run` share: check mode, diffs, the user's template and role directories."""
    p.add_argument("-C", "--check", action="store_true", help="report what would change; change nothing")
    p.add_argument("-D", "--diff", action="store_true", help="show the diff of every file that changes")
    p.add_argument("--templates", action="append", metavar="DIR",
                   help="a directory of templates searched before the shipped ones (repeatable)")
    p.add_argument("--roles-path", action="append", metavar="DIR",
                   help="a directory of roles searched before the shipped ones (repeatable)")


def _connection_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--forks", type=int, default=DEFAULT_FORKS,
                   help=f"hosts worked on in parallel (default {DEFAULT_FORKS})")
    _timeout_arg(p)
    p.add_argument("--accept-new-host-keys", action="store_true",
                   help="accept host keys that differ from the recorded ones (a host reinstalled on purpose)")
    p.add_argument("-K", "--ask-become-pass", action="store_true",
                   help="ask once for sudo's password (for become); without a terminal set "
                        "K8SBOOT_BECOME_PASSWORD instead. A host's ansible_become_password wins")
    p.add_argument("-v", "--verbose", action="count", default=0, help="show every task, not only changes")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is less than 1")
    return value


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number of seconds")
    return value


def _roll_args(p: argparse.ArgumentParser) -> None:
    """How new builds roll over running nodes (phases/node_roll.py)."""
    g = p.add_argument_group("rolling nodes that already run (a new kubelet build, config or certificates)")
    g.add_argument("--max-unavailable", type=_positive_int, default=1, metavar="N",
                   help="nodes cordoned and drained at once (default 1)")
    g.add_argument("--force-drain", action="store_true",
                   help="also evict pods no controller recreates (kubectl drain --force); without it a "
                        "node running such a pod stops the roll")
    g.add_argument("--drain-timeout", type=_positive_seconds, default=300.0, metavar="SECONDS",
                   help="time a node's pods get to leave, PodDisruptionBudgets permitting (default 300)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="k8sboot",
        formatter_class=_Formatter,
        description=(
            "Bootstrap Kubernetes from your own binaries onto libvirt VMs, Vagrant VMs\n"
            "or machines reached over SSH, the Ansible way (roles, templates, inventories).\n\n"
            "Typical use:\n"
            "  k8sboot up                                      # the default cluster: one local VM\n"
            "  k8sboot inventory -i my.yml --list              # check what k8sboot understood\n"
            "  k8sboot up -i my.yml                            # your hosts -> every node Ready\n"
            "  k8sboot kubeconfig -i my.yml                    # where the admin kubeconfig is\n"
            "  k8sboot stop | start | down -i my.yml           # the cluster's life after up\n"
            "  k8sboot run ROLE -i my.yml                      # run any role, like ansible-playbook"
        ),
        epilog=EPILOG,
    )
    parser.add_argument("--version", action="version", version=f"k8sboot {__version__}")
    parser.add_argument("--color", choices=ui.COLOR_CHOICES, default="auto",
                        help="colour: auto (on a terminal, unless NO_COLOR is set), always, never; "
                             "give it before the command: k8sboot --color never up")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("version", help="print the version", description="Print k8sboot's version.")
    p.set_defaults(func=lambda a: (print(f"k8sboot {__version__}"), 0)[1])

    p = sub.add_parser(
        "inventory", help="show the resolved inventory", formatter_class=_Formatter, epilog=EPILOG,
        description="Load and validate an inventory, then print it as `ansible-inventory --list` does:\n"
                    "every group with its hosts, and _meta.hostvars with address, port, user, key, become\n"
                    "and the vars resolved with their precedence (all < group < host < -e).",
    )
    _inventory_arg(p)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--list", action="store_true", help="print the whole inventory as JSON (the default)")
    g.add_argument("--host", metavar="NAME", help="print one host's vars as JSON")
    p.set_defaults(func=_lazy("inventory"))

    p = sub.add_parser(
        "up", help="bring up the cluster: every node Ready", formatter_class=_Formatter, epilog=EPILOG,
        # the phases as phases/sequences.py lists them (a unit test holds the two together)
        description="From an inventory to a cluster whose nodes are all Ready, in phases:\n"
                    "  provision, binaries, connect, preflight, roll plan, images, plan,\n"
                    "  pod CIDRs, pki, etcd + control plane | nodes | pod routes (side by side),\n"
                    "  roll nodes, wait for nodes Ready, summary.\n"
                    "Idempotent: a rerun changes nothing and restarts nothing; a changed template\n"
                    "restarts only the component it configures.",
    )
    _inventory_arg(p)
    p.add_argument("-l", "--limit", metavar="HOSTS",
                   help="work on these nodes alone (comma-separated hosts or groups), as kubespray's "
                        "scale.yml --limit: add a node to a running cluster without looking at the others. "
                        "Only hosts of the nodes group that are neither etcd nor control plane; the "
                        "cluster must have been brought up before")
    _play_args(p)
    _connection_args(p)
    _roll_args(p)
    p.set_defaults(func=_lazy("up"))

    p = sub.add_parser(
        "kubeconfig", help="print the admin kubeconfig's path (or merge it)", formatter_class=_Formatter,
        epilog=EPILOG,
        description="Print the path of the cluster's admin kubeconfig (written by `k8sboot up`),\n"
                    "or with --merge add it to ~/.kube/config as a context named after the cluster.",
    )
    _inventory_arg(p)
    p.add_argument("--merge", action="store_true", help="merge into ~/.kube/config (or --merge-into)")
    p.add_argument("--merge-into", default="~/.kube/config", metavar="FILE", help=argparse.SUPPRESS)
    p.set_defaults(func=_lazy("kubeconfig"))

    p = sub.add_parser(
        "verify", help="check the cluster's health on every host (testinfra)", formatter_class=_Formatter,
        epilog="Exit codes: 0 every check passed (warnings allowed), 1 a check failed, 2 bad input.",
        description="Run k8sboot's testinfra suite over SSH on every host, by role: binaries match the\n"
                    "recorded sha256 and version, swap, kernel features, etcd health and members, the\n"
                    "control plane's units, ports, /readyz and certificates, the nodes' units, kubelet\n"
                    "healthz and Ready. Prints a table of host, check and result.",
    )
    _inventory_arg(p)
    p.add_argument("--tests", action="append", metavar="DIR",
                   help="also run your own testinfra test files from DIR (same `host` fixture; repeatable)")
    p.add_argument("--junitxml", metavar="PATH", help="write a JUnit XML report to PATH")
    p.add_argument("--smoke", action="store_true",
                   help="also run a pod on every node from a locally made image and check pod-to-pod "
                        "and Service traffic from every node (namespace k8sboot-smoke, removed afterwards)")
    p.add_argument("--cis", action="store_true",
                   help="also check the CIS Kubernetes Benchmark items k8sboot controls, as an auditor "
                        "would: the running processes' flags, the kubelet's config, file modes and "
                        "owners on every host (each result names its CIS item)")
    _timeout_arg(p)
    p.add_argument("-v", "--verbose", action="count", default=0, help="show pytest's own report as well")
    p.set_defaults(func=_lazy("verify"))

    p = sub.add_parser(
        "status", help="show the cluster, its nodes and the services on every host", formatter_class=_Formatter,
        epilog=EPILOG,
        description="The API address and version, every node's addresses, conditions, capacity and\n"
                    "versions (from the API), and per host the state of the units k8sboot manages\n"
                    "(over SSH). Exit 1 when the API does not answer (the host table is still shown).",
    )
    _inventory_arg(p)
    p.add_argument("-o", "--output", choices=("table", "json", "yaml"), default="table",
                   help="table (default), or json / yaml for scripts (the same data)")
    _timeout_arg(p)
    p.set_defaults(func=_lazy("status"))

    p = sub.add_parser(
        "etcd", help="etcd's members, leader and quorum; snapshots", formatter_class=_Formatter,
        epilog=EPILOG,
        description="Talk to the inventory's etcd members directly (https://<node ip>:<client port>,\n"
                    "with the local PKI's etcd client certificate): no SSH, no etcdctl.\n"
                    "  k8sboot etcd status -i my.yml      # members, leader, DB size, raft index, quorum\n"
                    "  k8sboot etcd snapshot -i my.yml    # a snapshot in the state directory\n"
                    "  k8sboot etcd restore FILE -i my.yml  # every member rebuilt from a snapshot",
    )
    esub = p.add_subparsers(dest="etcd_command", metavar="ACTION", required=True)
    es = esub.add_parser(
        "status", help="every member's health, the leader, DB size, raft index; the quorum",
        formatter_class=_Formatter,
        epilog="Exit codes: 0 etcd has a quorum, 1 it has not (or no member answers), 2 bad input.",
        description="A table of every etcd member (name, endpoint, healthy, leader, DB size, raft\n"
                    "index, version, error), then one line: the quorum, the leader, who is down.",
    )
    _inventory_arg(es)
    es.add_argument("-o", "--output", choices=("table", "json"), default="table",
                    help="table (default), or json for scripts (the same data)")
    es.add_argument("--timeout", type=float, default=5.0, metavar="SECONDS",
                    help="how long to wait for each member (default 5)")
    es.set_defaults(func=_lazy("etcd", "status"))
    esn = esub.add_parser(
        "snapshot", help="save a snapshot of etcd here", formatter_class=_Formatter, epilog=EPILOG,
        description="Stream a snapshot from the leader (or, if it is down, another healthy member)\n"
                    "into FILE, mode 0600, written whole or not at all; `etcdctl snapshot restore`\n"
                    "reads it. Default FILE: <state dir>/etcd-snapshots/<cluster>-<UTC time>.db.",
    )
    esn.add_argument("file", nargs="?", metavar="FILE",
                     help="where to save it (a directory: a timestamped file in it)")
    _inventory_arg(esn)
    esn.add_argument("--timeout", type=float, default=5.0, metavar="SECONDS",
                     help="how long to wait for each member's answer (default 5)")
    esn.set_defaults(func=_lazy("etcd", "snapshot"))
    er = esub.add_parser(
        "restore", help="rebuild every etcd member from a snapshot", formatter_class=_Formatter,
        epilog=EPILOG,
        description="Stop the control plane and etcd, rebuild every member's data dir from FILE\n"
                    "(`etcdctl snapshot restore` on each etcd host, with a new cluster token; the old\n"
                    "data is kept beside it as <data dir>.before-restore), start etcd until it has a\n"
                    "quorum, then the control plane, and wait until every node is Ready.\n"
                    "Needs etcdctl on the etcd hosts (binaries.etcdctl). Asks first unless --yes.",
    )
    er.add_argument("file", metavar="FILE", help="a snapshot from `k8sboot etcd snapshot`")
    er.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    _inventory_arg(er)
    _connection_args(er)
    er.set_defaults(func=_lazy("etcd", "restore"))

    p = sub.add_parser(
        "run", help="run roles on the hosts (like ansible-playbook)", formatter_class=_Formatter,
        epilog=EPILOG,
        description="Run one or more roles (roles/<name>/tasks/main.yml) on the inventory's hosts,\n"
                    "all hosts in parallel. Ends with a PLAY RECAP; a second run with the same input\n"
                    "reports changed=0.",
    )
    _inventory_arg(p)
    p.add_argument("roles", nargs="+", metavar="ROLE", help="roles to run, in order")
    p.add_argument("-l", "--limit", metavar="HOSTS", help="comma-separated hosts or groups")
    p.add_argument("-t", "--tags", action="append", help="run only tasks with these tags")
    p.add_argument("--skip-tags", action="append", help="skip tasks with these tags")
    _play_args(p)
    _connection_args(p)
    p.set_defaults(func=_lazy("run_roles"))

    p = sub.add_parser(
        "export", help="write an Ansible playbook that does what `up` does", formatter_class=_Formatter,
        epilog=EPILOG,
        description="Write DIR: site.yml, ansible.cfg, host_vars/, roles/, templates/ and files/ (the PKI\n"
                    "and image archives, made here as `up` makes them), so that ansible-playbook brings\n"
                    "the hosts to what `k8sboot up` would (and `up` afterwards changes nothing).\n"
                    "No host is contacted: facts are assumed (VMs or machines, unless --in-containers).\n"
                    "Binaries are not copied: host_vars name them where they are on this machine.\n"
                    "A native inventory is also written as DIR/inventory.yml in Ansible's format;\n"
                    "an Ansible/kubespray inventory is given to ansible-playbook as it is.",
    )
    p.add_argument("dir", metavar="DIR", help="the directory to write (new or empty, unless --force)")
    _inventory_arg(p)
    p.add_argument("--force", action="store_true",
                   help="write into a non-empty DIR, replacing what an earlier export wrote (other files stay)")
    p.add_argument("--in-containers", action="store_true",
                   help="the hosts are system containers (containerd's restrict_oom_score_adj on, the "
                        "kubelet's protectKernelDefaults off); default: VMs or machines")
    p.add_argument("--no-host-key-checking", action="store_true",
                   help="ansible.cfg with host_key_checking = False (default: Ansible checks host keys)")
    p.add_argument("--templates", action="append", metavar="DIR",
                   help="a directory of templates searched before the shipped ones (repeatable)")
    p.add_argument("--roles-path", action="append", metavar="DIR",
                   help="a directory of roles searched before the shipped ones (repeatable)")
    p.set_defaults(func=_lazy("export"))

    p = sub.add_parser(
        "image", help="build the VM base image", formatter_class=_Formatter,
        description="Build the base image the libvirt provider boots (Debian bookworm from the\n"
                    "package mirror, no download of cloud images). Cached under ~/.cache/k8sboot;\n"
                    "rebuilt only when its recipe changes.",
    )
    isub = p.add_subparsers(dest="image_command", metavar="ACTION", required=True)
    ib = isub.add_parser("build", help="build (or reuse) the base image")
    ib.add_argument("--force", action="store_true", help="rebuild even if a cached image matches")
    ib.add_argument("--format", choices=("disk", "vagrant-libvirt"), default="disk",
                    help="disk: the base image libvirt VMs boot; vagrant-libvirt: also package it "
                         "as the Vagrant box k8sboot/bookworm and `vagrant box add` it")
    ib.set_defaults(func=_lazy("image"))

    p = sub.add_parser(
        "provision", help="create the machines (containers, VMs) the inventory asks for",
        formatter_class=_Formatter, epilog=EPILOG,
        description="Create the machines of hosts with a provider: `lxc` system containers (a\n"
                    "bridge, a root filesystem each), `libvirt` VMs (a network, a disk overlay and a\n"
                    "domain each), `vagrant` boxes; inject an SSH key, wait until SSH answers and\n"
                    "record each address in the cluster's state directory. Idempotent.",
    )
    _inventory_arg(p)
    p.set_defaults(func=_lazy("provision", "provision"))

    p = sub.add_parser(
        "destroy", help="remove the machines k8sboot made", formatter_class=_Formatter,
        epilog=EPILOG,
        description="Remove every container, domain, disk, bridge and network k8sboot provisioned\n"
                    "for this inventory, and forget the machines.",
    )
    _inventory_arg(p)
    p.set_defaults(func=_lazy("provision", "destroy"))

    for name, helptext, desc in (
        ("stop", "stop the services and shut provisioned machines down",
         "Stop the k8sboot services on every host (nodes first, etcd last) and shut\n"
         "down the containers and VMs k8sboot provisioned. All state is kept: `k8sboot start` resumes."),
        ("start", "boot the machines, start the services, wait until Ready",
         "Boot the containers and VMs k8sboot provisioned, then run `up` (idempotent): the services\n"
         "start and k8sboot waits until every node is Ready."),
        ("down", "reset every host, destroy the machines, delete the state",
         "Undo `up`: stop and disable the units, remove the binaries, configs,\n"
         "certificates and data (hosts end as they were before), destroy the containers,\n"
         "VMs, disks and networks k8sboot provisioned, and remove the cluster's state\n"
         "directory. Asks first unless --yes."),
    ):
        p = sub.add_parser(name, help=helptext, description=desc, formatter_class=_Formatter, epilog=EPILOG)
        _inventory_arg(p)
        if name == "down":
            p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
        _connection_args(p)
        if name == "start":
            _roll_args(p)
            p.add_argument("--templates", action="append", metavar="DIR", help=argparse.SUPPRESS)
            p.add_argument("--roles-path", action="append", metavar="DIR", help=argparse.SUPPRESS)
        p.set_defaults(func=_lazy("lifecycle", name))

    p = sub.add_parser(
        "remove-node", help="take a host out of the cluster and reset it",
        formatter_class=_Formatter, epilog=EPILOG,
        description="Remove the host's etcd member (refused if etcd would lose quorum), delete its\n"
                    "Node object, reset the host (as `down` does, for that host only) and leave every\n"
                    "other host untouched. Then take the host out of the inventory and run `up`: the\n"
                    "other hosts forget it (etcd servers, load balancers). Asks first unless --yes.",
    )
    p.add_argument("name", metavar="NAME", help="the host's inventory name")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    _inventory_arg(p)
    _connection_args(p)
    p.set_defaults(func=_lazy("lifecycle", "remove_node"))

    p = sub.add_parser(
        "certs", help="the cluster's certificates: when they expire, renew them",
        formatter_class=_Formatter, epilog=EPILOG,
        description="`check-expiration` lists every certificate and kubeconfig of the cluster (CAs\n"
                    "and leaves, etcd's too): its expiry, the time left and the CA that signed it,\n"
                    "from the state directory and as installed on each host (a host holding a\n"
                    "different certificate is named). `renew` re-issues leaf certificates (same\n"
                    "subjects and SANs), installs them and restarts only the components that use\n"
                    "them, one control plane at a time.",
    )
    csub = p.add_subparsers(dest="certs_command", metavar="ACTION", required=True)
    cc = csub.add_parser("check-expiration", help="every certificate's expiry, locally and on the hosts",
                         formatter_class=_Formatter, epilog=EPILOG)
    _inventory_arg(cc)
    cc.add_argument("-o", "--output", choices=("table", "json"), default="table",
                    help="a table (default) or JSON for scripts")
    _connection_args(cc)
    cr = csub.add_parser("renew", help="re-issue leaf certificates and roll them out",
                         formatter_class=_Formatter, epilog=EPILOG)
    cr.add_argument("names", nargs="*", metavar="NAME",
                    help="certificates to renew (as check-expiration names them), or `all` (the default)")
    _inventory_arg(cr)
    _connection_args(cr)
    p.set_defaults(func=_lazy("certs"))

    p = sub.add_parser(
        "dev", help="the developer loop: build components from a source tree and roll them out",
        formatter_class=_Formatter, epilog=EPILOG,
        description="Build Kubernetes components from your source tree with its own Makefile\n"
                    "(make WHAT=cmd/<component>), record them as the cluster's binaries for those\n"
                    "components, and roll them out as `up` does: only hosts whose binary changed are\n"
                    "touched, control planes one at a time, nodes drained only for a new kubelet.\n"
                    "A rerun with no source change builds nothing and touches no host.\n"
                    "`--reset` forgets the dev builds and rolls back to the inventory's binaries.",
    )
    p.add_argument("src_dir", nargs="?", metavar="SRC_DIR", help="the Kubernetes source tree")
    p.add_argument("--component", action="append", metavar="NAME",
                   help="build only this component (repeatable; default: every Kubernetes component "
                        "the inventory runs)")
    p.add_argument("--reset", action="store_true",
                   help="forget the dev builds and roll back to the inventory's binaries")
    _inventory_arg(p)
    _play_args(p)
    _connection_args(p)
    _roll_args(p)
    p.set_defaults(func=_lazy("dev"))

    p = sub.add_parser(
        "binaries", help="build or list the Kubernetes binaries", formatter_class=_Formatter,
        epilog=EPILOG,
        description="The binaries the cluster runs are yours: cluster.binaries in the inventory\n"
                    "names a directory, files or URLs (with sha256). `list` resolves and checks them\n"
                    "(version, checksum) without touching a host; `build` builds components from a\n"
                    "Kubernetes source tree with its own Makefile.",
    )
    bsub = p.add_subparsers(dest="binaries_command", metavar="ACTION", required=True)
    bb = bsub.add_parser(
        "build", help="build components from a Kubernetes source tree", epilog=EPILOG,
        formatter_class=_Formatter,
        description="Run the tree's `make WHAT=cmd/...` once for all components (GOPATH link,\n"
                    "CGO_ENABLED=0; needs go, make, rsync, jq). About 6-7 min for all six on 2 cores.",
    )
    bb.add_argument("src_dir", metavar="SRC_DIR", help="the Kubernetes source tree")
    bb.add_argument("--out", metavar="DIR", help="copy the binaries here (default: SRC_DIR/_output/bin)")
    bb.add_argument("--component", action="append", metavar="NAME",
                    help="a component to build (repeatable; default: kube-apiserver, "
                         "kube-controller-manager, kube-scheduler, kubelet, kube-proxy, kubectl)")
    bb.add_argument("--fix-reflect2", action="store_true",
                    help="first replace the vendored reflect2 with Debian's v1.0.2: Kubernetes "
                         "<= 1.21 built with Go >= 1.18 crashes on YAML output without it")
    bb.set_defaults(func=_lazy("binaries"))
    bl = bsub.add_parser("list", help="resolve and check the inventory's binaries", epilog=EPILOG)
    _inventory_arg(bl)
    bl.set_defaults(func=_lazy("binaries"))
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    finally:
        if argv is None:
            # the real command line (console script, python -m k8sboot): the process exits next.
            # Frozen, the objects a run made are left out of the collector's passes at exit, which
            # took 0.4-0.7 s once the kubernetes client was loaded; exit handlers still run
            gc.freeze()


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    ui.configure(args.color)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except K8sbootError as e:
        ui.error(str(e))
        return e.exit_code
    except KeyboardInterrupt:
        ui.error("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())

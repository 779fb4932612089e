"""A running process's flags, read from its command line as an auditor reads them, and judged.

The command line is /proc/<MainPID>/cmdline of the systemd unit: what the process
really runs with, whatever the unit file or k8sboot's templates say. It is parsed
the way the components' own flag packages parse it:

- ``--name=value`` and ``--name value``; ``-name`` too (etcd uses Go's flag package,
  which takes one dash or two); ``_`` in a name means ``-`` (Kubernetes normalises it).
- A boolean flag given alone (``--profiling``) is true. A known boolean never takes
  the next word as its value: ``--profiling false`` is true followed by a stray word,
  as Go sees it (and the components then refuse to start).
- A flag given twice counts by its last value, as in Go's flag package. The list
  flags of Kubernetes (pflag string slices: ``--authorization-mode``,
  ``--enable-admission-plugins``, ``--tls-cipher-suites``...) are the exception,
  as in the process itself: every occurrence adds to the list (`Flags.items`), and
  ``--feature-gates`` occurrences merge, the later winning per gate (`Flags.gates`).
- ``--`` ends the flags.

etcd also reads any flag it was not given from ``ETCD_<NAME>`` in its environment
(the unit's EnvironmentFile); the command line wins (`Flags.env`).

Everything here is pure: `k8sboot.health.cis.audit` reads the hosts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

_FLAG = re.compile(r"^--?[A-Za-z]")  # "-1" and "-" are values, "--x" and "-x" are flags

# the boolean flags the CIS items read: they never take the next word as a value
BOOL_FLAGS = frozenset({
    # kube-apiserver
    "anonymous-auth", "profiling", "kubelet-https", "service-account-lookup", "allow-privileged",
    # kube-controller-manager, kube-scheduler
    "use-service-account-credentials", "leader-elect", "allocate-node-cidrs",
    # etcd
    "client-cert-auth", "auto-tls", "peer-client-cert-auth", "peer-auto-tls",
    # kubelet
    "protect-kernel-defaults", "make-iptables-util-chains", "rotate-certificates",
    "rotate-server-certificates", "register-node", "fail-swap-on",
    # every component
    "logtostderr", "alsologtostderr", "help", "version",
})


def normalise(name: str) -> str:
    return name.replace("_", "-")


def parse_flags(argv: Sequence[str], booleans: Iterable[str] = BOOL_FLAGS) -> dict[str, list[str]]:
    """Flag name -> every value it was given, in order. argv[0] (the program) is skipped."""
    bools = {normalise(b) for b in booleans}
    args = list(argv[1:])
    given: dict[str, list[str]] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            break
        if not _FLAG.match(arg):
            continue  # a positional word: not a flag, not a value of one
        body = arg[2:] if arg.startswith("--") else arg[1:]
        name, eq, value = body.partition("=")
        name = normalise(name)
        if not eq:
            if name not in bools and i < len(args) and not _FLAG.match(args[i]) \
                    and args[i] != "--":
                value = args[i]
                i += 1
            else:
                value = "true"
        given.setdefault(name, []).append(value)
    return given


def env_flags(environ: Mapping[str, str], prefix: str) -> dict[str, str]:
    """ETCD_CLIENT_CERT_AUTH=true -> {"client-cert-auth": "true"} (prefix "ETCD_")."""
    if not prefix:
        return {}
    return {
        k[len(prefix):].lower().replace("_", "-"): v
        for k, v in environ.items()
        if k.startswith(prefix) and len(k) > len(prefix)
    }


def parse_environ(raw: bytes) -> dict[str, str]:
    """/proc/<pid>/environ: NUL-separated NAME=value."""
    out: dict[str, str] = {}
    for entry in raw.split(b"\0"):
        name, eq, value = entry.decode(errors="replace").partition("=")
        if eq and name:
            out[name] = value
    return out


def parse_cmdline(raw: bytes) -> list[str]:
    """/proc/<pid>/cmdline: NUL-separated arguments, with a NUL after the last one."""
    words = raw.split(b"\0")
    if words and words[-1] == b"":
        words.pop()
    return [w.decode(errors="replace") for w in words]


def parse_bool(text: str) -> bool | None:
    """Go's strconv.ParseBool; None for anything else."""
    if text in ("1", "t", "T", "true", "TRUE", "True"):
        return True
    if text in ("0", "f", "F", "false", "FALSE", "False"):
        return False
    return None


def split_list(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


@dataclass(frozen=True)
class Flags:
    """The flags of one running process (or of a command line handed in by a test)."""

    process: str  # for messages: the unit name
    argv: tuple[str, ...]
    given: Mapping[str, tuple[str, ...]]
    env: Mapping[str, str] = field(default_factory=dict)  # flags from the environment (etcd)
    env_prefix: str = ""
    pid: int = 0

    @classmethod
    def parse(
        cls,
        process: str,
        argv: Sequence[str],
        *,
        environ: Mapping[str, str] | None = None,
        env_prefix: str = "",
        pid: int = 0,
    ) -> Flags:
        given = {k: tuple(v) for k, v in parse_flags(argv).items()}
        return cls(process, tuple(argv), given, env_flags(environ or {}, env_prefix),
                   env_prefix, pid)

    def has(self, name: str) -> bool:
        return name in self.given or name in self.env

    def value(self, name: str) -> str | None:
        """The value the process uses: the last one given; else the environment's; else None."""
        if name in self.given:
            return self.given[name][-1]
        return self.env.get(name)

    def items(self, name: str) -> list[str]:
        """A list flag (pflag string slice): every occurrence's comma-separated words, in order."""
        if name in self.given:
            return [w for v in self.given[name] for w in split_list(v)]
        return split_list(self.env.get(name, ""))

    def gates(self, name: str = "feature-gates") -> dict[str, str]:
        """--feature-gates=A=true,B=false given any number of times: gate -> value, later wins."""
        out: dict[str, str] = {}
        values = self.given.get(name) or ((self.env[name],) if name in self.env else ())
        for v in values:
            for word in split_list(v):
                gate, _, setting = word.partition("=")
                out[gate.strip()] = setting.strip()
        return out

    def show(self, name: str) -> str:
        """How the flag appears, for a message: '--profiling=true' or 'ETCD_AUTO_TLS=true'."""
        if name in self.given:
            values = self.given[name]
            shown = f"--{name}={values[-1]}"
            if len(values) > 1:
                shown += f" (given {len(values)} times: the last counts)"
            return shown
        if name in self.env:
            return f"{self.env_prefix}{name.upper().replace('-', '_')}={self.env[name]}" \
                   " (environment)"
        return f"--{name} not set"


# -- judgements: None when the item is met, else one line saying what the process runs with ----

def want_bool(flags: Flags, name: str, want: bool, default: bool) -> str | None:
    """The flag's effective value (its default when absent) must be `want`."""
    text = flags.value(name)
    if text is None:
        if default == want:
            return None
        return f"{flags.process}: --{name} not set (its default is {str(default).lower()}; " \
               f"wanted {str(want).lower()})"
    value = parse_bool(text)
    if value is None:
        return f"{flags.process}: {flags.show(name)} is not a boolean"
    if value != want:
        return f"{flags.process} runs with {flags.show(name)} (wanted {str(want).lower()})"
    return None


def want_set(flags: Flags, *names: str) -> str | None:
    """Every flag given, with a value that is not empty."""
    missing = [n for n in names if not (flags.value(n) or "").strip()]
    if not missing:
        return None
    return f"{flags.process}: {' and '.join(f'--{n}' for n in missing)} not set"


def want_unset(flags: Flags, name: str) -> str | None:
    if not flags.has(name):
        return None
    return f"{flags.process} runs with {flags.show(name)} (wanted: not set)"


def want_value(flags: Flags, name: str, want: str, default: str | None) -> str | None:
    """The flag's value (its default when absent) must be exactly `want`."""
    value = flags.value(name)
    if value is None:
        if default == want:
            return None
        shown = f" (its default is {default})" if default is not None else ""
        return f"{flags.process}: --{name} not set{shown}; wanted {want}"
    if value != want:
        return f"{flags.process} runs with {flags.show(name)} (wanted {want})"
    return None


def want_not_value(flags: Flags, name: str, bad: str) -> str | None:
    value = flags.value(name)
    if value is not None and value.strip() == bad:
        return f"{flags.process} runs with {flags.show(name)} (wanted anything but {bad})"
    return None


def want_at_least(flags: Flags, name: str, minimum: int) -> str | None:
    value = flags.value(name)
    if value is None:
        return f"{flags.process}: --{name} not set (wanted {minimum} or more)"
    try:
        number = int(value.strip())
    except ValueError:
        return f"{flags.process}: {flags.show(name)} is not a number"
    if number < minimum:
        return f"{flags.process} runs with {flags.show(name)} (wanted {minimum} or more)"
    return None


def want_in_list(flags: Flags, name: str, item: str, default: Sequence[str] = ()) -> str | None:
    """`item` among the list flag's words (or its default's, when it is not given)."""
    words = flags.items(name) if flags.has(name) else list(default)
    if item in words:
        return None
    if not flags.has(name):
        shown = f" (its default is {','.join(default)})" if default else ""
        return f"{flags.process}: --{name} not set{shown}; wanted it to include {item}"
    return f"{flags.process} runs with --{name}={','.join(words)} (wanted it to include {item})"


def want_not_in_list(flags: Flags, name: str, item: str, default: Sequence[str] = ()) -> str | None:
    words = flags.items(name) if flags.has(name) else list(default)
    if item not in words:
        return None
    if not flags.has(name):
        return f"{flags.process}: --{name} not set, and its default {','.join(default)} " \
               f"includes {item}"
    return f"{flags.process} runs with --{name}={','.join(words)} (wanted it without {item})"


def want_gate_not_false(flags: Flags, gate: str, name: str = "feature-gates") -> str | None:
    setting = flags.gates(name).get(gate)
    if setting is None or parse_bool(setting) is not False:
        return None
    return f"{flags.process} runs with --{name} {gate}={setting} (wanted it not false)"

"""What the CIS items want, judged on what was read from a host: pure, so it is unit-tested.

File modes ("644 or stricter"), owners, TLS cipher suites, the apiserver's
encryption configuration, Go durations, the kubelet's settings (its config file,
with a flag of the same meaning on its command line winning) and whether two PEM
files share a certificate. A judgement returns None when the item is met, else
one line naming what was found.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from k8sboot.health.cis.flags import Flags, parse_bool, split_list

# -- file modes and owners --------------------------------------------------------------

_WHO = (("owner", 6), ("group", 3), ("others", 0))
_WHAT = (("read", 4), ("write", 2), ("execute", 1))
_SPECIAL = ((0o4000, "setuid"), (0o2000, "setgid"), (0o1000, "sticky"))


def mode_within(mode: int, limit: int) -> bool:
    """'644 or stricter': no permission bit `limit` lacks (setuid, setgid, sticky included)."""
    return mode & 0o7777 & ~limit == 0


def extra_permissions(mode: int, limit: int) -> list[str]:
    """What `mode` allows beyond `limit`, in words: ['group can write', 'others can read']."""
    extra = mode & 0o7777 & ~limit
    words = []
    for who, shift in _WHO:
        can = [what for what, bit in _WHAT if extra & (bit << shift)]
        if can:
            words.append(f"{who} can {' and '.join(can)}")
    words += [name for bit, name in _SPECIAL if extra & bit]
    return words


def mode_problem(path: str, mode: int, limit: int) -> str | None:
    if mode_within(mode, limit):
        return None
    return f"{path} is {mode:o}: {', '.join(extra_permissions(mode, limit))} " \
           f"(wanted {limit:o} or stricter)"


def owner_problem(path: str, user: str, group: str, want: tuple[str, str] = ("root", "root")) \
        -> str | None:
    if (user, group) == want:
        return None
    return f"{path} is owned by {user}:{group} (wanted {want[0]}:{want[1]})"


# -- TLS cipher suites ------------------------------------------------------------------

# CIS Kubernetes Benchmark v1.6, 1.2.35 and 4.2.13, and the TLS 1.3 suites (Go picks those itself)
STRONG_CIPHER_SUITES: tuple[str, ...] = (
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
)


def weak_cipher_suites(suites: Sequence[str]) -> list[str]:
    """The suites not on the strong list, in the order given."""
    return [s for s in suites if s not in STRONG_CIPHER_SUITES]


def cipher_suites_problem(suites: Sequence[str], where: str) -> str | None:
    """`where` says where the list came from, e.g. 'kube-apiserver --tls-cipher-suites'."""
    if not suites:
        return f"{where} not set: Go's default suites include CBC and 3DES ones"
    weak = weak_cipher_suites(suites)
    if weak:
        return f"{where} allows {', '.join(weak)} (not among the strong suites)"
    return None


# -- the apiserver's encryption configuration ----------------------------------------------

STRONG_PROVIDERS = ("aescbc", "kms", "secretbox")
_KNOWN_PROVIDERS = ("aescbc", "aesgcm", "secretbox", "kms", "identity")
# the names an EncryptionConfiguration entry can match Secrets by, the wildcards included
_SECRET_NAMES = ("secrets", "secrets.", "*.", "*.*")


class ConfigError(ValueError):
    """A file read off a host is not what its kind promises; the message says why."""


def secrets_first_provider(doc: Any) -> str:
    """The provider new Secrets are written with: the first provider of the first entry of
    `resources` naming secrets (the apiserver adds later entries' providers behind it)."""
    if not isinstance(doc, Mapping):
        raise ConfigError("not a YAML mapping")
    if doc.get("kind") != "EncryptionConfiguration":
        raise ConfigError(f"kind is {doc.get('kind')!r}, not EncryptionConfiguration")
    for entry in doc.get("resources") or []:
        if not isinstance(entry, Mapping):
            continue
        names = [str(n) for n in entry.get("resources") or []]
        if not any(n in _SECRET_NAMES for n in names):
            continue
        providers = entry.get("providers") or []
        if not providers or not isinstance(providers[0], Mapping) or not providers[0]:
            raise ConfigError(f"the entry for {', '.join(names)} has no providers")
        first = providers[0]
        return next((k for k in first if k in _KNOWN_PROVIDERS), str(next(iter(first))))
    raise ConfigError("no entry under resources names secrets (they are stored unencrypted)")


def encryption_problem(text: str, path: str) -> str | None:
    """Secrets written with aescbc, kms or secretbox (the first provider decides)."""
    try:
        provider = secrets_first_provider(yaml.safe_load(text))
    except yaml.YAMLError as e:
        return f"{path} is not YAML: {str(e).splitlines()[0]}"
    except ConfigError as e:
        return f"{path}: {e}"
    if provider in STRONG_PROVIDERS:
        return None
    plain = " (secrets stored in plain text)" if provider == "identity" else ""
    return f"{path}: secrets are written with {provider}{plain}; wanted " \
           f"{', '.join(STRONG_PROVIDERS)} as the first provider"


# -- Go durations -------------------------------------------------------------------------

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0,
                 "m": 60.0, "h": 3600.0}


def go_duration_seconds(text: str) -> float | None:
    """time.ParseDuration: '4h0m0s' -> 14400.0, '0' -> 0.0; None when it is not a duration."""
    text = text.strip()
    sign = -1.0 if text.startswith("-") else 1.0
    text = text.lstrip("+-")
    if text == "0":
        return 0.0
    if not text:
        return None
    total, pos = 0.0, 0
    for m in _DURATION_PART.finditer(text):
        if m.start() != pos:
            return None
        total += float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
        pos = m.end()
    return sign * total if pos == len(text) else None


# -- the kubelet's settings -------------------------------------------------------------------

@dataclass(frozen=True)
class KubeletSetting:
    flag: str  # the command-line flag of the same meaning
    path: tuple[str, ...]  # where it sits in the KubeletConfiguration
    kind: str  # bool, int, str, duration, list, map
    default: Any  # when the config file leaves it out (kubelet.config.k8s.io/v1beta1 defaults)
    default_without_config: Any = None  # the flag's own default, for a kubelet run without --config

    @property
    def key(self) -> str:
        return ".".join(self.path)


KUBELET: dict[str, KubeletSetting] = {
    s.key: s
    for s in (
        KubeletSetting("anonymous-auth", ("authentication", "anonymous", "enabled"), "bool", True,
                       True),
        KubeletSetting("authorization-mode", ("authorization", "mode"), "str", "Webhook",
                       "AlwaysAllow"),
        KubeletSetting("client-ca-file", ("authentication", "x509", "clientCAFile"), "str", None),
        KubeletSetting("read-only-port", ("readOnlyPort",), "int", 10255, 10255),
        KubeletSetting("streaming-connection-idle-timeout", ("streamingConnectionIdleTimeout",),
                       "duration", "4h0m0s", "4h0m0s"),
        KubeletSetting("protect-kernel-defaults", ("protectKernelDefaults",), "bool", False, False),
        KubeletSetting("make-iptables-util-chains", ("makeIPTablesUtilChains",), "bool", True,
                       True),
        KubeletSetting("tls-cert-file", ("tlsCertFile",), "str", None),
        KubeletSetting("tls-private-key-file", ("tlsPrivateKeyFile",), "str", None),
        KubeletSetting("rotate-certificates", ("rotateCertificates",), "bool", False, False),
        KubeletSetting("rotate-server-certificates", ("serverTLSBootstrap",), "bool", False,
                       False),
        KubeletSetting("tls-cipher-suites", ("tlsCipherSuites",), "list", None),
        KubeletSetting("feature-gates", ("featureGates",), "map", None),
    )
}


@dataclass(frozen=True)
class Resolved:
    value: Any  # as the kind says (bool, int, str, list, dict); None: unset, no default
    source: str  # where it came from, for messages


def _lookup(config: Mapping[str, Any], path: tuple[str, ...]) -> tuple[bool, Any]:
    node: Any = config
    for part in path:
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _convert(kind: str, value: Any) -> Any:
    """A flag's text or a YAML value as `kind`; the value itself when it does not convert."""
    if kind == "bool":
        if isinstance(value, bool):
            return value
        parsed = parse_bool(str(value))
        return value if parsed is None else parsed
    if kind == "int":
        if isinstance(value, bool):
            return value
        try:
            return int(str(value).strip())
        except ValueError:
            return value
    if kind == "list":
        if isinstance(value, str):
            return split_list(value)
        return [str(v) for v in value] if isinstance(value, list) else value
    if kind == "map":
        return {str(k): str(v).lower() if isinstance(v, bool) else str(v)
                for k, v in value.items()} if isinstance(value, Mapping) else {}
    return value if value is None else str(value)


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


@dataclass(frozen=True)
class KubeletView:
    """The kubelet's settings: its config file, its command line winning (as the kubelet does)."""

    flags: Flags
    config: Mapping[str, Any]
    config_path: str | None  # None: the kubelet runs without --config

    def setting(self, key: str) -> Resolved:
        s = KUBELET[key]
        if s.kind == "map":  # feature gates: the config's, then the command line's per gate
            found, raw = _lookup(self.config, s.path)
            gates = _convert("map", raw) if found else {}
            gates.update(self.flags.gates(s.flag))
            return Resolved(gates, f"{s.key} and --{s.flag}")
        if self.flags.has(s.flag):
            raw = self.flags.items(s.flag) if s.kind == "list" else self.flags.value(s.flag)
            return Resolved(_convert(s.kind, raw),
                            f"{self.flags.show(s.flag)} on the kubelet's command line")
        if self.config_path is None:
            default = s.default_without_config
            shown = f" (default {_show(default)})" if default is not None else ""
            return Resolved(default, f"--{s.flag} not set and no --config{shown}")
        found, raw = _lookup(self.config, s.path)
        if found and raw is not None:
            value = _convert(s.kind, raw)
            return Resolved(value, f"{s.key}: {_show(raw)} in {self.config_path}")
        shown = f" (default {_show(s.default)})" if s.default is not None else ""
        return Resolved(s.default, f"{s.key} not set in {self.config_path}{shown}")

    def want_bool(self, key: str, want: bool) -> str | None:
        r = self.setting(key)
        if not isinstance(r.value, bool):
            return f"kubelet: {r.source} is not a boolean"
        if r.value != want:
            return f"kubelet: {r.source}; wanted {str(want).lower()}"
        return None

    def want_set(self, *keys: str) -> str | None:
        missing = [self.setting(k) for k in keys]
        missing = [r for r in missing if not str(r.value or "").strip()]
        if not missing:
            return None
        return "kubelet: " + "; ".join(r.source for r in missing)

    def cipher_suites(self) -> str | None:
        r = self.setting("tlsCipherSuites")
        suites = r.value if isinstance(r.value, list) else []
        return cipher_suites_problem(suites, f"kubelet: {r.source}")


def kubelet_config(text: str, path: str) -> dict[str, Any]:
    """The kubelet's config file as a mapping; ConfigError naming the file otherwise."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"{path} is not YAML: {str(e).splitlines()[0]}") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ConfigError(f"{path} is not a YAML mapping")
    if doc.get("kind") not in (None, "KubeletConfiguration"):
        raise ConfigError(f"{path}: kind is {doc.get('kind')!r}, not KubeletConfiguration")
    return doc


# -- certificates ----------------------------------------------------------------------------

def shared_certificates(pem_a: bytes, pem_b: bytes, name_a: str = "the first file",
                        name_b: str = "the second file") -> list[str]:
    """The subjects of the certificates both PEM files hold (compared byte for byte, DER).

    ConfigError, naming the file, when either holds no certificate.
    """
    def load(pem: bytes, name: str) -> dict[bytes, str]:
        try:
            certs = x509.load_pem_x509_certificates(pem)
        except ValueError as e:
            raise ConfigError(f"{name} holds no PEM certificate ({e})") from None
        return {c.public_bytes(Encoding.DER): c.subject.rfc4514_string() for c in certs}

    a, b = load(pem_a, name_a), load(pem_b, name_b)
    return [subject for der, subject in a.items() if der in b]

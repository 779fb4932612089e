"""k8sboot verify --cis without hosts: the judgements (pure), then the whole suite on fake hosts.

The fake hosts answer the shell commands the checks send (systemctl show, /proc, stat,
find, cat) from a table, so every check runs end to end through k8sboot's pytest
plugin: a host set up as k8sboot sets it up passes (WARN for the documented
exceptions), a host with nothing running fails every check with one line naming
the unit or the file, and an extra arg that breaks an item is named with its value.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from k8sboot.health.cis.flags import (
    Flags,
    parse_bool,
    parse_cmdline,
    parse_environ,
    parse_flags,
    want_at_least,
    want_bool,
    want_gate_not_false,
    want_in_list,
    want_not_in_list,
    want_set,
    want_unset,
    want_value,
)
from k8sboot.health.cis.rules import (
    STRONG_CIPHER_SUITES,
    ConfigError,
    KubeletView,
    cipher_suites_problem,
    encryption_problem,
    extra_permissions,
    go_duration_seconds,
    kubelet_config,
    mode_problem,
    mode_within,
    owner_problem,
    secrets_first_provider,
    shared_certificates,
    weak_cipher_suites,
)
from k8sboot.health.plugin import VerifyPlugin
from k8sboot.health.results import FAIL, PASS, SKIP, WARN, CheckResult
from k8sboot.health.runner import CIS_DIR, pytest_args
from k8sboot.inventory.model import Host, Inventory
from k8sboot.state import ClusterState

# -- the flag parser ---------------------------------------------------------------------------


def test_both_spellings_and_one_or_two_dashes():
    given = parse_flags(["kube-apiserver", "--secure-port=6443", "--etcd-cafile", "/ca.crt",
                         "-name", "m1", "-data-dir=/var/lib/etcd"])
    assert given == {"secure-port": ["6443"], "etcd-cafile": ["/ca.crt"], "name": ["m1"],
                     "data-dir": ["/var/lib/etcd"]}


def test_a_flag_given_twice_counts_by_its_last_value():
    f = Flags.parse("kube-apiserver", ["kube-apiserver", "--profiling=false", "--profiling", "true",
                                       "--audit-log-maxage=30", "--audit-log-maxage", "7"])
    # --profiling is a known boolean: "true" after it is a stray word, not its value
    assert f.given["profiling"] == ("false", "true")
    assert f.value("profiling") == "true"
    assert f.value("audit-log-maxage") == "7"
    assert f.show("audit-log-maxage") == "--audit-log-maxage=7 (given 2 times: the last counts)"


def test_a_boolean_alone_is_true_and_never_takes_the_next_word():
    given = parse_flags(["etcd", "--client-cert-auth", "--peer-auto-tls", "false", "--v", "2",
                         "--auto-tls"])
    assert given == {"client-cert-auth": ["true"], "peer-auto-tls": ["true"], "v": ["2"],
                     "auto-tls": ["true"]}
    # an unknown flag followed by another flag is a boolean too
    assert parse_flags(["x", "--some-switch", "--other=1"]) == {"some-switch": ["true"],
                                                                 "other": ["1"]}


def test_a_value_may_contain_equals_signs_commas_and_start_with_a_dash():
    given = parse_flags(["kube-apiserver",
                         "--feature-gates=RotateKubeletServerCertificate=false,Foo=true",
                         "--service-account-issuer", "https://x/?a=b", "--log-level", "-1"])
    assert given["feature-gates"] == ["RotateKubeletServerCertificate=false,Foo=true"]
    assert given["service-account-issuer"] == ["https://x/?a=b"]
    assert given["log-level"] == ["-1"]


def test_underscores_positionals_and_the_end_of_flags():
    given = parse_flags(["kubelet", "stray", "--read_only_port=0", "--", "--profiling=true"])
    assert given == {"read-only-port": ["0"]}


def test_list_flags_add_up_over_occurrences_and_feature_gates_merge():
    f = Flags.parse("kube-apiserver", [
        "kube-apiserver", "--enable-admission-plugins=AlwaysAdmit",
        "--enable-admission-plugins=NodeRestriction,EventRateLimit",
        "--feature-gates=A=true,B=false", "--feature-gates=A=false"])
    # as pflag's string slices do: a later occurrence adds, it does not replace
    assert f.items("enable-admission-plugins") == ["AlwaysAdmit", "NodeRestriction",
                                                   "EventRateLimit"]
    assert f.gates() == {"A": "false", "B": "false"}
    assert want_not_in_list(f, "enable-admission-plugins", "AlwaysAdmit") == (
        "kube-apiserver runs with --enable-admission-plugins=AlwaysAdmit,NodeRestriction,"
        "EventRateLimit (wanted it without AlwaysAdmit)")


def test_etcd_flags_from_its_environment_the_command_line_first():
    environ = parse_environ(b"PATH=/bin\0ETCD_AUTO_TLS=true\0ETCD_CLIENT_CERT_AUTH=false\0")
    f = Flags.parse("etcd", ["etcd", "--client-cert-auth=true"], environ=environ,
                    env_prefix="ETCD_")
    assert f.value("client-cert-auth") == "true"
    assert f.value("auto-tls") == "true"
    assert want_bool(f, "auto-tls", want=False, default=False) == (
        "etcd runs with ETCD_AUTO_TLS=true (environment) (wanted false)")
    assert not Flags.parse("x", ["x"], environ=environ).has("auto-tls")  # no prefix, no env


def test_cmdline_is_nul_separated():
    assert parse_cmdline(b"/usr/local/bin/etcd\0--name=m1\0--data-dir\0/var/lib/etcd\0") == [
        "/usr/local/bin/etcd", "--name=m1", "--data-dir", "/var/lib/etcd"]
    assert parse_cmdline(b"") == []


def test_go_booleans():
    assert [parse_bool(t) for t in ("1", "t", "TRUE", "True", "0", "F", "false", "yes", "")] == [
        True, True, True, True, False, False, False, None, None]


def test_flag_judgements_name_the_flag_and_its_value():
    f = Flags.parse("kube-apiserver", [
        "kube-apiserver", "--profiling=true", "--anonymous-auth=maybe", "--audit-log-maxage=7",
        "--audit-log-maxsize=big", "--token-auth-file=/tokens", "--bind-address=0.0.0.0",
        "--authorization-mode=Node,RBAC", "--tls-cert-file="])
    assert want_bool(f, "profiling", want=False, default=True) == (
        "kube-apiserver runs with --profiling=true (wanted false)")
    assert want_bool(f, "anonymous-auth", want=False, default=True) == (
        "kube-apiserver: --anonymous-auth=maybe is not a boolean")
    assert want_bool(f, "kubelet-https", want=True, default=True) is None
    assert want_bool(f, "use-service-account-credentials", want=True, default=False) == (
        "kube-apiserver: --use-service-account-credentials not set (its default is false; "
        "wanted true)")
    assert want_at_least(f, "audit-log-maxage", 30) == (
        "kube-apiserver runs with --audit-log-maxage=7 (wanted 30 or more)")
    assert want_at_least(f, "audit-log-maxsize", 100) == (
        "kube-apiserver: --audit-log-maxsize=big is not a number")
    assert want_at_least(f, "audit-log-maxbackup", 10) == (
        "kube-apiserver: --audit-log-maxbackup not set (wanted 10 or more)")
    assert want_unset(f, "token-auth-file") == (
        "kube-apiserver runs with --token-auth-file=/tokens (wanted: not set)")
    assert want_unset(f, "basic-auth-file") is None
    assert want_set(f, "tls-cert-file", "tls-private-key-file") == (
        "kube-apiserver: --tls-cert-file and --tls-private-key-file not set")
    assert want_value(f, "bind-address", "127.0.0.1", "0.0.0.0") == (
        "kube-apiserver runs with --bind-address=0.0.0.0 (wanted 127.0.0.1)")
    assert want_value(f, "secure-port", "0", None) == (
        "kube-apiserver: --secure-port not set; wanted 0")
    assert want_in_list(f, "authorization-mode", "RBAC") is None
    assert want_not_in_list(f, "authorization-mode", "AlwaysAllow", ("AlwaysAllow",)) is None
    none = Flags.parse("kube-apiserver", ["kube-apiserver"])
    assert want_not_in_list(none, "authorization-mode", "AlwaysAllow", ("AlwaysAllow",)) == (
        "kube-apiserver: --authorization-mode not set, and its default AlwaysAllow includes "
        "AlwaysAllow")
    assert want_in_list(none, "enable-admission-plugins", "NodeRestriction") == (
        "kube-apiserver: --enable-admission-plugins not set; wanted it to include "
        "NodeRestriction")
    gated = Flags.parse("kcm", ["kcm", "--feature-gates=RotateKubeletServerCertificate=false"])
    assert want_gate_not_false(gated, "RotateKubeletServerCertificate") == (
        "kcm runs with --feature-gates RotateKubeletServerCertificate=false (wanted it not false)")
    assert want_gate_not_false(none, "RotateKubeletServerCertificate") is None


# -- modes, owners, cipher suites ------------------------------------------------------------------


@pytest.mark.parametrize(("mode", "limit", "ok"), [
    (0o644, 0o644, True), (0o640, 0o644, True), (0o600, 0o644, True), (0o400, 0o644, True),
    (0o000, 0o644, True), (0o664, 0o644, False), (0o646, 0o644, False), (0o744, 0o644, False),
    (0o4644, 0o644, False), (0o644, 0o600, False), (0o600, 0o600, True), (0o700, 0o700, True),
    (0o750, 0o700, False),
])
def test_mode_644_or_stricter(mode, limit, ok):
    assert mode_within(mode, limit) is ok
    assert (mode_problem("/f", mode, limit) is None) is ok


def test_mode_and_owner_messages_say_what_is_too_loose():
    assert extra_permissions(0o666, 0o644) == ["group can write", "others can write"]
    assert extra_permissions(0o2755, 0o644) == ["owner can execute", "group can execute",
                                                "others can execute", "setgid"]
    assert mode_problem("/etc/kubernetes/admin.kubeconfig", 0o640, 0o600) == (
        "/etc/kubernetes/admin.kubeconfig is 640: group can read (wanted 600 or stricter)")
    assert owner_problem("/var/lib/etcd", "etcd", "etcd") == (
        "/var/lib/etcd is owned by etcd:etcd (wanted root:root)")
    assert owner_problem("/var/lib/etcd", "root", "root") is None


def test_cipher_suites_strong_only():
    assert cipher_suites_problem(list(STRONG_CIPHER_SUITES), "x") is None
    weak = ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_RSA_WITH_AES_128_CBC_SHA",
            "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA"]
    assert weak_cipher_suites(weak) == weak[1:]
    assert cipher_suites_problem(weak, "kube-apiserver --tls-cipher-suites") == (
        "kube-apiserver --tls-cipher-suites allows TLS_RSA_WITH_AES_128_CBC_SHA, "
        "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA (not among the strong suites)")
    assert cipher_suites_problem([], "kubelet tlsCipherSuites") == (
        "kubelet tlsCipherSuites not set: Go's default suites include CBC and 3DES ones")


# -- the encryption configuration --------------------------------------------------------------------

ENCRYPTION = """\
apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: [configmaps]
    providers: [{{identity: {{}}}}]
  - resources: [secrets]
    providers:
      - {first}: {{keys: [{{name: key1, secret: c2VjcmV0IGlzIHNlY3VyZSwgb3IgaXMgaXQ/Cg==}}]}}
      - {second}: {{}}
"""


@pytest.mark.parametrize(("first", "second", "ok"), [
    ("aescbc", "identity", True), ("secretbox", "identity", True), ("kms", "identity", True),
    ("identity", "aescbc", False), ("aesgcm", "identity", False),
])
def test_the_first_provider_for_secrets_decides(first, second, ok):
    text = ENCRYPTION.format(first=first, second=second)
    assert (encryption_problem(text, "/enc.yaml") is None) is ok
    if first == "identity":
        assert encryption_problem(text, "/enc.yaml") == (
            "/enc.yaml: secrets are written with identity (secrets stored in plain text); "
            "wanted aescbc, kms, secretbox as the first provider")


def test_the_first_entry_naming_secrets_decides_wildcards_included():
    doc = {"kind": "EncryptionConfiguration", "resources": [
        {"resources": ["*.*"], "providers": [{"identity": {}}]},
        {"resources": ["secrets"], "providers": [{"aescbc": {}}]},
    ]}
    assert secrets_first_provider(doc) == "identity"
    doc["resources"].reverse()
    assert secrets_first_provider(doc) == "aescbc"


def test_an_encryption_config_that_is_not_one_is_named():
    assert encryption_problem("kind: Foo\n", "/e") == (
        "/e: kind is 'Foo', not EncryptionConfiguration")
    assert encryption_problem("[1, 2", "/e").startswith("/e is not YAML: ")
    assert encryption_problem("- a\n", "/e") == "/e: not a YAML mapping"
    assert encryption_problem(
        "kind: EncryptionConfiguration\nresources: [{resources: [pods], providers: []}]\n", "/e"
    ) == "/e: no entry under resources names secrets (they are stored unencrypted)"
    assert encryption_problem(
        "kind: EncryptionConfiguration\nresources: [{resources: [secrets]}]\n", "/e"
    ) == "/e: the entry for secrets has no providers"


# -- durations, the kubelet's settings, certificates -----------------------------------------------------


def test_go_durations():
    assert go_duration_seconds("4h0m0s") == 14400
    assert go_duration_seconds("1.5h") == 5400
    assert go_duration_seconds("300ms") == pytest.approx(0.3)
    assert go_duration_seconds("0") == 0
    assert go_duration_seconds("0s") == 0
    assert go_duration_seconds("5") is None
    assert go_duration_seconds("forever") is None
    assert go_duration_seconds("") is None


def test_kubelet_settings_the_command_line_wins_over_the_config_then_defaults():
    config = kubelet_config("kind: KubeletConfiguration\nreadOnlyPort: 0\n"
                            "authentication: {anonymous: {enabled: false}}\n"
                            "featureGates: {RotateKubeletServerCertificate: true}\n", "/c.yaml")
    flags = Flags.parse("kubelet", ["kubelet", "--config=/c.yaml", "--read-only-port=10255",
                                    "--feature-gates=RotateKubeletServerCertificate=false"])
    view = KubeletView(flags, config, "/c.yaml")
    port = view.setting("readOnlyPort")
    assert (port.value, port.source) == (
        10255, "--read-only-port=10255 on the kubelet's command line")
    assert view.want_bool("authentication.anonymous.enabled", False) is None
    assert view.want_bool("protectKernelDefaults", True) == (
        "kubelet: protectKernelDefaults not set in /c.yaml (default false); wanted true")
    assert view.setting("authorization.mode").value == "Webhook"  # v1beta1's default
    assert view.setting("featureGates").value == {"RotateKubeletServerCertificate": "false"}
    assert view.want_set("tlsCertFile", "tlsPrivateKeyFile") == (
        "kubelet: tlsCertFile not set in /c.yaml; tlsPrivateKeyFile not set in /c.yaml")
    assert view.cipher_suites() == (
        "kubelet: tlsCipherSuites not set in /c.yaml not set: Go's default suites include CBC "
        "and 3DES ones")
    bare = KubeletView(Flags.parse("kubelet", ["kubelet"]), {}, None)
    assert bare.setting("authorization.mode").value == "AlwaysAllow"  # the flag's default
    listed = KubeletView(flags, {"tlsCipherSuites": ["TLS_RSA_WITH_RC4_128_SHA"]}, "/c.yaml")
    assert listed.cipher_suites() == (
        "kubelet: tlsCipherSuites: [TLS_RSA_WITH_RC4_128_SHA] in /c.yaml allows "
        "TLS_RSA_WITH_RC4_128_SHA (not among the strong suites)")


def test_a_kubelet_config_that_is_not_one_is_named():
    with pytest.raises(ConfigError, match="/c is not a YAML mapping"):
        kubelet_config("- 1\n", "/c")
    with pytest.raises(ConfigError, match="not KubeletConfiguration"):
        kubelet_config("kind: KubeProxyConfiguration\n", "/c")
    assert kubelet_config("", "/c") == {}


def ca_pem(cn: str) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


CLUSTER_CA_PEM = ca_pem("kubernetes")
ETCD_CA_PEM = ca_pem("etcd-ca")


def test_shared_certificates_compares_certificates_not_text():
    assert shared_certificates(ETCD_CA_PEM, CLUSTER_CA_PEM) == []
    # the same certificate with other line endings, in a bundle, is still the same
    bundle = ETCD_CA_PEM + CLUSTER_CA_PEM.replace(b"\n", b"\r\n")
    assert shared_certificates(bundle, CLUSTER_CA_PEM) == ["CN=kubernetes"]
    with pytest.raises(ConfigError, match="/x holds no PEM certificate"):
        shared_certificates(b"junk", CLUSTER_CA_PEM, "/x")


# -- the whole suite on fake hosts ---------------------------------------------------------------------


@dataclass
class Result:
    rc: int
    stdout_bytes: bytes = b""
    stderr: str = ""

    @property
    def stdout(self) -> str:
        return self.stdout_bytes.decode(errors="replace")


@dataclass
class FakeFile:
    mode: int
    content: bytes = b""
    directory: bool = False
    user: str = "root"
    group: str = "root"


@dataclass
class FakeHost:
    """Answers the commands the CIS checks send, from a table of files and processes."""

    files: dict[str, FakeFile] = field(default_factory=dict)
    processes: dict[str, tuple[int, list[str], dict[str, str]]] = field(default_factory=dict)
    not_installed: set[str] = field(default_factory=set)
    exited: set[int] = field(default_factory=set)  # pids systemd names that are gone from /proc
    container: str = "none"
    version: str = "v1.20.15"
    commands: list[str] = field(default_factory=list)

    def run(self, command: str, *args: str) -> Result:
        if args:
            command = command % tuple(shlex.quote(a) for a in args)
        self.commands.append(command)
        words = shlex.split(command)
        if words[:2] == ["systemctl", "show"]:
            unit = words[-1]
            if unit in self.not_installed:
                out = "LoadState=not-found\nActiveState=inactive\nSubState=dead\nMainPID=0\n"
            elif unit in self.processes:
                out = f"LoadState=loaded\nActiveState=active\nSubState=running\n" \
                      f"MainPID={self.processes[unit][0]}\n"
            else:
                out = "LoadState=loaded\nActiveState=failed\nSubState=failed\nMainPID=0\n"
            return Result(0, out.encode())
        if m := re.fullmatch(r"cat /proc/(\d+)/(cmdline|environ)", command):
            for pid, argv, env in self.processes.values():
                if pid == int(m.group(1)) and pid not in self.exited:
                    words = argv if m.group(2) == "cmdline" else [f"{k}={v}" for k, v in env.items()]
                    return Result(0, b"".join(w.encode() + b"\0" for w in words))
            return Result(1, stderr="cat: No such file or directory")
        if re.fullmatch(r"/proc/\d+/exe --version", command):
            return Result(0, f"Kubernetes {self.version}\n".encode())
        if words == ["systemd-detect-virt", "--container"]:
            return Result(1 if self.container == "none" else 0, f"{self.container}\n".encode())
        if words[0] == "test":
            f = self.files.get(words[2])
            ok = f is not None and (words[1] == "-e" or f.directory)
            return Result(0 if ok else 1)
        if words[:2] == ["stat", "-Lc"]:
            f = self.files.get(words[3])
            if f is None:
                return Result(1, stderr=f"stat: cannot statx '{words[3]}': No such file")
            return Result(0, f"{f.mode:o} {f.user} {f.group}\n".encode())
        if words[:2] == ["cat", "--"]:
            f = self.files.get(words[2])
            if f is None or f.directory:
                return Result(1, stderr=f"cat: {words[2]}: No such file or directory")
            return Result(0, f.content)
        if words[0] == "find":
            return self.find(words[1:])
        raise AssertionError(f"the fake host does not know {command!r}")

    def find(self, words: list[str]) -> Result:
        dirs = words[: words.index("-exec")]
        pattern = dirs[dirs.index("-name") + 1] if "-name" in dirs else "*"
        only_files = "-type" in dirs
        dirs = [d for d in dirs if d.startswith("/")]
        lines = []
        for path, f in sorted(self.files.items()):
            inside = any(path == d or path.startswith(d + "/") for d in dirs)
            if inside and fnmatch.fnmatch(os.path.basename(path), pattern) and \
                    not (only_files and f.directory):
                lines.append(f"{f.mode:o} {f.user} {f.group} {path}")
        return Result(0, "".join(line + "\n" for line in lines).encode())


STRONG = ",".join(STRONG_CIPHER_SUITES[:6])
ENCRYPTION_CONFIG = ENCRYPTION.format(first="aescbc", second="identity").encode()
KUBELET_CONFIG = f"""\
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous: {{enabled: false}}
  webhook: {{enabled: true}}
  x509: {{clientCAFile: /etc/kubernetes/pki/ca.crt}}
authorization: {{mode: Webhook}}
tlsCertFile: /etc/kubernetes/pki/kubelet.crt
tlsPrivateKeyFile: /etc/kubernetes/pki/kubelet.key
readOnlyPort: 0
protectKernelDefaults: false
tlsCipherSuites: [{STRONG}]
""".encode()

APISERVER = [
    "/usr/local/bin/kube-apiserver", "--advertise-address=10.0.0.1", "--secure-port=6443",
    "--insecure-port=0", "--authorization-mode=Node,RBAC",
    "--enable-admission-plugins=NodeRestriction", "--client-ca-file=/etc/kubernetes/pki/ca.crt",
    "--tls-cert-file=/etc/kubernetes/pki/apiserver.crt",
    "--tls-private-key-file=/etc/kubernetes/pki/apiserver.key",
    "--etcd-cafile=/etc/kubernetes/pki/etcd/ca.crt",
    "--etcd-certfile=/etc/kubernetes/pki/apiserver-etcd-client.crt",
    "--etcd-keyfile=/etc/kubernetes/pki/apiserver-etcd-client.key",
    "--kubelet-client-certificate=/etc/kubernetes/pki/apiserver-kubelet-client.crt",
    "--kubelet-client-key=/etc/kubernetes/pki/apiserver-kubelet-client.key",
    "--kubelet-certificate-authority=/etc/kubernetes/pki/ca.crt",
    "--service-account-key-file=/etc/kubernetes/pki/sa.pub", "--profiling=false",
    "--audit-log-path=/var/log/kubernetes/audit/audit.log", "--audit-log-maxage=30",
    "--audit-log-maxbackup=10", "--audit-log-maxsize=100",
    "--audit-policy-file=/etc/kubernetes/audit-policy.yaml",
    "--encryption-provider-config=/etc/kubernetes/pki/encryption-config.yaml",
    f"--tls-cipher-suites={STRONG}", "--v=1",
]
CONTROLLER_MANAGER = [
    "/usr/local/bin/kube-controller-manager", "--bind-address=127.0.0.1", "--port=0",
    "--root-ca-file=/etc/kubernetes/pki/ca.crt",
    "--service-account-private-key-file=/etc/kubernetes/pki/sa.key",
    "--use-service-account-credentials=true", "--profiling=false",
    "--terminated-pod-gc-threshold=1000", "--v=1",
]
SCHEDULER = ["/usr/local/bin/kube-scheduler", "--bind-address=127.0.0.1", "--profiling=false"]
ETCD = [
    "/usr/local/bin/etcd", "--name", "cp1", "--data-dir", "/var/lib/etcd",
    "--client-cert-auth=true", "--trusted-ca-file=/etc/etcd/pki/ca.crt",
    "--cert-file=/etc/etcd/pki/server.crt", "--key-file=/etc/etcd/pki/server.key",
    "--peer-client-cert-auth=true", "--peer-trusted-ca-file=/etc/etcd/pki/ca.crt",
    "--peer-cert-file=/etc/etcd/pki/peer.crt", "--peer-key-file=/etc/etcd/pki/peer.key",
]
KUBELET = ["/usr/local/bin/kubelet", "--config=/var/lib/kubelet/config.yaml",
           "--kubeconfig=/etc/kubernetes/kubelet.kubeconfig", "--node-ip=10.0.0.1", "--v=1"]


def k8sboot_host(groups: list[str], container: str = "lxc") -> FakeHost:
    """A host as k8sboot sets one up (with the settings the CIS items want), in a container."""
    files = {"/etc/systemd/system": FakeFile(0o755, directory=True)}
    processes: dict[str, tuple[int, list[str], dict[str, str]]] = {}
    if "etcd" in groups:
        processes["etcd"] = (100, ETCD, {"ETCD_INITIAL_CLUSTER_STATE": "new"})
        files |= {
            "/etc/systemd/system/etcd.service": FakeFile(0o644),
            "/var/lib/etcd": FakeFile(0o700, directory=True),
            "/etc/etcd/pki": FakeFile(0o700, directory=True),
            "/etc/etcd/pki/ca.crt": FakeFile(0o644, ETCD_CA_PEM),
            "/etc/etcd/pki/server.crt": FakeFile(0o644),
            "/etc/etcd/pki/server.key": FakeFile(0o600),
        }
    if "control_plane" in groups or "nodes" in groups:
        files |= {
            "/etc/kubernetes/pki": FakeFile(0o700, directory=True),
            "/etc/kubernetes/pki/ca.crt": FakeFile(0o644, CLUSTER_CA_PEM),
        }
    if "control_plane" in groups:
        processes |= {"kube-apiserver": (200, APISERVER, {}),
                      "kube-controller-manager": (201, CONTROLLER_MANAGER, {}),
                      "kube-scheduler": (202, SCHEDULER, {})}
        files |= {f"/etc/systemd/system/{u}.service": FakeFile(0o644) for u in processes}
        files |= {f"/etc/kubernetes/{k}.kubeconfig": FakeFile(0o600)
                  for k in ("admin", "controller-manager", "scheduler")}
        files |= {
            "/etc/kubernetes/pki/ca.key": FakeFile(0o600),
            "/etc/kubernetes/pki/etcd": FakeFile(0o700, directory=True),
            "/etc/kubernetes/pki/etcd/ca.crt": FakeFile(0o644, ETCD_CA_PEM),
            "/etc/kubernetes/pki/encryption-config.yaml": FakeFile(0o600, ENCRYPTION_CONFIG),
        }
    if "nodes" in groups:
        processes["kubelet"] = (300, KUBELET, {})
        files |= {
            "/etc/systemd/system/kubelet.service": FakeFile(0o644),
            "/etc/kubernetes/kubelet.kubeconfig": FakeFile(0o600),
            "/etc/kubernetes/kube-proxy.kubeconfig": FakeFile(0o600),
            "/var/lib/kubelet/config.yaml": FakeFile(0o644, KUBELET_CONFIG),
        }
    return FakeHost(files, processes, container=container)


def inventory() -> Inventory:
    hosts = {
        "cp1": Host("cp1", "10.0.0.1", groups=["etcd", "control_plane", "nodes"]),
        "db1": Host("db1", "10.0.0.2", groups=["etcd"]),
    }
    return Inventory(None, {"name": "t"}, hosts,
                     {"etcd": ["cp1", "db1"], "control_plane": ["cp1"], "nodes": ["cp1"]})


class FakeHostsPlugin(VerifyPlugin):
    def __init__(self, fakes: dict[str, FakeHost], state: ClusterState):
        super().__init__(inventory(), state)
        self.fakes = fakes

    def testinfra_host(self, name: str):  # type: ignore[override]
        return self.fakes[name]


def run_cis(tmp_path: Path, fakes: dict[str, FakeHost]) -> dict[tuple[str, str], CheckResult]:
    state = ClusterState(tmp_path / "state")
    (state.pki_dir).mkdir(parents=True)
    (state.pki_dir / "ca.crt").write_bytes(CLUSTER_CA_PEM)
    plugin = FakeHostsPlugin(fakes, state)
    old = os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    try:
        pytest.main(pytest_args([CIS_DIR], None, 0), plugins=[plugin])
    finally:
        if old is None:
            os.environ.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
        else:
            os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = old
    results = plugin.final_results()
    assert results, "no CIS check ran"
    return {(r.host, r.check): r for r in results}


EXCEPTIONS = {"1.2.1", "1.2.10", "1.2.12", "1.2.13", "1.2.16", "4.2.11", "4.2.12"}
ITEM = re.compile(r"^(\d+\.\d+(?:\.\d+)?) ")


def item_of(check: str) -> str:
    m = ITEM.match(check)
    assert m, f"the label {check!r} does not start with a CIS item id"
    return m.group(1)


def test_a_host_as_k8sboot_sets_it_up_passes_with_the_documented_exceptions(tmp_path):
    fakes = {"cp1": k8sboot_host(["etcd", "control_plane", "nodes"]),
             "db1": k8sboot_host(["etcd"])}
    got = run_cis(tmp_path, fakes)
    by_item: dict[str, set[str]] = {}
    for (host, check), r in got.items():
        by_item.setdefault(item_of(check), set()).add(host)
        expected = WARN if item_of(check) in EXCEPTIONS | {"4.2.6"} else PASS
        assert (r.status, r.why) == (expected, r.why if expected == WARN else ""), (host, check)
        if expected == WARN:
            assert "documented exception" in r.why, (host, check, r.why)
    # every item of the brief, on the hosts of its group only
    assert set(by_item) == {
        *(f"1.1.{i}" for i in (1, 2, 3, 4, 5, 6, 7, 8, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21)),
        *(f"1.2.{i}" for i in range(1, 36) if i != 26), *(f"1.3.{i}" for i in range(1, 8)),
        "1.4.1", "1.4.2", *(f"2.{i}" for i in range(1, 8)),
        *(f"4.1.{i}" for i in range(1, 11)), *(f"4.2.{i}" for i in (1, 2, 3, 4, 5, 6, 7, 10, 11,
                                                                   12, 13)),
    }
    assert by_item["2.7"] == by_item["1.1.11"] == {"cp1", "db1"}
    assert by_item["1.2.21"] == by_item["4.2.1"] == {"cp1"}
    labels = {check for (host, check) in got if host == "cp1"}
    assert {"1.2.21 kube-apiserver --profiling=false",
            "1.1.1 /etc/systemd/system/kube-apiserver.service mode 644 or stricter",
            "1.1.14 /etc/kubernetes/admin.kubeconfig owned by root:root",
            "4.1.7 kubelet client CA file (authentication.x509.clientCAFile) mode 644 or stricter",
            "4.2.6 kubelet protectKernelDefaults true"} <= labels
    assert got[("cp1", "4.2.6 kubelet protectKernelDefaults true")].why.startswith(
        "kubelet: protectKernelDefaults: false in /var/lib/kubelet/config.yaml; wanted true: "
        "documented exception, this host is a container (lxc)")
    # each unit's process was read once per host, however many checks asked
    assert sum("cat /proc/200/cmdline" in c for c in fakes["cp1"].commands) == 1


def test_protect_kernel_defaults_off_outside_a_container_fails(tmp_path):
    got = run_cis(tmp_path, {"cp1": k8sboot_host(["etcd", "control_plane", "nodes"], "none"),
                             "db1": k8sboot_host(["etcd"])})
    r = got[("cp1", "4.2.6 kubelet protectKernelDefaults true")]
    assert (r.status, r.why) == (
        FAIL, "kubelet: protectKernelDefaults: false in /var/lib/kubelet/config.yaml; wanted true")


def test_nothing_running_fails_every_check_with_one_line_naming_the_unit(tmp_path):
    got = run_cis(tmp_path, {"cp1": FakeHost(), "db1": FakeHost()})
    units = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd", "kubelet")
    for (host, check), r in got.items():
        item = item_of(check)
        if item == "1.2.19" or item.startswith(("1.1.", "4.1.")):
            # file checks: the file is missing (or the directory that holds it)
            assert r.status == FAIL, (host, check, r.status)
            assert re.search("does not exist|no directory|not running", r.why), (host, check, r.why)
            continue
        assert r.status == FAIL, (host, check, r.status, r.why)
        assert re.fullmatch(rf"({'|'.join(units)}) is not running \(failed/failed\): "
                            r"its flags cannot be read", r.why), (host, check, r.why)
        assert not r.why.startswith("setup:"), r.why


def test_an_extra_arg_that_breaks_an_item_is_named_with_its_value(tmp_path):
    cp1 = k8sboot_host(["etcd", "control_plane", "nodes"])
    pid, argv, env = cp1.processes["kube-apiserver"]
    # what apiserver_extra_args renders after k8sboot's own flags
    cp1.processes["kube-apiserver"] = (pid, argv + [
        "--profiling=true", "--tls-cipher-suites=TLS_RSA_WITH_AES_128_CBC_SHA",
        "--anonymous-auth=false"], env)
    pid, argv, env = cp1.processes["kubelet"]
    cp1.processes["kubelet"] = (pid, argv + ["--read-only-port=10255"], env)
    pid, argv, env = cp1.processes["etcd"]
    cp1.processes["etcd"] = (pid, argv, env | {"ETCD_PEER_AUTO_TLS": "true"})
    cp1.files["/etc/kubernetes/admin.kubeconfig"].mode = 0o644
    cp1.files["/etc/kubernetes/pki/etcd/ca.crt"] = FakeFile(0o664, ETCD_CA_PEM)
    db1 = k8sboot_host(["etcd"])
    db1.files["/etc/etcd/pki/ca.crt"] = FakeFile(0o644, ETCD_CA_PEM + CLUSTER_CA_PEM)
    got = run_cis(tmp_path, {"cp1": cp1, "db1": db1})
    failed = {(h, item_of(c)): r.why for (h, c), r in got.items() if r.status == FAIL}
    assert failed == {
        ("cp1", "1.1.13"): "/etc/kubernetes/admin.kubeconfig is 644: group can read, others can "
                           "read (wanted 600 or stricter)",
        ("cp1", "1.1.20"): "/etc/kubernetes/pki/etcd/ca.crt is 664: group can write (wanted 644 "
                           "or stricter)",
        ("cp1", "1.2.21"): "kube-apiserver runs with --profiling=true (given 2 times: the last "
                           "counts) (wanted false)",
        ("cp1", "1.2.35"): "kube-apiserver --tls-cipher-suites allows "
                           "TLS_RSA_WITH_AES_128_CBC_SHA (not among the strong suites)",
        ("cp1", "2.6"): "etcd runs with ETCD_PEER_AUTO_TLS=true (environment) (wanted false)",
        ("cp1", "4.2.4"): "kubelet: --read-only-port=10255 on the kubelet's command line; wanted "
                          "0 (the read-only port serves without authentication)",
        ("db1", "2.7"): "etcd --trusted-ca-file=/etc/etcd/pki/ca.crt holds the cluster CA "
                        f"(CN=kubernetes, as {tmp_path / 'state' / 'pki' / 'ca.crt'}): any "
                        "certificate the cluster CA signs is an etcd client",
    }
    # a user who meets an exception's item gets a PASS
    assert got[("cp1", "1.2.1 kube-apiserver --anonymous-auth=false")].status == PASS


def test_insecure_port_absent_is_judged_by_the_running_version(tmp_path):
    cp1 = k8sboot_host(["etcd", "control_plane", "nodes"])
    pid, argv, env = cp1.processes["kube-apiserver"]
    cp1.processes["kube-apiserver"] = (pid, [a for a in argv if "insecure-port" not in a], env)
    label = "1.2.19 kube-apiserver --insecure-port=0"
    got = run_cis(tmp_path, {"cp1": cp1, "db1": k8sboot_host(["etcd"])})
    assert (got[("cp1", label)].status, got[("cp1", label)].why) == (
        FAIL, "kube-apiserver v1.20.15: --insecure-port not set (wanted 0)")
    cp1.version = "v1.24.3"
    got = run_cis(tmp_path / "again", {"cp1": cp1, "db1": k8sboot_host(["etcd"])})
    assert (got[("cp1", label)].status, got[("cp1", label)].why) == (
        SKIP, "kube-apiserver v1.24.3 has no --insecure-port (removed in v1.24)")


def test_what_cannot_be_read_is_named_never_a_traceback(tmp_path):
    cp1 = k8sboot_host(["etcd", "control_plane", "nodes"])
    del cp1.processes["kube-scheduler"]
    cp1.not_installed.add("kube-scheduler")
    cp1.files["/var/lib/kubelet/config.yaml"].content = b"authentication: [unclosed\n"
    del cp1.files["/etc/kubernetes/pki/encryption-config.yaml"]
    _, argv, env = cp1.processes["kube-controller-manager"]
    cp1.processes["kube-controller-manager"] = (999, argv, env)
    cp1.exited.add(999)  # gone between systemctl's answer and the read of /proc
    got = run_cis(tmp_path, {"cp1": cp1, "db1": k8sboot_host(["etcd"])})
    failed = {item_of(c): r.why for (h, c), r in got.items() if r.status == FAIL}
    assert failed["1.4.1"] == "kube-scheduler is not installed (systemd has no kube-scheduler.service)"
    assert failed["1.3.1"] == ("kube-controller-manager (pid 999): its command line cannot be read "
                               "(cat: No such file or directory)")
    assert failed["1.2.34"] == "/etc/kubernetes/pki/encryption-config.yaml does not exist"
    assert failed["4.2.1"].startswith("/var/lib/kubelet/config.yaml is not YAML: ")
    assert failed["4.1.9"] == failed["4.2.1"]
    assert {k for k in failed if k.startswith("4.2.")} == {
        f"4.2.{i}" for i in (1, 2, 3, 4, 5, 6, 7, 10, 11, 12, 13)}


def _exec_start(unit_text: str) -> list[str]:
    """The argv of a unit file's ExecStart (continued lines joined), as systemd runs it."""
    lines = unit_text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("ExecStart="))
    command = ""
    for line in lines[start:]:
        command += line.rstrip().removesuffix("\\") + " "
        if not line.rstrip().endswith("\\"):
            break
    return shlex.split(command.removeprefix("ExecStart="))


@pytest.mark.parametrize(("version", "container"), [
    ("v1.20.15", "lxc"), ("v1.20.15", "none"), ("v1.27.4", "none")])
def test_the_shipped_templates_meet_every_item_but_the_documented_exceptions(
        tmp_path, version, container):
    from tests.unit.test_ha_templates import THREE, plan_of, render

    plan = plan_of(THREE)
    plan.kube_version = version
    if container != "none":
        plan.facts = {"cp1": {"virtualization_type": container}}
    cp1 = k8sboot_host(["etcd", "control_plane", "nodes"], container)
    cp1.version = version
    for unit, role in (("kube-apiserver", "control_plane"), ("kube-controller-manager",
                       "control_plane"), ("kube-scheduler", "control_plane"), ("etcd", "etcd"),
                       ("kubelet", "node")):
        pid, _, env = cp1.processes[unit]
        cp1.processes[unit] = (pid, _exec_start(render(f"{unit}/{unit}.service.j2", role, plan,
                                                       "cp1")), env)
    cp1.files["/var/lib/kubelet/config.yaml"].content = render(
        "kubelet/config.yaml.j2", "node", plan, "cp1").encode()
    got = run_cis(tmp_path, {"cp1": cp1, "db1": k8sboot_host(["etcd"])})
    not_passed = {item_of(c): r.status for (h, c), r in got.items() if h == "cp1"
                  and r.status != PASS}
    expected = dict.fromkeys(EXCEPTIONS, WARN)
    if container != "none":
        expected["4.2.6"] = WARN
    if version >= "v1.24":
        expected["1.2.19"] = SKIP  # no --insecure-port any more
    assert not_passed == expected

"""When the cluster's certificates expire, and who signed them, read from the PKI directory.

Pure: reads files, touches nothing. Every ``*.crt`` under the PKI directory is a
row (a CA when its BasicConstraints say so, else a leaf), and so is the client
certificate every ``kubeconfigs/*.kubeconfig`` embeds: the directory is scanned
rather than the catalog walked, so a CA or leaf added to the catalog, or left
behind by a host that left the inventory, shows up too.

Names follow ``kubeadm certs check-expiration`` where there is a counterpart
(``apiserver``, ``apiserver-etcd-client``, ``etcd-healthcheck-client``,
``etcd-ca``, ``front-proxy-ca``, ...); the per-member and per-node certificates
are ``etcd-server/<member>``, ``etcd-peer/<member>`` and ``kubelet/<node>``; the
client certificates of admin, controller-manager, scheduler and kube-proxy keep
their stem (``admin``), and the kubeconfigs their file name (``admin.kubeconfig``,
``kubelet-<node>.kubeconfig``).

The signing CA is found by the leaf's issuer name *and* a signature check with
that CA's public key, so a certificate from a CA that was since replaced (same
name, other key) has no issuer here.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.exceptions import InvalidSignature

from k8sboot.pki import layout

CA = "ca"
LEAF = "leaf"
KUBECONFIG = "kubeconfig"
_KIND_ORDER = {CA: 0, LEAF: 1, KUBECONFIG: 2}
SELF_SIGNED = "self-signed"
DEFAULT_WARN_DAYS = 30

_MARK = "\x00"


def _pattern(stem_of: Callable[[str], str]) -> tuple[str, str]:
    """(prefix, suffix) of the stems a layout function makes: etcd_server -> ('etcd/', '-server')."""
    prefix, _, suffix = stem_of(_MARK).partition(_MARK)
    return prefix, suffix


# per-member / per-node stems -> "<label>/<name>", from the layout's own functions
_PER_HOST = [
    (_pattern(layout.etcd_server), "etcd-server"),
    (_pattern(layout.etcd_peer), "etcd-peer"),
    (_pattern(layout.kubelet), "kubelet"),
]


def cert_name(stem: str, *, ca: bool = False) -> str:
    """The name a certificate's local stem (path under the PKI dir, no suffix) is shown by.

    etcd/ca -> etcd-ca, etcd/cp1-server -> etcd-server/cp1, etcd/healthcheck-client ->
    etcd-healthcheck-client, kubelet/n1 -> kubelet/n1, apiserver -> apiserver.
    """
    if not ca:
        for (prefix, suffix), label in _PER_HOST:
            if stem.startswith(prefix) and stem.endswith(suffix) and len(stem) > len(prefix) + len(suffix):
                host = stem[len(prefix):len(stem) - len(suffix)]
                if "/" not in host:
                    return f"{label}/{host}"
    return stem.replace("/", "-")


def kubeconfig_name(name: str) -> str:
    """A kubeconfig's row name from its catalog name: admin -> admin.kubeconfig."""
    return layout.PkiLayout(Path()).kubeconfig(name).name


@dataclass(frozen=True)
class CertRecord:
    """One certificate of the PKI: a CA, a leaf, or a kubeconfig's client certificate."""

    name: str
    kind: str  # CA, LEAF or KUBECONFIG
    path: Path  # the .crt or .kubeconfig file
    cert: x509.Certificate | None  # None when the file cannot be read (see error)
    issuer: str | None = None  # the signing CA's name, SELF_SIGNED, or None: no CA here signed it
    error: str | None = None

    @property
    def key_path(self) -> Path | None:
        """The private key beside a CA's or leaf's .crt (kubeconfigs embed theirs)."""
        if self.kind == KUBECONFIG:
            return None
        key = self.path.with_suffix(".key")
        return key if key.exists() else None

    @property
    def files(self) -> list[Path]:
        """The local files that make up this certificate (what hosts hold copies of)."""
        return [self.path] + ([self.key_path] if self.key_path else [])

    @property
    def not_after(self) -> datetime | None:
        return self.cert.not_valid_after_utc if self.cert else None

    @property
    def not_before(self) -> datetime | None:
        return self.cert.not_valid_before_utc if self.cert else None

    @property
    def serial(self) -> str | None:
        return format(self.cert.serial_number, "x") if self.cert else None

    @property
    def subject(self) -> str | None:
        return self.cert.subject.rfc4514_string() if self.cert else None

    @property
    def issuer_subject(self) -> str | None:
        return self.cert.issuer.rfc4514_string() if self.cert else None

    def seconds_left(self, now: datetime) -> int | None:
        return None if self.cert is None else int((self.cert.not_valid_after_utc - now).total_seconds())

    def expires_within(self, days: float, now: datetime) -> bool:
        """Expired, or expiring within `days` of `now` (an unreadable file is neither)."""
        left = self.seconds_left(now)
        return left is not None and left <= days * 86400


def residual(seconds: int | None) -> str:
    """Time left, as kubeadm shows it: 364d, 23h, 59m, <1m; 'expired' once past; '-' unknown."""
    if seconds is None:
        return "-"
    if seconds <= 0:
        return "expired"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return "<1m"


def is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def signed_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    """`ca` is named as `cert`'s issuer and its public key verifies `cert`'s signature."""
    if cert.issuer != ca.subject:
        return False
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def find_issuer(cert: x509.Certificate, cas: Iterable[tuple[str, x509.Certificate]]) -> str | None:
    """The name of the CA (of `cas`: name, certificate) that signed `cert`; SELF_SIGNED for a root."""
    if cert.issuer == cert.subject and signed_by(cert, cert):
        return SELF_SIGNED
    for name, ca in cas:
        if signed_by(cert, ca):
            return name
    return None


def kubeconfig_client_cert(path: Path) -> x509.Certificate:
    """The client certificate a kubeconfig embeds (its first user's client-certificate-data)."""
    data = yaml.safe_load(path.read_text())
    users = data.get("users") if isinstance(data, dict) else None
    for user in users if isinstance(users, list) else []:
        fields = user.get("user") if isinstance(user, dict) else None
        b64 = fields.get("client-certificate-data") if isinstance(fields, dict) else None
        if isinstance(b64, str) and b64:
            return x509.load_pem_x509_certificate(base64.b64decode(b64, validate=True))
    raise ValueError("no embedded client certificate (client-certificate-data)")


def _stem(pki_dir: Path, path: Path) -> str:
    return path.relative_to(pki_dir).with_suffix("").as_posix()


def read_pki(pki_dir: Path) -> list[CertRecord]:
    """Every certificate of the PKI under `pki_dir`: CAs, then leaves, then kubeconfigs, by name."""
    loaded: list[tuple[Path, x509.Certificate | None, str | None]] = []
    for path in sorted(pki_dir.rglob("*.crt")):
        if path.name.startswith(".") or not path.is_file():
            continue  # a temporary file of an interrupted write
        try:
            loaded.append((path, x509.load_pem_x509_certificate(path.read_bytes()), None))
        except (OSError, ValueError) as exc:
            loaded.append((path, None, f"cannot load the certificate: {exc}"))
    cas = [(cert_name(_stem(pki_dir, p), ca=True), c) for p, c, _ in loaded if c is not None and is_ca(c)]

    records: list[CertRecord] = []
    for path, cert, error in loaded:
        ca = cert is not None and is_ca(cert)
        name = cert_name(_stem(pki_dir, path), ca=ca)
        issuer = find_issuer(cert, cas) if cert is not None else None
        records.append(CertRecord(name, CA if ca else LEAF, path, cert, issuer, error))

    kubeconfigs = layout.PkiLayout(pki_dir).kubeconfig("x").parent
    for path in sorted(kubeconfigs.glob("*.kubeconfig")) if kubeconfigs.is_dir() else []:
        if path.name.startswith("."):
            continue
        try:
            cert = kubeconfig_client_cert(path)
        except (OSError, ValueError, TypeError, AttributeError, binascii.Error, yaml.YAMLError) as exc:
            records.append(CertRecord(path.name, KUBECONFIG, path, None, None,
                                      f"cannot read the client certificate: {exc}"))
            continue
        records.append(CertRecord(path.name, KUBECONFIG, path, cert, find_issuer(cert, cas)))
    return sorted(records, key=lambda r: (_KIND_ORDER[r.kind], r.name))


def expiring_soon(pki_dir: Path, days: int = DEFAULT_WARN_DAYS, now: datetime | None = None) -> list[str]:
    """Names of the certificates (CAs, leaves, kubeconfigs) expired or expiring within `days`.

    For `up` to warn with: its pki phase re-issues leaves within 30 days of their
    end by itself, so after it what remains here is mostly CAs (never replaced
    automatically) and leaves capped at a CA's expiry.
    """
    if not pki_dir.is_dir():
        return []
    now = now or datetime.now(UTC)
    return [r.name for r in read_pki(pki_dir) if r.expires_within(days, now)]


def describe_expiry(record: CertRecord, now: datetime) -> str:
    """'expires 2026-05-01 (in 9d)' or 'expired 2025-04-01'."""
    if record.not_after is None:
        return record.error or "unreadable"
    when = f"{record.not_after:%Y-%m-%d %H:%M} UTC"
    left = record.seconds_left(now) or 0
    return f"expired {when}" if left <= 0 else f"expires {when} (in {residual(left)})"


"""`k8sboot certs renew`: which leaves a name means, and re-issuing them through ensure_pki.

What is renewed: leaf certificates only, as the catalog describes them (same
subject, SANs, usages and CA; a new serial; validity counted from now). Never
a CA or the service-account key: a new CA invalidates every certificate on the
hosts, a new service-account key every token in the cluster. A kubeconfig
that embeds a renewed client certificate is rewritten by ensure_pki, as on
any rerun; naming a kubeconfig (``admin.kubeconfig``) renews the leaf it embeds.

Key pairs: renewed. Every renewed certificate gets a new private key, as
``kubeadm certs renew`` does (its FileRenewer signs with
``pkiutil.NewCertAndKey``, which generates the key as well). A renewal is the
operator's deliberate rotation: keeping the key would extend the life of key
material that may have been copied, since nothing revokes the old certificate
(it stays valid until its own end either way). The automatic re-issue of
``up`` (a leaf close to its end, changed SANs) keeps the key instead, as
:mod:`k8sboot.pki.leaves` says: that one should disturb as little as possible.

The hook, which needs no change to ensure_pki: the chosen leaves' *keys* are
removed, then ensure_pki runs as usual. It makes a new key where one is missing
(``leaves.ensure_leaf``), finds the existing certificate no longer matches it
and re-issues it from the catalog's profile with the right CA ("does not match
its private key" in its summary); kubeconfigs embedding it differ, so they are
rewritten; every other file is left as it was, byte for byte. The .crt stays in
place throughout, and a run cut off between the two steps leaves only a key to
be made by the next one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography import x509

from k8sboot.errors import InputError, K8sbootError
from k8sboot.pki import ensure_pki
from k8sboot.pki.catalog import kubeconfig_profiles, leaf_profiles
from k8sboot.pki.expiry import cert_name, kubeconfig_name
from k8sboot.pki.layout import PkiLayout
from k8sboot.pki.result import PkiResult
from k8sboot.pki.spec import PkiSpec

ALL = "all"
# names someone may try that must never be renewed this way (see the module's docstring)
_NEVER = ("sa", "sa.key", "sa.pub", "service-account")


@dataclass(frozen=True)
class Renewed:
    name: str  # as check-expiration names it
    stem: str  # local file stem (layout)
    old_serial: str | None  # hex; None when there was no readable certificate
    new_serial: str
    not_after: datetime


def renewable(spec: PkiSpec) -> dict[str, str]:
    """name -> leaf stem of everything `renew` accepts: each leaf of the catalog, then each
    kubeconfig (admin.kubeconfig, kubelet-<node>.kubeconfig) for the leaf it embeds."""
    names = {cert_name(p.stem): p.stem for p in leaf_profiles(spec)}
    for kc in kubeconfig_profiles(spec):
        names.setdefault(kubeconfig_name(kc.name), kc.cert_stem)
    return names


def resolve(spec: PkiSpec, names: Sequence[str]) -> list[str]:
    """The leaf stems `names` mean (none, or `all`: every leaf), in the catalog's order."""
    order = [p.stem for p in leaf_profiles(spec)]
    if not names or ALL in names:
        return order
    table = renewable(spec)
    unknown = [n for n in names if n not in table]
    if unknown:
        never = [n for n in unknown if n in ("ca", *_NEVER) or n.endswith("-ca")]
        why = (f"; {', '.join(never)}: CAs and the service-account key are never renewed "
               "(a new one would invalidate every certificate or token the cluster holds)") if never else ""
        raise InputError(f"no certificate named {', '.join(map(repr, unknown))}{why}. "
                         f"Valid names: {ALL}, {', '.join(table)}")
    wanted = {table[n] for n in names}
    return [stem for stem in order if stem in wanted]


def _serial(path: Path) -> str | None:
    try:
        return format(x509.load_pem_x509_certificate(path.read_bytes()).serial_number, "x")
    except (OSError, ValueError):
        return None


def prepare(spec: PkiSpec, pki_dir: Path, stems: Sequence[str]) -> dict[str, str | None]:
    """Step 1, just before ensure_pki: each leaf's current serial, then its key removed."""
    leaves = {p.stem for p in leaf_profiles(spec)}
    foreign = [s for s in stems if s not in leaves]
    if foreign:  # a CA's or the service-account key's stem must never get here
        raise InputError(f"not leaf certificates of this cluster: {', '.join(foreign)}")
    files = PkiLayout(pki_dir)
    before = {stem: _serial(files.crt(stem)) for stem in stems}
    for stem in stems:
        files.key(stem).unlink(missing_ok=True)
    return before


def outcome(pki_dir: Path, before: dict[str, str | None]) -> list[Renewed]:
    """Step 2, after ensure_pki: what each renewed leaf is now (checked to be a new certificate)."""
    files = PkiLayout(pki_dir)
    renewed: list[Renewed] = []
    for stem, old in before.items():
        try:
            cert = x509.load_pem_x509_certificate(files.crt(stem).read_bytes())
        except (OSError, ValueError) as exc:
            raise K8sbootError(f"{cert_name(stem)} was not re-issued: {exc}") from None
        new = format(cert.serial_number, "x")
        if new == old:
            raise K8sbootError(f"{cert_name(stem)} was not re-issued (serial {new} unchanged)")
        renewed.append(Renewed(cert_name(stem), stem, old, new, cert.not_valid_after_utc))
    return renewed


def renew_leaves(spec: PkiSpec, pki_dir: Path, stems: Sequence[str],
                 **ensure_args: Any) -> tuple[list[Renewed], PkiResult]:
    """prepare, ensure_pki (with `ensure_args`), outcome: the whole local renewal in one call."""
    before = prepare(spec, pki_dir, stems)
    result = ensure_pki(spec, pki_dir, **ensure_args)
    return outcome(pki_dir, before), result

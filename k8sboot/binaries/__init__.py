"""The binaries the user chooses: resolve and check them, record them, or build them."""

from k8sboot.binaries.build import build_from_source
from k8sboot.binaries.components import (
    ALL,
    GROUP_COMPONENTS,
    KUBE_BUILDABLE,
    OPTIONAL,
    REQUIRED,
    components_for_groups,
    remote_path,
)
from k8sboot.binaries.manifest import kubernetes_version, read_manifest, write_manifest
from k8sboot.binaries.resolve import ResolvedBinary, default_cache_dir, resolve_binaries

__all__ = [
    "ALL",
    "GROUP_COMPONENTS",
    "KUBE_BUILDABLE",
    "OPTIONAL",
    "REQUIRED",
    "ResolvedBinary",
    "build_from_source",
    "components_for_groups",
    "default_cache_dir",
    "kubernetes_version",
    "read_manifest",
    "remote_path",
    "resolve_binaries",
    "write_manifest",
]

"""k8sboot: bootstrap Kubernetes clusters from your own binaries, the Ansible way."""

from k8sboot.deferred_imports import defer as _defer

__version__ = "0.1.0"

_defer()

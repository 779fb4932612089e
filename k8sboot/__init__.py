"""k8sboot: bootstrap Kubernetes clusters from your own binaries, the Ansible way."""

__version__ = "0.1.0"

"""The phases of `k8sboot up`, one module each; up.py lists them in order."""

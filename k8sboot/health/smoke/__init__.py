"""The `--smoke` checks: collected only when `k8sboot verify --smoke` asks for them."""

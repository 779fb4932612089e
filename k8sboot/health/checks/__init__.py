"""The checks `k8sboot verify` runs: testinfra test files, shipped inside the package."""

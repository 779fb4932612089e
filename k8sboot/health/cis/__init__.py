"""`k8sboot verify --cis`: the CIS Kubernetes Benchmark items k8sboot controls, checked on the hosts."""

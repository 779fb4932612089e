"""`k8sboot verify --smoke`: a real workload on every node, reached from every node.

image.py makes the image (busybox httpd, no registry needed), load.py copies and
imports it on the nodes, workload.py creates, watches and deletes the pods and the
Service through the API; deployment.py ties them together for the smoke checks
(k8sboot/health/smoke/test_smoke.py).
"""

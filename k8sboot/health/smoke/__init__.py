"""`k8sboot verify --smoke`: a real workload on every node, reached from every node.

The checks (test_smoke.py) are collected only when `k8sboot verify --smoke` asks
for them. image.py makes the image (busybox httpd, no registry needed), load.py
copies and imports it on the nodes, workload.py creates, watches and deletes the
pods and the Service through the API; deployment.py ties them together.
"""

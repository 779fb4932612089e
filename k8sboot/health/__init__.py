"""`k8sboot verify`: a pytest-testinfra suite shipped inside k8sboot.

The checks are ordinary testinfra test files (``checks/test_*.py``, and
``smoke/test_*.py`` with ``--smoke``); ``plugin.py`` gives them, and any test
file a user adds with ``--tests DIR``, these fixtures:

    host            a testinfra Host over SSH (paramiko), one per inventory host
    host_name       its inventory name (tests are parametrized by it: ids name the host)
    inventory_host  the k8sboot inventory Host (address, groups, vars, node_name)
    inventory       the whole inventory
    cluster_state   the cluster's state directory (binaries.json, pki/, admin.kubeconfig)
    kube_api        a `kubernetes` ApiClient from the admin kubeconfig

A test runs once per host of the whole inventory, or only on the hosts of some
groups with ``@pytest.mark.group("etcd", ...)`` (module-wide: ``pytestmark``; a
function's own marker replaces its module's).
``warnings.warn(...)`` inside a passing test makes it a WARN instead of a PASS.
"""

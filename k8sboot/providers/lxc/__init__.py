"""The LXC provider: system containers booting k8sboot's base image (`provider: lxc`).

A container starts in seconds and runs at native speed, so this is the default
local cluster (like kind's and minikube's container drivers); it is reached over
SSH like any machine. Privileged containers: k8sboot must run as root.

    settings.py   what `cluster.provider` says (network, path), with defaults
    names.py      container, bridge and directory names of one cluster
    rootfs.py     the shared template rootfs and the fixes a kubelet needs inside LXC
    config.py     one container's LXC configuration
    network.py    the cluster's bridge (the gateway address lives on it)
    tools.py      running lxc-start / lxc-stop / lxc-info / lxc-destroy
    provider.py   LxcProvider: provision / start / stop / destroy / state
"""

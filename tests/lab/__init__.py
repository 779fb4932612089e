"""The lab: system containers and libvirt VMs inside the lab's network namespace."""

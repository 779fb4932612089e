"""An Ansible-style engine: roles as data, modules in Python, hosts in parallel."""

"""`k8sboot export`: what ansible-playbook needs to do on the hosts what `k8sboot up` does.

One concern per module:
  local_plan     k8sboot's own local phases (binaries, images, plan, pod CIDRs, PKI), no host contacted
  target         the output directory: refused when it holds something, --force replaces export's own
  files          the PKI files and image archives copied into DIR/files, the vars pointed at them
  host_vars      each host's vars as ansible-playbook must see them
  unsafe_yaml    YAML writing that keeps Ansible from templating k8sboot's literal values
  sources        roles and templates, resolved through k8sboot's search order
  inventory_file DIR/inventory.yml for a native inventory; the group names Ansible knows
  api_steps      the steps k8sboot does in Python against the API, as Ansible tasks
  playbook       DIR/site.yml: the plays in k8sboot's order
  ansible_cfg    DIR/ansible.cfg
  writer         all of the above, in order
"""

from k8sboot.export.writer import ExportOptions, ExportResult, export_cluster

__all__ = ["ExportOptions", "ExportResult", "export_cluster"]

"""How many hosts a play works on at once, unless --forks says otherwise.

Ansible's default (5) and ours until now (10) make a 30-host cluster go in batches,
each waiting for the slowest host of the one before; the bench measured `up` at 30
hosts at twice the hand-run floor mainly because of it. A worker is one thread and
one SSH connection, cheap next to what the hosts do, so every host of a typical
cluster goes at once; the cap keeps a very large inventory from opening hundreds of
connections (and uploads) at the same moment.
"""

DEFAULT_FORKS = 64

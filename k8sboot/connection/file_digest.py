"""A file's sha256 computed on its host, in shell.

OpenSSL's digest where the host has the `openssl` command (with the CPU's SHA
extensions: 0.10 s for the apiserver's 110 MB on the lab's hosts, against 0.43 s
for coreutils' sha256sum), sha256sum otherwise. Every binary a cold `up` installs
is hashed once on its host: at 30 nodes that was ~12 s of the machine's CPU.
"""

from __future__ import annotations

import shlex


def sha256_command(path: str) -> str:
    """Shell that prints the sha256 of the file at `path` as 64 hex digits, and fails (printing
    nothing) when it cannot be read."""
    q = shlex.quote(path)
    # from stdin, each opening the file anew: no name in the output to escape or mistake for an
    # option; both print "<hex> <name>" (openssl: "<hex> *stdin"): the digest comes before the blank
    return (f"{{ k8sboot_sum=$(openssl dgst -sha256 -r < {q} 2>/dev/null || sha256sum < {q}) && "
            f"printf '%s\\n' \"${{k8sboot_sum%% *}}\"; }}")

"""Rolling a running cluster onto new binaries: what changes where, whether the versions may, and in which order."""

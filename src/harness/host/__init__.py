"""What the harness does on the machine: processes in their own groups, cgroups, ports, probes,
caches and resource usage. Nothing here knows a stack; kinds and the runtime build on it.
"""

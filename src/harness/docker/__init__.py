"""The Docker engine as the harness uses it: is one there, compose projects, containers, a
private engine for machines without one. Nothing here knows a stack or a kind.
"""

"""Bringing a stack up and down: the plan, the orchestrator over the dependency graph, a
supervisor per service, the ledger of what runs, steps and their caches, the instance's session.
"""

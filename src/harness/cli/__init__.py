"""The edges: one command table turned into argparse, Invoke tasks and nox sessions, the pytest
entry point, ``harness init``, and everything printed on the terminal.
"""

"""The harness's pytest plugin: the code that runs inside a suite's own Python.

Standard library and pytest only (httpx for ``service_client``), and nothing of the rest of the
harness: the suite's interpreter may be a project's venv that has no harness installed. The
harness copies this folder whole onto the suite's ``PYTHONPATH`` (``suite/plugin_copy.py``);
``protocol.py`` is the contract both sides share. ``tests/unit/test_layout.py`` checks the
boundary.
"""

"""The start-up hook a covered service runs: coverage.py started, its context following the tests.

Written as ``sitecustomize.py`` into a directory put first on the service's ``PYTHONPATH``
(``coverage.prepare``), so it runs inside the service's own Python before its code: it starts
coverage.py (or takes the instance coverage.py's own ``.pth`` already started), then a thread
that switches the coverage context to the test(s) the plugin says are running
(``plugin/running_test.py``) and acknowledges each switch in ``ack-<pid>``; a forked worker starts
its own. Then any ``sitecustomize`` it hides runs. Only the standard library and coverage.py.
"""

from __future__ import annotations

from harness.plugin.protocol import TESTS_SEPARATOR

HOOK = '''"""Put first on a covered service's PYTHONPATH by the harness: coverage.py in every process."""
import os
import sys

if os.environ.get("COVERAGE_PROCESS_START"):
    try:
        import coverage
    except ImportError:
        sys.stderr.write(f"harness: coverage is not installed for {sys.executable}; this process is not measured\\n")
    else:
        # Recent coverage.py starts itself from a .pth file when the variable is set: then this
        # call starts nothing and the running instance is the one to steer.
        _cov = coverage.process_startup() or coverage.Coverage.current()
        _tests = os.environ.get("HARNESS_COVERAGE_TESTS")
        if _cov is not None and _tests:
            import threading
            import time

            def _follow(cov, tests):
                """The coverage context follows the test(s) the plugin says are running."""
                last, ack = None, os.path.join(tests, f"ack-{os.getpid()}")
                while True:
                    try:
                        running = set()
                        for name in os.listdir(tests):
                            if name.startswith("running-"):
                                with open(os.path.join(tests, name)) as fh:
                                    running.add(fh.read())
                        context = SEPARATOR.join(sorted(running - {""}))
                    except OSError:
                        context = last
                    if context is not None and context != last:
                        try:
                            cov.switch_context(context)
                            last = context
                            with open(ack + ".tmp", "w") as fh:
                                fh.write(context)
                            os.replace(ack + ".tmp", ack)
                        except Exception:  # a tracer busy in another thread: again at the next tick
                            pass
                    time.sleep(0.01)  # each wake takes the service's GIL: not more often

            def _start():
                threading.Thread(target=_follow, args=(_cov, _tests), name="harness-coverage", daemon=True).start()

            _start()
            os.register_at_fork(after_in_child=_start)  # a forked worker (gunicorn) follows the tests too


def _next():
    """The sitecustomize this one hides (a distribution's or a venv's) still runs."""
    import importlib.machinery
    import importlib.util

    here = os.path.dirname(os.path.abspath(__file__))
    rest = [p for p in sys.path if os.path.abspath(p or ".") != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is not None and spec.loader is not None:
        spec.loader.exec_module(importlib.util.module_from_spec(spec))


_next()
'''.replace("SEPARATOR", repr(TESTS_SEPARATOR))

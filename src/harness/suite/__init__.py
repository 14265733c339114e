"""Running a suite against the stack: the test command, its phases, the pytest process, the watch
over the services while tests run, and the plugin copied into the suite's Python.
"""

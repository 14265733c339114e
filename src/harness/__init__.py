"""An integration-test harness: declare a stack in ``stack.toml``, bring it up, test it, tear it down."""

__version__ = "0.1.0"

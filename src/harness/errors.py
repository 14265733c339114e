"""The harness's exceptions, each carrying the exit code the edges (CLI, nox, invoke) turn it into.

Exit codes follow the suite contract: 1 means tests failed, 2 means the stack (or its
definition) is at fault and nothing ran.
"""

from __future__ import annotations

from collections.abc import Sequence

EXIT_OK = 0
EXIT_TESTS_FAILED = 1
EXIT_STACK_FAILED = 2
EXIT_INTERRUPTED = 130

# How the user reached the harness, so a message names a command they can type there:
# `invoke down` under the Invoke tasks (they set it), `harness down` otherwise.
_front_door = ["harness"]


def enter_through(front_door: str) -> None:
    _front_door[0] = front_door


def command_hint(command: str, instance: int | None = None) -> str:
    """```harness --instance 3 down``` or ```invoke down --instance 3``` (the instance when not 0)."""
    extra = f"--instance {instance}" if instance else ""
    if _front_door[0] == "invoke":
        return f"`invoke {command}{' ' + extra if extra else ''}`"
    return f"`harness {extra + ' ' if extra else ''}{command}`"


class HarnessError(Exception):
    """A problem a user can act on; printed as one message, never as a traceback."""

    exit_code = EXIT_STACK_FAILED


class ConfigError(HarnessError):
    """``stack.toml`` (or a value interpolated into it) is invalid."""

    def __init__(self, file: str, key: str, problem: str) -> None:
        self.file, self.key, self.problem = file, key, problem
        where = f"{file}: {key}: " if key else f"{file}: "
        super().__init__(where + problem)


class PortInUseError(HarnessError):
    """A port the stack needs is held by a process the harness did not start."""


class LockedError(HarnessError):
    """Another harness run holds this instance."""


class ServiceFailed(HarnessError):
    """A service exited or never became ready."""

    def __init__(self, name: str, message: str, log_tail: str = "") -> None:
        self.name, self.log_tail = name, log_tail
        text = f"{name}: {message}"
        if log_tail:
            text += f"\n--- last lines of {name}'s log ---\n{log_tail}"
        super().__init__(text)


class StepFailed(ServiceFailed):
    """A one-shot step exited non-zero or raised."""


class Interrupted(HarnessError):
    """Ctrl-C or SIGTERM arrived; cleanup has run."""

    exit_code = EXIT_INTERRUPTED


# Worst first: a stack that could not come up, then an interrupt, then failed tests.
SEVERITY = (EXIT_STACK_FAILED, EXIT_INTERRUPTED, EXIT_TESTS_FAILED, EXIT_OK)


def worst(codes: Sequence[int], severity: Sequence[int] = SEVERITY) -> int:
    """The worst of ``codes`` by ``severity`` (worst first); a code it does not list counts as the worst."""
    unknown = [c for c in codes if c not in severity]
    if unknown:
        return unknown[0]
    return next((c for c in severity if c in codes), severity[-1])

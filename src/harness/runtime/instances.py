"""Which instance a run uses: a number in range, or ``auto``, the first one no run holds."""

from __future__ import annotations

from harness.config.schema import Stack
from harness.errors import HarnessError


def first_free_instance(stack: Stack) -> int:
    """The first instance no run holds, taken at once (so two runs started together differ)."""
    from harness.runtime.lock import reserve

    for number in range(stack.stack.max_instance + 1):
        if reserve((stack.root / stack.stack.state_dir / str(number)).resolve(), number):
            return number
    raise HarnessError(f"--instance auto: all instances 0..{stack.stack.max_instance} are busy ({stack.file})")


def resolve_instance(stack: Stack, raw: str | int | None) -> int:
    """The instance number, range-checked against ``stack.max_instance``; ``auto``: the first free one."""
    value = raw if raw is not None else "0"
    if value == "auto":
        return first_free_instance(stack)
    try:
        number = int(value)
    except ValueError:
        raise HarnessError(f"HARNESS_INSTANCE / --instance must be a whole number, got {value!r}") from None
    limit = stack.stack.max_instance
    if not 0 <= number <= limit:
        raise HarnessError(f"instance {number} is out of range 0..{limit} (stack.max_instance in {stack.file})")
    return number

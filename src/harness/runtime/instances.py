"""Which instance a run uses: a number in range, or ``auto``, the first one no run holds.

A run holds its instance by a lock in this checkout's state dir, which another checkout of the
stack (a second CI runner's work dir, act's job workspaces, a developer's clone) cannot see:
``auto`` also passes over an instance whose ports something else already listens on.
"""

from __future__ import annotations

from harness.config.schema import Stack
from harness.errors import HarnessError


def ports_free(stack: Stack, number: int) -> bool:
    """Nothing listens on any port instance ``number`` of ``stack`` declares."""
    from harness.host.ports import port_free

    offset = number * stack.stack.port_offset
    return all(
        port_free(port + offset, svc.host)
        for svc in stack.services.values()
        for port in (svc.port, *svc.ports.values())
        if port is not None
    )


def first_free_instance(stack: Stack) -> int:
    """The first instance no run holds and whose ports are free, taken at once (so two runs started
    together in one checkout differ)."""
    from harness.runtime.lock import reserve

    for number in range(stack.stack.max_instance + 1):
        if ports_free(stack, number) and reserve((stack.root / stack.stack.state_dir / str(number)).resolve(), number):
            return number
    raise HarnessError(
        f"--instance auto: all instances 0..{stack.stack.max_instance} are busy, held by a run or their ports "
        f"in use ({stack.file})"
    )


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

import uuid

import pytest
import tally


@pytest.fixture
def conn():
    with tally.connect() as c:
        yield c


@pytest.fixture
def name():
    return f"c-{uuid.uuid4().hex[:8]}"


def test_a_new_counter_starts_at_its_first_bump(conn, name):
    assert tally.bump(conn, name, 5) == 5


def test_bumps_add_up(conn, name):
    for _ in range(3):
        tally.bump(conn, name)
    assert tally.value(conn, name) == 3


def test_reset_forgets_a_counter(conn, name):
    tally.bump(conn, name, 2)
    tally.reset(conn, name)
    assert tally.value(conn, name) == 0


def test_counters_are_kept_apart(conn, name):
    tally.bump(conn, name, 7)
    tally.bump(conn, name + "-other", 1)
    assert tally.value(conn, name) == 7

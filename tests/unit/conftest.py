"""Fixtures shared by the simulator's unit tests."""

import pytest

from tests.support.simulator import Harness


@pytest.fixture
def sim():
    """A simulator engine for a fresh device, with a sink the test can read (see ``Harness``)."""
    harness = Harness()
    yield harness
    harness.close()


@pytest.fixture
def linked(sim):
    """The harness after its device has been linked by a QR scan."""
    return sim.linked()

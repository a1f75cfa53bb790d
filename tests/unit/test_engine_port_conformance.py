"""Both adapters implement the engine port with the port's own parameter names: the runner calls
engine operations by keyword (``call`` commands carry their arguments as JSON), so a renamed
parameter would only fail at run time, on a device."""

import inspect
import sys

import pytest

from whatsapp.engine import base
from whatsapp.engine.neonize_engine import NeonizeEngine
from whatsapp.engine.simulator.engine import SimulatorEngine

OPERATIONS = sorted(base.Engine.__abstractmethods__)


def parameters(function: object) -> list[tuple[str, object]]:
    return [(p.name, p.kind) for p in inspect.signature(function).parameters.values()]


@pytest.mark.parametrize("adapter", [NeonizeEngine, SimulatorEngine], ids=["neonize", "simulator"])
@pytest.mark.parametrize("operation", OPERATIONS)
def test_adapter_operations_take_the_ports_parameters(adapter, operation):
    assert parameters(getattr(adapter, operation)) == parameters(getattr(base.Engine, operation))


def test_adapters_implement_every_operation():
    assert not NeonizeEngine.__abstractmethods__
    assert not SimulatorEngine.__abstractmethods__


def test_importing_the_neonize_adapter_does_not_load_neonize():
    assert not any(name == "neonize" or name.startswith("neonize.") for name in sys.modules)

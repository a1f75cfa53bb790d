"""WhatsApp engines: the port (``base``) and its adapters.

Only the device runner creates engines (through :func:`create_engine`); adapters are imported
lazily here, so importing this package never loads neonize's Go core.
"""

from __future__ import annotations

from whatsapp.engine.base import Engine, EngineConfig, EventSink

ENGINES = {
    "neonize": "whatsapp.engine.neonize_engine:NeonizeEngine",
    "simulator": "whatsapp.engine.simulator.engine:SimulatorEngine",
}


def create_engine(name: str, config: EngineConfig, sink: EventSink) -> Engine:
    """Instantiate the adapter called ``name`` (``WHATSAPP_ENGINE``)."""
    import importlib

    try:
        module_name, class_name = ENGINES[name].split(":")
    except KeyError:
        raise ValueError(f"unknown WhatsApp engine {name!r}; choose one of {', '.join(ENGINES)}") from None
    engine_class = getattr(importlib.import_module(module_name), class_name)
    return engine_class(config, sink)

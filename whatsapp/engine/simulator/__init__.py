"""The simulator engine: a faithful fake WhatsApp network for tests, demos and benchmarks."""

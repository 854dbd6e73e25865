"""Backends: implementations of `edgecase.sim.backend.Backend`: `embedded` (CPU, in process) and `carla` (a bridge to a CARLA 0.9.16 server)."""

"""Backends: implementations of `edgecase.sim.backend.Backend` (embedded now, the CARLA bridge later)."""

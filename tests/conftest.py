"""Shared pytest fixtures."""

from __future__ import annotations

from pathlib import Path

import os

import pytest
from hypothesis import settings

from tests.helpers import shared_maps_dir

# The suite is deterministic: hypothesis draws the same examples on every run, so CI never fails
# on a case it happens to find that day. benchmarks/bench_fuzz.py explores new ones (thousands a
# run); HYPOTHESIS_PROFILE=explore runs the tests' own properties on fresh random examples.
settings.register_profile("edgecase", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "edgecase"))


@pytest.fixture(scope="session")
def shared_maps() -> Path:
    """The folder of real CARLA towns (Town01.xodr, Town10HD.xodr), read in place and never copied
    into the repo: $EDGECASE_SHARED_MAPS, else <repo>/../shared/maps. Skips when it is absent."""
    folder = shared_maps_dir()
    if not folder.is_dir():
        pytest.skip(f"real CARLA maps not found in {folder} (set EDGECASE_SHARED_MAPS to the folder of Town*.xodr)")
    return folder


@pytest.fixture
def server(monkeypatch):
    """A fake CARLA server at localhost:2000, and the bridge talking to the fake carla module."""
    import tests.fake_carla as fake_carla
    from edgecase.backends.carla import use_carla_module
    from edgecase.backends.carla.connection import HOST_ENV
    from tests.fake_carla import FakeServer

    monkeypatch.delenv(HOST_ENV, raising=False)
    previous = use_carla_module(fake_carla)
    fake = FakeServer("localhost", 2000)
    try:
        yield fake
    finally:
        fake.shutdown()
        use_carla_module(previous)

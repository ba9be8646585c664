"""Pytest fixtures that run the Alma simulator on loopback (owned by the simulator's author).

``simulator(**overrides)`` starts a real :class:`~alma_tools.simulator.Simulator` on a free port with the
sample exports of ``tests/data``, the key :data:`TEST_KEY` and a short latency, so HTTP tests talk to it over
real sockets; every simulator a test started is stopped at teardown. Any :class:`SimulatorConfig` field can be
overridden, e.g. ``simulator(rate_limit=5, fault_rate=0.2, latency=(0.3, 0.8))``.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from alma_tools.simulator import Simulator, SimulatorConfig

DATA = Path(__file__).parent / "data"
TEST_KEY = "test-key"
#: latency short enough for fast tests, but not zero, so answers still arrive out of order
TEST_LATENCY = (0.0, 0.01)


def simulator_config(**overrides: Any) -> SimulatorConfig:
    """The tests' default configuration with ``overrides`` applied."""
    settings: dict[str, Any] = {
        "items": DATA / "items_to_discharge.csv",
        "locations": DATA / "locations.csv",
        "api_keys": (TEST_KEY,),
        "latency": TEST_LATENCY,
    }
    settings.update(overrides)
    return SimulatorConfig(**settings)


@pytest.fixture
def simulator() -> Iterator[Callable[..., Simulator]]:
    """Factory: ``simulator(**config_overrides)`` returns a started simulator, stopped after the test."""
    started: list[Simulator] = []

    def start(**overrides: Any) -> Simulator:
        sim = Simulator(simulator_config(**overrides)).start()
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()


@pytest.fixture
def sim(simulator: Callable[..., Simulator]) -> Simulator:
    """A started simulator with the default test configuration."""
    return simulator()


def find_free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (for subprocesses that need a fixed port)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def free_port() -> int:
    return find_free_port()

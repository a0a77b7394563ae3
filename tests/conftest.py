"""Fixtures shared by the test modules. Keep this small: builders belong in `tests/factories.py`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest
from hypothesis import settings

from queuebox.config import Config, load_config
from tests.factories import FakeClock

pytest_plugins = ["tests.mqtt_broker", "tests.postgres", "tests.web.browser"]  # broker; chromium, page, live_server

# In CI the property tests are derandomized, so a run is repeatable; locally they explore.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

EXAMPLE_CONFIG = Path(__file__).resolve().parents[1] / "config" / "queuebox.example.toml"


@pytest.fixture(scope="session")
def example_config() -> Config:
    """The shipped example configuration: services A–E, six counters, opening hours
    mon–fri (A, B, E also sat) 07:30–11:30 and 13:30–17:00 Asia/Ho_Chi_Minh; E has daily_limit 300."""
    return load_config(EXAMPLE_CONFIG)


@pytest.fixture
def open_clock() -> FakeClock:
    """A clock at Monday 23 November 2026, 09:00 in Ho Chi Minh City: every example service is open."""
    return FakeClock()


@pytest.fixture
def mock_factory() -> Iterator[object]:
    """A gpiozero MockFactory; every device made on it must be closed by the test's owner,
    and the factory is reset afterwards so no pin stays reserved."""
    from gpiozero.pins.mock import MockFactory

    factory = MockFactory()
    yield factory
    factory.reset()
    factory.close()

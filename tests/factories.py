"""Small builders shared by tests: configs that are always open, a settable clock."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from queuebox.config import Config, config_from_dict

ALL_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
# Monday 23 November 2026, 09:00 in Ho Chi Minh City.
MONDAY_9AM = datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc)


def make_config(services: list[dict[str, Any]] | None = None, counters: list[dict[str, Any]] | None = None,
                **sections: dict[str, Any]) -> Config:
    """A valid config; services are open all day every day unless given otherwise."""
    services = services or [
        {"code": "A", "name_vi": "Đất đai", "name_en": "Land"},
        {"code": "B", "name_vi": "Hộ tịch - Chứng thực", "name_en": "Civil status"},
        {"code": "C", "name_vi": "Đăng ký kinh doanh", "name_en": "Business"},
    ]
    services = [{"open_days": ALL_DAYS, "hours": [], **s} for s in services]
    counters = counters or [
        {"id": "1", "name": "Quầy 1", "services": {"A": 1}},
        {"id": "2", "name": "Quầy 2", "services": {"A": 1, "B": 1}},
        {"id": "3", "name": "Quầy 3", "services": {"B": 2, "C": 1}},
    ]
    raw = {"site": {"id": "test", "name": "Trung tâm thử"}, "services": services, "counters": counters, **sections}
    return config_from_dict(raw)


class FakeClock:
    """A clock the test moves by hand; call it to read the time."""

    def __init__(self, start: datetime = MONDAY_9AM) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now

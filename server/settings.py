"""Settings a manager changes from the web administration, kept in the `settings` table.

They override whole sections of the config file: `services` and `counters` (lists, replaced
whole), `queue` (the priority policy and its options) and `message` (the board's footer).
Once a section was saved from the web, the file's version of it is no longer used; the
administration page says so. The result is validated exactly as the file is
(`config_from_dict`), so the same clear problems come back.
"""

from __future__ import annotations

import json
import tomllib
from typing import Any

from queuebox.config import Config, config_from_dict, to_toml

SECTIONS = ("services", "counters", "queue", "message")


def raw_config(config: Config) -> dict[str, Any]:
    """The config as the plain dict its TOML file would parse to (lists, not tuples)."""
    return tomllib.loads(to_toml(config))


def effective_config(file_config: Config, overrides: dict[str, Any]) -> Config:
    """The file config with the web's sections in place; raises ConfigError listing every problem."""
    raw = raw_config(file_config)
    for section in ("services", "counters", "queue"):
        if section in overrides:
            raw[section] = overrides[section]
    return config_from_dict(raw, source="the administration")


def unknown_sections(changes: dict[str, Any]) -> list[str]:
    return [key for key in changes if key not in SECTIONS]


def read_overrides(db: Any) -> dict[str, Any]:
    """Every saved section, decoded."""
    return {key: json.loads(value) for key, value in db.execute("SELECT key, value FROM settings")
            if key in SECTIONS}


def write_overrides(db: Any, changes: dict[str, Any], at: str, actor: str) -> None:
    """Save sections (inside the caller's transaction)."""
    for key, value in changes.items():
        db.execute("INSERT INTO settings (key, value, at, actor) VALUES (?, ?, ?, ?) "
                   "ON CONFLICT (key) DO UPDATE SET value = excluded.value, at = excluded.at, actor = excluded.actor",
                   [key, json.dumps(value, ensure_ascii=False), at, actor])

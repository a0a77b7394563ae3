"""`queuebox display --counter ID` and `display.counter`: an unknown counter is a clear error at
start-up naming the known ones; `--sample` draws an example without a broker."""

from __future__ import annotations

from pathlib import Path

import pygame
import pytest

from queuebox.cli import main
from queuebox.config import ConfigError, load_config

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "queuebox.example.toml"


def test_an_unknown_counter_on_the_command_line_names_the_known_ones(capsys):
    assert main(["display", "--config", str(EXAMPLE), "--counter", "9", "--screenshot", "x.png", "--sample"]) == 1
    err = capsys.readouterr().err
    assert "--counter: unknown counter '9'" in err and "the counters are 1, 2, 3" in err


def test_a_counter_id_that_cannot_be_one_is_refused(capsys):
    assert main(["display", "--config", str(EXAMPLE), "--counter", "quầy/1", "--screenshot", "x.png",
                 "--sample"]) == 1
    assert "must be 1-16 letters, digits, - or _" in capsys.readouterr().err


def test_an_unknown_display_counter_in_the_config_is_a_config_error(tmp_path):
    path = tmp_path / "q.toml"
    path.write_text(EXAMPLE.read_text(encoding="utf-8").replace('counter = ""', 'counter = "12"'), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert any(p.startswith("display.counter: unknown counter '12'") and "1, 2, 3" in p for p in caught.value.problems)


def test_a_live_screenshot_needs_follow_or_sample(capsys):
    assert main(["display", "--config", str(EXAMPLE), "--counter", "1", "--screenshot", "x.png"]) == 1
    assert "--sample" in capsys.readouterr().err


def test_a_sample_counter_screenshot(tmp_path, capsys):
    out = tmp_path / "counter.png"
    assert main(["display", "--config", str(EXAMPLE), "--counter", "2", "--screenshot", str(out), "--sample",
                 "--size", "800x480"]) == 0
    assert pygame.image.load(str(out)).get_size() == (800, 480)

"""Every screen of the touch kiosk drawn at 1280x800 and 1080x1920 (pygame's dummy driver),
saved as PNG beside the test's files: every text fits its box, every button is thumb-sized."""

from __future__ import annotations

import pytest

from device.touch_layout import layout, min_target
from device.touch_preview import render_screens, sample_model, screens
from device.touch_model import TouchKiosk


@pytest.mark.parametrize("size", [(1280, 800), (1080, 1920)])
def test_every_screen_draws_with_every_text_fitting(tmp_path, size):
    problems = render_screens(tmp_path, size)
    assert len(problems) == 20 and len(list(tmp_path.glob("touch-*.png"))) == 20
    assert {name: cut for name, cut in problems.items() if cut} == {}


@pytest.mark.parametrize("size", [(1280, 800), (1080, 1920)])
def test_every_button_is_at_least_the_thumb_size(size):
    model = TouchKiosk(idle_timeout_s=30)
    sample_model(model)
    small = []
    for name, go in screens(model):
        go()
        for widget in layout(model.state, *size):
            if widget.button and min(widget.rect.w, widget.rect.h) < min_target(*size):
                small.append((name, widget.name, widget.rect))
    assert small == [] and min_target(*size) >= 96

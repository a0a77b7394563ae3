"""Checks every layout must pass, whatever the board: shared by the board and render tests."""

from __future__ import annotations

from display.boxes import LINE, Layout, Measure, estimate_width


def problems(layout: Layout, measure: Measure = estimate_width) -> list[str]:
    """What is wrong with `layout`: boxes off the screen, text wider or taller than its box,
    text boxes that overlap. Empty when the layout is sane."""
    found = []
    for b in layout.boxes:
        if b.x < 0 or b.y < 0 or b.x + b.w > layout.width or b.y + b.h > layout.height or b.w <= 0 or b.h <= 0:
            found.append(f"{b.name} {b.rect} is not inside the {layout.width}x{layout.height} screen")
        if b.text:
            if b.size < 1:
                found.append(f"{b.name} has text but size {b.size}")
            elif measure(b.text, b.size, b.bold) > b.w:
                found.append(f"{b.name} {b.text!r} at {b.size}px is {measure(b.text, b.size, b.bold):.0f}px, "
                             f"wider than its box ({b.w}px)")
            if b.size * LINE > b.h + 1:
                found.append(f"{b.name} at {b.size}px is taller than its box ({b.h}px)")
    texts = [b for b in layout.boxes if b.text]
    for i, a in enumerate(texts):
        for b in texts[i + 1:]:
            if a.overlaps(b):
                found.append(f"{a.name} {a.rect} overlaps {b.name} {b.rect}")
    return found

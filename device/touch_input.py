"""Which touches on the touch kiosk count as a press. Pure: events come in with their place.

A press is a tap: a finger (or the mouse) goes down and comes up again; it counts when it
comes up, and only if it comes up on the same button it went down on (a finger that slides
off cancels, as on a phone). So a finger held down for a minute gives one press when it is
lifted, never a repeat. A second finger on the screen while one is down spoils the gesture:
nothing counts until every finger is up again (two fingers, a palm or a sleeve give no press).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Hashable

MOUSE = "mouse"  # the pointer id of a mouse (a desktop, the simulation)


@dataclass(frozen=True)
class Pointer:
    """A finger (or the mouse) `id` going down or up at (`x`, `y`) pixels of the screen."""
    id: Hashable
    down: bool
    x: int
    y: int


@dataclass(frozen=True)
class Tap:
    """A finished one-finger gesture: where it went down and where it came up."""
    down: tuple[int, int]
    up: tuple[int, int]


class Taps:
    """Turns pointer events into taps; see the module docstring."""

    def __init__(self) -> None:
        self._down: dict[Hashable, tuple[int, int]] = {}
        self._spoiled = False

    def on(self, pointer: Pointer) -> Tap | None:
        """The tap `pointer` finishes, if any."""
        if pointer.down:
            if self._down:
                self._spoiled = True  # a second finger
            self._down[pointer.id] = (pointer.x, pointer.y)
            return None
        start = self._down.pop(pointer.id, None)
        if start is None:  # an up whose down was not seen (it began before the screen started)
            return None
        if self._spoiled:
            if not self._down:
                self._spoiled = False
            return None
        return Tap(start, (pointer.x, pointer.y))

    def reset(self) -> None:
        """Forget fingers down (the window lost focus: their ups may never come)."""
        self._down.clear()
        self._spoiled = False

"""The `hall` fixture of the public hall's tests (the site: site.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from tests.web.hall.site import Hall


@pytest.fixture
def hall(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Hall]:
    """`Hall` with the server settings of `@pytest.mark.parametrize("hall", [{...}], indirect=True)`."""
    site = Hall(tmp_path, **getattr(request, "param", {}))
    yield site
    site.close()

"""Fixtures shared by every test layer."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SYSTEM_SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")


@pytest.fixture(scope="session")
def soundfont_path() -> Path:
    """The real FluidR3 GM SoundFont that `make test`'s setup installs."""
    path = Path(os.environ.get("AURALIS_SOUNDFONT", SYSTEM_SOUNDFONT))
    assert path.is_file(), f"{path} missing: run `make test` (it installs fluid-soundfont-gm)"
    return path

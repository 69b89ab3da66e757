"""The project's region layers, loaded once per process (geomap.regions.load caches them)."""

from __future__ import annotations

import pytest

from geomap import regions as rg


@pytest.fixture(scope="module")
def R():
    return rg.load()

"""Settings.from_config: typed, with the defaults of config.SETTINGS, not restated."""

from __future__ import annotations

import dataclasses

import pytest

from geomap import config, ingest


def test_defaults_come_from_the_settings_table():
    defaults = {s.name: s.default for s in config.SETTINGS}
    settings = ingest.Settings.from_config({"UPLOAD_FOLDER": "/tmp/up"})
    assert settings == ingest.Settings(
        upload_folder="/tmp/up", regions_path=defaults["REGIONS_PATH"],
        at_border_m=defaults["AT_BORDER_M"], max_border_km=defaults["MAX_BORDER_KM"],
        area_km=defaults["AREA_KM"])
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.area_km = 1.0  # type: ignore[misc]


def test_values_are_read_from_the_app(app):
    settings = ingest.Settings.from_config(app.config)
    assert settings.upload_folder == str(app.config["UPLOAD_FOLDER"])
    assert settings.max_border_km == float(app.config["MAX_BORDER_KM"])

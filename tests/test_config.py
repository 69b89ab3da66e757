"""Settings: precedence, instance folder, generated secret, documentation."""

import re
from pathlib import Path

import pytest

from geomap import config
from geomap.errors import ConfigError

README = Path(__file__).resolve().parent.parent / "README.md"


def test_defaults_fill_instance_paths(tmp_path):
    values = config.resolve(tmp_path, environ={})
    assert values["DATABASE_URL"] == f"sqlite:///{tmp_path / 'geomap.sqlite'}"
    assert values["UPLOAD_FOLDER"] == str(tmp_path / "uploads")
    assert values["MAX_UPLOAD_MB"] == 50
    assert values["TILES"] == "openstreetmap"


def test_precedence_defaults_file_env_overrides(tmp_path):
    (tmp_path / "config.py").write_text("TILES = 'from-file'\nMAX_UPLOAD_MB = 7\nlower = 1\n")
    values = config.resolve(tmp_path, environ={})
    assert values["TILES"] == "from-file" and values["MAX_UPLOAD_MB"] == 7
    assert "lower" not in values
    values = config.resolve(tmp_path, environ={"GEOMAP_TILES": "none"})
    assert values["TILES"] == "none" and values["MAX_UPLOAD_MB"] == 7
    values = config.resolve(tmp_path, {"TILES": "explicit"}, environ={"GEOMAP_TILES": "none"})
    assert values["TILES"] == "explicit"


def test_env_values_are_parsed_by_type(tmp_path):
    values = config.resolve(tmp_path, environ={"GEOMAP_MAX_UPLOAD_MB": "2.5",
                                               "GEOMAP_LOAD_SAMPLE": "no"})
    assert values["MAX_UPLOAD_MB"] == 2.5
    assert values["LOAD_SAMPLE"] is False


@pytest.mark.parametrize("name,raw", [("MAX_UPLOAD_MB", "lots"), ("LOAD_SAMPLE", "maybe")])
def test_bad_env_value_names_variable_and_value(tmp_path, name, raw):
    with pytest.raises(ConfigError) as info:
        config.resolve(tmp_path, environ={f"GEOMAP_{name}": raw})
    assert f"GEOMAP_{name}" in info.value.message and raw in info.value.message


def test_secret_key_generated_once_and_private(tmp_path):
    first = config.resolve(tmp_path, environ={})["SECRET_KEY"]
    second = config.resolve(tmp_path, environ={})["SECRET_KEY"]
    assert first == second and len(first) == 64
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_create_app_makes_instance_and_upload_folders(app_factory, tmp_path):
    app = app_factory(INSTANCE_PATH=tmp_path / "nested" / "instance")
    instance = Path(app.instance_path)
    assert instance.is_dir() and (instance / "uploads").is_dir()
    assert app.config["MAX_CONTENT_LENGTH"] == 50 * 1024 * 1024


def test_env_reaches_the_app(app_factory, monkeypatch):
    monkeypatch.setenv("GEOMAP_MAX_UPLOAD_MB", "3")
    app = app_factory()
    assert app.config["MAX_CONTENT_LENGTH"] == 3 * 1024 * 1024


def test_readme_documents_every_setting():
    text = README.read_text()
    missing = [s.env for s in config.SETTINGS if not re.search(rf"`{s.env}`", text)]
    assert not missing, f"settings missing from README.md: {missing}"

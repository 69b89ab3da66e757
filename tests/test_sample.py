"""The illustrative sample: deterministic, calibrated, on the right side, loaded on first run."""

import pandas as pd
import pytest

from geomap import db, regions, sample, store


@pytest.fixture(scope="module")
def layers():
    from geomap.config import SETTINGS_BY_NAME

    return regions.load(SETTINGS_BY_NAME["REGIONS_PATH"].default)


@pytest.fixture(scope="module")
def frame(layers):
    generated = sample.generate(layers)
    joined = regions.assign(generated["lon"].to_numpy(), generated["lat"].to_numpy(), layers)
    return pd.concat([generated, joined], axis=1)


def test_deterministic(layers, frame):
    again = sample.generate(layers)
    pd.testing.assert_frame_equal(again, frame[again.columns])


def test_size_span_and_directions(frame):
    assert 2500 <= len(frame) <= 3500
    assert frame["occurred_at"].dt.year.unique().tolist() == [2025]
    assert set(frame["occurred_at"].dt.month) == set(range(1, 13))
    assert set(frame["direction"]) == {"northbound", "southbound"}
    assert frame["source_id"].is_unique
    # The whole border: every northern sector, both countries, Alaska included.
    assert frame["sector"].nunique() == 8
    assert {"US-AK", "CA-YT", "US-ME", "CA-NB", "US-WA", "CA-BC"} <= set(frame["admin1"])


def test_each_incident_is_on_the_side_its_direction_implies(frame):
    assert frame["reason"].isna().all()
    northbound = frame["direction"] == "northbound"
    assert (frame.loc[northbound, "country"] == "CA").all()
    assert (frame.loc[~northbound, "country"] == "US").all()


def test_calibrated_to_the_reported_washington_figures(frame):
    # Northbound from Washington (west of Idaho) into British Columbia.
    wa_bc = frame[(frame["direction"] == "northbound") & (frame["admin1"] == "CA-BC")
                  & (frame["lon"] < -117.04)]
    per_month = wa_bc.groupby(wa_bc["occurred_at"].dt.month).size()
    assert 35 <= per_month[1] <= 45            # "40 illegal crossings ... in January"
    later = per_month.loc[5:12] / frame["occurred_at"].dt.days_in_month.groupby(
        frame["occurred_at"].dt.month).first().loc[5:12]
    assert later.between(4, 6).all()           # "about five a day"


def test_title_and_description_say_illustrative():
    assert "illustrative" in sample.TITLE.lower()
    assert sample.DESCRIPTION.startswith("ILLUSTRATIVE DATA, NOT REAL INCIDENTS")


def test_load_sample_command_publishes_with_provenance(app, runner):
    result = runner.invoke(args=["load-sample"])
    assert result.exit_code == 0, result.output
    with db.engine_for(app.config["DATABASE_URL"]).connect() as conn:
        dataset = store.get_dataset(conn, sample.SLUG)
        assert dataset["published"] is True
        count = store.count_incidents(conn, dataset["id"])
        [imp] = store.list_imports(conn, dataset["id"])
    assert 2500 <= count <= 3500 and imp["rows_imported"] == count
    assert "already" not in result.output
    again = runner.invoke(args=["load-sample"])
    assert again.exit_code == 0
    with db.engine_for(app.config["DATABASE_URL"]).connect() as conn:
        assert store.count_incidents(conn, dataset["id"]) == count


def test_first_request_on_empty_database_loads_sample(app_factory):
    application = app_factory(LOAD_SAMPLE=True)
    client = application.test_client()
    html = client.get("/").get_data(as_text=True)
    assert sample.TITLE in html and f'href="/maps/{sample.SLUG}"' in html
    page = client.get(f"/maps/{sample.SLUG}").get_data(as_text=True)
    assert "L.map(" in page and "/static/vendor/leaflet.heat/leaflet-heat.js" in page
    assert "GeomapLayers.heat(" in page


def test_sample_not_loaded_when_setting_off(client):
    assert "No dataset is published yet" in client.get("/").get_data(as_text=True)


def test_sample_not_reloaded_when_database_has_datasets(app_factory):
    application = app_factory(LOAD_SAMPLE=True)
    with db.engine_for(application.config["DATABASE_URL"]).begin() as conn:
        store.create_dataset(conn, "mine", "Mine")
    application.test_client().get("/")
    with db.engine_for(application.config["DATABASE_URL"]).connect() as conn:
        assert store.get_dataset(conn, sample.SLUG, missing_ok=True) is None

"""The public small-count threshold: one rule for who sees what, the same on every surface."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geomap import access, accounts, db, disclosure
from maps_fixtures import incident_rows, map_payload, seed_dataset


@pytest.fixture
def layers(fake_display_layers):
    """The display layers the app draws (passed to create_app as DISPLAY_LAYERS)."""
    return fake_display_layers


@pytest.fixture
def small(app, layers):
    """12 incidents in two regions (10 in US-WA, 2 in CA-BC), threshold 5; an editor token
    that may write the dataset and one that may not."""
    frame = incident_rows(12).assign(admin1=["US-WA"] * 10 + ["CA-BC"] * 2)
    dataset = seed_dataset(app, "small", frame=frame, min_public_count=5)
    with db.engine_for(app.config["DATABASE_URL"]).begin() as conn:
        owner_id = accounts.create_user(conn, "owner", "s3cret-pass")
        accounts.create_user(conn, "other", "s3cret-pass")
        access.add_owner(conn, dataset["id"], access.Actor(owner_id, "owner", "editor"))
        tokens = {"owner": accounts.create_token(conn, "o", "owner"),
                  "other": accounts.create_token(conn, "x", "other")}
    return dataset, tokens


def _seen(client, headers) -> dict:
    """What one viewer sees of the small regions on the map, in stats and in downloads."""
    html = client.get("/maps/small?layer=choropleth&by=admin1",
                      headers=headers).get_data(as_text=True)
    features = map_payload(html, "regions")["features"]["features"]
    stats = client.get("/api/datasets/small/stats?by=admin1", headers=headers).json
    download = client.get("/api/datasets/small/incidents.csv", headers=headers)
    return {"map_hidden": {f["properties"]["code"] for f in features
                           if f["properties"].get("hidden")},
            "map_shown": {f["properties"]["code"] for f in features
                          if f["properties"].get("n")},
            "stats_shown": {g["key"] for g in stats["groups"]},
            "stats_hidden": stats.get("hidden", {}).get("groups", 0),
            "download": download.status_code}


@pytest.mark.parametrize("viewer", [None, "other"])
def test_public_viewers_see_the_same_hiding_everywhere(app, small, viewer):
    _dataset, tokens = small
    headers = {"Authorization": f"Bearer {tokens[viewer]}"} if viewer else {}
    seen = _seen(app.test_client(), headers)
    assert seen["map_hidden"] == {"CA-BC"} and seen["map_shown"] == {"US-WA"}
    assert seen["stats_shown"] == seen["map_shown"]
    assert seen["stats_hidden"] == len(seen["map_hidden"])
    assert seen["download"] == 403  # rows are groups of one


def test_who_may_write_sees_exact_counts_but_rendered_maps_stay_public(app, small):
    _dataset, tokens = small
    seen = _seen(app.test_client(), {"Authorization": f"Bearer {tokens['owner']}"})
    assert seen["stats_shown"] == {"US-WA", "CA-BC"} and seen["stats_hidden"] == 0
    assert seen["download"] == 200
    # The one stated difference (disclosure.rendered_threshold): a rendered map is cached
    # and served to everyone, so it hides for the owner too.
    assert seen["map_hidden"] == {"CA-BC"}


def test_thresholds(conn):
    dataset = {"id": 1, "min_public_count": 5, "published": True}
    assert disclosure.public_threshold(dataset) == 5
    assert disclosure.public_threshold({"min_public_count": None}) == 1
    assert disclosure.public_threshold({"min_public_count": 0}) == 1
    assert disclosure.viewer_threshold(conn, None, dataset) == 5
    assert disclosure.viewer_threshold(conn, access.OPERATOR, dataset) == 1
    assert disclosure.viewer_threshold(conn, access.Actor(99, "x", "editor"), dataset) == 5
    assert disclosure.rendered_threshold(dataset) == 5
    assert disclosure.rows_allowed(1) and not disclosure.rows_allowed(2)


def test_hiding():
    n = np.array([0, 1, 4, 5, 9])
    assert disclosure.is_hidden(n, 5).tolist() == [False, True, True, False, False]
    assert disclosure.is_hidden(0, 5) is False and disclosure.is_hidden(3, 5) is True
    frame = pd.DataFrame({"n": [1, 4, 5, 9], "total": [1, 8, 5, 9]})
    kept, hidden = disclosure.hide_small(frame, 5)
    assert kept["n"].tolist() == [5, 9] and hidden == 2
    assert disclosure.hide_small(frame, 1) == (frame, 0)
    shown, hidden_rows = disclosure.hide_small_rows([{"n": 2}, {"n": 7}], 5)
    assert shown == [{"n": 7}] and hidden_rows == [{"n": 2}]

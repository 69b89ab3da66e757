"""Row content hashes."""

import numpy as np
import pandas as pd

from geomap import store
from store_helpers import three_incidents


def test_row_hash_ignores_computed_columns_and_sees_content():
    a = three_incidents(1)
    b = a.copy()
    b["admin1"] = "CA-BC"
    pd.testing.assert_frame_equal(store.row_hashes(a), store.row_hashes(b))
    b.loc[0, "count"] = 3
    ha, hb = store.row_hashes(a), store.row_hashes(b)
    assert (ha.iloc[0] != hb.iloc[0]).all()  # both halves change
    assert (ha.iloc[1:] == hb.iloc[1:]).all().all()
    assert list(ha.dtypes) == [np.int64, np.int64]


def test_row_hash_is_the_same_for_any_dtype_of_equal_content():
    a = three_incidents(1)
    b = a.copy()
    for name in ("source_id", "type", "direction", "precision", "description"):
        b[name] = b[name].astype("string")
    b["type"] = b["type"].astype("category")
    b["count"] = b["count"].astype("int32")
    pd.testing.assert_frame_equal(store.row_hashes(a), store.row_hashes(b))
    # Missing text is the empty string; a value moved to another column is new content.
    c = a.copy()
    c.loc[0, "description"] = None
    d = a.copy()
    d.loc[0, "description"] = ""
    pd.testing.assert_series_equal(store.row_hashes(c)["row_hash"],
                                   store.row_hashes(d)["row_hash"])
    e = a.copy()
    e.loc[0, ["type", "direction"]] = [a.loc[0, "direction"], a.loc[0, "type"]]
    assert store.row_hashes(e)["row_hash"][0] != store.row_hashes(a)["row_hash"][0]


def test_row_hashes_of_constant_columns_equal_the_frozen_reference():
    """Columns with one value in every row are hashed once and broadcast; the hashes must be
    those of migration 0003's frozen per-row copy (what existing rows were hashed with)."""
    import importlib

    from maps_fixtures import incident_rows

    frozen = importlib.import_module(
        "geomap.migrations.versions.0003_integer_hash_no_incident_fks")
    frame = incident_rows(50, seed=4).drop(columns=["row_hash", "row_hash2"])
    frame["description"] = "same everywhere"
    frame["source_id"] = None
    for variant in (frame, frame.drop(columns=["description"]),
                    frame.assign(type="crossing", direction="northbound")):
        expected = frozen._new_hashes(variant)
        got = store.row_hashes(variant)
        assert (got["row_hash"].to_numpy() == expected[0]).all()
        assert (got["row_hash2"].to_numpy() == expected[1]).all()

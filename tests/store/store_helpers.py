"""Incidents the store tests write and read back."""

import pandas as pd

from geomap import store


def three_incidents(dataset_id, n=3):
    """Return n (at most 3) hashed incidents of the dataset, every column set."""
    frame = pd.DataFrame({
        "dataset_id": dataset_id,
        "source_id": [f"id-{i}" for i in range(n)],
        "occurred_at": pd.to_datetime(["2025-01-05 10:00", "2025-02-01 00:00", "2025-02-03 23:59"][:n]),
        "precision": ["second", "day", "second"][:n],
        "lat": [49.0021, 45.0093, 62.615][:n], "lon": [-122.7566, -73.4525, -141.0013][:n],
        "type": ["apprehension", "sighting", "apprehension"][:n],
        "count": [2, 0, 5][:n], "direction": ["northbound", "southbound", "unknown"][:n],
        "description": ["Line one\nline two", "quote \" and <tag>", "ünïcode"][:n],
        "attributes": [{"Port Code": "0007"}, {}, {"x": 1}][:n],
        "admin1": ["US-WA", "US-NY", "US-AK"][:n], "country": ["US", "US", "US"][:n],
        "sector": ["Blaine", "Swanton", "Blaine"][:n],
        "border_mile": [10.5, 2500.25, 4400.0][:n], "border_km": [-0.02, -0.1, -0.3][:n],
        "at_border": [True, False, False][:n],
    })
    return store.add_row_hashes(frame)

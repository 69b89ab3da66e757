"""The attack corpus: hostile strings for every text field, and a dataset built from them."""

from __future__ import annotations

import csv
import io

from geomap import accounts, db, store

PAYLOADS = (
    "<script>alert('xss-script')</script>",
    "</script><script>alert('xss-close')</script>",
    "`${alert('xss-template')}`",
    "javascript:alert('xss-url')",
    "\" onerror=\"alert('xss-attr')\" x=\"",
    "'><img src=x onerror=alert('xss-img')>",
    "<svg onload=alert('xss-svg')>",
    "line\u2028sep\u2029para",
    "{{7*7}} ${7*7} <%= 7*7 %>",
    "=HYPERLINK(\"http://evil.example\",\"x\")",
    "+cmd|' /C calc'!A0",
    "@SUM(1+1)",
    "-2+3",
    "\tTAB",
    "'; DROP TABLE incidents; --",
)
HOSTILE = " | ".join(PAYLOADS)
MARKERS = ("xss-script", "xss-close", "xss-template", "xss-url", "xss-attr", "xss-img",
           "xss-svg")
SLUG = "hostile"
FILENAME = "../../etc/<script>alert('xss-file')</script>.csv"


def hostile_csv() -> bytes:
    """A CSV whose text cells and extra column names all carry the payloads."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    extra = ["<img src=x onerror=alert('xss-col')>", "`${alert('xss-colt')}`"]
    writer.writerow(["source_id", "date", "lat", "lon", "count", "direction", "type",
                     "description", *extra])
    spots = [(49.005, -122.75), (49.01, -122.5), (48.995, -122.6), (45.02, -73.45),
             (44.99, -73.46), (49.003, -97.24)]
    for i, payload in enumerate(PAYLOADS):
        lat, lon = spots[i % len(spots)]
        writer.writerow([f"x{i}{payload[:20]}", f"2025-0{1 + i % 9}-1{i % 9}", lat + i * 1e-4,
                         lon + i * 1e-4, 1 + i % 3, "northbound" if lat > 49 else "southbound",
                         payload, payload, payload, payload])
    return out.getvalue().encode("utf-8")


def seed(app, client) -> str:
    """Create the hostile dataset through the write API; return an editor's token."""
    with db.engine_for(app.config["DATABASE_URL"]).begin() as conn:
        accounts.create_user(conn, "editor", "s3cret-pass")
        token = accounts.create_token(conn, "attack", "editor")
    response = client.post(
        f"/api/datasets/{SLUG}/incidents",
        data={"file": (io.BytesIO(hostile_csv()), FILENAME), "title": HOSTILE[:300],
              "source": HOSTILE[:500], "license": HOSTILE[:200], "publish": "1"},
        headers={"Authorization": f"Bearer {token}"}, content_type="multipart/form-data")
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.json["rows_imported"] == len(PAYLOADS), response.json
    import_id = response.json["import_id"]
    with db.engine_for(app.config["DATABASE_URL"]).begin() as conn:
        store.update_dataset(conn, SLUG, description=HOSTILE)
    # The corrections log through its API door (shown on the map page and in the embed).
    response = client.post(f"/api/datasets/{SLUG}/corrections",
                           json={"what": HOSTILE, "why": HOSTILE, "import_id": import_id},
                           headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 201, response.get_data(as_text=True)
    return token

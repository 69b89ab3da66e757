"""flask import-csv, flask export and flask build-copies."""

from __future__ import annotations

import json
from pathlib import Path

import pyogrio

from geomap import db, store
from geomap.web.columnar import copies_for

from ingest_helpers import fake_regions  # noqa: F401  (fixture)
from maps_fixtures import seed_dataset

DATA = Path(__file__).parent / "data" / "ingest"


def _incidents(app, slug="cli"):
    with db.engine_for(app.config["DATABASE_URL"]).connect() as conn:
        return store.incident_frame(conn, store.get_dataset(conn, slug)["id"])


def test_import_csv_json_prints_only_the_report(app, runner, fake_regions):  # noqa: F811
    result = runner.invoke(args=["import-csv", str(DATA / "basic.csv"), "--dataset", "cli",
                                 "--title", "CLI test", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["rows_imported"] == 3 and report["dataset"] == "cli"
    assert len(_incidents(app)) == 3


def test_import_csv_summary_and_options(app, runner, fake_regions):  # noqa: F811
    result = runner.invoke(args=[
        "import-csv", str(DATA / "no_header.csv"), "--dataset", "cli", "--no-header",
        "--map", "lat=1", "--map", "lon=2", "--map", "occurred_at=3", "--publish",
        "--source", "Test", "--mode", "replace"])
    assert result.exit_code == 0, result.output
    assert "2 imported" in result.output
    with db.engine_for(app.config["DATABASE_URL"]).connect() as conn:
        assert store.get_dataset(conn, "cli")["published"]


def test_import_csv_strict_failure_exits_non_zero(app, runner, fake_regions):  # noqa: F811
    result = runner.invoke(args=["import-csv", str(DATA / "out_of_range.csv"), "--dataset",
                                 "cli", "--strict", "--json"])
    assert result.exit_code != 0
    first = result.output.splitlines()[0]
    assert json.loads(first)["rows_rejected"] == 5
    assert "strict mode" in result.output


def test_unimportable_file_exits_with_one_line_and_no_traceback(app, runner, fake_regions,  # noqa: F811
                                                                tmp_path):
    path = tmp_path / "book.csv"
    path.write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    result = runner.invoke(args=["import-csv", str(path), "--dataset", "cli"])
    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0
    assert "Excel" in result.output and "Traceback" not in result.output
    missing = runner.invoke(args=["import-csv", str(tmp_path / "nope.csv"), "--dataset", "cli"])
    assert missing.exit_code != 0 and "Traceback" not in missing.output
    bad_map = runner.invoke(args=["import-csv", str(DATA / "basic.csv"), "--dataset", "cli",
                                  "--map", "lat"])
    assert bad_map.exit_code == 1 and "FIELD=COLUMN" in bad_map.output


def test_import_csv_json_refusal_prints_the_error_object(app, runner, fake_regions,  # noqa: F811
                                                         tmp_path):
    path = tmp_path / "book.csv"
    path.write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    plain_run = runner.invoke(args=["import-csv", str(path), "--dataset", "cli"])
    result = runner.invoke(args=["import-csv", str(path), "--dataset", "cli", "--json"])
    assert result.exit_code == plain_run.exit_code == 1
    body = json.loads(result.stdout)
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] and "Excel" in body["error"]["message"]
    # the one-line reason is still on standard error, with no traceback
    assert result.stderr.strip().count("\n") == 0 and "Excel" in result.stderr
    assert "Traceback" not in result.output
    missing = runner.invoke(args=["import-csv", str(tmp_path / "nope.csv"), "--dataset", "cli",
                                  "--json"])
    assert missing.exit_code == 1
    assert json.loads(missing.stdout)["error"]["code"] == "not_found"
    bad_map = runner.invoke(args=["import-csv", str(DATA / "basic.csv"), "--dataset", "cli",
                                  "--map", "lat", "--json"])
    assert bad_map.exit_code == 1
    assert "FIELD=COLUMN" in json.loads(bad_map.stdout)["error"]["message"]


def test_export_formats(app, runner, fake_regions, tmp_path):  # noqa: F811
    runner.invoke(args=["import-csv", str(DATA / "formula.csv"), "--dataset", "cli"])
    runner.invoke(args=["import-csv", str(DATA / "zero_padded.csv"), "--dataset", "cli"])
    out = runner.invoke(args=["export", "--dataset", "cli", "--format", "csv"])
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert lines[0].startswith("id,source_id,occurred_at")
    assert "'=HYPERLINK" in out.output and "-122.7566" in out.output
    assert '"{""port_code"": ""0123""' in out.output
    geo = runner.invoke(args=["export", "--dataset", "cli", "--format", "geojson"])
    doc = json.loads(geo.output)
    assert doc["type"] == "FeatureCollection" and len(doc["features"]) == 2
    assert doc["features"][0]["geometry"]["type"] == "Point"
    target = tmp_path / "out.gpkg"
    result = runner.invoke(args=["export", "--dataset", "cli", "--format", "gpkg",
                                 "--output", str(target)])
    assert result.exit_code == 0, result.output
    assert len(pyogrio.read_dataframe(target)) == 2
    missing = runner.invoke(args=["export", "--dataset", "nope", "--format", "csv"])
    assert missing.exit_code == 1 and "no dataset" in missing.output


def test_build_copies_warms_every_dataset_and_drops_deleted_ones(app_factory):
    app = app_factory(COLUMNAR=True)
    folder = Path(app.config["COLUMNAR_FOLDER"])
    seed_dataset(app, "one")
    seed_dataset(app, "draft", published=False)
    copies_for(app).wait(60)  # the commits' own builds
    for path in folder.glob("*.duckdb"):
        path.unlink()
    stale = folder / "99-20200101T000000000000-v1-00000000.duckdb"  # a deleted dataset's
    stale.write_bytes(b"old")
    result = app.test_cli_runner().invoke(args=["build-copies"])
    assert result.exit_code == 0, result.output
    with db.engine_for(app.config["DATABASE_URL"]).connect() as conn:
        expected = {store.copy_path(folder, store.get_dataset(conn, slug)).name
                    for slug in ("one", "draft")}
    assert {p.name for p in folder.glob("*.duckdb")} == expected
    assert "Removed 1 copy file(s) of deleted datasets." in result.output
    missing = app.test_cli_runner().invoke(args=["build-copies", "nope"])
    assert missing.exit_code == 1 and "no dataset 'nope'" in missing.output
    off = app_factory(COLUMNAR=False).test_cli_runner().invoke(args=["build-copies"])
    assert off.exit_code == 1 and "GEOMAP_COLUMNAR=false" in off.output

"""Fuzzing the app over HTTP: mutated CSV uploads (API, form preview and import), random
filter queries on every public endpoint and the sign-in ``next``, on SQLite and PostgreSQL.

The strategies and properties live in tests/fuzz_http.py (shared with bench/fuzz.py, which
runs them for longer). Here each property runs a bounded, derandomized number of examples
(profile ``ci``; ``GEOMAP_FUZZ_PROFILE=dev`` for 10x, random and shrunk) against one app per
test function: the hypothesis test is defined inside the test function, so the app fixture is
built once and shared by its examples, which use fresh dataset slugs or the seeded ``base``.
"""

from __future__ import annotations

import io

import pytest
from hypothesis import example, given, strategies as st

import fuzz_http as fz
from fuzz_http import (check_api_import, check_form_import, check_query, check_signin_next,
                       corpus_files, good_files, import_cases, profile_settings, queries,
                       tiny_files)
from geomap import filters


@pytest.fixture
def env(database_url, app_factory):
    environment = fz.make_env(app_factory(DATABASE_URL=database_url))
    yield environment
    environment.close()


def run(env, strategy, check, weight, pinned=()):
    """Run `check(env, example)` over `weight` x the profile's examples of `strategy`, after
    the `pinned` ones (minimal examples bench/fuzz.py found, kept as regressions)."""
    @profile_settings(weight)
    @given(strategy)
    def prop(example):
        check(env, example)

    for case in reversed(pinned):
        prop = example(case)(prop)

    prop()
    # Shown with a failure (or with -s): what the examples reached, and why files were refused.
    print(dict(env.outcomes), dict(env.refusals))
    return env.outcomes


def deep(outcomes, *labels):
    """The fuzzer must not only produce garbage refused at the door: each label was seen."""
    missing = [label for label in labels if not outcomes[label]]
    assert not missing, f"no example reached {missing}: {dict(outcomes)}"


#: Minimal examples bench/fuzz.py found in the corpus mutations (run first, every time).
CORPUS_PINNED = (
    # A header with quoted newlines, mapped by number: a malformed record without a line
    # number meets a row error, and ingest.report._issue_list wrote into a read-only array (500).
    fz.ImportCase(b',lat,"lon\nlon",date\n,lat,"lon\nlon",date\n49.0021,-122.7566,03/02/2025\n'
                  b'48.99,-122.48,04/05/2025\n', existing=False, extra=(("map_lon", "2"),),
                  label="ambiguous_dates.csv"),
    # A malformed record with a field over 128 KiB: the csv module's field limit (500).
    fz.ImportCase(b",lat,lon,date\n" + b"x" * 200_000, existing=False,
                  label="ambiguous_dates.csv"),
)


def test_api_imports_of_mutated_corpus_files(env):
    outcomes = run(env, import_cases(corpus_files()), check_api_import, 1.0, CORPUS_PINNED)
    deep(outcomes, "imported rows", "refused", "some rows rejected")


def test_api_imports_of_good_files_with_one_damaged_record(env):
    outcomes = run(env, import_cases(good_files()), check_api_import, 0.6)
    deep(outcomes, "imported rows", "some rows rejected")


def test_api_imports_of_tiny_files(env):
    outcomes = run(env, import_cases(tiny_files, label="tiny"), check_api_import, 1.0)
    deep(outcomes, "refused")


def _good(text: str, damage: str, encoding: str = "utf-8") -> fz.ImportCase:
    """A pinned new-dataset import of a three-row good file whose first record is damaged."""
    good = fz.GoodFile(text.encode(encoding), rows=3, damage=damage, damaged=0,
                       encoding=encoding)
    return fz.ImportCase(good.data, existing=False, oracle=good)


#: Minimal examples bench/fuzz.py found through the form (run first, every time).
FORM_PINNED = (
    # A 400-digit longitude in WKT: inf passed validation, NOT NULL failed on insert (500).
    _good(
        "location,date,notes\nPOINT (" + fz.HUGE + " 49.0021),2025-01-01,note 0\n"
        "POINT (-122.480001 48.990001),2025-02-02,note 1\n"
        "POINT (-73.450002 45.010002),2025-03-03,note 2\n", "huge_number"),
    # UTF-16 with U+0000 in a cell: PostgreSQL's COPY refused it (500 on PostgreSQL only).
    _good(
        "id,lat,lon,date,type,count,direction,description\n"
        "S0-0,49.0021,-122.7566,2025-01-01,sighting,1,northbound,row 0\x00x\n"
        "S0-1,48.990001,-122.480001,2025-02-02,sighting,2,northbound,row 1\n"
        "S0-2,45.010002,-73.450002,2025-03-03,sighting,3,northbound,row 2\n", "control",
        "utf-16"),
)


def test_form_preview_and_import(env):
    files = st.one_of(corpus_files(), good_files(), tiny_files.map(lambda b: ("tiny", b)))
    outcomes = run(env, import_cases(files), check_form_import, 0.8, FORM_PINNED)
    deep(outcomes, "imported rows", "preview refused")


def test_filter_queries_on_public_endpoints(env):
    outcomes = run(env, queries(), check_query, 3.0)
    deep(outcomes, "query 200", "query 4xx")


def test_signin_next(env):
    deep(run(env, fz.NEXT_VALUES, check_signin_next, 0.4), "signed in")


# --- the harness itself -----------------------------------------------------------------------

def test_harness_reports_a_500_with_its_traceback(env, monkeypatch):
    def boom(args):
        raise RuntimeError("planted")

    monkeypatch.setattr(filters, "parse", boom)
    query = fz.Query("/api/datasets/{slug}/stats", fz.BASE_SLUG, (), "", False)
    with pytest.raises(fz.Failure) as caught:
        check_query(env, query)
    assert "500 on GET /api/datasets/<slug>/stats: builtins.RuntimeError" in str(caught.value)
    assert "planted" in str(caught.value)


def test_harness_reports_a_write_by_a_refused_import(env):
    """`_refused` compares the whole database with its state before the request."""
    before = fz.fingerprint(env)
    case = fz.ImportCase(fz.CORPUS["basic.csv"], existing=False)
    assert check_api_import(env, case) == "imported rows"
    with pytest.raises(fz.Failure, match="refused import wrote"):
        fz._refused(env, before, "planted", env.client.get("/missing"), case)


def test_harness_oracle_catches_lost_rows(env):
    good = fz.GoodFile(b"", rows=5, damage="extra_field", damaged=0, encoding="utf-8")
    report = {"rows_imported": 1, "rows_updated": 0, "rows_unchanged": 0, "rows_rejected": 4,
              "errors": [{}]}
    with pytest.raises(fz.Failure, match="cost other rows"):
        fz._check_oracle(good, report, "planted")
    fz._check_oracle(good, dict(report, rows_imported=4, rows_rejected=1), "fine")


# --- regressions for defects the fuzzer found -------------------------------------------------

def test_malformed_record_with_a_field_over_the_csv_module_limit(env):
    """A record with the wrong number of fields and one over 128 KiB: pyarrow reads it, the
    rejected-rows file split it with Python's csv module, whose field limit raised -> 500."""
    body = b"lat,lon,date\n" + b"x" * 140_000 + b"\n49.0021,-122.7566,2025-01-03\n"
    response = env.client.post(f"/api/datasets/{env.fresh_slug()}/incidents", data=body,
                               headers={**env.auth, "Content-Type": "text/csv"})
    assert response.status_code == 201, response.get_data(as_text=True)[:500]
    report = response.json
    assert (report["rows_imported"], report["rows_rejected"]) == (1, 1)
    assert report["errors"][0]["row"] == 2
    assert "has 1 fields" in report["errors"][0]["message"]
    rejected = env.client.get(f"/api/datasets/{report['dataset']}/imports/"
                              f"{report['import_id']}/rejected.csv", headers=env.auth)
    assert rejected.status_code == 200 and "has 1 fields" in rejected.get_data(as_text=True)


@pytest.mark.parametrize("field", ["title", "source", "license", "description"])
def test_nul_in_a_dataset_text_is_refused_not_a_500(env, field):
    """U+0000 in an import's dataset texts gave a 500 on PostgreSQL (cannot store it)."""
    before = fz.fingerprint(env)
    response = env.client.post(f"/api/datasets/{env.fresh_slug()}/incidents?{field}=a%00b",
                               data=fz.CORPUS["basic.csv"],
                               headers={**env.auth, "Content-Type": "text/csv"})
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert response.json["error"]["details"] == {"field": field}
    assert fz.fingerprint(env) == before
    edit = env.editor.post(f"/editor/datasets/{fz.BASE_SLUG}",
                           data={"title": "Base", field: "a\x00b"})
    assert edit.status_code == 400 and "NUL" in edit.get_data(as_text=True)


def test_nul_in_the_upload_file_name_is_dropped_from_the_audit_trail(env):
    """U+0000 in the uploaded file's name (kept for the audit trail) gave a 500 on
    PostgreSQL, through the API and the form."""
    response = env.client.post(
        f"/api/datasets/{env.fresh_slug()}/incidents",
        data={"file": (io.BytesIO(fz.CORPUS["basic.csv"]), "a\x00b.csv")}, headers=env.auth,
        content_type="multipart/form-data")
    assert response.status_code == 201, response.get_data(as_text=True)[:300]
    assert fz.import_record(env, response.json["import_id"])["filename"] == "ab.csv"
    case = fz.ImportCase(fz.CORPUS["basic.csv"], existing=False, filename="c\x00d.csv")
    assert check_form_import(env, case) == "imported rows"

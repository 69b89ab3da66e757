"""French and units (#21 item 2): the catalogue, locale formats, units, and what readers get
in each language from map pages, embeds, legends, popups and static images."""

from __future__ import annotations

import datetime as dt
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from geomap import filters, language, maps
from geomap.errors import BadRequest
from geomap.language import Words
from ingest_helpers import fake_regions  # noqa: F401  (fixture)
from maps_fixtures import display_layers, map_frame, map_html, map_payload, seed_dataset

ROOT = Path(__file__).resolve().parents[1]
PO = ROOT / "geomap/translations/fr/LC_MESSAGES/messages.po"
MO = PO.with_suffix(".mo")
NBSP = "\xa0"  # Canadian French groups digits with a no-break space


# --- the catalogue ------------------------------------------------------------------------

def test_committed_mo_is_the_po_compiled():
    """The .mo is committed (a fresh clone needs no build step): it must be the .po compiled,
    so `make translations` was run after the last edit."""
    with PO.open("rb") as f:
        catalog = read_po(f, locale="fr")
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    assert MO.read_bytes() == buffer.getvalue(), "run `make translations`"


def test_every_string_in_the_code_has_a_french_translation(tmp_path):
    """Extract the strings as `make translations` does: none may lack a French msgstr."""
    pot = tmp_path / "messages.pot"
    subprocess.run([str(Path(sys.executable).with_name("pybabel")), "extract", "-F",
                    "babel.cfg", "-k", "lazy_gettext", "--no-location", "-o", str(pot), "."],
                   cwd=ROOT, check=True, capture_output=True)
    with pot.open("rb") as f:
        wanted = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(f) if m.id}
    with PO.open("rb") as f:
        catalog = read_po(f, locale="fr")
    translated = {m.id if isinstance(m.id, str) else m.id[0] for m in catalog
                  if m.id and m.string and (isinstance(m.string, str) or all(m.string))
                  and not m.fuzzy}
    assert wanted - translated == set(), "translate these in messages.po"


# --- words, numbers, dates, units ---------------------------------------------------------

def test_numbers_and_dates_per_locale():
    en, fr = Words.for_("en"), Words.for_("fr")
    assert en.decimal(1234.5) == "1,234.5" and fr.decimal(1234.5) == f"1{NBSP}234,5"
    assert en.number(1234) == "1,234" and fr.number(1234) == f"1{NBSP}234"
    assert en.date(dt.date(2026, 12, 7)) == "December 7, 2026"
    assert fr.date(dt.date(2026, 12, 7)) == "7 décembre 2026"
    assert en.compact(1_500_000) == "1.5M" and fr.compact(1_500_000) == f"1,5{NBSP}M"
    assert fr.gettext("none recorded") == "aucun enregistré"
    assert fr.ngettext("%(total)s counted in %(num)s record known only by sector or "
                       "state/province are not drawn here: see the choropleth by sector or "
                       "by state/province.",
                       "%(total)s counted in %(num)s records known only by sector or "
                       "state/province are not drawn here: see the choropleth by sector or "
                       "by state/province.", 5, total="12").startswith("12, comptés dans 5 ")


def test_units_default_by_language_and_convert():
    assert Words.for_("fr").units == "km" and Words.for_("en").units == "mi"
    assert Words.for_("fr", "mi").units == "mi" and Words.for_("en", "km").units == "km"
    # A per-100-mile rate times 100/160.934 is the per-100-km rate.
    assert Words.for_("en", "km").rate_factor() == pytest.approx(100 * 100 / 160.9344)
    assert Words.for_("en").border_position(100) == "border mile 100"
    assert Words.for_("fr").border_position(100) == "km 160 de la frontière"  # 160.9


def test_lang_and_units_parameters():
    parsed = filters.parse({"lang": "fr-CA", "units": "miles"})
    assert parsed["lang"] == "fr" and parsed["units"] == "mi"
    # The canonical query names units only when they differ from the language's default.
    assert filters.canonical_query(filters.parse({"lang": "fr", "units": "km"})) == "lang=fr"
    assert filters.canonical_query(filters.parse({"lang": "fr", "units": "mi"})) \
        == "lang=fr&units=mi"
    assert filters.canonical_query(filters.parse({"lang": "en", "units": "mi"})) == ""
    assert filters.canonical_query(filters.parse({"units": "km"})) == "units=km"
    for bad in ({"units": "ft"}, {"lang": "de"}):
        with pytest.raises(BadRequest) as info:
            filters.parse(bad)
        assert info.value.details["parameter"] == next(iter(bad))


# --- legends, popups, images (no Flask) ---------------------------------------------------

def test_french_legend_popup_and_region_names():
    frame = map_frame(30).assign(border_mile=100.0, admin1="CA-BC", country="CA",
                                 sector="BLW", direction="northbound")
    html = map_html(frame, layer="cluster", lang="fr", units="km")
    assert '<html lang="fr">' in html and "Incidents un par un" in html
    data = map_payload(html, "cluster")
    assert data["borderPosition"] == "km {n} de la frontière"
    assert {row[7] for row in data["rows"]} == {160}  # border mile 100 is in km 160
    assert data["places"] == ["Colombie-Britannique, côté canadien · secteur de Blaine"]
    assert data["directions"] == ["vers le nord"]
    assert all(re.fullmatch(r"\d{1,2} \w+\.? 2025", d) for d in data["dates"]), data["dates"]
    setup = map_payload(html, "setup")
    assert setup["words"]["locale"] == "fr-CA" and setup["words"]["play"] == "Lire"
    assert setup["words"]["attribution"].startswith("Limites © contributeurs d’OpenStreetMap")


@pytest.mark.parametrize("by, per", [("border_segment", "count"), ("admin1", "border_mile")])
def test_rates_per_100_km_are_the_per_100_mile_rates_converted(by, per):
    frame = map_frame(40).assign(admin1=["US-WA"] * 30 + ["CA-BC"] * 10, count=2,
                                 border_mile=[10.0] * 30 + [250.0] * 10)
    miles = {"US-WA": 400.0, "CA-BC": 1000.0}
    values = {}
    for units in ("mi", "km"):
        html = map_html(frame, layer="choropleth", by=by, per=per, border_miles=miles,
                        lang="fr", units=units)
        data = map_payload(html, "regions")
        values[units] = {f["properties"]["code"]: f["properties"]["value"]
                         for f in data["features"]["features"]}
        assert data["per"] == ("par 100 km de frontière" if units == "km"
                               else "par 100 milles de frontière")
        assert data["per"] in html  # the legend's unit says it too
    for code, per_100_miles in values["mi"].items():
        assert values["km"][code] == pytest.approx(per_100_miles * 100 / 160.9344, abs=1e-3)
    if by == "admin1":
        assert values["mi"]["US-WA"] == 15  # 60 over 400 miles: 15 per 100 miles
        html = map_html(frame, layer="choropleth", by=by, per=per, border_miles=miles,
                        lang="fr", units="km")
        assert "Nombre par État ou province" in html and "aucun enregistré" in html


def test_french_static_image_names_and_summary():
    layers = display_layers()
    spec = maps.MapSpec(title="t", layer="choropleth", lang="fr")
    frame = map_frame(2000).assign(admin1="CA-BC")
    agg = maps.aggregate_frame(frame, spec, layers)
    fig, drawn = maps.draw_png(agg, spec, layers, size=(1200, 630))
    assert "Colombie-Britannique" in drawn.label_texts
    texts = [t.get_text() for t in fig.texts]
    assert any(f"2{NBSP}000 incidents, total" in t for t in texts), texts
    assert any(t.startswith("Limites ©") for t in texts), texts


# --- pages and embeds ---------------------------------------------------------------------

@pytest.fixture
def dataset(app, fake_display_layers):
    return seed_dataset(app, title="Crossings", source="RCMP")


def test_map_page_follows_lang_then_accept_language(client, dataset):
    fr = client.get("/maps/wa-bc", headers={"Accept-Language": "fr-CA,fr;q=0.9"})
    text = fr.get_data(as_text=True)
    assert fr.status_code == 200 and '<html lang="fr">' in text
    assert "Intégrer cette carte" in text and "Carte de densité" in text
    assert "Accept-Language" in fr.headers.get("Vary", "")
    assert "/embed/wa-bc?lang=fr" in text  # the snippet in French, and the English one
    en_page = client.get("/maps/wa-bc?lang=en").get_data(as_text=True)
    # The French snippet of an English page takes French's default units (km), not miles.
    # (the snippets are text in a textarea: their quotes are escaped)
    assert "embed/wa-bc?lang=fr&#34;" in en_page and "lang=fr&amp;units=mi" not in en_page
    asked = client.get("/maps/wa-bc?lang=en&units=km").get_data(as_text=True)
    assert "embed/wa-bc?units=km&#34;" in asked and "embed/wa-bc?lang=fr&#34;" in asked
    assert "La même carte en anglais" in text
    en = client.get("/maps/wa-bc", headers={"Accept-Language": "en-US"})
    assert "Embed this map" in en.get_data(as_text=True)
    assert en.headers["ETag"] != fr.headers["ETag"]
    # ?lang= wins over the browser, and the response then depends on the URL only.
    asked = client.get("/maps/wa-bc?lang=en", headers={"Accept-Language": "fr"})
    assert "Embed this map" in asked.get_data(as_text=True)
    assert "Accept-Language" not in asked.headers.get("Vary", "")


def test_embed_follows_lang_only_and_never_serves_one_language_to_the_other(client, dataset):
    fr = client.get("/embed/wa-bc?lang=fr")
    assert "Voir la carte en grand" in fr.get_data(as_text=True)
    # Kept by the fast path; an English request for the same map gets English.
    again = client.get("/embed/wa-bc?lang=fr")
    assert again.get_data() == fr.get_data()
    en = client.get("/embed/wa-bc", headers={"Accept-Language": "fr"})
    text = en.get_data(as_text=True)
    assert "View larger map" in text and "Voir la carte" not in text
    assert en.headers["ETag"] != fr.headers["ETag"]
    assert "Accept-Language" not in en.headers.get("Vary", "")
    # Revalidating with the French ETag does not make the English embed a 304.
    stale = client.get("/embed/wa-bc", headers={"If-None-Match": fr.headers["ETag"]})
    assert stale.status_code == 200 and "View larger map" in stale.get_data(as_text=True)
    # units=km is its own rendering too.
    km = client.get("/embed/wa-bc?units=km&layer=choropleth&by=border_segment")
    mi = client.get("/embed/wa-bc?layer=choropleth&by=border_segment")
    assert "per 100 km of border" in km.get_data(as_text=True)
    assert "per 100 miles of border" in mi.get_data(as_text=True)
    assert km.headers["ETag"] != mi.headers["ETag"]


@pytest.mark.parametrize("path", ["/maps/wa-bc", "/embed/wa-bc", "/maps/wa-bc.png"])
def test_bad_units_or_lang_is_a_clear_400(client, dataset, path):
    response = client.get(path + "?units=furlongs")
    assert response.status_code == 400
    assert "units" in response.get_data(as_text=True) and "km" in response.get_data(as_text=True)
    assert client.get(path + "?lang=de").status_code == 400


def test_png_and_oembed_follow_lang(client, dataset):
    fr = client.get("/maps/wa-bc.png?lang=fr")
    en = client.get("/maps/wa-bc.png", headers={"Accept-Language": "fr"})
    assert fr.status_code == en.status_code == 200 and fr.headers["ETag"] != en.headers["ETag"]
    page = client.get("/maps/wa-bc?lang=fr").get_data(as_text=True)
    assert "/maps/wa-bc.png?lang=fr" in page  # og:image in the page's language
    body = client.get("/oembed?url=http://localhost/maps/wa-bc?lang%3Dfr").get_json()
    assert "lang=fr" in body["html"] and "lang=fr" in body["thumbnail_url"]


def test_index_in_french(client, dataset):
    text = client.get("/?lang=fr").get_data(as_text=True)
    assert "Cartes publiées" in text and '<html lang="fr">' in text


def test_error_pages_speak_the_readers_language(client, dataset):
    bad = client.get("/maps/wa-bc?lang=fr&units=ft")
    text = bad.get_data(as_text=True)
    assert bad.status_code == 400 and '<html lang="fr">' in text
    assert "400: requête incorrecte" in text
    assert ("le paramètre &#39;units&#39; a la valeur &#39;ft&#39; ; attendu : l’une des "
            "valeurs mi, km") in text
    missing = client.get("/maps/nope", headers={"Accept-Language": "fr"})
    assert missing.status_code == 404 and "aucun jeu de données &#39;nope&#39;" in \
        missing.get_data(as_text=True)
    assert "Accept-Language" in missing.headers.get("Vary", "")
    unknown = client.get("/no/such/page", headers={"Accept-Language": "fr"})
    assert unknown.status_code == 404 and "404: introuvable" in unknown.get_data(as_text=True)
    assert "Il n’y a pas de page à cette adresse" in unknown.get_data(as_text=True)
    assert "Accept-Language" in unknown.headers.get("Vary", "")
    english = client.get("/maps/nope").get_data(as_text=True)
    assert "no dataset &#39;nope&#39;" in english and "404: not found" in english
    # JSON errors stay English (programs read them) unless ?lang= asks.
    api = client.get("/oembed?url=http://localhost/maps/nope&lang=fr").get_json()
    assert api["error"]["message"] == "aucun jeu de données 'nope'"
    assert client.get("/oembed?url=http://localhost/maps/nope",
                      headers={"Accept-Language": "fr"}).get_json()["error"]["message"] \
        == "no dataset 'nope'"


def test_time_control_periods_in_the_readers_language():
    html = map_html(map_frame(200), layer="time", period="month", lang="fr")
    data = map_payload(html, "time")
    assert data["periods"][0] == "2025-01" and data["labels"][0] == "janv. 2025"
    assert Words.for_("fr").period("2025-Q1") == "T1 2025"
    assert Words.for_("en").period("2025-01-06") == "week of Jan 6, 2025"


@pytest.mark.parametrize("path", ["/upload", "/auth/login"])
def test_editor_pages_stay_english_whatever_the_browser_or_query(client, dataset, path):
    """Editors' pages are English only (their catalogue is not complete): a French browser
    or ?lang=fr must not give a page half in each language."""
    for response in (client.get(path, headers={"Accept-Language": "fr"}, follow_redirects=True),
                     client.get(path + "?lang=fr", follow_redirects=True)):
        text = response.get_data(as_text=True)
        assert response.status_code == 200 and '<html lang="en">' in text, path
        assert "Cartes publiées" not in text and "Accept-Language" not in response.headers.get(
            "Vary", "")


def test_french_embed_names_states_and_provinces_in_french(client, dataset, app):
    """The summary sentence, the table and the basemap's names (tiles off) say the French
    names; the English embed keeps the English ones."""
    app.config["TILES"] = "none"  # the vector basemap, with its place names
    fr = client.get("/embed/wa-bc?lang=fr&layer=choropleth").get_data(as_text=True)
    en = client.get("/embed/wa-bc?layer=choropleth").get_data(as_text=True)
    summary_fr = re.search(r'<p class="gm-summary">(.*?)</p>', fr, re.S).group(1)
    summary_en = re.search(r'<p class="gm-summary">(.*?)</p>', en, re.S).group(1)
    assert summary_en.startswith("Most crossings: ")
    assert summary_fr.startswith("Le plus de passages : ")
    english_names = {"Washington": "État de Washington", "British Columbia":
                     "Colombie-Britannique"}
    named = [name for name in english_names if name in summary_en]
    assert named, summary_en
    assert all(english_names[name] in summary_fr for name in named), summary_fr
    table_fr = fr[fr.index("<table"):fr.index("</table>")]
    assert "Colombie-Britannique" in table_fr and "British Columbia" not in table_fr
    basemap = re.search(r'"names":\s*(\[\[.*?\]\])', fr, re.S)
    assert basemap and "Colombie-Britannique" in basemap.group(1), fr[:2000]
    assert "British Columbia" not in basemap.group(1)
    assert "British Columbia" in re.search(r'"names":\s*(\[\[.*?\]\])', en, re.S).group(1)

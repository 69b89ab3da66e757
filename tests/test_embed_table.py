"""The embed's table of counts and summary sentence, its show/hide options and the embed
builder's parameters (issue #21 items 4 and 6)."""

from __future__ import annotations

import datetime as dt
import html as htmllib
import json
import re
from html.parser import HTMLParser
from urllib.parse import parse_qsl, quote, urlsplit

import numpy as np
import pytest

from geomap import filters, maps
from geomap.maps import datatable
from geomap.web import published_embeds
from ingest_helpers import fake_regions  # noqa: F401  (fixture)
from maps_fixtures import incident_rows, seed_dataset

#: (year, admin1, sector, counts): one incident per count. Washington leads 2025 with
#: 300 + 300 + 300 + 334 = 1,234; 2019 falls before the five latest years (2021-2025).
KNOWN = [
    (2025, "US-WA", "BLW", [300, 300, 300, 334]), (2024, "US-WA", "BLW", [10, 10]),
    (2019, "US-WA", "BLW", [5]),
    (2025, "CA-BC", "BLW", [500]), (2023, "CA-BC", "BLW", [20, 20, 20]),
    (2025, "US-MT", "SPW", [1] * 6), (2021, "US-MT", "SPW", [2, 2]),
]


def known_rows():
    """The incidents of `KNOWN` (coordinates from the map fixtures; regions as listed)."""
    spec = [(year, admin1, sector, count) for year, admin1, sector, counts in KNOWN
            for count in counts]
    frame = incident_rows(len(spec))
    frame["occurred_at"] = [dt.datetime(year, 6, 1 + i % 27) for i, (year, *_r) in
                            enumerate(spec)]
    frame["admin1"] = [s[1] for s in spec]
    frame["country"] = [s[1][:2] for s in spec]
    frame["sector"] = [s[2] for s in spec]
    frame["count"] = np.array([s[3] for s in spec], dtype="int64")
    return frame


@pytest.fixture
def known(app, fake_display_layers):
    return seed_dataset(app, "known", frame=known_rows())


class _Tables(HTMLParser):
    """The cells of the embed's data table (header row first) and its caption."""

    def __init__(self):
        super().__init__()
        self.rows: list[list[tuple[str, str]]] = []
        self.caption = ""
        self._in = False
        self._cell: list[str] | None = None
        self._caption: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and "gm-data-table" in (attrs.get("class") or ""):
            self._in = True
        elif self._in and tag == "tr":
            self.rows.append([])
        elif self._in and tag in ("th", "td"):
            self._cell = [tag + ":" + (attrs.get("scope") or "")]
        elif self._in and tag == "caption":
            self._caption = []

    def handle_endtag(self, tag):
        if tag == "table":
            self._in = False
        elif self._in and tag in ("th", "td") and self._cell is not None:
            self.rows[-1].append((self._cell[0], "".join(self._cell[1:]).strip()))
            self._cell = None
        elif self._in and tag == "caption":
            self.caption = "".join(self._caption or [])
            self._caption = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        if self._caption is not None:
            self._caption.append(data)


def data_table(html: str) -> tuple[list[str], dict[str, list[str]], str]:
    """Return the embed table's column headings, its rows by region name, and caption."""
    parser = _Tables()
    parser.feed(html)
    if not parser.rows:
        return [], {}, ""
    head = [text for _kind, text in parser.rows[0]]
    assert all(kind == "th:col" for kind, _t in parser.rows[0])
    body = {}
    for row in parser.rows[1:]:
        assert row[0][0] == "th:row" and all(kind == "td:" for kind, _t in row[1:])
        body[row[0][1]] = [text for _kind, text in row[1:]]
    return head, body, parser.caption


def _number(text: str) -> int:
    return int(text.replace(",", ""))


def _summary(html: str) -> str:
    match = re.search(r'<p class="gm-summary">(.*?)</p>', html, flags=re.S)
    return htmllib.unescape(match.group(1)) if match else ""


# --- the table and the summary -----------------------------------------------------------

def test_embed_table_counts_equal_the_stats_api(any_app, fake_display_layers):
    seed_dataset(any_app, "known", frame=known_rows())
    client = any_app.test_client()
    html = client.get("/embed/known").get_data(as_text=True)
    head, body, caption = data_table(html)
    assert head == ["State or province", "Before 2021", "2021", "2022", "2023", "2024", "2025",
                    "Total"]
    assert "by state or province and year" in caption
    assert list(body) == ["Washington", "British Columbia", "Montana"]  # largest total first
    totals = {g["key"]: g["total"] for g in
              client.get("/api/datasets/known/stats?by=admin1").json["groups"]}
    names = {"Washington": "US-WA", "British Columbia": "CA-BC", "Montana": "US-MT"}
    for name, cells in body.items():
        code = names[name]
        assert _number(cells[-1]) == totals[code]
        years = {g["key"]: g["total"] for g in client.get(
            f"/api/datasets/known/stats?by=year&admin1={code}").json["groups"]}
        assert [_number(c) for c in cells[1:-1]] == [years.get(str(y), 0)
                                                      for y in range(2021, 2026)]
        assert _number(cells[0]) == sum(t for y, t in years.items() if int(y) < 2021)
    assert body["Washington"] == ["5", "0", "0", "0", "20", "1,234", "1,259"]
    # A filtered selection: the same parity, by sector this time.
    html = client.get("/embed/known?layer=choropleth&by=sector&from=2024").get_data(
        as_text=True)
    head, body, caption = data_table(html)
    assert head == ["Sector", "2024", "2025", "Total"] and "Border Patrol sector" in caption
    stats = {g["key"]: g["total"] for g in
             client.get("/api/datasets/known/stats?by=sector&from=2024").json["groups"]}
    assert {name: _number(cells[-1]) for name, cells in body.items()} == {
        "Blaine sector": stats["BLW"], "Spokane sector": stats["SPW"]}


def test_summary_sentence_on_a_known_fixture(client, known):
    assert _summary(client.get("/embed/known").get_data(as_text=True)) == (
        "Most crossings: Washington, 1,234 in 2025.")
    by_sector = client.get("/embed/known?layer=choropleth&by=sector").get_data(as_text=True)
    assert _summary(by_sector) == "Most crossings: Blaine sector, 1,734 in 2025."
    # Border segments are tabled (and summed up) by sector.
    segments = client.get("/embed/known?layer=choropleth&by=border_segment").get_data(
        as_text=True)
    assert _summary(segments) == "Most crossings: Blaine sector, 1,734 in 2025."
    assert _summary(client.get("/embed/known?to=2023").get_data(as_text=True)) == (
        "Most crossings: British Columbia, 60 in 2023.")
    assert _summary(client.get("/embed/known?from=2026").get_data(as_text=True)) == (
        "No incidents match this selection.")
    # The map page says it too, under its map.
    page = client.get("/maps/known").get_data(as_text=True)
    assert _summary(page) == "Most crossings: Washington, 1,234 in 2025."


def test_small_counts_are_hidden_as_everywhere_public(client, app, fake_display_layers):
    seed_dataset(app, "small", frame=known_rows(), min_public_count=5)
    html = client.get("/embed/small").get_data(as_text=True)
    head, body, caption = data_table(html)
    # British Columbia has 4 incidents: left out, as the stats API merges it into "hidden".
    assert list(body) == ["Washington", "Montana"]
    assert body["Washington"] == ["<5", "0", "0", "0", "<5", "<5", "1,259"]
    assert body["Montana"] == ["0", "<5", "0", "0", "0", "6", "10"]
    assert "“<5” marks fewer than 5 incidents" in caption
    assert "1 region with fewer than 5 incidents is not shown." in html
    assert _summary(html) == "Most crossings: Montana, 6 in 2025."
    stats = client.get("/api/datasets/small/stats?by=admin1").json
    assert {g["key"]: g["total"] for g in stats["groups"]} == {"US-WA": 1259, "US-MT": 10}
    assert stats["hidden"]["groups"] == 1
    # Rows cannot be downloaded: the table links the totals instead.
    assert "incidents.csv" not in html and "/api/datasets/small/stats" in html
    # Nothing at all above the threshold.
    html = client.get("/embed/small?admin1=CA-BC").get_data(as_text=True)
    assert data_table(html)[1] == {}
    assert _summary(html) == ("Each region counts fewer than 5 incidents here: figures are "
                              "not shown.")


def test_table_keeps_the_largest_regions(client, app, fake_display_layers):
    # 12 regions (codes the layers do not name keep their code), one incident each year.
    frame = incident_rows(12 * 7)
    codes = [f"US-A{chr(65 + k)}" for k in range(12)]
    frame["admin1"] = [codes[i % 12] for i in range(len(frame))]
    frame["occurred_at"] = [dt.datetime(2018 + i // 12, 3, 1) for i in range(len(frame))]
    frame["count"] = [1 + (i % 12) for i in range(len(frame))]
    seed_dataset(app, "many", frame=frame)
    html = client.get("/embed/many").get_data(as_text=True)
    head, body, _caption = data_table(html)
    assert head[1:-1] == ["Before 2020", "2020", "2021", "2022", "2023", "2024"]
    assert list(body) == codes[::-1][:10]  # the ten largest, largest first
    assert "The 10 regions with the largest totals, of 12." in html
    assert (datatable.MAX_REGIONS, datatable.MAX_YEARS) == (10, 5)


def test_summary_sentence_takes_the_callers_words_and_numbers():
    table = maps.DataTable(by="sector", threshold=1, years=["2025"], leader=("BLW", "2025",
                                                                             1234))

    def french(text, **values):
        words = {"Most crossings: %(region)s, %(count)s in %(year)s.":
                 "Le plus de passages : %(region)s, %(count)s en %(year)s."}
        return words[text] % values

    assert maps.summary_sentence(table, {"BLW": "secteur de Blaine"}, gettext=french,
                                 number=lambda n: f"{n:,}".replace(",", "\u202f")) == (
        "Le plus de passages : secteur de Blaine, 1\u202f234 en 2025.")
    assert maps.summary_sentence(table, {}) == "Most crossings: BLW, 1,234 in 2025."


# --- what the embed shows ----------------------------------------------------------------

def test_embed_hides_title_legend_and_table_when_asked(client, known):
    full = client.get("/embed/known").get_data(as_text=True)
    assert '<h1 class="gm-title">' in full and 'class="gm-legend' in full
    assert '<details class="gm-data">' in full and "<table" in full
    assert "<summary>Table: counts by region and year</summary>" in full
    bare = client.get("/embed/known?title=hide&legend=0&table=no").get_data(as_text=True)
    # The title stays for screen readers; the legend and table are gone; the summary stays.
    assert '<h1 class="gm-title gm-visually-hidden">' in bare
    assert 'class="gm-legend' not in bare
    assert "gm-data" not in bare and "<table" not in bare
    assert _summary(bare) == "Most crossings: Washington, 1,234 in 2025."


@pytest.mark.parametrize("param", ["title", "legend", "table"])
def test_bad_show_values_are_400_naming_the_parameter(client, known, param):
    response = client.get(f"/embed/known?{param}=maybe")
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert f"parameter &#39;{param}&#39; has value &#39;maybe&#39;" in text or (
        f"parameter '{param}' has value 'maybe'" in text)
    assert "one of show, hide" in text
    api = client.get(f"/embed/known?{param}=maybe", headers={"Accept": "application/json"})
    assert api.status_code == 400


def test_options_key_embeds_and_not_pages(app, client, known):
    def etag(url):
        response = client.get(url)
        assert response.status_code == 200, url
        return response.headers["ETag"]

    embeds = {etag("/embed/known" + q) for q in (
        "", "?title=hide", "?legend=hide", "?table=hide", "?title=hide&legend=hide&table=hide")}
    assert len(embeds) == 5
    # Defaults and their aliases name one rendering.
    assert etag("/embed/known?table=show&title=1") == etag("/embed/known")
    assert etag("/embed/known?table=0") == etag("/embed/known?table=hide")
    # A map page ignores them: one rendering, and its links carry no embed-only option.
    assert etag("/maps/known?table=hide") == etag("/maps/known")
    page = client.get("/maps/known?table=hide&legend=hide").get_data(as_text=True)
    assert 'class="gm-legend' in page and "table=hide" not in page
    # The embed fast path computes the view's ETag for the options too.
    fast = published_embeds.PublishedEmbeds(app.wsgi_app, app)
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/embed/known",
               "QUERY_STRING": "legend=off&title=hide", "wsgi.url_scheme": "http",
               "HTTP_HOST": "localhost", "SERVER_NAME": "localhost", "SERVER_PORT": "80"}
    assert f'"{fast._etag(environ)}"' == etag("/embed/known?title=hide&legend=hide")


# --- the builder's parameters ------------------------------------------------------------

def test_builder_parameters_round_trip_into_snippet_and_oembed(client, known):
    page = client.get("/maps/known?admin1=US-WA").get_data(as_text=True)
    form = re.search(r'<form class="gm-builder" id="gm-builder" hidden(.*?)>', page,
                     flags=re.S).group(1)
    attrs = {k: htmllib.unescape(v) for k, v in re.findall(r'data-([\w-]+)="([^"]*)"', form)}
    assert attrs["embed"] == "http://localhost/embed/known"
    assert attrs["oembed"] == "http://localhost/oembed"
    keys = attrs["keys"].split()
    assert keys[:len(filters.PARAMS)] == list(filters.PARAMS)
    assert sorted(keys) == sorted(set(filters.PARAMS) | {"lang", "units"})
    assert json.loads(attrs["defaults"]) == filters.DEFAULTS
    # Without JavaScript the default snippet and oEmbed URL name this selection's embed.
    assert 'src="http://localhost/embed/known?admin1=US-WA"' in htmllib.unescape(page)
    assert ('value="http://localhost/oembed?url=http%3A%2F%2Flocalhost%2Fembed%2Fknown%3F'
            'admin1%3DUS-WA"') in page
    # What the builder writes, oEmbed gives back: options, selection and height.
    chosen = ("admin1=US-WA&layer=choropleth&theme=dark&title=hide&legend=hide&table=hide")
    body = client.get("/oembed?url=" + quote(f"http://localhost/embed/known?{chosen}"
                                             "&height=720")).json
    src = re.search(r'src="([^"]*)"', body["html"]).group(1)
    assert urlsplit(htmllib.unescape(src)).query == chosen
    assert body["height"] == 720 and 'height="720"' in body["html"]
    # The consumer's maxheight still bounds it; the default stays 500.
    assert client.get("/oembed?url=" + quote("http://localhost/embed/known?height=720")
                      + "&maxheight=400").json["height"] == 400
    assert client.get("/oembed?url=" + quote("http://localhost/embed/known")).json[
        "height"] == 500
    # The embed itself ignores height (one rendering), and renders what the URL asks.
    embed = client.get(f"/embed/known?{chosen}&height=720")
    assert embed.headers["ETag"] == client.get(f"/embed/known?{chosen}").headers["ETag"]
    assert "gm-dark" in embed.get_data(as_text=True)


@pytest.mark.parametrize("height", ["50", "abc", "99999"])
def test_oembed_height_out_of_range_is_400(client, known, height):
    response = client.get("/oembed?url=" + quote(f"http://localhost/embed/known?height={height}"))
    assert response.status_code == 400
    assert response.json["error"]["details"]["parameter"] == "height"


def test_canonical_query_puts_the_options_last():
    params = filters.parse({"table": "hide", "legend": "no", "title": "show",
                            "layer": "time", "from": "2025"})
    assert filters.canonical_query(params) == "from=2025-01-01&layer=time&legend=hide&table=hide"
    assert filters.canonical_query(params, keys=filters.PAGE_KEYS) == "from=2025-01-01&layer=time"
    assert dict(parse_qsl(filters.canonical_query(filters.page_params(params)))) == {
        "from": "2025-01-01", "layer": "time"}

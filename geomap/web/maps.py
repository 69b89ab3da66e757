"""Map pages, embeds, static images and oEmbed (blueprint ``maps``).

Every rendering view answers through `geomap.web.rendering.rendered` (304, the render cache,
or a new rendering). Pages are public and session-free (no cookies), so they may be cached by
shared caches; repeated anonymous embed requests are answered before Flask by
`geomap.web.published_embeds.PublishedEmbeds`, installed here.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Callable
from urllib.parse import parse_qsl, urlencode, urlsplit

from flask import Blueprint, current_app, render_template, request, url_for
from flask_babel import format_decimal, gettext
from markupsafe import escape
from werkzeug.datastructures import MultiDict

from .. import disclosure, filters, i18n, maps, security, store
from ..db import get_db
from ..errors import BadRequest, GeomapError, NotFound
from ..regions.names import admin1_name
from . import layers as web_layers
from . import caching, columnar, map_table, rendering
from .published_embeds import PublishedEmbeds
from .render_cache import cache
from ..language import LANGUAGES

bp = Blueprint("maps", __name__)
LOGGER = logging.getLogger(__name__)


@bp.record_once
def _check_assets(state) -> None:
    """Warn at startup when the vendored Leaflet files were not built (maps would be blank)."""
    static = state.app.static_folder or ""
    missing = [path for _name, path in (maps.LEAFLET_JS, maps.HEAT_JS, maps.CLUSTER_JS)
               if not os.path.exists(os.path.join(static, path))]
    if missing:
        LOGGER.warning("map assets missing under %s: %s; run `npm ci && npm run build`",
                       static, ", ".join(missing))

PNG_SIZE = (1200, 630)
#: The narrowest static image served (``width`` of ``/maps/<slug>.png``); oEmbed offers no
#: thumbnail when the consumer's limits leave less.
PNG_MIN_WIDTH = 200
EMBED_HEIGHT = 500
#: The heights an embed's frame may be given (the builder's ``height``, read by oEmbed from
#: the URL it is asked about).
EMBED_HEIGHTS = (200, 2000)


def png_height(width: int) -> int:
    """Return the height of a static image ``width`` pixels wide (the 1200:630 ratio)."""
    return (width * PNG_SIZE[1] * 2 + PNG_SIZE[0]) // (PNG_SIZE[0] * 2)  # rounded half up


def png_fit(max_width: int | None, max_height: int | None) -> tuple[int, int] | None:
    """Return the largest static image size within the limits (None: below the minimum)."""
    width = PNG_SIZE[0]
    if max_width is not None:
        width = min(width, max_width)
    if max_height is not None:
        width = min(width, max_height * PNG_SIZE[0] // PNG_SIZE[1])
    if width < PNG_MIN_WIDTH:
        return None
    return width, png_height(width)


@bp.record_once
def _install_fast_path(state) -> None:
    caching.init_app(state.app)  # the render cache and dataset heads both paths read
    state.app.wsgi_app = PublishedEmbeds(state.app.wsgi_app, state.app)


def _setting(name: str) -> Any:
    return current_app.config[name]  # every setting has its default in config.SETTINGS


def _spec(dataset: dict, params: dict, *, embed: bool) -> maps.MapSpec:
    return maps.MapSpec.from_filters(
        params, tiles=str(current_app.config.get("TILES", "openstreetmap")).lower(),
        title=dataset["title"], source=dataset.get("source") or "",
        license=dataset.get("license") or "", updated=dataset.get("updated_at"), embed=embed,
        static_url=url_for("static", filename="").rstrip("/"),
        min_public_count=disclosure.rendered_threshold(dataset),
        heat_max_cells=int(_setting("MAP_HEAT_MAX_CELLS")),
        cluster_limit=int(_setting("MAP_CLUSTER_LIMIT")),
        border_miles=_border_miles(params))


def _border_miles(params: dict) -> dict[str, float] | None:
    """Miles of border per region, loaded only for a per-border-mile choropleth."""
    if params.get("per") != "border_mile" or params.get("layer") != "choropleth":
        return None
    return web_layers.border_miles()


def _csp(script_hashes: list[str], *, embed: bool) -> str:
    tiles = str(current_app.config.get("TILES", "")).lower()
    return security.map_csp(current_app.config, script_hashes, embed=embed,
                            tile_origin=maps.OSM_ORIGIN if tiles == "openstreetmap" else None)


#: What keys a static image: the selection, how a choropleth is drawn, language and units.
PNG_KEYS = filters.SELECTION_KEYS + ("layer", "by", "per") + filters.READER_KEYS


def png_params(params: dict) -> dict:
    """Return the filters a static image draws: a choropleth as such, any other layer as heat
    (in the language and units of ``?lang=``/``?units=``)."""
    params = i18n.reader_options(params)
    if params.get("layer") == "choropleth":
        return params
    return dict(params, layer="heat", by=filters.DEFAULTS["by"], per=filters.DEFAULTS["per"])


def _admin1_names(lang: str = "en") -> dict[str, str]:
    """Return state and province names by code from the display layers (empty without them),
    in the reader's language (`regions.names.admin1_name`)."""
    layer = web_layers.region_layers().get("admin1")
    if layer is None or "name" not in layer:
        return {}
    return {str(code): admin1_name(str(code), lang, default=str(name))
            for code, name in zip(layer["code"], layer["name"])}


def _map_bundle(conn, dataset: dict, params: dict, spec: maps.MapSpec) -> dict:
    """Aggregate, build and render the map for one request (the expensive part)."""
    selection = filters.selection(params)
    layers = web_layers.region_layers()
    agg = maps.aggregate_db(conn, dataset["id"], selection, spec, layers)
    built = maps.build_map(agg, spec, layers)
    parts = maps.render_parts(built)
    info = maps.legend(agg, spec)
    return {"agg": agg, "parts": parts, "legend": maps.legend_html(info),
            "credit": maps.credit_html(spec),
            "description": filters.describe(params, spec.words)}


def _data_table(conn, dataset: dict, params: dict, spec: maps.MapSpec) -> maps.DataTable:
    """The counts by region and year under a map (cached per version, regions and selection;
    numbers only, so every language shares it)."""
    selection_key = filters.canonical_query(params, keys=filters.SELECTION_KEYS)
    by = maps.table_regions(params["by"])
    return cache().get_or_make(
        f"datatable:{dataset['slug']}:{dataset['version']}:{by}:{selection_key}",
        lambda: maps.data_table(conn, dataset["id"], filters.selection(params), by,
                                spec.min_public_count))


def _region_names(by: str, lang: str = "en") -> dict[str, str]:
    """Names a reader knows for the table's regions ("Washington", "Blaine sector"), in the
    reader's language."""
    if by == "sector":
        return {code: gettext("%(name)s sector", name=name)
                for code, name in filters.SECTORS.items()}
    return _admin1_names(lang)


def _summary(table: maps.DataTable, lang: str = "en") -> str:
    return maps.summary_sentence(table, _region_names(table.by, lang), gettext=gettext,
                                 number=format_decimal)


def _links(slug: str, params: dict) -> dict:
    query = filters.canonical_query(params)
    selection = filters.canonical_query(params, keys=filters.SELECTION_KEYS)
    suffix = lambda q: ("?" + q) if q else ""  # noqa: E731
    page = url_for("maps.map_page", slug=slug, _external=True) + suffix(
        filters.canonical_query(params, keys=filters.PAGE_KEYS))
    embed = url_for("maps.embed", slug=slug, _external=True) + suffix(query)
    return {
        "page": page, "embed": embed,
        "png": url_for("maps.map_png", slug=slug, _external=True) + suffix(
            filters.canonical_query(png_params(params), keys=PNG_KEYS)),
        "oembed": url_for("maps.oembed", _external=True) + "?" + urlencode({"url": page}),
        # The builder's oEmbed request names the embed (its options and height ride in it).
        "oembed_embed": url_for("maps.oembed", _external=True) + "?" + urlencode(
            {"url": embed}),
        "csv": url_for("api_data.incidents", slug=slug, fmt="csv") + suffix(selection),
        "geojson": url_for("api_data.incidents", slug=slug, fmt="geojson") + suffix(selection),
        "stats": url_for("api_data.stats", slug=slug) + suffix(selection),
        "embed_js": url_for("static", filename="embed.js", _external=True),
        "layers": {layer: url_for("maps.map_page", slug=slug) + suffix(
            filters.canonical_query(params, keys=filters.PAGE_KEYS, layer=layer))
            for layer in filters.LAYERS},
    }


def embed_snippets(title: str, slug: str, params: dict, embed_js: str) -> dict[str, str]:
    """Return the embed snippet in each language, by language (units: each one's default
    unless the page asked for some)."""
    # The page's params carry the units resolved for its own language; another language's
    # snippet takes that language's default unless the reader chose units (?units=).
    units = params.get("units") if request.args.get("units") else None
    out = {}
    for lang in LANGUAGES:
        query = filters.canonical_query(dict(params, lang=lang, units=units))
        url = url_for("maps.embed", slug=slug, _external=True) + ("?" + query if query else "")
        out[lang] = embed_snippet(title, url, embed_js)
    return out


def embed_snippet(title: str, embed_url: str, embed_js: str) -> str:
    """Return the iframe snippet (SPEC §6) plus the optional auto-resize script."""
    return (f'<iframe src="{escape(embed_url)}" title="{escape(title)}" width="100%" '
            f'height="{EMBED_HEIGHT}" style="border:0" loading="lazy"></iframe>\n'
            f'<script src="{escape(embed_js)}" async></script>')


# --- routes -----------------------------------------------------------------------------------

@bp.get("/maps/<slug>")
def map_page(slug: str):
    """The full map page: map, filters, layer switch, embed snippet, table, chart, downloads."""
    def make(head: dict, params: dict) -> tuple[bytes, str]:
        conn = get_db()  # only when rendering: a cache hit needs no SQLAlchemy connection
        dataset = rendering.full_dataset(head)
        counts = columnar.connection(dataset)  # aggregations: the version's copy, if built
        spec = _spec(dataset, params, embed=False)
        bundle = _map_bundle(counts, dataset, params, spec)
        links = _links(slug, params)
        names = _admin1_names(spec.lang)
        # The table depends on the selection (and the language it is written in) only and
        # the form options on the version only, so switching layers or themes reuses them.
        selection_key = filters.canonical_query(params, keys=filters.SELECTION_KEYS)
        table = cache().get_or_make(
            f"table:{dataset['slug']}:{dataset['version']}:{selection_key}:{spec.lang}",
            lambda: map_table.table(counts, dataset, params, spec.min_public_count, names,
                                    spec.words))
        options = cache().get_or_make(f"options:{dataset['slug']}:{dataset['version']}",
                                      lambda: map_table.options(counts, dataset["id"]))
        summary = _summary(_data_table(counts, dataset, params, spec), spec.lang)
        html = render_template(
            "maps/page.html", dataset=dataset, params=params, spec=spec, bundle=bundle,
            links=links, table=table, options=options, summary=summary,
            builder=_builder(links, dataset),
            imports=store.list_imports(conn, dataset["id"])[:20],
            corrections=store.list_corrections(conn, dataset["id"]),
            snippet=embed_snippet(dataset["title"], links["embed"], links["embed_js"]),
            snippets=embed_snippets(dataset["title"], slug, params, links["embed_js"]),
            filter_values=_form_values(params), layers=filters.LAYERS,
            layer_labels=maps.LAYER_LABELS, by_labels=maps.BY_LABELS,
            sector_names=filters.SECTORS, admin1_names=names,
            script_tag=bundle["parts"].script_tag)
        return html.encode("utf-8"), _csp([bundle["parts"].script_hash], embed=False)

    # The embed's options (title, legend, table) change nothing here: left out of the key;
    # language and units are resolved for this request (Accept-Language on pages).
    return rendering.rendered(slug, "page", make, mimetype="text/html", public_age=None,
                              keys=filters.PAGE_KEYS,
                              adjust=lambda p: i18n.reader_options(filters.page_params(p)))


@bp.get("/embed/<slug>")
def embed(slug: str):
    """Minimal-chrome map for iframes: title, map, legend, credit, summary sentence, the
    table of counts by region and year (collapsed), 'view larger' link; ``title``, ``legend``
    and ``table`` (show/hide) choose what shows besides the map."""
    def make(head: dict, params: dict) -> tuple[bytes, str]:
        conn = get_db()  # only when rendering: a cache hit needs no SQLAlchemy connection
        dataset = rendering.full_dataset(head)
        counts = columnar.connection(dataset)  # aggregations: the version's copy, if built
        spec = _spec(dataset, params, embed=True)
        bundle = _map_bundle(counts, dataset, params, spec)
        links = _links(slug, params)
        data = _data_table(counts, dataset, params, spec)
        html = render_template("maps/embed.html", dataset=dataset, params=params, spec=spec,
                               bundle=bundle, links=links, summary=_summary(data, spec.lang),
                               corrections=store.list_corrections(conn, dataset["id"]),
                               data=map_table.embed_rows(data,
                                                         _region_names(data.by, spec.lang),
                                                         format_decimal),
                               script_tag=bundle["parts"].script_tag)
        return html.encode("utf-8"), _csp([bundle["parts"].script_hash], embed=True)

    # ?lang= only (geomap.i18n.ARGS_ONLY): one response per URL, as the fast path keys it.
    return rendering.rendered(slug, "embed", make, mimetype="text/html",
                              public_age=int(_setting("MAP_EMBED_MAX_AGE")),
                              adjust=i18n.reader_options)


@bp.get("/maps/<slug>.png")
def map_png(slug: str):
    """A static image of the selection for og:image, print and no-JS.

    A choropleth is drawn as one (``layer=choropleth`` with its ``by`` and ``per``); every
    other layer as its heat grid. ``width`` (PNG_MIN_WIDTH to 1200 pixels, default 1200)
    scales the image, keeping the 1200:630 ratio; each size has its own ETag and cache entry.
    """
    width = filters.whole_number("width", request.args.get("width"), low=PNG_MIN_WIDTH,
                                 high=PNG_SIZE[0], unit="of pixels") or PNG_SIZE[0]
    size = (width, png_height(width))

    def make(head: dict, params: dict) -> tuple[bytes, None]:
        dataset = rendering.full_dataset(head)
        spec = _spec(dataset, params, embed=False)
        layers = web_layers.region_layers()
        agg = maps.aggregate_db(columnar.connection(dataset), dataset["id"],
                                filters.selection(params), spec, layers)
        return maps.render_png(agg, spec, layers, size=size,
                               subtitle=filters.describe(params, spec.words)), None

    # The full size keeps the kind (and so the ETags) it always had.
    kind = "png" if size == PNG_SIZE else f"png-{size[0]}x{size[1]}"
    return rendering.rendered(slug, kind, make, mimetype="image/png",
                              public_age=int(_setting("MAP_EMBED_MAX_AGE")), keys=PNG_KEYS,
                              adjust=png_params, cache_prefix="png:")


@bp.get("/oembed")
def oembed():
    """oEmbed 1.0 (type rich) for a map or embed URL of this site."""
    url = request.args.get("url", "").strip()
    fmt = request.args.get("format", "json").strip().lower()
    if fmt != "json":
        raise GeomapError(f"format {fmt!r} is not supported; use json", status=501,
                          code="not_implemented")
    if not url:
        raise BadRequest("parameter 'url' is required: the URL of a map or embed page",
                         details={"parameter": "url"})
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or parts.netloc != request.host:
        raise NotFound("url is not a map on this site", details={"url": url})
    segments = parts.path.strip("/").split("/")
    if len(segments) != 2 or segments[0] not in ("maps", "embed") or segments[1].endswith(".png"):
        raise NotFound("url is not a map on this site", details={"url": url})
    slug = segments[1]
    dataset = rendering.readable_dataset(slug)
    params = filters.parse(MultiDict(parse_qsl(parts.query)))
    age = int(_setting("MAP_EMBED_MAX_AGE"))
    # The height the builder chose rides in the URL (the embed ignores it); the consumer's
    # maxheight still bounds it.
    asked = filters.whole_number("height", dict(parse_qsl(parts.query)).get("height"),
                                 low=EMBED_HEIGHTS[0], high=EMBED_HEIGHTS[1],
                                 unit="of pixels (in url)") or EMBED_HEIGHT
    width = min(_dimension("maxwidth", 600), 2000)
    height = min(_dimension("maxheight", asked), asked)
    links = _links(slug, params)
    # The thumbnail fits the consumer's limits: the image at that size, or none when the
    # limits leave less than PNG_MIN_WIDTH (oEmbed: all three thumbnail fields or none).
    thumbnail = png_fit(_dimension("maxwidth", None), _dimension("maxheight", None))
    thumbnail_url = None
    if thumbnail is not None:
        thumbnail_url = links["png"]
        if thumbnail != PNG_SIZE:
            thumbnail_url += ("&" if "?" in thumbnail_url else "?") + f"width={thumbnail[0]}"
    html = (f'<iframe src="{escape(links["embed"])}" title="{escape(dataset["title"])}" '
            f'width="{width}" height="{height}" style="border:0" loading="lazy"></iframe>')
    body = {"version": "1.0", "type": "rich", "provider_name": "geomap",
            "provider_url": url_for("pages.index", _external=True),
            "title": dataset["title"], "author_name": dataset.get("source") or None,
            "html": html, "width": width, "height": height,
            "thumbnail_url": thumbnail_url,
            "thumbnail_width": thumbnail and thumbnail[0],
            "thumbnail_height": thumbnail and thumbnail[1], "cache_age": age}
    response = current_app.json.response({k: v for k, v in body.items() if v is not None})
    response.headers["Cache-Control"] = f"public, max-age={age}"
    return response


def _dimension(name: str, default: int | None) -> int | None:
    value = filters.whole_number(name, request.args.get(name), low=100, high=10**6,
                                 unit="of pixels")
    return default if value is None else value


def _builder(links: dict, dataset: dict) -> dict:
    """What the embed builder's script starts from (static/embed-builder.js): the URLs it
    fills, the parameters in canonical order and their defaults."""
    return {"embed": url_for("maps.embed", slug=dataset["slug"], _external=True),
            "oembed": url_for("maps.oembed", _external=True), "embed_js": links["embed_js"],
            "title": dataset["title"], "height": EMBED_HEIGHT, "heights": EMBED_HEIGHTS,
            "keys": " ".join(filters.PARAMS),  # lang and units among them
            "defaults": filters.DEFAULTS}


def _form_values(params: dict) -> dict:
    pairs = dict(filters.query_pairs(params, keys=("from", "to")))
    return {"from": pairs.get("from", ""), "to": pairs.get("to", "")}


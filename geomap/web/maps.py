"""Map pages, embeds, static images and oEmbed (blueprint ``maps``).

Rendered HTML and PNGs are cached in-process by (dataset slug and version, canonical
parameters, tiles, host); the same key is the ETag, so any process (or a CDN) can answer
``If-None-Match`` with 304 and a new import, which bumps ``datasets.version``, changes every key.
Pages are public and session-free (no cookies), so they may be cached by shared caches.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections import OrderedDict
from typing import Any, Callable
from urllib.parse import parse_qsl, urlencode, urlsplit

from flask import (Blueprint, Response, current_app, g, render_template, request,
                   url_for)
from markupsafe import escape
from werkzeug.datastructures import MultiDict
from werkzeug.http import parse_etags
from werkzeug.wsgi import get_host

from .. import access, aggregate, filters, maps, regions, security, storage
from ..db import get_db, read_one
from ..errors import BadRequest, GeomapError, NotFound

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

#: Bump when the rendering changes, so cached pages and ETags from older code expire.
RENDER_VERSION = "maps-2"
PNG_SIZE = (1200, 630)
EMBED_HEIGHT = 500


class PublishedEmbeds:
    """WSGI middleware: answer readers of a published embed before Flask when it can.

    ``GET``/``HEAD /embed/<slug>?...`` with no session cookie: parse the parameters, read the
    dataset's version (one indexed lookup, every time, so a new import in any process changes
    the answer at once) and compute the ETag exactly as the view does. Then

    - ``If-None-Match`` matches: 304 with the view's caching headers;
    - this process already served that ETag: the same 200 again (status, headers and body the
      view produced, kept in the render cache under ``"wsgi:" + etag``);
    - otherwise Flask answers, and a public 200 of a GET is kept for next time.

    Anything unusual (drafts, bad parameters, unknown slugs, cookies, errors) goes to the
    Flask app, which stays the reference; this only skips Flask's request machinery on the
    hottest paths (a published embed read by many readers, and nginx or browsers revalidating
    it when max-age runs out).
    """

    PREFIX = "/embed/"
    #: Raw query strings remembered with their canonical form (embeds are read with a handful).
    QUERIES = 4096

    def __init__(self, wsgi_app, app):
        self.wsgi_app = wsgi_app
        self.app = app
        self._queries: dict[str, str] = {}

    def __call__(self, environ, start_response):
        method = environ.get("REQUEST_METHOD")
        if method not in ("GET", "HEAD") or not environ.get("PATH_INFO", "").startswith(
                self.PREFIX):
            return self.wsgi_app(environ, start_response)
        try:
            etag = self._etag(environ)
        except Exception:  # noqa: BLE001 - the Flask app answers (and reports) instead
            LOGGER.debug("embed fast path declined", exc_info=True)
            etag = None
        if etag is None:
            return self.wsgi_app(environ, start_response)
        inm = environ.get("HTTP_IF_NONE_MATCH")
        if inm and parse_etags(inm).contains(etag):
            start_response("304 NOT MODIFIED", self._not_modified_headers(etag))
            return []
        stored = cache_for(self.app).get("wsgi:" + etag)
        if stored is not None:
            status, headers, body = stored
            start_response(status, headers)
            return [] if method == "HEAD" else [body]
        if method == "HEAD":
            return self.wsgi_app(environ, start_response)
        return self._keep(environ, start_response, etag)

    def _etag(self, environ) -> str | None:
        """Return the ETag the view would give this request, or None if the view must decide."""
        config = self.app.config
        if config["SESSION_COOKIE_NAME"] in environ.get("HTTP_COOKIE", ""):
            return None  # maybe an editor: drafts and private caching are the view's business
        slug = environ["PATH_INFO"][len(self.PREFIX):]
        if not slug or "/" in slug:
            return None
        query = self._canonical(environ.get("QUERY_STRING", ""))
        row = _read_head(config["DATABASE_URL"], slug)
        if row is None or not row[3]:
            return None
        host_url = f"{environ.get('wsgi.url_scheme', 'http')}://{get_host(environ)}/"
        return etag_for(config, "embed", slug, row[2], query, host_url)

    def _canonical(self, raw: str) -> str:
        """Return the canonical query of a raw query string (BadRequest if invalid)."""
        query = self._queries.get(raw)
        if query is None:
            args = MultiDict(parse_qsl(raw, keep_blank_values=True))
            query = filters.canonical_query(filters.parse(args))
            if len(self._queries) >= self.QUERIES:
                self._queries.clear()  # bounded; refilled by the queries readers actually use
            self._queries[raw] = query
        return query

    def _not_modified_headers(self, etag: str) -> list[tuple[str, str]]:
        """The headers the view's 304 gets (caching, then the policy's common headers)."""
        config = self.app.config
        age = int(config["MAP_EMBED_MAX_AGE"])
        return [("ETag", f'"{etag}"'), ("Cache-Control", _cache_control(age)),
                *security.common_headers(config)]

    def _keep(self, environ, start_response, etag: str):
        """Let Flask answer; keep the response if it is the public 200 of this very ETag."""
        seen: dict[str, Any] = {}

        def recording_start_response(status, headers, exc_info=None):
            seen["status"], seen["headers"] = status, list(headers)
            return start_response(status, headers, exc_info)

        result = self.wsgi_app(environ, recording_start_response)
        try:
            body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        names = {name.lower(): value for name, value in seen.get("headers", [])}
        if (seen.get("status", "").startswith("200 ")
                and names.get("etag") == f'"{etag}"'
                and names.get("cache-control", "").startswith("public")
                and "set-cookie" not in names and "vary" not in names):
            cache_for(self.app).put("wsgi:" + etag, (seen["status"], seen["headers"], body))
        return [body]


@bp.record_once
def _install_fast_path(state) -> None:
    state.app.wsgi_app = PublishedEmbeds(state.app.wsgi_app, state.app)


class LRU:
    """A small thread-safe least-recently-used cache."""

    def __init__(self, size: int):
        self.size = size
        self._data: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get_or_make(self, key: str, make: Callable[[], Any]) -> Any:
        """Return the cached value for key, or make, store and return it."""
        value = self.get(key)
        if value is None:
            self.misses += 1
            value = make()
            self.put(key, value)
        return value

    def get(self, key: str) -> Any:
        """Return the value for key (counted as a hit) or None (not counted)."""
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
                self.hits += 1
            return value

    def put(self, key: str, value: Any) -> None:
        """Store a value, dropping the least recently used beyond ``size``."""
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


def cache() -> LRU:
    """Return this app's render cache."""
    return cache_for(current_app._get_current_object())


def cache_for(app) -> LRU:
    """Return an app's render cache (kept on the app, sized by ``MAP_CACHE_SIZE``)."""
    lru = app.extensions.get("geomap_render_cache")
    if lru is None:
        lru = app.extensions.setdefault("geomap_render_cache",
                                        LRU(int(app.config["MAP_CACHE_SIZE"])))
    return lru


def _setting(name: str) -> Any:
    return current_app.config[name]  # every setting has its default in config.SETTINGS


# --- shared request handling ------------------------------------------------------------------

def _dataset(slug: str) -> dict:
    """Return the dataset: published ones to everybody, drafts only to whoever may write it.

    Others get 404 for drafts (`access.can_write`: owners, collaborators, admins). A draft's
    responses are marked private (see `_respond`), so no shared cache keeps them.
    """
    conn = get_db()
    dataset = storage.get_dataset(conn, slug)
    if dataset["published"]:
        return dataset  # the session is not read: public responses do not vary by cookie
    if access.can_write(conn, g.get("user"), dataset):
        return dataset
    raise NotFound(f"no dataset {slug!r}", details={"slug": slug})


#: The version lookup in each driver's parameter style (sqlite3: qmark; psycopg: format).
_HEAD_SQL = {mark: f"SELECT id, slug, version, published FROM datasets WHERE slug = {mark}"
             for mark in ("?", "%s")}


def _read_head(url: str, slug: str):
    """Return (id, slug, version, published) of a dataset, or None; one indexed lookup.

    A plain statement on the autocommit reader engine (`db.read_one`): one round trip, no
    SQLAlchemy execution layer, no ping or rollback around it.
    """
    return read_one(url, _HEAD_SQL["?" if url.startswith("sqlite") else "%s"], (slug,))


def _dataset_head(slug: str) -> dict:
    """Return what the cache check needs (id, slug, version, published) with one small query.

    The hot path of every map, embed and PNG request: one indexed lookup by slug, sent as a
    plain statement (no SQL construction or compilation per request), so any process answers
    304 or a cached page for the dataset's current version. Drafts and unknown slugs go
    through `_dataset` (404 or an editor's view).
    """
    row = _read_head(current_app.config["DATABASE_URL"], slug)
    if row is not None and row[3]:
        return {"id": row[0], "slug": row[1], "version": row[2], "published": True}
    return _dataset(slug)


def _full(head: dict) -> dict:
    """Return the whole dataset row for a head from `_dataset_head` (for rendering)."""
    if "title" in head:
        return head
    return storage.get_dataset(get_db(), head["slug"])


def _age(dataset: dict, public_age: int | None) -> int | None:
    return public_age if dataset.get("published") else -1


def _spec(dataset: dict, params: dict, *, embed: bool) -> maps.MapSpec:
    return maps.MapSpec.from_filters(
        params, tiles=str(current_app.config.get("TILES", "openstreetmap")).lower(),
        title=dataset["title"], source=dataset.get("source") or "",
        license=dataset.get("license") or "", updated=dataset.get("updated_at"), embed=embed,
        static_url=url_for("static", filename="").rstrip("/"),
        min_public_count=max(1, int(dataset.get("min_public_count") or 1)),
        heat_max_cells=int(_setting("MAP_HEAT_MAX_CELLS")),
        cluster_limit=int(_setting("MAP_CLUSTER_LIMIT")),
        border_miles=_border_miles(params))


def _border_miles(params: dict) -> dict[str, float] | None:
    """Miles of border per region, loaded only for a per-border-mile choropleth."""
    if params.get("per") != "border_mile" or params.get("layer") != "choropleth":
        return None
    return regions.border_miles(regions.load(current_app.config["REGIONS_PATH"]))


def etag_for(config, kind: str, slug: str, version: int, query: str, host_url: str) -> str:
    """Return the ETag (and render cache key) of one rendering of a dataset version."""
    text = "|".join([RENDER_VERSION, kind, slug, str(version), query, str(config.get("TILES")),
                     host_url, str(config.get("EMBED_FRAME_ANCESTORS"))])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _etag(kind: str, dataset: dict, query: str) -> str:
    # scheme://host/ as request.host_url gives it, without werkzeug's IRI round trip.
    host_url = f"{request.scheme}://{request.host}/"
    return etag_for(current_app.config, kind, dataset["slug"], dataset["version"], query,
                    host_url)


def _not_modified(etag: str) -> bool:
    return etag in request.if_none_match


def _csp(script_hashes: list[str], *, embed: bool) -> str:
    img = "img-src 'self' data:"
    if str(current_app.config.get("TILES", "")).lower() == "openstreetmap":
        img += " " + maps.OSM_ORIGIN
    ancestors = "'none'"
    if embed:
        ancestors = str(current_app.config.get("EMBED_FRAME_ANCESTORS") or "").strip() or "'none'"
    scripts = " ".join(["'self'", *script_hashes])
    return (f"default-src 'self'; script-src {scripts}; style-src 'self'; {img}; "
            "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
            f"form-action 'self'; frame-ancestors {ancestors}")


def _respond(body: bytes, etag: str, *, mimetype: str, csp: str | None, public_age: int | None
             ) -> Response:
    response = Response(body, mimetype=mimetype)
    _cache_headers(response, etag, public_age)
    if csp:
        response.headers["Content-Security-Policy"] = csp
    return response


def _cache_headers(response: Response, etag: str, public_age: int | None) -> None:
    response.set_etag(etag)
    response.headers["Cache-Control"] = _cache_control(public_age)


def _cache_control(public_age: int | None) -> str:
    """Cache-Control of a rendering: -1 is an editor's view of a draft, 0/None revalidate."""
    if public_age == -1:
        return "private, no-store"
    return f"public, max-age={public_age}" if public_age else "public, no-cache"


def _not_modified_response(etag: str, public_age: int | None) -> Response:
    response = Response(status=304)
    _cache_headers(response, etag, public_age)
    return response


def _conditional(slug: str, kind: str, *, public_age: int | None, keys=filters.PARAMS,
                 adjust=None) -> tuple[dict, dict, str, int | None]:
    """Read the dataset's version and the filters; return (head, params, ETag, max-age).

    `adjust` maps the parsed filters to what the view draws, before they key the ETag.
    """
    head = _dataset_head(slug)
    params = filters.parse(request.args)
    if adjust is not None:
        params = adjust(params)
    etag = _etag(kind, head, filters.canonical_query(params, keys=keys))
    return head, params, etag, _age(head, public_age)


#: What keys a static image: the selection, and how a choropleth is drawn.
PNG_KEYS = filters.SELECTION_KEYS + ("layer", "by", "per")


def png_params(params: dict) -> dict:
    """Return the filters a static image draws: a choropleth as such, any other layer as heat."""
    if params.get("layer") == "choropleth":
        return params
    return dict(params, layer="heat", by=filters.DEFAULTS["by"], per=filters.DEFAULTS["per"])


def region_layers() -> dict:
    """Return the display layers of the configured regions file (empty when it is missing)."""
    return maps.display_layers(current_app.config.get("REGIONS_PATH"))


def _admin1_names() -> dict[str, str]:
    """Return state and province names by code from the display layers (empty without them)."""
    layer = region_layers().get("admin1")
    if layer is None or "name" not in layer:
        return {}
    return {str(code): str(name) for code, name in zip(layer["code"], layer["name"])}


def _map_bundle(conn, dataset: dict, params: dict, spec: maps.MapSpec) -> dict:
    """Aggregate, build and render the map for one request (the expensive part)."""
    selection = filters.selection(params)
    layers = region_layers()
    agg = maps.aggregate_db(conn, dataset["id"], selection, spec, layers)
    built = maps.build_map(agg, spec, layers)
    parts = maps.render_parts(built)
    info = maps.legend(agg, spec)
    return {"agg": agg, "parts": parts, "legend": maps.legend_html(info),
            "credit": maps.credit_html(spec), "description": filters.describe(params)}


def _links(slug: str, params: dict) -> dict:
    query = filters.canonical_query(params)
    selection = filters.canonical_query(params, keys=filters.SELECTION_KEYS)
    suffix = lambda q: ("?" + q) if q else ""  # noqa: E731
    page = url_for("maps.map_page", slug=slug, _external=True) + suffix(query)
    embed = url_for("maps.embed", slug=slug, _external=True) + suffix(query)
    return {
        "page": page, "embed": embed,
        "png": url_for("maps.map_png", slug=slug, _external=True) + suffix(
            filters.canonical_query(png_params(params), keys=PNG_KEYS)),
        "oembed": url_for("maps.oembed", _external=True) + "?" + urlencode({"url": page}),
        "csv": f"/api/datasets/{slug}/incidents.csv" + suffix(selection),
        "geojson": f"/api/datasets/{slug}/incidents.geojson" + suffix(selection),
        "embed_js": url_for("static", filename="embed.js", _external=True),
        "layers": {layer: url_for("maps.map_page", slug=slug) + suffix(
            filters.canonical_query(params, layer=layer)) for layer in filters.LAYERS},
    }


def embed_snippet(title: str, embed_url: str, embed_js: str) -> str:
    """Return the iframe snippet (SPEC §6) plus the optional auto-resize script."""
    return (f'<iframe src="{escape(embed_url)}" title="{escape(title)}" width="100%" '
            f'height="{EMBED_HEIGHT}" style="border:0" loading="lazy"></iframe>\n'
            f'<script src="{escape(embed_js)}" async></script>')


# --- tables and chart -------------------------------------------------------------------------

def _table(conn, dataset: dict, params: dict, min_count: int, names: dict[str, str]) -> dict:
    """Counts by region and month (total count; cells under the public threshold hidden)."""
    selection = filters.selection(params)
    frame = aggregate.by_column(conn, dataset["id"], selection, "admin1", period="month")
    months = sorted({str(p) for p in frame["period"]}) if len(frame) else []
    rows: dict[str, dict[str, Any]] = {}
    for key, period, n, total in zip(frame["key"], frame["period"], frame["n"], frame["total"]):
        label = key if isinstance(key, str) and key else "outside any region"
        row = rows.setdefault(label, {"cells": {}, "n": 0, "total": 0})
        row["cells"][str(period)] = _shown(int(n), int(total), min_count)
        row["n"] += int(n)
        row["total"] += int(total)
    body = []
    for label in sorted(rows):
        row = rows[label]
        body.append({"label": label, "name": names.get(label),
                     "cells": [row["cells"].get(m, "0") for m in months],
                     "total": _shown(row["n"], row["total"], min_count)})
    per_month = aggregate.by_period(conn, dataset["id"], selection, "month")
    chart = [{"period": str(p), "total": int(t), "hidden": int(n) < min_count}
             for p, n, t in zip(per_month["period"], per_month["n"], per_month["total"])]
    return {"months": months, "rows": body, "chart": _chart(chart, min_count)}


def _shown(n: int, total: int, min_count: int) -> str:
    if 0 < n < min_count:
        return f"<{min_count}"
    return f"{total:,}"


def _chart(points: list[dict], min_count: int) -> dict:
    """Geometry of an SVG bar chart of total count per month (no script, no inline style)."""
    width, height, pad = 640, 180, 28
    if not points:
        return {"bars": [], "width": width, "height": height, "max": 0}
    visible = [p["total"] for p in points if not p["hidden"]]
    top = max(visible) if visible else 1
    top = top or 1
    slot = (width - pad * 2) / len(points)
    bars = []
    for i, p in enumerate(points):
        value = 0 if p["hidden"] else p["total"]
        h = (height - pad * 2) * value / top
        bars.append({"x": round(pad + i * slot + slot * 0.1, 1), "w": round(max(slot * 0.8, 1), 1),
                     "y": round(height - pad - h, 1), "h": round(h, 1), "period": p["period"],
                     "label": (f"{p['period']}: fewer than {min_count} incidents (hidden)"
                               if p["hidden"] else f"{p['period']}: {p['total']:,}"),
                     "tick": i == 0 or i == len(points) - 1 or p["period"].endswith("-01")})
    return {"bars": bars, "width": width, "height": height, "max": top, "pad": pad}


def _options(conn, dataset_id: int) -> dict:
    """Values offered in the filter form (types, regions and sectors present in the data)."""
    out = {}
    for column in ("type", "admin1", "sector"):
        frame = aggregate.by_column(conn, dataset_id, None, column)
        out[column] = sorted(str(k) for k in frame["key"] if isinstance(k, str) and k)
    return out


# --- routes -----------------------------------------------------------------------------------

@bp.get("/maps/<slug>")
def map_page(slug: str):
    """The full map page: map, filters, layer switch, embed snippet, table, chart, downloads."""
    head, params, etag, age = _conditional(slug, "page", public_age=None)
    if _not_modified(etag):
        return _not_modified_response(etag, age)

    def make():
        conn = get_db()  # only when rendering: a cache hit needs no SQLAlchemy connection
        dataset = _full(head)
        spec = _spec(dataset, params, embed=False)
        bundle = _map_bundle(conn, dataset, params, spec)
        links = _links(slug, params)
        names = _admin1_names()
        # The table depends on the selection only and the form options on the version only,
        # so switching layers or themes reuses them.
        selection_key = filters.canonical_query(params, keys=filters.SELECTION_KEYS)
        table = cache().get_or_make(
            f"table:{dataset['slug']}:{dataset['version']}:{selection_key}",
            lambda: _table(conn, dataset, params, spec.min_public_count, names))
        options = cache().get_or_make(f"options:{dataset['slug']}:{dataset['version']}",
                                      lambda: _options(conn, dataset["id"]))
        html = render_template(
            "maps/page.html", dataset=dataset, params=params, spec=spec, bundle=bundle,
            links=links, table=table, options=options,
            imports=storage.list_imports(conn, dataset["id"])[:20],
            snippet=embed_snippet(dataset["title"], links["embed"], links["embed_js"]),
            filter_values=_form_values(params), layers=filters.LAYERS,
            layer_labels=maps.LAYER_LABELS, by_labels=maps.BY_LABELS,
            sector_names=filters.SECTORS, admin1_names=names,
            script_tag=bundle["parts"].script_tag)
        return html.encode("utf-8"), _csp([bundle["parts"].script_hash], embed=False)

    body, csp = cache().get_or_make(etag, make)
    return _respond(body, etag, mimetype="text/html", csp=csp, public_age=age)


@bp.get("/embed/<slug>")
def embed(slug: str):
    """Minimal-chrome map for iframes: title, map, legend, credit, 'view larger' link."""
    head, params, etag, age = _conditional(slug, "embed",
                                           public_age=int(_setting("MAP_EMBED_MAX_AGE")))
    if _not_modified(etag):
        return _not_modified_response(etag, age)

    def make():
        conn = get_db()  # only when rendering: a cache hit needs no SQLAlchemy connection
        dataset = _full(head)
        spec = _spec(dataset, params, embed=True)
        bundle = _map_bundle(conn, dataset, params, spec)
        links = _links(slug, params)
        html = render_template("maps/embed.html", dataset=dataset, params=params, spec=spec,
                               bundle=bundle, links=links,
                               script_tag=bundle["parts"].script_tag)
        return html.encode("utf-8"), _csp([bundle["parts"].script_hash], embed=True)

    body, csp = cache().get_or_make(etag, make)
    return _respond(body, etag, mimetype="text/html", csp=csp, public_age=age)


@bp.get("/maps/<slug>.png")
def map_png(slug: str):
    """A static image of the selection for og:image, print and no-JS.

    A choropleth is drawn as one (``layer=choropleth`` with its ``by`` and ``per``); every
    other layer as its heat grid.
    """
    head, params, etag, age = _conditional(slug, "png",
                                           public_age=int(_setting("MAP_EMBED_MAX_AGE")),
                                           keys=PNG_KEYS, adjust=png_params)
    if _not_modified(etag):
        return _not_modified_response(etag, age)

    def make():
        conn = get_db()  # only when rendering: a cache hit needs no SQLAlchemy connection
        dataset = _full(head)
        spec = _spec(dataset, params, embed=False)
        layers = region_layers()
        agg = maps.aggregate_db(conn, dataset["id"], filters.selection(params), spec, layers)
        return maps.render_png(agg, spec, layers, size=PNG_SIZE,
                               subtitle=filters.describe(params))

    body = cache().get_or_make("png:" + etag, make)
    return _respond(body, etag, mimetype="image/png", csp=None, public_age=age)


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
    dataset = _dataset(slug)
    params = filters.parse(MultiDict(parse_qsl(parts.query)))
    age = int(_setting("MAP_EMBED_MAX_AGE"))
    width = min(_dimension("maxwidth", 600), 2000)
    height = min(_dimension("maxheight", EMBED_HEIGHT), EMBED_HEIGHT)
    links = _links(slug, params)
    html = (f'<iframe src="{escape(links["embed"])}" title="{escape(dataset["title"])}" '
            f'width="{width}" height="{height}" style="border:0" loading="lazy"></iframe>')
    body = {"version": "1.0", "type": "rich", "provider_name": "geomap",
            "provider_url": url_for("pages.index", _external=True),
            "title": dataset["title"], "author_name": dataset.get("source") or None,
            "html": html, "width": width, "height": height,
            "thumbnail_url": links["png"], "thumbnail_width": PNG_SIZE[0],
            "thumbnail_height": PNG_SIZE[1], "cache_age": age}
    response = current_app.json.response({k: v for k, v in body.items() if v is not None})
    response.headers["Cache-Control"] = f"public, max-age={age}"
    return response


def _dimension(name: str, default: int) -> int:
    value = filters.whole_number(name, request.args.get(name), low=100, high=10**6,
                                 unit="of pixels")
    return default if value is None else value


def _form_values(params: dict) -> dict:
    pairs = dict(filters.query_pairs(params, keys=("from", "to")))
    return {"from": pairs.get("from", ""), "to": pairs.get("to", "")}


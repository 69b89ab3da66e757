"""The one cache-and-respond path of every rendering view (map page, embed, PNG).

`rendered` reads the dataset's version (`dataset_head`), answers ``If-None-Match`` with 304,
else serves the rendering from the render cache or makes it (`geomap.web.render_cache`: the
cache key is the ETag, so a new import, which bumps ``datasets.version``, changes every key).
Public renderings may be kept by shared caches; an editor's view of a draft is marked
private. Not a blueprint: the map views call it, and the embed fast path
(`geomap.web.published_embeds`) computes the same keys and headers before Flask.
"""

from __future__ import annotations

from typing import Callable

from flask import Response, current_app, g, request

from .. import access, filters, store
from ..db import get_db
from .render_cache import cache, cache_control, etag_for, matching_etag, read_head


def readable_dataset(slug: str) -> dict:
    """Return the dataset if this request may read it (`access.visible_dataset`), else 404."""
    return access.visible_dataset(get_db(), g.get("user"), slug)


def dataset_head(slug: str) -> dict:
    """Return what the cache check needs (id, slug, version, published) with one small query.

    The hot path of every map, embed and PNG request: one indexed lookup by slug, sent as a
    plain statement (no SQL construction or compilation per request), so any process answers
    304 or a cached page for the dataset's current version. Drafts and unknown slugs go
    through `readable_dataset` (404 or an editor's view).
    """
    row = read_head(current_app.config["DATABASE_URL"], slug)
    if row is not None and row[3]:
        return {"id": row[0], "slug": row[1], "version": row[2], "published": True}
    return readable_dataset(slug)


def full_dataset(head: dict) -> dict:
    """Return the whole dataset row for a head from `dataset_head` (for rendering)."""
    if "title" in head:
        return head
    return store.get_dataset(get_db(), head["slug"])


def rendered(slug: str, kind: str,
             make: Callable[[dict, dict], tuple[bytes, str | None]], *, mimetype: str,
             public_age: int | None, keys=filters.PARAMS, adjust=None,
             cache_prefix: str = "") -> Response:
    """Answer a rendering view: 304, the cached rendering, or a new one made by `make`.

    Reads the dataset's version (`dataset_head`) and the filters; `adjust` maps the parsed
    filters to what the view draws, and `keys` picks those that key the ETag (which is also
    the render cache key, after `cache_prefix`). ``make(head, params)`` returns the body and
    its Content-Security-Policy (None: the app's default); it runs on a cache miss only, so
    a hit needs no SQLAlchemy connection. ``public_age`` is the max-age of a published
    dataset's rendering (None or 0: revalidate every time); a draft's is private.
    """
    head = dataset_head(slug)
    params = filters.parse(request.args)
    if adjust is not None:
        params = adjust(params)
    etag = _etag(kind, head, filters.canonical_query(params, keys=keys))
    age = public_age if head.get("published") else -1
    held = matching_etag(request.if_none_match, etag)
    if held:
        return _with_cache_headers(Response(status=304), held, age)
    body, csp = cache().get_or_make(cache_prefix + etag, lambda: make(head, params))
    response = _with_cache_headers(Response(body, mimetype=mimetype), etag, age)
    if csp:
        response.headers["Content-Security-Policy"] = csp
    return response


def _etag(kind: str, dataset: dict, query: str) -> str:
    # scheme://host/ as request.host_url gives it, without werkzeug's IRI round trip.
    host_url = f"{request.scheme}://{request.host}/"
    return etag_for(current_app.config, kind, dataset["slug"], dataset["version"], query,
                    host_url)


def _with_cache_headers(response: Response, etag: str, public_age: int | None) -> Response:
    response.set_etag(etag)
    response.headers["Cache-Control"] = cache_control(public_age)
    return response

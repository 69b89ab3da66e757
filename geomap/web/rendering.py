"""The one cache-and-respond path of every rendering view (map page, embed, PNG).

`rendered` reads the dataset's version (`dataset_head`), answers ``If-None-Match`` with 304,
else serves the rendering from the render cache or makes it (`geomap.web.render_cache`: the
cache key is the ETag, so a new import, which bumps ``datasets.version``, changes every key;
the cache is shared by every worker, so one rendering serves them all).
Public renderings may be kept by shared caches; an editor's view of a draft is marked
private. Not a blueprint: the map views call it, and the embed fast path
(`geomap.web.published_embeds`) computes the same keys and headers before Flask.
"""

from __future__ import annotations

import time
from typing import Callable

from flask import Response, current_app, g, request

from .. import access, filters, store
from ..db import get_db
from ..errors import Unavailable
from ..language import N_
from .caching import heads_for
from .render_cache import cache, cache_control, etag_for, head_identity, matching_etag


def readable_dataset(slug: str) -> dict:
    """Return the dataset if this request may read it (`access.visible_dataset`), else 404."""
    return access.visible_dataset(get_db(), g.get("user"), slug)


def dataset_head(slug: str, *, fresh: bool = False) -> dict:
    """Return what the cache check needs (id, slug, version, published, created_at).

    The hot path of every map, embed and PNG request: the head as this process last read it
    while no dataset changed anywhere (`geomap.web.versions.Heads`), else one indexed lookup
    by slug, so any process answers 304 or a cached page for the dataset's current version.
    ``fresh`` reads the database whatever the heads hold. Drafts and unknown slugs go
    through `readable_dataset` (404 or an editor's view).
    """
    heads = heads_for(current_app)
    row = heads.fresh(slug) if fresh else heads.get(slug)
    if row is not None and row[3]:
        return {"id": row[0], "slug": row[1], "version": row[2], "published": True,
                "created_at": row[4]}
    return readable_dataset(slug)


def full_dataset(head: dict) -> dict:
    """Return the whole dataset row for a head from `dataset_head` (for rendering)."""
    if "title" in head:
        return head
    dataset = store.get_dataset(get_db(), head["slug"])
    if dataset["version"] != head["version"]:  # changed since: render what the key names
        raise _Changed()
    return dataset


class _Changed(Exception):
    """The dataset changed between reading its head and rendering it."""


def rendered(slug: str, kind: str,
             make: Callable[[dict, dict], tuple[bytes, str | None]], *, mimetype: str,
             public_age: int | None, keys=filters.PARAMS, adjust=None,
             cache_prefix: str = "", _retry: bool = True) -> Response:
    """Answer a rendering view: 304, the cached rendering, or a new one made by `make`.

    Reads the dataset's version (`dataset_head`) and the filters; `adjust` maps the parsed
    filters to what the view draws, and `keys` picks those that key the ETag (which is also
    the render cache key, after `cache_prefix`). ``make(head, params)`` returns the body and
    its Content-Security-Policy (None: the app's default); it runs on a cache miss only, so
    a hit needs no SQLAlchemy connection. ``public_age`` is the max-age of a published
    dataset's rendering (None or 0: revalidate every time); a draft's is private. A response
    this request rendered says so in ``Server-Timing: render;dur=<ms>``.
    """
    head = dataset_head(slug)
    params = filters.parse(request.args)
    if adjust is not None:
        params = adjust(params)
    query = filters.canonical_query(params, keys=keys)
    etag = _etag(kind, head, query)
    age = public_age if head.get("published") else -1
    held = matching_etag(request.if_none_match, etag)
    if held:
        return _with_cache_headers(Response(status=304), held, age)
    made = []
    found = cache().get(cache_prefix + etag)
    if found is None:
        # About to render: from the database's head, never from one read before a change.
        head = dataset_head(slug, fresh=True)
        etag = _etag(kind, head, query)
        age = public_age if head.get("published") else -1
        def make_here() -> tuple[bytes, str | None]:
            started = time.perf_counter()
            value = make(head, params)
            made.append(time.perf_counter() - started)
            return value

        try:
            found = cache().get_or_make(cache_prefix + etag, make_here)
        except _Changed:  # changed meanwhile: once more, with the new version
            if not _retry:
                raise Unavailable("the dataset is changing; try again in a moment",
                                  translatable=(N_("the dataset is changing; try again in a "
                                                   "moment"), {})) from None
            return rendered(slug, kind, make, mimetype=mimetype, public_age=public_age,
                            keys=keys, adjust=adjust, cache_prefix=cache_prefix, _retry=False)
        if head.get("published"):
            cache().remember_host(_host_url())
    body, csp = found
    response = _with_cache_headers(Response(body, mimetype=mimetype), etag, age)
    if made:  # rendered by this request (browsers show it; tests count renderings by it)
        response.headers["Server-Timing"] = f"render;dur={made[0] * 1000:.1f}"
    if csp:
        response.headers["Content-Security-Policy"] = csp
    return response


def _host_url() -> str:
    # scheme://host/ as request.host_url gives it, without werkzeug's IRI round trip.
    return f"{request.scheme}://{request.host}/"


def _etag(kind: str, dataset: dict, query: str) -> str:
    return etag_for(current_app.config, kind, dataset["slug"], dataset["version"], query,
                    _host_url(), head_identity(dataset["id"], dataset.get("created_at"),
                                               heads_for(current_app).generation))


def _with_cache_headers(response: Response, etag: str, public_age: int | None) -> Response:
    response.set_etag(etag)
    response.headers["Cache-Control"] = cache_control(public_age)
    return response

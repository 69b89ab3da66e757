"""The render cache of map pages, embeds and PNGs, and what keys it.

Rendered HTML and PNGs are cached in-process by (dataset slug and version, canonical
parameters, tiles, host); the same key is the ETag, so any process (or a CDN) can answer
``If-None-Match`` with 304 and a new import, which bumps ``datasets.version``, changes every key.
Used by the map views (`geomap.web.maps`) and the embed fast path
(`geomap.web.published_embeds`), which must compute the same keys and headers.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Any, Callable

from flask import current_app

from ..db import read_one

#: Bump when the rendering changes, so cached pages and ETags from older code expire.
RENDER_VERSION = "maps-3"  # maps-3: region shapes valid and wound as RFC 7946 asks (#22)


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


def etag_for(config, kind: str, slug: str, version: int, query: str, host_url: str) -> str:
    """Return the ETag (and render cache key) of one rendering of a dataset version."""
    text = "|".join([RENDER_VERSION, kind, slug, str(version), query, str(config.get("TILES")),
                     host_url, str(config.get("EMBED_FRAME_ANCESTORS"))])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


#: Content codings a response may carry (`geomap.web.compression`), whose strong ETag is
#: ``"<etag>:<coding>"``.
CODINGS = ("zstd", "br", "gzip")


def matching_etag(if_none_match, etag: str) -> str | None:
    """Return the tag in If-None-Match naming this rendering, or None.

    ``if_none_match`` is werkzeug's ETags (``request.if_none_match`` or ``parse_etags``),
    compared weakly as RFC 9110 13.1.2 asks (nginx sends ``W/"<etag>"`` for the copy it
    compressed). The identity representation's tag is the ETag itself; the app's compressed
    one carries its coding (``<etag>:gzip``), which a 304 must echo.
    """
    if if_none_match.contains_weak(etag):
        return etag
    for coding in CODINGS:
        if if_none_match.contains_weak(f"{etag}:{coding}"):
            return f"{etag}:{coding}"
    return None


def cache_control(public_age: int | None) -> str:
    """Cache-Control of a rendering: -1 is an editor's view of a draft, 0/None revalidate."""
    if public_age == -1:
        return "private, no-store"
    return f"public, max-age={public_age}" if public_age else "public, no-cache"


#: The version lookup in each driver's parameter style (sqlite3: qmark; psycopg: format).
_HEAD_SQL = {mark: f"SELECT id, slug, version, published FROM datasets WHERE slug = {mark}"
             for mark in ("?", "%s")}


def read_head(url: str, slug: str):
    """Return (id, slug, version, published) of a dataset, or None; one indexed lookup.

    A plain statement on the autocommit reader engine (`db.read_one`): one round trip, no
    SQLAlchemy execution layer, no ping or rollback around it.
    """
    return read_one(url, _HEAD_SQL["?" if url.startswith("sqlite") else "%s"], (slug,))

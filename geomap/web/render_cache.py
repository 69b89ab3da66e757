"""The render cache of map pages, embeds and PNGs, and what keys it.

Rendered HTML and PNGs are cached by (dataset slug, id, creation and version, canonical
parameters, tiles, host): in an in-process LRU in front of the store every worker and app
server shares (`geomap.web.shared_cache`). The same key is the ETag, so any process (or a
CDN) can answer ``If-None-Match`` with 304 and a new import, which bumps
``datasets.version``, changes every key.
Used by the map views (`geomap.web.maps`) and the embed fast path
(`geomap.web.published_embeds`), which must compute the same keys and headers.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import threading
from collections import OrderedDict
from typing import Any, Callable

from flask import current_app

from ..db import read_one
from .shared_cache import StoreError

LOGGER = logging.getLogger(__name__)

#: Bump when the rendering changes, so cached pages and ETags from older code expire.
RENDER_VERSION = "maps-6"  # maps-3: RFC 7946 region shapes (#22); maps-4: shared-cache keys (#20)
# maps-5: the embed's table and summary, the page's embed builder (#21); maps-6: French and
# km, place names with tiles off (#21), the corrections log (#18)


class LRU:
    """A small thread-safe least-recently-used cache (the in-process front)."""

    def __init__(self, size: int):
        self.size = size
        self._data: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> Any:
        """Return the value for key, or None."""
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
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


class RenderCache:
    """The render cache: an in-process LRU in front of the shared store (the reference).

    ``store`` is a `geomap.web.shared_cache` store shared by every worker (None: this
    process only). Entries are immutable (their key names the dataset version), so the
    front never needs invalidating: a hit in either tier is the rendering of that key.
    ``misses`` counts renderings made here (`get_or_make` calling ``make``).
    """

    #: Hosts remembered for `geomap.web.prerender` (scheme://host/ as readers used them).
    HOSTS = 4

    def __init__(self, size: int, store=None):
        self.front = LRU(size)
        self.store = store
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> Any:
        """Return the value for key (counted as a hit) or None (not counted)."""
        value = self._get(key)
        if value is not None:
            self.hits += 1
        return value

    def _get(self, key: str) -> Any:
        value = self.front.get(key)
        if value is None and self.store is not None:
            value = self._shared("get", key)
            if value is not None:
                self.front.put(key, value)
        return value

    def put(self, key: str, value: Any) -> None:
        """Store a value in both tiers."""
        self.front.put(key, value)
        if self.store is not None:
            self._shared("set", key, value)

    def get_or_make(self, key: str, make: Callable[[], Any]) -> Any:
        """Return the cached value for key, or make, store and return it.

        Making it holds the store's lock of that key: a worker that asks for the same key
        meanwhile waits, then finds it made, so simultaneous first readers render once.
        """
        value = self.get(key)
        if value is None:
            with self._lock(key):
                value = self._get(key)  # made by another worker while this one waited
                if value is not None:
                    self.hits += 1
                    return value
                self.misses += 1
                value = make()
                self.put(key, value)
        return value

    def _lock(self, key: str):
        if self.store is None:
            return contextlib.nullcontext()
        try:
            return self.store.lock(key)
        except StoreError as exc:
            LOGGER.warning("render lock unavailable: %s", exc)
            return contextlib.nullcontext()

    def clear(self) -> None:
        """Forget every entry of this database, in this process and in the shared store."""
        self.front.clear()
        if self.store is not None:
            self._shared("clear")

    def remember_host(self, host_url: str) -> None:
        """Note a host readers use (a rendering's absolute links depend on it)."""
        hosts = self.hosts()
        if host_url not in hosts:
            self.put("hosts", [host_url, *hosts][:self.HOSTS])

    def hosts(self) -> list[str]:
        """Hosts readers used lately, most recent first (shared by every worker)."""
        if self.store is not None:  # the shared list: another worker may have added one
            return list(self._shared("get", "hosts") or [])
        return list(self.front.get("hosts") or [])

    def _shared(self, method: str, *args) -> Any:
        try:
            return getattr(self.store, method)(*args)
        except StoreError as exc:  # a miss: the app renders, as with an empty cache
            LOGGER.warning("shared cache %s failed: %s", method, exc)
            return None


def cache() -> RenderCache:
    """Return this app's render cache."""
    return cache_for(current_app._get_current_object())


def cache_for(app) -> RenderCache:
    """Return an app's render cache (`geomap.web.caching.init_app` made it)."""
    return app.extensions["geomap_render_cache"]


def created_text(value) -> str:
    """A dataset's creation time as digits (the driver's text or datetime alike).

    With the id it tells a dataset from an earlier one of the same slug: a deleted dataset's
    renderings stay in the shared store, and a new one starts again at version 1.
    """
    if value is None:
        return ""
    if hasattr(value, "strftime"):
        return value.strftime("%Y%m%d%H%M%S%f")
    return re.sub(r"\D", "", str(value))[:20].ljust(20, "0")


def etag_for(config, kind: str, slug: str, version: int, query: str, host_url: str,
             identity: str = "") -> str:
    """Return the ETag (and render cache key) of one rendering of a dataset version.

    ``identity`` is the dataset's id and `created_text` (`head_identity`).
    """
    text = "|".join([RENDER_VERSION, kind, slug, str(version), query, str(config.get("TILES")),
                     host_url, str(config.get("EMBED_FRAME_ANCESTORS")), identity])
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


def head_identity(dataset_id, created, generation: str = "") -> str:
    """What tells this dataset from another of the same slug, for `etag_for`: its id and
    creation, and the heads' generation (`geomap.web.versions.Heads`: SQLite may give a new
    dataset a deleted one's id, within the second of its creation)."""
    return f"{dataset_id}.{created_text(created)}.{generation}"


#: The version lookup in each driver's parameter style (sqlite3: qmark; psycopg: format).
_HEAD_SQL = {mark: "SELECT id, slug, version, published, created_at FROM datasets "
                   f"WHERE slug = {mark}" for mark in ("?", "%s")}


def read_head(url: str, slug: str):
    """Return (id, slug, version, published, created_at) of a dataset, or None; one lookup.

    A plain statement on the autocommit reader engine (`db.read_one`): one round trip, no
    SQLAlchemy execution layer, no ping or rollback around it.
    """
    return read_one(url, _HEAD_SQL["?" if url.startswith("sqlite") else "%s"], (slug,))

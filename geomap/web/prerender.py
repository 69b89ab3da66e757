"""Render a dataset's default views once, in the background, after it changed.

After an import (or an edit) commits, the first readers of the map page, the embed and the
static image would each pay a cold render. `prerender` makes those three renderings, in
English and in French, for every host readers use (`RenderCache.hosts`: a rendering's absolute links name its host),
through the app's own WSGI stack as an anonymous reader, so the cache keys, ETags and the
embed fast path's kept responses are exactly what readers will ask for. `changed_later`
is what the cache's after-commit hook (`geomap.web.caching`) starts on a thread when
``PRERENDER`` is on; a job runner can call `prerender(app, slug)` itself.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading

from flask import url_for

from .. import db, store
from ..language import LANGUAGES
from .columnar import copies_for
from .render_cache import cache_for

LOGGER = logging.getLogger(__name__)

#: The default views of a dataset: map page, embed, static image (no parameters but the
#: language), in every language readers are served in.
ENDPOINTS = ("maps.map_page", "maps.embed", "maps.map_png")
PAGE = ENDPOINTS[0]


def prerender(app, slug: str) -> list[tuple[str, int]]:
    """Render the default views of a published dataset for every host readers use.

    Returns
    -------
    list of (str, int)
        The URLs requested and their status (none when no reader has come yet: the first
        rendering then records the host, and the next change prerenders for it).
    """
    hosts = cache_for(app).hosts()
    client = app.test_client()
    done = []
    for host in hosts:
        for lang in LANGUAGES:
            # In each language as readers ask for it: the page by their browser's
            # preference, the embed and the image by ``?lang=`` (English: none).
            args = {} if lang == LANGUAGES[0] else {"lang": lang}
            with app.test_request_context(base_url=host):
                paths = [url_for(endpoint, slug=slug, **({} if endpoint == PAGE else args))
                         for endpoint in ENDPOINTS]
            for path in paths:
                response = client.get(path, base_url=host,
                                      headers={"Accept-Language": lang})
                response.close()
                done.append((host.rstrip("/") + path, response.status_code))
    return done


def changed_later(app, since: dt.datetime) -> threading.Thread:
    """Prerender, on a daemon thread, every published dataset changed since ``since``
    (each once its columnar copy is built, when copies are on)."""
    def run() -> None:
        try:
            copies = copies_for(app)
            with db.engine_for(app.config["DATABASE_URL"]).connect() as conn:
                changed = store.changed_since(conn, since, published_only=True)
            for dataset_id, slug in changed:
                if copies is not None:
                    copies.wait_for(dataset_id)
                for url, status in prerender(app, slug):
                    LOGGER.info("prerendered %s: %s", url, status)
        except Exception:  # noqa: BLE001 - readers render it themselves then
            LOGGER.exception("prerendering after a change failed")

    thread = threading.Thread(target=run, name="geomap-prerender", daemon=True)
    thread.start()
    return thread

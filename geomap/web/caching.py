"""The app's caches: the render cache (both tiers), the dataset heads, and the after-commit hook.

`init_app` opens the shared store ``CACHE_URL`` names (`geomap.web.shared_cache`), makes
the render cache (`geomap.web.render_cache.RenderCache`) and the heads
(`geomap.web.versions.Heads`), and subscribes to committed changes of ``datasets`` rows on
the app's database: each bumps the shared epoch (every process stops answering from the
heads it read) and, with ``PRERENDER`` on, renders the changed datasets' default views on a
background thread (`geomap.web.prerender`). Called when the maps blueprint is registered.
"""

from __future__ import annotations

import datetime as dt

from ..errors import ConfigError
from .columnar import copies_for
from .render_cache import RenderCache
from .shared_cache import open_store
from .versions import Heads, subscribe

RENDER_CACHE = "geomap_render_cache"
HEADS = "geomap.heads"
HOOK = "geomap.cache_hook"


class AfterCommit:
    """What a committed change of a datasets row does to this app's caches."""

    def __init__(self, app, heads: Heads, render: RenderCache):
        self.app = app
        self.heads = heads
        self.render = render
        self.prerenders = []  # threads started (tests wait for them)

    def datasets_committed(self, began: dt.datetime | None, deleted: bool) -> None:
        self.heads.changed(deleted)
        copies = copies_for(self.app)
        if copies is not None and began is not None:
            # The changed datasets' columnar copies (the prerender waits for them).
            copies.changed_later(began, deleted)
        if self.app.config["PRERENDER"] and began is not None:
            from .prerender import changed_later

            self.prerenders = [t for t in self.prerenders if t.is_alive()]
            self.prerenders.append(changed_later(self.app, began))


def init_app(app) -> None:
    """Make the app's caches and subscribe them to committed dataset changes (once)."""
    if RENDER_CACHE in app.extensions:
        return
    config = app.config
    try:
        store = open_store(config["CACHE_URL"], config["DATABASE_URL"], app.instance_path,
                           float(config["CACHE_SIZE_MB"]))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    render = app.extensions[RENDER_CACHE] = RenderCache(int(config["MAP_CACHE_SIZE"]), store)
    # The epoch is bumped by this server's writers only when the store is local: enough
    # when the database is too (SQLite); with PostgreSQL other servers write as well.
    local_database = str(config["DATABASE_URL"]).startswith("sqlite")
    epoch_store = store if store is not None and (store.shared_by_servers
                                                  or local_database) else None
    heads = Heads(config["DATABASE_URL"], epoch_store, float(config["CACHE_VERSION_TTL"]))
    app.extensions[HEADS] = heads
    hook = app.extensions[HOOK] = AfterCommit(app, heads, render)
    subscribe(config["DATABASE_URL"], hook)


def heads_for(app) -> Heads:
    """Return an app's dataset heads."""
    return app.extensions[HEADS]

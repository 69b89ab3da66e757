"""The embed fast path: WSGI middleware answering repeated anonymous readers of a published
embed, and their revalidations, before Flask (from the render cache).

It computes the ETag and the 304 headers exactly as the embed view does (both use
`geomap.web.render_cache`); anything it cannot decide goes to the Flask app, the reference.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qsl

from werkzeug.datastructures import MultiDict
from werkzeug.http import parse_etags
from werkzeug.wsgi import get_host

from .. import filters, security
from .caching import heads_for
from .render_cache import cache_control, cache_for, etag_for, head_identity, matching_etag

LOGGER = logging.getLogger(__name__)


class PublishedEmbeds:
    """WSGI middleware: answer readers of a published embed before Flask when it can.

    ``GET``/``HEAD /embed/<slug>?...`` with no session cookie: parse the parameters, take the
    dataset's version from the heads (`geomap.web.versions.Heads`: no database read while no
    dataset changed, and a change committed in any process counts at once) and compute the
    ETag exactly as the view does. Then

    - ``If-None-Match`` names it (or its compressed form, ``"<etag>:gzip"``): 304 with the
      view's caching headers, never compressed;
    - a worker already served that ETag to the same ``Accept-Encoding``: the same 200
      again (status, headers and body the view produced, compressed or not, kept in the
      shared render cache under ``"wsgi:<etag>|<Accept-Encoding>"``);
    - otherwise Flask answers, and a public 200 of a GET is kept for next time.

    Anything unusual (drafts, bad parameters, unknown slugs, cookies, errors) goes to the
    Flask app, which stays the reference; this only skips Flask's request machinery on the
    hottest paths (a published embed read by many readers, and nginx or browsers revalidating
    it when max-age runs out).
    """

    #: Raw query strings remembered with their canonical form (embeds are read with a handful).
    QUERIES = 4096

    def __init__(self, wsgi_app, app):
        self.wsgi_app = wsgi_app
        self.app = app
        self._prefix: str | None = None
        self._queries: dict[str, str] = {}
        self._fixed: list[tuple[str, str]] | None = None

    @property
    def prefix(self) -> str:
        """The embed view's path before its slug, read once from its URL rule."""
        if self._prefix is None:
            self._prefix = self.app.url_map.bind("").build(
                security.EMBED_ENDPOINT, {"slug": "_"})[:-1]
        return self._prefix

    def __call__(self, environ, start_response):
        method = environ.get("REQUEST_METHOD")
        if method not in ("GET", "HEAD") or not environ.get("PATH_INFO", "").startswith(
                self.prefix):
            return self.wsgi_app(environ, start_response)
        try:
            etag = self._etag(environ)
        except Exception:  # noqa: BLE001 - the Flask app answers (and reports) instead
            LOGGER.debug("embed fast path declined", exc_info=True)
            etag = None
        if etag is None:
            return self.wsgi_app(environ, start_response)
        inm = environ.get("HTTP_IF_NONE_MATCH")
        held = matching_etag(parse_etags(inm), etag) if inm else None
        if held:  # the identity ETag or a compressed representation's (web.compression)
            start_response("304 NOT MODIFIED", self._not_modified_headers(held))
            return []
        # Kept per Accept-Encoding as sent: the view's coding (and so its body and ETag)
        # depends on nothing else.
        key = self._key(etag, environ)
        stored = cache_for(self.app).get(key)
        if stored is not None:
            status, headers, body = stored
            start_response(status, headers)
            return [] if method == "HEAD" else [body]
        if method == "HEAD":
            return self.wsgi_app(environ, start_response)
        return self._keep(environ, start_response, etag)

    @staticmethod
    def _key(etag: str, environ) -> str:
        return f"wsgi:{etag}|{environ.get('HTTP_ACCEPT_ENCODING', '')}"

    def _etag(self, environ) -> str | None:
        """Return the ETag the view would give this request, or None if the view must decide."""
        config = self.app.config
        if config["SESSION_COOKIE_NAME"] in environ.get("HTTP_COOKIE", ""):
            return None  # maybe an editor: drafts and private caching are the view's business
        slug = environ["PATH_INFO"][len(self.prefix):]
        if not slug or "/" in slug:
            return None
        query = self._canonical(environ.get("QUERY_STRING", ""))
        heads = heads_for(self.app)
        row = heads.get(slug)
        if row is None or not row[3]:
            return None
        host_url = f"{environ.get('wsgi.url_scheme', 'http')}://{get_host(environ)}/"
        return etag_for(config, "embed", slug, row[2], query, host_url,
                        head_identity(row[0], row[4], heads.generation))

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
        if self._fixed is None:  # the same for every 304: built once
            config = self.app.config
            self._fixed = [("Cache-Control", cache_control(int(config["MAP_EMBED_MAX_AGE"]))),
                           ("Vary", "Accept-Encoding"), *security.common_headers(config)]
        return [("ETag", f'"{etag}"'), *self._fixed]

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
        coding = names.get("content-encoding")
        if (seen.get("status", "").startswith("200 ")
                and names.get("etag") == (f'"{etag}:{coding}"' if coding else f'"{etag}"')
                and names.get("cache-control", "").startswith("public")
                and "set-cookie" not in names
                and names.get("vary", "Accept-Encoding") == "Accept-Encoding"):
            # Server-Timing describes the request that rendered it, not the ones served again.
            headers = [(name, value) for name, value in seen["headers"]
                       if name.lower() != "server-timing"]
            cache_for(self.app).put(self._key(etag, environ), (seen["status"], headers, body))
        return [body]

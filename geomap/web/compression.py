"""Compression of the app's own responses (flask-compress), for serving without nginx.

Behind the bundled nginx (deploy/nginx.conf) nginx compresses and asks the app for identity
(it sends no ``Accept-Encoding`` upstream), so this matters when gunicorn or the development
server faces clients itself. Only the text types the app serves are compressed, and only
bodies above `MIN_SIZE` (streamed downloads always). Every response gets ``Vary:
Accept-Encoding``. A compressed representation's strong ETag is the identity one with
``:<coding>`` appended inside the quotes (``"abc"`` -> ``"abc:gzip"``), so the two never share
a validator; `render_cache.matching_etag` and the embed fast path
(`published_embeds.PublishedEmbeds`) recognise both when answering ``If-None-Match``. 304s are
never compressed (no body; flask-compress leaves non-2xx responses alone).
"""

from __future__ import annotations

from flask import Flask
from flask_compress import Compress

# Content codings in the server's order of preference (all ship with flask-compress);
# ``deflate`` is left out (clients disagree on what it means); streams may use gzip too.
from .render_cache import CODINGS

#: The text types the app serves (deploy/nginx.conf's gzip_types lists the same).
MIMETYPES = ("text/html", "text/css", "application/javascript", "text/javascript",
             "application/json", "application/geo+json", "text/csv", "image/svg+xml")
#: Smaller bodies are sent as they are (the saving would not pay for the work).
MIN_SIZE = 1024


def init_app(app: Flask) -> None:
    """Compress the app's text responses for clients that accept it."""
    for name, value in (("COMPRESS_MIMETYPES", list(MIMETYPES)),
                        ("COMPRESS_MIN_SIZE", MIN_SIZE),
                        ("COMPRESS_ALGORITHM", list(CODINGS)),
                        ("COMPRESS_ALGORITHM_STREAMING", list(CODINGS))):
        app.config.setdefault(name, value)
    Compress(app)

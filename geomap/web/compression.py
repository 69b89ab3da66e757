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
#: Files sent from disk (static files, send_file) up to this size are read and compressed;
#: larger ones go out as they are, streamed from the file.
MAX_FILE_BYTES = 2 << 20


def init_app(app: Flask) -> None:
    """Compress the app's text responses for clients that accept it."""
    for name, value in (("COMPRESS_MIMETYPES", list(MIMETYPES)),
                        ("COMPRESS_MIN_SIZE", MIN_SIZE),
                        ("COMPRESS_ALGORITHM", list(CODINGS)),
                        ("COMPRESS_ALGORITHM_STREAMING", list(CODINGS))):
        app.config.setdefault(name, value)
    # Registered by hand (not COMPRESS_REGISTER) so that files sent from disk pass through
    # `_from_file` first.
    app.config["COMPRESS_REGISTER"] = False
    compress = Compress(app)
    app.after_request(lambda response: _from_file(response, compress.after_request))


def _from_file(response, compress):
    """Compress a response, reading a small text file sent from disk into a plain body first.

    flask-compress would wrap send_file's file wrapper in a generator of compressed chunks,
    and the file would never be closed (one leaked descriptor per static file served).
    Small text files are read and closed here, then compressed like any body; anything else
    sent from a file (large, binary, partial, a 304) goes out as it is, uncompressed, and
    Werkzeug closes the file.
    """
    if not response.direct_passthrough:
        return compress(response)
    if (response.status_code != 200 or response.mimetype not in MIMETYPES
            or response.content_length is None or response.content_length > MAX_FILE_BYTES):
        return response
    source = response.response
    try:
        response.direct_passthrough = False
        response.set_data(b"".join(response.iter_encoded()))
    finally:
        close = getattr(source, "close", None)
        if close is not None:
            close()
    return compress(response)

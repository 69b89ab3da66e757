"""Security defaults: CSRF on every form, strict headers on every response."""

from __future__ import annotations

from flask import Flask, request
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()

# Pages that set their own policy (maps and embeds need hashes for folium's inline scripts)
# keep it; everything else gets this one.
DEFAULT_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
               "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def frame_ancestors(app: Flask) -> str:
    """Return the frame-ancestors source list for /embed/* from the settings."""
    value = str(app.config["EMBED_FRAME_ANCESTORS"]).strip()
    return value or "'none'"


def init_app(app: Flask) -> None:
    """Install CSRF protection and the header policy."""
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)
    csrf.init_app(app)

    @app.after_request
    def _headers(response):
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        if "Content-Security-Policy" not in headers:
            headers["Content-Security-Policy"] = DEFAULT_CSP
        if not request.path.startswith("/embed/"):
            # Only embeds may be framed; the old header covers browsers without CSP 3.
            headers.setdefault("X-Frame-Options", "DENY")
            csp = headers["Content-Security-Policy"]
            if "frame-ancestors" not in csp:
                headers["Content-Security-Policy"] = csp.rstrip("; ") + "; frame-ancestors 'none'"
        if app.config.get("SESSION_COOKIE_SECURE"):
            headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response

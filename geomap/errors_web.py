"""Render GeomapError and HTTP errors as HTML pages or JSON (for /api/*, /oembed, /healthz)."""

from __future__ import annotations

import logging

from flask import Flask, render_template, request
from werkzeug.exceptions import HTTPException

from .errors import GeomapError

LOGGER = logging.getLogger(__name__)
JSON_PREFIXES = ("/api/", "/oembed", "/healthz")


def wants_json() -> bool:
    """Say whether the current request should get errors as JSON."""
    path = request.path
    if path.startswith(JSON_PREFIXES) or path.endswith((".json", ".geojson")):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and not request.accept_mimetypes.accept_html


def render_error(error: GeomapError):
    """Return the response for an error: JSON {"error": {...}} or the error page."""
    if wants_json():
        return error.to_dict(), error.status
    return render_template("error.html", error=error), error.status


def _from_http(exc: HTTPException) -> GeomapError:
    code = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
            405: "method_not_allowed", 413: "too_large", 429: "too_many_requests"}
    message = exc.description or exc.name
    if exc.code == 413:
        message = ("The upload is larger than this service accepts "
                   f"({_limit_mb()} MB); split the file or ask an administrator to raise "
                   "GEOMAP_MAX_UPLOAD_MB.")
    return GeomapError(message, status=exc.code or 500,
                       code=code.get(exc.code or 500, "http_error"))


def _limit_mb() -> str:
    from flask import current_app

    return f"{current_app.config['MAX_UPLOAD_MB']:g}"


def init_app(app: Flask) -> None:
    """Register one handler for domain errors, HTTP errors and unexpected exceptions."""

    @app.errorhandler(GeomapError)
    def _domain(error: GeomapError):
        return render_error(error)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        response = render_error(_from_http(exc))
        if exc.code == 405 and getattr(exc, "valid_methods", None):
            body, status = response
            return body, status, {"Allow": ", ".join(exc.valid_methods)}
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        LOGGER.exception("unhandled error on %s %s", request.method, request.path)
        return render_error(GeomapError("Something went wrong on our side; it has been logged."))

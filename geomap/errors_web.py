"""Render GeomapError and HTTP errors as HTML pages or JSON (for /api/*, /oembed, /healthz)."""

from __future__ import annotations

import logging

from flask import Flask, render_template, request
from werkzeug.exceptions import HTTPException

from flask_babel import gettext

from . import i18n
from .errors import GeomapError
from .language import N_

LOGGER = logging.getLogger(__name__)
JSON_PREFIXES = ("/api/", "/oembed", "/healthz")


def wants_json() -> bool:
    """Say whether the current request should get errors as JSON."""
    path = request.path
    if path.startswith(JSON_PREFIXES) or path.endswith((".json", ".geojson")):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and not request.accept_mimetypes.accept_html


#: What the error page's heading calls each error code (said in the reader's language).
HEADINGS = {"bad_request": N_("bad request"), "not_found": N_("not found"),
            "forbidden": N_("forbidden"), "unauthorized": N_("sign-in needed"),
            "too_many_requests": N_("too many requests"), "unavailable": N_("unavailable"),
            "internal_error": N_("internal error"), "method_not_allowed": N_("method not allowed"),
            "not_implemented": N_("not implemented"), "too_large": N_("too large")}


def render_error(error: GeomapError):
    """Return the response for an error: JSON {"error": {...}} or the error page.

    Error pages speak the request's language (`geomap.i18n`); JSON errors, which programs
    read, stay in English unless ``?lang=`` asks for another (``details`` always English).
    """
    if wants_json():
        body = error.to_dict()
        if i18n.asked_language() not in (None, "en"):
            body["error"]["message"] = error.localised(gettext)
        return body, error.status
    heading = HEADINGS.get(error.code)
    english = i18n.current_language() == "en"
    return render_template("error.html", error=error,
                           message=error.message if english else error.localised(gettext),
                           heading=gettext(heading) if heading
                           else error.code.replace("_", " ")), error.status


def _from_http(exc: HTTPException) -> GeomapError:
    code = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
            405: "method_not_allowed", 413: "too_large", 429: "too_many_requests"}
    message = exc.description or exc.name
    translatable = None
    if exc.code == 404:  # an unknown address: say it in the reader's language
        translatable = (N_("There is no page at this address. Check the link, or start from "
                           "the published maps."), {})
    if exc.code == 413:
        message = ("The upload is larger than this service accepts "
                   f"({_limit_mb()} MB); split the file or ask an administrator to raise "
                   "GEOMAP_MAX_UPLOAD_MB.")
    return GeomapError(message, status=exc.code or 500,
                       code=code.get(exc.code or 500, "http_error"), translatable=translatable)


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
        return render_error(GeomapError(
            "Something went wrong on our side; it has been logged.",
            translatable=(N_("Something went wrong on our side; it has been logged."), {})))

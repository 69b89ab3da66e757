"""Security defaults: CSRF on every form, strict headers on every response, inert JSON."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, request
from flask.json.provider import DefaultJSONProvider
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFError, CSRFProtect

from . import jsontext
from .errors import Forbidden

csrf = CSRFProtect()
#: Methods that never write, so never need the token.
SAFE_METHODS = ("GET", "HEAD", "OPTIONS", "TRACE")

# Pages that set their own policy (maps and embeds need hashes for folium's inline scripts)
# keep it; everything else gets this one.
DEFAULT_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
               "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def require_csrf_token() -> None:
    """Refuse a cookie-authenticated write without the session's CSRF token (403 JSON).

    Blueprints that scripts call with bearer tokens are exempt from the blanket check that
    guards every form; an editor's browser sends its session cookie to them too, and SameSite
    does not stop a page on a sibling subdomain or another port of the same site. So the
    guard that lets a cookie through (`web.guards.token_required`) calls this. The token is read
    like the forms' one (field ``csrf_token`` or header ``X-CSRFToken``; every editor page
    carries it in ``<meta name="csrf-token">``), by Flask-WTF's own check.
    """
    if request.method in SAFE_METHODS or not current_app.config.get("WTF_CSRF_ENABLED", True):
        return
    try:
        csrf.protect()
    except CSRFError as exc:
        raise Forbidden(
            "writing with a signed-in session needs the CSRF token: send it in the "
            "X-CSRFToken header (or the csrf_token form field), or authenticate with "
            "Authorization: Bearer <token> instead of the cookie",
            details={"reason": exc.description, "header": "X-CSRFToken",
                     "field": "csrf_token"}) from None


def frame_ancestors(app: Flask) -> str:
    """Return the frame-ancestors source list for /embed/* from the settings."""
    value = str(app.config["EMBED_FRAME_ANCESTORS"]).strip()
    return value or "'none'"


def map_csp(config, script_hashes: list[str], *, embed: bool, tile_origin: str | None = None
            ) -> str:
    """Return the policy of a map page or embed (its own: `DEFAULT_CSP` is not added).

    Its inline scripts are allowed by hash only; `tile_origin` is where map tiles come from
    (None when the map draws no tiles); only an embed may be framed, by the sites
    ``EMBED_FRAME_ANCESTORS`` names (empty: by nobody).
    """
    img = "img-src 'self' data:"
    if tile_origin:
        img += " " + tile_origin
    ancestors = "'none'"
    if embed:
        ancestors = str(config.get("EMBED_FRAME_ANCESTORS") or "").strip() or "'none'"
    scripts = " ".join(["'self'", *script_hashes])
    return (f"default-src 'self'; script-src {scripts}; style-src 'self'; {img}; "
            "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
            f"form-action 'self'; frame-ancestors {ancestors}")


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, without building the signer for cookie-less requests.

    The cookie is marked Secure on every HTTPS request, SESSION_COOKIE_SECURE or not.

    Readers (embeds, maps, the API) carry no session cookie; Flask would still derive the
    signing key on every request. Same result (an empty session), less work on the hot path.
    """

    def open_session(self, app, request):
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)

    def get_cookie_secure(self, app):
        # Secure whenever the request came over HTTPS (directly or, with PROXY_HOPS or
        # gunicorn's forwarded headers, through the proxy), not only when configured.
        return super().get_cookie_secure(app) or request.is_secure


def common_headers(config) -> list[tuple[str, str]]:
    """Headers every response gets, 304s included (also sent by the embed fast path)."""
    headers = [("X-Content-Type-Options", "nosniff"),
               ("Referrer-Policy", "strict-origin-when-cross-origin")]
    if config.get("SESSION_COOKIE_SECURE"):
        headers.append(("Strict-Transport-Security", "max-age=31536000"))
    return headers


def init_app(app: Flask) -> None:
    """Install CSRF protection, cookie sessions and the header policy."""
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)
    app.session_interface = CookieSessions()
    csrf.init_app(app)

    @app.after_request
    def _headers(response):
        headers = response.headers
        for name, value in common_headers(app.config):
            headers.setdefault(name, value)
        if response.status_code == 304:
            # A 304 updates the headers a browser stored with the 200 (RFC 9111 4.3.4): a
            # default policy here would replace an embed's own CSP (frame-ancestors 'none').
            return response
        if "Content-Security-Policy" not in headers:
            headers["Content-Security-Policy"] = DEFAULT_CSP
        if request.endpoint != EMBED_ENDPOINT:
            # Only embeds may be framed; the old header covers browsers without CSP 3.
            headers.setdefault("X-Frame-Options", "DENY")
            csp = headers["Content-Security-Policy"]
            if "frame-ancestors" not in csp:
                headers["Content-Security-Policy"] = csp.rstrip("; ") + "; frame-ancestors 'none'"
        return response


#: The one view whose pages may be framed (by EMBED_FRAME_ANCESTORS).
EMBED_ENDPOINT = "maps.embed"


class SafeJSONProvider(DefaultJSONProvider):
    """Flask's JSON with `jsontext.ESCAPES` applied: inert even if a browser read it as HTML."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return jsontext.escape(super().dumps(obj, **kwargs))

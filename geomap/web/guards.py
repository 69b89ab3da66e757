"""Who a request acts for, and the guards views put in front of themselves.

`load_actor` runs before every request (installed by `init_app`, called from `create_app`)
and sets ``g.user``: an `access.Actor` or None. `login_required`, `admin_required` and
`token_required` wrap views. Not a blueprint: every blueprint imports its guards from here,
none from another blueprint (sign-in and sign-out themselves are `web.auth`'s views).
"""

from __future__ import annotations

import functools

from flask import Flask, current_app, g, redirect, request, session, url_for
from werkzeug.urls import iri_to_uri

from .. import access, accounts
from ..db import get_engine
from ..errors import Unauthorized
from ..security import require_csrf_token


def init_app(app: Flask) -> None:
    """Set ``g.user`` before every request (`load_actor`)."""
    app.before_request(load_actor)


def bearer() -> str | None:
    """Return the request's bearer token (other Authorization schemes are not ours), or None."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def load_actor() -> None:
    """Set g.user (an `access.Actor` or None) and g.user_name for this request.

    A bearer token acts for its user (a wrong one is refused here, before any view); other
    Authorization schemes (a proxy's Basic auth) are left to the views that need a token.
    A session cookie names a user and a session generation, checked against the database on
    every request that carries it, so a copied cookie stops working at logout.
    """
    g.user = None
    # Short-lived connections: a request's own (get_db) would stay in a transaction through
    # a long import on the write API.
    token = bearer()
    if token is not None:
        with get_engine().connect() as conn:
            row = accounts.check_token(conn, token)
        if row is None:
            raise Unauthorized("the API token is missing, wrong, revoked or its user is "
                               "disabled", details={"header": "Authorization: Bearer <token>"})
        g.user = accounts.token_actor(row)
    # Touching the session adds "Vary: Cookie", which stops shared caches from keeping public
    # pages; readers carry no session cookie, so for them it is never read.
    elif current_app.config["SESSION_COOKIE_NAME"] in request.cookies and "user_id" in session:
        with get_engine().connect() as conn:
            g.user = accounts.session_actor(conn, session.get("user_id"),
                                            session.get("generation"))
        if g.user is None:
            session.clear()  # ended elsewhere (logout, password change, disabled)
    g.user_name = g.user.name if g.user else None


def login_required(view):
    """Let signed-in users through; send everyone else to the login form."""

    @functools.wraps(view)
    def wrapped(**kwargs):
        if g.get("user") is None:
            # Werkzeug decodes the path: quoted again, a space or a non-ASCII character in it
            # survives the login's check of `next` (which refuses raw whitespace).
            return redirect(url_for("auth.login",
                                    next=iri_to_uri(request.full_path.rstrip("?"))))
        return view(**kwargs)

    return wrapped


def admin_required(view):
    """Let signed-in admins through (403 for other users, login form for anonymous)."""

    @functools.wraps(view)
    @login_required
    def wrapped(**kwargs):
        access.require_admin(g.user)
        return view(**kwargs)

    return wrapped


def token_required(view):
    """Let through a valid bearer token or a signed-in user; otherwise 401 JSON.

    The token itself is checked by `load_actor`; which datasets its user may write is
    `access.require_write`'s to say. A signed-in user's writes (POST and the like) also need
    the CSRF token (403 JSON without it).
    """

    @functools.wraps(view)
    def wrapped(**kwargs):
        if g.get("user") is None:
            if request.headers.get("Authorization"):
                raise Unauthorized("the API token is missing, wrong or revoked",
                                   details={"header": "Authorization: Bearer <token>"})
            raise Unauthorized("writing needs an API token: send Authorization: Bearer <token> "
                               "(create one on the Tokens page or with flask --app geomap "
                               "create-token NAME --user USER)")
        if not bearer():
            # The session cookie comes with any request the browser sends to this site, the
            # forged ones included; a bearer token never does.
            require_csrf_token()
        return view(**kwargs)

    return wrapped

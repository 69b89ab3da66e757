"""Sign-in and sign-out, who the request acts for (session or token), and the view guards."""

from __future__ import annotations

import functools
import time
import unicodedata
from urllib.parse import quote, unquote, urlsplit

from flask import (Blueprint, current_app, g, redirect, render_template, request, session,
                   url_for)
import sqlalchemy as sa
from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage
from limits.strategies import FixedWindowRateLimiter

from .. import access, accounts, db
from ..db import get_db, get_engine, write_connection
from ..errors import TooManyRequests, Unauthorized
from ..security import require_csrf_token

bp = Blueprint("auth", __name__, url_prefix="/auth")
#: How long a sign-in waits for SQLite's write lock (held by a long import) before it is
#: counted in this process only.
COUNTER_WAIT_MS = 3000


#: Seconds since the epoch for the sign-in counters' windows (tests pin it).
clock = time.time


@bp.record_once
def _setup(state) -> None:
    app = state.app
    app.extensions["geomap.login_limiter"] = FixedWindowRateLimiter(MemoryStorage())
    app.before_request(_load_user)


def _login_allowed() -> bool:
    """Count one sign-in attempt from this address; say whether it is within the limits.

    Attempts are counted in the database, shared by every worker and app server, and only by
    the login view, so reading pages pays nothing for it.
    """
    address = request.remote_addr or "unknown"
    try:
        with db.write_connection(get_engine()) as conn, \
                db.sqlite_pragmas(conn, busy_timeout=COUNTER_WAIT_MS), conn.begin():
            return accounts.count_login_attempt(conn, address, clock())
    except sa.exc.OperationalError:
        # SQLite's write lock held past the wait (a multi-million-row import): count the
        # attempt in this process rather than fail the sign-in or let it through uncounted.
        current_app.logger.warning("login counter busy; counting %s in this process", address)
        limiter = current_app.extensions["geomap.login_limiter"]
        return all(limiter.hit(RateLimitItemPerSecond(limit, span), "login", address)
                   for span, limit in accounts.LOGIN_LIMITS)


def _bearer() -> str | None:
    """Return the request's bearer token (other Authorization schemes are not ours), or None."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def _load_user() -> None:
    """Set g.user (an `access.Actor` or None) and g.user_name for this request.

    A bearer token acts for its user (a wrong one is refused here, before any view); other
    Authorization schemes (a proxy's Basic auth) are left to the views that need a token.
    A session cookie names a user and a session generation, checked against the database on
    every request that carries it, so a copied cookie stops working at logout.
    """
    g.user = None
    # Short-lived connections: a request's own (get_db) would stay in a transaction through
    # a long import on the write API.
    token = _bearer()
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


#: Longest ``next`` honoured (login_required's own links are far shorter).
MAX_NEXT = 2048
#: Printable ASCII: kept as is when a checked ``next`` is quoted for the Location header.
_ASCII_SAFE = "".join(chr(c) for c in range(0x21, 0x7F))


def _slash_like(ch: str) -> bool:
    """Say whether a non-ASCII character is, or normalises to, a slash or backslash."""
    name = unicodedata.name(ch, "")
    return ("SOLIDUS" in name or "SLASH" in name
            or unicodedata.normalize("NFKC", ch) in ("/", "\\"))


def _local_path(target: str) -> bool:
    """Say whether target, as a browser would read it, is a path on this site.

    Browsers drop tabs and newlines from URLs and read a backslash as a slash, so
    ``/\t/evil.example`` becomes ``//evil.example``, another host; Werkzeug refuses a
    Location header holding CR or LF (a 500). So: no control or format characters, no
    whitespace (Unicode spaces included), no backslash and no Unicode look-alike of a slash
    (``／`` becomes ``/`` under NFKC, which some clients apply); then ``urlsplit`` must find
    neither a scheme nor a host, and the path must start with exactly one slash.
    """
    if any(ch.isspace() or ch == "\\" or unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp")
           or (not ch.isascii() and _slash_like(ch)) for ch in target):
        return False
    parts = urlsplit(target)
    return (not parts.scheme and not parts.netloc and target.startswith("/")
            and not target.startswith("//"))


def _as_decoded(target: str) -> str:
    """Return target percent-decoded, with what browsers drop dropped and ``\\`` read as ``/``."""
    decoded = unquote(target)
    kept = "".join(ch for ch in decoded if not (ch.isspace() or unicodedata.category(ch)
                                                in ("Cc", "Cf", "Zl", "Zp")))
    return kept.replace("\\", "/")


def _safe_next(target: str | None) -> str:
    """Return a path on this site to go to after login; anything else goes to the index.

    The check runs on the value and on its percent-decoded form (``/%09/evil``,
    ``/%2F/evil``): a path that only decodes to another host is refused too, while an
    encoded space (``/a%20b``) is fine. Non-ASCII characters that pass (a query naming a
    place) are percent-encoded, so the Location header holds ASCII only.
    """
    if (target and len(target) <= MAX_NEXT and _local_path(target)
            and _local_path(_as_decoded(target))):
        return quote(target, safe=_ASCII_SAFE)
    return url_for("pages.index")


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Show the login form; sign an editor in."""
    if request.method == "POST":
        if not _login_allowed():
            raise TooManyRequests("too many sign-in attempts from this address; wait a "
                                  "minute and try again")
        user = accounts.check_login(get_db(), request.form.get("name", "").strip(),
                                    request.form.get("password", ""))
        if user is not None:
            session.clear()
            session["user_id"] = user["id"]
            session["generation"] = user["session_generation"]
            session.permanent = False
            return redirect(_safe_next(request.form.get("next")))
        return render_template("auth/login.html", next=_safe_next(request.form.get("next")),
                               error="Wrong user name or password."), 401
    # The form carries the checked path, never the raw value (which may hold a newline).
    return render_template("auth/login.html", next=_safe_next(request.args.get("next")))


@bp.post("/logout")
def logout():
    """Sign out (POST with CSRF token, so another site cannot log editors out).

    Ends every session of the user, on every device: a copy of this cookie would otherwise
    keep working (signed cookies cannot be revoked one by one).
    """
    if g.user is not None and g.user.id is not None and "user_id" in session:
        with write_connection(get_engine()) as conn, conn.begin():
            accounts.end_sessions(conn, g.user.id)
    session.clear()
    return redirect(url_for("pages.index"))


def login_required(view):
    """Let signed-in users through; send everyone else to the login form."""

    @functools.wraps(view)
    def wrapped(**kwargs):
        if g.get("user") is None:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
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

    The token itself is checked by `_load_user`; which datasets its user may write is
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
        if not _bearer():
            # The session cookie comes with any request the browser sends to this site, the
            # forged ones included; a bearer token never does.
            require_csrf_token()
        return view(**kwargs)

    return wrapped

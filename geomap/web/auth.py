"""Sign-in and sign-out (the login form, its rate limit and its ``next``).

Who a request acts for and the view guards are `geomap.web.guards`' (no blueprint imports
another blueprint).
"""

from __future__ import annotations

import time
import unicodedata
from urllib.parse import quote, unquote, urlsplit

from flask import (Blueprint, current_app, g, redirect, render_template, request, session,
                   url_for)
import sqlalchemy as sa
from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage
from limits.strategies import FixedWindowRateLimiter

from .. import accounts, db
from ..db import get_db, get_engine, write_connection
from ..errors import TooManyRequests

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

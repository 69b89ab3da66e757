"""Account pages: admins manage users; every signed-in user manages their own API tokens."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for

from .. import accounts
from ..db import get_db, get_engine, write_connection
from ..errors import BadRequest, Conflict, NotFound
from .guards import admin_required, login_required

bp = Blueprint("account", __name__, url_prefix="/editor")

#: Mistakes in a form are shown on the page it came from; Forbidden and the rest are errors.
FORM_ERRORS = (BadRequest, Conflict, NotFound)


@bp.get("/users")
@admin_required
def users():
    """Every user with their role and state, and the form to create one."""
    return render_template("editor/users.html", users=accounts.list_users(get_db()))


@bp.post("/users")
@admin_required
def user_action():
    """Create a user, change a role, disable or enable a user (``action``)."""
    form = request.form
    action, name = form.get("action", ""), form.get("name", "").strip()
    try:
        with write_connection(get_engine()) as conn, conn.begin():
            if action == "create":
                accounts.create_user(conn, name, form.get("password", ""),
                                     role=form.get("role", "editor"))
            elif action == "role":
                accounts.set_role(conn, name, form.get("role", ""), actor=g.user)
            elif action in ("disable", "enable"):
                accounts.set_disabled(conn, name, action == "disable", actor=g.user)
            else:
                raise BadRequest(f"unknown action {action!r}")
        flash(f"Done: {action} {name}.", "info")
    except FORM_ERRORS as error:
        flash(error.message, "error")
    return redirect(url_for("account.users"))


@bp.get("/tokens")
@login_required
def tokens():
    """The user's API tokens (admins: everyone's) and the form to create one."""
    return render_template("editor/tokens.html", tokens=accounts.list_tokens(get_db(), g.user),
                           new_token=None)


@bp.post("/tokens")
@login_required
def create_token():
    """Create a token for the signed-in user and show it, once."""
    try:
        with write_connection(get_engine()) as conn, conn.begin():
            token = accounts.create_token(conn, request.form.get("name", ""), g.user.name)
    except FORM_ERRORS as error:
        flash(error.message, "error")
        return redirect(url_for("account.tokens"))
    response = render_template("editor/tokens.html", new_token=token,
                               tokens=accounts.list_tokens(get_db(), g.user))
    # The only time the token exists in clear: keep it out of every cache.
    return response, 201, {"Cache-Control": "no-store"}


@bp.post("/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id: int):
    """Revoke one of the user's tokens (admins: anyone's)."""
    with write_connection(get_engine()) as conn, conn.begin():
        accounts.revoke_token_id(conn, g.user, token_id)
    flash("Token revoked.", "info")
    return redirect(url_for("account.tokens"))


@bp.post("/password")
@login_required
def change_password():
    """Change one's own password; every session of the user ends, this one included."""
    try:
        with write_connection(get_engine()) as conn, conn.begin():
            accounts.change_own_password(conn, g.user, request.form.get("current", ""),
                                         request.form.get("new", ""))
    except FORM_ERRORS as error:
        flash(error.message, "error")
        return redirect(url_for("account.tokens"))
    session.clear()
    flash("Password changed: sign in again with the new one.", "info")
    return redirect(url_for("auth.login"))

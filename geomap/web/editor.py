"""Editors' pages: the datasets one may write (drafts included), editing, publishing, members,
the corrections log, reverting the latest import, deleting a dataset."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from .. import access, corrections, ingest, store
from ..db import get_db, get_engine, write_connection
from ..errors import BadRequest, Conflict, NotFound
from .guards import login_required

bp = Blueprint("editor", __name__, url_prefix="/editor")

TEXT_LIMITS = {"title": 300, "source": 500, "license": 200, "description": 10_000}


@bp.get("/")
@login_required
def datasets():
    """List the datasets the user may write (admins: all), drafts included."""
    conn = get_db()
    rows = access.writable(conn, g.user, store.list_datasets(conn, published_only=False))
    return render_template("editor/datasets.html", datasets=rows)


def _form_fields(form) -> dict:
    """Validate the edit form; raise BadRequest naming the field and the limit."""
    fields = {}
    for name, limit in TEXT_LIMITS.items():
        value = form.get(name, "").strip()
        if len(value) > limit:
            raise BadRequest(f"{name} is {len(value)} characters long; the limit is {limit}",
                             details={"field": name})
        if "\x00" in value:  # PostgreSQL cannot store U+0000 in text (it gave a 500 there)
            raise BadRequest(f"{name} contains a NUL character (U+0000)",
                             details={"field": name})
        fields[name] = value
    if not fields["title"]:
        raise BadRequest("title must not be empty", details={"field": "title"})
    raw = form.get("min_public_count", "1").strip() or "1"
    # ASCII and short before int(): str.isdigit takes "²" and 5000-digit strings, which
    # int() refuses with a ValueError (a 500).
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 4) or not 1 <= int(raw) <= 1000:
        raise BadRequest(f"min_public_count must be a whole number from 1 to 1000, got {raw!r}",
                         details={"field": "min_public_count", "value": raw})
    fields["min_public_count"] = int(raw)
    fields["published"] = form.get("published") == "on"
    return fields


@bp.route("/datasets/<slug>", methods=["GET", "POST"])
@login_required
def edit(slug: str):
    """Edit a dataset's title, credit, licence, description and state."""
    conn = get_db()
    dataset = store.get_dataset(conn, slug)
    access.require_write(conn, g.user, dataset)
    if request.method == "POST":
        try:
            fields = _form_fields(request.form)
        except BadRequest as error:
            flash(error.message, "error")
            return _render_edit(conn, dataset, request.form), 400
        with write_connection(get_engine()) as writer, writer.begin():
            # Checked again in the writing transaction: access may have changed meanwhile.
            access.require_write(writer, g.user, store.get_dataset(writer, slug))
            store.update_dataset(writer, slug, **fields)
        flash("Saved. Maps and embeds show the change now.", "info")
        return redirect(url_for("editor.edit", slug=slug))
    return _render_edit(conn, dataset)


def _render_edit(conn, dataset: dict, form=None, correction=None):
    """The edit page; a rejected form's values are shown again (only the editable fields:
    the dataset's id and slug, which select its imports and members, never come from it;
    `correction`: a rejected entry of the corrections log)."""
    typed = {k: form[k] for k in (*TEXT_LIMITS, "min_public_count", "published")
             if form is not None and k in form}
    latest = store.latest_import(conn, dataset["id"])
    entry = {k: correction.get(k, "") for k in store.CORRECTION_FIELDS} if correction else {}
    return render_template("editor/edit.html", dataset={**dataset, **typed},
                           imports=store.list_imports(conn, dataset["id"]),
                           corrections=store.list_corrections(conn, dataset["id"]),
                           entry=entry, today=store.utcnow().date().isoformat(),
                           latest_id=latest["id"] if latest else None,
                           members=access.list_members(conn, dataset["id"]),
                           may_manage=access.can_manage_members(conn, g.user, dataset),
                           may_delete=access.can_delete(conn, g.user, dataset))


@bp.post("/datasets/<slug>/corrections")
@login_required
def add_correction(slug: str):
    """Add a dated entry to the dataset's corrections log (the form on its edit page)."""
    conn = get_db()
    dataset = store.get_dataset(conn, slug)
    access.require_write(conn, g.user, dataset)
    try:
        entry = corrections.add(get_engine(), slug, request.form, actor=g.user)
    except (BadRequest, Conflict) as error:
        flash(error.message, "error")
        return _render_edit(conn, dataset, correction=request.form), error.status
    flash(_("Correction of %(date)s added to the log. Maps and embeds show it now.",
            date=entry["corrected_on"].isoformat()), "info")
    return redirect(url_for("editor.edit", slug=slug, _anchor="corrections"))


@bp.post("/datasets/<slug>/imports/<int:import_id>/revert")
@login_required
def revert(slug: str, import_id: int):
    """Revert the dataset's latest import (the button on its row of the imports table)."""
    try:
        done = ingest.revert_import(get_engine(), slug, import_id, actor=g.user)
    except Conflict as error:
        flash(error.message, "error")
        return redirect(url_for("editor.edit", slug=slug))
    flash(f"Reverted import {import_id}: {done['removed']:,} rows removed, "
          f"{done['restored']:,} restored as they were. Maps and embeds show it now.", "info")
    return redirect(url_for("editor.edit", slug=slug))


@bp.route("/datasets/<slug>/delete", methods=["GET", "POST"])
@login_required
def delete(slug: str):
    """Delete a dataset: a confirmation page, then (typing the slug) the deletion."""
    conn = get_db()
    dataset = store.get_dataset(conn, slug)
    access.require_delete(conn, g.user, dataset)
    [listed] = store.list_datasets(conn, published_only=False, slug=slug)
    if request.method == "POST":
        if request.form.get("confirm", "").strip() != slug:
            flash(f"Type the dataset's slug, {slug}, to confirm.", "error")
            return render_template("editor/delete.html", dataset=listed), 400
        done = ingest.delete_dataset(get_engine(), slug, actor=g.user)
        flash(f"Deleted dataset {slug} ({done['incidents']:,} incidents). The records of its "
              f"{done['imports']} import(s) are kept.", "info")
        return redirect(url_for("editor.datasets"))
    return render_template("editor/delete.html", dataset=listed)


@bp.post("/datasets/<slug>/members")
@login_required
def members(slug: str):
    """Add a collaborator or owner (``action=add``) or remove a member (``action=remove``)."""
    name = request.form.get("user_name", "").strip()
    store.get_dataset(get_db(), slug)  # 404 for a missing dataset, not a flash
    try:
        with write_connection(get_engine()) as writer, writer.begin():
            if request.form.get("action") == "remove":
                access.remove_member(writer, g.user, slug, name)
            else:
                access.set_member(writer, g.user, slug, name,
                                  request.form.get("role", "collaborator"))
    except (BadRequest, Conflict, NotFound) as error:
        flash(error.message, "error")
    return redirect(url_for("editor.edit", slug=slug))

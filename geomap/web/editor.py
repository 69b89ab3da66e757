"""Editors' pages: all datasets (drafts included), editing a dataset, publishing."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for

from .. import storage
from ..db import get_db, get_engine, write_connection
from ..errors import BadRequest
from .auth import login_required

bp = Blueprint("editor", __name__, url_prefix="/editor")

TEXT_LIMITS = {"title": 300, "source": 500, "license": 200, "description": 10_000,
               "correction": 10_000}


@bp.get("/")
@login_required
def datasets():
    """List every dataset, drafts included."""
    rows = storage.list_datasets(get_db(), published_only=False)
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
    if not raw.isdigit() or not 1 <= int(raw) <= 1000:
        raise BadRequest(f"min_public_count must be a whole number from 1 to 1000, got {raw!r}",
                         details={"field": "min_public_count", "value": raw})
    fields["min_public_count"] = int(raw)
    fields["published"] = form.get("published") == "on"
    return fields


@bp.route("/datasets/<slug>", methods=["GET", "POST"])
@login_required
def edit(slug: str):
    """Edit a dataset's title, credit, licence, description, correction note and state."""
    conn = get_db()
    dataset = storage.get_dataset(conn, slug)
    if request.method == "POST":
        try:
            fields = _form_fields(request.form)
        except BadRequest as error:
            flash(error.message, "error")
            return render_template("editor/edit.html", dataset={**dataset, **request.form}), 400
        with write_connection(get_engine()) as writer, writer.begin():
            storage.update_dataset(writer, slug, **fields)
        flash("Saved. Maps and embeds show the change now.", "info")
        return redirect(url_for("editor.edit", slug=slug))
    imports = storage.list_imports(conn, dataset["id"])
    return render_template("editor/edit.html", dataset=dataset, imports=imports)

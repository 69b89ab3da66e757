"""JSON API: datasets (read side)."""

from __future__ import annotations

from flask import Blueprint, g, jsonify, url_for

from .. import access, corrections, jsontext, store
from ..db import get_db
from ..errors import NotFound
from ..security import csrf

bp = Blueprint("api", __name__, url_prefix="/api")
# The API authenticates writes with bearer tokens, not cookies, so CSRF does not apply.
csrf.exempt(bp)

PUBLIC_FIELDS = ("slug", "title", "description", "source", "license", "version",
                 "created_at", "updated_at")


def dataset_json(row: dict) -> dict:
    """Return the public JSON form of a dataset row."""
    out = {k: jsontext.plain(row.get(k)) for k in PUBLIC_FIELDS}
    out["incidents"] = int(row.get("incidents", 0) or 0)
    out["total_count"] = int(row.get("total_count", 0) or 0)
    out["url"] = url_for("api.dataset", slug=row["slug"], _external=True)
    out["map_url"] = url_for("maps.map_page", slug=row["slug"], _external=True)
    return out


@bp.get("/datasets")
def datasets():
    """List published datasets, and to whoever may write them (signed in or with a bearer
    token) their drafts too, each marked with ``published``."""
    conn = get_db()
    actor = g.get("user")
    writable = access.writable_ids(conn, actor) if actor is not None else set()
    rows = [r for r in store.list_datasets(conn, published_only=actor is None)
            if r["published"] or writable is None or r["id"] in writable]
    response = jsonify({"datasets": [{**dataset_json(r), "published": bool(r["published"])}
                                     for r in rows]})
    if any(not r["published"] for r in rows):
        response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/datasets/<slug>")
def dataset(slug: str):
    """Describe one dataset with its imports and its corrections log (newest first):
    published ones to everybody, drafts to whoever may write them (signed in or with a
    bearer token), else 404."""
    conn = get_db()
    row = store.get_dataset(conn, slug)
    privileged = access.can_write(conn, g.get("user"), row)
    if not (row["published"] or privileged):
        raise NotFound(f"no dataset {slug!r}", details={"slug": slug})
    [listed] = store.list_datasets(conn, published_only=False, slug=slug)
    out = dataset_json(listed)
    # Readers see what changed and when; who uploaded which file is for its writers only.
    private = ({"stored_path"} if privileged
               else {"stored_path", "user_name", "filename", "reverted_by"})
    out["imports"] = [
        {k: jsontext.plain(v) for k, v in imp.items() if k not in private}
        for imp in store.list_imports(conn, row["id"])
    ]
    out["corrections"] = [corrections.public(entry, private=privileged)
                          for entry in store.list_corrections(conn, row["id"])]
    response = jsonify(out)
    if privileged:
        response.headers["Cache-Control"] = "private, no-store"
    return response

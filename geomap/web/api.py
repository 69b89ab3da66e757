"""JSON API: datasets (read side)."""

from __future__ import annotations

from flask import Blueprint, g, jsonify, url_for

from .. import access, jsontext, store
from ..db import get_db
from ..errors import NotFound
from ..security import csrf

bp = Blueprint("api", __name__, url_prefix="/api")
# The API authenticates writes with bearer tokens, not cookies, so CSRF does not apply.
csrf.exempt(bp)

PUBLIC_FIELDS = ("slug", "title", "description", "source", "license", "correction", "version",
                 "created_at", "updated_at")


def dataset_json(row: dict) -> dict:
    """Return the public JSON form of a dataset row."""
    out = {k: jsontext.plain(row.get(k)) for k in PUBLIC_FIELDS}
    out["incidents"] = int(row.get("incidents", 0) or 0)
    out["total_count"] = int(row.get("total_count", 0) or 0)
    out["url"] = url_for("api.dataset", slug=row["slug"], _external=True)
    out["map_url"] = f"{url_for('pages.index', _external=True)}maps/{row['slug']}"
    return out


@bp.get("/datasets")
def datasets():
    """List published datasets."""
    rows = store.list_datasets(get_db(), published_only=True)
    return {"datasets": [dataset_json(r) for r in rows]}


@bp.get("/datasets/<slug>")
def dataset(slug: str):
    """Describe one dataset with its imports: published ones to everybody, drafts to whoever
    may write them (signed in or with a bearer token), else 404."""
    conn = get_db()
    row = store.get_dataset(conn, slug)
    privileged = access.can_write(conn, g.get("user"), row)
    if not (row["published"] or privileged):
        raise NotFound(f"no dataset {slug!r}", details={"slug": slug})
    [listed] = store.list_datasets(conn, published_only=False, slug=slug)
    out = dataset_json(listed)
    # Readers see what changed and when; who uploaded which file is for its writers only.
    private = {"stored_path"} if privileged else {"stored_path", "user_name", "filename"}
    out["imports"] = [
        {k: jsontext.plain(v) for k, v in imp.items() if k not in private}
        for imp in store.list_imports(conn, row["id"])
    ]
    response = jsonify(out)
    if privileged:
        response.headers["Cache-Control"] = "private, no-store"
    return response

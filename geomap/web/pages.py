"""Pages: the list of published datasets and the health check."""

from __future__ import annotations

from flask import Blueprint, render_template

from .. import store
from ..db import get_db

bp = Blueprint("pages", __name__)


@bp.get("/")
def index():
    """List published datasets (JSON twin: /api/datasets)."""
    datasets = store.list_datasets(get_db(), published_only=True)
    return render_template("index.html", datasets=datasets)


@bp.get("/healthz")
def healthz():
    """Report whether the database answers; 503 when it does not."""
    try:
        status = store.database_status(get_db())
    except Exception as exc:  # noqa: BLE001 - a health check reports every failure
        return {"status": "error", "database": {"ok": False, "error": type(exc).__name__}}, 503
    return {"status": "ok", "database": status}

"""Small counts kept from the public: a dataset's ``min_public_count``.

A dataset may publish its counts only in groups of at least ``min_public_count`` incidents
(set by its editors; 1, the default, hides nothing). A group here is anything counted: a map
cell, a region or border segment of a choropleth, a period of the time layer, a cell of the
table or a bar of the chart under a map, a line of the stats API, the whole selection of a
map's summary. A group with some incidents but fewer than the threshold is *hidden*: left
out, or shown as "fewer than N" with no figure (`is_hidden`, `hide_small`). A group of none
is not hidden: "none recorded" discloses nobody.

Who sees what (the rule, stated once):

- **Exempt: whoever may write the dataset** (`access.can_write`: its owners and
  collaborators, admins, the operator, and their API tokens). They import and edit the very
  rows the threshold summarises, so hiding counts from them protects no one; they need the
  exact figures to check their data. `viewer_threshold` gives them 1.
- **Everyone else** (anonymous readers, signed-in users who may not write the dataset)
  gets the dataset's threshold (`public_threshold`).

One deliberate difference, in `rendered_threshold`: rendered maps (pages, embeds, PNGs, and
the table and chart on a map page) apply the public threshold to *every* viewer, editors
included, because one rendering per dataset version and query is cached and served to all
(`web.render_cache`, and `web.published_embeds`, which answers before any session is read):
it cannot depend on who asked. Editors read exact counts from the stats API and downloads.

Rows are single incidents, a group of one: below any threshold above 1. So individual rows
(downloads, cluster markers) are shown only when the viewer's threshold is 1
(`rows_allowed`).

No Flask here: views pass the connection, the actor (``g.user``) and the dataset row.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from . import access


def public_threshold(dataset: dict) -> int:
    """Return the dataset's public threshold (at least 1: a missing or zero value hides nothing)."""
    return max(1, int(dataset.get("min_public_count") or 1))


def viewer_threshold(conn: sa.Connection, actor: access.Actor | None, dataset: dict, *,
                     may_write: bool | None = None) -> int:
    """Return the threshold for a request's viewer: 1 for who may write, else the public one.

    Parameters
    ----------
    conn : sqlalchemy.Connection
        For the membership lookup of `access.can_write`.
    actor : access.Actor or None
        Who the request acts for (``g.user``).
    dataset : dict
        The dataset row (``id``, ``min_public_count``).
    may_write : bool, optional
        `access.can_write` already decided by the caller (spares the lookup).
    """
    if may_write is None:
        may_write = access.can_write(conn, actor, dataset)
    return 1 if may_write else public_threshold(dataset)


def rendered_threshold(dataset: dict) -> int:
    """Return the threshold of a rendered map: the public one, whoever asks (see above)."""
    return public_threshold(dataset)


def rows_allowed(threshold: int) -> bool:
    """Say whether single incidents (rows, markers) may be shown under this threshold."""
    return threshold <= 1


def is_hidden(n: Any, threshold: int) -> Any:
    """Say whether a group of ``n`` incidents is hidden (some, but fewer than threshold).

    Works on a number (returns bool) or a numpy array / pandas Series (returns a mask).
    """
    if isinstance(n, (np.ndarray, pd.Series)):
        return (n > 0) & (n < threshold)
    return 0 < n < threshold


def hide_small(frame: pd.DataFrame | None, threshold: int) -> tuple[pd.DataFrame | None, int]:
    """Drop the hidden groups (column ``n``) of a frame; return the rest and how many went.

    Frames of counted groups (cells, regions, periods) have ``n >= 1`` in every row.
    """
    if threshold <= 1 or frame is None or frame.empty:
        return frame, 0
    hidden = is_hidden(frame["n"], threshold)
    return frame[~hidden].reset_index(drop=True), int(hidden.sum())


def hide_small_rows(rows: list[dict], threshold: int) -> tuple[list[dict], list[dict]]:
    """Split groups as dicts with ``n`` (stats lines) into (shown, hidden)."""
    hidden = [r for r in rows if is_hidden(r["n"], threshold)]
    return [r for r in rows if not is_hidden(r["n"], threshold)], hidden

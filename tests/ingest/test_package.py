"""The ingest package keeps its shape: imports go one way inside it and none imports Flask."""

from __future__ import annotations

from package_shape import check_shape

from geomap import ingest

#: Each module may import only modules listed before it (DEVELOPERS.md, "Imports go one way").
ORDER = ["doors", "settings", "sharing", "uploads", "structure", "receiving", "spreadsheets",
         "sniffing", "reading", "periods", "cells", "wide", "columns", "dates", "crs",
         "placing", "rows", "options", "identity", "report", "seen", "storing", "undo",
         "pipeline", "previewing"]


def test_imports_go_one_way_and_never_to_flask():
    check_shape(ingest, ORDER, below=None)


def test_public_face():
    for name in ("import_file", "preview", "Check", "doors", "stored_upload", "Options",
                 "options_from", "check_options", "parse_mapping", "load_regions", "recorded_import",
                 "rejected_path", "FIELDS", "prune_uploads"):
        assert name in ingest.__all__ and hasattr(ingest, name), name

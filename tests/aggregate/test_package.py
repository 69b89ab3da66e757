"""The aggregate package keeps its shape: imports go one way inside it and none imports Flask."""

from __future__ import annotations

from package_shape import check_shape

from geomap import aggregate

#: Each module may import only modules listed before it (DEVELOPERS.md, "Imports go one way").
ORDER = ["selection", "points", "segments", "periods", "grid", "extent"]
#: What the package may import of the rest of geomap (the layers below it).
BELOW = {"binning", "db", "store"}


def test_imports_go_one_way_and_never_to_flask():
    check_shape(aggregate, ORDER, below=BELOW)


def test_public_face():
    for name in ("extent", "rollup_extent", "unfiltered", "grid", "grid_from_rollup",
                 "PERIOD_FORMATS", "by_column", "by_period", "SEGMENT_SLACK_MILES",
                 "SegmentSteps", "segment_steps", "segment_rows", "by_border_segment",
                 "by_border_segment_frame", "points"):
        assert name in aggregate.__all__ and hasattr(aggregate, name), name
    assert set(aggregate.__all__) <= set(dir(aggregate))

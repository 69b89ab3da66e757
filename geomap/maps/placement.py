"""Where things go on a static image: labels that never overlap or leave the frame, and the
corner for the legend where the data is not. Pure geometry on pixel boxes, so it is tested
without drawing.

A box is ``(x0, y0, x1, y1)`` in pixels with ``x0 <= x1`` and ``y0 <= y1``, y growing
upwards (matplotlib's display coordinates).
"""

from __future__ import annotations

from typing import Callable, Iterable, Sequence

Box = tuple[float, float, float, float]


def overlaps(a: Box, b: Box, gap: float = 0.0) -> bool:
    """Say whether two boxes overlap (or come closer than `gap` pixels)."""
    return (a[0] < b[2] + gap and b[0] < a[2] + gap and a[1] < b[3] + gap
            and b[1] < a[3] + gap)


def inside(box: Box, frame: Box, margin: float = 0.0) -> bool:
    """Say whether `box` lies wholly inside `frame`, `margin` pixels from its edges."""
    return (box[0] >= frame[0] + margin and box[1] >= frame[1] + margin
            and box[2] <= frame[2] - margin and box[3] <= frame[3] - margin)


def place_labels(boxes: Sequence[Box], frame: Box, obstacles: Iterable[Box] = (),
                 gap: float = 2.0, margin: float = 2.0) -> list[int]:
    """Choose the labels to keep: in the order given (most important first), each label is
    kept when it lies inside `frame` and clear of the obstacles and of every label kept
    before it; the others are dropped.

    Parameters
    ----------
    boxes : sequence of Box
        Each candidate label's box, in priority order.
    frame : Box
        The drawable area (labels partly outside it would be clipped).
    obstacles : iterable of Box
        Areas labels must not cover (the legend, an inset map).
    gap : float
        Least distance in pixels between two kept labels.
    margin : float
        Least distance in pixels from the frame's edge.

    Returns
    -------
    list of int
        Indexes into `boxes` of the kept labels, ascending in priority order.
    """
    taken: list[Box] = list(obstacles)
    kept: list[int] = []
    for i, box in enumerate(boxes):
        if not inside(box, frame, margin):
            continue
        if any(overlaps(box, other, gap) for other in taken):
            continue
        taken.append(box)
        kept.append(i)
    return kept


def corner_boxes(frame: Box, size: tuple[float, float], pad: float) -> dict[str, Box]:
    """The box of a `size` (width, height) item in each corner of `frame`, `pad` inside."""
    w, h = size
    x0, y0, x1, y1 = frame
    return {"upper right": (x1 - pad - w, y1 - pad - h, x1 - pad, y1 - pad),
            "upper left": (x0 + pad, y1 - pad - h, x0 + pad + w, y1 - pad),
            "lower left": (x0 + pad, y0 + pad, x0 + pad + w, y0 + pad + h),
            "lower right": (x1 - pad - w, y0 + pad, x1 - pad, y0 + pad + h)}


def quietest_corner(frame: Box, size: tuple[float, float], weight_in: Callable[[Box], float],
                    obstacles: Iterable[Box] = (), pad: float = 8.0) -> tuple[str, Box]:
    """Return the corner (name and box) where an item of `size` covers the least data.

    ``weight_in(box)`` says how much data a box covers; corners that would cover an obstacle
    (an inset map) come last. Ties keep the order upper right, upper left, lower left, lower
    right (the usual legend places).
    """
    blocked = list(obstacles)
    best = None
    for rank, (name, box) in enumerate(corner_boxes(frame, size, pad).items()):
        score = (any(overlaps(box, b) for b in blocked), weight_in(box), rank)
        if best is None or score < best[0]:
            best = (score, name, box)
    return best[1], best[2]

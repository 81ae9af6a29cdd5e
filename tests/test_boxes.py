"""Box geometry: clipping to the image and reading order."""

from __future__ import annotations

from faceinsight import boxes
from faceinsight.boxes import reading_order


def test_clip_box_keeps_a_box_inside_the_image() -> None:
    assert boxes.clip_box((-10, 5, 30, 20), 100, 50) == (0, 5, 20, 20)
    assert boxes.clip_box((90, 40, 30, 30), 100, 50) == (90, 40, 10, 10)
    assert boxes.clip_box((10, 10, 20, 20), 100, 50) == (10, 10, 20, 20)
    assert boxes.clip_box((150, 60, 10, 10), 100, 50) == (99, 49, 1, 1)


def test_reading_order_goes_row_by_row_left_to_right() -> None:
    """Faces of a row sit a little higher or lower (within half a face height) and differ in
    size; a face clearly lower starts the next row."""
    boxes = [(400, 110, 90, 90), (40, 100, 80, 80), (220, 80, 100, 100),  # row 1, out of order
             (300, 300, 80, 80), (60, 330, 80, 80),  # row 2: 30 px apart, under half of 80
             (200, 500, 80, 80), (20, 560, 80, 80)]  # 60 px apart: two rows
    order = reading_order(boxes)
    assert [boxes[i] for i in order] == [(40, 100, 80, 80), (220, 80, 100, 100), (400, 110, 90, 90),
                                         (60, 330, 80, 80), (300, 300, 80, 80),
                                         (200, 500, 80, 80), (20, 560, 80, 80)]
    assert reading_order([]) == []

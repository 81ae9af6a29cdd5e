"""A video's results as CSV: one row per face per sampled frame (an empty row for a frame
without faces), the columns derived from :class:`faceinsight.contract.Face` and
:class:`faceinsight.contract.VideoFrame`."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from typing import Any

from faceinsight.contract import Face, VideoFrame
from faceinsight.labels import EMOTIONS

FRAME_COLUMNS = tuple(name for name in VideoFrame.model_fields if name != "faces")
_SPLIT = {"box": ("box_x", "box_y", "box_w", "box_h"), "age_range": ("age_low", "age_high")}
_SCORES = "emotion_scores"


def _face_columns() -> list[str]:
    columns = []
    for name in Face.model_fields:
        if name == _SCORES:
            columns += [f"score_{emotion}" for emotion in EMOTIONS]
        else:
            columns += _SPLIT.get(name, (name,))
    return columns


CSV_FIELDS = [*FRAME_COLUMNS, "track", "person", *_face_columns()]


def csv_row(frame: Mapping[str, Any], face: Mapping[str, Any] | None) -> list[Any]:
    """One CSV row (:data:`CSV_FIELDS`) for a face of a frame, or for a frame without faces.

    :param frame: a :class:`~faceinsight.contract.VideoFrame` record.
    :param face: one of its :class:`~faceinsight.contract.VideoFace` records, or None.
    """
    row = [frame[name] for name in FRAME_COLUMNS]
    if face is None:
        return row + [""] * (len(CSV_FIELDS) - len(row))
    row += [face["track"], face["person"]]
    for name in Face.model_fields:
        value = face[name]
        if name == _SCORES:
            row += [value[emotion] for emotion in EMOTIONS]
        elif name in _SPLIT:
            row += list(value)
        else:
            row.append(value)
    return row


def results_csv(results: dict) -> str:
    """Per-frame results as CSV: one row per face, and one empty row for a frame with none.

    The columns are :data:`CSV_FIELDS`.

    :param results: :func:`faceinsight.video.analysis.analyze_video`'s result (or the stored JSON).
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for frame in results["frames"]:
        if not frame["faces"]:
            writer.writerow(csv_row(frame, None))
        for face in frame["faces"]:
            writer.writerow(csv_row(frame, {"person": "", **face}))  # results stored before people have none
    return out.getvalue()

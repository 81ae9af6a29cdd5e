"""The live recording's CSV layout (issue 26): the page writes it from the columns the server
renders into it (faceinsight.web.pages.csv_columns), which must give every video CSV column the
value faceinsight.video.results.csv_row gives it."""

from __future__ import annotations

import html
import json
import re

from faceinsight.contract import VideoFrame
from faceinsight.labels import EMOTIONS
from faceinsight.video.results import CSV_FIELDS, csv_row
from faceinsight.web.pages import csv_columns


def value_at(record: dict, path: str):
    """What the page does with a column's path (recording.js, valueAt)."""
    for key in path.split("."):
        record = record[int(key)] if isinstance(record, list) else record[key]
    return record


def test_each_column_path_finds_the_value_the_video_csv_writes():
    frame = VideoFrame.model_validate({"frame": 3, "source_frame": 31, "time_s": 1.5, "faces": [{
        "track": 2, "person": 1, "box": [10, 20, 30, 40], "age": 31.5, "age_range": [26, 39],
        "age_group": "31-80",
        "gender": "female", "gender_probability": 0.875, "emotion": "surprise",
        "emotion_scores": {name: (i + 1) / 28 for i, name in enumerate(EMOTIONS)}}]}).dump()
    face = frame["faces"][0]
    columns = csv_columns()
    assert [name for name, _ in columns] == CSV_FIELDS
    values = [value_at({**frame, **face}, path) for _, path in columns]
    assert values == csv_row(frame, face)
    assert len(set(values)) == len(values)  # each column found its own value, not a neighbour's


def test_the_page_carries_the_columns(client):
    page = client.get("/").get_data(as_text=True)
    rendered = re.search(r"data-csv-columns='([^']*)'", page).group(1)
    assert json.loads(html.unescape(rendered)) == [list(column) for column in csv_columns()]

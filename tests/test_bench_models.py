"""The speed benchmark's breakdown runs on the served models (its timings are not checked:
they belong to the machine; what is checked is that every part is timed, on the faces found)."""

from __future__ import annotations

from faceinsight.models import FaceModels


def test_the_breakdown_times_each_part_of_the_served_path(models: FaceModels, astronaut_jpeg: bytes) -> None:
    from bench.bench_models import network_time_ms

    parts = network_time_ms(models, [astronaut_jpeg, astronaut_jpeg], runs=1, warmup=0)
    assert {"decode", "detector network", "face networks (2 faces)"} <= set(parts)
    assert all(ms > 0 for ms in parts.values())

"""Fuzzing the decode-and-analyse entry point (``analyze_bytes``) with Hypothesis.

Arbitrary bytes and valid photos of a real face damaged in many ways (flipped bits, rewritten
headers that claim other sizes, cut, spliced) go through the very function the CLI, the web
app and the jobs call. The only outcomes allowed are a result in the JSON contract or
``ImageDecodeError``; every input must finish within the Hypothesis deadline. The number of
cases is bounded so CI stays quick (about 250 inputs, a few seconds).
"""

from __future__ import annotations

from datetime import timedelta

from face_helpers import assert_face_contract
from fuzz_strategies import hostile_bytes, photo_seeds
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from faceinsight.analyze import analyze_bytes
from faceinsight.images import ImageDecodeError
from faceinsight.models import FaceModels

FUZZ_MAX_PIXELS = 4_000_000  # the server's limit is configurable; this keeps CI's memory modest
PER_INPUT = timedelta(seconds=5)  # generous: CI boxes are small and shared


SEEDS = photo_seeds()


def test_seeds_are_analysed(models: FaceModels) -> None:
    """The undamaged seeds decode, and the face is found in most of them (so fuzzing goes deep)."""
    found = [bool(analyze_bytes(data, models=models, max_pixels=FUZZ_MAX_PIXELS).faces) for data in SEEDS]
    assert sum(found) >= len(SEEDS) - 2, found


def analyse_or_refuse(data: bytes, models: FaceModels, detect: bool) -> None:
    """Analyse hostile bytes: a result in the contract, or ImageDecodeError, nothing else."""
    try:
        result = analyze_bytes(data, detect=detect, models=models, max_pixels=FUZZ_MAX_PIXELS)
    except ImageDecodeError as error:
        assert str(error)
        event(f"refused: {type(error).__name__}")
        return
    event("analysed, with faces" if result.faces else "analysed, no face")
    assert result.image.width >= 1 and result.image.height >= 1
    assert result.image.width * result.image.height <= FUZZ_MAX_PIXELS
    for face in result.faces:
        assert_face_contract(face.dump())


@settings(max_examples=250, deadline=PER_INPUT, suppress_health_check=[HealthCheck.too_slow])
@given(data=hostile_bytes(SEEDS), detect=st.booleans())
def test_hostile_bytes_are_analysed_or_refused(models: FaceModels, data: bytes, detect: bool) -> None:
    analyse_or_refuse(data, models, detect)

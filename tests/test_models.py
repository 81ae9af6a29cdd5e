"""Model files: chunks, manifest, verification, loading, predictions and thread safety."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from face_helpers import FACE_KEYS, assert_face_contract

from faceinsight import models as models_module
from faceinsight.analyze import face_answer
from faceinsight.detectors import BlazeFaceDetector
from faceinsight.labels import EMOTIONS, MAX_AGE, age_group
from faceinsight.litert import ModelError, TFLiteModel
from faceinsight.models import (
    MANIFEST_NAME,
    MODELS_DIR,
    FaceModels,
    Prediction,
    assemble_model,
    get_models,
    read_manifest,
    sha256_bytes,
    summarise_age,
    verify_model_files,
    write_chunks,
)

# --- chunks ---------------------------------------------------------------------------------


def chunked(tmp_path: Path, size: int = 10_000, chunk: int = 3_000) -> tuple[bytes, dict]:
    """Write random bytes as chunks into ``tmp_path``; return the bytes and their manifest entry."""
    data = np.random.default_rng(size).bytes(size)
    chunks = write_chunks(data, tmp_path, "model.tflite", chunk)
    return data, {"file": "model.tflite", "size": len(data), "sha256": sha256_bytes(data),
                  "chunks": chunks}


def flip_byte(path: Path, offset: int = 17) -> None:
    """Corrupt a file in place by inverting one byte."""
    data = bytearray(path.read_bytes())
    data[offset % len(data)] ^= 0xFF
    path.write_bytes(bytes(data))


def test_chunks_round_trip(tmp_path: Path) -> None:
    data, entry = chunked(tmp_path)
    assert [c["file"] for c in entry["chunks"]] == [f"model.tflite.part{i:03d}" for i in range(4)]
    assert [c["size"] for c in entry["chunks"]] == [3000, 3000, 3000, 1000]
    assert not (tmp_path / "model.tflite").exists()
    assert assemble_model(tmp_path, entry) == data


def test_exact_multiple_makes_no_empty_chunk(tmp_path: Path) -> None:
    data, entry = chunked(tmp_path, size=6_000, chunk=3_000)
    assert [c["size"] for c in entry["chunks"]] == [3000, 3000]
    assert assemble_model(tmp_path, entry) == data


def test_chunk_size_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        write_chunks(b"abc", tmp_path, "m.tflite", 0)


def test_missing_chunk_is_an_error_naming_the_file(tmp_path: Path) -> None:
    _, entry = chunked(tmp_path)
    (tmp_path / "model.tflite.part002").unlink()
    with pytest.raises(ModelError, match=r"missing.*model\.tflite\.part002"):
        assemble_model(tmp_path, entry)


@pytest.mark.parametrize("part", [0, 3])
def test_corrupt_chunk_is_an_error_naming_the_file(tmp_path: Path, part: int) -> None:
    _, entry = chunked(tmp_path)
    flip_byte(tmp_path / f"model.tflite.part{part:03d}")
    with pytest.raises(ModelError, match=rf"corrupt.*model\.tflite\.part{part:03d}"):
        assemble_model(tmp_path, entry)


def test_short_chunk_is_an_error(tmp_path: Path) -> None:
    _, entry = chunked(tmp_path)
    path = tmp_path / "model.tflite.part001"
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(ModelError, match=r"part001"):
        assemble_model(tmp_path, entry)


def test_wrong_whole_file_falls_back_to_chunks(tmp_path: Path) -> None:
    data, entry = chunked(tmp_path)
    (tmp_path / "model.tflite").write_bytes(b"stale model from an older version")
    assert assemble_model(tmp_path, entry) == data


def test_intact_whole_file_needs_no_chunks(tmp_path: Path) -> None:
    data, entry = chunked(tmp_path)
    (tmp_path / "model.tflite").write_bytes(data)
    for chunk in entry["chunks"]:
        (tmp_path / chunk["file"]).unlink()
    assert assemble_model(tmp_path, entry) == data


def test_chunks_that_do_not_make_the_whole_are_an_error(tmp_path: Path) -> None:
    _, entry = chunked(tmp_path)
    entry = {**entry, "sha256": sha256_bytes(b"something else")}
    with pytest.raises(ModelError, match="model.tflite"):
        assemble_model(tmp_path, entry)


# --- manifest and the shipped models --------------------------------------------------------


def test_manifest_describes_the_shipped_models() -> None:
    manifest = read_manifest(MODELS_DIR)
    expected_inputs = {"age_gender": [1, 128, 128, 1], "emotion": [1, 48, 48, 1]}
    for kind, shape in expected_inputs.items():
        entry = manifest["models"][kind]
        assert entry["file"] == f"{kind}.tflite"
        assert entry["input_shape"] == shape
        assert entry["size"] <= 5 * 1024 * 1024  # the size limit
        assert sum(c["size"] for c in entry["chunks"]) == entry["size"]
        assert len(entry["sha256"]) == 64 and entry["version"]
        for chunk in entry["chunks"]:
            assert (MODELS_DIR / chunk["file"]).stat().st_size == chunk["size"]
    assert manifest["models"]["emotion"]["labels"]["emotion"] == list(EMOTIONS)
    assert sorted(manifest["models"]["age_gender"]["output_order"]) == ["age", "gender"]


def test_missing_manifest_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="manifest not found"):
        FaceModels(tmp_path)


def test_unreadable_manifest_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / MANIFEST_NAME).write_text("{not json")
    with pytest.raises(ModelError, match="unreadable"):
        FaceModels(tmp_path)


def test_manifest_without_a_model_is_a_clear_error(models_copy: Path) -> None:
    manifest = json.loads((models_copy / MANIFEST_NAME).read_text())
    del manifest["models"]["emotion"]
    (models_copy / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="no emotion model"):
        FaceModels(models_copy)


def test_shipped_models_load_from_a_copy(models_copy: Path) -> None:
    loaded = FaceModels(models_copy)
    assert loaded.age_gender.input_shape == (1, 128, 128, 1)
    assert loaded.emotion.input_shape == (1, 48, 48, 1)


@pytest.mark.parametrize("kind", ["age_gender", "emotion"])
def test_corrupt_shipped_chunk_names_the_file(models_copy: Path, kind: str) -> None:
    chunk = read_manifest(models_copy)["models"][kind]["chunks"][-1]["file"]
    flip_byte(models_copy / chunk, offset=5)
    with pytest.raises(ModelError, match=chunk.replace(".", r"\.")):
        FaceModels(models_copy)


def test_missing_shipped_chunk_names_the_file(models_copy: Path) -> None:
    chunk = read_manifest(models_copy)["models"]["age_gender"]["chunks"][0]["file"]
    (models_copy / chunk).unlink()
    with pytest.raises(ModelError, match=rf"missing.*{chunk}"):
        FaceModels(models_copy)


def test_a_verified_file_that_is_not_a_model_is_a_model_error() -> None:
    with pytest.raises(ModelError, match="could not be loaded"):
        TFLiteModel(b"\x00" * 256, "garbage")


def test_swapped_outputs_are_refused_at_load(models_copy: Path) -> None:
    """Outputs read in the wrong order gave a schema-valid "age 0, male 1.0"."""
    manifest = read_manifest(models_copy)
    manifest["models"]["age_gender"]["output_order"].reverse()
    (models_copy / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match=r"age_gender gives outputs of shapes \[\(1, 101\), \(1, 1\)\], "
                                         r"expected \[\(1, 1\), \(1, 101\)\].*swapped"):
        FaceModels(models_copy)


@pytest.mark.parametrize("order", [["age"], ["age", "age"], ["age", "sex"], "age,gender"])
def test_an_output_order_that_does_not_name_each_output_is_refused(models_copy: Path, order) -> None:
    manifest = read_manifest(models_copy)
    manifest["models"]["age_gender"]["output_order"] = order
    (models_copy / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="output_order .* must name each of age, gender once"):
        FaceModels(models_copy)


@pytest.mark.parametrize(("kind", "key"), [("emotion", "age_gender"), ("age_gender", "emotion")])
def test_a_model_in_the_other_ones_place_is_refused_at_load(models_copy: Path, kind: str, key: str) -> None:
    """The emotion model filed as the age model (or the reverse): its shapes say so at start-up."""
    manifest = read_manifest(models_copy)
    own = manifest["models"][key]
    manifest["models"][key] = {**manifest["models"][kind], "framing": own["framing"],
                               "output_order": own.get("output_order", ["emotion"])}
    (models_copy / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match=f"{key} (gives outputs|takes inputs|.*output_order)"):
        FaceModels(models_copy)


def test_a_detector_with_other_outputs_is_refused_at_load() -> None:
    manifest = read_manifest(MODELS_DIR)
    with pytest.raises(ModelError, match=r"blazeface gives outputs of shapes \[\(1, 7\)\]"):
        BlazeFaceDetector(assemble_model(MODELS_DIR, manifest["models"]["emotion"]))


def test_each_thread_runs_its_own_interpreter(models: FaceModels) -> None:
    """One interpreter is not thread-safe: each thread gets its own, and keeps it."""
    model = models.emotion
    mine = model._interpreter()
    with ThreadPoolExecutor(2) as pool:
        theirs = list(pool.map(lambda _: id(model._interpreter()), range(2)))
    assert model._interpreter() is mine and id(mine) not in theirs


def test_verify_model_files_checks_every_chunk(models_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert verify_model_files(models_copy) == models_copy
    monkeypatch.setenv("FACEINSIGHT_MODELS", str(models_copy))
    assert verify_model_files() == models_copy
    chunk = read_manifest(models_copy)["models"]["emotion"]["chunks"][0]["file"]
    flip_byte(models_copy / chunk)
    with pytest.raises(ModelError, match=chunk.replace(".", r"\.")):
        verify_model_files()


def test_the_second_looks_model_is_verified_with_blazeface(models_copy: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FACEINSIGHT_DETECTOR", raising=False)
    chunk = read_manifest(models_copy)["detectors"]["blazeface_short_range"]["chunks"][0]["file"]
    flip_byte(models_copy / chunk)
    with pytest.raises(ModelError, match=chunk.replace(".", r"\.")):
        verify_model_files(models_copy)
    with pytest.raises(ModelError, match=chunk.replace(".", r"\.")):
        FaceModels(models_copy, detector="blazeface")


@pytest.mark.parametrize("manifest", [[], {"models": []}, {"models": {"age_gender": {"file": "x"}}},
                                      {"models": {"age_gender": {"file": "x", "chunks": [{}]}}}],
                         ids=["a-list", "models-a-list", "no-chunks", "chunk-without-fields"])
def test_malformed_manifest_is_a_model_error(tmp_path: Path, manifest: object) -> None:
    (tmp_path / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="manifest"):
        verify_model_files(tmp_path)


def test_get_models_loads_once(fresh_models: None) -> None:
    first = get_models()
    assert get_models() is first
    assert first.models_dir == MODELS_DIR


def test_get_models_honours_the_environment(fresh_models: None, models_copy: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACEINSIGHT_MODELS", str(models_copy))
    assert get_models().models_dir == models_copy


def test_get_models_on_an_empty_folder_raises(fresh_models: None, tmp_path: Path) -> None:
    with pytest.raises(ModelError):
        get_models(tmp_path)
    assert models_module._models is None  # a failed load leaves nothing half-made behind


# --- age summary ----------------------------------------------------------------------------


def test_summarise_uniform_distribution() -> None:
    mean, (low, high) = summarise_age(np.full(MAX_AGE + 1, 1.0 / (MAX_AGE + 1)))
    assert mean == pytest.approx(50.0)
    assert (low, high) == (10, 90)


@pytest.mark.parametrize("age", [0, 1, 37, 99, MAX_AGE])
def test_summarise_delta_distribution(age: int) -> None:
    distribution = np.zeros(MAX_AGE + 1)
    distribution[age] = 1.0
    mean, interval = summarise_age(distribution)
    assert mean == pytest.approx(age) and interval == (age, age)


def test_summarise_two_peaks() -> None:
    distribution = np.zeros(MAX_AGE + 1)
    distribution[[20, 60]] = 0.5
    mean, interval = summarise_age(distribution)
    assert mean == pytest.approx(40.0) and interval == (20, 60)


def test_summarise_gaussian_gives_an_80_percent_interval() -> None:
    ages = np.arange(MAX_AGE + 1)
    distribution = np.exp(-0.5 * ((ages - 30) / 4.0) ** 2)
    mean, (low, high) = summarise_age(distribution)  # unnormalised on purpose
    assert mean == pytest.approx(30.0, abs=0.01)
    assert (low, high) == (25, 35)  # 30 -/+ 1.28 sigma, rounded outwards to whole years


def test_summarise_degenerate_input_falls_back_to_uniform() -> None:
    assert summarise_age(np.zeros(MAX_AGE + 1)) == summarise_age(np.ones(MAX_AGE + 1))
    assert summarise_age(-np.ones(MAX_AGE + 1))[0] == pytest.approx(50.0)


@pytest.mark.parametrize(("age", "group"), [(-3, "0-18"), (0, "0-18"), (18.4, "0-18"),
                                            (19, "19-30"), (30.4, "19-30"), (30.6, "31-80"),
                                            (80, "31-80"), (80.6, "80+"), (130, "80+")])
def test_age_groups(age: float, group: str) -> None:
    assert age_group(age) == group


def test_whole_years_round_halves_up_as_the_page_does() -> None:
    """The page (JavaScript's Math.round) showed 33 where predict.py and /predict said 32
    (Python's round takes halves to even), and "31, group 19-30" for 30.5."""
    from faceinsight.labels import whole_years

    assert [whole_years(age) for age in (26.5, 28.5, 30.5, 32.5, 32.49, 0.4)] == [27, 29, 31, 33, 32, 0]
    assert age_group(30.5) == "31-80" and age_group(18.5) == "19-30"


@pytest.mark.parametrize(("age", "shown", "group"), [(18.46, 18.5, "19-30"), (30.46, 30.5, "31-80"),
                                                     (80.46, 80.5, "80+"), (30.44, 30.4, "19-30")])
def test_the_age_group_follows_the_age_as_shown(age: float, shown: float, group: str) -> None:
    """18.46 was shown as 18.5 (19 in whole years) in the group of 0-18."""
    answer = face_answer((0, 0, 1, 1), Prediction(age, (10, 30), 0.8, {name: 1 / 7 for name in EMOTIONS}))
    assert (answer.age, answer.age_group) == (shown, group)


# --- predictions ----------------------------------------------------------------------------


def test_predict_follows_the_contract(models: FaceModels, astronaut_crops) -> None:
    predicted = models.predict(astronaut_crops.age_gender, astronaut_crops.emotion)
    face = face_answer((1, 2, 3, 4), predicted).dump()
    assert list(face) == FACE_KEYS
    assert_face_contract(face)


def test_predict_on_any_crop_follows_the_contract(models: FaceModels) -> None:
    rng = np.random.default_rng(0)
    for _ in range(5):
        predicted = models.predict(rng.integers(0, 256, (128, 128), dtype=np.uint8),
                                   rng.integers(0, 256, (48, 48), dtype=np.uint8))
        assert_face_contract(face_answer((0, 0, 1, 1), predicted).dump())


def test_emotion_scores_sum_to_one_unrounded(models: FaceModels, astronaut_crops) -> None:
    scores = models.predict_emotion(astronaut_crops.emotion)
    assert list(scores) == list(EMOTIONS) and sum(scores.values()) == pytest.approx(1.0, abs=1e-9)


def test_age_gender_prediction_ranges(models: FaceModels, astronaut_crops) -> None:
    result = models.predict_age_gender(astronaut_crops.age_gender)
    assert 0.0 <= result.female_probability <= 1.0
    assert 0 <= result.age_range[0] <= result.age <= result.age_range[1] <= MAX_AGE


def test_predictions_are_deterministic(models: FaceModels, astronaut_crops) -> None:
    first = models.predict(astronaut_crops.age_gender, astronaut_crops.emotion)
    assert models.predict(astronaut_crops.age_gender, astronaut_crops.emotion) == first


def thread_inputs(astronaut_crops) -> list[tuple[np.ndarray, np.ndarray]]:
    """Distinct crops, so interleaved interpreter calls would mix up their results."""
    rng = np.random.default_rng(7)
    pairs = [(astronaut_crops.age_gender, astronaut_crops.emotion),
             (np.ascontiguousarray(astronaut_crops.age_gender[:, ::-1]),
              np.ascontiguousarray(astronaut_crops.emotion[:, ::-1]))]
    pairs += [(rng.integers(0, 256, (128, 128), dtype=np.uint8),
               rng.integers(0, 256, (48, 48), dtype=np.uint8)) for _ in range(4)]
    return pairs


def test_predictions_from_many_threads_match_single_threaded(models: FaceModels,
                                                             astronaut_crops) -> None:
    pairs = thread_inputs(astronaut_crops)
    expected = [models.predict(*pair) for pair in pairs]
    threads, rounds = 8, 10
    start = threading.Barrier(threads)

    def worker(offset: int) -> list[tuple[int, Prediction]]:
        start.wait()
        results = []
        for step in range(rounds * len(pairs)):
            index = (offset + step) % len(pairs)
            results.append((index, models.predict(*pairs[index])))
        return results

    with ThreadPoolExecutor(threads) as pool:
        outcomes = list(pool.map(worker, range(threads)))
    assert sum(len(o) for o in outcomes) == threads * rounds * len(pairs)
    for outcome in outcomes:
        for index, result in outcome:
            assert result == expected[index]

"""Training runs: the losses, then a tiny run of both scripts (conftest.py's ``tiny_run``):
checkpoints, history, reports and model card, and later rounds from its checkpoints, framed,
on FER+ votes and with CK+ faces. Tests of a run need TensorFlow and skip without it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from training_fakes import TinyRun, fake_ferplus_and_ckplus

from faceinsight.labels import AGE_BANDS, EMOTIONS, MAX_AGE
from faceinsight.training.datasets import split_by_name


@pytest.mark.usefixtures("tensorflow")
def test_age_targets_are_distributions_peaking_at_the_true_age() -> None:
    from keras import ops

    from faceinsight.training.losses import age_targets

    ages = np.array([0, 1, 8, 25, 61, 99, MAX_AGE], np.float32)
    targets = ops.convert_to_numpy(age_targets(ages))
    assert targets.shape == (len(ages), MAX_AGE + 1)
    assert np.allclose(targets.sum(axis=1), 1.0, atol=1e-5)
    assert targets.argmax(axis=1).tolist() == ages.astype(int).tolist()
    grid = np.arange(MAX_AGE + 1)
    spread = [np.sqrt((targets[i] * (grid - ages[i]) ** 2).sum()) for i in (2, 4)]
    assert spread[1] > spread[0]  # wider for older faces


@pytest.mark.usefixtures("tensorflow")
def test_age_loss_prefers_the_right_age() -> None:
    from keras import ops

    from faceinsight.training.losses import age_distribution_loss, age_targets, expected_age

    true = np.array([30.0, 30.0], np.float32)
    right, wrong = ops.convert_to_numpy(age_targets(np.array([30.0, 60.0], np.float32)))
    loss = ops.convert_to_numpy(age_distribution_loss(true, np.stack([right, wrong])))
    assert loss[0] < loss[1]
    assert ops.convert_to_numpy(expected_age(right[None]))[0] == pytest.approx(30.0, abs=0.01)


def test_training_writes_checkpoints_and_history(tiny_run: TinyRun) -> None:
    for out in (tiny_run.age_gender_out, tiny_run.emotion_out):
        assert (out / "best.keras").stat().st_size > 0
        history = json.loads((out / "history.json").read_text())
        assert len(history) == 1 and history[0]["epoch"] == 1
        assert json.loads((out / "run.json").read_text())["epochs_run"] == 1
    assert list((tiny_run.root / "cache").glob("*.npz"))  # decoded crops are cached


def test_training_writes_reports(tiny_run: TinyRun) -> None:
    metrics = json.loads((tiny_run.reports / "metrics.json").read_text())
    assert {"age_gender", "emotion", "targets", "floor"} <= set(metrics)
    age = metrics["age_gender"]["summary"]
    names = [p.name for p in (tiny_run.root / "utkface").iterdir() if p.name.endswith(".jpg")]
    assert age["validation_images"] == len(split_by_name(names, 0.25)[1]) > 0  # README skipped
    assert age["age_mae"] >= 0 and 0 <= age["gender_accuracy"] <= 1
    assert set(metrics["age_gender"]["age_mae_by_band"]) <= {b[0] for b in AGE_BANDS}
    emotion = metrics["emotion"]
    assert emotion["summary"]["validation_images"] == 2 * len(EMOTIONS)
    assert 0 <= emotion["summary"]["accuracy"] <= 1
    assert list(emotion["per_class"]) == list(EMOTIONS)
    assert tiny_run.emotion == emotion and tiny_run.age_gender == metrics["age_gender"]
    for png in ("emotion_confusion.png", "emotion_curves.png", "gender_confusion.png",
                "age_group_confusion.png", "age_gender_curves.png", "age_scatter.png"):
        assert (tiny_run.reports / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png
    assert "Model card" in (tiny_run.reports / "MODEL_CARD.md").read_text()


def continue_training(tiny_run: TinyRun, script, start: Path, name: str, *extra: str) -> dict:
    """A second round of ``script`` from ``start`` at a learning rate of ~0; returns its report.

    A learning rate of ~0 leaves the loaded kernels as they were, which proves the weights were
    loaded: the round's best.keras is compared with ``start``.
    """
    import keras

    out = tiny_run.root / name
    section = script.main([
        "--out", str(out), "--reports", str(tiny_run.root / f"reports_{name}"),
        "--cache", str(tiny_run.root / "cache"), "--epochs", "1", "--threads", "1",
        "--batch-size", "64", "--learning-rate", "1e-12", "--init-weights", str(start), *extra,
    ])
    before = keras.saving.load_model(start, compile=False).get_layer("block0_conv0").get_weights()[0]
    after = keras.saving.load_model(out / "best.keras", compile=False).get_layer("block0_conv0")
    np.testing.assert_allclose(after.get_weights()[0], before, atol=1e-6)
    return section


def test_emotion_training_continues_from_a_checkpoint(tiny_run: TinyRun) -> None:
    """A second round starts from the first round's weights and the report counts both rounds;
    with ``--average-from`` it also saves the weights' average (one epoch's: the same kernels)."""
    import keras

    from faceinsight.training import train_emotion

    section = continue_training(
        tiny_run, train_emotion, tiny_run.emotion_out / "best.keras", "emotion_round2",
        "--data", str(tiny_run.root / "fer2013"),
        "--rotate", "10", "--zoom", "0.1", "--erase", "0.5", "--average-from", "1",
        "--constant-learning-rate")
    out, reports = tiny_run.root / "emotion_round2", tiny_run.root / "reports_emotion_round2"
    averaged = keras.saving.load_model(out / "averaged.keras", compile=False)  # weight averaging
    np.testing.assert_allclose(averaged.get_layer("block0_conv0").get_weights()[0],
                               keras.saving.load_model(out / "last.keras", compile=False)
                               .get_layer("block0_conv0").get_weights()[0], atol=1e-6)
    training = section["training"]
    assert training["epochs"] == 2 and training["best_epoch"] == 2
    assert [r["epochs"] for r in training["rounds"]] == [1, 1]
    assert training["args"]["init_weights"] == "best.keras"  # a file name, not a machine path
    assert (out / "last.keras").exists() and (out / "best.keras").exists()
    card = (reports / "MODEL_CARD.md").read_text()
    assert "2 rounds" in card and str(tiny_run.root) not in card
    assert "then, from that round's best checkpoint with a fresh schedule" in card
    assert "rotation up to 10°, zoom up to 10 % and random erasing (half the crops)" in card
    assert [h["epoch"] for h in training["history"]] == [1, 2] and training["restarts"] == [1]
    assert {"loss", "val_loss", "accuracy", "val_accuracy"} <= set(training["history"][1])


def test_a_chain_from_the_shipped_model_continues_its_rounds_and_curves(tiny_run: TinyRun,
                                                                        tmp_path: Path) -> None:
    """A chain of rounds begun from the shipped model rebuilt from its .tflite is folded into the
    shipped figures: its rounds after the shipped ones, its epochs numbered on, curves redrawn."""
    from faceinsight.training.report import fold_chain

    chain = tiny_run.reports / "metrics.json"  # one round of one epoch
    shipped = json.loads(chain.read_text())
    earlier = {"epochs": 1, "seconds": 600, "args": {}}
    shipped["emotion"]["training"] = {"epochs": 5, "seconds": 3000, "rounds": [earlier] * 5,
                                      "best_epoch": 5, "args": {}}
    (tmp_path / "metrics.json").write_text(json.dumps(shipped))
    training = fold_chain(tmp_path, "emotion", chain)["training"]
    assert training["epochs"] == 6 and training["best_epoch"] == 6 and len(training["rounds"]) == 6
    assert [h["epoch"] for h in training["history"]] == [6] and training["restarts"] == [5]
    assert json.loads((tmp_path / "metrics.json").read_text())["emotion"]["training"] == training
    assert (tmp_path / "emotion_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "The curves show epoch 6 (" in (tmp_path / "MODEL_CARD.md").read_text()


def test_a_run_of_its_own_lineage_is_reported_from_the_checkpoint_that_ships(tiny_run: TinyRun,
                                                                             tmp_path: Path) -> None:
    """``report --run DIR --checkpoint last.keras``: the figures, matrix and card describe the
    last epoch's network, not the best one, and no epoch was chosen by ``val/``."""
    import shutil

    import keras

    from faceinsight.training import report

    run = tmp_path / "e1"
    shutil.copytree(tiny_run.emotion_out, run)
    epochs = ((1, 0.9), (2, 0.1))  # epoch 1 the best on val/, epoch 2 the last
    (run / "history.json").write_text(json.dumps(
        [{"epoch": e, "accuracy": a, "loss": 1.0, "val_accuracy": a, "val_loss": 1.0} for e, a in epochs]))
    last = keras.saving.load_model(run / "last.keras", compile=False)
    dense = last.layers[-1]
    kernel, bias = dense.get_weights()
    happy = EMOTIONS.index("happy")
    dense.set_weights([kernel * 0, np.where(np.arange(len(bias)) == happy, 50.0, -50.0)])
    last.save(run / "last.keras")  # the last network says happy to every face

    common = ["--run", str(run), "--fer2013", str(tiny_run.root / "fer2013"), "--cache", str(tmp_path / "c")]
    report.main([*common, "--reports", str(tmp_path / "last"), "--checkpoint", "last.keras"])
    report.main([*common, "--reports", str(tmp_path / "best")])
    shipped, chosen = (json.loads((tmp_path / k / "metrics.json").read_text())["emotion"]
                       for k in ("last", "best"))
    counts = np.array(shipped["confusion_matrix"]["counts"])
    assert counts.sum() == counts[:, happy].sum() > 0  # every answer the last network's
    assert np.array(chosen["confusion_matrix"]["counts"])[:, happy].sum() < counts.sum()
    assert shipped["training"]["best_epoch"] == 2 and chosen["training"]["best_epoch"] == 1
    card = (tmp_path / "last" / "MODEL_CARD.md").read_text()
    assert "the shipped checkpoint is epoch 2" in card and "the last epoch ships)" in card
    assert "which also chose the checkpoint)" in (tmp_path / "best" / "MODEL_CARD.md").read_text()


def test_a_network_rebuilt_into_a_rounds_folder_is_not_that_rounds_training(tmp_path: Path) -> None:
    """``recover`` writes recovered.keras beside a round that then trains from it: the round
    counts once, and a round started from that file counts alone; from last.keras, both count."""
    from faceinsight.training.report import _training_rounds

    def round_in(name: str, init: str | None) -> Path:
        folder = tmp_path / name
        folder.mkdir()
        (folder / "history.json").write_text(json.dumps([{"epoch": 1}]))
        (folder / "run.json").write_text(json.dumps({"args": {"init_weights": str(init)}}))
        return folder

    first = round_in("r11", tmp_path / "r11" / "recovered.keras")
    assert len(_training_rounds(first)) == 1
    assert len(_training_rounds(round_in("r13", first / "recovered.keras"))) == 1
    assert len(_training_rounds(round_in("r14", tmp_path / "r13" / "last.keras"))) == 2


def test_card_names_the_checkpoint_each_round_started_from() -> None:
    """A round may start from the previous round's best checkpoint or from one of its epochs."""
    from faceinsight.training.model_card import _training_line, checkpoint_epoch

    def round_of(epochs: int, init: str | None) -> dict:
        args = {"learning_rate": "0.001", "threads": "2", "init_weights": str(init)}
        return {"epochs": epochs, "seconds": 600 * epochs, "args": args}

    rounds = [round_of(4, None), round_of(3, "best.keras"), round_of(2, "epoch_03.keras")]
    line = _training_line({"training": {"epochs": 9, "seconds": 5400, "rounds": rounds,
                                        "best_epoch": 9}})
    assert "in 3 rounds: 4 epochs" in line
    assert "then, from that round's best checkpoint with a fresh schedule, 3 epochs" in line
    assert "then, from that round's epoch 3 with a fresh schedule, 2 epochs" in line
    assert [checkpoint_epoch(Path(name)) for name in
            ("epoch_13.keras", "best.keras", "epoch_x.keras", "epoch_02.h5")] == [13, None, None, None]


def test_age_gender_training_continues_from_a_checkpoint(tiny_run: TinyRun) -> None:
    from faceinsight.training import train_age_gender

    section = continue_training(
        tiny_run, train_age_gender, tiny_run.age_gender_out / "best.keras", "age_gender_round2",
        "--data", str(tiny_run.root / "utkface"), "--val-fraction", "0.25")
    assert [r["epochs"] for r in section["training"]["rounds"]] == [1, 1]


def test_emotion_training_on_framed_crops_of_faces_in_context(tiny_run: TinyRun) -> None:
    """With a detector's box variation and other backgrounds, crops are cut from FER2013 faces in
    a mirrored border; the crops it trains on are 48 px model inputs (a framed round runs in the
    FER+ and CK+ test below)."""
    from faceinsight.datasets import FER_CHIP_SIDE, FER_CONTEXT_PAD
    from faceinsight.training import train_emotion
    from faceinsight.training.batches import FramedBatches
    from faceinsight.training.datasets import load_fer2013

    framing = ["--box-scale", "0.1", "--box-shift", "0.05", "--box-rotate", "10", "--background", "0.5"]
    args = train_emotion.parse_args(["--data", str(tiny_run.root / "fer2013"), *framing])
    contexts = load_fer2013(args.data, "train", in_context=True)
    assert contexts["images"].shape[1:] == (FER_CHIP_SIDE + 2 * FER_CONTEXT_PAD,) * 2
    batches = train_emotion.training_batches(contexts, args)
    x, y = batches[0]
    assert isinstance(batches, FramedBatches) and x.shape[1:] == (48, 48, 1) and len(x) == len(y)


def test_emotion_training_on_ferplus_votes_and_ckplus_training_subjects(tiny_run: TinyRun,
                                                                        astronaut: np.ndarray) -> None:
    """Soft targets mix each label with FER+'s votes; CK+'s training subjects join, repeated,
    through the same framed crops; val/ keeps its one-hot original labels; a round runs on them,
    its crops framed with a detector's box variation and other backgrounds."""
    from faceinsight.training import train_emotion
    from faceinsight.training.ckplus import is_held_out_subject
    from faceinsight.training.datasets import load_fer2013

    ferplus, ckplus = fake_ferplus_and_ckplus(tiny_run.root, astronaut)
    extra = ["--ferplus", str(ferplus), "--soft-weight", "0.5", "--ckplus", str(ckplus),
             "--ckplus-repeat", "2", "--box-scale", "0.1", "--box-shift", "0.05", "--box-rotate", "10",
             "--background", "0.5"]
    args = train_emotion.parse_args(["--data", str(tiny_run.root / "fer2013"), *extra])
    fer_train = load_fer2013(args.data, "train", in_context=True)
    val = load_fer2013(args.data, "val")
    train, val = train_emotion.with_soft_targets(fer_train, val, args)
    training_subjects = sum(not is_held_out_subject(f"S{n:03d}") for n in range(10))
    fer = len(fer_train["label"])
    assert len(train["images"]) == fer + 2 * 2 * training_subjects  # happy + surprise, x2
    happy, neutral = EMOTIONS.index("happy"), EMOTIONS.index("neutral")
    first_happy = np.flatnonzero(fer_train["label"] == happy)[0]
    assert train["target"][first_happy, happy] == pytest.approx(0.75)
    assert train["target"][first_happy, neutral] == pytest.approx(0.25)
    assert (train["target"][fer:].max(axis=1) == 1.0).all()  # CK+ faces keep one-hot labels
    np.testing.assert_array_equal(val["target"].argmax(axis=1), val["label"])
    x, y = train_emotion.training_batches(train, args)[0]
    assert x.shape[1:] == (48, 48, 1) and y.shape == (len(x), len(EMOTIONS))
    section = continue_training(tiny_run, train_emotion, tiny_run.emotion_out / "best.keras",
                                "emotion_soft", "--data", str(tiny_run.root / "fer2013"), *extra)
    assert 0 <= section["summary"]["accuracy"] <= 1
    assert section["training"]["args"]["background"] == "0.5"
    assert section["training"]["args"]["box_rotate"] == "10.0"
    recorded = section["training"]["args"]  # folder names only: no machine path in a report
    assert (recorded["ferplus"], recorded["ckplus"]) == (ferplus.name, ckplus.name)


def test_card_says_how_a_round_framed_its_faces() -> None:
    from faceinsight.training.model_card import _augmentation_text

    framed = _augmentation_text({"detector_framing": "models", "box_scale": "0.1", "box_shift": "0.05",
                                 "box_rotate": "10", "erase": "0.5"})
    assert framed.startswith(" with each face framed as served (the served detector's box")
    assert "side +-10 %, centre +-5 %, rotation +-10°" in framed and framed.endswith("(half the crops)")
    assert _augmentation_text({"detector_framing": "None", "rotate": "0.0"}) == ""
    pasted = _augmentation_text({"paste": "0.35", "background": "0.5"})
    assert "35 % of faces pasted into a photo" in pasted and "around 32.5 % of faces" in pasted
    taught = _augmentation_text({"ferplus": "ferplus", "soft_weight": "0.1", "ckplus": "ckplus48",
                                 "ckplus_repeat": "3", "teacher": "faceres_train.npz dlib_train.npz",
                                 "teacher_weight": "0.2"})
    assert "FER+'s ten annotators' votes mixed into the targets at 0.1" in taught
    assert "CK+'s training subjects' faces (3 times an epoch)" in taught
    assert "teachers' readings, averaged, (faceres_train.npz, dlib_train.npz) mixed into the targets at 0.2" \
        in taught
    unlabelled = _augmentation_text({"utkface": "/data/utkface", "utkface_count": "6000",
                                     "utkface_teacher": "/b/ours_utkface.npz /b/faceapi_utkface.npz"})
    assert unlabelled == (" with 6,000 of UTKFace's training faces, which have no emotion labels, their "
                          "targets the teachers' readings averaged (ours_utkface.npz, faceapi_utkface.npz)")


def test_a_chain_that_repeats_the_last_shipped_round_counts_it_once() -> None:
    """A chain begun from the last shipped round's checkpoint reports that round again: folded
    into the shipped figures, it counts once and the chain's epochs follow the rounds before it."""
    from faceinsight.training.report import continue_shipped

    def round_of(out: str, epochs: int) -> dict:
        return {"epochs": epochs, "seconds": 60 * epochs, "args": {"out": out}}

    shipped = {"epochs": 7, "seconds": 420, "rounds": [round_of("r1", 4), round_of("r2", 3)],
               "history": [{"epoch": e} for e in range(1, 8)], "restarts": [4]}
    chain = {"epochs": 5, "seconds": 300, "rounds": [round_of("r2", 3), round_of("r3", 2)],
             "best_epoch": 5, "history": [{"epoch": e} for e in range(1, 6)], "restarts": [3]}
    training = continue_shipped(shipped, chain)
    assert [r["args"]["out"] for r in training["rounds"]] == ["r1", "r2", "r3"]
    assert training["epochs"] == 9 and training["best_epoch"] == 9 and training["seconds"] == 540
    assert [h["epoch"] for h in training["history"]] == list(range(1, 10))
    assert training["restarts"] == [4, 7]

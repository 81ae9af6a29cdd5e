"""``--resume``: a run stopped after some epochs goes on in a later session with the same
schedule, optimizer state and history, and refuses to go on with other options."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import numpy as np
import pytest
from training_fakes import TinyRun

pytestmark = pytest.mark.usefixtures("tensorflow")

EPOCHS = 3


def emotion_run(tiny_run: TinyRun, out: Path, *extra: str) -> list[str]:
    """Arguments of a three-epoch emotion run on the fake FER2013, from the tiny run's network
    (one batch an epoch), with ``extra`` appended."""
    return ["--data", str(tiny_run.root / "fer2013"), "--out", str(out),
            "--reports", str(out / "reports"), "--cache", str(tiny_run.root / "cache"),
            "--epochs", str(EPOCHS), "--threads", "1", "--batch-size", "64", "--learning-rate", "1e-3",
            "--seed", "5", "--erase", "0.5", "--init-weights", str(tiny_run.emotion_out / "last.keras"),
            *extra]


def stopped_after_one_epoch(tiny_run: TinyRun, name: str) -> Path:
    """A run whose time budget stops it after its first epoch, as a session's end would."""
    from faceinsight.training import train_emotion

    out = tiny_run.root / name
    train_emotion.main(emotion_run(tiny_run, out, "--budget-minutes", "1e-6"))
    assert [e["epoch"] for e in json.loads((out / "history.json").read_text())] == [1]
    return out


def optimizer_of(path: Path):
    import keras

    return keras.saving.load_model(path).optimizer


def test_a_resumed_run_goes_on_where_it_stopped(tiny_run: TinyRun) -> None:
    from faceinsight.training import train_emotion
    from faceinsight.training.fit import cosine_schedule

    out = stopped_after_one_epoch(tiny_run, "resumed")
    assert int(optimizer_of(out / "last.keras").iterations) == 1
    resumed = emotion_run(tiny_run, out, "--resume", "--threads", "2")
    resumed[1] = str(tiny_run.root / "cache" / ".." / "fer2013")  # the same folder, spelt otherwise
    section = train_emotion.main(resumed)

    history = json.loads((out / "history.json").read_text())
    assert [e["epoch"] for e in history] == [1, 2, 3]
    optimizer = optimizer_of(out / "last.keras")
    assert int(optimizer.iterations) == EPOCHS  # one step an epoch, counted across both sessions
    # the first session's schedule went on: at its end, the rate of three epochs' cosine decay
    schedule = cosine_schedule(1e-3, total_steps=EPOCHS, warmup_steps=1)
    assert float(optimizer.learning_rate) == pytest.approx(float(schedule(EPOCHS)), rel=1e-5)
    run = json.loads((out / "run.json").read_text())
    assert run["epochs_run"] == EPOCHS and run["resumed_after"] == [1]
    assert run["args"]["resume"] == "False"  # the options it started with
    assert section["training"]["epochs"] == 1 + EPOCHS  # the tiny run's epoch, then these


def test_the_best_checkpoint_is_replaced_only_by_a_better_epoch(tiny_run: TinyRun) -> None:
    import keras

    from faceinsight.training import train_emotion

    out = stopped_after_one_epoch(tiny_run, "resumed_best")
    history = json.loads((out / "history.json").read_text())
    history[0]["val_accuracy"] = 2.0  # no later epoch can beat it
    (out / "history.json").write_text(json.dumps(history))
    best = keras.saving.load_model(out / "best.keras", compile=False).get_weights()
    train_emotion.main(emotion_run(tiny_run, out, "--resume"))
    kept = keras.saving.load_model(out / "best.keras", compile=False).get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(best, kept, strict=True))


def test_resume_refuses_other_options_a_finished_run_and_an_empty_folder(tiny_run: TinyRun) -> None:
    from faceinsight.training import train_emotion

    out = stopped_after_one_epoch(tiny_run, "resume_refused")
    with pytest.raises(SystemExit, match=r"--learning-rate \(0.001 -> 0.002\)"):
        train_emotion.main(emotion_run(tiny_run, out, "--resume", "--learning-rate", "2e-3"))
    with pytest.raises(SystemExit, match="--average-from"):
        train_emotion.main(emotion_run(tiny_run, out, "--resume", "--average-from", "2"))
    train_emotion.main(emotion_run(tiny_run, out, "--resume"))
    with pytest.raises(SystemExit, match="has run all its 3 epochs"):
        train_emotion.main(emotion_run(tiny_run, out, "--resume"))
    with pytest.raises(SystemExit, match="no run to continue"):
        train_emotion.main(emotion_run(tiny_run, tiny_run.root / "never_ran", "--resume"))


def test_framed_batches_draw_a_resumed_epoch_as_the_whole_run_does() -> None:
    from faceinsight.training.augment import BoxJitter
    from faceinsight.training.batches import FramedBatches

    contexts = np.random.default_rng(0).integers(0, 255, (6, 64, 64), dtype=np.uint8)
    box = (8, 8, 48, 48)
    targets = np.arange(6, dtype=np.float32)

    def batches():
        return FramedBatches(contexts, box, targets, 4, 7, 48, BoxJitter(0.1, 0.05, 5))

    whole = batches()
    whole.on_epoch_end()
    whole.on_epoch_end()
    resumed = batches()
    resumed.start_at_epoch(2)
    np.testing.assert_array_equal(resumed.order, whole.order)
    np.testing.assert_array_equal(resumed[0][0], whole[0][0])


def test_age_gender_resumes_with_its_own_loss_and_metrics(tiny_run: TinyRun) -> None:
    from faceinsight.training import train_age_gender

    out = tiny_run.root / "age_gender_resumed"
    common = ["--data", str(tiny_run.root / "utkface"), "--out", str(out), "--reports", str(out / "reports"),
              "--cache", str(tiny_run.root / "cache"), "--epochs", "2", "--threads", "1",
              "--batch-size", "64", "--val-fraction", "0.25", "--box-scale", "0.1",
              "--init-weights", str(tiny_run.age_gender_out / "last.keras")]
    train_age_gender.main([*common, "--budget-minutes", "1e-6"])
    section = train_age_gender.main([*common, "--resume"])
    assert [e["epoch"] for e in json.loads((out / "history.json").read_text())] == [1, 2]
    assert int(optimizer_of(out / "last.keras").iterations) == 2
    assert section["training"]["epochs"] == 1 + 2


def test_the_last_checkpoint_is_replaced_whole(tmp_path: Path) -> None:
    import keras

    from faceinsight.training.callbacks import LastCheckpoint

    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    checkpoint = LastCheckpoint(tmp_path / "last.keras")
    checkpoint.set_model(model)
    for value in (1.0, 2.0):
        model.set_weights([np.full((2, 1), value, np.float32), np.zeros(1, np.float32)])
        checkpoint.on_epoch_end(0)
        saved = keras.saving.load_model(tmp_path / "last.keras").get_weights()[0]
        np.testing.assert_allclose(saved, value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.keras"]  # no partial file left


def test_the_training_pages_examples_are_commands_the_script_takes() -> None:
    """Each example on docs/models/training.md parses with its script's own options."""
    from faceinsight.training import report, train_emotion

    parsers = {"faceinsight.training.train_emotion": train_emotion.parse_args,
               "faceinsight.training.report": report.parse_args}
    page = Path(__file__).resolve().parents[2] / "docs" / "models" / "training.md"
    examples = re.findall(r"```sh\n(.*?)```", page.read_text(), flags=re.S)
    assert len(examples) >= 5
    for example in examples:
        words = shlex.split(example.replace("\\\n", " "))
        assert words[:2] == ["python", "-m"] and words[2] in parsers
        parsers[words[2]](words[3:])  # exits on an option the script does not take

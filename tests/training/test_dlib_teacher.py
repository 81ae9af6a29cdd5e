"""The dlib age/gender teacher's plumbing on made-up files (no virtual environment, no dataset):
its expected age, several teachers averaged into the training targets, and the measure that
sets teachers beside ours."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from faceinsight.labels import MAX_AGE
from faceinsight.training.teachers.age_gender_measure import compare
from faceinsight.training.teachers.dlib_age_gender import with_expected_age
from faceinsight.training.teachers.soft_labels import teacher_age_gender


def saved(path: Path, names: list[str], ages: list[int], female: list[float], classes: int) -> Path:
    """A teacher's file saying each face is exactly ``ages`` old, P(female) ``female``."""
    distribution = np.zeros((len(names), classes), np.float32)
    distribution[np.arange(len(names)), ages] = 1.0
    np.savez(path, names=np.array(names), age=np.array(ages, np.float32),
             age_distribution=distribution, female=np.array(female, np.float32))
    return path


def test_the_expected_age_weighs_the_first_class_as_a_baby_under_one(tmp_path: Path) -> None:
    distribution = np.zeros((2, 81), np.float32)
    distribution[0, [20, 40]] = 0.5  # between 20 and 40: 30
    distribution[1, 0] = 1.0  # the package's class for babies: 0.25 years
    path = tmp_path / "dlib_val.npz"
    np.savez(path, names=np.array(["a.jpg", "b.jpg"]), female=np.array([0.1, 0.8], np.float32),
             age_distribution=distribution)
    with_expected_age(path)
    reread = np.load(path)
    np.testing.assert_allclose(reread["age"], [30.0, 0.25])
    np.testing.assert_allclose(reread["female"], [0.1, 0.8])  # the rest is kept


def test_two_teachers_are_averaged_where_both_read_a_face(tmp_path: Path) -> None:
    faceres = saved(tmp_path / "faceres_train.npz", ["a.jpg", "b.jpg"], [40, 99], [0.9, 0.2], 100)
    dlib = saved(tmp_path / "dlib_train.npz", ["a.jpg", "c.jpg"], [20, 70], [0.5, 0.6], 81)
    teacher = teacher_age_gender([faceres, dlib], ["a.jpg", "b.jpg", "c.jpg", "new.jpg"])
    assert teacher["age_distribution"].shape == (4, MAX_AGE + 1)
    np.testing.assert_allclose(teacher["age_distribution"][0, [20, 40]], [0.5, 0.5])
    assert teacher["age_distribution"][1, 99] == pytest.approx(1.0)  # FaceRes alone read b
    assert teacher["age_distribution"][2, 70] == pytest.approx(1.0)  # dlib alone read c
    np.testing.assert_allclose(teacher["female"], [0.7, 0.2, 0.6, 0.0])
    np.testing.assert_array_equal(teacher["taught"], [True, True, True, False])


def test_the_measure_scores_each_teacher_alone_with_ours_and_all_together() -> None:
    true_age, is_female = np.array([20.0, 60.0]), np.array([True, False])
    ours = {"age": np.array([22.0, 56.0]), "female": np.array([0.8, 0.6])}  # the man read as a woman
    teachers = {"faceres": {"age": np.array([20.0, 66.0]), "female": np.array([0.7, 0.1])},
                "dlib": {"age": np.array([24.0, 60.0]), "female": np.array([0.4, 0.2])}}
    result = compare(ours, teachers, true_age, is_female)
    assert set(result) == {"ours", "faceres", "dlib", "ours+faceres", "ours+dlib", "average"}
    assert result["ours"]["age_mae"] == pytest.approx(3.0)
    assert result["ours"]["men_as_men"] == 0.0 and result["ours"]["women_as_women"] == 1.0
    assert result["dlib"]["women_as_women"] == 0.0
    assert result["ours+faceres"]["age_mae"] == pytest.approx(1.0)  # (21, 61)
    assert result["average"]["age_mae"] == pytest.approx(4 / 3, abs=1e-3)  # (22, 60.67)
    assert result["average"]["gender_accuracy"] == 1.0  # P(female) 0.63 and 0.30


def test_a_round_records_its_teachers_by_file_name_alone() -> None:
    from faceinsight.training.fit import argument_text
    from faceinsight.training.report import _sanitised

    teachers = argument_text([Path("/somewhere/build/teacher/faceres_train.npz"), Path("dlib_train.npz")])
    assert teachers == "/somewhere/build/teacher/faceres_train.npz dlib_train.npz"  # run.json
    recorded = _sanitised({"teacher": teachers, "ckplus": "/data/ckplus48", "seed": "55"})
    assert recorded == {"teacher": "faceres_train.npz dlib_train.npz", "ckplus": "ckplus48", "seed": "55"}

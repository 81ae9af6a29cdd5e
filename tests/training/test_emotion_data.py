"""FER+ soft targets, the CK+ subject split and the emotion evaluation's share rule, on tiny
made-up files (no dataset folder needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from faceinsight.labels import EMOTIONS
from faceinsight.training.ckplus import is_held_out_subject, read_rows
from faceinsight.training.emotion_eval import shares
from faceinsight.training.ferplus import majority, read_votes, soft_targets, votes_for

HEADER = "path,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF\n"


def write_ferplus(folder: Path) -> Path:
    """A labels.csv of three training files: mixed votes, contempt/unknown votes, not-a-face."""
    path = folder / "labels.csv"
    path.write_text(HEADER
                    + "train/angry/a.jpg,2,0,0,1,6,0,0,1,0,0\n"
                    + "train/fear/b.jpg,0,0,0,0,0,0,4,3,3,0\n"
                    + "train/happy/c.jpg,0,0,0,0,0,0,0,0,0,10\n")
    return path


def one_hot(name: str) -> np.ndarray:
    return np.eye(len(EMOTIONS))[EMOTIONS.index(name)]


def test_votes_map_to_our_classes_and_drop_contempt_unknown_and_not_a_face(tmp_path: Path) -> None:
    votes = votes_for(["angry/a.jpg", "fear/b.jpg", "happy/c.jpg", "sad/unnamed.jpg"], "train",
                      read_votes(write_ferplus(tmp_path)))
    expected_a = 2 * one_hot("neutral") + one_hot("sad") + 6 * one_hot("angry")
    np.testing.assert_array_equal(votes[0], expected_a)
    np.testing.assert_array_equal(votes[1], 4 * one_hot("fear"))
    np.testing.assert_array_equal(votes[2:], 0)  # not-a-face only, and a file FER+ does not name


def test_soft_targets_mix_the_original_label_with_the_vote_distribution(tmp_path: Path) -> None:
    names = ["angry/a.jpg", "fear/b.jpg", "happy/c.jpg"]
    labels = np.array([EMOTIONS.index(n.split("/")[0]) for n in names])
    votes = votes_for(names, "train", read_votes(write_ferplus(tmp_path)))
    targets = soft_targets(labels, votes, soft_weight=0.5)
    np.testing.assert_allclose(targets.sum(axis=1), 1.0, rtol=1e-6)
    # angry: 0.5 one-hot + 0.5 * (2 neutral, 1 sad, 6 angry) / 9
    expected = 0.5 * one_hot("angry") + 0.5 * (2 * one_hot("neutral") + one_hot("sad")
                                               + 6 * one_hot("angry")) / 9
    np.testing.assert_allclose(targets[0], expected, rtol=1e-6)
    np.testing.assert_allclose(targets[1], one_hot("fear"), rtol=1e-6)  # its 4 kept votes agree
    np.testing.assert_allclose(targets[2], one_hot("happy"), rtol=1e-6)  # no vote: one-hot kept
    np.testing.assert_allclose(soft_targets(labels, votes, 0.0), np.eye(7)[labels])


def test_majority_leaves_out_ties_and_faces_without_votes() -> None:
    votes = np.zeros((3, len(EMOTIONS)))
    votes[0] = 6 * one_hot("angry") + 2 * one_hot("sad")
    votes[1] = 4 * one_hot("fear") + 4 * one_hot("sad")
    assert majority(votes).tolist() == [EMOTIONS.index("angry"), -1, -1]


def test_ckplus_subject_split_is_deterministic_disjoint_and_about_a_quarter(tmp_path: Path) -> None:
    subjects = [f"S{n:03d}" for n in range(400)]
    held_out = {s for s in subjects if is_held_out_subject(s)}
    assert held_out == {s for s in subjects if is_held_out_subject(s)}
    assert 0.18 < len(held_out) / len(subjects) < 0.32
    rows = ["path,emotion7,ck_label,subject,sequence,frame"]
    rows += [f"images/x/{s}_{k}.png,{EMOTIONS[k % 7] if k % 7 != 4 else 'happy'},x,{s},001,1"
             for s in subjects[:40] for k in range(3)]
    rows.append(f"images/contempt/{subjects[0]}_9.png,,contempt,{subjects[0]},002,1")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    train, test = read_rows(tmp_path, held_out=False), read_rows(tmp_path, held_out=True)
    assert {r[2] for r in train}.isdisjoint({r[2] for r in test})
    assert len(train) + len(test) == 120  # contempt (no emotion7) left out
    assert {r[2] for r in test} == held_out & set(subjects[:40])


def test_shares_flag_a_catch_all_class() -> None:
    true = np.array([0, 0, 3, 3, 4, 4, 5, 5])
    assert shares(true, true)["catch_all_rule_met"]
    report = shares(true, np.array([0, 0, 0, 0, 0, 3, 4, 5]))
    assert report["largest_ratio_class"] == "angry"
    assert report["largest_ratio"] == pytest.approx(2.5)
    assert not report["catch_all_rule_met"]

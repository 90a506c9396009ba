import numpy as np
import pytest

from fer_zoo.data import protocols
from fer_zoo.data.faceset import FaceSet


def _faces(identity, split=None):
    identity = np.asarray(identity)
    labels = {"identity": identity, "expression": np.zeros(len(identity), np.int64)}
    if split is not None:
        labels["split"] = np.asarray(split)
    return FaceSet(np.zeros((len(identity), 2, 2, 1), np.float32), labels)


@pytest.mark.parametrize("folds", [2, 5, 10])
def test_kfold_by_identity(folds):
    rng = np.random.default_rng(1)
    identity = rng.integers(0, 23, 300)
    splits = protocols.kfold_splits(_faces(identity), folds, seed=3)
    assert len(splits) == folds
    tests = np.concatenate([test for _, test in splits])
    assert sorted(tests.tolist()) == list(range(300))  # folds cover everything exactly once
    for train, test in splits:
        assert not set(identity[train]) & set(identity[test])
        assert len(train) + len(test) == 300
    sizes = [len(test) for _, test in splits]
    assert max(sizes) - min(sizes) <= max(np.bincount(identity))  # greedy balancing
    again = protocols.kfold_splits(identity, folds, seed=3)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(splits, again))
    other = protocols.kfold_splits(identity, folds, seed=4)
    assert any(not np.array_equal(a[1], b[1]) for a, b in zip(splits, other))


def test_subject_split_is_subject_independent():
    identity = np.repeat(np.arange(10), 5)
    parts = protocols.subject_split(identity, test_fraction=0.2, validation_fraction=0.1, seed=0)
    assert len(parts["test"]) == 10 and len(parts["validation"]) == 5 and len(parts["train"]) == 35
    groups = [set(identity[parts[k]]) for k in ("train", "validation", "test")]
    assert not groups[0] & groups[1] and not groups[0] & groups[2] and not groups[1] & groups[2]
    np.testing.assert_array_equal(
        parts["test"], protocols.subject_split(identity, 0.2, 0.1, seed=0)["test"]
    )


def test_protocol_table_and_fer2013():
    faces = _faces(np.repeat(np.arange(12), 3))
    assert len(protocols.protocol_splits("ckplus", faces)) == 10
    assert len(protocols.protocol_splits("multipie", faces)) == 5
    train, test = protocols.protocol_splits("CK+", faces, fold=2)
    assert len(train) + len(test) == 36
    holdout = protocols.protocol_splits("bu3dfe", faces)
    assert len(set(faces.labels["identity"][holdout["test"]])) == 2  # 20% of 12 subjects
    fer = _faces(np.full(5, -1), split=[0, 0, 1, 2, 2])
    parts = protocols.protocol_splits("fer2013", fer)
    assert (
        parts["train"].tolist() == [0, 1]
        and parts["validation"].tolist() == [2]
        and parts["test"].tolist() == [3, 4]
    )
    merged = _faces(np.full(2, -1), split=[0, 3])
    assert protocols.fer2013_split(merged, "PrivateTest").tolist() == [1]


def test_errors():
    with pytest.raises(ValueError, match="unknown identity"):
        protocols.kfold_splits(np.array([0, 1, -1]), 2)
    with pytest.raises(ValueError, match="folds must be"):
        protocols.kfold_splits(np.array([0, 1, 1]), 3)
    with pytest.raises(ValueError, match="Unknown protocol"):
        protocols.protocol_splits("lfw", _faces([0, 1]))
    with pytest.raises(ValueError, match="Unknown FER2013 split"):
        protocols.fer2013_split(np.array([0]), "holdout")

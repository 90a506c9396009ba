import itertools

import numpy as np
import pytest

from fer_zoo.data import pairing
from fer_zoo.data.faceset import FaceSet


def _grid(
    identities=3,
    expressions=(0, 3, 4),
    yaws=(-90, -45, 0, 45, 90),
    illuminations=(0,),
    sessions=(0,),
):
    rows = list(itertools.product(range(identities), sessions, expressions, yaws, illuminations))
    identity, session, expression, yaw, illumination = (np.array(c) for c in zip(*rows))
    # Brightness encodes the illumination so the luminance choice is checkable.
    images = np.broadcast_to(
        (illumination * 0.2 - 0.5)[:, None, None, None], (len(rows), 4, 4, 1)
    ).astype(np.float32)
    labels = {
        "identity": identity,
        "session": session,
        "expression": expression,
        "yaw": yaw.astype(np.float32),
        "illumination": illumination,
        "pitch": np.zeros(len(rows), np.float32),
    }
    return FaceSet(images.copy(), labels)


def test_gasca_target_yaw_eq8():
    yaw = np.array([-60, -45, -30, -15, 0, 15, 30, 45, 60])
    # Literal eq. 8 with alpha=30, d=15: beyond |alpha| one step towards 0, else unchanged.
    np.testing.assert_array_equal(
        pairing.gasca_target_yaw(yaw, 30, 15, mode="step"), [-45, -30, -30, -15, 0, 15, 30, 30, 45]
    )
    np.testing.assert_array_equal(
        pairing.gasca_target_yaw(yaw, 30, mode="clip"), [-30, -30, -30, -15, 0, 15, 30, 30, 30]
    )
    np.testing.assert_array_equal(
        pairing.gasca_target_yaw([-90, -45, 90], 0, 45, mode="step"), [-45, 0, 45]
    )
    assert pairing.gasca_alphas(yaw, 15) == (45.0, 30.0, 15.0, 0.0)
    assert pairing.gasca_alphas([-90, -45, 0, 45, 90], 45) == (45.0, 0.0)


def test_gasca_pairs_kdef_style():
    faces = _grid()
    inputs, targets = pairing.gasca_pairs(faces, alpha=45, d=45)
    assert len(inputs) == len(faces)  # every image has its target in a full grid
    labels = faces.labels
    for key in ("identity", "session", "expression", "illumination"):
        np.testing.assert_array_equal(labels[key][inputs], labels[key][targets])
    np.testing.assert_array_equal(labels["yaw"][targets], np.clip(labels["yaw"][inputs], -45, 45))
    step_in, step_target = pairing.gasca_pairs(faces, alpha=0, d=45, mode="step", restrict=True)
    assert set(np.abs(labels["yaw"][step_in]).tolist()) == {0.0, 45.0}
    assert (labels["yaw"][step_target] == 0).all()


def test_gasca2_mean_luminance_target():
    faces = _grid(identities=2, expressions=(3,), yaws=(0, 45), illuminations=(0, 1, 2, 4))
    inputs, targets = pairing.gasca_pairs(faces, alpha=0, d=45, illumination="mean_luminance")
    assert len(inputs) == len(faces)
    # Luminances 0.25, 0.35, 0.45, 0.65: mean 0.425, closest is illumination 2 (0.45).
    assert set(faces.labels["illumination"][targets].tolist()) == {2}
    assert (faces.labels["yaw"][targets] == 0).all()
    np.testing.assert_array_equal(
        faces.labels["identity"][inputs], faces.labels["identity"][targets]
    )


def test_gasca_missing_target_is_left_out():
    faces = _grid(identities=1, expressions=(0,), yaws=(45, 90))
    inputs, targets = pairing.gasca_pairs(faces, alpha=0, d=45)
    assert len(inputs) == 0
    with pytest.raises(ValueError, match="yaw"):
        pairing.gasca_pairs(FaceSet(np.zeros((1, 2, 2, 1)), {"identity": np.array([0])}), alpha=0)


def test_jpem_pairs_same_identity_new_expression_or_pose():
    faces = _grid(sessions=(0, 1))
    sources, targets = pairing.jpem_pairs(faces, seed=0)
    labels = faces.labels
    assert len(sources) == len(faces)
    np.testing.assert_array_equal(labels["identity"][sources], labels["identity"][targets])
    np.testing.assert_array_equal(labels["session"][sources], labels["session"][targets])
    changed = (labels["expression"][sources] != labels["expression"][targets]) | (
        labels["yaw"][sources] != labels["yaw"][targets]
    )
    assert changed.all()
    frontal_s, frontal_t = pairing.jpem_pairs(faces, target_yaw=0.0, target_expression=4)
    assert (labels["yaw"][frontal_t] == 0).all() and (labels["expression"][frontal_t] == 4).all()
    again = pairing.jpem_pairs(faces, seed=0)
    np.testing.assert_array_equal(again[1], targets)


def test_fesr_pairs_same_class_other_image():
    faces = _grid()
    sources, reals = pairing.fesr_pairs(faces, seed=1)
    labels = faces.labels
    assert len(sources) == len(faces) and (sources != reals).all()
    np.testing.assert_array_equal(labels["expression"][sources], labels["expression"][reals])
    assert (labels["identity"][sources] != labels["identity"][reals]).all()


def test_relgan_triplets_ground_truth():
    faces = _grid(sessions=(0, 1))
    keep = ~(
        (faces.labels["identity"] == 2) & (faces.labels["expression"] == 4)
    )  # person 2 never neutral
    faces = faces.subset(keep)
    sources, targets, truths = pairing.relgan_triplets(faces, seed=0)
    labels = faces.labels
    assert len(sources) == len(faces)
    assert (labels["identity"][targets] != labels["identity"][sources]).all()
    np.testing.assert_array_equal(labels["identity"][truths], labels["identity"][targets])
    np.testing.assert_array_equal(labels["expression"][truths], labels["expression"][sources])
    np.testing.assert_array_equal(labels["yaw"][truths], labels["yaw"][targets])
    np.testing.assert_array_equal(labels["session"][truths], labels["session"][targets])
    neutral = labels["expression"][sources] == 4
    assert not (labels["identity"][targets][neutral] == 2).any()

import numpy as np
import pytest
import tensorflow as tf

from fer_zoo.data import augment


def _ramp(size=24, channels=1):
    x = np.linspace(-1, 1, size, dtype=np.float32)
    return tf.constant(np.broadcast_to(x[None, :, None], (size, size, channels)).copy())


def test_flip_negates_pose_labels():
    tf.random.set_seed(0)
    image = _ramp()
    labels = {
        "yaw": tf.constant(30.0),
        "light_azimuth": tf.constant(-20.0),
        "expression": tf.constant(3),
    }
    seen = set()
    for _ in range(20):
        out, out_labels = augment.random_flip(image, labels)
        flipped = bool(out[0, 0, 0] > 0)  # the ramp now starts bright
        seen.add(flipped)
        assert float(out_labels["yaw"]) == (-30.0 if flipped else 30.0)
        assert float(out_labels["light_azimuth"]) == (20.0 if flipped else -20.0)
        assert int(out_labels["expression"]) == 3
    assert seen == {True, False}


def test_rotation_by_known_angle():
    image = np.zeros((21, 21, 1), np.float32)
    image[10, 15] = 1.0  # a dot right of the centre
    rotated = augment.rotate(tf.constant(image), 90.0).numpy()
    # Counter-clockwise by 90 degrees (y axis down): the dot moves above the centre.
    assert np.unravel_index(np.argmax(rotated[..., 0]), (21, 21)) == (5, 10)
    small = augment.random_rotation(_ramp(), 6.0)
    assert small.shape == (24, 24, 1)


def test_five_crops():
    image = tf.reshape(tf.range(110 * 110, dtype=tf.float32), (110, 110, 1))
    crops = augment.five_crops(image, 96).numpy()
    assert crops.shape == (5, 96, 96, 1)
    assert (
        crops[0, 0, 0, 0] == 0
        and crops[1, 0, -1, 0] == 109
        and crops[3, -1, -1, 0] == 110 * 110 - 1
    )
    assert crops[4, 0, 0, 0] == 7 * 110 + 7  # centre crop offset (110-96)/2
    out, _ = augment.relgan_augment(_ramp(96, 3), None)
    assert out.shape == (96, 96, 3) and float(tf.reduce_max(tf.abs(out))) <= 1.0


def test_standard_augment_in_tf_data():
    dataset = tf.data.Dataset.from_tensor_slices(
        (tf.stack([_ramp(16)] * 4), {"yaw": tf.constant([10.0] * 4)})
    )
    dataset = dataset.map(augment.get_augmentation("standard")).batch(4)
    images, labels = next(iter(dataset))
    assert images.shape == (4, 16, 16, 1)
    assert float(tf.reduce_min(images)) >= -1.0 and float(tf.reduce_max(images)) <= 1.0
    assert set(np.abs(labels["yaw"].numpy()).tolist()) == {10.0}
    relgan = augment.get_augmentation("relgan", image_size=32)
    assert relgan(_ramp(32), None)[0].shape == (32, 32, 1)
    with pytest.raises(ValueError, match="standard"):
        augment.get_augmentation("mixup")


def test_paired_flip_and_light_mirrors_both_and_relights_only_the_input():
    tf.random.set_seed(1)
    image, target = _ramp(), -_ramp()
    flips, relit = set(), 0
    for _ in range(40):
        out, out_target = augment.paired_flip_and_light(image, target, light_probability=0.5)
        flipped = bool(out_target[0, 0, 0] < 0)  # the negated ramp starts bright; flipped: dark
        flips.add(flipped)
        # One flip decision for the pair; the target is only mirrored, never relit.
        expected_target = target[:, ::-1] if flipped else target
        np.testing.assert_allclose(out_target, expected_target, atol=1e-6)
        expected_input = image[:, ::-1] if flipped else image
        relit += not np.allclose(out, expected_input, atol=1e-4)
        assert float(tf.reduce_max(tf.abs(out))) <= 1.0
    assert flips == {True, False}
    assert 5 < relit < 35  # about half of the inputs get a new light
    # "flip" never relights.
    for _ in range(10):
        out, out_target = augment.PAIRED_AUGMENTATIONS["flip"](image, target)
        flipped = bool(out_target[0, 0, 0] < 0)
        np.testing.assert_allclose(out, image[:, ::-1] if flipped else image, atol=1e-6)

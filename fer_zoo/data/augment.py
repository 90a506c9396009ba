"""Augmentation as TensorFlow ops for `tf.data` (images `(H, W, C)` float32 in [-1, 1]).

Every `*_augment` function maps `(image, labels)` -> `(image, labels)` so it can be passed to
`dataset.map`. Horizontal flips mirror the pose, so they negate the `yaw` and `light_azimuth`
labels when present. Randomness uses `tf.random` ops; for a reproducible stream pass `seed` to
`fer_zoo.data.load` (it seeds the dataset's shuffling and `tf.random.set_seed` is honoured).

* `standard_augment`: random crop (of `crop_fraction` of the side, resized back), flip,
  brightness and contrast jitter.
* `relgan_augment`: REL-GAN's recipe: resize to `load_size` (110), one of the five crops of
  `crop_size` (96: four corners + centre), rotation in [-6, 6] degrees, flip.
* `five_crops`: the five crops of one image as a batch (test-time averaging).
* `paired_flip_and_light`: for normalisation pairs `(input, target)`: one flip for both, and
  light jitter (gamma, contrast, a smooth directional shading) on the input only.
"""

import math

import tensorflow as tf

FLIP_NEGATED_LABELS = ("yaw", "light_azimuth")


def _flip_labels(labels, flipped):
    if not isinstance(labels, dict):
        return labels
    labels = dict(labels)
    for key in FLIP_NEGATED_LABELS:
        if key in labels:
            value = labels[key]
            labels[key] = tf.where(flipped, -value, value)
    return labels


def random_flip(image, labels=None, probability=0.5):
    """Mirrors the image left-right with `probability`; negates yaw / light azimuth labels."""
    flipped = tf.random.uniform(()) < probability
    image = tf.cond(flipped, lambda: tf.image.flip_left_right(image), lambda: image)
    return image, _flip_labels(labels, flipped)


def rotate(image, degrees, fill_mode="REFLECT"):
    """Rotates `(H, W, C)` or `(N, H, W, C)` images by `degrees` (counter-clockwise) about the centre."""
    batched = image.shape.rank == 4
    images = image if batched else image[None]
    shape = tf.shape(images)
    height, width = tf.cast(shape[1], tf.float32), tf.cast(shape[2], tf.float32)
    angle = tf.cast(degrees, tf.float32) * (math.pi / 180.0)
    cos, sin = tf.cos(angle), tf.sin(angle)
    cx, cy = (width - 1.0) / 2.0, (height - 1.0) / 2.0
    # Output->input projective transform [a0 a1 a2 b0 b1 b2 c0 c1] (rotation about the centre).
    transform = tf.stack(
        [cos, -sin, cx - cos * cx + sin * cy, sin, cos, cy - sin * cx - cos * cy, 0.0, 0.0]
    )
    transforms = tf.tile(transform[None], [shape[0], 1])
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=transforms,
        output_shape=shape[1:3],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode=fill_mode,
    )
    return out if batched else out[0]


def random_rotation(image, max_degrees=6.0):
    """Rotates by an angle drawn uniformly from [-max_degrees, max_degrees]."""
    return rotate(image, tf.random.uniform((), -max_degrees, max_degrees))


def five_crops(image, crop_size):
    """`(5, crop, crop, C)`: top-left, top-right, bottom-left, bottom-right and centre crops."""
    shape = tf.shape(image)
    height, width = shape[0], shape[1]
    offsets = [
        (0, 0),
        (0, width - crop_size),
        (height - crop_size, 0),
        (height - crop_size, width - crop_size),
        ((height - crop_size) // 2, (width - crop_size) // 2),
    ]
    return tf.stack(
        [tf.image.crop_to_bounding_box(image, y, x, crop_size, crop_size) for y, x in offsets]
    )


def random_five_crop(image, crop_size):
    """One of the five crops, chosen uniformly."""
    crops = five_crops(image, crop_size)
    return crops[tf.random.uniform((), 0, 5, dtype=tf.int32)]


def relgan_augment(image, labels=None, load_size=110, crop_size=96, max_degrees=6.0, flip=True):
    """REL-GAN training augmentation: resize to `load_size`, random five-crop, rotation, flip."""
    image = tf.image.resize(image, (load_size, load_size))
    image = random_five_crop(image, crop_size)
    image = random_rotation(image, max_degrees)
    if flip:
        image, labels = random_flip(image, labels)
    return tf.clip_by_value(image, -1.0, 1.0), labels


def standard_augment(
    image, labels=None, crop_fraction=0.9, brightness=0.1, contrast=0.2, flip=True
):
    """Random crop (resized back), flip, brightness (+-`brightness` in [-1, 1] units), contrast."""
    shape = tf.shape(image)
    size = tf.cast(tf.round(tf.cast(shape[0], tf.float32) * crop_fraction), tf.int32)
    crop = tf.image.random_crop(image, tf.stack([size, size, shape[2]]))
    image = tf.image.resize(crop, shape[:2])
    if flip:
        image, labels = random_flip(image, labels)
    image = image + tf.random.uniform((), -brightness, brightness)
    factor = tf.random.uniform((), 1.0 - contrast, 1.0 + contrast)
    mean = tf.reduce_mean(image)
    image = (image - mean) * factor + mean
    return tf.clip_by_value(image, -1.0, 1.0), labels


def flip_augment(image, labels=None):
    """Only the random horizontal flip."""
    return random_flip(image, labels)


def paired_flip_and_light(
    image, target, gamma=0.35, contrast=0.2, shading=0.6, light_probability=0.5
):
    """Augments a normalisation pair `(input, target)` (the target: the same face frontal and
    evenly lit), both `(H, W, C)` in [-1, 1].

    * One horizontal flip for both (the frontal face of a mirrored input is the mirrored
      frontal face): a mirrored identity, new to the normaliser.
    * With `light_probability`, new light on the input only (the target stays evenly lit): on
      the [0, 1] scale, gamma `exp(U(-gamma, gamma))`, contrast `1 + U(-contrast, contrast)`
      about the image mean, and a multiplicative shading that falls linearly across the face in
      a random direction, from 1 to `1 - U(0, shading)` (a soft side light on top of the
      rendered one). A normaliser reads a new light of a face worse than one it was trained on.

    Args:
        image: the input face.
        target: its target.
        gamma: half-range of the log-gamma.
        contrast: half-range of the contrast factor around 1.
        shading: largest darkening at the far side of the shading ramp, in [0, 1).
        light_probability: chance of the light jitter per pair.

    Returns:
        `(image, target)`, clipped to [-1, 1].
    """
    image, target = tf.cast(image, tf.float32), tf.cast(target, tf.float32)
    # One flip decision for both: flip them stacked along the channels, then split.
    pair, _ = random_flip(tf.concat([image, target], axis=-1))
    image, target = tf.split(pair, [tf.shape(image)[-1], tf.shape(target)[-1]], axis=-1)

    def relight(face):
        face01 = tf.clip_by_value((face + 1.0) / 2.0, 0.0, 1.0)
        face01 = face01 ** tf.exp(tf.random.uniform((), -gamma, gamma))
        mean = tf.reduce_mean(face01)
        face01 = (face01 - mean) * (1.0 + tf.random.uniform((), -contrast, contrast)) + mean
        shape = tf.shape(face)
        rows = tf.linspace(-1.0, 1.0, shape[0])[:, None, None]
        cols = tf.linspace(-1.0, 1.0, shape[1])[None, :, None]
        angle = tf.random.uniform((), 0.0, 2.0 * math.pi)
        ramp = (tf.cos(angle) * cols + tf.sin(angle) * rows + 1.0) / 2.0  # 0 -> 1 across the face
        face01 = face01 * (1.0 - tf.random.uniform((), 0.0, shading) * ramp)
        return face01 * 2.0 - 1.0

    image = tf.cond(
        tf.random.uniform(()) < light_probability, lambda: relight(image), lambda: image
    )
    return tf.clip_by_value(image, -1.0, 1.0), target


PAIRED_AUGMENTATIONS = {
    "flip_light": paired_flip_and_light,
    "flip": lambda image, target: paired_flip_and_light(image, target, light_probability=0.0),
}


AUGMENTATIONS = {"standard": standard_augment, "relgan": relgan_augment, "flip": flip_augment}


def get_augmentation(augment, image_size=None):
    """`None`, a name in `AUGMENTATIONS` or a callable `(image, labels) -> (image, labels)`.

    `"relgan"` keeps the input size: it crops `crop_size = image_size` from a
    `round(image_size * 110 / 96)` resize, as the paper's 96-from-110.
    """
    if augment is None or callable(augment):
        return augment
    if augment not in AUGMENTATIONS:
        raise ValueError(
            f"Unknown augmentation {augment!r}; choose from {sorted(AUGMENTATIONS)} or pass a callable."
        )
    if augment == "relgan" and image_size is not None:
        load_size = int(round(image_size * 110 / 96))
        return lambda image, labels=None: relgan_augment(
            image, labels, load_size=load_size, crop_size=image_size
        )
    return AUGMENTATIONS[augment]

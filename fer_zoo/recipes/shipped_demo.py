"""Shared pieces of the `fer-zoo demo` blocks that run shipped generator presets on unseen
SynthFER faces (`jpem.generator_demo`, `fesr.generator_demo`, `relgan.generator_demo`)."""

import functools

import numpy as np


def to_uint8(images):
    """Model-range images in [-1, 1] as uint8 in [0, 255]."""
    return ((np.asarray(images, np.float32) + 1.0) * 127.5).clip(0, 255).astype(np.uint8)


@functools.cache
def _reader():
    from fer_zoo.zoo.recognizer import Recognizer

    return Recognizer(detector="cropped")


def read_rate(images, wanted):
    """Share of `images` (face crops in [-1, 1]) on which the shipped general classifier
    (`fer-general`, trained on photos, never on SynthFER) reads the expression named in `wanted`."""
    results = _reader().predict(list(to_uint8(images)))
    return float(np.mean([r.faces[0].label == want for r, want in zip(results, wanted)]))

"""Shared helpers for the adapter tests: tiny fake data set trees written with OpenCV."""

import cv2
import numpy as np
import pytest


def _write(path, size=24, value=None, channels=3, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    shape = (size, size, channels) if channels == 3 else (size, size)
    image = (
        rng.integers(0, 256, shape, dtype=np.uint8)
        if value is None
        else np.full(shape, value, np.uint8)
    )
    assert cv2.imwrite(str(path), image), path
    return path


@pytest.fixture
def write_image():
    """`write_image(path, size=24, value=None, channels=3, seed=0)` writes a small image file."""
    return _write
